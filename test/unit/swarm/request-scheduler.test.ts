// The request scheduler on its own, with the real picker, scripted connections and a virtual clock:
// a pipeline is filled to the connection's depth and no further; choked peers get only allowed-fast
// pieces; under a rate limit only what the buckets hold is asked, and every pipeline is topped up
// when they refill; past the memory cap no new piece is started, and every pipeline is topped up as
// soon as the held bytes go below it; a burst of received blocks makes one refill; smart ban's
// filter is passed on.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PeerConnection } from '../../../src/peer/connection.js';
import { BLOCK_SIZE, type BlockRef, PiecePicker } from '../../../src/swarm/piece-picker.js';
import { RequestScheduler, type SchedulerPeer } from '../../../src/swarm/request-scheduler.js';
import { Bitfield } from '../../../src/util/bitfield.js';
import { RateMeter } from '../../../src/util/rate-meter.js';
import { TokenBucket } from '../../../src/util/token-bucket.js';
import { SIM_EPOCH_MS, SimClock } from '../../sim/sim-clock.js';

const PIECES = 8;
const PIECE = 4 * BLOCK_SIZE;

class FakeConn {
  peerBitfield: Bitfield;
  amInterested = true;
  peerChoking = false;
  allowedFastSet = new Set<number>();
  suggested = new Set<number>();
  closed = false;
  depth = 10;
  requested: BlockRef[] = [];
  downloadMeter = new RateMeter();
  constructor(all = true) {
    this.peerBitfield = new Bitfield(PIECES);
    if (all) for (let i = 0; i < PIECES; i++) this.peerBitfield.set(i);
  }
  desiredQueueDepth(): number {
    return this.depth;
  }
  get outstandingRequests(): number {
    return this.requested.length;
  }
  request(b: BlockRef): boolean {
    this.requested.push(b);
    return true;
  }
}

function setup(
  o: {
    rate?: number;
    unverified?: number;
    writing?: number;
    avoid?: (p: number, off: number) => boolean;
    padding?: (b: BlockRef) => boolean;
  } = {},
) {
  const padded: BlockRef[] = [];
  const clock = new SimClock();
  const picker = new PiecePicker({ pieceCount: PIECES, pieceLength: PIECE, totalLength: PIECES * PIECE });
  const peers: SchedulerPeer[] = [];
  let refilled = 0;
  const s = new RequestScheduler({
    picker,
    clock,
    buckets: [new TokenBucket(o.rate ?? 0, 2 * BLOCK_SIZE, SIM_EPOCH_MS)],
    maxUnverifiedBytes: 1000,
    view: {
      downloading: () => true,
      peers: () => peers,
      unverifiedBytes: () => o.unverified ?? 0,
      writingBytes: () => o.writing ?? 0,
      avoid: () => o.avoid,
      refilled: () => refilled++,
      isPadding: (b) => o.padding?.(b) ?? false,
      fillPadding: (_peer, b) => padded.push(b),
    },
  });
  const add = (key: string, conn = new FakeConn()): FakeConn => {
    picker.seedAdded();
    peers.push({ key, address: `${key}:1`, conn: conn as unknown as PeerConnection, isSeed: true });
    return conn;
  };
  return { s, picker, clock, add, peers, padded, refilled: () => refilled };
}

describe('RequestScheduler', () => {
  it('fills a pipeline to its depth and no further', () => {
    const { s, add, peers } = setup();
    const a = add('a');
    s.fill(peers[0]!);
    assert.equal(a.requested.length, 10);
    s.fill(peers[0]!);
    assert.equal(a.requested.length, 10, 'full already');
  });

  it('asks a choking peer only for its allowed-fast pieces, and nothing without them', () => {
    const { s, add, peers } = setup();
    const a = add('a');
    a.peerChoking = true;
    s.fill(peers[0]!);
    assert.equal(a.requested.length, 0);
    a.allowedFastSet.add(5);
    s.fill(peers[0]!);
    assert.deepEqual(new Set(a.requested.map((b) => b.piece)), new Set([5]));
  });

  it('under a rate limit asks what the buckets hold, and tops every pipeline up when they refill', async () => {
    const { s, add, peers, clock, refilled } = setup({ rate: 4 * BLOCK_SIZE });
    const a = add('a');
    s.fill(peers[0]!);
    assert.equal(a.requested.length, 2, 'the burst holds two blocks');
    // The blocks arrive: their bytes empty the buckets.
    a.requested.length = 0;
    s.take(2 * BLOCK_SIZE, clock.now());
    s.fill(peers[0]!);
    assert.equal(a.requested.length, 0, 'no tokens: nothing asked, a refill is timed');
    await clock.run({ until: () => a.requested.length > 0 });
    assert.ok(a.requested.length >= 1);
    assert.equal(refilled(), 1, 'web seeds are told too');
    assert.ok(clock.elapsedMs > 0 && clock.elapsedMs <= 300, `${clock.elapsedMs} ms`);
  });

  it('past the memory cap only pieces in flight go on; smart ban’s filter is passed on', () => {
    const { s, add, peers } = setup({ unverified: 5000 });
    const a = add('a');
    s.fill(peers[0]!);
    assert.equal(a.requested.length, 0, 'no piece in flight, none started');
    const avoided = setup({ avoid: (_p, off) => off === 0 });
    const b = avoided.add('b');
    avoided.s.fill(avoided.peers[0]!);
    assert.ok(b.requested.length > 0 && b.requested.every((r) => r.offset !== 0));
  });

  it('a pipeline the memory cap kept short is topped up as soon as held bytes go below it', async () => {
    const o = { unverified: 5000 };
    const { s, add, peers, refilled } = setup(o);
    const a = add('a');
    s.fill(peers[0]!);
    assert.equal(a.requested.length, 0, 'over the cap: nothing started');
    s.released();
    await Promise.resolve();
    assert.equal(a.requested.length, 0, 'still over the cap: still nothing');
    o.unverified = 0;
    s.released();
    s.released();
    assert.equal(a.requested.length, 0, 'at the end of the task, once');
    await Promise.resolve();
    assert.equal(a.requested.length, 10, 'the whole pipeline, without waiting for a tick');
    assert.equal(refilled(), 1, 'web seeds are told too');
    a.requested.length = 0;
    s.released();
    await Promise.resolve();
    assert.equal(a.requested.length, 0, 'a release the cap did not cause asks nothing');
  });

  it('block writes of pieces too large to hold past the cap: nothing is asked until the disk catches up', async () => {
    const o = { unverified: 0, writing: 0 };
    const { s, add, peers, refilled } = setup(o);
    const a = add('a');
    a.depth = 4;
    s.fill(peers[0]!);
    assert.equal(a.requested.length, 4);
    // The piece is in flight, its blocks pile up in writes a slow disk has not done.
    a.requested.length = 0;
    o.unverified = o.writing = 5000;
    s.fill(peers[0]!);
    assert.equal(a.requested.length, 0, 'not even for the piece in flight');
    o.unverified = o.writing = 900;
    s.released();
    await Promise.resolve();
    assert.equal(a.requested.length, 4, 'topped up once the writes are under the cap');
    assert.equal(refilled(), 1);
  });

  it('blocks of padding are filled in by the torrent, never requested', () => {
    const { s, add, peers, padded } = setup({ padding: (b) => b.piece === 0 && b.offset >= 2 * BLOCK_SIZE });
    const a = add('a');
    a.depth = 64;
    s.fill(peers[0]!);
    assert.deepEqual(
      padded.map((b) => b.offset / BLOCK_SIZE),
      [2, 3],
    );
    assert.equal(a.requested.length, 30);
    assert.ok(!a.requested.some((b) => b.piece === 0 && b.offset >= 2 * BLOCK_SIZE));
  });

  it('a burst of received blocks makes one refill, once the batch is worth it', async () => {
    const { s, add, peers } = setup();
    const a = add('a');
    a.depth = 64;
    s.fill(peers[0]!);
    assert.equal(a.requested.length, 32, 'every block of the torrent');
    // 20 blocks arrive in one read: queued refills collapse into one.
    a.requested.splice(0, 20);
    let fills = 0;
    const orig = s.fill.bind(s);
    s.fill = (p) => {
      fills++;
      orig(p);
    };
    for (let i = 0; i < 20; i++) s.queueFill(peers[0]!);
    await new Promise((r) => setImmediate(r));
    assert.equal(fills, 1);
  });
});
