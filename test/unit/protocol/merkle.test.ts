// BEP 52 merkle trees: file roots against vectors computed with libtorrent 2.0.8
// (create_torrent of a file whose byte i is (7i + 3) mod 251), and the piece checks built on them.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  fileTree,
  hashesFromLayer,
  leafHashes,
  padHash,
  pieceRoot,
  pieceWidthLeaves,
  rootFromPieceLayer,
  rootOfLayer,
  sha256,
} from '../../../src/protocol/merkle.js';

const content = (n: number): Buffer => {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + 3) % 251;
  return b;
};

// [file length, piece length, pieces root as libtorrent 2.0.8 writes it]
const VECTORS: [number, number, string][] = [
  [100, 16384, '8ccfe0e9682941c3451db3606c96dfdde905896fd071c0bb2d58d01b8c6daf7d'],
  [16384, 16384, '90b834666bd99804aad5f0d312a8862f91872e635fd6063d42fe787c4e1d84ee'],
  [40000, 16384, '7d9f01ba091cfb3a86ea7319b5315cc9ea62e74f64ecd4fb1d6d03a45fcc7c37'],
  [200000, 32768, '43e526334f9d5dd6703f9933b0fa2115b985cdd7d3c5296761328cd65d6de86e'],
  [1000000, 65536, '22fb47d56c5797b1a5326e3b34ebde0c3682c59f4cae0bc12531ccb8b07d92b4'],
];

describe('merkle (BEP 52)', () => {
  it('pad hashes: 32 zero bytes, then the hash of two pads', () => {
    assert.deepEqual(padHash(0), Buffer.alloc(32));
    assert.deepEqual(padHash(1), sha256(Buffer.alloc(32), Buffer.alloc(32)));
    assert.deepEqual(padHash(3), sha256(padHash(2), padHash(2)));
  });

  for (const [n, pl, root] of VECTORS) {
    it(`a file of ${n} bytes in pieces of ${pl}: libtorrent's root, from leaves and from the piece layer`, () => {
      const data = content(n);
      const t = fileTree(leafHashes(data), pl);
      assert.equal(t.root.toString('hex'), root);
      const pieces = Math.ceil(n / pl);
      if (pieces === 1) {
        assert.equal(t.layer.length, 0);
        assert.equal(pieceRoot(data, pieceWidthLeaves(pl, n)).toString('hex'), root);
      } else {
        assert.equal(t.layer.length, pieces * 32);
        assert.equal(rootFromPieceLayer(t.layer, pl).toString('hex'), root);
        // every piece's data hashes to its entry of the layer; a changed byte does not
        for (let p = 0; p < pieces; p++) {
          const piece = data.subarray(p * pl, (p + 1) * pl);
          assert.deepEqual(pieceRoot(piece, pieceWidthLeaves(pl, n)), t.layer.subarray(p * 32, p * 32 + 32));
        }
        const bad = Buffer.from(data.subarray(0, pl));
        bad[bad.length - 1]! ^= 1;
        assert.notDeepEqual(pieceRoot(bad, pieceWidthLeaves(pl, n)), t.layer.subarray(0, 32));
      }
    });
  }

  it('a layer padded past its entries equals the tree with explicit pad leaves', () => {
    const leaves = leafHashes(content(3 * 16384));
    const explicit = Buffer.concat([leaves, padHash(0)]);
    assert.deepEqual(rootOfLayer(leaves, 4), rootOfLayer(explicit, 4));
    assert.deepEqual(rootOfLayer(leaves, 8), sha256(rootOfLayer(leaves, 4), padHash(2)));
    assert.throws(() => rootOfLayer(leaves, 2), RangeError);
  });

  it('every count and width: the root of the tree built pair by pair; the layer is left as it was', () => {
    // The reference: each level a list of nodes, the last odd one paired with that level's pad.
    const reference = (layer: Buffer, width: number, level: number): Buffer => {
      let nodes: Buffer[] = [];
      for (let i = 0; i < layer.length; i += 32) nodes.push(layer.subarray(i, i + 32));
      let lvl = level;
      for (let w = width; w > 1; w /= 2, lvl++) {
        const next: Buffer[] = [];
        for (let i = 0; i < nodes.length; i += 2) next.push(sha256(nodes[i]!, nodes[i + 1] ?? padHash(lvl)));
        nodes = next;
      }
      return nodes[0] ?? padHash(lvl);
    };
    for (let count = 0; count <= 33; count++) {
      const layer = leafHashes(content(count * 16384 + 1)).subarray(0, count * 32);
      const before = Buffer.from(layer);
      const least = Math.max(1, 2 ** Math.ceil(Math.log2(Math.max(count, 1))));
      for (const width of [least, least * 2, least * 8])
        for (const level of [0, 2])
          assert.deepEqual(
            rootOfLayer(layer, width, level),
            reference(layer, width, level),
            `${count}/${width}/${level}`,
          );
      assert.deepEqual(layer, before);
    }
  });
});

describe('merkle: hash requests served from a piece layer', () => {
  const pl = 32768;
  const data = content(5 * pl - 100); // 5 pieces: a layer padded to 8, 3 levels to the root
  const { root, layer } = fileTree(leafHashes(data), pl);

  it('base hashes and their uncles (libtorrent layout) prove the root', () => {
    for (const [index, count] of [
      [0, 2],
      [2, 2],
      [4, 4],
      [0, 8],
    ] as const) {
      const out = hashesFromLayer(layer, 1, index, count, 2);
      assert.ok(out, `${index}/${count}`);
      const base = out.subarray(0, count * 32);
      let node = rootOfLayer(base, count, 1);
      let at = index / count;
      const uncles = out.subarray(count * 32);
      assert.equal(uncles.length, (3 - Math.log2(count)) * 32);
      for (let u = 0; u < uncles.length / 32; u++) {
        const uncle = uncles.subarray(u * 32, u * 32 + 32);
        node = at % 2 === 0 ? sha256(node, uncle) : sha256(uncle, node);
        at >>= 1;
      }
      assert.deepEqual(node, root, `${index}/${count}`);
    }
  });

  it('past the file: pad hashes of the piece level; malformed requests: none', () => {
    const out = hashesFromLayer(layer, 1, 4, 4, 0)!;
    assert.deepEqual(out.subarray(32, 64), padHash(1));
    assert.equal(hashesFromLayer(layer, 1, 1, 2, 0), undefined); // index not a multiple of count
    assert.equal(hashesFromLayer(layer, 1, 0, 3, 0), undefined); // count not a power of two
    assert.equal(hashesFromLayer(layer, 1, 8, 2, 0), undefined); // past the tree
    assert.equal(hashesFromLayer(layer, 1, 0, 2, 3), undefined); // a proof past the root
  });
});
