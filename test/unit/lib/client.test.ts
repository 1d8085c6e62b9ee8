// The library end to end over loopback: a Client seeds a folder (client.seed), a second Client adds
// it by magnet link with the seeder as a peer and downloads it byte-exact; events.once and events.on
// (with break) on a Torrent; pause, resume, remove with its data; file selection; bad input rejected
// with the CLI's line; a state directory reopened by a new Client.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Client, type ClientOptions, type Torrent } from '../../../src/lib/index.js';
import { parseMetainfo } from '../../../src/protocol/metainfo.js';
import { pseudoRandomBytes } from '../../interop/helpers.js';
import { tempDir } from '../api/helpers.js';

/** Network safety: loopback only, no DHT, no LSD. */
const LOOPBACK: ClientOptions = { port: 0, bind: '127.0.0.1', dht: false, lsd: false };

let root: string;
let cleanup: () => Promise<void>;
let folder: string;
const files = [
  { path: 'album/a.bin', bytes: pseudoRandomBytes(300_000, 11) },
  { path: 'album/sub/b.bin', bytes: pseudoRandomBytes(150_000, 12) },
  { path: 'album/c.bin', bytes: pseudoRandomBytes(40_000, 13) },
];
let seeder: Client;
let seeded: Torrent;

before(async () => {
  ({ dir: root, cleanup } = await tempDir('lib'));
  folder = join(root, 'src', 'album');
  for (const f of files) {
    await mkdir(join(root, 'src', f.path, '..'), { recursive: true });
    await writeFile(join(root, 'src', f.path), f.bytes);
  }
  seeder = new Client(LOOPBACK);
  await seeder.ready();
  seeded = await seeder.seed(folder, { pieceLength: 16384 });
  if (!seeded.done) await once(seeded, 'done');
});

after(async () => {
  await seeder?.close();
  await cleanup();
});

async function sameBytes(dir: string): Promise<void> {
  for (const f of files) assert.deepEqual(await readFile(join(dir, f.path)), f.bytes, f.path);
}

test('seed makes the torrent in memory; a second client adds its magnet and downloads it byte-exact', {
  timeout: 60_000,
}, async () => {
  assert.match(seeded.infoHash, /^[0-9a-f]{40}$/);
  assert.equal(seeded.name, 'album');
  assert.equal(seeded.length, 490_000);
  assert.equal(seeded.done, true);
  assert.equal(seeded.progress, 1);
  assert.ok(seeded.torrentFile instanceof Uint8Array && seeded.torrentFile.length > 0);
  assert.match(seeded.magnetURI, new RegExp(`^magnet:\\?xt=urn:btih:${seeded.infoHash}&dn=album`));
  // Bound to one address, the magnet carries this peer (x.pe).
  assert.ok(seeded.magnetURI.includes(`x.pe=127.0.0.1%3A${seeder.port}`), seeded.magnetURI);
  assert.deepEqual(
    seeded.files.map((f) => [f.name, f.path, f.length, f.offset]),
    [
      ['a.bin', 'album/a.bin', 300_000, 0],
      ['c.bin', 'album/c.bin', 40_000, 300_000],
      ['b.bin', 'album/sub/b.bin', 150_000, 340_000],
    ],
  );
  assert.equal(seeder.get(seeded.infoHash), seeded);
  assert.deepEqual(seeder.torrents, [seeded]);

  const leecher = new Client(LOOPBACK);
  try {
    await leecher.ready();
    assert.ok(leecher.port > 0);
    const dir = join(root, 'dl-magnet');
    const t = await leecher.add(seeded.magnetURI, { dir });
    assert.equal(t.infoHash, seeded.infoHash);
    assert.equal(leecher.get(t.infoHash.toUpperCase()), t);
    if (!t.hasMetadata) await once(t, 'metadata');
    assert.equal(t.files.length, 3);
    assert.equal(t.length, 490_000);
    if (!t.done) await once(t, 'done');
    assert.equal(t.done, true);
    assert.equal(t.progress, 1);
    assert.equal(t.timeRemaining, 0);
    assert.deepEqual(
      t.files.map((f) => f.progress),
      [1, 1, 1],
    );
    await sameBytes(dir);
    // The metadata came from the seeder: the same info dict (the .torrent's outer keys are not sent).
    assert.equal(parseMetainfo(t.torrentFile!).infoHashHex, seeded.infoHash);
  } finally {
    await leecher.close();
  }
});
