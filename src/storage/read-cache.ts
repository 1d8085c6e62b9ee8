// A small LRU cache of whole pieces in front of a Storage, for uploads: peers ask for a piece block
// by block, often several peers for the same piece, and each piece should come off disk once.
// Concurrent misses for one piece share one read. Returned blocks are views into the cached piece:
// callers must not modify them (the socket only reads them).

import { StorageError, StorageErrorCode } from './errors.js';
import type { PieceGeometry, Storage } from './storage.js';
import { pieceLengthOf } from './storage.js';

export interface ReadCacheOptions {
  /** Most bytes of pieces kept. Default 16 MiB. */
  maxBytes?: number;
  /**
   * The torrent's geometry. When given, reads from pieces larger than `maxBytes` go straight to the
   * storage instead of reading (and dropping) the whole piece.
   */
  geometry?: PieceGeometry;
}

export interface ReadCacheStats {
  /** Reads served from memory, or from a read already in progress. */
  hits: number;
  /** Reads that went to the storage. */
  misses: number;
  bytes: number;
  pieces: number;
}

export class ReadCache {
  readonly #storage: Pick<Storage, 'read' | 'readPiece'>;
  readonly #maxBytes: number;
  readonly #geometry: PieceGeometry | undefined;
  /** Cached pieces, least recently used first. */
  readonly #pieces = new Map<number, Buffer>();
  readonly #pending = new Map<number, Promise<Buffer>>();
  #bytes = 0;
  /** The piece last moved to the end of the LRU order, so reads of its other blocks skip the move. */
  #newest: number | undefined;
  #hits = 0;
  #misses = 0;

  constructor(storage: Pick<Storage, 'read' | 'readPiece'>, options: ReadCacheOptions = {}) {
    this.#storage = storage;
    this.#maxBytes = options.maxBytes ?? 16 * 1024 * 1024;
    this.#geometry = options.geometry;
  }

  get stats(): ReadCacheStats {
    return { hits: this.#hits, misses: this.#misses, bytes: this.#bytes, pieces: this.#pieces.size };
  }

  /**
   * The block when its piece is cached, without a promise (uploads serve most blocks this way);
   * undefined when it is not (call read()). Throws like read() when the range is outside the piece.
   */
  readCached(piece: number, offset: number, length: number): Buffer | undefined {
    const data = this.#pieces.get(piece);
    if (data === undefined) return undefined;
    this.#hits++;
    // Most recently used: reinserted only when not already the newest (a piece is read block by block).
    if (this.#newest !== piece) {
      this.#pieces.delete(piece);
      this.#pieces.set(piece, data);
      this.#newest = piece;
    }
    return slice(piece, data, offset, length);
  }

  async read(piece: number, offset: number, length: number): Promise<Buffer> {
    if (this.#geometry !== undefined && pieceLengthOf(this.#geometry, piece) > this.#maxBytes) {
      this.#misses++;
      return this.#storage.read(piece, offset, length);
    }
    const cached = this.readCached(piece, offset, length);
    if (cached !== undefined) return cached;
    let pending = this.#pending.get(piece);
    if (pending !== undefined) {
      this.#hits++;
    } else {
      this.#misses++;
      pending = this.#load(piece);
    }
    return slice(piece, await pending, offset, length);
  }

  /** Forgets a piece (its data changed, or it failed a recheck). A read in progress is not cached. */
  invalidate(piece: number): void {
    if (this.#newest === piece) this.#newest = undefined;
    const data = this.#pieces.get(piece);
    if (data !== undefined) {
      this.#pieces.delete(piece);
      this.#bytes -= data.length;
    }
    this.#pending.delete(piece);
  }

  clear(): void {
    this.#newest = undefined;
    this.#pieces.clear();
    this.#pending.clear();
    this.#bytes = 0;
  }

  #load(piece: number): Promise<Buffer> {
    const p: Promise<Buffer> = this.#storage.readPiece(piece).then(
      (data) => {
        if (this.#pending.get(piece) === p) {
          this.#pending.delete(piece);
          this.#insert(piece, data);
        }
        return data;
      },
      (err: unknown) => {
        if (this.#pending.get(piece) === p) this.#pending.delete(piece);
        throw err;
      },
    );
    this.#pending.set(piece, p);
    return p;
  }

  #insert(piece: number, data: Buffer): void {
    if (data.length > this.#maxBytes) return;
    for (const [victim, old] of this.#pieces) {
      if (this.#bytes + data.length <= this.#maxBytes) break;
      this.#pieces.delete(victim);
      this.#bytes -= old.length;
    }
    this.#pieces.set(piece, data);
    this.#newest = piece;
    this.#bytes += data.length;
  }
}

function slice(piece: number, data: Buffer, offset: number, length: number): Buffer {
  if (
    !Number.isInteger(offset) ||
    !Number.isInteger(length) ||
    offset < 0 ||
    length < 0 ||
    offset + length > data.length
  ) {
    throw new StorageError(
      StorageErrorCode.Range,
      '',
      `bytes ${offset}+${length} are outside piece ${piece} of ${data.length} bytes`,
    );
  }
  return data.subarray(offset, offset + length);
}
