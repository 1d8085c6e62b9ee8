// Smart ban on its own: a lone sender of a bad piece is named at once; with several, the liar is
// named when the piece verifies (and only the liar, once per bad block), and the blocks of the
// failed try are asked of other senders for a while — unless nobody else has them, or the one asked
// instead did not send it.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { SmartBan } from '../../../src/swarm/smart-ban.js';

const B = 16 * 1024;
const sha1 = (b: Buffer) => createHash('sha1').update(b).digest();

/** A piece of 4 blocks (the last one short) with its good bytes. */
const LENGTH = 3 * B + 100;
const good = Buffer.alloc(LENGTH, 7);
const goodDigest = (offset: number, length: number) => sha1(good.subarray(offset, offset + length));

describe('SmartBan', () => {
  it('names a lone sender of a bad piece at once, and keeps nothing', () => {
    const sb = new SmartBan(B);
    const blocks = new Map([0, B, 2 * B, 3 * B].map((o) => [o, 'a:1'] as [number, string]));
    const liar = sb.failed(
      { piece: 5, length: LENGTH, senders: new Set(['a:1']), blocks, digest: goodDigest },
      0,
    );
    assert.equal(liar, 'a:1');
    assert.equal(sb.watching, false);
    assert.deepEqual(sb.passed(5, goodDigest), []);
  });

  it('with several senders: names the one whose blocks differed, once per bad block, when the piece verifies', () => {
    const sb = new SmartBan(B);
    const bad = Buffer.from(good);
    bad.fill(0, B, 2 * B); // the block at B, from 'liar'
    bad.fill(0, 3 * B, LENGTH); // the short last block, from 'liar' too
    const blocks = new Map<number, string>([
      [0, 'honest:1'],
      [B, 'liar:2'],
      [2 * B, 'honest:3'],
      [3 * B, 'liar:2'],
    ]);
    const received = (offset: number, length: number) => sha1(bad.subarray(offset, offset + length));
    const senders = new Set(blocks.values());
    assert.equal(sb.failed({ piece: 9, length: LENGTH, senders, blocks, digest: received }, 1000), undefined);
    assert.equal(sb.watching, true);
    assert.deepEqual(sb.passed(9, goodDigest), ['liar:2', 'liar:2']);
    assert.equal(sb.watching, false);
    assert.deepEqual(sb.passed(9, goodDigest), [], 'judged once');
  });

  it('asks the blocks of a failed try of other senders, for a minute, while someone else has them', () => {
    const sb = new SmartBan(B);
    const blocks = new Map<number, string>([
      [0, 'a:1'],
      [B, 'b:2'],
    ]);
    sb.failed(
      { piece: 1, length: 2 * B, senders: new Set(['a:1', 'b:2']), blocks, digest: () => undefined },
      0,
    );
    const others = () => true;
    assert.equal(sb.avoids(1, 0, 'a:1', 10, others), true);
    assert.equal(sb.avoids(1, B, 'a:1', 10, others), false, 'a:1 did not send that block');
    assert.equal(
      sb.avoids(1, 0, 'a:1', 10, () => false),
      false,
      'a lone source is asked again',
    );
    assert.equal(sb.avoids(2, 0, 'a:1', 10, others), false, 'another piece');
    assert.equal(sb.avoids(1, 0, 'a:1', 60_001, others), false, 'after a minute');
    assert.equal(sb.watching, false);
  });

  it('lets anyone send a block again once someone else failed to (a timeout or a reject)', () => {
    // Both senders of the failed try are kept from their own blocks: when the one asked instead
    // never answers, the retry must not wait for it (hostile-data's "one bad block per piece").
    const sb = new SmartBan(B);
    const blocks = new Map<number, string>([
      [0, 'liar:1'],
      [B, 'honest:2'],
    ]);
    sb.failed(
      { piece: 3, length: 2 * B, senders: new Set(['liar:1', 'honest:2']), blocks, digest: () => undefined },
      0,
    );
    const others = () => true;
    assert.equal(sb.avoids(3, B, 'honest:2', 10, others), true);
    assert.equal(sb.lift(3, B), true);
    assert.equal(sb.avoids(3, B, 'honest:2', 10, others), false, 'lifted');
    assert.equal(sb.avoids(3, 0, 'liar:1', 10, others), true, 'only that block');
    assert.equal(sb.lift(3, B), false, 'once');
    assert.equal(sb.lift(4, 0), false, 'a piece not watched');
  });
});
