// Piece picker: geometry, order of picking (rarest, random first, partial first, fast peers,
// sequential, priorities), endgame duplicates and cancels, and random command sequences that keep
// the invariants of src/swarm/PICKER.md after every step.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  BLOCK_SIZE,
  type BlockRef,
  type PickerOptions,
  PiecePicker,
  PiecePriority,
  PieceState,
} from '../../../src/swarm/piece-picker.js';
import { Bitfield } from '../../../src/util/bitfield.js';
import { mulberry32 } from '../prng.js';

function bits(length: number, set: Iterable<number>): Bitfield {
  const b = new Bitfield(length);
  for (const i of set) b.set(i);
  return b;
}

function range(from: number, to: number): number[] {
  const out: number[] = [];
  for (let i = from; i < to; i++) out.push(i);
  return out;
}

/** One-block pieces unless told otherwise; random first off unless told otherwise. */
function picker(pieceCount: number, extra: Partial<PickerOptions> = {}): PiecePicker {
  const pieceLength = extra.pieceLength ?? BLOCK_SIZE;
  return new PiecePicker({
    pieceCount,
    pieceLength,
    totalLength: extra.totalLength ?? pieceCount * pieceLength,
    random: extra.random ?? mulberry32(1),
    randomFirstPieces: 0,
    ...extra,
  });
}

/** Receive every block and verify every finished piece, checking invariants on the way. */
function receiveAll(pp: PiecePicker, peer: string, blocks: BlockRef[]): number[] {
  const done: number[] = [];
  for (const b of blocks) {
    const r = pp.received(peer, b);
    assert.equal(r.accepted, true);
    if (r.pieceDone !== undefined) {
      pp.pieceVerified(r.pieceDone);
      done.push(r.pieceDone);
    }
    pp.checkInvariants();
  }
  return done;
}

describe('PiecePicker suggestions (BEP 6 suggest piece)', () => {
  it('starts a suggested piece first, skips one that is verified, in flight or not the peer’s', () => {
    const pp = picker(16);
    const all = bits(16, range(0, 16));
    pp.peerAdded(all);
    const partial = bits(16, range(0, 12));
    pp.peerAdded(partial);
    receiveAll(pp, 'a', pp.pick('a', all, 1, { suggested: [3] }));
    assert.equal(pp.pieceState(3), PieceState.verified);
    // 3 is verified, 5 is in flight at b, 14 is not c's: 9 is started first.
    assert.deepEqual(
      pp.pick('b', all, 1, { suggested: [5] }).map((b) => b.piece),
      [5],
    );
    assert.deepEqual(pp.pick('c', partial, 2, { suggested: [3, 5, 14, 9] }).map((b) => b.piece)[0], 9);
    pp.checkInvariants();
  });

  it('sequential order (a reader waits on it) is not changed by suggestions', () => {
    const pp = picker(8, { sequential: true });
    const all = bits(8, range(0, 8));
    pp.peerAdded(all);
    assert.deepEqual(
      pp.pick('a', all, 2, { suggested: [6] }).map((b) => b.piece),
      [0, 1],
    );
  });
});

describe('PiecePicker geometry', () => {
  it('splits pieces into 16 KiB blocks, the last block of the last piece short', () => {
    const pieceLength = 4 * BLOCK_SIZE;
    const totalLength = 2 * pieceLength + BLOCK_SIZE + 1000;
    const pp = new PiecePicker({ pieceCount: 3, pieceLength, totalLength, random: mulberry32(2) });
    assert.deepEqual([pp.blockCount(0), pp.blockCount(1), pp.blockCount(2)], [4, 4, 2]);
    assert.equal(pp.pieceSize(2), BLOCK_SIZE + 1000);
    const got = pp.pick('seed', 'all', 100);
    pp.checkInvariants();
    assert.equal(got.length, 10);
    const sum = got.reduce((s, b) => s + b.length, 0);
    assert.equal(sum, totalLength);
    const last = got.filter((b) => b.piece === 2).sort((a, b) => a.offset - b.offset);
    assert.deepEqual(last, [
      { piece: 2, offset: 0, length: BLOCK_SIZE },
      { piece: 2, offset: BLOCK_SIZE, length: 1000 },
    ]);
    for (const b of got) assert.equal(b.offset % BLOCK_SIZE, 0);
  });

  it('rejects a piece count that does not match the lengths', () => {
    assert.throws(() => new PiecePicker({ pieceCount: 3, pieceLength: BLOCK_SIZE, totalLength: BLOCK_SIZE }));
    assert.throws(() => new PiecePicker({ pieceCount: 1, pieceLength: 0, totalLength: 0 }));
  });

  it('an empty torrent is complete and picks nothing', () => {
    const pp = new PiecePicker({ pieceCount: 0, pieceLength: BLOCK_SIZE, totalLength: 0 });
    assert.equal(pp.complete, true);
    assert.deepEqual(pp.pick('a', 'all', 4), []);
    pp.checkInvariants();
  });

  it('does not accept malformed or unrequested blocks', () => {
    const pp = picker(2, { pieceLength: 2 * BLOCK_SIZE });
    const [b] = pp.pick('a', 'all', 1);
    assert.ok(b);
    const cases: BlockRef[] = [
      { ...b, offset: b.offset + 1 },
      { ...b, length: b.length - 1 },
      { ...b, piece: 7 },
      { piece: -1, offset: 0, length: BLOCK_SIZE },
      { ...b, offset: 4 * BLOCK_SIZE },
    ];
    for (const bad of cases) assert.equal(pp.received('a', bad).accepted, false, JSON.stringify(bad));
    const other = { piece: b.piece, offset: b.offset === 0 ? BLOCK_SIZE : 0, length: BLOCK_SIZE };
    assert.equal(pp.received('a', other).accepted, false, 'a free block nobody asked for');
    assert.deepEqual(pp.received('a', b), { accepted: true, cancel: [] });
    assert.equal(pp.received('a', b).accepted, false, 'already received');
    pp.checkInvariants();
  });
});

describe('PiecePicker order', () => {
  it('picks rarest first', () => {
    const pp = picker(10);
    pp.peerAdded(Bitfield.full(10));
    pp.peerAdded(bits(10, range(0, 8)));
    pp.peerAdded(bits(10, range(0, 5)));
    pp.checkInvariants();
    assert.equal(pp.availability(9), 1);
    assert.equal(pp.availability(6), 2);
    assert.equal(pp.availability(0), 3);
    const order = pp.pick('a', 'all', 10).map((b) => b.piece);
    pp.checkInvariants();
    assert.deepEqual(new Set(order.slice(0, 2)), new Set([8, 9]));
    assert.deepEqual(new Set(order.slice(2, 5)), new Set([5, 6, 7]));
    assert.deepEqual(new Set(order.slice(5)), new Set(range(0, 5)));
  });

  it('follows availability changes from HAVE, seeds and departures', () => {
    const pp = picker(4);
    const b1 = bits(4, [0, 1, 2]);
    pp.peerAdded(b1);
    pp.seedAdded();
    assert.equal(pp.availability(3), 1);
    assert.equal(pp.availability(0), 2);
    pp.peerHave(3);
    pp.peerHave(3);
    pp.checkInvariants();
    // Now 3 has availability 3, 0..2 have 2: one of 0..2 is picked first.
    assert.notEqual(pp.pick('x', 'all', 1)[0]?.piece, 3);
    pp.peerRemoved(b1);
    pp.seedRemoved();
    pp.checkInvariants();
    assert.equal(pp.availability(3), 2);
    assert.equal(pp.availability(1), 0);
    assert.throws(() => pp.peerRemoved(b1), RangeError);
    assert.throws(() => pp.seedRemoved(), RangeError);
    assert.throws(() => pp.peerAdded(new Bitfield(5)), RangeError);
    pp.checkInvariants();
  });

  it('breaks ties at random', () => {
    const firsts = new Set<number>();
    for (let seed = 0; seed < 60; seed++) {
      const pp = picker(20, { random: mulberry32(seed) });
      firsts.add(pp.pick('a', 'all', 1)[0]!.piece);
    }
    assert.ok(firsts.size >= 8, `only ${firsts.size} distinct first picks`);
  });

  it('picks the first pieces at random, then rarest first', () => {
    const n = 40;
    const firsts = new Set<number>();
    for (let seed = 0; seed < 40; seed++) {
      const pp = picker(n, { random: mulberry32(seed), randomFirstPieces: 4 });
      pp.peerAdded(Bitfield.full(n));
      pp.peerAdded(bits(n, range(1, n))); // piece 0 is the rarest
      firsts.add(pp.pick('a', 'all', 1)[0]!.piece);
    }
    assert.ok(firsts.size >= 10, 'random first pieces ignore rarity');

    const pp = picker(n, { random: mulberry32(7), randomFirstPieces: 4 });
    pp.peerAdded(Bitfield.full(n));
    pp.peerAdded(bits(n, range(1, n)));
    for (const p of [10, 11, 12, 13]) pp.markVerified(p);
    pp.checkInvariants();
    assert.equal(pp.pick('a', 'all', 1)[0]!.piece, 0, 'rarest once 4 pieces are verified');
  });

  it('finishes partial pieces before starting new ones', () => {
    const pp = picker(5, { pieceLength: 4 * BLOCK_SIZE });
    pp.peerAdded(Bitfield.full(5));
    pp.peerAdded(bits(5, [0, 1, 2, 3]));
    const first = pp.pick('a', 'all', 1);
    const p = first[0]!.piece;
    assert.equal(p, 4, 'rarest');
    // Make piece 2 partial through another peer, then let piece 4 be the rarest no more.
    pp.checkInvariants();
    const b = pp.pick('b', bits(5, [2]), 2);
    assert.deepEqual(
      b.map((x) => x.piece),
      [2, 2],
    );
    const c = pp.pick('c', 'all', 5);
    pp.checkInvariants();
    // Partial pieces first: 2 has 2 free blocks (fewer), then 4 with 3; nothing new is started.
    assert.deepEqual(
      c.map((x) => x.piece),
      [2, 2, 4, 4, 4],
    );
    assert.equal(pp.pieceState(0), PieceState.needed);
  });

  it('gives a fast peer whole pieces nobody else is downloading, and it keeps to them', () => {
    const pp = picker(6, { pieceLength: 4 * BLOCK_SIZE });
    pp.seedAdded();
    const slow = pp.pick('slow', 'all', 1);
    const slowPiece = slow[0]!.piece;
    const f1 = pp.pick('fast', 'all', 2, { fast: true });
    pp.checkInvariants();
    const fastPiece = f1[0]!.piece;
    assert.notEqual(fastPiece, slowPiece);
    assert.ok(f1.every((b) => b.piece === fastPiece));
    // Another normal peer finishes the slow peer's piece, then starts a new one, not the fast one's.
    const other = pp.pick('other', 'all', 5);
    assert.ok(other.every((b) => b.piece !== fastPiece));
    assert.equal(other.filter((b) => b.piece === slowPiece).length, 3);
    // The fast peer comes back and continues its own piece.
    const f2 = pp.pick('fast', 'all', 2, { fast: true });
    assert.deepEqual(
      f2.map((b) => [b.piece, b.offset]),
      [
        [fastPiece, 2 * BLOCK_SIZE],
        [fastPiece, 3 * BLOCK_SIZE],
      ],
    );
    pp.checkInvariants();
    // Once the fast peer gives a block up, its piece is open to everyone.
    pp.release('fast', f2[0]!);
    pp.checkInvariants();
    const after = pp.pick('late', bits(6, [fastPiece]), 4);
    assert.deepEqual(
      after.map((b) => b.piece),
      [fastPiece],
    );
  });

  it('lets normal peers join a fast peer’s piece when nothing else is left', () => {
    const pp = picker(1, { pieceLength: 4 * BLOCK_SIZE });
    pp.seedAdded();
    assert.equal(pp.pick('fast', 'all', 2, { fast: true }).length, 2);
    // The two free blocks, then (no free block left) one endgame duplicate.
    const slow = pp.pick('slow', 'all', 4);
    assert.deepEqual(
      slow.slice(0, 2).map((b) => b.offset / BLOCK_SIZE),
      [2, 3],
    );
    assert.equal(slow.length, 3);
    assert.equal(pp.inEndgame, true);
    pp.checkInvariants();
  });

  it('picks in index order in sequential mode', () => {
    const pp = picker(8, { pieceLength: 2 * BLOCK_SIZE, sequential: true });
    pp.peerAdded(Bitfield.full(8));
    pp.peerAdded(bits(8, [7]));
    const got = pp.pick('a', bits(8, [1, 2, 3, 5, 6, 7]), 5);
    assert.deepEqual(
      got.map((b) => b.piece),
      [1, 1, 2, 2, 3],
    );
    pp.checkInvariants();
    const seed = pp.pick('s', 'all', 4);
    assert.deepEqual(
      seed.map((b) => [b.piece, b.offset / BLOCK_SIZE]),
      [
        [0, 0],
        [0, 1],
        [3, 1],
        [4, 0],
      ],
    );
    receiveAll(pp, 'a', got);
    receiveAll(pp, 's', seed);
    pp.checkInvariants();
    assert.deepEqual([pp.have(0), pp.have(1), pp.have(2), pp.have(3)], [true, true, true, true]);
  });

  it('picks higher priority first and never picks unwanted pieces', () => {
    const pp = picker(6);
    pp.peerAdded(Bitfield.full(6));
    pp.peerAdded(bits(6, [0, 1, 2, 3]));
    pp.setPriority(0, PiecePriority.high);
    pp.setWanted(4, false);
    pp.setWanted(5, false);
    pp.checkInvariants();
    assert.equal(pp.isWanted(4), false);
    assert.equal(pp.pieceState(4), PieceState.notWanted);
    const got = pp.pick('a', 'all', 10).map((b) => b.piece);
    assert.equal(got[0], 0, 'high priority beats rarity');
    assert.deepEqual(new Set(got), new Set([0, 1, 2, 3]));
    receiveAll(pp, 'a', pp.outstandingBlocks('a'));
    assert.equal(pp.complete, true);
    assert.equal(pp.verifiedCount, 4);
    pp.setWanted(5, true);
    assert.equal(pp.complete, false);
    assert.deepEqual(
      pp.pick('a', 'all', 10).map((b) => b.piece),
      [5],
    );
    pp.checkInvariants();
    assert.throws(() => pp.setPriority(1, 8), RangeError);
  });

  it('keeps an in-flight piece that becomes unwanted, without picking more of it', () => {
    const pp = picker(2, { pieceLength: 4 * BLOCK_SIZE });
    pp.peerAdded(bits(2, [0]));
    const got = pp.pick('a', bits(2, [0]), 2);
    assert.equal(got.length, 2);
    pp.setWanted(0, false);
    pp.checkInvariants();
    assert.equal(pp.pieceState(0), PieceState.inFlight);
    assert.deepEqual(pp.pick('b', bits(2, [0]), 4), []);
    assert.equal(pp.received('a', got[0]!).accepted, true);
    pp.releaseAll('a');
    pp.checkInvariants();
    assert.equal(pp.pieceState(0), PieceState.inFlight, 'a received block keeps it in flight');
    pp.pieceFailed(0);
    pp.checkInvariants();
    assert.equal(pp.pieceState(0), PieceState.notWanted);
  });

  it('limits a choked peer to its allowed-fast pieces', () => {
    const pp = picker(10, { pieceLength: 2 * BLOCK_SIZE });
    pp.seedAdded();
    const got = pp.pick('a', 'all', 10, { allowedFast: new Set([3, 7, 42]) });
    assert.deepEqual(new Set(got.map((b) => b.piece)), new Set([3, 7]));
    assert.equal(got.length, 4);
    pp.checkInvariants();
  });

  it('starts no new piece with partialOnly', () => {
    const pp = picker(4, { pieceLength: 4 * BLOCK_SIZE });
    pp.seedAdded();
    assert.deepEqual(pp.pick('a', 'all', 4, { partialOnly: true }), []);
    const first = pp.pick('a', 'all', 1);
    const more = pp.pick('b', 'all', 8, { partialOnly: true });
    assert.equal(more.length, 3);
    assert.ok(more.every((b) => b.piece === first[0]!.piece));
    pp.checkInvariants();
  });
});

describe('PiecePicker outcomes', () => {
  it('frees all blocks of a piece that fails its hash check', () => {
    const pp = picker(1, { pieceLength: 3 * BLOCK_SIZE });
    const got = pp.pick('a', 'all', 3);
    let done: number | undefined;
    for (const b of got) done = pp.received('a', b).pieceDone ?? done;
    assert.equal(done, 0);
    pp.checkInvariants();
    pp.pieceFailed(0);
    pp.checkInvariants();
    assert.equal(pp.pieceState(0), PieceState.needed);
    assert.equal(pp.pick('b', 'all', 5).length, 3);
  });

  it('returns released blocks to the pool and forgets a departed peer', () => {
    const pp = picker(2, { pieceLength: 2 * BLOCK_SIZE });
    const got = pp.pick('a', 'all', 4);
    assert.equal(pp.outstanding('a'), 4);
    pp.release('a', got[0]!);
    pp.release('a', got[0]!); // twice is harmless
    pp.checkInvariants();
    assert.equal(pp.outstanding('a'), 3);
    assert.deepEqual(pp.pick('b', 'all', 1), [got[0]]);
    const all = pp.releaseAll('a');
    assert.equal(all.length, 3);
    assert.equal(pp.outstanding('a'), 0);
    pp.checkInvariants();
    // A late reply from the departed peer is still accepted for blocks someone else has asked for.
    assert.equal(pp.received('a', got[0]!).accepted, true);
    assert.equal(pp.received('a', got[1]!).accepted, false);
    pp.checkInvariants();
  });

  it('forgets outstanding requests of a piece that is marked verified', () => {
    const pp = picker(3);
    const got = pp.pick('a', 'all', 3);
    pp.markVerified(got[0]!.piece);
    pp.checkInvariants();
    assert.equal(pp.outstanding('a'), 2);
    assert.equal(pp.received('a', got[0]!).accepted, false);
    assert.equal(pp.verifiedCount, 1);
  });
});

describe('PiecePicker endgame', () => {
  it('asks other peers for outstanding blocks, one duplicate per peer, and lists whom to cancel', () => {
    const pp = picker(2, { pieceLength: 2 * BLOCK_SIZE });
    pp.seedAdded();
    const a = pp.pick('a', 'all', 4);
    assert.equal(a.length, 4);
    assert.equal(pp.inEndgame, true);
    const b = pp.pick('b', 'all', 4);
    assert.equal(b.length, 1, 'one duplicate per peer at a time');
    assert.equal(pp.pick('b', 'all', 4).length, 0);
    const c = pp.pick('c', 'all', 4);
    assert.equal(c.length, 1);
    assert.notDeepEqual(c[0], b[0], 'the block with fewest requesters first');
    pp.checkInvariants();
    // b delivers its duplicate: a is told to cancel.
    assert.deepEqual(pp.received('b', b[0]!), { accepted: true, cancel: ['a'] });
    pp.checkInvariants();
    // b may now duplicate another block.
    const b2 = pp.pick('b', 'all', 4);
    assert.equal(b2.length, 1);
    assert.notDeepEqual(b2[0], b[0]);
    // a delivers the block c duplicated: c is told to cancel.
    const r = pp.received('a', c[0]!);
    assert.equal(r.accepted, true);
    assert.deepEqual(r.cancel, ['c']);
    if (r.pieceDone !== undefined) pp.pieceVerified(r.pieceDone);
    assert.equal(pp.received('c', c[0]!).accepted, false, 'the loser of the race is wasted');
    pp.checkInvariants();
    // Drain: everything gets verified.
    for (const peer of ['a', 'b', 'c'])
      for (const blk of pp.outstandingBlocks(peer)) {
        const res = pp.received(peer, blk);
        if (res.pieceDone !== undefined) pp.pieceVerified(res.pieceDone);
        pp.checkInvariants();
      }
    assert.equal(pp.complete, true);
    assert.equal(pp.inEndgame, false);
  });

  it('leaves endgame when a failed piece frees its blocks', () => {
    const pp = picker(2);
    const got = pp.pick('a', 'all', 2);
    assert.equal(pp.inEndgame, true);
    const dup = pp.pick('b', 'all', 1);
    assert.equal(dup.length, 1);
    const r = pp.received('a', got[0]!);
    assert.equal(r.pieceDone, got[0]!.piece);
    pp.pieceFailed(got[0]!.piece);
    assert.equal(pp.inEndgame, false);
    pp.checkInvariants();
    // The failed piece is picked normally again.
    const again = pp.pick('c', 'all', 1);
    assert.deepEqual(again, [got[0]]);
    pp.checkInvariants();
  });
});

describe('PiecePicker deadlines', () => {
  it('picks pieces with a deadline first, earliest first, then the rest rarest first', () => {
    const pp = picker(10);
    pp.peerAdded(bits(10, range(0, 10)));
    pp.peerAdded(bits(10, [9]));
    pp.setDeadlines(
      new Map([
        [5, 300],
        [2, 100],
        [7, 200],
      ]),
    );
    assert.deepEqual(pp.urgentPieces, [2, 7, 5]);
    pp.checkInvariants();
    const got = pp.pick('a', bits(10, range(0, 10)), 5, { nowMs: 0 });
    // 0, 1, 3, 4, 6, 8 are rarer than 9 (one peer each): the fourth pick is one of them, never 9.
    assert.deepEqual(
      got.slice(0, 3).map((b) => b.piece),
      [2, 7, 5],
    );
    assert.ok(got.slice(3).every((b) => b.piece !== 9 && pp.deadline(b.piece) === undefined));
    pp.checkInvariants();
  });

  it('gives pieces with a deadline no precedence for a peer picked with urgent: false', () => {
    const plain = picker(8, { random: mulberry32(7) });
    const timed = picker(8, { random: mulberry32(7) });
    for (const pp of [plain, timed]) pp.seedAdded();
    timed.setDeadlines([
      [6, 0],
      [7, 0],
    ]);
    const a = plain.pick('slow', 'all', 3, { nowMs: 0 });
    assert.deepEqual(timed.pick('slow', 'all', 3, { nowMs: 0, urgent: false }), a);
    const fast = timed.pick('fast', 'all', 2, { nowMs: 0 });
    assert.ok(fast.every((b) => b.piece === 6 || b.piece === 7));
    timed.checkInvariants();
  });

  it('duplicates the blocks of a piece past its deadline, not of one still ahead', () => {
    const pp = picker(3, { pieceLength: 4 * BLOCK_SIZE, totalLength: 12 * BLOCK_SIZE });
    pp.seedAdded();
    pp.setDeadlines([
      [1, 1000],
      [2, 5000],
    ]);
    const slow = pp.pick('slow', 'all', 8, { nowMs: 0 });
    assert.deepEqual(
      slow.map((b) => b.piece),
      [1, 1, 1, 1, 2, 2, 2, 2],
    );
    // Before the deadline, another peer gets the remaining piece and nothing twice.
    const early = pp.pick('fast', 'all', 4, { nowMs: 500 });
    assert.deepEqual(
      early.map((b) => b.piece),
      [0, 0, 0, 0],
    );
    assert.equal(pp.inEndgame, true);
    // Past piece 1's deadline: its four blocks are asked of the fast peer too (not piece 2's).
    const late = pp.pick('fast2', 'all', 8, { nowMs: 1000 });
    assert.deepEqual(
      late.slice(0, 4).map((b) => b.piece),
      [1, 1, 1, 1],
    );
    pp.checkInvariants();
    // The first copy to arrive wins; the other requester is told to cancel.
    const r = pp.received('fast2', late[0]!);
    assert.deepEqual(r.cancel, ['slow']);
    pp.checkInvariants();
  });

  it('limits deadline duplicates per peer', () => {
    const pp = picker(1, {
      pieceLength: 12 * BLOCK_SIZE,
      totalLength: 12 * BLOCK_SIZE,
      urgentDuplicatesPerPeer: 3,
    });
    pp.seedAdded();
    pp.setDeadlines([[0, 0]]);
    assert.equal(pp.pick('slow', 'all', 12, { nowMs: 0 }).length, 12);
    assert.equal(pp.pick('fast', 'all', 12, { nowMs: 0 }).length, 3);
    pp.checkInvariants();
  });

  it('drops the deadline of a piece once it is verified, and skips pieces that are not wanted', () => {
    const pp = picker(3);
    pp.seedAdded();
    pp.setDeadlines([
      [0, 10],
      [1, 20],
    ]);
    pp.setWanted(0, false);
    const got = pp.pick('a', 'all', 1, { nowMs: 0 });
    assert.deepEqual(
      got.map((b) => b.piece),
      [1],
    );
    receiveAll(pp, 'a', got);
    assert.equal(pp.deadline(1), undefined);
    assert.deepEqual(pp.urgentPieces, [0]);
    pp.setDeadlines([[1, 5]]); // verified: ignored
    assert.deepEqual(pp.urgentPieces, []);
    pp.checkInvariants();
  });
});

// ---- property tests: random command sequences ----

type Cmd =
  | { t: 'add'; peer: number; seed: boolean; bits: boolean[] }
  | { t: 'remove'; peer: number }
  | { t: 'have'; peer: number; piece: number }
  | { t: 'pick'; peer: number; count: number; fast: boolean; allowed: boolean }
  | { t: 'recv'; peer: number; which: number }
  | { t: 'release'; peer: number; which: number }
  | { t: 'check'; which: number; good: boolean }
  | { t: 'wanted'; piece: number; wanted: boolean }
  | { t: 'prio'; piece: number; prio: number }
  | { t: 'deadlines'; pieces: number[]; nowMs: number };

const N_PEERS = 5;

function cmdArb(pieces: number): fc.Arbitrary<Cmd> {
  const peer = fc.integer({ min: 0, max: N_PEERS - 1 });
  const piece = fc.integer({ min: 0, max: pieces - 1 });
  return fc.oneof(
    {
      weight: 2,
      arbitrary: fc.record({
        t: fc.constant('add' as const),
        peer,
        seed: fc.boolean(),
        bits: fc.array(fc.boolean(), { minLength: pieces, maxLength: pieces }),
      }),
    },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('remove' as const), peer }) },
    { weight: 2, arbitrary: fc.record({ t: fc.constant('have' as const), peer, piece }) },
    {
      weight: 6,
      arbitrary: fc.record({
        t: fc.constant('pick' as const),
        peer,
        count: fc.integer({ min: 1, max: 6 }),
        fast: fc.boolean(),
        allowed: fc.boolean(),
      }),
    },
    { weight: 6, arbitrary: fc.record({ t: fc.constant('recv' as const), peer, which: fc.nat() }) },
    { weight: 2, arbitrary: fc.record({ t: fc.constant('release' as const), peer, which: fc.nat() }) },
    {
      weight: 3,
      arbitrary: fc.record({ t: fc.constant('check' as const), which: fc.nat(), good: fc.boolean() }),
    },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('wanted' as const), piece, wanted: fc.boolean() }) },
    {
      weight: 1,
      arbitrary: fc.record({ t: fc.constant('prio' as const), piece, prio: fc.integer({ min: 0, max: 7 }) }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        t: fc.constant('deadlines' as const),
        pieces: fc.array(piece, { maxLength: 4 }),
        nowMs: fc.integer({ min: 0, max: 3 }),
      }),
    },
  );
}

interface ModelPeer {
  seed: boolean;
  has: Bitfield;
}

/** Runs the commands, checking invariants and pick/receive contracts after every step. */
function runModel(pp: PiecePicker, cmds: Cmd[]): { peers: Map<string, ModelPeer>; pending: Set<number> } {
  const n = pp.pieceCount;
  const peers = new Map<string, ModelPeer>();
  const pending = new Set<number>();
  const hasOf = (m: ModelPeer): Bitfield | 'all' => (m.seed ? 'all' : m.has);
  let clock = 0;
  for (const c of cmds) {
    switch (c.t) {
      case 'add': {
        const key = `p${c.peer}`;
        if (peers.has(key)) break;
        const m: ModelPeer = {
          seed: c.seed,
          has: c.seed
            ? Bitfield.full(n)
            : bits(
                n,
                range(0, n).filter((i) => c.bits[i]),
              ),
        };
        if (m.seed) pp.seedAdded();
        else pp.peerAdded(m.has);
        peers.set(key, m);
        break;
      }
      case 'remove': {
        const key = `p${c.peer}`;
        const m = peers.get(key);
        if (!m) break;
        const before = pp.outstanding(key);
        assert.equal(pp.releaseAll(key).length, before);
        if (m.seed) pp.seedRemoved();
        else pp.peerRemoved(m.has);
        peers.delete(key);
        break;
      }
      case 'have': {
        const m = peers.get(`p${c.peer}`);
        if (!m || m.seed || m.has.get(c.piece)) break;
        m.has.set(c.piece);
        pp.peerHave(c.piece);
        break;
      }
      case 'pick': {
        const key = `p${c.peer}`;
        const m = peers.get(key);
        if (!m) break;
        const before = new Set(pp.outstandingBlocks(key).map((b) => `${b.piece}/${b.offset}`));
        const allowed = c.allowed
          ? new Set([c.count, c.count * 3, c.count * 7].map((x) => x % n))
          : undefined;
        const got = pp.pick(key, hasOf(m), c.count, {
          fast: c.fast,
          nowMs: clock,
          urgent: c.peer % 2 === 0,
          ...(allowed ? { allowedFast: allowed } : {}),
        });
        assert.ok(got.length <= c.count);
        for (const b of got) {
          assert.ok(m.has.get(b.piece), 'picked a piece the peer does not have');
          assert.ok(pp.isWanted(b.piece), 'picked an unwanted piece');
          assert.ok(!pp.have(b.piece), 'picked a verified piece');
          if (allowed) assert.ok(allowed.has(b.piece), 'picked outside the allowed-fast set');
          const k = `${b.piece}/${b.offset}`;
          assert.ok(!before.has(k), 'picked a block already outstanding from this peer');
          before.add(k);
        }
        assert.equal(pp.outstanding(key), before.size);
        break;
      }
      case 'recv': {
        const key = `p${c.peer}`;
        const out = pp.outstandingBlocks(key);
        if (out.length === 0) break;
        const b = out[c.which % out.length]!;
        const r = pp.received(key, b);
        assert.equal(r.accepted, true);
        assert.ok(!r.cancel.includes(key));
        for (const other of r.cancel) assert.ok(peers.has(other), 'cancel names a known peer');
        if (r.pieceDone !== undefined) {
          assert.equal(r.pieceDone, b.piece);
          pending.add(r.pieceDone);
        }
        break;
      }
      case 'release': {
        const key = `p${c.peer}`;
        const out = pp.outstandingBlocks(key);
        if (out.length === 0) break;
        pp.release(key, out[c.which % out.length]!);
        break;
      }
      case 'check': {
        if (pending.size === 0) break;
        const list = [...pending];
        const p = list[c.which % list.length]!;
        pending.delete(p);
        if (c.good) {
          pp.pieceVerified(p);
          assert.equal(pp.pieceState(p), PieceState.verified);
        } else {
          pp.pieceFailed(p);
          assert.notEqual(pp.pieceState(p), PieceState.inFlight);
        }
        break;
      }
      case 'wanted':
        pp.setWanted(c.piece, c.wanted);
        break;
      case 'prio':
        pp.setPriority(c.piece, c.prio);
        break;
      case 'deadlines':
        pp.setDeadlines(c.pieces.map((p, i) => [p, i] as const));
        clock = c.nowMs;
        break;
    }
    pp.checkInvariants();
  }
  return { peers, pending };
}

/** Every connected peer delivers everything, repeatedly, until no progress: the model must finish. */
function drain(pp: PiecePicker, peers: Map<string, ModelPeer>, pending: Set<number>): void {
  for (const p of pending) pp.pieceVerified(p);
  pending.clear();
  for (let round = 0; round < 10_000; round++) {
    let progress = false;
    for (const [key, m] of peers) {
      const blocks = [...pp.outstandingBlocks(key), ...pp.pick(key, m.seed ? 'all' : m.has, 8)];
      for (const b of blocks) {
        const r = pp.received(key, b);
        if (r.accepted) progress = true;
        if (r.pieceDone !== undefined) pp.pieceVerified(r.pieceDone);
      }
      pp.checkInvariants();
    }
    if (!progress) break;
  }
}

describe('PiecePicker properties', () => {
  for (const shape of [
    { name: 'one-block pieces', pieces: 6, pieceLength: BLOCK_SIZE, totalLength: 6 * BLOCK_SIZE },
    {
      name: 'multi-block pieces',
      pieces: 5,
      pieceLength: 3 * BLOCK_SIZE,
      totalLength: 4 * 3 * BLOCK_SIZE + 5000,
    },
  ]) {
    for (const sequential of [false, true]) {
      it(`keeps its invariants and finishes every available wanted piece (${shape.name}, sequential=${sequential})`, () => {
        fc.assert(
          fc.property(
            fc.array(cmdArb(shape.pieces), { maxLength: 120 }),
            fc.integer(),
            fc.integer({ min: 0, max: 3 }),
            (cmds, seed, randomFirst) => {
              const pp = new PiecePicker({
                pieceCount: shape.pieces,
                pieceLength: shape.pieceLength,
                totalLength: shape.totalLength,
                random: mulberry32(seed),
                randomFirstPieces: randomFirst,
                sequential,
              });
              pp.checkInvariants();
              const { peers, pending } = runModel(pp, cmds);
              drain(pp, peers, pending);
              for (let p = 0; p < shape.pieces; p++) {
                const available = [...peers.values()].some((m) => m.seed || m.has.get(p));
                if (pp.isWanted(p) && available)
                  assert.ok(pp.have(p), `wanted piece ${p} was never verified`);
              }
              const allAvailable = range(0, shape.pieces).every(
                (p) => !pp.isWanted(p) || [...peers.values()].some((m) => m.seed || m.has.get(p)),
              );
              if (allAvailable) assert.equal(pp.complete, true);
            },
          ),
          { numRuns: 200 },
        );
      });
    }
  }
});

describe('PiecePicker scale', () => {
  it('handles 100,000 pieces and 50 peers (invariants checked at the end)', () => {
    const n = 100_000;
    const rnd = mulberry32(99);
    const pp = new PiecePicker({
      pieceCount: n,
      pieceLength: 4 * BLOCK_SIZE,
      totalLength: n * 4 * BLOCK_SIZE,
      random: rnd,
    });
    const peers: Bitfield[] = [];
    for (let i = 0; i < 50; i++) {
      const b = new Bitfield(n);
      for (let p = 0; p < n; p++) if (rnd() < 0.6) b.set(p);
      peers.push(b);
      pp.peerAdded(b);
    }
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 50; i++) {
        const got = pp.pick(`p${i}`, peers[i]!, 16, { fast: i % 5 === 0 });
        assert.equal(got.length, 16);
        for (const b of got) {
          const r = pp.received(`p${i}`, b);
          if (r.pieceDone !== undefined) pp.pieceVerified(r.pieceDone);
        }
      }
    }
    pp.checkInvariants();
    assert.ok(pp.verifiedCount > 0);
  });
});

describe('PiecePicker web seed runs (pickRun)', () => {
  it('takes whole needed pieces in index order from the cursor, within the byte budget', () => {
    const pp = picker(10, { pieceLength: 2 * BLOCK_SIZE });
    const run = pp.pickRun('w', 3, 3 * 2 * BLOCK_SIZE);
    assert.deepEqual(
      run.map((b) => `${b.piece}/${b.offset}`),
      ['3/0', `3/${BLOCK_SIZE}`, '4/0', `4/${BLOCK_SIZE}`, '5/0', `5/${BLOCK_SIZE}`],
    );
    pp.checkInvariants();
    for (const b of run) assert.equal(pp.isOutstanding('w', b.piece, b.offset), true);
    // A second lane continues after the first run; a budget below one piece still gets one piece.
    const next = pp.pickRun('w2', 3, 1);
    assert.deepEqual([...new Set(next.map((b) => b.piece))], [6]);
    pp.checkInvariants();
  });

  it('in the endgame a lane asks again, as duplicates, a run a peer holds; never one its own server holds', () => {
    const pp = picker(2, { pieceLength: 2 * BLOCK_SIZE });
    pp.peerAdded(bits(2, [0, 1]));
    // The peer takes piece 0, a lane of server 0 takes piece 1: nothing is free any more.
    const peerBlocks = pp.pick('p', bits(2, [0, 1]), 2);
    const lane = pp.pickRun('w0.0', 0, 10 * BLOCK_SIZE);
    assert.equal(peerBlocks.length + lane.length, 4);
    const notOwn = (holder: string): boolean => !holder.startsWith('w0.');
    // Without the option, nothing (the default never duplicates).
    assert.deepEqual(pp.pickRun('w0.1', 0, 10 * BLOCK_SIZE), []);
    const dup = pp.pickRun('w0.1', 0, 10 * BLOCK_SIZE, { mayDuplicate: notOwn });
    assert.deepEqual(
      dup.map((b) => `${b.piece}/${b.offset}`),
      peerBlocks.map((b) => `${b.piece}/${b.offset}`),
    );
    pp.checkInvariants();
    // The peer's copy or the lane's, whichever comes first, completes the block; the other is cancelled.
    const r = pp.received('w0.1', dup[0]!);
    assert.equal(r.accepted, true);
    assert.deepEqual(r.cancel, ['p']);
    pp.checkInvariants();
  });

  it('skips pieces peers are downloading and wraps round to the start', () => {
    const pp = picker(6);
    pp.peerAdded(bits(6, [4, 5]));
    const peerBlocks = pp.pick('p', bits(6, [4, 5]), 1);
    assert.equal(peerBlocks.length, 1);
    const taken = peerBlocks[0]!.piece;
    const run = pp.pickRun('w', 4, 10 * BLOCK_SIZE);
    const pieces = run.map((b) => b.piece);
    assert.ok(!pieces.includes(taken));
    assert.equal(pieces[0], taken === 4 ? 5 : 4);
    const rest = pp.pickRun('w', 0, 10 * BLOCK_SIZE);
    assert.deepEqual(
      rest.map((b) => b.piece),
      [0, 1, 2, 3],
    );
    pp.checkInvariants();
  });

  it('with no needed piece, takes the free blocks a failed run left in a piece; empty when complete', () => {
    const pp = picker(1, { pieceLength: 4 * BLOCK_SIZE });
    const run = pp.pickRun('w', 0, 1 << 20);
    assert.equal(run.length, 4);
    assert.equal(pp.received('w', run[0]!).accepted, true);
    pp.releaseAll('w');
    pp.checkInvariants();
    const again = pp.pickRun('w', 0, 1 << 20);
    assert.deepEqual(
      again.map((b) => b.offset),
      [BLOCK_SIZE, 2 * BLOCK_SIZE, 3 * BLOCK_SIZE],
    );
    assert.equal(pp.isOutstanding('w', 0, 0), false);
    receiveAll(pp, 'w', again);
    assert.deepEqual(pp.pickRun('w', 0, 1 << 20), []);
    pp.checkInvariants();
  });

  it('starts no new piece when partialOnly', () => {
    const pp = picker(3);
    assert.deepEqual(pp.pickRun('w', 0, 1 << 20, { partialOnly: true }), []);
    pp.checkInvariants();
  });
});
