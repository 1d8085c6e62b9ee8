// checkExisting over files on disk, the way a seeder or a restarted download finds them: complete,
// partial (files missing or short), corrupt and absent data; bounded concurrency; abort. Hashing runs
// in real worker threads (pieces of 64 KiB take the transfer path).

import assert from 'node:assert/strict';
import { mkdir, truncate, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { checkExisting } from '../../../src/storage/check.js';
import { FileStorage } from '../../../src/storage/file-storage.js';
import { HasherPool, STREAM_PIECE_BYTES } from '../../../src/storage/hasher-pool.js';
import { MemoryStorage } from '../../../src/storage/memory-storage.js';
import type { Storage } from '../../../src/storage/storage.js';
import { makeTempDir, makeTorrent, removeTempDir, type TestTorrent } from './helpers.js';

const PIECE = 64 * 1024;
// 6 files over 40 pieces; file boundaries fall inside pieces.
const SIZES = [300_000, 5, 700_000, 0, 1_000_000, 621_435];

function torrent(): TestTorrent {
  return makeTorrent({
    name: 'seed',
    pieceLength: PIECE,
    files: SIZES.map((length, i) => ({ path: ['part', `f${i}.dat`], length })),
    seed: 99,
  });
}

/** Writes the torrent's files the way another program would (not through the storage). */
async function writeFiles(dir: string, t: TestTorrent): Promise<void> {
  for (const f of t.metainfo.files) {
    const path = join(dir, ...f.path);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, t.data.subarray(f.offset, f.offset + f.length));
  }
}

/** Pieces that lie entirely inside [start, end) of the torrent's bytes. */
function piecesWithin(t: TestTorrent, start: number, end: number): number[] {
  const out: number[] = [];
  for (let p = 0; p < t.metainfo.pieceCount; p++) {
    const s = p * PIECE;
    const e = Math.min(s + PIECE, t.metainfo.totalLength);
    if (s >= start && e <= end) out.push(p);
  }
  return out;
}

/** Counts mayHave and readPiece calls, and the most reads running at once (the storage is real). */
function counting(s: Storage): {
  storage: Pick<Storage, 'mayHave' | 'mayHaveAny' | 'readPiece' | 'read'>;
  asked: number;
  reads: number;
  maxAtOnce: number;
} {
  const c = {
    asked: 0,
    reads: 0,
    maxAtOnce: 0,
    storage: {
      mayHave: (p: number) => {
        c.asked++;
        return s.mayHave(p);
      },
      mayHaveAny: () => s.mayHaveAny(),
      read: (p: number, offset: number, length: number, into?: Buffer) => s.read(p, offset, length, into),
      readPiece: async (p: number) => {
        c.reads++;
        running++;
        c.maxAtOnce = Math.max(c.maxAtOnce, running);
        try {
          return await s.readPiece(p);
        } finally {
          running--;
        }
      },
    },
  };
  let running = 0;
  return c;
}

describe('checkExisting on disk', () => {
  const hasher = new HasherPool({ threads: 2 });
  after(() => hasher.stop());

  const withDir = async (
    body: (dir: string, t: TestTorrent, s: FileStorage) => Promise<void>,
  ): Promise<void> => {
    const dir = await makeTempDir();
    const t = torrent();
    const s = new FileStorage(t.metainfo, dir, { maxOpenFiles: 4 });
    try {
      await body(dir, t, s);
    } finally {
      await s.close();
      await removeTempDir(dir);
    }
  };

  it('a seeder with complete files gets every piece, a few pieces in flight at once', async () => {
    await withDir(async (dir, t, s) => {
      await writeFiles(dir, t);
      await s.open();
      const c = counting(s);
      let last = 0;
      const have = await checkExisting(t.metainfo, c.storage, hasher, {
        onProgress: (done, total) => {
          assert.equal(done, last + 1);
          assert.equal(total, t.metainfo.pieceCount);
          last = done;
        },
      });
      assert.equal(have.complete, true);
      assert.equal(last, t.metainfo.pieceCount);
      assert.equal(c.reads, t.metainfo.pieceCount);
      assert.ok(c.maxAtOnce > 1 && c.maxAtOnce <= 8, `${c.maxAtOnce} reads at once`);
      const bounded = counting(s);
      const again = await checkExisting(t.metainfo, bounded.storage, hasher, { maxInFlightBytes: 3 * PIECE });
      assert.equal(again.complete, true);
      assert.ok(bounded.maxAtOnce <= 3, `${bounded.maxAtOnce} reads at once with room for 3 pieces`);
    });
  });

  it('a fresh download reads nothing, asks no piece and has nothing', async () => {
    await withDir(async (_dir, t, s) => {
      await s.open();
      const c = counting(s);
      const progress: [number, number][] = [];
      const have = await checkExisting(t.metainfo, c.storage, hasher, {
        onProgress: (done, total) => progress.push([done, total]),
      });
      assert.equal(have.count, 0);
      assert.equal(c.reads, 0);
      assert.equal(c.asked, 0);
      const n = t.metainfo.pieceCount;
      assert.deepEqual(progress, [[n, n]]);
    });
  });

  it('a half-done download keeps the pieces that verify', async () => {
    await withDir(async (dir, t, s) => {
      await writeFiles(dir, t);
      const [f0, , f2, , f4] = t.metainfo.files;
      await truncate(join(dir, ...f2!.path), 400_000); // f2 is short
      await writeFile(join(dir, ...f4!.path), Buffer.alloc(0)); // f4 is empty
      await s.open();
      const have = await checkExisting(t.metainfo, s, hasher);
      const expected = [
        ...piecesWithin(t, 0, f2!.offset + 400_000), // f0, f1 and f2's first 400 000 bytes
        ...piecesWithin(t, f4!.offset + f4!.length, t.metainfo.totalLength), // all of f5
      ];
      assert.deepEqual([...have.indices()], expected);
      assert.ok(expected.length > 5 && expected.length < t.metainfo.pieceCount - 10);
      assert.equal(f0!.offset, 0);
    });
  });

  it('a corrupt byte fails exactly its piece', async () => {
    await withDir(async (dir, t, s) => {
      const bad = 1_234_567;
      t.data[bad]! ^= 0xff; // the files on disk get the flipped byte, the hashes do not
      await writeFiles(dir, t);
      t.data[bad]! ^= 0xff;
      await s.open();
      const have = await checkExisting(t.metainfo, s, hasher);
      const badPiece = Math.floor(bad / PIECE);
      assert.equal(have.get(badPiece), false);
      assert.equal(have.count, t.metainfo.pieceCount - 1);
    });
  });

  it('stops when aborted, after the reads in progress settle', async () => {
    await withDir(async (dir, t, s) => {
      await writeFiles(dir, t);
      await s.open();
      const ac = new AbortController();
      const c = counting(s);
      let progressed = 0;
      await assert.rejects(
        checkExisting(t.metainfo, c.storage, hasher, {
          signal: ac.signal,
          onProgress: (done) => {
            progressed = done;
            if (done === 3) ac.abort();
          },
        }),
        { name: 'AbortError' },
      );
      const readsAtReturn = c.reads;
      assert.ok(progressed < t.metainfo.pieceCount);
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(c.reads, readsAtReturn, 'no read starts after the check returned');
      await assert.rejects(checkExisting(t.metainfo, s, hasher, { signal: ac.signal }), {
        name: 'AbortError',
      });
    });
  });
});

describe('checkExisting of pieces larger than STREAM_PIECE_BYTES', () => {
  const BIG = 2 * STREAM_PIECE_BYTES;
  // Two pieces, the second shorter; the file boundary falls inside the first.
  const big = makeTorrent({
    name: 'big',
    pieceLength: BIG,
    files: [
      { path: ['a.bin'], length: 20 * 1024 * 1024 },
      { path: ['b.bin'], length: BIG + 8 * 1024 * 1024 - 20 * 1024 * 1024 + 12_345 },
    ],
    seed: 7,
  });

  /** The storage, with arrayBuffers sampled after every read (and every millisecond). */
  function sampled(s: MemoryStorage): {
    storage: Pick<Storage, 'mayHave' | 'mayHaveAny' | 'readPiece' | 'read'>;
    peakGrowth: () => number;
    stop: () => void;
  } {
    global.gc?.();
    const before = process.memoryUsage().arrayBuffers;
    let peak = before;
    const sample = (): void => {
      peak = Math.max(peak, process.memoryUsage().arrayBuffers);
    };
    const timer = setInterval(sample, 1);
    return {
      storage: {
        mayHave: (p) => s.mayHave(p),
        mayHaveAny: () => s.mayHaveAny(),
        read: async (p, offset, length, into) => {
          const b = await s.read(p, offset, length, into);
          sample();
          return b;
        },
        readPiece: async (p, into) => {
          const b = await s.readPiece(p, into);
          sample();
          return b;
        },
      },
      peakGrowth: () => peak - before,
      stop: () => clearInterval(timer),
    };
  }

  for (const threads of [1, 0]) {
    it(`hashes each piece a chunk at a time (${threads} worker): memory stays far below a piece`, async (t) => {
      const data = Buffer.from(big.data);
      data[BIG + 5]! ^= 1; // the second piece is corrupt
      const s = await MemoryStorage.withData(big.metainfo, data);
      const hasher = new HasherPool({ threads });
      const m = sampled(s);
      try {
        const have = await checkExisting(big.metainfo, m.storage, hasher);
        assert.deepEqual([...have.indices()], [0]);
      } finally {
        m.stop();
        await hasher.stop();
      }
      const growthMiB = m.peakGrowth() / 2 ** 20;
      t.diagnostic(`arrayBuffers grew by at most ${growthMiB.toFixed(1)} MiB`);
      // Two lanes of two 4 MiB chunks; the piece is 32 MiB (it used to be read whole, twice over).
      assert.ok(growthMiB < 20, `arrayBuffers grew by ${growthMiB.toFixed(1)} MiB checking 32 MiB pieces`);
    });
  }

  it('a large piece whose file is missing is not verified; one that is there is', async () => {
    const s = new MemoryStorage(big.metainfo);
    await s.open();
    await s.writePiece(1, big.piece(1));
    const hasher = new HasherPool({ threads: 1 });
    try {
      const have = await checkExisting(big.metainfo, s, hasher);
      assert.deepEqual([...have.indices()], [1]);
      // hashPiece of a large buffer goes a chunk at a time too, with the same digest.
      const digest = await hasher.hashPiece(big.piece(0));
      assert.ok(digest.equals(big.metainfo.pieces.subarray(0, 20)));
    } finally {
      await hasher.stop();
    }
  });
});
