// Typed errors of the pure codecs. One class per condition, each with a stable `code`.
// Higher layers re-export these from src/util/errors.ts.

export class BencodeError extends Error {
  override readonly name = 'BencodeError';
  readonly code = 'ERR_BENCODE';
  /** Byte offset in the input where the problem was found. */
  readonly offset: number;
  constructor(message: string, offset: number, options?: ErrorOptions) {
    super(`${message} at byte ${offset}`, options);
    this.offset = offset;
  }
}

export class MetainfoError extends Error {
  override readonly name = 'MetainfoError';
  readonly code = 'ERR_METAINFO';
  /** Dotted path of the field at fault, e.g. `info.pieces`. Empty for whole-file problems. */
  readonly field: string;
  constructor(field: string, message: string, options?: ErrorOptions) {
    super(field ? `${field}: ${message}` : message, options);
    this.field = field;
  }
}

export class MagnetError extends Error {
  override readonly name = 'MagnetError';
  readonly code = 'ERR_MAGNET';
}
