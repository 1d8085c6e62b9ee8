// A small LRU cache of whole pieces in front of a Storage, for uploads: peers ask for a piece block
// by block, often several peers for the same piece, and each piece should come off disk once.
// Concurrent misses for one piece share one read. Returned blocks are views into the cached piece:
// callers must not modify them (the socket only reads them).
//
// Buffers are reused: each view handed out is a loan on its piece's buffer, and a caller that is
// done with a block (the socket wrote it) gives it back. The buffer of an evicted piece with no
// loans left reads the next piece instead of a new allocation: a seeder would otherwise allocate
// its whole upload in fresh buffers, whose garbage keeps V8 collecting (about 1 s of CPU per GiB,
// measured with bench:transfer). A view that is never given back only keeps its buffer from reuse.

import { StorageError, StorageErrorCode } from './errors.js';
import type { PieceGeometry, Storage } from './storage.js';
import { ownsItsMemory, pieceLengthOf } from './storage.js';

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
  /** Pieces read into the buffer of an evicted piece instead of a new one. */
  reused: number;
}

interface Cached {
  data: Buffer;
  /** Views handed out and not given back. */
  lent: number;
  /** No longer in the cache: its buffer is free once `lent` is 0. */
  evicted: boolean;
}

interface Pending {
  promise: Promise<Buffer>;
  /** Reads waiting for it: each holds a loan once it is cached. */
  waiters: number;
}

/** Free buffers kept for reuse, at most. */
const MAX_SPARE = 8;

export class ReadCache {
  readonly #storage: Pick<Storage, 'read' | 'readPiece'>;
  readonly #maxBytes: number;
  readonly #geometry: PieceGeometry | undefined;
  /** Cached pieces, least recently used first. */
  readonly #pieces = new Map<number, Cached>();
  readonly #pending = new Map<number, Pending>();
  /** The entry of each cached buffer, to find it from a view given back. */
  readonly #byBuffer = new WeakMap<ArrayBufferLike, Cached>();
  /** Buffers of evicted pieces that nobody holds a view of. */
  #spare: Buffer[] = [];
  #bytes = 0;
  /** The piece last moved to the end of the LRU order, so reads of its other blocks skip the move. */
  #newest: number | undefined;
  #hits = 0;
  #misses = 0;
  #reused = 0;

  constructor(storage: Pick<Storage, 'read' | 'readPiece'>, options: ReadCacheOptions = {}) {
    this.#storage = storage;
    this.#maxBytes = options.maxBytes ?? 16 * 1024 * 1024;
    this.#geometry = options.geometry;
  }

  get stats(): ReadCacheStats {
    return {
      hits: this.#hits,
      misses: this.#misses,
      bytes: this.#bytes,
      pieces: this.#pieces.size,
      reused: this.#reused,
    };
  }

  /**
   * The block when its piece is cached, without a promise (uploads serve most blocks this way);
   * undefined when it is not (call read()). Throws like read() when the range is outside the piece.
   */
  readCached(piece: number, offset: number, length: number): Buffer | undefined {
    const c = this.#pieces.get(piece);
    if (c === undefined) return undefined;
    const view = slice(piece, c.data, offset, length);
    this.#hits++;
    c.lent++;
    // Most recently used: reinserted only when not already the newest (a piece is read block by block).
    if (this.#newest !== piece) {
      this.#pieces.delete(piece);
      this.#pieces.set(piece, c);
      this.#newest = piece;
    }
    return view;
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
    pending.waiters++;
    return slice(piece, await pending.promise, offset, length);
  }

  /**
   * The caller is done with a view that read() or readCached() returned (the socket has written
   * it): once every view of an evicted piece is back, its buffer reads another piece. A view given
   * back must not be used again. Views of anything else are ignored.
   */
  giveBack(view: Uint8Array): void {
    const c = this.#byBuffer.get(view.buffer);
    if (c === undefined || c.lent === 0) return;
    c.lent--;
    if (c.lent === 0 && c.evicted) this.#recycle(c);
  }

  /** Forgets a piece (its data changed, or it failed a recheck). A read in progress is not cached. */
  invalidate(piece: number): void {
    if (this.#newest === piece) this.#newest = undefined;
    const c = this.#pieces.get(piece);
    if (c !== undefined) this.#evict(piece, c);
    this.#pending.delete(piece);
  }

  clear(): void {
    this.#newest = undefined;
    for (const [piece, c] of this.#pieces) this.#evict(piece, c);
    this.#pending.clear();
    this.#spare = [];
  }

  #load(piece: number): Pending {
    const into = this.#takeSpare(piece);
    const pending: Pending = {
      waiters: 0,
      promise: this.#storage.readPiece(piece, into).then(
        (data) => {
          if (into !== undefined && data === into) this.#reused++;
          if (this.#pending.get(piece) === pending) {
            this.#pending.delete(piece);
            this.#insert(piece, data, pending.waiters);
          }
          return data;
        },
        (err: unknown) => {
          if (this.#pending.get(piece) === pending) this.#pending.delete(piece);
          if (into !== undefined) this.#putSpare(into);
          throw err;
        },
      ),
    };
    this.#pending.set(piece, pending);
    return pending;
  }

  #insert(piece: number, data: Buffer, lent: number): void {
    if (data.length > this.#maxBytes) return;
    for (const [victim, old] of this.#pieces) {
      if (this.#bytes + data.length <= this.#maxBytes) break;
      this.#evict(victim, old);
    }
    const c: Cached = { data, lent, evicted: false };
    this.#pieces.set(piece, c);
    // Only a buffer that owns its memory can be told apart by it (and reused); a view into a shared
    // pool is never given back, so it is never reused either.
    if (ownsItsMemory(data)) this.#byBuffer.set(data.buffer, c);
    this.#newest = piece;
    this.#bytes += data.length;
  }

  #evict(piece: number, c: Cached): void {
    this.#pieces.delete(piece);
    this.#bytes -= c.data.length;
    c.evicted = true;
    if (c.lent === 0) this.#recycle(c);
  }

  #recycle(c: Cached): void {
    if (this.#byBuffer.get(c.data.buffer) !== c) return;
    this.#byBuffer.delete(c.data.buffer);
    this.#putSpare(c.data);
  }

  #putSpare(b: Buffer): void {
    if (this.#spare.length < MAX_SPARE && ownsItsMemory(b)) this.#spare.push(b);
  }

  /** A free buffer of the piece's length, when the geometry tells it and there is one. */
  #takeSpare(piece: number): Buffer | undefined {
    if (this.#geometry === undefined) return undefined;
    const length = pieceLengthOf(this.#geometry, piece);
    const i = this.#spare.findIndex((b) => b.length === length);
    if (i < 0) return undefined;
    const [b] = this.#spare.splice(i, 1);
    return b;
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
