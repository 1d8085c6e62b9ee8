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

/** Quotes remote-supplied text (a torrent's paths, a magnet's trackers) for a message or warning,
 * escaping control and bidi characters so that printing it cannot drive the user's terminal. */
export function quote(s: string): string {
  return JSON.stringify(s).replace(
    /[\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}
