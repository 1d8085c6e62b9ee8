// The piece picker: which blocks to request from which peer. Pure logic — no I/O, no timers, no
// clock; randomness is injected. Invariants are written in PICKER.md and asserted by checkInvariants().
import { type BlockRef, Geometry } from '../protocol/geometry.js';
import { BLOCK_SIZE } from '../protocol/peer-wire.js';
import { Bitfield } from '../util/bitfield.js';

export type { BlockRef } from '../protocol/geometry.js';
// The unit of request and transfer, and a block's name: the geometry's (one numbering everywhere).
export { BLOCK_SIZE } from '../protocol/peer-wire.js';

export type PeerKey = string;

/** Priority levels: 0 is "not wanted"; higher levels are picked before lower ones. */
export const PiecePriority = { skip: 0, low: 1, normal: 4, high: 7 } as const;
export const MAX_PIECE_PRIORITY = 7;

export const PieceState = {
  needed: 'needed',
  inFlight: 'inFlight',
  verified: 'verified',
  notWanted: 'notWanted',
} as const;
export type PieceState = (typeof PieceState)[keyof typeof PieceState];

export interface PickerOptions {
  pieceCount: number;
  pieceLength: number;
  totalLength: number;
  random?: () => number;
  /** Pick pieces in index order (streaming) instead of rarest first. */
  sequential?: boolean;
  /** While fewer pieces than this are verified, new pieces are chosen at random (default 4). */
  randomFirstPieces?: number;
  /** Endgame duplicates one peer may have outstanding at once (default 1). */
  endgameDuplicatesPerPeer?: number;
  /** Duplicates of blocks of pieces past their deadline one peer may have outstanding (default 8). */
  urgentDuplicatesPerPeer?: number;
  /**
   * The set of verified pieces, kept by the picker (pieceVerified, pieceLost): the torrent's own
   * bitfield, so that "verified" is kept once. Empty at the start; a fresh one when not given.
   */
  verified?: Bitfield;
}

export interface PickOptions {
  /** Whole pieces: the peer gets pieces nobody else is downloading and keeps to them. */
  fast?: boolean;
  /** The peer choked us but allows these pieces (BEP 6): pick only from them. */
  allowedFast?: ReadonlySet<number>;
  /** Start no new piece, only continue pieces in flight (e.g. too many unverified bytes held). */
  partialOnly?: boolean;
  /** Blocks not to ask of this peer (it sent them in a piece that failed: ask someone else). */
  avoid?: (piece: number, offset: number) => boolean;
  /**
   * This peer may take pieces that have a deadline (default true). The caller gives them only to its
   * fastest peers, so a slow peer does not hold the block a reader waits for.
   */
  urgent?: boolean;
  /** The caller's clock: pieces whose deadline is at or before it get duplicate requests. */
  nowMs?: number;
  /**
   * Pieces the peer suggested (BEP 6 suggest piece: a fresh piece it has, say): untouched ones are
   * started before the rarest (not in sequential order, which a reader waits on).
   */
  suggested?: Iterable<number>;
}

export interface ReceiveResult {
  accepted: boolean;
  /** Set when this block was the piece's last missing one: the caller verifies the piece. */
  pieceDone?: number;
  /** Other peers that had this block requested (endgame): the caller sends them CANCEL. */
  cancel: readonly PeerKey[];
}

/** The results of received() for the common cases, shared: one fewer allocation per block. */
const NO_PEERS: readonly PeerKey[] = Object.freeze([]);
const NOT_ACCEPTED: ReceiveResult = Object.freeze({ accepted: false, cancel: NO_PEERS });
const ACCEPTED: ReceiveResult = Object.freeze({ accepted: true, cancel: NO_PEERS });

const FREE = 0;
const REQUESTED = 1;
const RECEIVED = 2;

/** A piece with at least one block requested or received. */
interface InFlight {
  readonly blocks: Uint8Array;
  /** Who has each REQUESTED block outstanding; undefined for FREE and RECEIVED blocks. */
  readonly requesters: (PeerKey[] | undefined)[];
  free: number;
  requested: number;
  received: number;
  /** A fast peer that took this piece whole; others avoid it while they have anything else. */
  owner: PeerKey | undefined;
}

/**
 * What the picker keeps of one peer beyond the blocks' requesters. Which blocks a peer has
 * outstanding is not kept here: a block's `requesters` say who has it (libtorrent's piece_picker),
 * and the connection keeps what it sent (for timeouts) — one record each way, no third copy.
 */
interface PeerState {
  /** Request indices of the blocks handed to this peer as endgame or deadline duplicates. */
  readonly dups: Set<number>;
  /** Pieces this peer owns as a fast peer. */
  readonly owned: Set<number>;
}

/** Needed pieces of one priority level, bucketed by availability (not counting seeds). */
interface Level {
  readonly buckets: number[][];
  readonly all: number[];
}

export class PiecePicker {
  readonly pieceCount: number;
  readonly pieceLength: number;
  readonly totalLength: number;
  readonly sequential: boolean;
  readonly #random: () => number;
  readonly #randomFirst: number;
  readonly #maxDups: number;
  readonly #maxUrgentDups: number;
  /** Piece and block lengths; its request index names each block in the sets below. */
  readonly geometry: Geometry;

  readonly #priority: Uint8Array;
  readonly #verified: Bitfield;
  readonly #avail: Uint32Array;
  #seeds = 0;
  readonly #bucketPos: Int32Array;
  readonly #allPos: Int32Array;
  readonly #levels: (Level | undefined)[] = [];
  readonly #inFlight = new Map<number, InFlight>();
  readonly #peers = new Map<PeerKey, PeerState>();
  /** Pieces a reader waits for (or will soon): piece → deadline, on the caller's clock. */
  readonly #deadlines = new Map<number, number>();
  /** The keys of #deadlines, earliest deadline first (ties: lower index first). */
  #urgent: number[] = [];

  #verifiedCount = 0;
  #wantedUnverified: number;
  /** Free blocks of wanted, unverified pieces (needed pieces count whole). Zero means endgame. */
  #freeWanted = 0;
  /** Every piece below this index is verified or not wanted (sequential scans start here). */
  #seqCursor = 0;

  constructor(o: PickerOptions) {
    if (!Number.isSafeInteger(o.pieceLength) || o.pieceLength <= 0)
      throw new RangeError(`piece length must be a positive integer, got ${o.pieceLength}`);
    if (!Number.isSafeInteger(o.totalLength) || o.totalLength < 0)
      throw new RangeError(`total length must be a non-negative integer, got ${o.totalLength}`);
    const expected = Math.ceil(o.totalLength / o.pieceLength);
    if (o.pieceCount !== expected)
      throw new RangeError(
        `${o.totalLength} bytes in pieces of ${o.pieceLength} make ${expected} pieces, not ${o.pieceCount}`,
      );
    this.pieceCount = o.pieceCount;
    this.pieceLength = o.pieceLength;
    this.totalLength = o.totalLength;
    this.sequential = o.sequential ?? false;
    this.#random = o.random ?? Math.random;
    this.#randomFirst = o.randomFirstPieces ?? 4;
    this.#maxDups = o.endgameDuplicatesPerPeer ?? 1;
    this.#maxUrgentDups = o.urgentDuplicatesPerPeer ?? 8;
    this.geometry = new Geometry(o);
    const n = o.pieceCount;
    this.#priority = new Uint8Array(n).fill(PiecePriority.normal);
    this.#verified = o.verified ?? new Bitfield(n);
    if (this.#verified.length !== n || this.#verified.count !== 0)
      throw new RangeError(`the verified set must be an empty bitfield of ${n} pieces`);
    this.#avail = new Uint32Array(n);
    this.#bucketPos = new Int32Array(n).fill(-1);
    this.#allPos = new Int32Array(n).fill(-1);
    this.#wantedUnverified = n;
    for (let p = 0; p < n; p++) {
      this.#addNeeded(p);
      this.#freeWanted += this.blockCount(p);
    }
  }

  // ---- geometry ----

  pieceSize(piece: number): number {
    return this.geometry.pieceSize(piece);
  }

  blockCount(piece: number): number {
    return this.geometry.blockCount(piece);
  }

  // ---- availability ----

  peerAdded(has: Bitfield): void {
    this.#checkLength(has);
    this.#walk(has, (p) => this.#setAvail(p, this.#avail[p]! + 1));
  }

  peerRemoved(has: Bitfield): void {
    this.#checkLength(has);
    // Validate before changing anything so a caller's bug cannot leave half-applied counts.
    this.#walk(has, (p) => {
      if (this.#avail[p] === 0) throw new RangeError(`peerRemoved: piece ${p} has availability 0`);
    });
    this.#walk(has, (p) => this.#setAvail(p, this.#avail[p]! - 1));
  }

  /** A peer announced one more piece (call only when its bit changes from 0 to 1). */
  peerHave(piece: number): void {
    this.#checkPiece(piece);
    this.#setAvail(piece, this.#avail[piece]! + 1);
  }

  /** A peer that has every piece, counted without walking a bitfield. */
  seedAdded(): void {
    this.#seeds++;
  }

  seedRemoved(): void {
    if (this.#seeds === 0) throw new RangeError('seedRemoved without seedAdded');
    this.#seeds--;
  }

  availability(piece: number): number {
    return (this.#avail[piece] ?? 0) + this.#seeds;
  }

  // ---- wanted pieces ----

  setWanted(piece: number, wanted: boolean): void {
    this.#checkPiece(piece);
    const cur = this.#priority[piece]!;
    if (wanted && cur === PiecePriority.skip) this.setPriority(piece, PiecePriority.normal);
    else if (!wanted) this.setPriority(piece, PiecePriority.skip);
  }

  /** 0 (not wanted) … MAX_PIECE_PRIORITY. A piece in flight keeps its outstanding requests. */
  setPriority(piece: number, priority: number): void {
    this.#checkPiece(piece);
    if (!Number.isInteger(priority) || priority < 0 || priority > MAX_PIECE_PRIORITY)
      throw new RangeError(`priority must be an integer 0..${MAX_PIECE_PRIORITY}, got ${priority}`);
    const old = this.#priority[piece]!;
    if (old === priority) return;
    const needed = this.#bucketPos[piece]! >= 0;
    if (needed) this.#removeNeeded(piece);
    this.#priority[piece] = priority;
    if (this.#verified.get(piece)) return;
    const st = this.#inFlight.get(piece);
    const free = st ? st.free : this.blockCount(piece);
    if (old === 0) {
      this.#wantedUnverified++;
      this.#freeWanted += free;
      if (piece < this.#seqCursor) this.#seqCursor = piece;
    } else if (priority === 0) {
      this.#wantedUnverified--;
      this.#freeWanted -= free;
    }
    if (!st && priority > 0) this.#addNeeded(piece);
  }

  priority(piece: number): number {
    return this.#priority[piece] ?? 0;
  }

  isWanted(piece: number): boolean {
    return (this.#priority[piece] ?? 0) > 0;
  }

  have(piece: number): boolean {
    return this.#verified.get(piece);
  }

  /** Free blocks of wanted, unverified pieces: what nobody has been asked for yet (0: endgame). */
  get freeWantedBlocks(): number {
    return this.#freeWanted;
  }

  get verifiedCount(): number {
    return this.#verifiedCount;
  }

  /** Every wanted piece is verified. */
  get complete(): boolean {
    return this.#wantedUnverified === 0;
  }

  /** No free block of a wanted piece is left, yet some wanted piece is not verified. */
  get inEndgame(): boolean {
    return this.#freeWanted === 0 && this.#wantedUnverified > 0;
  }

  pieceState(piece: number): PieceState {
    this.#checkPiece(piece);
    if (this.#verified.get(piece)) return PieceState.verified;
    if (this.#inFlight.has(piece)) return PieceState.inFlight;
    return this.#priority[piece] === 0 ? PieceState.notWanted : PieceState.needed;
  }

  /** How many blocks `peer` has outstanding (a scan of the pieces in flight: not for hot paths). */
  outstanding(peer: PeerKey): number {
    return this.#requestedFrom(peer).length;
  }

  /** The blocks `peer` has outstanding, by piece and offset (a scan, as above). */
  outstandingBlocks(peer: PeerKey): BlockRef[] {
    return this.#requestedFrom(peer).map((id) => this.geometry.requestRef(id));
  }

  /** The request indices of the blocks `peer` has outstanding, by piece and offset. */
  #requestedFrom(peer: PeerKey): number[] {
    const ids: number[] = [];
    for (const [p, st] of this.#inFlight) {
      if (st.requested === 0) continue;
      for (let b = 0; b < st.blocks.length; b++)
        if (st.requesters[b]?.includes(peer)) ids.push(this.geometry.requestIndex(p, b));
    }
    return ids;
  }

  // ---- deadlines (readers) ----

  /**
   * Replaces every deadline: piece → time by which a reader needs it (the caller's clock). Pieces
   * with a deadline are picked before all others, earliest first, by peers picked with `urgent`;
   * once a deadline has passed (`nowMs` of pick), their requested blocks are also asked of such a
   * peer that does not have them outstanding (duplicates). Verified pieces are left out; a piece
   * that is not wanted keeps its deadline but is not picked (the caller makes it wanted).
   */
  setDeadlines(deadlines: ReadonlyMap<number, number> | Iterable<readonly [number, number]>): void {
    const next = new Map<number, number>();
    for (const [p, d] of deadlines) {
      this.#checkPiece(p);
      if (!Number.isFinite(d)) throw new RangeError(`deadline of piece ${p} must be a finite number`);
      if (!this.#verified.get(p)) next.set(p, Math.min(d, next.get(p) ?? d));
    }
    this.#deadlines.clear();
    for (const [p, d] of next) this.#deadlines.set(p, d);
    this.#urgent = [...next.keys()].sort((a, b) => next.get(a)! - next.get(b)! || a - b);
  }

  /** The deadline of a piece, or undefined. */
  deadline(piece: number): number | undefined {
    return this.#deadlines.get(piece);
  }

  /** Pieces with a deadline, earliest first. */
  get urgentPieces(): readonly number[] {
    return this.#urgent;
  }

  // ---- picking ----

  /**
   * Blocks for `peer` (which has `has`), up to `count`; marks them requested by that peer.
   * opts.fast → whole pieces; opts.allowedFast → only these pieces (peer choked us but allows fast).
   * A bitfield `has` must already be counted (peerAdded/peerHave); a seed counted by seedAdded
   * passes 'all'.
   */
  pick(peer: PeerKey, has: Bitfield | 'all', count: number, opts: PickOptions = {}): BlockRef[] {
    const out: BlockRef[] = [];
    if (count <= 0 || this.#wantedUnverified === 0) return out;
    if (has !== 'all') this.#checkLength(has);
    const allowed = opts.allowedFast;
    const canGet = (p: number): boolean =>
      (has === 'all' || has.get(p)) && (allowed === undefined || allowed.has(p));
    const ctx: PickCtx = {
      peer,
      ps: this.#peerState(peer),
      canGet,
      fast: opts.fast === true,
      registered: has !== 'all',
      partialOnly: opts.partialOnly === true,
      avoid: opts.avoid,
      need: count,
      out,
    };

    if (allowed !== undefined) this.#pickAllowed(ctx, allowed);
    else {
      if (this.#urgent.length > 0 && opts.urgent !== false)
        this.#pickUrgent(ctx, opts.nowMs ?? Number.NEGATIVE_INFINITY);
      if (ctx.fast) this.#pickOwned(ctx);
      if (opts.suggested && !this.sequential && !ctx.partialOnly) this.#pickSuggested(ctx, opts.suggested);
      if (this.sequential) this.#pickSequential(ctx);
      else this.#pickByPriority(ctx);
      // A fast peer with no untouched piece left helps finish the partial ones.
      if (ctx.fast && ctx.need > 0) this.#pickPartials(ctx, this.#partialCandidates(ctx, false), -1);
      // Last resort before endgame: join pieces that other fast peers took whole.
      if (ctx.need > 0) this.#pickPartials(ctx, this.#partialCandidates(ctx, true), -1);
    }
    if (ctx.need > 0 && this.#freeWanted === 0) this.#pickEndgame(ctx);
    this.#forgetIdle(peer, ctx.ps);
    return out;
  }

  /**
   * Pieces with a deadline, earliest first: their free blocks (whoever owns the piece), then, once
   * the deadline has passed, duplicates of their blocks requested of other peers.
   */
  #pickUrgent(ctx: PickCtx, nowMs: number): void {
    for (const p of this.#urgent) {
      if (ctx.need === 0) return;
      if (this.#priority[p] === 0 || !ctx.canGet(p)) continue;
      let st = this.#inFlight.get(p);
      if (!st) {
        if (ctx.partialOnly) continue;
        st = this.#start(p);
        this.#take(ctx, p, st);
        this.#settle(p, st);
      } else if (st.free > 0) this.#take(ctx, p, st);
      if (this.#deadlines.get(p)! > nowMs) continue;
      for (let b = 0; b < st.blocks.length && ctx.need > 0; b++) {
        if (ctx.ps.dups.size >= this.#maxUrgentDups) return;
        if (st.blocks[b] !== REQUESTED) continue;
        const rq = st.requesters[b]!;
        if (rq.includes(ctx.peer)) continue;
        this.#addDuplicate(ctx, p, b, rq);
      }
    }
  }

  /** Asks ctx.peer for a block that others have outstanding: an endgame or deadline duplicate. */
  #addDuplicate(ctx: PickCtx, p: number, b: number, requesters: PeerKey[]): void {
    requesters.push(ctx.peer);
    const id = this.geometry.requestIndex(p, b);
    ctx.ps.dups.add(id);
    ctx.out.push(this.geometry.blockRef(p, b));
    ctx.need--;
  }

  /** Suggested pieces that are wanted, the peer's, and not started yet. */
  #pickSuggested(ctx: PickCtx, suggested: Iterable<number>): void {
    for (const p of suggested) {
      if (ctx.need === 0) return;
      if (!Number.isInteger(p) || p < 0 || p >= this.pieceCount) continue;
      if (this.#priority[p] === 0 || this.#verified.get(p) || this.#inFlight.has(p) || !ctx.canGet(p))
        continue;
      this.#startAndTake(ctx, p);
    }
  }

  #pickOwned(ctx: PickCtx): void {
    for (const p of ctx.ps.owned) {
      if (ctx.need === 0) return;
      const st = this.#inFlight.get(p)!;
      if (st.free > 0 && this.#priority[p]! > 0) this.#take(ctx, p, st);
    }
  }

  /** Per priority level, highest first: partial pieces of that level, then new pieces of it. */
  #pickByPriority(ctx: PickCtx): void {
    const partials = ctx.fast ? [] : this.#partialCandidates(ctx, false);
    let i = 0;
    for (let level = MAX_PIECE_PRIORITY; level > 0 && ctx.need > 0; level--) {
      while (i < partials.length && this.#priority[partials[i]!]! > level) i++;
      i = this.#pickPartials(ctx, partials, level, i);
      if (ctx.need === 0) return;
      const lv = this.#levels[level];
      if (ctx.partialOnly || !lv || lv.all.length === 0) continue;
      const chosen =
        this.#verifiedCount < this.#randomFirst
          ? this.#collectRandom(lv, ctx.canGet, ctx.need)
          : this.#collectRarest(lv, ctx.canGet, ctx.need, ctx.registered ? 1 : 0);
      for (const p of chosen) {
        if (ctx.need === 0) break;
        this.#startAndTake(ctx, p);
      }
    }
  }

  /** Index order over wanted pieces; a fast peer takes only untouched pieces here. */
  #pickSequential(ctx: PickCtx): void {
    while (
      this.#seqCursor < this.pieceCount &&
      (this.#verified.get(this.#seqCursor) || this.#priority[this.#seqCursor] === 0)
    )
      this.#seqCursor++;
    for (let p = this.#seqCursor; p < this.pieceCount && ctx.need > 0; p++) {
      if (this.#verified.get(p) || this.#priority[p] === 0 || !ctx.canGet(p)) continue;
      const st = this.#inFlight.get(p);
      if (!st) {
        if (!ctx.partialOnly) this.#startAndTake(ctx, p);
      } else if (!ctx.fast && st.free > 0 && (st.owner === undefined || st.owner === ctx.peer))
        this.#take(ctx, p, st);
    }
  }

  /** BEP 6 allowed-fast: only the allowed pieces, partial ones first, then by priority and rarity. */
  #pickAllowed(ctx: PickCtx, allowed: ReadonlySet<number>): void {
    const cands: number[] = [];
    for (const p of allowed) {
      if (!Number.isInteger(p) || p < 0 || p >= this.pieceCount) continue;
      if (this.#verified.get(p) || this.#priority[p] === 0 || !ctx.canGet(p)) continue;
      const st = this.#inFlight.get(p);
      if (st && (st.free === 0 || (st.owner !== undefined && st.owner !== ctx.peer))) continue;
      if (!st && ctx.partialOnly) continue;
      cands.push(p);
    }
    const partialRank = (p: number): number => (this.#inFlight.has(p) ? 0 : 1);
    cands.sort(
      (a, b) =>
        partialRank(a) - partialRank(b) ||
        this.#priority[b]! - this.#priority[a]! ||
        this.#avail[a]! - this.#avail[b]!,
    );
    for (const p of cands) {
      if (ctx.need === 0) return;
      const st = this.#inFlight.get(p);
      if (st) this.#take(ctx, p, st);
      else this.#startAndTake(ctx, p);
    }
  }

  /**
   * In-flight wanted pieces with free blocks this peer may take, sorted by priority (high first),
   * then fewest free blocks (finish what is nearly done), then rarity. `othersOwned` selects the
   * pieces owned by other fast peers instead of the unowned ones.
   */
  #partialCandidates(ctx: PickCtx, othersOwned: boolean): number[] {
    const cands: number[] = [];
    for (const [p, st] of this.#inFlight) {
      if (st.free === 0 || this.#priority[p] === 0 || !ctx.canGet(p)) continue;
      const ownedByOther = st.owner !== undefined && st.owner !== ctx.peer;
      if (ownedByOther === othersOwned) cands.push(p);
    }
    cands.sort(
      (a, b) =>
        this.#priority[b]! - this.#priority[a]! ||
        this.#inFlight.get(a)!.free - this.#inFlight.get(b)!.free ||
        this.#avail[a]! - this.#avail[b]!,
    );
    return cands;
  }

  /** Take from candidates starting at `from` while their priority is `level` (-1: any). */
  #pickPartials(ctx: PickCtx, cands: number[], level: number, from = 0): number {
    let i = from;
    for (; i < cands.length && ctx.need > 0; i++) {
      const p = cands[i]!;
      if (level >= 0 && this.#priority[p] !== level) break;
      const st = this.#inFlight.get(p);
      if (st && st.free > 0) this.#take(ctx, p, st);
    }
    return i;
  }

  /**
   * Needed pieces from the rarest availability bucket up; random start within each bucket.
   * `fromBucket` 1 skips the pieces no counted bitfield has (a registered peer cannot have them).
   */
  #collectRarest(lv: Level, canGet: (p: number) => boolean, need: number, fromBucket: number): number[] {
    const chosen: number[] = [];
    let blocks = 0;
    for (let a = fromBucket; a < lv.buckets.length; a++) {
      const bucket = lv.buckets[a]!;
      const len = bucket.length;
      if (len === 0) continue;
      const start = Math.floor(this.#random() * len) % len;
      for (let i = 0; i < len; i++) {
        const p = bucket[(start + i) % len]!;
        if (!canGet(p)) continue;
        chosen.push(p);
        blocks += this.blockCount(p);
        if (blocks >= need) return chosen;
      }
    }
    return chosen;
  }

  /** Needed pieces chosen uniformly at random (the first pieces), whatever their rarity. */
  #collectRandom(lv: Level, canGet: (p: number) => boolean, need: number): number[] {
    const chosen: number[] = [];
    const seen = new Set<number>();
    let blocks = 0;
    const len = lv.all.length;
    const tries = Math.min(len, 32);
    for (let t = 0; t < tries; t++) {
      const p = lv.all[Math.floor(this.#random() * len) % len]!;
      if (seen.has(p) || !canGet(p)) continue;
      seen.add(p);
      chosen.push(p);
      blocks += this.blockCount(p);
      if (blocks >= need) return chosen;
    }
    // Few of the needed pieces are on this peer: walk them all from a random start.
    const start = Math.floor(this.#random() * len) % len;
    for (let i = 0; i < len; i++) {
      const p = lv.all[(start + i) % len]!;
      if (seen.has(p) || !canGet(p)) continue;
      seen.add(p);
      chosen.push(p);
      blocks += this.blockCount(p);
      if (blocks >= need) break;
    }
    return chosen;
  }

  /**
   * A run for a web seed (BEP 19): contiguous blocks in index order, all requested by `peer`. First
   * whole needed pieces, the first one at or after `fromPiece` (wrapping round), extended over the
   * needed pieces that follow while the run stays within `maxBytes` (always at least one piece);
   * with none left (or `partialOnly`), the contiguous free blocks of one in-flight piece, fewest free
   * first (pieces that peers or a failed run left half done). Empty when there is nothing to take.
   */
  pickRun(
    peer: PeerKey,
    fromPiece: number,
    maxBytes: number,
    opts: {
      partialOnly?: boolean;
      /** Endgame: whether a block `holder` has outstanding may be asked again (default: never). */
      mayDuplicate?: (holder: PeerKey) => boolean;
    } = {},
  ): BlockRef[] {
    const out: BlockRef[] = [];
    const n = this.pieceCount;
    if (n === 0 || this.#wantedUnverified === 0) return out;
    const ctx: PickCtx = {
      peer,
      ps: this.#peerState(peer),
      canGet: () => true,
      fast: false,
      registered: false,
      partialOnly: opts.partialOnly === true,
      avoid: undefined,
      need: Number.POSITIVE_INFINITY,
      out,
    };
    const from = Number.isInteger(fromPiece) && fromPiece >= 0 && fromPiece < n ? fromPiece : 0;
    let first = -1;
    if (!ctx.partialOnly) {
      for (let i = 0; i < n; i++) {
        const p = (from + i) % n;
        if (this.#bucketPos[p]! >= 0) {
          first = p;
          break;
        }
      }
    }
    if (first >= 0) {
      let bytes = 0;
      for (let p = first; p < n && this.#bucketPos[p]! >= 0; p++) {
        const size = this.pieceSize(p);
        if (bytes > 0 && bytes + size > maxBytes) break;
        bytes += size;
        this.#startAndTake(ctx, p);
      }
    } else {
      let best = -1;
      let bestFree = Number.POSITIVE_INFINITY;
      for (const [p, st] of this.#inFlight) {
        if (st.free === 0 || this.#priority[p] === 0) continue;
        if (st.free < bestFree || (st.free === bestFree && p < best)) {
          best = p;
          bestFree = st.free;
        }
      }
      if (best >= 0) {
        const st = this.#inFlight.get(best)!;
        const wanted = this.#priority[best]! > 0;
        let b = st.blocks.indexOf(FREE);
        for (let bytes = 0; b >= 0 && b < st.blocks.length && st.blocks[b] === FREE; b++) {
          const ref = this.geometry.blockRef(best, b);
          if (bytes > 0 && bytes + ref.length > maxBytes) break;
          bytes += ref.length;
          st.blocks[b] = REQUESTED;
          st.requesters[b] = [peer];
          st.free--;
          st.requested++;
          if (wanted) this.#freeWanted--;
          out.push(ref);
        }
      } else if (!ctx.partialOnly && opts.mayDuplicate)
        this.#pickRunEndgame(ctx, maxBytes, opts.mayDuplicate);
    }
    this.#forgetIdle(peer, ctx.ps);
    return out;
  }

  /**
   * Endgame for a web seed: every block is requested, so it asks again, as duplicates, a contiguous
   * run of blocks others have outstanding (fewest requesters first), so that a fast server is not
   * left idle while a slow peer holds the last pieces. The first copy to arrive wins (`received`
   * lists the others to cancel).
   */
  #pickRunEndgame(ctx: PickCtx, maxBytes: number, mayDuplicate: (holder: PeerKey) => boolean): void {
    const eligible = (rq: PeerKey[]): boolean => !rq.includes(ctx.peer) && rq.every(mayDuplicate);
    let bestPiece = -1;
    let bestBlock = -1;
    let bestN = Number.POSITIVE_INFINITY;
    for (const [p, st] of this.#inFlight) {
      if (st.requested === 0 || this.#priority[p] === 0) continue;
      for (let b = 0; b < st.blocks.length; b++) {
        if (st.blocks[b] !== REQUESTED) continue;
        const rq = st.requesters[b]!;
        if (rq.length < bestN && eligible(rq)) {
          bestPiece = p;
          bestBlock = b;
          bestN = rq.length;
        }
      }
    }
    if (bestPiece < 0) return;
    const st = this.#inFlight.get(bestPiece)!;
    let bytes = 0;
    for (let b = bestBlock; b < st.blocks.length && st.blocks[b] === REQUESTED; b++) {
      const rq = st.requesters[b]!;
      if (!eligible(rq)) break;
      const length = this.geometry.blockRef(bestPiece, b).length;
      if (bytes > 0 && bytes + length > maxBytes) break;
      bytes += length;
      this.#addDuplicate(ctx, bestPiece, b, rq);
    }
  }

  /** Whether `peer` has this block outstanding (a web seed's bytes are kept only while it does). */
  isOutstanding(peer: PeerKey, piece: number, offset: number): boolean {
    if (offset % BLOCK_SIZE !== 0) return false;
    return this.#inFlight.get(piece)?.requesters[offset / BLOCK_SIZE]?.includes(peer) === true;
  }

  /** Ask this peer for blocks that others already have outstanding, fewest requesters first. */
  #pickEndgame(ctx: PickCtx): void {
    while (ctx.need > 0 && ctx.ps.dups.size < this.#maxDups) {
      let bestPiece = -1;
      let bestBlock = -1;
      let bestN = Number.POSITIVE_INFINITY;
      for (const [p, st] of this.#inFlight) {
        if (st.requested === 0 || this.#priority[p] === 0 || !ctx.canGet(p)) continue;
        for (let b = 0; b < st.blocks.length; b++) {
          if (st.blocks[b] !== REQUESTED) continue;
          const rq = st.requesters[b]!;
          if (rq.length < bestN && !rq.includes(ctx.peer)) {
            bestPiece = p;
            bestBlock = b;
            bestN = rq.length;
          }
        }
      }
      if (bestPiece < 0) return;
      this.#addDuplicate(ctx, bestPiece, bestBlock, this.#inFlight.get(bestPiece)!.requesters[bestBlock]!);
    }
  }

  #startAndTake(ctx: PickCtx, p: number): void {
    const st = this.#start(p);
    if (ctx.fast) {
      st.owner = ctx.peer;
      ctx.ps.owned.add(p);
    }
    this.#take(ctx, p, st);
    // A piece whose every block went unpicked cannot happen (need > 0), but keep states exact.
    this.#settle(p, st);
  }

  /** Request free blocks of an in-flight piece from ctx.peer, lowest offsets first. */
  #take(ctx: PickCtx, p: number, st: InFlight): void {
    const wanted = this.#priority[p]! > 0;
    for (let b = 0; b < st.blocks.length && ctx.need > 0 && st.free > 0; b++) {
      if (st.blocks[b] !== FREE) continue;
      if (ctx.avoid?.(p, b * BLOCK_SIZE)) continue;
      st.blocks[b] = REQUESTED;
      st.requesters[b] = [ctx.peer];
      st.free--;
      st.requested++;
      if (wanted) this.#freeWanted--;
      ctx.out.push(this.geometry.blockRef(p, b));
      ctx.need--;
    }
  }

  // ---- outcomes ----

  /** The block is no longer expected from this peer (reject, choke, timeout). */
  release(peer: PeerKey, block: BlockRef): void {
    const b = this.geometry.blockIndex(block);
    if (b < 0 || !this.#inFlight.get(block.piece)?.requesters[b]?.includes(peer)) return;
    const ps = this.#peerState(peer);
    this.#releaseId(peer, ps, this.geometry.requestIndex(block.piece, b));
    this.#forgetIdle(peer, ps);
  }

  /**
   * Forget everything outstanding from this peer (disconnect, a web seed's run ended); returns
   * what it had, by piece and offset. A scan of the pieces in flight: once per peer that leaves.
   */
  releaseAll(peer: PeerKey): BlockRef[] {
    const ids = this.#requestedFrom(peer);
    const ps = this.#peerState(peer);
    for (const id of ids) this.#releaseId(peer, ps, id);
    for (const p of ps.owned) {
      const st = this.#inFlight.get(p);
      if (st && st.owner === peer) st.owner = undefined;
    }
    this.#peers.delete(peer);
    return ids.map((id) => this.geometry.requestRef(id));
  }

  #releaseId(peer: PeerKey, ps: PeerState, id: number): void {
    const p = this.geometry.pieceOfRequest(id);
    const b = id - p * this.geometry.blocksPerPiece;
    ps.dups.delete(id);
    const st = this.#inFlight.get(p)!;
    // The owner gave up on a block (choke, reject, timeout): let others finish the piece.
    if (st.owner === peer) {
      st.owner = undefined;
      ps.owned.delete(p);
    }
    const rq = st.requesters[b]!;
    const i = rq.indexOf(peer);
    if (i >= 0) rq.splice(i, 1);
    if (rq.length === 0) {
      st.requesters[b] = undefined;
      st.blocks[b] = FREE;
      st.requested--;
      st.free++;
      if (this.#priority[p]! > 0) this.#freeWanted++;
      this.#settle(p, st);
    }
  }

  /**
   * A block arrived. accepted=false when nobody asked for it or it is already received/verified.
   * pieceDone is the piece index when this was the piece's last missing block (caller then verifies);
   * cancel lists the other peers that had this block requested (endgame) — caller sends cancel.
   */
  received(peer: PeerKey, block: BlockRef): ReceiveResult {
    const b = this.geometry.blockIndex(block);
    if (b < 0) return NOT_ACCEPTED;
    const p = block.piece;
    const st = this.#inFlight.get(p);
    if (!st || st.blocks[b] !== REQUESTED) return NOT_ACCEPTED;
    const id = this.geometry.requestIndex(p, b);
    const rq = st.requesters[b]!;
    let cancel: PeerKey[] | undefined;
    for (const r of rq) {
      const rs = this.#peers.get(r);
      if (rs) {
        rs.dups.delete(id);
        this.#forgetIdle(r, rs);
      }
      if (r !== peer) {
        cancel ??= [];
        cancel.push(r);
      }
    }
    st.requesters[b] = undefined;
    st.blocks[b] = RECEIVED;
    st.requested--;
    st.received++;
    if (st.received === st.blocks.length) return { accepted: true, pieceDone: p, cancel: cancel ?? NO_PEERS };
    return cancel === undefined ? ACCEPTED : { accepted: true, cancel };
  }

  /** The piece's hash matched. Any requests still outstanding on it are forgotten. False when it was verified already. */
  pieceVerified(piece: number): boolean {
    this.#checkPiece(piece);
    if (this.#verified.get(piece)) return false;
    const st = this.#inFlight.get(piece);
    if (st) {
      if (this.#priority[piece]! > 0) this.#freeWanted -= st.free;
      this.#dropInFlight(piece, st);
    } else {
      if (this.#bucketPos[piece]! >= 0) this.#removeNeeded(piece);
      if (this.#priority[piece]! > 0) this.#freeWanted -= this.blockCount(piece);
    }
    this.#verified.set(piece);
    this.#verifiedCount++;
    if (this.#deadlines.delete(piece)) this.#urgent.splice(this.#urgent.indexOf(piece), 1);
    if (this.#priority[piece]! > 0) this.#wantedUnverified--;
    return true;
  }

  /** The piece's hash did not match: all its blocks are free again. */
  pieceFailed(piece: number): void {
    this.#checkPiece(piece);
    const st = this.#inFlight.get(piece);
    if (!st || this.#verified.get(piece)) return;
    if (this.#priority[piece]! > 0) this.#freeWanted += st.blocks.length - st.free;
    this.#dropInFlight(piece, st);
    if (this.#priority[piece]! > 0) this.#addNeeded(piece);
  }

  /** A piece found good by a recheck or in resume data at start. */
  markVerified(piece: number): boolean {
    return this.pieceVerified(piece);
  }

  /** A verified piece is gone from storage (its file was truncated or removed): needed again. False when it was not verified. */
  pieceLost(piece: number): boolean {
    this.#checkPiece(piece);
    if (!this.#verified.get(piece)) return false;
    this.#verified.set(piece, false);
    this.#verifiedCount--;
    if (this.#priority[piece]! > 0) {
      this.#wantedUnverified++;
      this.#freeWanted += this.blockCount(piece);
      this.#addNeeded(piece);
      if (piece < this.#seqCursor) this.#seqCursor = piece;
    }
    return true;
  }

  #dropInFlight(p: number, st: InFlight): void {
    for (let b = 0; b < st.blocks.length; b++) {
      const rq = st.requesters[b];
      if (!rq) continue;
      const id = this.geometry.requestIndex(p, b);
      for (const r of rq) this.#peers.get(r)?.dups.delete(id);
    }
    if (st.owner !== undefined) this.#peers.get(st.owner)?.owned.delete(p);
    this.#inFlight.delete(p);
  }

  // ---- internals ----

  /** An in-flight piece with nothing requested or received is needed (or not wanted) again. */
  #settle(p: number, st: InFlight): void {
    if (st.requested + st.received > 0) return;
    if (st.owner !== undefined) this.#peers.get(st.owner)?.owned.delete(p);
    this.#inFlight.delete(p);
    if (this.#priority[p]! > 0) this.#addNeeded(p);
  }

  #start(p: number): InFlight {
    this.#removeNeeded(p);
    const blocks = this.blockCount(p);
    const st: InFlight = {
      blocks: new Uint8Array(blocks),
      requesters: new Array<PeerKey[] | undefined>(blocks).fill(undefined),
      free: blocks,
      requested: 0,
      received: 0,
      owner: undefined,
    };
    this.#inFlight.set(p, st);
    return st;
  }

  #peerState(peer: PeerKey): PeerState {
    let ps = this.#peers.get(peer);
    if (!ps) {
      ps = { dups: new Set(), owned: new Set() };
      this.#peers.set(peer, ps);
    }
    return ps;
  }

  /** A peer with no duplicates and no piece of its own needs no state. */
  #forgetIdle(peer: PeerKey, ps: PeerState): void {
    if (ps.dups.size === 0 && ps.owned.size === 0) this.#peers.delete(peer);
  }

  #level(priority: number): Level {
    let lv = this.#levels[priority];
    if (!lv) {
      lv = { buckets: [], all: [] };
      this.#levels[priority] = lv;
    }
    return lv;
  }

  #addNeeded(p: number): void {
    const lv = this.#level(this.#priority[p]!);
    const a = this.#avail[p]!;
    while (lv.buckets.length <= a) lv.buckets.push([]);
    const bucket = lv.buckets[a]!;
    this.#bucketPos[p] = bucket.length;
    bucket.push(p);
    this.#allPos[p] = lv.all.length;
    lv.all.push(p);
  }

  #removeNeeded(p: number): void {
    const lv = this.#levels[this.#priority[p]!]!;
    swapRemove(lv.buckets[this.#avail[p]!]!, this.#bucketPos, p);
    swapRemove(lv.all, this.#allPos, p);
  }

  #setAvail(p: number, a: number): void {
    if (this.#bucketPos[p]! < 0) {
      this.#avail[p] = a;
      return;
    }
    const lv = this.#levels[this.#priority[p]!]!;
    swapRemove(lv.buckets[this.#avail[p]!]!, this.#bucketPos, p);
    this.#avail[p] = a;
    while (lv.buckets.length <= a) lv.buckets.push([]);
    const bucket = lv.buckets[a]!;
    this.#bucketPos[p] = bucket.length;
    bucket.push(p);
  }

  #walk(has: Bitfield, fn: (p: number) => void): void {
    const bytes = has.buffer;
    for (let i = 0; i < bytes.length; i++) {
      const byte = bytes[i]!;
      if (byte === 0) continue;
      for (let bit = 0; bit < 8; bit++) {
        const p = i * 8 + bit;
        if (p < this.pieceCount && byte & (0x80 >> bit)) fn(p);
      }
    }
  }

  #checkLength(has: Bitfield): void {
    if (has.length !== this.pieceCount)
      throw new RangeError(`bitfield of ${has.length} pieces for a torrent of ${this.pieceCount}`);
  }

  #checkPiece(piece: number): void {
    if (!Number.isInteger(piece) || piece < 0 || piece >= this.pieceCount)
      throw new RangeError(`piece ${piece} out of range 0..${this.pieceCount - 1}`);
  }

  // ---- invariants (PICKER.md) ----

  /** Recomputes every derived count and index from scratch; throws an Error naming what broke. */
  checkInvariants(): void {
    const fail: (msg: string) => never = (msg) => {
      throw new Error(`piece picker invariant: ${msg}`);
    };
    const n = this.pieceCount;
    let verified = 0;
    let wantedUnverified = 0;
    let freeWanted = 0;
    let neededCount = 0;
    const reverse = new Map<PeerKey, Set<number>>();
    for (let p = 0; p < n; p++) {
      const prio = this.#priority[p]!;
      const isVerified = this.#verified.get(p);
      const st = this.#inFlight.get(p);
      const inBucket = this.#bucketPos[p]! >= 0;
      if (this.#allPos[p]! >= 0 !== inBucket) fail(`piece ${p} is in a bucket but not the level list`);
      const states =
        (isVerified ? 1 : 0) + (st ? 1 : 0) + (inBucket ? 1 : 0) + (!isVerified && !st && prio === 0 ? 1 : 0);
      if (states !== 1) fail(`piece ${p} is in ${states} states (verified/inFlight/needed/notWanted)`);
      if (isVerified) verified++;
      else if (prio > 0) {
        wantedUnverified++;
        freeWanted += st ? st.free : this.blockCount(p);
      }
      if (inBucket) {
        neededCount++;
        if (prio === 0) fail(`piece ${p} is needed but not wanted`);
        const lv = this.#levels[prio];
        if (lv?.buckets[this.#avail[p]!]?.[this.#bucketPos[p]!] !== p)
          fail(
            `piece ${p} is not where its bucket position says (priority ${prio}, avail ${this.#avail[p]})`,
          );
        if (lv?.all[this.#allPos[p]!] !== p) fail(`piece ${p} is not where its level position says`);
      } else if (!isVerified && !st && prio > 0) fail(`wanted piece ${p} is in no state`);
      if (!isVerified && prio > 0 && p < this.#seqCursor) fail(`sequential cursor skipped wanted piece ${p}`);
      if (!st) continue;
      if (st.blocks.length !== this.blockCount(p)) fail(`piece ${p} has ${st.blocks.length} block slots`);
      let free = 0;
      let requested = 0;
      let received = 0;
      for (let b = 0; b < st.blocks.length; b++) {
        const s = st.blocks[b];
        const rq = st.requesters[b];
        const id = this.geometry.requestIndex(p, b);
        if (s === FREE) {
          free++;
          if (rq) fail(`free block ${p}/${b} has requesters`);
        } else if (s === RECEIVED) {
          received++;
          if (rq) fail(`received block ${p}/${b} has requesters`);
        } else if (s === REQUESTED) {
          requested++;
          if (!rq || rq.length === 0) fail(`requested block ${p}/${b} has no requester`);
          if (new Set(rq).size !== rq.length) fail(`block ${p}/${b} lists a requester twice`);
          let nonDup = 0;
          for (const r of rq) {
            let set = reverse.get(r);
            if (!set) {
              set = new Set();
              reverse.set(r, set);
            }
            set.add(id);
            if (!this.#peers.get(r)?.dups.has(id)) nonDup++;
          }
          // More than one requester only through endgame duplicates.
          if (nonDup > 1) fail(`block ${p}/${b} has ${nonDup} non-endgame requesters`);
        } else fail(`block ${p}/${b} has unknown state ${s}`);
      }
      if (free !== st.free || requested !== st.requested || received !== st.received)
        fail(
          `piece ${p} counts ${st.free}/${st.requested}/${st.received} != ${free}/${requested}/${received}`,
        );
      if (requested + received === 0) fail(`in-flight piece ${p} has nothing requested or received`);
      if (st.owner !== undefined && !this.#peers.get(st.owner)?.owned.has(p))
        fail(`piece ${p} owner ${st.owner} does not list it`);
    }
    for (const [peer, ps] of this.#peers) {
      const rev = reverse.get(peer) ?? new Set<number>();
      if (ps.dups.size > Math.max(this.#maxDups, this.#maxUrgentDups))
        fail(`peer ${peer} has ${ps.dups.size} duplicates`);
      for (const id of ps.dups) if (!rev.has(id)) fail(`peer ${peer} duplicate ${id} not outstanding`);
      for (const p of ps.owned)
        if (this.#inFlight.get(p)?.owner !== peer) fail(`peer ${peer} owns piece ${p} that is not its own`);
    }
    let listed = 0;
    for (const lv of this.#levels) listed += lv?.all.length ?? 0;
    if (listed !== neededCount) fail(`level lists hold ${listed} pieces, ${neededCount} are needed`);
    if (verified !== this.#verifiedCount) fail(`verifiedCount ${this.#verifiedCount} != ${verified}`);
    if (wantedUnverified !== this.#wantedUnverified)
      fail(`wanted-unverified count ${this.#wantedUnverified} != ${wantedUnverified}`);
    if (freeWanted !== this.#freeWanted) fail(`free wanted blocks ${this.#freeWanted} != ${freeWanted}`);
    if (this.#urgent.length !== this.#deadlines.size) fail('the deadline order and the deadlines differ');
    for (let i = 0; i < this.#urgent.length; i++) {
      const p = this.#urgent[i]!;
      const d = this.#deadlines.get(p);
      if (d === undefined) fail(`piece ${p} is in the deadline order without a deadline`);
      if (this.#verified.get(p)) fail(`verified piece ${p} has a deadline`);
      const prev = this.#urgent[i - 1];
      if (prev !== undefined && this.#deadlines.get(prev)! > d)
        fail(`deadline order is broken at piece ${p}`);
    }
  }
}

interface PickCtx {
  readonly peer: PeerKey;
  readonly ps: PeerState;
  readonly canGet: (p: number) => boolean;
  readonly fast: boolean;
  /** `has` is a bitfield counted through peerAdded/peerHave (not 'all'). */
  readonly registered: boolean;
  readonly partialOnly: boolean;
  readonly avoid: ((piece: number, offset: number) => boolean) | undefined;
  need: number;
  readonly out: BlockRef[];
}

function swapRemove(list: number[], pos: Int32Array, p: number): void {
  const i = pos[p]!;
  const last = list.pop()!;
  if (last !== p) {
    list[i] = last;
    pos[last] = i;
  }
  pos[p] = -1;
}
