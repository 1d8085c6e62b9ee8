// The piece assembler: gathers the blocks of each piece being downloaded (from peers and web seeds),
// checks the piece when its last block is in, writes it, and recycles its memory. One hashing
// policy for every source:
// - pieces up to INCREMENTAL_HASH_MAX_BYTES, and any piece whose bytes come in order (a web seed),
//   are hashed block by block as they arrive (SHA-1, and a v2 piece's SHA-256 leaves, while the
//   bytes are in the CPU cache; a v2 check then hashes only the tree above the leaves);
// - larger ones are hashed whole by the hasher's workers;
// - pieces too large to hold (STREAM_PIECE_BYTES) go to storage block by block as they arrive, each
//   block's SHA-1 kept, and are hashed back from storage a chunk at a time;
// - v2 (BEP 52) pieces are checked against their merkle layer, a hybrid's by both.
// Who to blame for a failed piece is not its business: the caller's pass and fail hooks (smart ban)
// get each block's sender and digest. No sockets, no clock.

import { createHash, type Hash } from 'node:crypto';
import type { Geometry } from '../protocol/geometry.js';
import { HASH_BYTES, MERKLE_BLOCK_BYTES, rootOfLayer, sha256Into } from '../protocol/merkle.js';
import type { Metainfo } from '../protocol/metainfo.js';
import { v2PieceCheck } from '../protocol/metainfo-v2.js';
import { BLOCK_SIZE } from '../protocol/peer-wire.js';
import { type HasherPool, STREAM_PIECE_BYTES } from '../storage/hasher-pool.js';
import type { Storage } from '../storage/storage.js';
import { checkPieceV2, hasV1Hashes } from '../storage/verify-v2.js';
import type { FailedPiece } from './smart-ban.js';

/** Block buffers of streamed pieces kept for reuse: writes in flight at once, in the usual case. */
const MAX_BLOCK_SPARES = 256;

/** Pieces up to this size are hashed block by block on the main thread (the hasher pool hashes
 * pieces this small inline anyway); larger ones are left to the pool's workers. */
const INCREMENTAL_HASH_MAX_BYTES = 256 * 1024;

/**
 * Bytes of spare piece buffers kept for reuse. Enough for every piece in flight plus the ones being
 * written, so a steady download allocates none: a fresh 256 KiB buffer per piece cost page faults and
 * drove V8's external-memory GCs (a collection every ~64 MB allocated).
 */
const SPARE_BUFFER_BYTES = 32 * 1024 * 1024;

/** A piece being assembled from blocks. */
interface PieceBuffer {
  /** The piece's bytes as they arrive; undefined for a piece too large to hold (see `streamed`). */
  data: Buffer | undefined;
  length: number;
  /**
   * A piece larger than STREAM_PIECE_BYTES: each block is written to storage as it arrives, its
   * SHA-1 kept (to find a liar after a failed piece), and the piece hashed from disk a chunk at a
   * time once complete. Memory: the blocks in flight, never the piece.
   */
  streamed?: {
    writes: Set<Promise<void>>;
    error?: Error;
    digests: Map<number, Buffer>;
    /** A web seed's blocks being gathered (its bytes come in parts of a block), by offset. */
    partial: Map<number, Buffer>;
    /** Writes of an earlier, dropped try at this piece: these land first, never over the new bytes. */
    after?: Promise<unknown>;
  };
  /** Everyone who sent a block of this try. */
  from: Set<string>;
  received: number;
  /** Offset → sender of each block received. */
  blocks: Map<number, string>;
  /**
   * SHA-1 of the bytes [0, hashed), fed as blocks arrive in order: the hash reads each block while
   * it is still in the CPU cache, and the piece's digest is ready when its last block lands.
   * Undefined when the piece is hashed whole at the end (large pieces go to the hasher's workers).
   */
  hash: Hash | undefined;
  hashed: number;
  /**
   * v2 (BEP 52): each 16 KiB leaf's SHA-256, taken when its block is in; when every leaf is there
   * the check hashes only the tree above them. Undefined when the piece is hashed whole at the end
   * (as `hash`), or its piece layer was not known when it started.
   */
  leaves: Leaves | undefined;
}

/** A v2 piece's leaf hashes as its blocks arrive (PieceBuffer.leaves). */
interface Leaves {
  /** What the piece's bytes are checked against: its file's bytes in it, its tree's width, its hash. */
  check: { fileBytes: number; widthLeaves: number; expected: Buffer };
  /** One hash per leaf of the file's bytes in the piece. */
  hashes: Buffer;
  /** 1 for each leaf hashed. */
  done: Uint8Array;
  count: number;
}

/** What the caller does with a checked piece (smart ban lives here). */
export interface VerifyHooks {
  /** The piece failed its check; its buffer is dropped already. */
  failed(f: FailedPiece): void;
  /** The piece verified and is written; `good` gives the SHA-1 of its blocks. */
  passed(piece: number, good: (offset: number, length: number) => Buffer | undefined): void;
}

export interface PieceAssemblerOptions {
  metainfo: Metainfo;
  /** The metainfo's piece and block lengths (the picker's). */
  geometry: Geometry;
  storage: Storage;
  hasher: HasherPool;
  /** The torrent's: once aborted, a check in progress ends without a verdict. */
  signal: AbortSignal;
  /** Told whenever the bytes held (unverifiedBytes) go down. */
  released?: () => void;
}

export class PieceAssembler {
  readonly #o: PieceAssemblerOptions;
  readonly #buffers = new Map<number, PieceBuffer>();
  /** Writes still in flight of streamed pieces that were dropped (see PieceBuffer.streamed.after). */
  readonly #staleWrites = new Map<number, Promise<unknown>>();
  /** Block buffers of streamed pieces, reused once their write is done. */
  readonly #blockSpares: Buffer[] = [];
  /** Buffers of verified and written pieces, reused for the next pieces. */
  readonly #spareBuffers: Buffer[] = [];
  /** Bytes of pieces being assembled and verified, held in memory. */
  #unverified = 0;
  /** Of those, blocks of streamed pieces being written. */
  #writing = 0;

  constructor(options: PieceAssemblerOptions) {
    this.#o = options;
  }

  /** Bytes held in memory for pieces not yet verified (piece buffers, block writes in flight). */
  get unverifiedBytes(): number {
    return this.#unverified;
  }

  /** Bytes of blocks of pieces too large to hold, written and not yet on disk (part of unverifiedBytes). */
  get writingBytes(): number {
    return this.#writing;
  }

  /**
   * A block accepted by the picker goes in: into its piece's buffer (unless `placed` there already,
   * a web seed's bytes gathered there), or to storage for a piece too large to hold. `from`: its
   * sender (a peer's endpoint, a web seed's id). `inOrder`: the piece's bytes come in order (a web
   * seed), so it is hashed as they come whatever its size.
   */
  add(
    piece: number,
    offset: number,
    data: Uint8Array,
    from: string,
    o: { inOrder?: boolean; placed?: boolean } = {},
  ): void {
    const buf = this.#buffer(piece, o.inOrder === true);
    buf.from.add(from);
    buf.blocks.set(offset, from);
    buf.received += data.length;
    if (buf.streamed) this.#writeBlock(buf.streamed, piece, offset, data);
    else if (buf.data && o.placed !== true) buf.data.set(data, offset);
    if (buf.leaves && buf.data) leavesIn(buf.leaves, buf.data, offset, offset + data.length);
    if (buf.data && buf.hash !== undefined && offset === buf.hashed) {
      buf.hash.update(data);
      buf.hashed += data.length;
      // Blocks that came early (out of order) follow now that the gap before them is filled.
      for (let next = buf.hashed; next < buf.data.length && buf.blocks.has(next); next = buf.hashed) {
        const end = Math.min(buf.data.length, next + BLOCK_SIZE);
        buf.hash.update(buf.data.subarray(next, end));
        buf.hashed = end;
      }
    }
  }

  /**
   * Bytes of a web seed's run, a part of one block, in order: the whole block once its last part is
   * in, undefined until then. A piece too large to hold gathers it apart; otherwise it lies in the
   * piece's buffer already (`placed`: add() need not copy it). `data` is copied before this returns.
   */
  gather(
    piece: number,
    offset: number,
    data: Uint8Array,
  ): { bytes: Uint8Array; placed: boolean } | undefined {
    const buf = this.#buffer(piece, true);
    const g = this.#o.geometry;
    const b = g.blockAt(offset);
    const blockStart = b * BLOCK_SIZE;
    const end = offset + data.length;
    const blockLength = g.blockLength(piece, b);
    if (buf.streamed) {
      const partial = buf.streamed.partial;
      let staged = partial.get(blockStart);
      if (!staged) {
        staged = Buffer.allocUnsafe(blockLength);
        partial.set(blockStart, staged);
      }
      staged.set(data, offset - blockStart);
      if (end !== blockStart + blockLength) return undefined;
      partial.delete(blockStart);
      return { bytes: staged, placed: false };
    }
    const into = buf.data!;
    into.set(data, offset);
    if (end !== blockStart + blockLength) return undefined;
    return { bytes: into.subarray(blockStart, end), placed: true };
  }

  /**
   * Drops the pieces being assembled with a block from `untrusted` (a piece whose every block is in
   * is being verified: its hash will judge it). Returns them.
   */
  dropFrom(untrusted: ReadonlySet<string>): number[] {
    const dropped: number[] = [];
    for (const [piece, buf] of this.#buffers) {
      if (buf.received >= buf.length || ![...untrusted].some((u) => buf.from.has(u))) continue;
      this.#drop(piece);
      dropped.push(piece);
    }
    return dropped;
  }

  /**
   * Checks a piece whose last block is in, and writes it when it passes; the hooks judge its
   * senders. Returns the verdict, or undefined when there was no such piece or the torrent stopped
   * meanwhile. Throws what storage threw (the torrent fails).
   */
  async verify(piece: number, hooks: VerifyHooks): Promise<'passed' | 'failed' | undefined> {
    const buf = this.#buffers.get(piece);
    if (!buf) return undefined;
    const { metainfo: m, signal, hasher, storage } = this.#o;
    let ok: boolean;
    const expected = m.pieces.subarray(piece * 20, piece * 20 + 20);
    const v1 = hasV1Hashes(m);
    if (buf.data === undefined) {
      // Already on disk, block by block: hashed from there.
      if (v1) ok = Buffer.compare(await this.#hashFromStorage(buf, piece), expected) === 0;
      else {
        await this.#writesDone(buf);
        ok = true;
      }
      if (ok && m.v2) ok = await this.#v2Ok(piece, undefined);
    } else {
      if (v1) {
        const h = buf.hash;
        const incremental = h !== undefined && buf.hashed === buf.data.length;
        const digest = incremental ? h.digest() : await hasher.hashPiece(buf.data);
        ok = Buffer.compare(digest, expected) === 0;
        // A mismatch is judged on the whole buffer, so the block-by-block path can never fail a piece
        // on its own (its catch-up assumes standard block sizes): bad pieces are rare, this is cheap.
        if (!ok && incremental) ok = Buffer.compare(await hasher.hashPiece(buf.data), expected) === 0;
      } else ok = true;
      const l = buf.leaves;
      if (ok && l && l.count === l.done.length)
        ok = rootOfLayer(l.hashes, l.check.widthLeaves, 0).equals(l.check.expected);
      else if (ok && m.v2) ok = await this.#v2Ok(piece, buf.data);
      if (signal.aborted) return undefined;
      if (ok) await storage.writePiece(piece, buf.data);
    }
    if (signal.aborted) return undefined;
    if (this.#buffers.get(piece) === buf) this.#drop(piece);
    const digest = (offset: number, length: number) => this.#blockDigest(buf, offset, length);
    if (!ok) {
      hooks.failed({
        piece,
        length: buf.length,
        senders: buf.from,
        blocks: buf.blocks,
        digest,
        ...(buf.data ? { bytes: buf.data } : {}),
      });
      return 'failed';
    }
    hooks.passed(piece, digest);
    // Hashed and written: nothing refers to the buffer any more.
    if (buf.data && (this.#spareBuffers.length + 1) * buf.data.length <= SPARE_BUFFER_BYTES)
      this.#spareBuffers.push(buf.data);
    return 'passed';
  }

  /** Forgets every piece (the torrent stopped). */
  clear(): void {
    this.#buffers.clear();
    this.#unverified = 0;
    this.#spareBuffers.length = 0;
  }

  /** The buffer of a piece being assembled (a new one at its first block). */
  #buffer(piece: number, inOrder: boolean): PieceBuffer {
    let buf = this.#buffers.get(piece);
    if (buf) return buf;
    const m = this.#o.metainfo;
    const length = this.#o.geometry.pieceSize(piece);
    const streamed = length > STREAM_PIECE_BYTES;
    const incremental = !streamed && (inOrder || length <= INCREMENTAL_HASH_MAX_BYTES);
    const after = this.#staleWrites.get(piece);
    buf = {
      data: streamed ? undefined : this.#takeBuffer(length),
      length,
      ...(streamed
        ? {
            streamed: {
              writes: new Set<Promise<void>>(),
              digests: new Map<number, Buffer>(),
              partial: new Map<number, Buffer>(),
              ...(after !== undefined ? { after } : {}),
            },
          }
        : {}),
      from: new Set(),
      received: 0,
      blocks: new Map(),
      hash: incremental && hasV1Hashes(m) ? createHash('sha1') : undefined,
      hashed: 0,
      leaves: incremental && m.v2 ? leavesFor(m.v2, m.pieceLength, piece) : undefined,
    };
    this.#buffers.set(piece, buf);
    this.#unverified += buf.data?.length ?? 0;
    return buf;
  }

  /** A buffer for a piece being assembled: a spare one of the right size, so a download makes no
   * garbage of its own size (fewer full collections). */
  #takeBuffer(length: number): Buffer {
    const b = this.#spareBuffers.pop();
    return b !== undefined && b.length === length ? b : Buffer.allocUnsafe(length);
  }

  #drop(piece: number): void {
    const buf = this.#buffers.get(piece);
    if (!buf) return;
    this.#buffers.delete(piece);
    this.#unverified -= buf.data?.length ?? 0;
    this.#o.released?.();
    const writes = buf.streamed?.writes;
    if (writes && writes.size > 0) {
      const stale = Promise.all(writes);
      this.#staleWrites.set(piece, stale);
      void stale.finally(() => {
        if (this.#staleWrites.get(piece) === stale) this.#staleWrites.delete(piece);
      });
    }
  }

  /**
   * A block of a piece too large to hold goes to storage now (a copy: `data` is the socket's), its
   * SHA-1 kept; its bytes count as unverified while the write is in flight.
   */
  #writeBlock(
    s: NonNullable<PieceBuffer['streamed']>,
    piece: number,
    offset: number,
    data: Uint8Array,
  ): void {
    const block = this.#blockSpares.pop() ?? Buffer.allocUnsafeSlow(BLOCK_SIZE);
    const copy = data.length <= block.length ? block.subarray(0, data.length) : Buffer.from(data);
    if (copy.buffer === block.buffer) copy.set(data);
    s.digests.set(offset, createHash('sha1').update(copy).digest());
    this.#unverified += copy.length;
    this.#writing += copy.length;
    const write = (): Promise<void> => this.#o.storage.write(piece, offset, copy);
    const w = (s.after ? s.after.then(write) : write()).then(
      () => undefined,
      (err: unknown) => {
        s.error ??= err instanceof Error ? err : new Error(String(err));
      },
    );
    s.writes.add(w);
    void w.finally(() => {
      s.writes.delete(w);
      this.#unverified -= copy.length;
      this.#writing -= copy.length;
      this.#o.released?.();
      // The block's buffer serves the next one (no garbage of the piece's size).
      if (copy.buffer === block.buffer && this.#blockSpares.length < MAX_BLOCK_SPARES)
        this.#blockSpares.push(block);
    });
  }

  async #writesDone(buf: PieceBuffer): Promise<void> {
    const s = buf.streamed!;
    while (s.writes.size > 0) await Promise.all([...s.writes]);
    if (s.error) throw s.error;
  }

  /** SHA-1 of a piece written block by block (PieceBuffer.streamed), read back a chunk at a time. */
  async #hashFromStorage(buf: PieceBuffer, piece: number): Promise<Buffer> {
    await this.#writesDone(buf);
    return this.#o.hasher.hashChunked(buf.length, async (into, at) => {
      await this.#o.storage.read(piece, at, into.length, into);
    });
  }

  /** The v2 check of a piece (BEP 52); a hybrid's piece whose layer is unknown stands on its SHA-1. */
  async #v2Ok(piece: number, data: Uint8Array | undefined): Promise<boolean> {
    const m = this.#o.metainfo;
    const r = await checkPieceV2(m, piece, data, this.#o.storage, this.#o.hasher);
    return r === true || (r === undefined && hasV1Hashes(m));
  }

  /** SHA-1 of one block of an assembled piece: from its bytes, or as kept when it was streamed. */
  #blockDigest(buf: PieceBuffer, offset: number, length: number): Buffer | undefined {
    if (buf.streamed) return buf.streamed.digests.get(offset);
    return buf.data
      ? createHash('sha1')
          .update(buf.data.subarray(offset, offset + length))
          .digest()
      : undefined;
  }
}

/** Leaf hashes to fill for a v2 piece, or undefined when it has nothing v2 to check or its layer is unknown. */
function leavesFor(v2: NonNullable<Metainfo['v2']>, pieceLength: number, piece: number): Leaves | undefined {
  const check = v2PieceCheck(v2, pieceLength, piece);
  if (check === true || check === undefined) return undefined;
  const n = Math.ceil(check.fileBytes / MERKLE_BLOCK_BYTES);
  return { check, hashes: Buffer.allocUnsafe(n * HASH_BYTES), done: new Uint8Array(n), count: 0 };
}

/** Hashes the leaves of `bytes` that [start, end) covers whole (a block again: hashed again, counted once). */
function leavesIn(l: Leaves, bytes: Uint8Array, start: number, end: number): void {
  const fileBytes = l.check.fileBytes;
  for (let i = Math.ceil(start / MERKLE_BLOCK_BYTES); i < l.done.length; i++) {
    const at = i * MERKLE_BLOCK_BYTES;
    const leafEnd = Math.min(at + MERKLE_BLOCK_BYTES, fileBytes);
    if (leafEnd > end) break;
    sha256Into(bytes.subarray(at, leafEnd), l.hashes, i * HASH_BYTES);
    if (l.done[i] === 0) {
      l.done[i] = 1;
      l.count++;
    }
  }
}
