// moveTorrentData: a torrent's files move by rename, or by copy and delete across file systems (the
// mtime kept, so resume data stays valid); it never overwrites, and a failure half way moves back
// what it had moved.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Metainfo } from '../../../src/protocol/metainfo.js';
import { moveTorrentData } from '../../../src/session/manager.js';

/** Only what moveTorrentData reads of a metainfo: the files' paths. */
function filesOf(paths: string[][]): Metainfo {
  return { files: paths.map((path) => ({ path, padding: false, length: 1 })) } as unknown as Metainfo;
}

async function tree(root: string, files: Record<string, string>): Promise<void> {
  for (const [p, text] of Object.entries(files)) {
    await mkdir(join(root, p, '..'), { recursive: true });
    await writeFile(join(root, p), text);
  }
}

const gone = (p: string) =>
  stat(p).then(
    () => false,
    () => true,
  );

test('moves the files (a .part one as it is) and removes the folders it empties', async () => {
  const base = await mkdtemp(join(tmpdir(), 'bitswarm-move-'));
  try {
    const from = join(base, 'a');
    const to = join(base, 'b');
    await tree(from, { 't/x.bin': 'x', 't/sub/y.bin.part': 'y', 'other.txt': 'keep' });
    await moveTorrentData(
      filesOf([
        ['t', 'x.bin'],
        ['t', 'sub', 'y.bin'],
      ]),
      from,
      to,
    );
    assert.equal(await readFile(join(to, 't/x.bin'), 'utf8'), 'x');
    assert.equal(await readFile(join(to, 't/sub/y.bin.part'), 'utf8'), 'y');
    assert.ok(await gone(join(from, 't')), 'the emptied folders are removed');
    assert.equal(await readFile(join(from, 'other.txt'), 'utf8'), 'keep', 'nothing else is touched');
  } finally {
    await rm(base, { recursive: true, force: true });
  }
});

test('across file systems: copy and delete, the mtime kept', async (t) => {
  const a = await mkdtemp(join(tmpdir(), 'bitswarm-move-'));
  const shm = await mkdtemp('/dev/shm/bitswarm-move-').catch(() => undefined);
  if (!shm) {
    t.skip('no /dev/shm here');
    await rm(a, { recursive: true, force: true });
    return;
  }
  try {
    if ((await stat(a)).dev === (await stat(shm)).dev)
      t.diagnostic('/dev/shm is on the same device: rename only');
    await tree(a, { 't/x.bin': 'cross' });
    const before = await stat(join(a, 't/x.bin'));
    await moveTorrentData(filesOf([['t', 'x.bin']]), a, shm);
    const after = await stat(join(shm, 't/x.bin'));
    assert.equal(await readFile(join(shm, 't/x.bin'), 'utf8'), 'cross');
    assert.ok(Math.abs(after.mtimeMs - before.mtimeMs) <= 1, `mtime ${after.mtimeMs} vs ${before.mtimeMs}`);
    assert.ok(await gone(join(a, 't/x.bin')));
  } finally {
    await rm(a, { recursive: true, force: true });
    await rm(shm, { recursive: true, force: true });
  }
});

test('refuses to overwrite; a failure half way moves everything back', async () => {
  const base = await mkdtemp(join(tmpdir(), 'bitswarm-move-'));
  try {
    const from = join(base, 'a');
    const to = join(base, 'b');
    await tree(from, { 't/x.bin': 'x', 't/sub/y.bin': 'y' });
    await tree(to, { 't/x.bin': 'theirs' });
    await assert.rejects(
      moveTorrentData(
        filesOf([
          ['t', 'x.bin'],
          ['t', 'sub', 'y.bin'],
        ]),
        from,
        to,
      ),
      /x\.bin exists already/,
    );
    assert.equal(await readFile(join(from, 't/x.bin'), 'utf8'), 'x');
    assert.equal(await readFile(join(to, 't/x.bin'), 'utf8'), 'theirs');
    // x.bin moves, then the folder for y.bin cannot be made (a file stands in its way): x.bin comes back.
    const to2 = join(base, 'c');
    await tree(to2, { 't/sub': 'a file, not a folder' });
    await assert.rejects(
      moveTorrentData(
        filesOf([
          ['t', 'x.bin'],
          ['t', 'sub', 'y.bin'],
        ]),
        from,
        to2,
      ),
    );
    assert.equal(await readFile(join(from, 't/x.bin'), 'utf8'), 'x', 'moved back');
    assert.equal(await readFile(join(from, 't/sub/y.bin'), 'utf8'), 'y');
    assert.ok(await gone(join(to2, 't/x.bin')));
  } finally {
    await rm(base, { recursive: true, force: true });
  }
});
