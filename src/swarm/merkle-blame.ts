// Merkle blame (BEP 52): who sent the bad block of a v2 piece that failed its hash, at once. The
// piece's hash (from the piece layer) proves the leaf hashes a peer sends for it, one per 16 KiB
// block; a block whose SHA-256 differs from its proven leaf is bad, and only its sender is named —
// no retry needed, unlike smart ban's comparison once the piece verifies (which stays the fallback
// when no peer answers). No sockets, time passed in; a sender is a name (a peer's endpoint).

import { leafHashes } from '../protocol/merkle.js';
import type { V2Info } from '../protocol/metainfo-v2.js';
import type { HashRequest } from '../protocol/peer-wire.js';
import { leafHashRequest, provenLeaves } from '../storage/verify-v2.js';

/** Failed pieces waiting for their leaf hashes at once; more are left to smart ban. */
const MAX_PENDING = 64;
/** An unanswered request is forgotten after this long. */
const PENDING_MS = 30_000;

interface Pending {
  /** SHA-256 of each block as received. */
  received: Buffer;
  /** Offset → sender of each block. */
  senders: ReadonlyMap<number, string>;
  request: HashRequest;
  /** Who was asked (and has not refused): the first proven answer settles it. */
  askedOf: Set<string>;
  atMs: number;
}

export class MerkleBlame {
  readonly #v2: V2Info;
  readonly #pieceLength: number;
  readonly #pending = new Map<number, Pending>();

  constructor(v2: V2Info, pieceLength: number) {
    this.#v2 = v2;
    this.#pieceLength = pieceLength;
  }

  /**
   * A v2 piece failed with blocks from several senders: the hash request to send to each of `askOf`
   * (peers that have the piece and speak BEP 52; a liar among them cannot forge hashes that prove
   * themselves), or undefined (nothing to prove it with, or too many waiting).
   */
  failed(
    piece: number,
    bytes: Uint8Array,
    senders: ReadonlyMap<number, string>,
    askOf: readonly string[],
    nowMs: number,
  ): HashRequest | undefined {
    for (const [p, w] of this.#pending) if (nowMs - w.atMs > PENDING_MS) this.#pending.delete(p);
    if (this.#pending.size >= MAX_PENDING) return undefined;
    const request = leafHashRequest(this.#v2, this.#pieceLength, piece);
    if (!request) return undefined;
    this.#pending.set(piece, {
      received: leafHashes(bytes),
      senders: new Map(senders),
      request,
      askedOf: new Set(askOf),
      atMs: nowMs,
    });
    return request;
  }

  /** The piece a request of ours asked about, if it is still waiting for `from`'s answer. */
  #match(from: string, r: HashRequest): number | undefined {
    for (const [piece, w] of this.#pending) {
      const q = w.request;
      if (
        w.askedOf.has(from) &&
        q.index === r.index &&
        q.length === r.length &&
        q.baseLayer === r.baseLayer &&
        Buffer.from(q.piecesRoot).equals(Buffer.from(r.piecesRoot))
      )
        return piece;
    }
    return undefined;
  }

  /**
   * `from` answered: the senders of the blocks that differ from the proven leaves (each once), or
   * undefined when the answer was not ours or does not prove itself (then nothing is judged).
   */
  answered(from: string, r: HashRequest, hashes: Uint8Array): string[] | undefined {
    const piece = this.#match(from, r);
    if (piece === undefined) return undefined;
    const w = this.#pending.get(piece)!;
    const leaves = provenLeaves(this.#v2, this.#pieceLength, piece, hashes);
    if (!leaves) {
      this.refused(from, r);
      return undefined;
    }
    this.#pending.delete(piece);
    const liars = new Set<string>();
    leaves.forEach((leaf, i) => {
      const got = w.received.subarray(i * 32, i * 32 + 32);
      const sender = w.senders.get(i * 16 * 1024);
      if (sender !== undefined && got.length === 32 && !leaf.equals(got)) liars.add(sender);
    });
    return [...liars];
  }

  /** `from` refused (hash reject) or left: its requests wait no more. */
  refused(from: string, r?: HashRequest): void {
    const pieces = r ? [this.#match(from, r)] : [...this.#pending.keys()];
    for (const p of pieces) {
      const w = p === undefined ? undefined : this.#pending.get(p);
      if (!w?.askedOf.delete(from)) continue;
      if (w.askedOf.size === 0) this.#pending.delete(p!);
    }
  }
}
