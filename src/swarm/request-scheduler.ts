// The request scheduler: keeps each unchoked peer's pipeline of block requests full, with what the
// picker chooses for it, within the download limits (a rate-limited download asks only for what the
// buckets hold) and the memory cap on pieces being assembled. It decides how many to ask and when;
// the picker decides which. It sees the torrent through a narrow view and a peer through its
// connection's pipeline state; no socket, and the time from the clock passed in.

import type { PeerConnection } from '../peer/connection.js';
import { BLOCK_SIZE } from '../protocol/peer-wire.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import type { TokenBucket } from '../util/token-bucket.js';
import type { BlockRef, PiecePicker } from './piece-picker.js';

/** Requests missing from a deep pipeline before a received block tops it up (see queueFill). */
const REFILL_BATCH = 16;

/** A peer downloading at least this share of the fastest peer's rate may take pieces with a deadline. */
const URGENT_RATE_SHARE = 0.25;

/** A peer is "fast" (it gets whole pieces of its own) above this download rate, bytes/s. */
const FAST_PEER_BYTES_PER_SEC = 512 * 1024;

/** What the scheduler sees of a connected peer. */
export interface SchedulerPeer {
  /** The picker's name for it. */
  readonly key: string;
  /** Its endpoint (smart ban's name for it). */
  readonly address: string;
  readonly conn: PeerConnection;
  readonly isSeed: boolean;
}

/** What the scheduler sees of the torrent. */
export interface SchedulerView {
  /** Downloading (not checking, seeding, stopped or failed). */
  downloading(): boolean;
  peers(): Iterable<SchedulerPeer>;
  /** Bytes of pieces held in memory while they are assembled and checked. */
  unverifiedBytes(): number;
  /** Of those, blocks of pieces too large to hold on their way to disk (they drain by themselves). */
  writingBytes(): number;
  /** Blocks not to ask of `address` now (smart ban), or undefined when there are none. */
  avoid(address: string): ((piece: number, offset: number) => boolean) | undefined;
  /**
   * Pipelines may grow again: the download buckets have tokens, or the memory cap let go (web seeds
   * wait for both too).
   */
  refilled(): void;
  /** A block of BEP 47 padding only: nobody is asked for it. */
  isPadding(block: BlockRef): boolean;
  /** The picker gave `peer` a block of padding: the torrent fills it in (zeros) instead. */
  fillPadding(peer: SchedulerPeer, block: BlockRef): void;
}

export interface RequestSchedulerOptions {
  picker: PiecePicker;
  view: SchedulerView;
  /** Every bucket a received block's bytes are taken from (the torrent's, then the session's). */
  buckets: readonly TokenBucket[];
  clock: Clock;
  /** Past this many unverified bytes held, no new piece is started (default 48 MiB). */
  maxUnverifiedBytes?: number;
}

export class RequestScheduler {
  readonly #o: RequestSchedulerOptions;
  #timer: TimerHandle | undefined;
  /** Peers whose refill is queued for the end of this tick (after the rest of a socket read). */
  readonly #queued = new Set<SchedulerPeer>();
  /** Download rate below which a peer is kept off the pieces with a deadline (recomputed each tick). */
  #urgentFloor = 0;
  /** The memory cap kept a pipeline short: the next release of held bytes tops every pipeline up. */
  #heldByCap = false;
  /** Block writes past the cap kept every pipeline waiting for the disk: their release tops them up. */
  #heldByWrites = false;
  #releaseQueued = false;

  constructor(options: RequestSchedulerOptions) {
    this.#o = options;
  }

  get urgentFloor(): number {
    return this.#urgentFloor;
  }

  /** Once a second or so: a share of the fastest peer's rate is what may take pieces with a deadline. */
  tick(nowMs: number): void {
    let best = 0;
    for (const p of this.#o.view.peers()) best = Math.max(best, p.conn.downloadMeter.rate(nowMs));
    this.#urgentFloor = best * URGENT_RATE_SHARE;
  }

  /** Tops up every peer's pipeline. */
  fillAll(): void {
    for (const p of this.#o.view.peers()) this.fill(p);
  }

  /** Tops up one peer's pipeline, with what the picker gives it. */
  fill(peer: SchedulerPeer): void {
    const { view, picker, clock, buckets } = this.#o;
    if (!view.downloading()) return;
    // Blocks of a piece too large to hold go to disk as they come. The cap lets pieces in flight go
    // on, so past it a slow disk would have a whole such piece of blocks in memory: their writes drain
    // by themselves, and are waited for (released() tops the pipelines up).
    if (this.#writesOverCap) {
      this.#heldByWrites = true;
      return;
    }
    const conn = peer.conn;
    const bf = conn.peerBitfield;
    if (!bf || !conn.amInterested) return;
    const allowedFast = conn.peerChoking ? conn.allowedFastSet : undefined;
    if (conn.peerChoking && (!allowedFast || allowedFast.size === 0)) return;
    let want = conn.desiredQueueDepth() - conn.outstandingRequests;
    if (want <= 0) return;
    const nowMs = clock.now();
    if (!this.allowed(nowMs)) return;
    // Under a download limit, ask only for what the buckets hold now: the pipeline follows the rate.
    let tokens = Number.POSITIVE_INFINITY;
    for (const b of buckets) tokens = Math.min(tokens, b.available(nowMs));
    if (Number.isFinite(tokens)) {
      // Requests already out will spend tokens when they arrive.
      let outstanding = 0;
      for (const p of view.peers()) outstanding += p.conn.outstandingRequests;
      const room = Math.floor(tokens / BLOCK_SIZE) - outstanding;
      want = Math.min(want, outstanding === 0 ? Math.max(1, room) : room);
      if (want <= 0) return;
    }
    const overCap = this.overCap;
    const rate = conn.downloadMeter.rate(nowMs);
    const avoid = view.avoid(peer.address);
    const blocks = picker.pick(peer.key, peer.isSeed ? 'all' : bf, want, {
      fast: rate > FAST_PEER_BYTES_PER_SEC,
      urgent: rate >= this.#urgentFloor,
      nowMs,
      ...(overCap ? { partialOnly: true } : {}),
      ...(avoid ? { avoid } : {}),
      ...(allowedFast ? { allowedFast } : {}),
      ...(conn.suggested.size > 0 ? { suggested: conn.suggested } : {}),
    });
    if (overCap && blocks.length < want) this.#heldByCap = true;
    for (const b of blocks) {
      if (view.isPadding(b)) view.fillPadding(peer, b);
      else conn.request(b);
    }
  }

  /** Past the memory cap: only pieces in flight go on (web seeds heed it too). */
  get overCap(): boolean {
    return this.#o.view.unverifiedBytes() > this.#cap;
  }

  get #writesOverCap(): boolean {
    return this.#o.view.writingBytes() > this.#cap;
  }

  get #cap(): number {
    return this.#o.maxUnverifiedBytes ?? 48 * 1024 * 1024;
  }

  /**
   * Bytes held for pieces being assembled went down (a piece checked and written, or dropped). When
   * the memory cap had kept pipelines short and now allows more, every one is topped up at once (at
   * the end of this task), not at the next tick: a pipeline the cap let run dry gets no block that
   * would refill it, and the download stood still for up to a second.
   */
  released(): void {
    if ((!this.#heldByCap && !this.#heldByWrites) || this.#releaseQueued) return;
    this.#releaseQueued = true;
    queueMicrotask(() => {
      this.#releaseQueued = false;
      const writes = this.#heldByWrites && !this.#writesOverCap;
      const cap = this.#heldByCap && !this.overCap;
      if (!writes && !cap) return;
      if (writes) this.#heldByWrites = false;
      if (cap) this.#heldByCap = false;
      this.fillAll();
      this.#o.view.refilled();
    });
  }

  /**
   * Refills a peer's requests once the socket read being handled is done: a read holds several
   * blocks, and one refill for all of them picks and writes its requests in one go.
   */
  queueFill(peer: SchedulerPeer): void {
    if (this.#queued.has(peer)) return;
    this.#queued.add(peer);
    queueMicrotask(() => {
      this.#queued.delete(peer);
      const conn = peer.conn;
      // With a deep pipeline, top it up in batches: fewer, larger request writes on both sides.
      const depth = conn.desiredQueueDepth();
      const missing = depth - conn.outstandingRequests;
      if (!conn.closed && missing > 0 && (missing >= REFILL_BATCH || missing * 4 >= depth)) this.fill(peer);
    });
  }

  /** True when the download buckets have tokens; otherwise every pipeline is topped up once they refill. */
  allowed(nowMs: number): boolean {
    const buckets = this.#o.buckets;
    if (buckets.every((b) => b.available(nowMs) > 0)) return true;
    if (!this.#timer) {
      const waitMs = Math.max(1, ...buckets.map((b) => b.waitMs(1, nowMs)));
      this.#timer = this.#o.clock.setTimeout(() => {
        this.#timer = undefined;
        this.fillAll();
        this.#o.view.refilled();
      }, waitMs);
    }
    return false;
  }

  /** Bytes received count against the download buckets. Returns how long until one more byte may come. */
  take(bytes: number, nowMs: number): number {
    let waitMs = 0;
    for (const b of this.#o.buckets) {
      b.take(bytes, nowMs);
      waitMs = Math.max(waitMs, b.waitMs(1, nowMs));
    }
    return waitMs;
  }

  /**
   * Peers answer requests in order, so a claim that starts somewhere new (a new reader, a seek) would
   * wait behind the whole pipeline (seconds of it from a slow peer): the fast peers that have a
   * claimed piece are told to cancel what we asked of them, and the refill that follows asks for the
   * claimed pieces first, earliest deadline first, then for the rest again. A reader that moves on to
   * its next piece needs none of this: its window's pieces are already at the front.
   */
  promote(claimed: readonly number[]): void {
    const { picker, clock, view } = this.#o;
    const now = clock.now();
    for (const peer of view.peers()) {
      const conn = peer.conn;
      if (conn.peerChoking || conn.downloadMeter.rate(now) < this.#urgentFloor) continue;
      const bf = conn.peerBitfield;
      if (!peer.isSeed && !claimed.some((p) => bf?.get(p))) continue;
      for (const b of conn.outstandingBlocks()) if (conn.cancel(b)) picker.release(peer.key, b);
    }
  }

  /** Stops the wait for tokens (the torrent stopped or failed). */
  stop(): void {
    this.#o.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
