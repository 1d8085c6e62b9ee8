// The library's typed errors. Each has a stable `name` and `code`; messages are one line.
//  - UsageError ('ERR_USAGE'): bad input — a source that is not a torrent, a bad peer address or
//    option. Its message is the line the CLI prints for the same input (after "bitswarm: ").
//  - TorrentError ('ERR_TORRENT'): a torrent stopped on a failure (storage, metadata).
//  - SessionError ('ERR_SESSION'): the client could not start (its port is taken, …).
//  - ManagerError ('ERR_NOT_FOUND', 'ERR_CONFLICT', 'ERR_BAD_REQUEST'): an operation on a torrent
//    the client does not hold, or on a closed client.
export { ManagerError } from '../session/manager.js';
export { SessionError } from '../session/session.js';
export { UsageError } from '../util/errors.js';

export class TorrentError extends Error {
  override readonly name = 'TorrentError';
  readonly code = 'ERR_TORRENT';
}
