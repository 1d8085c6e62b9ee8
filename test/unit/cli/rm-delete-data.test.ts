// `bitswarm add --paused` then `bitswarm rm --delete-data` against a daemon, the probe of issue 19:
// the torrent's names collide with the user's own files and one of its folders is a symlink to
// another folder. Nothing of the user's is deleted, and the command says what it kept and why.
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createTorrent } from '../../../src/storage/create-torrent.js';
import { runBitswarm } from '../../interop/helpers.js';
import { startDaemonJson, tempDir } from '../api/helpers.js';

let root: string;
let cleanup: () => Promise<void>;

before(async () => {
  ({ dir: root, cleanup } = await tempDir('rm-delete-data'));
});
after(async () => {
  await cleanup();
});

test('rm --delete-data of a paused torrent never started: the user files and the files behind a symlink stay', {
  timeout: 60_000,
}, async () => {
  // The torrent: Documents/thesis.odt and photos/a.jpg.
  const src = join(root, 'src', 'home');
  await mkdir(join(src, 'Documents'), { recursive: true });
  await mkdir(join(src, 'photos'), { recursive: true });
  await writeFile(join(src, 'Documents', 'thesis.odt'), 'torrent thesis');
  await writeFile(join(src, 'photos', 'a.jpg'), 'torrent photo');
  const torrentPath = join(root, 'home.torrent');
  await writeFile(torrentPath, (await createTorrent(src, { creationDate: null, threads: 0 })).torrent);
  // The user's download folder: the same names, their own files; photos is a symlink elsewhere.
  const dl = join(root, 'dl');
  const elsewhere = join(root, 'elsewhere');
  await mkdir(join(dl, 'home', 'Documents'), { recursive: true });
  await writeFile(join(dl, 'home', 'Documents', 'thesis.odt'), 'my thesis');
  await mkdir(elsewhere);
  await writeFile(join(elsewhere, 'a.jpg'), 'my photo');
  await symlink(elsewhere, join(dl, 'home', 'photos'));

  const state = join(root, 'state');
  const d = await startDaemonJson({ state, downloads: dl });
  try {
    const added = await runBitswarm(['add', torrentPath, '--state', state, '-d', dl, '--paused', '--json']);
    assert.equal(added.code, 0, added.stderr);
    const hex = (JSON.parse(added.stdout) as { infoHash: string }).infoHash;
    const removed = await runBitswarm(['rm', hex.slice(0, 8), '--delete-data', '--state', state]);
    assert.equal(removed.code, 0, removed.stderr);
    assert.deepEqual(removed.stdout.split('\n'), [
      `removed ${hex}; deleted 0 file(s) and 0 folder(s) it created, kept 2:`,
      'kept home/Documents/thesis.odt: not created by this torrent',
      'kept home/photos/a.jpg: path goes through a symlink (home/photos)',
      '',
    ]);
    assert.equal(await readFile(join(dl, 'home', 'Documents', 'thesis.odt'), 'utf8'), 'my thesis');
    assert.equal(await readFile(join(elsewhere, 'a.jpg'), 'utf8'), 'my photo');
    assert.deepEqual((await readdir(join(dl, 'home'))).sort(), ['Documents', 'photos']);
  } finally {
    d.child.kill('SIGTERM');
    await d.exited;
  }
});
