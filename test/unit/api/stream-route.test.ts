// The daemon's stream route: a signed per-file URL (from …/files/<i>/stream-url, with the token)
// plays the file without the token header, with Range, while it downloads from a slow seeder; a
// wrong signature is 403, no signature and no token 401; the Host and Origin checks still hold.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ApiServer } from '../../../src/api/server.js';
import type { TorrentManager } from '../../../src/session/manager.js';
import type { Session } from '../../../src/session/session.js';
import {
  makeTorrent,
  managerWith,
  peerOf,
  rawRequest,
  type SampleTorrent,
  seeder,
  tempDir,
  waitFor,
} from './helpers.js';

let cleanup: () => Promise<void>;
let seed: Session;
let daemon: { manager: TorrentManager; session: Session; stop: () => Promise<void> };
let server: ApiServer;
let sample: SampleTorrent;
const token = 'stream-route-test-token';
let base: string;

before(async () => {
  let root: string;
  ({ dir: root, cleanup } = await tempDir('api-stream'));
  sample = await makeTorrent(root, 'movie', [900_000, 1000], { pieceLength: 32 * 1024 });
  seed = await seeder(sample, { uploadLimitBytesPerSec: 512 * 1024 });
  daemon = await managerWith(undefined);
  server = new ApiServer({
    manager: daemon.manager,
    session: daemon.session,
    token,
    defaultDir: join(root, 'dl'),
  });
  await server.start();
  base = `http://127.0.0.1:${server.address!.port}`;
  await daemon.manager.add({ metainfo: sample.metainfo, dir: join(root, 'dl'), peers: [peerOf(seed)] });
});

after(async () => {
  await server.stop();
  await daemon.stop();
  await seed.stop();
  await cleanup();
});

test('a signed stream URL plays the file with Range while it downloads; a bad signature is 403', {
  timeout: 120_000,
}, async () => {
  const hex = sample.metainfo.infoHashHex;
  await waitFor(() => daemon.manager.torrentOf(hex) !== undefined, 'the torrent to be active');
  const auth = { Authorization: `Bearer ${token}` };
  const r = await fetch(`${base}/api/v1/torrents/${hex}/files/0/stream-url`, { headers: auth });
  assert.equal(r.status, 200);
  const { url, path } = (await r.json()) as { url: string; path: string };
  assert.equal(path, 'movie/f0.bin');
  assert.match(url, new RegExp(`^${base}/api/v1/torrents/${hex}/files/0/stream\\?sig=[0-9a-f]{64}$`));
  const bytes = sample.files[0]!.bytes;
  const start = 600_000;
  const ranged = await fetch(url, { headers: { Range: `bytes=${start}-` } });
  assert.equal(ranged.status, 206);
  assert.equal(ranged.headers.get('content-range'), `bytes ${start}-${bytes.length - 1}/${bytes.length}`);
  assert.ok(Buffer.from(await ranged.arrayBuffer()).equals(bytes.subarray(start)));
  const head = await fetch(url, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get('content-length'), String(bytes.length));
  // The token in a header works too; past the end is 416.
  const past = await fetch(`${base}/api/v1/torrents/${hex}/files/1/stream`, {
    headers: { ...auth, Range: 'bytes=1000-' },
  });
  assert.equal(past.status, 416);
  assert.equal(past.headers.get('content-range'), 'bytes */1000');
  await past.arrayBuffer();
  // A signature for another file, a made-up one, none at all.
  const other = url.replace('/files/0/', '/files/1/');
  for (const [u, status] of [
    [other, 403],
    [url.replace(/sig=[0-9a-f]{4}/, 'sig=0000'), 403],
    [url.replace(/\?sig=.*/, ''), 401],
  ] as const) {
    const bad = await fetch(u);
    assert.equal(bad.status, status, u);
    await bad.arrayBuffer();
  }
  // The Host and Origin checks come first, signature or not.
  const u = new URL(url);
  const evilHost = await rawRequest(server.address!.port, 'GET', `${u.pathname}${u.search}`, {
    headers: { host: 'evil.example' },
  });
  assert.equal(evilHost.status, 403);
  const evilOrigin = await rawRequest(server.address!.port, 'GET', `${u.pathname}${u.search}`, {
    headers: { host: u.host, origin: 'http://evil.example' },
  });
  assert.equal(evilOrigin.status, 403);
  const unknown = await fetch(`${base}/api/v1/torrents/${'0'.repeat(40)}/files/0/stream-url`, {
    headers: auth,
  });
  assert.equal(unknown.status, 404);
  await unknown.arrayBuffer();
});
