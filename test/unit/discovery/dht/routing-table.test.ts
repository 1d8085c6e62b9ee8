// Routing table: bucket splitting around our own id, XOR ordering, node states (15 minute rule),
// replacement of bad nodes, the replacement cache, and refresh targets inside stale buckets.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  bigIntToId,
  distance,
  idToBigInt,
  NODE_GOOD_MS,
  RoutingTable,
} from '../../../../src/discovery/dht/routing-table.js';

const ZERO = Buffer.alloc(20);
/** An id with the given top byte and a distinguishing low part. */
const idWith = (top: number, low: number): Buffer => {
  const b = Buffer.alloc(20);
  b[0] = top;
  b.writeUInt32BE(low, 16);
  return b;
};
const contact = (id: Buffer, n: number) => ({ id, host: `10.0.${n >> 8}.${n & 255}`, port: 1000 + n });

describe('RoutingTable', () => {
  it('holds at most k nodes per bucket; far buckets do not split', () => {
    const t = new RoutingTable(ZERO, 0);
    // All far from us (top bit set): one bucket of the upper half after splits, holding 8.
    for (let i = 0; i < 20; i++) t.insert(contact(idWith(0x80 + i, i), i), 0);
    assert.equal(t.size, 8);
    const upper = t.buckets.find((b) => b.lo === 1n << 159n);
    assert.ok(upper);
    assert.equal(upper.size, 8);
    assert.equal(upper.hi, 1n << 160n);
    assert.equal(upper.replacements, 8, 'newcomers wait in the replacement cache (bounded)');
  });

  it('splits the bucket that holds our own id, repeatedly', () => {
    const t = new RoutingTable(ZERO, 0);
    // ids ever closer to ours: each half toward zero splits again.
    let n = 0;
    for (let top = 0x80; top >= 1; top >>= 1)
      for (let i = 0; i < 8; i++) t.insert(contact(idWith(top, i + 1), n++), 0);
    assert.equal(t.size, 64);
    const buckets = t.buckets;
    // seven split-off halves (0x80 … 0x02) and the bucket around our id holding the 0x01 nodes
    assert.equal(buckets.length, 8);
    // Buckets tile the id space in order.
    assert.equal(buckets[0]!.lo, 0n);
    assert.equal(buckets.at(-1)!.hi, 1n << 160n);
    for (let i = 1; i < buckets.length; i++) assert.equal(buckets[i]!.lo, buckets[i - 1]!.hi);
    for (const b of buckets) assert.ok(b.size <= 8);
  });

  it('rejects our own id and a second id at a live node address', () => {
    const self = idWith(1, 1);
    const t = new RoutingTable(self, 0);
    assert.equal(t.insert({ id: self, host: '10.0.0.1', port: 1 }, 0).status, 'rejected');
    assert.equal(t.insert({ id: idWith(2, 2), host: '10.0.0.1', port: 1 }, 0).status, 'added');
    assert.equal(t.insert({ id: idWith(3, 3), host: '10.0.0.1', port: 1 }, 0).status, 'rejected');
    assert.equal(t.insert({ id: idWith(2, 2), host: '10.0.0.9', port: 1 }, 0).status, 'rejected', 'id moved');
    assert.equal(t.insert({ id: idWith(2, 2), host: '10.0.0.1', port: 1 }, 5).status, 'updated');
  });

  it('closest() orders by XOR distance and leaves out bad nodes', () => {
    const t = new RoutingTable(ZERO, 0);
    const ids = [0x10, 0x20, 0x30, 0x40, 0x50].map((top, i) => idWith(top, i));
    for (const [i, id] of ids.entries()) t.insert(contact(id, i), 0);
    const target = idWith(0x31, 0);
    const got = t.closest(target, 3).map((n) => n.id[0]);
    assert.deepEqual(got, [0x30, 0x20, 0x10]); // 0x31^0x30=1, ^0x20=0x11, ^0x10=0x21
    t.markFailed(ids[2]!, 1);
    t.markFailed(ids[2]!, 2);
    assert.equal(t.stateOf(t.get(ids[2]!)!, 2), 'bad');
    assert.deepEqual(
      t.closest(target, 3).map((n) => n.id[0]),
      [0x20, 0x10, 0x50],
    );
  });

  it('node states: good, questionable after 15 minutes, kept good by queries, bad after failures', () => {
    const t = new RoutingTable(ZERO, 0);
    const id = idWith(0x40, 1);
    t.insert({ id, host: '10.0.0.1', port: 1 }, 0);
    const n = t.get(id)!;
    assert.equal(t.stateOf(n, NODE_GOOD_MS - 1), 'good');
    assert.equal(t.stateOf(n, NODE_GOOD_MS), 'questionable');
    t.noteQuery(id, '10.0.0.1', 1, NODE_GOOD_MS + 10);
    assert.equal(t.stateOf(n, NODE_GOOD_MS + 20), 'good', 'a query from a node that answered before');
    assert.deepEqual(
      t.questionable(NODE_GOOD_MS * 3).map((x) => x.id),
      [id],
    );
    t.markFailed(id, 0);
    assert.equal(t.stateOf(n, 0), 'good', 'one failure is not enough');
    t.insert({ id, host: '10.0.0.1', port: 1 }, 1);
    assert.equal(n.failures, 0, 'an answer clears failures');
  });

  it('a full bucket takes a newcomer only in place of a bad node', () => {
    const t = new RoutingTable(ZERO, 0);
    const ids = Array.from({ length: 8 }, (_, i) => idWith(0x80 + i, i));
    for (const [i, id] of ids.entries()) t.insert(contact(id, i), 0);
    const newcomer = contact(idWith(0x90, 99), 99);
    // Full of good nodes: cached, nobody to ping.
    assert.deepEqual(t.insert(newcomer, 1), { status: 'full' });
    // After 15 minutes they are questionable: the least recently seen is named for a ping.
    const r = t.insert(newcomer, NODE_GOOD_MS + 1);
    assert.equal(r.status, 'full');
    assert.ok(r.status === 'full' && r.ping?.id.equals(ids[0]!));
    // That node fails twice: the cached newcomer is promoted into its place.
    assert.deepEqual(t.markFailed(ids[0]!, NODE_GOOD_MS + 2), {});
    const out = t.markFailed(ids[0]!, NODE_GOOD_MS + 3);
    assert.ok(out.removed?.id.equals(ids[0]!));
    assert.ok(out.promoted?.id.equals(newcomer.id));
    assert.equal(t.get(ids[0]!), undefined);
    assert.ok(t.get(newcomer.id));
    assert.equal(t.size, 8);
  });

  it('a bad node is replaced directly by an answering newcomer', () => {
    const t = new RoutingTable(ZERO, 0);
    const ids = Array.from({ length: 8 }, (_, i) => idWith(0x80 + i, i));
    for (const [i, id] of ids.entries()) t.insert(contact(id, i), 0);
    t.markFailed(ids[3]!, 1);
    t.markFailed(ids[3]!, 2);
    const r = t.insert(contact(idWith(0xa0, 50), 50), 3);
    assert.equal(r.status, 'replaced');
    assert.ok(r.status === 'replaced' && r.removed.id.equals(ids[3]!));
  });

  it('refresh targets: one random id inside each bucket unchanged for 15 minutes', () => {
    const t = new RoutingTable(ZERO, 0);
    let n = 0;
    for (let top = 0x80; top >= 0x20; top >>= 1)
      for (let i = 0; i < 8; i++) t.insert(contact(idWith(top, i + 1), n++), 0);
    let counter = 0;
    const random = (len: number): Buffer => Buffer.alloc(len, ++counter * 37);
    assert.deepEqual(t.refreshTargets(NODE_GOOD_MS - 1, random), []);
    const targets = t.refreshTargets(NODE_GOOD_MS, random);
    assert.equal(targets.length, t.buckets.length);
    targets.forEach((id, i) => {
      const v = idToBigInt(id);
      const b = t.buckets[i]!;
      assert.ok(v >= b.lo && v < b.hi);
    });
    t.touch(targets[0]!, NODE_GOOD_MS);
    assert.equal(t.refreshTargets(NODE_GOOD_MS, random).length, t.buckets.length - 1);
  });

  it('id helpers', () => {
    const id = idWith(0xab, 7);
    assert.deepEqual(bigIntToId(idToBigInt(id)), id);
    assert.equal(distance(id, id), 0n);
    assert.equal(distance(ZERO, id), idToBigInt(id));
  });
});
