// The storage layer's one error class. Its `code` says which condition failed, so callers can react
// (a missing file means "not verified", a full disk pauses the torrent, an escaping path is fatal).

export const StorageErrorCode = {
  /** A torrent path resolves outside the download directory (refused before anything is written). */
  PathEscape: 'ERR_STORAGE_PATH_ESCAPE',
  /** A symlink on disk (a folder or the file itself) leads outside the download directory. */
  Symlink: 'ERR_STORAGE_SYMLINK',
  /** Something on disk has the wrong type: a folder where a file belongs, or a file where a folder does. */
  WrongType: 'ERR_STORAGE_WRONG_TYPE',
  /** A read touched bytes that are not on disk: the file does not exist or is shorter. */
  Missing: 'ERR_STORAGE_MISSING',
  /** A piece index, offset or length outside the torrent, or a piece of the wrong size. */
  Range: 'ERR_STORAGE_RANGE',
  /** The storage is not open (never opened, or closed). */
  Closed: 'ERR_STORAGE_CLOSED',
  /** The disk is full (ENOSPC, EDQUOT). */
  NoSpace: 'ERR_STORAGE_NO_SPACE',
  /** Any other failure of the operating system (permissions, I/O errors); see `osCode` and `cause`. */
  Io: 'ERR_STORAGE_IO',
} as const;

export type StorageErrorCode = (typeof StorageErrorCode)[keyof typeof StorageErrorCode];

export interface StorageErrorOptions extends ErrorOptions {
  /** The OS error code (`ENOSPC`, `EACCES`, …) when one caused this error. */
  osCode?: string;
}

export class StorageError extends Error {
  override readonly name = 'StorageError';
  readonly code: StorageErrorCode;
  /** Absolute path of the file or folder at fault; empty when the error is not about one path. */
  readonly path: string;
  readonly osCode: string | undefined;

  constructor(code: StorageErrorCode, path: string, message: string, options: StorageErrorOptions = {}) {
    super(path ? `${path}: ${message}` : message, options);
    this.code = code;
    this.path = path;
    this.osCode = options.osCode;
  }

  static isCode(err: unknown, code: StorageErrorCode): err is StorageError {
    return err instanceof StorageError && err.code === code;
  }
}

/** Wraps an error thrown by `fs` into a StorageError (StorageErrors pass through). */
export function fromOsError(err: unknown, path: string, doing: string): StorageError {
  if (err instanceof StorageError) return err;
  const osCode = (err as NodeJS.ErrnoException | undefined)?.code;
  const detail = err instanceof Error ? err.message : String(err);
  let code: StorageErrorCode = StorageErrorCode.Io;
  if (osCode === 'ENOSPC' || osCode === 'EDQUOT') code = StorageErrorCode.NoSpace;
  else if (osCode === 'ELOOP') code = StorageErrorCode.Symlink;
  else if (osCode === 'EISDIR' || osCode === 'ENOTDIR') code = StorageErrorCode.WrongType;
  const options: StorageErrorOptions = { cause: err };
  if (osCode !== undefined) options.osCode = osCode;
  return new StorageError(code, path, `${doing} failed: ${detail}`, options);
}
