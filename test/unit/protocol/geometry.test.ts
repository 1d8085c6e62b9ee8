// The geometry: piece and block lengths add up to the torrent, and the three names of a block —
// (piece, b), the wire's (piece, offset, length), and the request index — convert into each other
// exactly; malformed wire names have no index.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Geometry, paddingBlocks, pieceSizeOf } from '../../../src/protocol/geometry.js';
import { BLOCK_SIZE } from '../../../src/protocol/peer-wire.js';

const geometryArb = fc
  .record({
    pieceLength: fc.constantFrom(BLOCK_SIZE, 2 * BLOCK_SIZE, 3 * BLOCK_SIZE + 100, 16 * BLOCK_SIZE, 20_000),
    totalLength: fc.integer({ min: 1, max: 5_000_000 }),
  })
  .map(({ pieceLength, totalLength }) => ({
    pieceLength,
    totalLength,
    pieceCount: Math.ceil(totalLength / pieceLength),
  }));

describe('Geometry', () => {
  it('a small torrent, by hand', () => {
    const g = new Geometry({ pieceLength: 4 * BLOCK_SIZE, totalLength: 9 * BLOCK_SIZE + 7, pieceCount: 3 });
    assert.deepEqual([g.pieceSize(0), g.pieceSize(2)], [4 * BLOCK_SIZE, BLOCK_SIZE + 7]);
    assert.deepEqual([g.blockCount(0), g.blockCount(2)], [4, 2]);
    assert.deepEqual(g.blockRef(2, 1), { piece: 2, offset: BLOCK_SIZE, length: 7 });
    assert.equal(g.requestIndex(2, 1), 9);
    assert.deepEqual(g.requestRef(9), { piece: 2, offset: BLOCK_SIZE, length: 7 });
    assert.equal(g.blockIndex({ piece: 2, offset: BLOCK_SIZE, length: 7 }), 1);
    assert.equal(g.blockIndex({ piece: 2, offset: BLOCK_SIZE, length: BLOCK_SIZE }), -1, 'wrong length');
    assert.equal(g.blockIndex({ piece: 1, offset: 100, length: BLOCK_SIZE }), -1, 'not aligned');
    assert.equal(g.blockIndex({ piece: 3, offset: 0, length: BLOCK_SIZE }), -1, 'no such piece');
    assert.equal(
      g.blockIndex({ piece: 0, offset: 4 * BLOCK_SIZE, length: BLOCK_SIZE }),
      -1,
      'past the piece',
    );
    assert.equal(Geometry.of(g), g);
  });

  it('lengths add up, and every block has one index and back', () => {
    fc.assert(
      fc.property(geometryArb, (o) => {
        const g = new Geometry(o);
        let total = 0;
        const seen = new Set<number>();
        for (let p = 0; p < g.pieceCount; p++) {
          assert.equal(g.pieceSize(p), pieceSizeOf(o, p));
          let inPiece = 0;
          for (let b = 0; b < g.blockCount(p); b++) {
            const ref = g.blockRef(p, b);
            assert.ok(ref.length > 0 && ref.length <= BLOCK_SIZE);
            inPiece += ref.length;
            assert.equal(g.blockIndex(ref), b);
            assert.equal(g.blockAt(ref.offset + ref.length - 1), b);
            const i = g.requestIndex(p, b);
            assert.ok(!seen.has(i));
            seen.add(i);
            assert.equal(g.pieceOfRequest(i), p);
            assert.deepEqual(g.requestRef(i), ref);
          }
          assert.equal(inPiece, g.pieceSize(p));
          total += inPiece;
        }
        assert.equal(total, g.totalLength);
      }),
      { numRuns: 100 },
    );
  });

  it('padding blocks: exactly the blocks that lie wholly inside a padding file', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ length: fc.integer({ min: 0, max: 200_000 }), padding: fc.boolean() }), {
          minLength: 1,
          maxLength: 8,
        }),
        fc.constantFrom(BLOCK_SIZE, 4 * BLOCK_SIZE, 3 * BLOCK_SIZE + 5),
        (specs, pieceLength) => {
          let offset = 0;
          const files = specs.map((f) => {
            const out = { ...f, offset };
            offset += f.length;
            return out;
          });
          if (offset === 0) return;
          const g = new Geometry({
            pieceLength,
            totalLength: offset,
            pieceCount: Math.ceil(offset / pieceLength),
          });
          const pads = paddingBlocks(g, files);
          for (let p = 0; p < g.pieceCount; p++) {
            for (let b = 0; b < g.blockCount(p); b++) {
              const start = g.pieceStart(p) + b * BLOCK_SIZE;
              const end = start + g.blockLength(p, b);
              const inside = files.some((f) => f.padding && f.offset <= start && end <= f.offset + f.length);
              assert.equal(pads.has(g.requestIndex(p, b)), inside, `piece ${p} block ${b}`);
            }
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
