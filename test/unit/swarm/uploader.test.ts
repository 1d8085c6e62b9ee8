// The uploader on its own, against a scripted connection and a virtual clock: what it rejects (choked
// without allowed-fast, pieces we lack or lost, bad lengths — and the close after too many), the
// order and pace it serves in under a rate limit, cancels and chokes, and a peer that reads slowly
// held back until its socket drains while another is served.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import type { PeerConnection } from '../../../src/peer/connection.js';
import type { BlockRef } from '../../../src/swarm/piece-picker.js';
import { Uploader, type UploadSource } from '../../../src/swarm/uploader.js';
import { RateMeter } from '../../../src/util/rate-meter.js';
import { TokenBucket } from '../../../src/util/token-bucket.js';
import { SIM_EPOCH_MS, SimClock } from '../../sim/sim-clock.js';

const PIECE = 64 * 1024;
const B = 16 * 1024;

/** A connection that records what it is asked to send; `unsent` bytes stay in its write buffer until drain(). */
class FakeConn {
  amChoking = false;
  allowedFastGiven = new Set<number>();
  closed = false;
  closeReason: string | undefined;
  rejected: BlockRef[] = [];
  sent: string[] = [];
  unsent = 0;
  /** Bytes after which the socket says it needs a drain. */
  highWater = Number.POSITIVE_INFINITY;
  uploadMeter = new RateMeter();
  socket = Object.assign(new EventEmitter(), { writableNeedDrain: false });
  constructor(readonly name: string) {}
  get writeBufferBytes(): number {
    return this.unsent;
  }
  reject(b: BlockRef): void {
    this.rejected.push(b);
  }
  close(reason: string): void {
    this.closed = true;
    this.closeReason = reason;
  }
  sendPiece(piece: number, offset: number, data: Uint8Array, onWritten?: () => void): boolean {
    this.sent.push(`${this.name}:${piece}/${offset / B}`);
    this.unsent += data.length;
    if (this.unsent >= this.highWater) this.socket.writableNeedDrain = true;
    onWritten?.();
    return true;
  }
  drain(): void {
    this.unsent = 0;
    this.socket.writableNeedDrain = false;
    this.socket.emit('drain');
  }
}

function setup(o: { rate?: number; have?: number[]; lost?: number[] } = {}) {
  const clock = new SimClock();
  const have = new Set(o.have ?? [0, 1, 2, 3]);
  const lost = new Set(o.lost ?? []);
  const reads: string[] = [];
  const source: UploadSource = {
    pieceCount: 4,
    pieceLength: (p) => (p === 3 ? PIECE / 2 : PIECE),
    has: (p) => have.has(p),
    lost: (p) => lost.has(p),
    // Piece 0 is cached; the others are read.
    readCached: (p, _off, len) => (p === 0 ? Buffer.alloc(len) : undefined),
    read: async (p, off, len) => {
      reads.push(`${p}/${off / B}`);
      return Buffer.alloc(len);
    },
    giveBack: () => undefined,
    readFailed: () => undefined,
  };
  const ac = new AbortController();
  const bucket = new TokenBucket(o.rate ?? 0, B, SIM_EPOCH_MS);
  const up = new Uploader({
    source,
    buckets: [bucket],
    clock,
    signal: ac.signal,
    meter: new RateMeter(),
    maxInvalidRequests: 3,
  });
  return { clock, up, reads, ac, have };
}

const req = (piece: number, block: number, length = B): BlockRef => ({ piece, offset: block * B, length });
const conn = (name: string) => new FakeConn(name) as FakeConn & PeerConnection;

describe('Uploader', () => {
  it('serves requests in order, from the cache at once and from storage after a read', async () => {
    const { clock, up, reads } = setup();
    const a = conn('a');
    const p = up.peer(a);
    up.request(p, req(0, 0));
    up.request(p, req(1, 2));
    up.request(p, req(0, 1));
    assert.deepEqual(a.sent, ['a:0/0', 'a:0/1'], 'cached blocks go out synchronously');
    await clock.run();
    assert.deepEqual(a.sent, ['a:0/0', 'a:0/1', 'a:1/2']);
    assert.deepEqual(reads, ['1/2']);
    assert.equal(up.uploadedBytes, 3 * B);
    assert.equal(p.pending.size, 0);
  });

  it('rejects what it may not serve, and closes a peer after too many invalid requests', () => {
    const { up } = setup({ have: [0, 1, 3], lost: [2] });
    const a = conn('a');
    const p = up.peer(a);
    a.amChoking = true;
    up.request(p, req(0, 0));
    a.allowedFastGiven.add(1);
    up.request(p, req(1, 0));
    assert.deepEqual(a.sent, [], 'piece 1 is read, not cached');
    assert.equal(a.rejected.length, 1, 'choked: only the allowed-fast piece is taken');
    a.amChoking = false;
    up.request(p, req(2, 0)); // lost after we announced it: rejected, not held against the peer
    assert.equal(p.invalidRequests, 0);
    up.request(p, req(3, 2)); // past the end of the short last piece
    up.request(p, req(0, 0, B + 1)); // longer than a block
    assert.equal(a.closed, false);
    up.request(p, req(0, 0, 0)); // empty
    assert.equal(p.invalidRequests, 3);
    assert.equal(a.closeReason, 'invalid-requests');
  });

  it('keeps to the rate limit, waiting on the clock for tokens', async () => {
    const { clock, up } = setup({ rate: 4 * B });
    const a = conn('a');
    const p = up.peer(a);
    for (let i = 0; i < 4; i++) up.request(p, req(0, i));
    assert.equal(a.sent.length, 1, 'the burst is one block');
    await clock.run();
    assert.equal(a.sent.length, 4);
    // Three more blocks at four a second: about 750 ms.
    assert.ok(Math.abs(clock.elapsedMs - 750) <= 10, `${clock.elapsedMs} ms`);
  });

  it('drops what was cancelled or asked before a choke', async () => {
    const { clock, up } = setup({ rate: B * 10 });
    const a = conn('a');
    const p = up.peer(a);
    up.request(p, req(0, 0));
    up.request(p, req(0, 1));
    up.request(p, req(0, 2));
    up.request(p, req(0, 3));
    up.cancel(p, req(0, 1, B - 1)); // another length: another request, nothing cancelled
    up.cancel(p, req(0, 1));
    up.choked(p);
    await clock.run();
    assert.deepEqual(a.sent, ['a:0/0']);
  });

  it('holds a peer that does not read, serves the others, and goes on when its socket drains', async () => {
    const { clock, up } = setup();
    const slow = conn('slow');
    const fast = conn('fast');
    slow.highWater = 4 * B;
    const ps = up.peer(slow);
    const pf = up.peer(fast);
    // 128 KiB may wait unsent (the allowance of a peer with no upload rate yet).
    const asked = [0, 1, 2].flatMap((piece) => [0, 1, 2, 3].map((b) => req(piece, b)));
    asked.push(req(3, 0), req(3, 1)); // the last piece is half as long
    for (const r of asked) up.request(ps, r);
    up.request(pf, req(0, 0));
    await clock.run();
    assert.equal(fast.sent.length, 1, 'the other peer is served');
    assert.ok(
      slow.sent.length >= 4 && slow.sent.length < asked.length,
      `${slow.sent.length} sent before the drain`,
    );
    assert.ok(ps.parked.length > 0 && ps.waitingDrain);
    const before = slow.sent.length;
    slow.drain();
    await clock.run();
    assert.ok(slow.sent.length > before, 'served again after the drain');
    while (ps.parked.length > 0 || ps.pending.size > 0) {
      slow.drain();
      await clock.run();
    }
    assert.equal(slow.sent.length, asked.length);
  });
});
