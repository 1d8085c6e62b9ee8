// FileStorage: the compliance suite, then what only a disk has: sparse files, the handle LRU's bound,
// path safety (escaping paths, symlinks, wrong types), short files and flushing.

import assert from 'node:assert/strict';
import { readdirSync, readlinkSync } from 'node:fs';
import { lstat, mkdir, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Metainfo } from '../../../src/protocol/metainfo.js';
import { StorageError } from '../../../src/storage/errors.js';
import { FileStorage } from '../../../src/storage/file-storage.js';
import { MULTI, runStorageCompliance } from './compliance.js';
import { makeTempDir, makeTorrent, rejectsWithCode, removeTempDir, shuffled } from './helpers.js';

runStorageCompliance({
  name: 'FileStorage',
  create: async (metainfo) => {
    const dir = await makeTempDir();
    return {
      // A small handle bound, so eviction and reopening run all the time.
      storage: new FileStorage(metainfo, dir, { maxOpenFiles: 2 }),
      reopen: () => new FileStorage(metainfo, dir),
      fileExists: async (i) => {
        const st = await lstat(join(dir, ...metainfo.files[i]!.path)).catch(() => undefined);
        return st?.isFile() ?? false;
      },
      cleanup: () => removeTempDir(dir),
    };
  },
  runs: 30,
});

// The same contract with every read and write handed to libuv's thread pool (a slow disk's path).
runStorageCompliance({
  name: 'FileStorage, reads and writes through the thread pool',
  create: async (metainfo) => {
    const dir = await makeTempDir();
    return {
      storage: new FileStorage(metainfo, dir, { maxOpenFiles: 2, inlineBytes: 0 }),
      reopen: () => new FileStorage(metainfo, dir, { inlineBytes: 0 }),
      fileExists: async (i) => {
        const st = await lstat(join(dir, ...metainfo.files[i]!.path)).catch(() => undefined);
        return st?.isFile() ?? false;
      },
      cleanup: () => removeTempDir(dir),
    };
  },
  runs: 10,
});

/** Runs `body` with a fresh temp folder, removed afterwards. */
async function inTemp(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await makeTempDir();
  try {
    await body(dir);
  } finally {
    await removeTempDir(dir);
  }
}

/** File descriptors of this process whose target is inside `dir` (Linux /proc). */
function fdsInside(dir: string): number {
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`).startsWith(`${dir}/`)) n++;
    } catch {
      // closed while we looked
    }
  }
  return n;
}

const hasProcFd = await stat('/proc/self/fd').then(
  () => true,
  () => false,
);

describe('FileStorage on disk', () => {
  it('creates sparse files: the length is set, no zeros are written', async () => {
    await inTemp(async (dir) => {
      const size = 32 * 1024 * 1024;
      const t = makeTorrent({
        name: 'big.bin',
        pieceLength: 1024 * 1024,
        files: [{ path: ['big.bin'], length: size }],
      });
      const s = new FileStorage(t.metainfo, dir);
      await s.open();
      const last = t.metainfo.pieceCount - 1;
      await s.writePiece(last, t.piece(last));
      await s.flush();
      const st = await stat(join(dir, 'big.bin'));
      assert.equal(st.size, size);
      assert.ok(st.blocks * 512 < 4 * 1024 * 1024, `${st.blocks} blocks of 512 bytes allocated`);
      assert.deepEqual(await s.readPiece(last), t.piece(last));
      assert.deepEqual(await s.readPiece(0), Buffer.alloc(1024 * 1024)); // a hole reads as zeros
      await s.close();
    });
  });

  it('sends reads and writes to the thread pool after 3 slow inline ones, and keeps every byte', async () => {
    await inTemp(async (dir) => {
      const t = makeTorrent({ pieceLength: 16, files: MULTI, seed: 5 });
      // Every inline call counts as slow.
      const s = new FileStorage(t.metainfo, dir, { inlineSlowMs: -1 });
      await s.open();
      const n = t.metainfo.pieceCount;
      assert.ok(n >= 4, `${n} pieces`);
      // A piece may span files: one write per file slice, so count slices, not pieces.
      await s.writePiece(0, t.piece(0));
      for (let p = 1; p < n && !s.inlineWritesPaused; p++) await s.writePiece(p, t.piece(p));
      assert.equal(s.inlineWritesPaused, true);
      for (let p = 0; p < n; p++) await s.writePiece(p, t.piece(p));
      assert.equal(s.inlineReadsPaused, false);
      for (let p = 0; p < n; p++) assert.deepEqual(await s.readPiece(p), t.piece(p), `piece ${p}`);
      assert.equal(s.inlineReadsPaused, true);
      for (let p = 0; p < n; p++) assert.deepEqual(await s.readPiece(p), t.piece(p), `piece ${p}, pooled`);
      await s.close();
    });
  });

  it('does not pause inline reads or writes while they are fast', async () => {
    await inTemp(async (dir) => {
      const t = makeTorrent({ pieceLength: 16, files: MULTI, seed: 6 });
      const s = new FileStorage(t.metainfo, dir, { inlineSlowMs: 60_000 });
      await s.open();
      for (let p = 0; p < t.metainfo.pieceCount; p++) await s.writePiece(p, t.piece(p));
      for (let p = 0; p < t.metainfo.pieceCount; p++) assert.deepEqual(await s.readPiece(p), t.piece(p));
      assert.equal(s.inlineWritesPaused, false);
      assert.equal(s.inlineReadsPaused, false);
      await s.close();
    });
  });

  it('refuses a negative inlineBytes', () => {
    const t = makeTorrent({ pieceLength: 16, files: MULTI });
    assert.throws(() => new FileStorage(t.metainfo, '/nonexistent', { inlineBytes: -1 }), RangeError);
  });

  it('keeps at most maxOpenFiles handles open (200 files, bound 8)', { skip: !hasProcFd }, async () => {
    await inTemp(async (dir) => {
      const files = Array.from({ length: 200 }, (_, i) => ({
        path: [`d${i % 7}`, `f${i}.bin`],
        length: 100 + (i % 13),
      }));
      const t = makeTorrent({ pieceLength: 64, files, seed: 11 });
      const s = new FileStorage(t.metainfo, dir, { maxOpenFiles: 8 });
      await s.open();
      let done = false;
      let maxFds = 0;
      let maxCount = 0;
      const sampler = (async () => {
        while (!done) {
          maxFds = Math.max(maxFds, fdsInside(dir));
          maxCount = Math.max(maxCount, s.openFileCount);
          await new Promise((resolve) => setImmediate(resolve));
        }
      })();
      const n = t.metainfo.pieceCount;
      try {
        await Promise.all(
          shuffled(
            Array.from({ length: n }, (_, i) => i),
            5,
          ).map((p) => s.writePiece(p, t.piece(p))),
        );
        const reads = await Promise.all(Array.from({ length: n }, (_, p) => s.readPiece(p)));
        for (const [p, r] of reads.entries()) assert.deepEqual(r, t.piece(p), `piece ${p}`);
        await s.flush();
      } finally {
        done = true;
        await sampler;
      }
      assert.ok(maxFds <= 8, `at most 8 descriptors open, saw ${maxFds}`);
      assert.ok(maxCount <= 8, `openFileCount at most 8, saw ${maxCount}`);
      assert.ok(maxFds >= 2, `work ran in parallel over several handles (saw ${maxFds})`);
      await s.close();
      assert.equal(fdsInside(dir), 0);
      assert.equal(s.openFileCount, 0);
    });
  });

  it('refuses torrent paths that would leave the download directory, before writing anything', async () => {
    await inTemp(async (parent) => {
      const dir = join(parent, 'downloads');
      const t = makeTorrent({ pieceLength: 16, files: MULTI });
      const unsafe = [
        ['..', 'evil'],
        ['content', '..', '..', 'evil'],
        ['/etc/evil'],
        ['a\\..\\..\\evil'],
        [],
        [''],
        ['.'],
        ['a\0b'],
      ];
      for (const path of unsafe) {
        const m: Metainfo = {
          ...t.metainfo,
          files: t.metainfo.files.map((f, i) => (i === 1 ? { ...f, path } : f)),
        };
        assert.throws(
          () => new FileStorage(m, dir),
          (err: unknown) => err instanceof StorageError && err.code === 'ERR_STORAGE_PATH_ESCAPE',
          JSON.stringify(path),
        );
      }
      // Only the first file's path escapes: still refused as a whole.
      const single: Metainfo = {
        ...t.metainfo,
        files: [{ ...t.metainfo.files[1]!, path: ['..', '..', 'x'] }],
      };
      assert.throws(() => new FileStorage(single, dir), StorageError);
      assert.deepEqual(await readdir(parent), []);
    });
  });

  it('does not follow a folder symlink out of the download directory', async () => {
    await inTemp(async (tmp) => {
      const dir = join(tmp, 'dl');
      const outside = join(tmp, 'outside');
      await mkdir(dir);
      await mkdir(outside);
      await mkdir(join(dir, 'content', 'sub'), { recursive: true });
      await symlink(outside, join(dir, 'content', 'sub', 'dir'));
      const t = makeTorrent({ pieceLength: 16, files: MULTI }); // has content/sub/dir/b.bin
      const s = new FileStorage(t.metainfo, dir);
      await s.open();
      const err = await rejectsWithCode(s.writePiece(1, t.piece(1)), 'ERR_STORAGE_SYMLINK');
      assert.match(err.message, /outside the download directory/);
      await rejectsWithCode(s.readPiece(1), 'ERR_STORAGE_SYMLINK');
      assert.deepEqual(await readdir(outside), []);
      await s.close();
    });
  });

  it('refuses to open when a zero-length file would be created through an outside symlink', async () => {
    await inTemp(async (tmp) => {
      const dir = join(tmp, 'dl');
      const outside = join(tmp, 'outside');
      await mkdir(join(dir, 'content'), { recursive: true });
      await mkdir(outside);
      await symlink(outside, join(dir, 'content', 'sub')); // MULTI has content/sub/empty-last
      const t = makeTorrent({ pieceLength: 16, files: MULTI });
      await rejectsWithCode(new FileStorage(t.metainfo, dir).open(), 'ERR_STORAGE_SYMLINK');
      assert.deepEqual(await readdir(outside), []);
    });
  });

  it('does not write or read through a file symlink that leads outside, or nowhere', async () => {
    await inTemp(async (tmp) => {
      const dir = join(tmp, 'dl');
      const outside = join(tmp, 'outside');
      await mkdir(dir);
      await mkdir(outside);
      const secret = Buffer.from('0123456789abcdef0123456789abcdef');
      await writeFile(join(outside, 'secret'), secret);
      const t = makeTorrent({
        name: 'file.bin',
        pieceLength: 16,
        files: [{ path: ['file.bin'], length: 32 }],
      });
      await symlink(join(outside, 'secret'), join(dir, 'file.bin'));
      const s = new FileStorage(t.metainfo, dir);
      await s.open();
      await rejectsWithCode(s.writePiece(0, t.piece(0)), 'ERR_STORAGE_SYMLINK');
      await rejectsWithCode(s.readPiece(0), 'ERR_STORAGE_SYMLINK');
      assert.deepEqual(await readFile(join(outside, 'secret')), secret);
      await s.close();

      // A dangling link: following it would create the file outside.
      await symlink(join(outside, 'new-file'), join(dir, 'dangling.bin'));
      const t2 = makeTorrent({
        name: 'dangling.bin',
        pieceLength: 16,
        files: [{ path: ['dangling.bin'], length: 32 }],
      });
      const s2 = new FileStorage(t2.metainfo, dir);
      await s2.open();
      await rejectsWithCode(s2.writePiece(0, t2.piece(0)), 'ERR_STORAGE_SYMLINK');
      assert.deepEqual(await readdir(outside), ['secret']);
      await s2.close();
    });
  });

  it('follows symlinks that stay inside the download directory', async () => {
    await inTemp(async (dir) => {
      await mkdir(join(dir, 'elsewhere', 'real'), { recursive: true });
      await symlink(join(dir, 'elsewhere', 'real'), join(dir, 'content'));
      const t = makeTorrent({ pieceLength: 16, files: MULTI });
      const s = new FileStorage(t.metainfo, dir);
      await s.open();
      for (let p = 0; p < t.metainfo.pieceCount; p++) await s.writePiece(p, t.piece(p));
      for (let p = 0; p < t.metainfo.pieceCount; p++) assert.deepEqual(await s.readPiece(p), t.piece(p));
      assert.deepEqual(await readFile(join(dir, 'elsewhere', 'real', 'a.bin')), t.data.subarray(0, 10));
      await s.close();
    });
  });

  it('reports a folder where a file belongs, and a file where a folder belongs', async () => {
    await inTemp(async (dir) => {
      const t = makeTorrent({ pieceLength: 16, files: MULTI });
      await mkdir(join(dir, 'content', 'a.bin'), { recursive: true });
      await writeFile(join(dir, 'content', 'sub'), 'not a folder');
      const s = new FileStorage(t.metainfo, dir);
      await rejectsWithCode(s.open(), 'ERR_STORAGE_WRONG_TYPE'); // content/sub/empty-last
      await rm(join(dir, 'content', 'sub'));
      await s.open();
      const err = await rejectsWithCode(s.writePiece(0, t.piece(0)), 'ERR_STORAGE_WRONG_TYPE');
      assert.ok(err instanceof StorageError && err.path.endsWith('a.bin'));
      await s.close();
    });
  });

  it('a file shorter than the torrent says: its missing bytes reject, mayHave stays true', async () => {
    await inTemp(async (dir) => {
      const t = makeTorrent({ name: 'f.bin', pieceLength: 16, files: [{ path: ['f.bin'], length: 64 }] });
      await writeFile(join(dir, 'f.bin'), t.data.subarray(0, 20));
      const s = new FileStorage(t.metainfo, dir);
      await s.open();
      assert.deepEqual(await s.readPiece(0), t.piece(0));
      assert.deepEqual(await s.read(1, 0, 4), t.piece(1).subarray(0, 4));
      await rejectsWithCode(s.readPiece(1), 'ERR_STORAGE_MISSING');
      assert.equal(await s.mayHave(1), true);
      assert.equal(await s.mayHave(2), false);
      // Writing extends it to its full length (sparse), keeping what was there.
      await s.writePiece(3, t.piece(3));
      assert.equal((await stat(join(dir, 'f.bin'))).size, 64);
      assert.deepEqual(await s.readPiece(0), t.piece(0));
      await s.close();
    });
  });

  it('mayHave looks a file up once for many pieces, and sees a file written by another program later', async () => {
    await inTemp(async (dir) => {
      const t = makeTorrent({
        name: 'f.bin',
        pieceLength: 16,
        files: [{ path: ['f.bin'], length: 16 * 500 }],
      });
      const s = new FileStorage(t.metainfo, dir);
      await s.open();
      const t0 = performance.now();
      for (let p = 0; p < 500; p++) assert.equal(await s.mayHave(p), false);
      const ms = performance.now() - t0;
      await writeFile(join(dir, 'f.bin'), t.data);
      await new Promise((resolve) => setTimeout(resolve, 1100)); // the size hint lasts a second
      assert.equal(await s.mayHave(499), true);
      assert.ok(ms < 1000, `500 lookups of a missing file took ${ms.toFixed(0)} ms`);
      await s.close();
    });
  });

  it('flush syncs files whose handles were already evicted', async () => {
    await inTemp(async (dir) => {
      const files = Array.from({ length: 6 }, (_, i) => ({ path: [`f${i}`], length: 40 }));
      const t = makeTorrent({ pieceLength: 32, files });
      const s = new FileStorage(t.metainfo, dir, { maxOpenFiles: 1 });
      await s.open();
      for (let p = 0; p < t.metainfo.pieceCount; p++) await s.writePiece(p, t.piece(p));
      assert.equal(s.openFileCount, 1);
      await s.flush();
      await s.flush(); // nothing left to do
      await s.close();
      const again = new FileStorage(t.metainfo, dir);
      await again.open();
      for (let p = 0; p < t.metainfo.pieceCount; p++) assert.deepEqual(await again.readPiece(p), t.piece(p));
      await again.close();
    });
  });

  it('serves a read-only file (seeding from read-only data)', {
    skip: process.getuid?.() === 0,
  }, async () => {
    await inTemp(async (dir) => {
      const t = makeTorrent({ name: 'ro.bin', pieceLength: 16, files: [{ path: ['ro.bin'], length: 20 }] });
      await writeFile(join(dir, 'ro.bin'), t.data, { mode: 0o444 });
      const s = new FileStorage(t.metainfo, dir);
      await s.open();
      assert.deepEqual(await s.readPiece(1), t.piece(1));
      const err = await rejectsWithCode(s.writePiece(0, t.piece(0)), 'ERR_STORAGE_IO');
      assert.equal((err as StorageError).osCode, 'EACCES');
      await s.close();
    });
  });

  it('leaves a file longer than the torrent says as it is', async () => {
    await inTemp(async (dir) => {
      const t = makeTorrent({ name: 'f.bin', pieceLength: 16, files: [{ path: ['f.bin'], length: 20 }] });
      await writeFile(join(dir, 'f.bin'), Buffer.alloc(50, 7));
      const s = new FileStorage(t.metainfo, dir);
      await s.open();
      await s.writePiece(1, t.piece(1));
      await s.close();
      const after = await readFile(join(dir, 'f.bin'));
      assert.deepEqual(after, Buffer.concat([Buffer.alloc(16, 7), t.piece(1), Buffer.alloc(30, 7)]));
    });
  });
});
