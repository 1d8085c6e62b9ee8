// Smart ban: who to blame for a piece that failed its hash check, as the piece assembler's pass and
// fail hooks. A piece one sender sent whole names that sender at once. A piece with blocks from
// several senders keeps the SHA-1 of each block and who sent it; while the piece is downloaded
// again each block is asked of another sender than the one that sent it (for a while), so the retry
// can verify without the liar's blocks; when it verifies, a sender whose block differed from the
// good data is named. Honest senders that happened to share a bad piece are never blamed. No
// sockets, time passed in; a sender is a name (a peer's endpoint, a web seed's id).

/** How long after a failure the blocks of that piece are asked of other senders. */
const AVOID_MS = 60_000;
/** Failed pieces remembered at once (each holds a digest per block). */
const MAX_SUSPECT_PIECES = 4096;

export interface FailedPiece {
  piece: number;
  length: number;
  /** Everyone who sent a block of this try (a block sent twice counts both senders). */
  senders: ReadonlySet<string>;
  /** Offset → the sender of each block as it stands. */
  blocks: ReadonlyMap<number, string>;
  /** SHA-1 of a block as received, when still known. */
  digest(offset: number, length: number): Buffer | undefined;
  /** The piece as received (held in memory), for the hook's own use only: it is reused after. */
  bytes?: Uint8Array;
}

export class SmartBan {
  readonly #blockLength: number;
  /** Blocks of failed pieces: each one's digest as received, and its sender. */
  readonly #suspects = new Map<
    number,
    { offset: number; length: number; sender: string; digest: Buffer }[]
  >();
  readonly #avoid = new Map<number, { senders: Map<number, string>; untilMs: number }>();

  constructor(blockLength: number) {
    this.#blockLength = blockLength;
  }

  /** Failed pieces being watched (the torrent's request filter is only needed while there are some). */
  get watching(): boolean {
    return this.#avoid.size > 0;
  }

  /**
   * The fail hook: the sender to ban at once (it sent the whole piece), or undefined (several
   * senders: their blocks are remembered and judged when the piece verifies).
   */
  failed(f: FailedPiece, nowMs: number): string | undefined {
    if (f.senders.size === 1) return f.senders.values().next().value;
    if (this.#suspects.size >= MAX_SUSPECT_PIECES) return undefined;
    const list = this.#suspects.get(f.piece) ?? [];
    for (const [offset, sender] of f.blocks) {
      const length = Math.min(this.#blockLength, f.length - offset);
      const digest = f.digest(offset, length);
      if (digest) list.push({ offset, length, sender, digest });
    }
    this.#suspects.set(f.piece, list);
    this.#avoid.set(f.piece, { senders: new Map(f.blocks), untilMs: nowMs + AVOID_MS });
    return undefined;
  }

  /**
   * The pass hook: the piece verified; `good` gives the SHA-1 of its good blocks. Returns the
   * senders of blocks that differed, once for each such block.
   */
  passed(piece: number, good: (offset: number, length: number) => Buffer | undefined): string[] {
    this.#avoid.delete(piece);
    const suspects = this.#suspects.get(piece);
    if (!suspects) return [];
    this.#suspects.delete(piece);
    const liars: string[] = [];
    for (const b of suspects) {
      const digest = good(b.offset, b.length);
      if (digest && !digest.equals(b.digest)) liars.push(b.sender);
    }
    return liars;
  }

  /**
   * A request for the block at `offset` of `piece` timed out or was refused: when that block was
   * being asked of others than its first sender, anyone may send it now (true). Else the retry
   * could wait on a peer that never answers while the only one that does is kept from it.
   */
  lift(piece: number, offset: number): boolean {
    return this.#avoid.get(piece)?.senders.delete(offset) ?? false;
  }

  /**
   * True when the block at `offset` of `piece` should not be asked of `sender`: it sent that block of
   * the failed try, and (`othersHave`) someone else can send it. A lone source is asked again.
   */
  avoids(piece: number, offset: number, sender: string, nowMs: number, othersHave: () => boolean): boolean {
    const a = this.#avoid.get(piece);
    if (!a) return false;
    if (a.untilMs < nowMs) {
      this.#avoid.delete(piece);
      return false;
    }
    return a.senders.get(offset) === sender && othersHave();
  }
}
