// The Storage interface (the swarm's only way to touch torrent data) and the piece → file map that
// every implementation shares. A piece may span several files; zero-length files hold no bytes;
// BEP 47 padding files hold zeros that are never stored.
//
// Contract shared by every implementation (the compliance suite in test/unit/storage checks it):
// - Reading bytes that are not stored (the file does not exist, or is shorter) rejects with
//   StorageError `ERR_STORAGE_MISSING`; padding bytes always read as zeros. Never returns made-up data,
//   so a peer is never sent zeros in place of data that disappeared.
// - `mayHave(piece)` is false only when none of the piece's bytes can be on disk: every non-padding
//   file it touches is absent (or ends before the piece's bytes start). A piece made only of padding
//   always "may have". So `mayHave` false ⇒ `readPiece` rejects with `ERR_STORAGE_MISSING`.
// - `mayHaveAny()` is false only when `mayHave` is false for every piece (a fresh download): a check
//   then skips the pieces without asking each one.
// - Index, offset and length are checked: out of range rejects with `ERR_STORAGE_RANGE`.
// - Before `open()` and after `close()`, operations reject with `ERR_STORAGE_CLOSED`.

import { type PieceGeometry, pieceSizeOf } from '../protocol/geometry.js';
import type { TorrentFile } from '../protocol/metainfo.js';
import { StorageError, StorageErrorCode } from './errors.js';

export interface Storage {
  /** Idempotent; creates folders lazily and files sparse as needed. Also reopens after `close()`. */
  open(): Promise<void>;
  /**
   * For upload and verify. The result is the caller's to keep: a new buffer, or the first `length`
   * bytes of `into` when it is given and long enough (a buffer the caller reuses).
   */
  read(piece: number, offset: number, length: number, into?: Buffer): Promise<Buffer>;
  /**
   * The whole piece, read into `into` when it is given and exactly the piece's length (a buffer the
   * caller reuses), else into a new buffer.
   */
  readPiece(piece: number, into?: Buffer): Promise<Buffer>;
  /** A whole verified piece, written with positional writes. */
  writePiece(piece: number, data: Uint8Array): Promise<void>;
  /**
   * Part of a piece not verified yet, at `offset` in it: pieces too large to hold whole in memory
   * are written block by block as they arrive and hashed from disk once complete. `data` may be
   * reused by the caller once the promise settles.
   */
  write(piece: number, offset: number, data: Uint8Array): Promise<void>;
  /** True when some byte of the piece's files exists on disk (used to skip hashing absent data). */
  mayHave(piece: number): Promise<boolean>;
  /** False only when mayHave is false for every piece: nothing of the torrent is on disk. */
  mayHaveAny(): Promise<boolean>;
  /**
   * Piece `piece` is verified: written by the torrent, found by a check, or trusted from resume data.
   * A file storage names an incomplete file `<name>.part` and gives it its own name once every piece
   * touching it is verified (in the background: `flush()` waits for it). Repeats are ignored.
   * Only while open; the count starts again at each `open()`.
   */
  pieceVerified(piece: number): void;
  /** fsync what was written (used before resume data is saved), after the renames in progress. */
  flush(): Promise<void>;
  /** Idempotent; waits for operations in progress, then closes all handles. */
  close(): Promise<void>;
}

export type { PieceGeometry } from '../protocol/geometry.js';

/**
 * True when `b` spans the whole of an ArrayBuffer of its own: it can be transferred to a worker, or
 * told apart from other buffers by its ArrayBuffer (not a slice of a shared pool).
 */
export function ownsItsMemory(b: Uint8Array): b is Uint8Array & { buffer: ArrayBuffer } {
  return b.byteOffset === 0 && b.buffer instanceof ArrayBuffer && b.buffer.byteLength === b.length;
}

/**
 * Length of `piece` in bytes: `pieceLength`, except the last piece, which may be shorter (the
 * geometry's pieceSizeOf), with a storage error for a piece out of range.
 */
export function pieceLengthOf(m: PieceGeometry, piece: number): number {
  if (!Number.isInteger(piece) || piece < 0 || piece >= m.pieceCount) {
    throw new StorageError(
      StorageErrorCode.Range,
      '',
      `piece ${piece} is out of range 0..${m.pieceCount - 1}`,
    );
  }
  return pieceSizeOf(m, piece);
}

/** One contiguous run of a request inside one file. */
export interface FileSlice {
  /** Index into `metainfo.files`. */
  file: number;
  /** Byte offset inside that file. */
  fileOffset: number;
  length: number;
  /** Where the run starts in the caller's buffer. */
  bufferOffset: number;
  padding: boolean;
}

export interface PieceLayout extends PieceGeometry {
  files: readonly Pick<TorrentFile, 'length' | 'offset' | 'padding'>[];
}

/** Maps (piece, offset, length) to the file runs that hold those bytes. */
export class PieceMap {
  readonly geometry: PieceGeometry;
  readonly #files: PieceLayout['files'];
  /** Indices of the files with at least one byte, in torrent order (zero-length files hold none). */
  readonly #nonEmpty: number[];

  constructor(layout: PieceLayout) {
    this.geometry = {
      pieceLength: layout.pieceLength,
      totalLength: layout.totalLength,
      pieceCount: layout.pieceCount,
    };
    this.#files = layout.files;
    this.#nonEmpty = [];
    layout.files.forEach((f, i) => {
      if (f.length > 0) this.#nonEmpty.push(i);
    });
  }

  pieceLength(piece: number): number {
    return pieceLengthOf(this.geometry, piece);
  }

  /** Checks a request against the piece's bounds (throws `ERR_STORAGE_RANGE`). */
  /** Throws unless `data` is exactly piece `piece` (what writePiece takes). */
  checkWhole(piece: number, data: Uint8Array): void {
    const size = this.pieceLength(piece);
    if (data.length !== size) {
      throw new StorageError(
        StorageErrorCode.Range,
        '',
        `piece ${piece} is ${size} bytes, got ${data.length} to write`,
      );
    }
  }

  check(piece: number, offset: number, length: number): void {
    const size = this.pieceLength(piece);
    if (
      !Number.isInteger(offset) ||
      !Number.isInteger(length) ||
      offset < 0 ||
      length < 0 ||
      offset + length > size
    ) {
      throw new StorageError(
        StorageErrorCode.Range,
        '',
        `bytes ${offset}+${length} are outside piece ${piece} of ${size} bytes`,
      );
    }
  }

  /** The file runs holding `length` bytes at `offset` in `piece` (checked first). */
  slices(piece: number, offset: number, length: number): FileSlice[] {
    this.check(piece, offset, length);
    const out: FileSlice[] = [];
    if (length === 0) return out;
    const start = piece * this.geometry.pieceLength + offset;
    const end = start + length;
    // Binary search for the first non-empty file whose end is past `start`.
    let lo = 0;
    let hi = this.#nonEmpty.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const f = this.#files[this.#nonEmpty[mid]!]!;
      if (f.offset + f.length <= start) lo = mid + 1;
      else hi = mid;
    }
    for (let k = lo; k < this.#nonEmpty.length; k++) {
      const index = this.#nonEmpty[k]!;
      const f = this.#files[index]!;
      if (f.offset >= end) break;
      const from = Math.max(start, f.offset);
      const to = Math.min(end, f.offset + f.length);
      out.push({
        file: index,
        fileOffset: from - f.offset,
        length: to - from,
        bufferOffset: from - start,
        padding: f.padding,
      });
    }
    return out;
  }

  /** The file runs of a whole piece. */
  pieceSlices(piece: number): FileSlice[] {
    return this.slices(piece, 0, this.pieceLength(piece));
  }
}

/**
 * Open/closed state shared by the implementations: operations run only while open, and `close()`
 * waits for the ones in progress, so a late write never lands on a closed handle.
 */
export class OpenGate {
  #open = false;
  readonly #inFlight = new Set<Promise<unknown>>();

  get isOpen(): boolean {
    return this.#open;
  }

  markOpen(): void {
    this.#open = true;
  }

  /** Stops new operations and waits for the ones in progress to settle. */
  async shut(): Promise<void> {
    this.#open = false;
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }

  run<T>(what: string, op: () => Promise<T>): Promise<T> {
    if (!this.#open) {
      return Promise.reject(new StorageError(StorageErrorCode.Closed, '', `${what}: storage is not open`));
    }
    let p: Promise<T>;
    try {
      p = op();
    } catch (err) {
      return Promise.reject(err);
    }
    this.#inFlight.add(p);
    const forget = (): void => {
      this.#inFlight.delete(p);
    };
    p.then(forget, forget);
    return p;
  }
}
