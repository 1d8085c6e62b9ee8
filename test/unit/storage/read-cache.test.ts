// ReadCache over a real MemoryStorage: hits and misses, shared concurrent misses, LRU by bytes,
// invalidation, pieces too large to cache, and errors that are not cached.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryStorage } from '../../../src/storage/memory-storage.js';
import { ReadCache } from '../../../src/storage/read-cache.js';
import type { Storage } from '../../../src/storage/storage.js';
import { mulberry32 } from '../prng.js';
import { makeTorrent, rejectsWithCode, type TestTorrent } from './helpers.js';

/** Counts the reads that reach the storage (which is real). */
function counted(s: Storage): {
  storage: Pick<Storage, 'read' | 'readPiece'>;
  pieceReads: number[];
  rangeReads: number;
} {
  const c = {
    pieceReads: [] as number[],
    rangeReads: 0,
    storage: {
      readPiece: (p: number, into?: Buffer) => {
        c.pieceReads.push(p);
        return s.readPiece(p, into);
      },
      read: (p: number, o: number, l: number) => {
        c.rangeReads++;
        return s.read(p, o, l);
      },
    },
  };
  return c;
}

async function seeded(pieceLength: number, length: number): Promise<{ t: TestTorrent; s: MemoryStorage }> {
  const t = makeTorrent({ name: 'f', pieceLength, files: [{ path: ['f'], length }] });
  return { t, s: await MemoryStorage.withData(t.metainfo, t.data) };
}

describe('ReadCache', () => {
  it('serves the blocks of a piece from one read, concurrent misses included', async () => {
    const { t, s } = await seeded(64, 64 * 10);
    const c = counted(s);
    const cache = new ReadCache(c.storage);
    const blocks = await Promise.all(Array.from({ length: 8 }, (_, i) => cache.read(3, i * 8, 8)));
    for (const [i, b] of blocks.entries()) assert.deepEqual(b, t.piece(3).subarray(i * 8, i * 8 + 8));
    assert.deepEqual(await cache.read(3, 60, 4), t.piece(3).subarray(60));
    assert.deepEqual(c.pieceReads, [3]);
    assert.deepEqual(cache.stats, { hits: 8, misses: 1, bytes: 64, pieces: 1, reused: 0 });
    await rejectsWithCode(cache.read(3, 60, 5), 'ERR_STORAGE_RANGE');
  });

  it('evicts the least recently used pieces to stay within maxBytes', async () => {
    const { t, s } = await seeded(100, 1000);
    const c = counted(s);
    const cache = new ReadCache(c.storage, { maxBytes: 300 });
    for (const p of [0, 1, 2]) await cache.read(p, 0, 1);
    await cache.read(0, 0, 1); // 0 is now the most recently used
    await cache.read(3, 0, 1); // evicts 1
    assert.equal(cache.stats.bytes, 300);
    c.pieceReads.length = 0;
    assert.deepEqual(await cache.read(0, 5, 5), t.piece(0).subarray(5, 10));
    assert.deepEqual(await cache.read(2, 0, 1), t.piece(2).subarray(0, 1));
    assert.deepEqual(c.pieceReads, []);
    await cache.read(1, 0, 1);
    assert.deepEqual(c.pieceReads, [1]);
  });

  it('invalidate drops a piece, and a read in progress is not cached', async () => {
    const { s } = await seeded(16, 64);
    const c = counted(s);
    const cache = new ReadCache(c.storage);
    await cache.read(1, 0, 4);
    cache.invalidate(1);
    assert.equal(cache.stats.pieces, 0);
    const inProgress = cache.read(2, 0, 4);
    cache.invalidate(2);
    await inProgress;
    assert.equal(cache.stats.pieces, 0);
    await cache.read(1, 0, 4);
    await cache.read(2, 0, 4);
    assert.deepEqual(c.pieceReads, [1, 2, 1, 2]);
    cache.clear();
    assert.deepEqual(cache.stats.bytes, 0);
  });

  it('reads pieces larger than the cache straight from the storage', async () => {
    const { t, s } = await seeded(1000, 2500);
    const c = counted(s);
    const cache = new ReadCache(c.storage, { maxBytes: 600, geometry: t.metainfo });
    assert.deepEqual(await cache.read(0, 10, 20), t.piece(0).subarray(10, 30));
    assert.deepEqual(await cache.read(2, 0, 500), t.piece(2)); // the last piece, 500 bytes, fits
    await cache.read(2, 0, 10);
    assert.equal(c.rangeReads, 1);
    assert.deepEqual(c.pieceReads, [2]);
  });

  it('does not cache a failed read', async () => {
    const t = makeTorrent({ name: 'f', pieceLength: 16, files: [{ path: ['f'], length: 64 }] });
    const s = new MemoryStorage(t.metainfo);
    await s.open();
    const c = counted(s);
    const cache = new ReadCache(c.storage);
    await Promise.all([
      rejectsWithCode(cache.read(0, 0, 4), 'ERR_STORAGE_MISSING'),
      rejectsWithCode(cache.read(0, 4, 4), 'ERR_STORAGE_MISSING'),
    ]);
    assert.equal(c.pieceReads.length, 1);
    await s.writePiece(0, t.piece(0));
    assert.deepEqual(await cache.read(0, 0, 4), t.piece(0).subarray(0, 4));
  });

  it('reuses the buffer of an evicted piece once every view of it is given back', async () => {
    const { t, s } = await seeded(100, 1000);
    const c = counted(s);
    const cache = new ReadCache(c.storage, { maxBytes: 200, geometry: t.metainfo });
    const a = await cache.read(0, 0, 50);
    const b = cache.readCached(0, 50, 50)!;
    const first = a.buffer;
    await cache.read(1, 0, 1);
    await cache.read(2, 0, 1); // evicts piece 0, whose two views are still out
    await cache.read(3, 0, 1); // evicts piece 1 (its view never comes back: never reused)
    assert.equal(cache.stats.reused, 0);
    cache.giveBack(a);
    await cache.read(4, 0, 1);
    assert.equal(cache.stats.reused, 0, 'one view of piece 0 is still out');
    assert.deepEqual(b, t.piece(0).subarray(50, 100), 'a lent view is never overwritten');
    cache.giveBack(b);
    cache.giveBack(b); // a second give-back of the same view changes nothing
    const five = await cache.read(5, 0, 100);
    assert.equal(cache.stats.reused, 1);
    assert.equal(five.buffer, first, 'piece 5 was read into the buffer of piece 0');
    assert.deepEqual(five, t.piece(5));
    cache.giveBack(new Uint8Array(10)); // not ours: ignored
  });

  it('keeps lent buffers intact while uploads run (property)', async () => {
    const { t, s } = await seeded(64, 64 * 40);
    const cache = new ReadCache(s, { maxBytes: 64 * 3, geometry: t.metainfo });
    const out: { piece: number; offset: number; view: Buffer }[] = [];
    const random = mulberry32(7);
    const rand = (n: number): number => Math.floor(random() * n);
    for (let i = 0; i < 2000; i++) {
      if (out.length > 0 && rand(3) === 0) {
        const [o] = out.splice(rand(out.length), 1);
        assert.deepEqual(o!.view, t.piece(o!.piece).subarray(o!.offset, o!.offset + 16));
        cache.giveBack(o!.view);
      } else {
        const piece = rand(40);
        const offset = rand(4) * 16;
        out.push({ piece, offset, view: await cache.read(piece, offset, 16) });
      }
    }
    for (const o of out) assert.deepEqual(o.view, t.piece(o.piece).subarray(o.offset, o.offset + 16));
    assert.ok(cache.stats.reused > 100, `reused ${cache.stats.reused}`);
  });
});
