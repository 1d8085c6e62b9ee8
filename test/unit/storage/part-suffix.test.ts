// Incomplete files named `<name>.part` (FileStorage's partSuffix): created under that name, renamed
// file by file once every piece touching the file is verified (pieces span file boundaries), found
// under either name after a restart, never for padding, never through a symlink that leads outside,
// never over an entry that took the final name meanwhile; the compliance suite holds with it on.

import assert from 'node:assert/strict';
import { lstat, mkdir, readdir, readFile, rename, stat, symlink, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { StorageErrorCode } from '../../../src/storage/errors.js';
import { type CreatedEntry, FileStorage } from '../../../src/storage/file-storage.js';
import { runStorageCompliance } from './compliance.js';
import { makeTempDir, makeTorrent, rejectsWithCode, removeTempDir, shuffled } from './helpers.js';

runStorageCompliance({
  name: 'FileStorage with .part names',
  create: async (metainfo) => {
    const dir = await makeTempDir();
    const exists = async (p: string): Promise<boolean> =>
      (await lstat(p).catch(() => undefined))?.isFile() ?? false;
    return {
      storage: new FileStorage(metainfo, dir, { maxOpenFiles: 2, partSuffix: true }),
      reopen: () => new FileStorage(metainfo, dir, { partSuffix: true }),
      fileExists: async (i) => {
        const p = join(dir, ...metainfo.files[i]!.path);
        return (await exists(p)) || (await exists(`${p}.part`));
      },
      cleanup: () => removeTempDir(dir),
    };
  },
  runs: 10,
});

async function inTemp(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await makeTempDir();
  try {
    await body(dir);
  } finally {
    await removeTempDir(dir);
  }
}

/** Every file under `dir`, relative, sorted ('/' between elements). */
async function listing(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else out.push(relative(dir, p).split('\\').join('/'));
    }
  };
  await walk(dir);
  return out.sort();
}

// 16 KiB pieces: a.bin is pieces 0–1, b.bin pieces 1–3, c.bin piece 3 only.
const t = makeTorrent({
  pieceLength: 16384,
  files: [
    { path: ['dir', 'a.bin'], length: 20_000 },
    { path: ['b.bin'], length: 30_000 },
    { path: ['c.bin'], length: 10_000 },
  ],
  seed: 7,
});

describe('FileStorage partSuffix', () => {
  it('names a file .part until every piece touching it is verified, each file on its own', () =>
    inTemp(async (dir) => {
      const s = new FileStorage(t.metainfo, dir, { partSuffix: true, maxOpenFiles: 1 });
      await s.open();
      const step = async (piece: number): Promise<string[]> => {
        await s.writePiece(piece, t.piece(piece));
        s.pieceVerified(piece);
        await s.flush();
        return listing(dir);
      };
      assert.deepEqual(await step(0), ['content/dir/a.bin.part']);
      assert.deepEqual(await step(1), ['content/b.bin.part', 'content/dir/a.bin'], 'a.bin is complete');
      assert.deepEqual(await step(3), ['content/b.bin.part', 'content/c.bin', 'content/dir/a.bin']);
      // Pieces that span a renamed file and a .part one read back whole.
      assert.deepEqual(await s.readPiece(1), t.piece(1));
      assert.deepEqual(await s.readPiece(3), t.piece(3));
      assert.deepEqual(await step(2), ['content/b.bin', 'content/c.bin', 'content/dir/a.bin']);
      s.pieceVerified(2); // a repeat changes nothing
      await s.close();
      assert.deepEqual(await readFile(join(dir, 'content', 'b.bin')), t.data.subarray(20_000, 50_000));
      assert.deepEqual(await readFile(join(dir, 'content', 'dir', 'a.bin')), t.data.subarray(0, 20_000));
    }));

  it('a restart finds the data under either name; a file found under its own name keeps it', () =>
    inTemp(async (dir) => {
      const first = new FileStorage(t.metainfo, dir, { partSuffix: true });
      await first.open();
      await first.writePiece(0, t.piece(0));
      await first.close(); // stopped before piece 0 was reported verified
      assert.deepEqual(await listing(dir), ['content/dir/a.bin.part']);

      const again = new FileStorage(t.metainfo, dir, { partSuffix: true });
      await again.open();
      assert.equal(await again.mayHaveAny(), true);
      assert.equal(await again.mayHave(0), true);
      assert.deepEqual(await again.readPiece(0), t.piece(0), 'read from a.bin.part');
      await again.close();

      // The user renamed it back: found there, written there, no second file.
      await rename(join(dir, 'content', 'dir', 'a.bin.part'), join(dir, 'content', 'dir', 'a.bin'));
      const created: CreatedEntry[] = [];
      const third = new FileStorage(t.metainfo, dir, { partSuffix: true, onCreate: (c) => created.push(c) });
      await third.open();
      assert.deepEqual(await third.readPiece(0), t.piece(0));
      await third.writePiece(1, t.piece(1));
      third.pieceVerified(0);
      third.pieceVerified(1);
      await third.flush();
      assert.deepEqual(await listing(dir), ['content/b.bin.part', 'content/dir/a.bin']);
      await third.close();
      assert.deepEqual(
        created.filter((c) => c.kind === 'file').map((c) => c.kind === 'file' && c.file),
        [1],
        'only b.bin was created',
      );
    }));

  it('complete .part data found at open is renamed once verified; a complete file is never made .part', () =>
    inTemp(async (dir) => {
      await mkdir(join(dir, 'content', 'dir'), { recursive: true });
      await writeFile(join(dir, 'content', 'dir', 'a.bin'), t.data.subarray(0, 20_000));
      await writeFile(join(dir, 'content', 'c.bin.part'), t.data.subarray(50_000));
      const s = new FileStorage(t.metainfo, dir, { partSuffix: true });
      await s.open();
      // What a check does: read, then report the pieces that verified (0 and 1 are a.bin's, but
      // piece 1 also needs b.bin: only 0 verifies; c.bin's piece 3 needs b.bin too).
      assert.deepEqual(await s.readPiece(0), t.piece(0));
      s.pieceVerified(0);
      await s.writePiece(1, t.piece(1));
      await s.writePiece(2, t.piece(2));
      await s.writePiece(3, t.piece(3));
      for (const p of [1, 2, 3]) s.pieceVerified(p);
      await s.close(); // waits for the renames too
      assert.deepEqual(await listing(dir), ['content/b.bin', 'content/c.bin', 'content/dir/a.bin']);
      assert.deepEqual(await readFile(join(dir, 'content', 'c.bin')), t.data.subarray(50_000));
    }));

  it('partSuffix off writes files under their own names', () =>
    inTemp(async (dir) => {
      const s = new FileStorage(t.metainfo, dir);
      await s.open();
      await s.writePiece(0, t.piece(0));
      await s.writePiece(3, t.piece(3));
      await s.flush();
      assert.deepEqual(await listing(dir), ['content/b.bin', 'content/c.bin', 'content/dir/a.bin']);
      await s.close();
    }));

  it('padding files never get a name; zero-length files get their own name at open', () =>
    inTemp(async (dir) => {
      const p = makeTorrent({
        pieceLength: 16384,
        files: [
          { path: ['x.bin'], length: 10_000 },
          { path: ['.pad', '6384'], length: 6384, padding: true },
          { path: ['empty.txt'], length: 0 },
          { path: ['y.bin'], length: 20_000 },
        ],
      });
      const s = new FileStorage(p.metainfo, dir, { partSuffix: true });
      await s.open();
      assert.deepEqual(await listing(dir), ['content/empty.txt']);
      for (let i = 0; i < p.metainfo.pieceCount; i++) await s.writePiece(i, p.piece(i));
      await s.flush();
      assert.deepEqual(await listing(dir), ['content/empty.txt', 'content/x.bin.part', 'content/y.bin.part']);
      for (let i = 0; i < p.metainfo.pieceCount; i++) s.pieceVerified(i);
      await s.close();
      assert.deepEqual(await listing(dir), ['content/empty.txt', 'content/x.bin', 'content/y.bin']);
    }));

  it('a torrent with both x and x.part: x never uses the other file as its .part', () =>
    inTemp(async (dir) => {
      const both = makeTorrent({
        pieceLength: 16384,
        files: [
          { path: ['x'], length: 20_000 },
          { path: ['x.part'], length: 20_000 },
        ],
        seed: 3,
      });
      const s = new FileStorage(both.metainfo, dir, { partSuffix: true });
      await s.open();
      // Piece 2 is x.part's alone: it is created, as x.part.part while incomplete.
      await s.writePiece(2, both.piece(2));
      await s.flush();
      assert.deepEqual(await listing(dir), ['content/x.part.part']);
      assert.equal(await s.mayHave(0), false, 'x has no data: x.part is not its');
      await s.writePiece(0, both.piece(0));
      await s.flush();
      assert.deepEqual(await listing(dir), ['content/x', 'content/x.part.part'], 'x under its own name');
      await s.writePiece(1, both.piece(1));
      for (let i = 0; i < 3; i++) s.pieceVerified(i);
      await s.close();
      assert.deepEqual(await listing(dir), ['content/x', 'content/x.part']);
      assert.deepEqual(await readFile(join(dir, 'content', 'x.part')), both.data.subarray(20_000));
    }));

  it('a name with no room for .part under the length limit is written under its own name', () =>
    inTemp(async (dir) => {
      const long = 'n'.repeat(252); // 252 + '.part' is past the usual 255-byte limit
      const l = makeTorrent({
        name: long,
        pieceLength: 16384,
        files: [{ path: [long], length: 1000 }],
        seed: 4,
      });
      const s = new FileStorage(l.metainfo, dir, { partSuffix: true });
      await s.open();
      await s.writePiece(0, l.piece(0));
      await s.close();
      assert.deepEqual(await listing(dir), [long]);
    }));

  it('renames while other pieces are written and read at once, with few handles, in any order', () =>
    inTemp(async (dir) => {
      const sizes = [5000, 40_000, 1, 16_384, 70_000, 3000, 3000, 20_000, 9000, 33_333];
      const many = makeTorrent({
        pieceLength: 16384,
        files: sizes.map((length, i) => ({ path: [`d${i % 3}`, `f${i}.bin`], length })),
        seed: 9,
      });
      const s = new FileStorage(many.metainfo, dir, { partSuffix: true, maxOpenFiles: 2 });
      await s.open();
      const order = shuffled([...Array(many.metainfo.pieceCount).keys()], 5);
      const done: number[] = [];
      await Promise.all(
        order.map(async (piece, k) => {
          await new Promise((r) => setTimeout(r, k % 4));
          await s.writePiece(piece, many.piece(piece));
          s.pieceVerified(piece);
          done.push(piece);
          // Read back pieces verified so far while their files are being renamed.
          for (const p of done.slice(-3)) assert.deepEqual(await s.readPiece(p), many.piece(p));
        }),
      );
      await s.close();
      const names = many.metainfo.files.map((f) => f.path.join('/')).sort();
      assert.deepEqual(await listing(dir), names);
      for (const f of many.metainfo.files) {
        assert.deepEqual(
          await readFile(join(dir, ...f.path)),
          many.data.subarray(f.offset, f.offset + f.length),
        );
      }
    }));

  it('a .part symlink that leads outside is refused and never written through', () =>
    inTemp(async (dir) => {
      const outside = join(dir, 'outside.bin');
      await writeFile(outside, 'not yours');
      const root = join(dir, 'dl');
      await mkdir(join(root, 'content', 'dir'), { recursive: true });
      await symlink(outside, join(root, 'content', 'dir', 'a.bin.part'));
      const s = new FileStorage(t.metainfo, root, { partSuffix: true });
      await s.open();
      await rejectsWithCode(s.writePiece(0, t.piece(0)), StorageErrorCode.Symlink);
      await rejectsWithCode(s.read(0, 0, 10), StorageErrorCode.Symlink);
      s.pieceVerified(0);
      s.pieceVerified(1);
      await s.close();
      assert.equal(await readFile(outside, 'utf8'), 'not yours');
      assert.ok((await lstat(join(root, 'content', 'dir', 'a.bin.part'))).isSymbolicLink(), 'not renamed');
      await assert.rejects(lstat(join(root, 'content', 'dir', 'a.bin')), { code: 'ENOENT' });
    }));

  it('the rename keeps the created inode and never replaces a file that took the name meanwhile', () =>
    inTemp(async (dir) => {
      const created = new Map<number, CreatedEntry>();
      const s = new FileStorage(t.metainfo, dir, {
        partSuffix: true,
        onCreate: (c) => c.kind === 'file' && created.set(c.file, c),
      });
      await s.open();
      for (let i = 0; i < 4; i++) await s.writePiece(i, t.piece(i));
      await s.flush();
      // Someone puts their own c.bin there while the torrent downloads.
      await writeFile(join(dir, 'content', 'c.bin'), 'mine');
      for (let i = 0; i < 4; i++) s.pieceVerified(i);
      await s.close();
      assert.equal(await readFile(join(dir, 'content', 'c.bin'), 'utf8'), 'mine');
      assert.deepEqual(await readFile(join(dir, 'content', 'c.bin.part')), t.data.subarray(50_000));
      const b = created.get(1);
      assert.ok(b?.kind === 'file');
      const st = await stat(join(dir, 'content', 'b.bin'));
      assert.equal(st.ino, b.ino, 'b.bin is the file the storage created as b.bin.part');
      assert.equal(st.birthtimeMs, b.born);
    }));
});
