// The library's streams end to end: a Client seeds (rate-limited), a second Client adds it by magnet
// link and reads ranges through file.createReadStream while the download runs, iterates a file's
// bytes, and serves them with client.createServer() (Range, 206).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdir, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Client, type ClientOptions, type Torrent } from '../../../src/lib/index.js';
import { pseudoRandomBytes } from '../../interop/helpers.js';
import { tempDir } from '../api/helpers.js';

const LOOPBACK: ClientOptions = { port: 0, bind: '127.0.0.1', dht: false, lsd: false };

let root: string;
let cleanup: () => Promise<void>;
let seeder: Client;
let seeded: Torrent;
const movie = pseudoRandomBytes(1_500_000, 21);
const notes = pseudoRandomBytes(5_000, 22);

before(async () => {
  ({ dir: root, cleanup } = await tempDir('lib-stream'));
  await mkdir(join(root, 'src', 'show'), { recursive: true });
  await writeFile(join(root, 'src', 'show', 'movie.mp4'), movie);
  await writeFile(join(root, 'src', 'show', 'notes.txt'), notes);
  seeder = new Client({ ...LOOPBACK, uploadLimitBytesPerSec: 512 * 1024 });
  await seeder.ready();
  seeded = await seeder.seed(join(root, 'src', 'show'), { pieceLength: 32 * 1024 });
  if (!seeded.done) await once(seeded, 'done');
});

after(async () => {
  await seeder.close();
  await cleanup();
});

test('createReadStream reads ranges while the download runs; async iteration; createServer serves Range', {
  timeout: 120_000,
}, async () => {
  const leecher = new Client(LOOPBACK);
  try {
    await leecher.ready();
    const t = await leecher.add(seeded.magnetURI, {
      dir: join(root, 'dl'),
      peers: [`127.0.0.1:${seeder.port}`],
    });
    if (!t.hasMetadata) await once(t, 'metadata');
    const file = t.files.find((f) => f.name === 'movie.mp4')!;
    const parts: Buffer[] = [];
    for await (const chunk of file.createReadStream({ start: 1_000_000, end: 1_200_000 }))
      parts.push(chunk as Buffer);
    assert.ok(Buffer.concat(parts).equals(movie.subarray(1_000_000, 1_200_001)));
    assert.equal(t.done, false, 'the range came only after the whole download');
    const server = leecher.createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const r = await fetch(base + file.streamPath, { headers: { Range: 'bytes=-100000' } });
      assert.equal(r.status, 206);
      assert.equal(r.headers.get('content-type'), 'video/mp4');
      assert.ok(Buffer.from(await r.arrayBuffer()).equals(movie.subarray(movie.length - 100_000)));
    } finally {
      server.closeAllConnections();
      server.close();
    }
    const text = t.files.find((f) => f.name === 'notes.txt')!;
    const got: Buffer[] = [];
    for await (const chunk of text) got.push(chunk);
    assert.ok(Buffer.concat(got).equals(notes));
  } finally {
    await leecher.close();
  }
});
