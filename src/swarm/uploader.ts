// The uploader: serves the blocks peers request, in the order they were asked, as far as the upload
// buckets allow. What a peer is sent follows what its connection can take: a peer that asks faster
// than it reads (its unsent bytes past an allowance that follows its upload rate) has its requests
// held until its socket drains, and the others are served meanwhile. It sees the torrent through a
// narrow view (UploadSource) and touches no socket but through the connection.

import type { PeerConnection } from '../peer/connection.js';
import { BLOCK_SIZE, blockKey } from '../protocol/peer-wire.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import type { RateMeter } from '../util/rate-meter.js';
import type { TokenBucket } from '../util/token-bucket.js';
import type { BlockRef } from './piece-picker.js';

/** Bytes written to a peer but unread (plus reads in flight for it) beyond which it is served no more until it reads. */
const MAX_UNSENT_BYTES_PER_PEER = 1024 * 1024;
/**
 * Below that, what a peer may have written and unsent follows what its link takes: half a second of
 * its upload rate, at least MIN_UNSENT_BYTES_PER_PEER. A deeper queue only delays our `have`s and
 * answers behind it, and is lost when the peer completes and hangs up.
 */
const MIN_UNSENT_BYTES_PER_PEER = 128 * 1024;
const UNSENT_SECONDS = 0.5;

/** What the uploader sees of the torrent. */
export interface UploadSource {
  readonly pieceCount: number;
  pieceLength(piece: number): number;
  /** Verified (and so announced). */
  has(piece: number): boolean;
  /** Announced and then lost (it no longer reads back): asked for in good faith. */
  lost(piece: number): boolean;
  /** A block of a piece in the read cache, without a promise; undefined when not cached. */
  readCached(piece: number, offset: number, length: number): Buffer | undefined;
  read(piece: number, offset: number, length: number): Promise<Buffer>;
  /** A buffer from readCached/read that the socket no longer holds. */
  giveBack(data: Buffer): void;
  /** A read failed: the torrent judges (a lost piece, or a failed storage). */
  readFailed(piece: number, err: Error): void;
}

/** One peer's side of the uploads. */
export interface UploadPeer {
  readonly conn: PeerConnection;
  /** Requests queued or being read, by blockKey (the request itself: a same-key request of another length is another). */
  readonly pending: Map<number, BlockRef>;
  /** Requests only the torrent can judge invalid (past the piece's end, a piece we lack). */
  invalidRequests: number;
  /** Bytes being read for this peer and not yet handed to its socket. */
  readingBytes: number;
  /** Requests held back until the peer reads what we already wrote. */
  readonly parked: BlockRef[];
  waitingDrain: boolean;
}

export interface UploaderOptions {
  source: UploadSource;
  /** Every bucket a block's bytes are taken from (the torrent's, then the session's). */
  buckets: readonly TokenBucket[];
  clock: Clock;
  /** The torrent's: once aborted, nothing more is served. */
  signal: AbortSignal;
  /** The torrent's upload meter. */
  meter: RateMeter;
  /** Invalid requests after which a peer is closed. */
  maxInvalidRequests: number;
}

export class Uploader {
  /** Payload bytes sent. */
  uploadedBytes = 0;
  readonly #o: UploaderOptions;
  /** Requests waiting for upload tokens, in arrival order. */
  readonly #queue: { peer: UploadPeer; block: BlockRef }[] = [];
  #timer: TimerHandle | undefined;

  constructor(options: UploaderOptions) {
    this.#o = options;
  }

  /** A new peer's upload state. */
  peer(conn: PeerConnection): UploadPeer {
    return { conn, pending: new Map(), invalidRequests: 0, readingBytes: 0, parked: [], waitingDrain: false };
  }

  /** A request arrived: rejected (choked, not ours, invalid), or queued to be served. */
  request(p: UploadPeer, block: BlockRef): void {
    const conn = p.conn;
    const src = this.#o.source;
    if (conn.amChoking && !conn.allowedFastGiven.has(block.piece)) {
      conn.reject(block);
      return;
    }
    if (src.lost(block.piece) && !src.has(block.piece)) {
      // We announced it before we lost it: the peer asked in good faith.
      conn.reject(block);
      return;
    }
    const len = block.piece < src.pieceCount ? src.pieceLength(block.piece) : 0;
    if (
      !src.has(block.piece) ||
      block.length > BLOCK_SIZE ||
      block.length === 0 ||
      block.offset + block.length > len
    ) {
      // Only we know piece lengths and what we have: count these as the connection counts its own.
      conn.reject(block);
      if (++p.invalidRequests >= this.#o.maxInvalidRequests) conn.close('invalid-requests');
      return;
    }
    p.pending.set(blockKey(block.piece, block.offset), block);
    this.#queue.push({ peer: p, block });
    this.pump();
  }

  /** The peer cancelled a request: not served if it was not yet. */
  cancel(p: UploadPeer, block: BlockRef): void {
    const key = blockKey(block.piece, block.offset);
    if (p.pending.get(key)?.length === block.length) p.pending.delete(key);
  }

  /** We choked the peer: what it asked is not served. */
  choked(p: UploadPeer): void {
    p.pending.clear();
  }

  /** Serves queued requests as far as the upload buckets allow; waits for tokens otherwise. */
  pump(): void {
    if (this.#timer || this.#o.signal.aborted) return;
    const { source: src, buckets, clock } = this.#o;
    while (this.#queue.length > 0) {
      const { peer: p, block } = this.#queue[0]!;
      const k = blockKey(block.piece, block.offset);
      if (p.pending.get(k) !== block || p.conn.closed) {
        this.#queue.shift(); // cancelled, choked or gone meanwhile
        continue;
      }
      if (!src.has(block.piece)) {
        // Lost since it was asked for.
        this.#queue.shift();
        p.pending.delete(k);
        p.conn.reject(block);
        continue;
      }
      if (p.conn.writeBufferBytes + p.readingBytes >= this.#unsentAllowance(p)) {
        // The peer asks faster than it reads: hold its requests, serve the others.
        this.#queue.shift();
        this.#park(p, block);
        continue;
      }
      const now = clock.now();
      let waitMs = 0;
      for (const b of buckets) waitMs = Math.max(waitMs, b.waitMs(block.length, now));
      if (waitMs > 0) {
        this.#timer = clock.setTimeout(() => {
          this.#timer = undefined;
          this.pump();
        }, waitMs);
        return;
      }
      for (const b of buckets) b.take(block.length, now);
      this.#queue.shift();
      // Most blocks come from a piece already in the cache: served now, without a promise each.
      const cached = src.readCached(block.piece, block.offset, block.length);
      if (cached !== undefined) {
        this.#serve(p, k, block, cached, now);
        continue;
      }
      p.readingBytes += block.length;
      src.read(block.piece, block.offset, block.length).then(
        (data) => {
          p.readingBytes -= block.length;
          if (this.#o.signal.aborted) return;
          if (!this.#serve(p, k, block, data, clock.now())) return;
          if (!p.waitingDrain) this.#unpark(p);
        },
        (err: Error) => {
          p.readingBytes -= block.length;
          if (this.#o.signal.aborted) return;
          src.readFailed(block.piece, err);
          if (this.#o.signal.aborted) return;
          // The rest is served on.
          if (p.pending.get(k) === block) {
            p.pending.delete(k);
            p.conn.reject(block);
          }
          if (!p.waitingDrain) this.#unpark(p);
        },
      );
    }
  }

  /** Stops the wait for tokens (the torrent stopped or failed). */
  stop(): void {
    this.#o.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** What `p` may have written and not yet sent (see MIN_UNSENT_BYTES_PER_PEER). */
  #unsentAllowance(p: UploadPeer): number {
    const byRate = p.conn.uploadMeter.rate(this.#o.clock.now()) * UNSENT_SECONDS;
    return Math.min(MAX_UNSENT_BYTES_PER_PEER, Math.max(MIN_UNSENT_BYTES_PER_PEER, byRate));
  }

  /** Sends a block read for a request that is still pending; false when it no longer is. */
  #serve(p: UploadPeer, key: number, block: BlockRef, data: Buffer, nowMs: number): boolean {
    const src = this.#o.source;
    const pending = p.pending.get(key) === block;
    if (pending) p.pending.delete(key);
    if (!pending || !p.conn.sendPiece(block.piece, block.offset, data, () => src.giveBack(data))) {
      src.giveBack(data); // nothing was sent: the socket holds no view of it
      return false;
    }
    this.uploadedBytes += data.length;
    this.#o.meter.add(data.length, nowMs);
    return true;
  }

  /**
   * Holds a request until the peer reads: its socket drains, or (when reads in flight filled the
   * allowance) those reads complete and #unpark runs.
   */
  #park(p: UploadPeer, block: BlockRef): void {
    p.parked.push(block);
    if (p.waitingDrain || !p.conn.socket.writableNeedDrain) return;
    p.waitingDrain = true;
    p.conn.socket.once('drain', () => {
      p.waitingDrain = false;
      this.#unpark(p);
    });
  }

  #unpark(p: UploadPeer): void {
    if (p.parked.length === 0 || p.conn.closed || this.#o.signal.aborted) return;
    for (const b of p.parked.splice(0)) this.#queue.push({ peer: p, block: b });
    this.pump();
  }
}
