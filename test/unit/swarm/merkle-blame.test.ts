// Merkle blame (BEP 52 leaf hashes): a failed v2 piece's bad block is pinned on its sender by the
// leaf hashes a peer serves, proven by the piece's hash; a forged answer or one we did not ask for
// judges nobody. And the serving side: leaf hashes (with uncles inside the piece) from a piece we
// hold, the last, shorter piece padded as the tree is; nothing for a piece we lack.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { HASH_BYTES, leafHashes, MERKLE_BLOCK_BYTES } from '../../../src/protocol/merkle.js';
import { leafHashRequest, provenLeaves, serveLeafHashes } from '../../../src/storage/verify-v2.js';
import { MerkleBlame } from '../../../src/swarm/merkle-blame.js';
import { memoryTorrentV2 } from '../session/scripted-peer.js';

const PIECE = 4 * MERKLE_BLOCK_BYTES;
const fx = memoryTorrentV2(5 * PIECE + 3 * MERKLE_BLOCK_BYTES - 100, PIECE, 9);
const v2 = fx.metainfo.v2!;
const pieceBytes = (p: number): Buffer =>
  fx.data.subarray(p * PIECE, Math.min(fx.data.length, (p + 1) * PIECE));
const read = async (p: number): Promise<Uint8Array | undefined> => pieceBytes(p);

describe('merkle blame', () => {
  test('the sender of the one bad block is named from proven leaf hashes; the others are not', async () => {
    const bad = Buffer.from(pieceBytes(2));
    const at = 2 * MERKLE_BLOCK_BYTES + 7;
    bad.writeUInt8(bad.readUInt8(at) ^ 1, at);
    const senders = new Map([
      [0, 'a'],
      [MERKLE_BLOCK_BYTES, 'b'],
      [2 * MERKLE_BLOCK_BYTES, 'liar'],
      [3 * MERKLE_BLOCK_BYTES, 'b'],
    ]);
    const blame = new MerkleBlame(v2, PIECE);
    const r = blame.failed(2, bad, senders, ['s1', 's2'], 0);
    assert.ok(r);
    assert.deepEqual(
      { baseLayer: r.baseLayer, index: r.index, length: r.length, proofLayers: r.proofLayers },
      {
        baseLayer: 0,
        index: 8,
        length: 4,
        proofLayers: 0,
      },
    );
    const hashes = await serveLeafHashes(v2, PIECE, r, read);
    assert.ok(hashes);
    assert.equal(blame.answered('stranger', r, hashes), undefined, 'not asked of a stranger');
    // A forged answer (a leaf changed to match the bad block) does not prove itself: nobody judged.
    const forged = Buffer.from(hashes);
    leafHashes(bad).copy(forged, 0, 0, 4 * HASH_BYTES);
    assert.equal(blame.answered('s1', r, forged), undefined);
    assert.deepEqual(blame.answered('s2', r, hashes), ['liar']);
    assert.equal(blame.answered('s2', r, hashes), undefined, 'judged once');
  });

  test('a refusal by everyone asked ends the wait; a piece with no v2 hash is not asked about', () => {
    const blame = new MerkleBlame(v2, PIECE);
    const r = blame.failed(1, pieceBytes(1), new Map([[0, 'x']]), ['s1'], 0)!;
    blame.refused('s1', r);
    assert.equal(blame.answered('s1', r, Buffer.alloc(4 * HASH_BYTES)), undefined);
    assert.equal(blame.failed(99, Buffer.alloc(1), new Map(), ['s1'], 0), undefined);
  });

  test('serving: the last piece padded to the tree, uncles inside the piece, nothing we lack', async () => {
    const last = fx.metainfo.pieceCount - 1;
    const r = leafHashRequest(v2, PIECE, last)!;
    const hashes = (await serveLeafHashes(v2, PIECE, r, read))!;
    const leaves = provenLeaves(v2, PIECE, last, hashes);
    assert.equal(leaves?.length, 3, 'one per block of data');
    assert.deepEqual(Buffer.concat(leaves!), leafHashes(pieceBytes(last)));
    // Two leaves and the uncle of their pair.
    const pair = await serveLeafHashes(
      v2,
      PIECE,
      { ...r, index: r.index + 2, length: 2, proofLayers: 1 },
      read,
    );
    assert.equal(pair?.length, 3 * HASH_BYTES);
    assert.equal(await serveLeafHashes(v2, PIECE, r, async () => undefined), undefined);
    assert.equal(await serveLeafHashes(v2, PIECE, { ...r, baseLayer: 2 }, read), undefined);
  });
});
