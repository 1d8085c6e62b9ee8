// The Storage compliance suite: every implementation (FileStorage, MemoryStorage, and any later
// backend) runs the same tests against the contract written in src/storage/storage.ts.

import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import type { Metainfo } from '../../../src/protocol/metainfo.js';
import { checkExisting } from '../../../src/storage/check.js';
import { StorageError } from '../../../src/storage/errors.js';
import { HasherPool } from '../../../src/storage/hasher-pool.js';
import { pieceLengthOf, type Storage } from '../../../src/storage/storage.js';
import { type FileSpec, makeTorrent, rejectsWithCode, shuffled, type TestTorrent } from './helpers.js';

export interface StorageUnderTest {
  storage: Storage;
  /** Another instance over the same stored data (a restart), not yet opened. */
  reopen(): Storage;
  /** Whether file `index` exists in the backing store (on disk for FileStorage). */
  fileExists(index: number): Promise<boolean>;
  cleanup(): Promise<void>;
}

export interface StorageHarness {
  name: string;
  create(metainfo: Metainfo): Promise<StorageUnderTest>;
  /** Property-test runs (each creates a storage; disk-backed ones may want fewer). */
  runs?: number;
}

/** 52 bytes in pieces of 16 (the last is 4): zero-length files first, between and last; a folder. */
export const MULTI: FileSpec[] = [
  { path: ['empty-first'], length: 0 },
  { path: ['a.bin'], length: 10 },
  { path: ['empty-middle'], length: 0 },
  { path: ['sub', 'dir', 'b.bin'], length: 37 },
  { path: ['c.bin'], length: 5 },
  { path: ['sub', 'empty-last'], length: 0 },
];

/**
 * 107 bytes in pieces of 16, with BEP 47 padding: pieces 4 and 5 are only padding, piece 6 is padding
 * then the last file.
 */
export const PADDED: FileSpec[] = [
  { path: ['a'], length: 10 },
  { path: ['.pad', '6'], length: 6, padding: true },
  { path: ['b'], length: 20 },
  { path: ['.pad', '12'], length: 12, padding: true },
  { path: ['c'], length: 16 },
  { path: ['.pad', '40'], length: 40, padding: true },
  { path: ['d'], length: 3 },
];

async function writeAll(s: Storage, t: TestTorrent, order: number[], parallel: number): Promise<void> {
  for (let i = 0; i < order.length; i += parallel) {
    await Promise.all(order.slice(i, i + parallel).map((p) => s.writePiece(p, t.piece(p))));
  }
}

async function assertAllPieces(s: Storage, t: TestTorrent): Promise<void> {
  for (let p = 0; p < t.metainfo.pieceCount; p++) {
    assert.deepEqual(await s.readPiece(p), t.piece(p), `piece ${p}`);
  }
}

/** A fresh storage over the same folder holds every piece (it is opened, checked and closed). */
async function assertAllPiecesReopened(again: Storage, t: TestTorrent): Promise<void> {
  await again.open();
  try {
    await assertAllPieces(again, t);
  } finally {
    await again.close();
  }
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

export function runStorageCompliance(h: StorageHarness): void {
  describe(`Storage compliance: ${h.name}`, () => {
    const hasher = new HasherPool({ threads: 0 });
    after(() => hasher.stop());

    const withStorage = async (
      t: TestTorrent,
      body: (u: StorageUnderTest) => Promise<void>,
    ): Promise<void> => {
      const u = await h.create(t.metainfo);
      try {
        await body(u);
      } finally {
        await u.storage.close();
        await u.cleanup();
      }
    };

    it('round-trips any layout, pieces written in random order, and after a restart', async () => {
      const layout = fc
        .record({
          pieceLength: fc.constantFrom(1, 7, 16, 64, 100),
          files: fc.array(fc.record({ length: fc.nat({ max: 200 }), padding: fc.boolean() }), {
            minLength: 1,
            maxLength: 6,
          }),
          multiFile: fc.boolean(),
          seed: fc.integer({ min: 1, max: 0x7fffffff }),
          parallel: fc.constantFrom(1, 4),
        })
        .filter(
          (l) =>
            l.files.some((f) => !f.padding) &&
            l.files.some((f) => f.length > 0) &&
            // A padding file needs the multi-file layout.
            (l.files.length > 1 || l.multiFile || !l.files[0]!.padding),
        );
      await fc.assert(
        fc.asyncProperty(layout, async (l) => {
          const files: FileSpec[] = l.files.map((f, i) =>
            f.padding
              ? { path: ['.pad', String(i)], length: f.length, padding: true }
              : { path: [`d${i % 2}`, `f${i}`], length: f.length },
          );
          const t = makeTorrent({ pieceLength: l.pieceLength, files, multiFile: l.multiFile, seed: l.seed });
          await withStorage(t, async (u) => {
            await u.storage.open();
            const order = shuffled(range(t.metainfo.pieceCount), l.seed);
            await writeAll(u.storage, t, order, l.parallel);
            await assertAllPieces(u.storage, t);
            // Arbitrary sub-ranges, many of them across file boundaries.
            const picks = shuffled(range(t.metainfo.pieceCount), l.seed + 1).slice(0, 10);
            for (const p of picks) {
              const size = pieceLengthOf(t.metainfo, p);
              const offset = (l.seed + p) % size;
              const length = Math.min(size - offset, 1 + ((l.seed >> 3) % size));
              assert.deepEqual(
                await u.storage.read(p, offset, length),
                t.piece(p).subarray(offset, offset + length),
              );
            }
            for (let p = 0; p < t.metainfo.pieceCount; p++) assert.equal(await u.storage.mayHave(p), true);
            for (const [i, f] of t.metainfo.files.entries()) {
              assert.equal(await u.fileExists(i), !f.padding, `file ${i} exists iff it is not padding`);
            }
            await u.storage.flush();
            await u.storage.close();
            await assertAllPiecesReopened(u.reopen(), t);
          });
        }),
        { numRuns: h.runs ?? 40 },
      );
    });

    it('mayHaveAny: false while nothing is stored, true once a piece is; always true with padding', async () => {
      for (const files of [MULTI, PADDED]) {
        const t = makeTorrent({ pieceLength: 16, files, seed: 9 });
        await withStorage(t, async (u) => {
          const s = u.storage;
          await s.open();
          assert.equal(await s.mayHaveAny(), files === PADDED);
          await s.writePiece(t.metainfo.pieceCount - 1, t.piece(t.metainfo.pieceCount - 1));
          assert.equal(await s.mayHaveAny(), true);
          await s.close();
          const again = u.reopen();
          await again.open();
          assert.equal(await again.mayHaveAny(), true);
          await again.close();
        });
      }
    });

    it('creates zero-length files on open, and only those', async () => {
      const t = makeTorrent({ pieceLength: 16, files: MULTI });
      await withStorage(t, async (u) => {
        await u.storage.open();
        const exist = await Promise.all(t.metainfo.files.map((_, i) => u.fileExists(i)));
        assert.deepEqual(
          exist,
          t.metainfo.files.map((f) => f.length === 0),
        );
        await u.storage.open(); // idempotent
      });
    });

    it('rejects reads of data not stored, and mayHave says so', async () => {
      const t = makeTorrent({ pieceLength: 16, files: MULTI });
      await withStorage(t, async (u) => {
        const s = u.storage;
        await s.open();
        for (let p = 0; p < t.metainfo.pieceCount; p++) {
          assert.equal(await s.mayHave(p), false, `piece ${p}`);
          const err = await rejectsWithCode(s.readPiece(p), 'ERR_STORAGE_MISSING');
          assert.ok(err instanceof StorageError);
          assert.match(err.path, /\.bin$/);
        }
        // Pieces: 0 = a.bin + b.bin's start, 1 = b.bin, 2 = b.bin's end + c.bin's first byte,
        // 3 = the rest of c.bin. Writing piece 0 creates a.bin and b.bin (at full length, sparse).
        await s.writePiece(0, t.piece(0));
        assert.deepEqual(await s.readPiece(0), t.piece(0));
        assert.deepEqual(await Promise.all(range(4).map((p) => s.mayHave(p))), [true, true, true, false]);
        // Unwritten bytes of an existing file read as zeros (a sparse hole); hashing rejects them.
        assert.deepEqual(await s.read(2, 0, 15), Buffer.alloc(15));
        await rejectsWithCode(s.read(2, 0, 16), 'ERR_STORAGE_MISSING');
        await rejectsWithCode(s.read(3, 0, 4), 'ERR_STORAGE_MISSING');
      });
    });

    it('mayHave stays false for pieces whose files are all absent', async () => {
      const files: FileSpec[] = [
        { path: ['x'], length: 32 },
        { path: ['y'], length: 32 },
      ];
      const t = makeTorrent({ pieceLength: 16, files });
      await withStorage(t, async (u) => {
        await u.storage.open();
        await u.storage.writePiece(1, t.piece(1));
        assert.deepEqual(await Promise.all(range(4).map((p) => u.storage.mayHave(p))), [
          true,
          true,
          false,
          false,
        ]);
      });
    });

    it('handles the last short piece and checks every range', async () => {
      const t = makeTorrent({ pieceLength: 16, files: MULTI });
      await withStorage(t, async (u) => {
        const s = u.storage;
        await s.open();
        const last = t.metainfo.pieceCount - 1;
        assert.equal(pieceLengthOf(t.metainfo, last), 4);
        assert.equal(pieceLengthOf(t.metainfo, 0), 16);
        await rejectsWithCode(s.writePiece(last, Buffer.alloc(16)), 'ERR_STORAGE_RANGE');
        await rejectsWithCode(s.writePiece(0, Buffer.alloc(4)), 'ERR_STORAGE_RANGE');
        await s.writePiece(last, t.piece(last));
        assert.deepEqual(await s.readPiece(last), t.piece(last));
        assert.deepEqual(await s.read(last, 1, 3), t.piece(last).subarray(1));
        assert.deepEqual(await s.read(last, 4, 0), Buffer.alloc(0));
        for (const [p, o, l] of [
          [-1, 0, 1],
          [last + 1, 0, 1],
          [0.5, 0, 1],
          [last, 0, 5],
          [last, 4, 1],
          [0, -1, 2],
          [0, 0, -1],
          [0, 8, 9],
        ] as const) {
          await rejectsWithCode(s.read(p, o, l), 'ERR_STORAGE_RANGE');
        }
        await rejectsWithCode(s.readPiece(last + 1), 'ERR_STORAGE_RANGE');
        await rejectsWithCode(s.mayHave(-1), 'ERR_STORAGE_RANGE');
        assert.throws(() => pieceLengthOf(t.metainfo, last + 1), StorageError);
      });
    });

    it('never stores padding and reads it as zeros', async () => {
      const t = makeTorrent({ pieceLength: 16, files: PADDED });
      await withStorage(t, async (u) => {
        const s = u.storage;
        await s.open();
        // Pieces 4 and 5 are only padding: present from the start, all zeros.
        assert.deepEqual(await Promise.all(range(7).map((p) => s.mayHave(p))), [
          false,
          false,
          false,
          false,
          true,
          true,
          false,
        ]);
        assert.deepEqual(await s.readPiece(4), Buffer.alloc(16));
        assert.deepEqual(await s.read(5, 3, 10), Buffer.alloc(10));
        await writeAll(s, t, [6, 2, 0, 3, 1, 5, 4], 3);
        await assertAllPieces(s, t);
        assert.deepEqual(await s.read(0, 8, 8), Buffer.concat([t.data.subarray(8, 10), Buffer.alloc(6)]));
        for (const [i, f] of t.metainfo.files.entries()) assert.equal(await u.fileExists(i), !f.padding);
      });
    });

    it('rejects operations unless open; open and close are idempotent; reopening keeps the data', async () => {
      const t = makeTorrent({ pieceLength: 16, files: MULTI });
      await withStorage(t, async (u) => {
        const s = u.storage;
        await rejectsWithCode(s.readPiece(0), 'ERR_STORAGE_CLOSED');
        await rejectsWithCode(s.writePiece(0, t.piece(0)), 'ERR_STORAGE_CLOSED');
        await Promise.all([s.open(), s.open()]);
        await s.writePiece(1, t.piece(1));
        await s.flush();
        await Promise.all([s.close(), s.close()]);
        await s.close();
        await rejectsWithCode(s.read(1, 0, 1), 'ERR_STORAGE_CLOSED');
        await rejectsWithCode(s.mayHave(1), 'ERR_STORAGE_CLOSED');
        await rejectsWithCode(s.flush(), 'ERR_STORAGE_CLOSED');
        await s.open();
        assert.deepEqual(await s.readPiece(1), t.piece(1));
        // Reopened while the close is still in progress: the close finishes, then the open.
        const closing = s.close();
        await s.open();
        await closing;
        assert.deepEqual(await s.readPiece(1), t.piece(1));
      });
    });

    it('close waits for the writes in progress', async () => {
      const t = makeTorrent({ pieceLength: 16, files: MULTI, seed: 7 });
      await withStorage(t, async (u) => {
        const s = u.storage;
        await s.open();
        const writes = range(t.metainfo.pieceCount).map((p) => s.writePiece(p, t.piece(p)));
        await s.close();
        await Promise.all(writes); // all had started before close, so all finished
        await assertAllPiecesReopened(u.reopen(), t);
      });
    });

    it('checkExisting: complete, partial, corrupt and absent data', async () => {
      for (const files of [MULTI, PADDED]) {
        const t = makeTorrent({ pieceLength: 16, files, seed: 3 });
        const n = t.metainfo.pieceCount;
        const paddingOnly = files === PADDED ? [4, 5] : [];
        await withStorage(t, async (u) => {
          const s = u.storage;
          await s.open();
          const progress: number[] = [];
          const absent = await checkExisting(t.metainfo, s, hasher, {
            onProgress: (done, total) => {
              assert.equal(total, n);
              progress.push(done);
            },
          });
          assert.deepEqual([...absent.indices()], paddingOnly);
          // Nothing stored and no padding: the check skips every piece at once.
          assert.deepEqual(progress, files === PADDED ? range(n).map((i) => i + 1) : [n]);

          await s.writePiece(1, t.piece(1));
          await s.writePiece(n - 1, t.piece(n - 1));
          const partial = await checkExisting(t.metainfo, s, hasher);
          assert.deepEqual(
            [...partial.indices()],
            [...new Set([1, ...paddingOnly, n - 1])].sort((a, b) => a - b),
          );

          await writeAll(s, t, range(n), 4);
          const complete = await checkExisting(t.metainfo, s, hasher);
          assert.equal(complete.complete, true);

          const bad = Buffer.from(t.piece(2));
          bad[0]! ^= 0x01; // a data byte in both layouts (piece 2 of PADDED ends in padding)
          await s.writePiece(2, bad);
          const corrupt = await checkExisting(t.metainfo, s, hasher);
          assert.deepEqual(
            [...corrupt.indices()],
            range(n).filter((p) => p !== 2),
          );
        });
      }
    });
  });
}
