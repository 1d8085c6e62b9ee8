// All typed errors in one place for the layers above protocol.
export { BencodeError, MagnetError, MetainfoError } from '../protocol/errors.js';

/** A user's mistake on the command line or in a file they named: exit code 2, one line. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  readonly code = 'ERR_USAGE';
}
