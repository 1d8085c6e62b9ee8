// Initial seeding (BEP 16 super-seeding): the decision of which pieces a seeder tells each peer
// about. Pure — the caller feeds in what peers announce and the time, and sends a `have` for each
// offer returned; nothing else of ours is announced (the bitfield sent is empty).
//
// Rules:
// - A piece is offered to one peer at a time: never again while an offer of it is outstanding (told,
//   not yet announced by that peer), and — normally — only while no connected peer holds it (so the
//   seeder sends each piece once and the leechers spread it among themselves).
// - A peer holds at most `maxPendingPerPeer` outstanding offers (the pipeline that keeps its share
//   of our uplink busy), and its share of `pendingTotal` when that is less (but `minPendingPerPeer`
//   at least): a lone peer has the whole uplink and needs a deep pipeline, and with many, long ones
//   leave the last pieces in the pipelines of peers slow to ask while the uplink idles. And it holds
//   at most `maxHeldPerPeer` pieces it got from us that no one else has yet
//   announced ("passed on"): a peer that does not upload what it got stops getting more.
// - An offer the peer did not take up within `starveAfterMs`, while it asked us for nothing at all
//   and has no request waiting at us (`busy`), leaves its pipeline, and the piece may be offered to
//   another peer: a peer that does not take up its offers locks no piece away. If the peer is not
//   `interested` either, it does not want those pieces (a file it skips), and if it never asked us
//   for anything, it only sits on offers: either way it leaves initial seeding (see `released`).
//   A peer still asking, or waiting for what it asked, is working through its offers: on an uplink
//   shared by many, that takes a while.
// - A released peer hears of every piece and asks for what it wants, as from any seeder; what it
//   announces still counts in each piece's availability, so the others are not offered it.
// - With `releaseLoneAfterMs` (automatic initial seeding), a peer that has been the only one for that
//   long is released: with nobody to pass pieces on to, offers only slow it (a player streaming
//   from us wants its pieces in order, not ours).
// - Rarest first (fewest connected peers holding it), ties broken at random; to a lone peer, in order.
// - A peer is starving when for `starveAfterMs` it announced no piece but those we offered (it may
//   have no other peer to trade with: two leechers that only know the seeder): it is then offered
//   the rarest pieces it lacks, whoever else holds them — but only once every piece is held by some
//   peer. Until then every byte we send is a piece the swarm lacks, so a seeder that leaves after
//   one copy leaves a complete swarm behind.
// The state keeps, per peer, what it holds (from its bitfield and haves), what we told it, and its
// outstanding and held offers; per piece, how many peers hold it and whose offer is outstanding.

export interface SuperSeedOptions {
  pieceCount: number;
  /** Offers a peer may have outstanding (told, not yet announced). Default 4. */
  maxPendingPerPeer?: number;
  /** Offers outstanding over all peers, shared out evenly (default: no such bound). */
  pendingTotal?: number;
  /** A peer's share of pendingTotal is at least this many offers. Default 1. */
  minPendingPerPeer?: number;
  /** Pieces a peer got from us and nobody else announced yet, after which it gets no more. Default 16. */
  maxHeldPerPeer?: number;
  /** A peer that announced nothing but our offers for this long is starving. Default 3 s. */
  starveAfterMs?: number;
  /**
   * The peer has requests waiting at us: it is taking up its offers, however long ago it asked (on
   * an uplink shared by many, its share of a deep pipeline takes a while to send).
   */
  busy?: (peer: string) => boolean;
  /**
   * The peer is interested in us: its expired offers are pieces it still wants (it may be fetching
   * them from a peer that has them by now); it stays in initial seeding. Default: never.
   */
  interested?: (peer: string) => boolean;
  /** Release a peer that has been the only one this long (default: never). */
  releaseLoneAfterMs?: number;
  random: () => number;
}

export interface SuperSeedOffer {
  peer: string;
  piece: number;
}

interface PeerState {
  has: Uint8Array;
  told: Uint8Array;
  /** Offers told and not yet announced by the peer, with the time of each. */
  pending: Map<number, number>;
  /** Pieces it got from our offer that no other peer announced since. */
  held: Set<number>;
  /** When it last announced a piece it did not have from our offer (or connected). */
  lastProgressMs: number;
  /** It announced every piece: nothing to offer. */
  pieces: number;
  /** When it last asked us for a block (or connected). */
  lastRequestMs: number;
  /** It asked us for a block at least once. */
  asked: boolean;
  /** It left initial seeding: it was told every piece and gets no offers. */
  released: boolean;
}

export class SuperSeed {
  readonly #n: number;
  readonly #maxPending: number;
  readonly #pendingTotal: number;
  readonly #minPending: number;
  readonly #maxHeld: number;
  readonly #starveMs: number;
  readonly #random: () => number;
  readonly #busy: (peer: string) => boolean;
  readonly #interested: (peer: string) => boolean;
  readonly #releaseLoneMs: number | undefined;
  /** Since when the one peer has been alone (undefined: there are none, or several). */
  #aloneSinceMs: number | undefined;
  /** Pieces offered to some peer (or announced by a released one): the ones the swarm has from us. */
  readonly #offered: Uint8Array;
  /** A peer came with pieces it cannot have from us: another source of this torrent exists. */
  #foreign = false;
  readonly #peers = new Map<string, PeerState>();
  /** Connected peers holding each piece. */
  readonly #avail: Uint32Array;
  /** Pieces some connected peer holds (availability above 0): the swarm's copy of each. */
  #inSwarm = 0;
  /** Outstanding offers of each piece. */
  readonly #inFlight: Uint32Array;
  /** Outstanding offers of each piece at peers that have asked us for something. */
  readonly #inFlightAsked: Uint32Array;
  /** The peer holding each piece from our offer, until someone else announces it. */
  readonly #heldBy = new Map<number, string>();
  /** Peers that left initial seeding (an offer not taken up), with what they were told: the caller
   * announces the rest to them and drains this list. */
  readonly released: { peer: string; told: Uint8Array }[] = [];
  /** Offers made in all (each is one `have` sent). */
  offersMade = 0;

  constructor(o: SuperSeedOptions) {
    if (!Number.isInteger(o.pieceCount) || o.pieceCount < 1)
      throw new RangeError(`bad piece count ${o.pieceCount}`);
    this.#n = o.pieceCount;
    this.#maxPending = Math.max(1, Math.floor(o.maxPendingPerPeer ?? 4));
    this.#pendingTotal = o.pendingTotal ?? Number.POSITIVE_INFINITY;
    this.#minPending = Math.max(1, Math.floor(o.minPendingPerPeer ?? 1));
    this.#maxHeld = Math.max(this.#maxPending, Math.floor(o.maxHeldPerPeer ?? 16));
    this.#starveMs = o.starveAfterMs ?? 3000;
    this.#random = o.random;
    this.#busy = o.busy ?? (() => false);
    this.#interested = o.interested ?? (() => false);
    this.#releaseLoneMs = o.releaseLoneAfterMs;
    this.#offered = new Uint8Array(this.#n);
    this.#avail = new Uint32Array(this.#n);
    this.#inFlight = new Uint32Array(this.#n);
    this.#inFlightAsked = new Uint32Array(this.#n);
  }

  get peerCount(): number {
    return this.#peers.size;
  }

  /** A peer's bitfield showed pieces we never offered: the swarm has another source. */
  get foreignSource(): boolean {
    return this.#foreign;
  }

  /** Connected peers that hold `piece` (as they announced it). */
  availability(piece: number): number {
    return this.#avail[piece] ?? 0;
  }

  /** The offers outstanding at `peer`. */
  pendingOf(peer: string): number[] {
    return [...(this.#peers.get(peer)?.pending.keys() ?? [])];
  }

  /** Whether `peer` was told about `piece`. */
  told(peer: string, piece: number): boolean {
    return this.#peers.get(peer)?.told[piece] === 1;
  }

  addPeer(peer: string, nowMs: number): void {
    if (this.#peers.has(peer)) return;
    this.#peers.set(peer, {
      has: new Uint8Array(this.#n),
      told: new Uint8Array(this.#n),
      pending: new Map(),
      held: new Set(),
      lastProgressMs: nowMs,
      pieces: 0,
      lastRequestMs: nowMs,
      asked: false,
      released: false,
    });
    this.#aloneSinceMs = this.#peers.size === 1 ? nowMs : undefined;
  }

  removePeer(peer: string, nowMs: number): void {
    const s = this.#peers.get(peer);
    if (!s) return;
    this.#peers.delete(peer);
    // The one left is alone from now on.
    this.#aloneSinceMs = this.#peers.size === 1 ? nowMs : undefined;
    for (let i = 0; i < this.#n; i++) if (s.has[i] && --this.#avail[i]! === 0) this.#inSwarm--;
    for (const p of s.pending.keys()) this.#dropFlight(s, p);
    for (const p of s.held) if (this.#heldBy.get(p) === peer) this.#heldBy.delete(p);
  }

  /** The peer announced `piece` (a `have`, or a bit of its bitfield). */
  peerHas(peer: string, piece: number, nowMs: number): void {
    const s = this.#peers.get(peer);
    if (!s || !Number.isInteger(piece) || piece < 0 || piece >= this.#n || s.has[piece]) return;
    // What a released peer announces it asked of us, as far as anyone can tell.
    if (s.released) this.#offered[piece] = 1;
    const before = this.#avail[piece]!;
    s.has[piece] = 1;
    s.pieces++;
    if (this.#avail[piece]!++ === 0) this.#inSwarm++;
    if (!s.pending.has(piece)) s.lastProgressMs = nowMs;
    if (s.pending.has(piece)) {
      this.#dropFlight(s, piece);
      s.pending.delete(piece);
      // It got it from us (nobody else had it): it holds it until it passes it on.
      if (before === 0 && !this.#heldBy.has(piece)) {
        s.held.add(piece);
        this.#heldBy.set(piece, peer);
      }
    }
    // Another peer announced a piece someone holds from us: it was passed on.
    const holder = this.#heldBy.get(piece);
    if (holder !== undefined && holder !== peer) {
      this.#heldBy.delete(piece);
      this.#peers.get(holder)?.held.delete(piece);
    }
  }

  /** The peer asked us for a block: it is taking up its offers. */
  peerRequested(peer: string, nowMs: number): void {
    const s = this.#peers.get(peer);
    if (!s) return;
    s.lastRequestMs = nowMs;
    if (s.asked) return;
    s.asked = true;
    for (const piece of s.pending.keys()) this.#inFlightAsked[piece]!++;
  }

  /** The peer's bitfield (or have-all / have-none): every piece it holds. */
  peerBitfield(peer: string, has: (piece: number) => boolean, nowMs: number): void {
    const s = this.#peers.get(peer);
    for (let i = 0; i < this.#n; i++) {
      if (!has(i)) continue;
      if (s && !s.released && !this.#offered[i]) this.#foreign = true;
      this.peerHas(peer, i, nowMs);
    }
  }

  /** New offers for every peer with room, the least served first; each is marked told. */
  offers(nowMs: number): SuperSeedOffer[] {
    const out: SuperSeedOffer[] = [];
    const order = [...this.#peers.entries()].sort((a, b) => a[1].pending.size - b[1].pending.size);
    const pendingLimit = Math.min(
      this.#maxPending,
      Math.max(this.#minPending, Math.floor(this.#pendingTotal / Math.max(1, this.#peers.size))),
    );
    for (const [peer, s] of order) {
      if (s.released) continue;
      if (
        this.#releaseLoneMs !== undefined &&
        this.#aloneSinceMs !== undefined &&
        nowMs - this.#aloneSinceMs >= this.#releaseLoneMs
      ) {
        this.#release(peer, s);
        continue;
      }
      // An offer not taken up in starveAfterMs leaves the pipeline (the peer was told; it may still
      // ask), and the piece may be offered to others.
      let expired = false;
      const idle = nowMs - s.lastRequestMs >= this.#starveMs && !this.#busy(peer);
      for (const [piece, atMs] of s.pending) {
        if (!idle || nowMs - atMs < this.#starveMs) continue;
        this.#dropFlight(s, piece);
        s.pending.delete(piece);
        expired = true;
      }
      if (expired && (!this.#interested(peer) || !s.asked)) {
        // It skips pieces (a file it does not want), or never asked us for anything (it only sits on
        // its offers): it leaves initial seeding and hears of every piece.
        this.#release(peer, s);
        continue;
      }
      // Starving: it got nothing from anyone else for a while (it may have nobody else to trade
      // with); it then gets pieces whatever it holds, and any piece it lacks once the swarm holds
      // every piece.
      const starving = nowMs - s.lastProgressMs >= this.#starveMs;
      const mayCopy = starving && this.#allHeld();
      while (s.pending.size < pendingLimit && s.pieces < this.#n) {
        // (A lone peer has nobody to pass pieces on to: it gets what it asks for.)
        if (!starving && this.#peers.size > 1 && s.held.size >= this.#maxHeld) break;
        const piece = this.#pick(s, starving, mayCopy);
        if (piece === undefined) break;
        s.told[piece] = 1;
        this.#offered[piece] = 1;
        s.pending.set(piece, nowMs);
        this.#addFlight(s, piece);
        this.offersMade++;
        out.push({ peer, piece });
      }
    }
    return out;
  }

  /** `peer` leaves initial seeding: the caller tells it the rest (`released`); it gets no offers. */
  #release(peer: string, s: PeerState): void {
    this.released.push({ peer, told: s.told.slice() });
    s.told.fill(1);
    s.released = true;
    for (const piece of s.pending.keys()) this.#dropFlight(s, piece);
    s.pending.clear();
    for (const piece of s.held) if (this.#heldBy.get(piece) === peer) this.#heldBy.delete(piece);
    s.held.clear();
  }

  /** An offer of `piece` to `s` is outstanding. */
  #addFlight(s: PeerState, piece: number): void {
    this.#inFlight[piece]!++;
    if (s.asked) this.#inFlightAsked[piece]!++;
  }

  /** One outstanding offer of `piece` at `s` is no more. */
  #dropFlight(s: PeerState, piece: number): void {
    this.#inFlight[piece]!--;
    if (s.asked) this.#inFlightAsked[piece]!--;
  }

  /** Every piece is held by some connected peer: what we send now is a copy, whatever it is. */
  #allHeld(): boolean {
    return this.#inSwarm === this.#n;
  }

  /**
   * The rarest piece to offer `s`: nobody holds it nor has an offer of it; else, `starving`, one
   * nobody holds whose offers are all at peers that never asked us for anything (they may only sit
   * on offers: they lock no piece away from a peer that waits); `mayCopy`, any it lacks.
   */
  #pick(s: PeerState, starving: boolean, mayCopy: boolean): number | undefined {
    // Alone, nothing is rarer than anything else: in order, the first pieces first (a player reads
    // them first).
    const start = this.#peers.size === 1 ? 0 : Math.floor(this.#random() * this.#n) % this.#n;
    let best: number | undefined;
    let unasked: number | undefined;
    let bestKey = Number.POSITIVE_INFINITY;
    for (let k = 0; k < this.#n; k++) {
      const i = (start + k) % this.#n;
      if (s.has[i] || s.told[i]) continue;
      const free = this.#inFlight[i] === 0 && this.#avail[i] === 0;
      if (free) return i;
      if (starving && unasked === undefined && this.#inFlightAsked[i] === 0 && this.#avail[i] === 0)
        unasked = i;
      if (!mayCopy) continue;
      const key = this.#inFlight[i]! * this.#n * 4 + this.#avail[i]!;
      if (key < bestKey) {
        bestKey = key;
        best = i;
      }
    }
    return unasked ?? best;
  }

  /** Recounts the per-piece tallies from the peers' states; throws on the first mismatch (tests). */
  checkInvariants(): void {
    let inSwarm = 0;
    for (let i = 0; i < this.#n; i++) {
      let avail = 0;
      let inFlight = 0;
      let inFlightAsked = 0;
      for (const s of this.#peers.values()) {
        avail += s.has[i]!;
        if (s.pending.has(i)) {
          inFlight++;
          if (s.asked) inFlightAsked++;
          if (!s.told[i] || s.has[i]) throw new Error(`piece ${i}: pending but not told, or already held`);
        }
      }
      if (avail !== this.#avail[i]) throw new Error(`piece ${i}: availability ${this.#avail[i]} ≠ ${avail}`);
      if (avail > 0) inSwarm++;
      if (inFlight !== this.#inFlight[i])
        throw new Error(`piece ${i}: in flight ${this.#inFlight[i]} ≠ ${inFlight}`);
      if (inFlightAsked !== this.#inFlightAsked[i])
        throw new Error(`piece ${i}: in flight at askers ${this.#inFlightAsked[i]} ≠ ${inFlightAsked}`);
    }
    if (inSwarm !== this.#inSwarm)
      throw new Error(`${this.#inSwarm} pieces counted in the swarm, ${inSwarm} are`);
    for (const [piece, peer] of this.#heldBy) {
      const s = this.#peers.get(peer);
      if (!s?.held.has(piece) || !s.has[piece])
        throw new Error(`piece ${piece}: held by ${peer}, who lacks it`);
    }
    for (const [peer, s] of this.#peers) {
      for (const p of s.held)
        if (this.#heldBy.get(p) !== peer) throw new Error(`${peer} holds ${p} unrecorded`);
      if (s.pending.size > this.#maxPending) throw new Error(`${peer}: ${s.pending.size} offers outstanding`);
      if (s.released && (s.pending.size > 0 || s.held.size > 0))
        throw new Error(`${peer} was released but has offers or held pieces`);
    }
  }
}
