// The control API over real HTTP on 127.0.0.1: token, Host and Origin checks, no cookies, body
// limits, JSON errors, the OpenAPI description, every route, and the event stream.
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { type IncomingMessage, request } from 'node:http';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ApiServer } from '../../../src/api/server.js';
import { formatMagnet } from '../../../src/protocol/magnet.js';
import { TorrentManager } from '../../../src/session/manager.js';
import type { Session } from '../../../src/session/session.js';
import { StateStore } from '../../../src/session/state-store.js';
import {
  differences,
  loopbackSession,
  makeTorrent,
  peerOf,
  type RawReply,
  rawRequest,
  type SampleTorrent,
  seeder,
  tempDir,
  waitFor,
} from './helpers.js';

let root: string;
let cleanup: () => Promise<void>;
let session: Session;
let manager: TorrentManager;
let server: ApiServer;
let token: string;
let port: number;
let a: SampleTorrent;
let b: SampleTorrent;
let c: SampleTorrent;
let seedA: Session;
let seedB: Session;
let seedC: Session;
const replies: RawReply[] = [];

before(async () => {
  ({ dir: root, cleanup } = await tempDir('api'));
  a = await makeTorrent(root, 'a', [200_000, 50_000], { announce: [['http://127.0.0.1:9/announce']] });
  b = await makeTorrent(root, 'b', [120_000]);
  c = await makeTorrent(root, 'c', [1024 * 1024], { single: true });
  seedA = await seeder(a);
  seedB = await seeder(b);
  seedC = await seeder(c);
  session = await loopbackSession();
  const store = new StateStore(join(root, 'state'));
  manager = new TorrentManager({ session, store, flushIntervalMs: 200 });
  await manager.load();
  manager.start();
  token = await store.token();
  server = new ApiServer({
    manager,
    session,
    token,
    defaultDir: join(root, 'default-dl'),
    allowedDirs: [root],
    maxBodyBytes: 256 * 1024,
  });
  await server.start();
  port = server.address!.port;
  assert.equal(server.address!.host, '127.0.0.1');
});

after(async () => {
  await server.stop();
  await manager.stop();
  await session.stop();
  await Promise.all([seedA.stop(), seedB.stop(), seedC.stop()]);
  await cleanup();
});

async function raw(
  method: string,
  path: string,
  o: { headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<RawReply> {
  const r = await rawRequest(port, method, path, o);
  replies.push(r);
  return r;
}

/** An authorized JSON request; fails unless the status is `expect`. */
async function api<T = Record<string, unknown>>(
  method: string,
  path: string,
  body?: unknown,
  expect = 200,
): Promise<T> {
  const r = await raw(method, `/api/v1${path}`, {
    headers: {
      authorization: `Bearer ${token}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  assert.equal(r.status, expect, `${method} ${path}: ${r.status} ${r.text}`);
  assert.match(String(r.headers['content-type']), /^application\/json/);
  return r.json as T;
}

interface View {
  infoHash: string;
  status: string;
  percent: number;
  name: string;
  dir: string;
}

async function waitApiStatus(hex: string, status: string, timeoutMs = 10_000): Promise<void> {
  let last = '';
  await waitFor(
    async () => {
      last = (await api<View>('GET', `/torrents/${hex}`)).status;
      return last === status;
    },
    `${hex.slice(0, 8)} to be ${status} (last ${last})`,
    timeoutMs,
  );
}

test('the token is required: 401 without one, with a wrong one, or in the wrong scheme', async () => {
  for (const headers of [
    {},
    { authorization: `Bearer ${'0'.repeat(64)}` },
    { authorization: `Bearer ${token.slice(0, 10)}` },
    { authorization: `Basic ${token}` },
    { authorization: token },
  ]) {
    const r = await raw('GET', '/api/v1/torrents', { headers });
    assert.equal(r.status, 401, JSON.stringify(headers));
    assert.deepEqual((r.json as { error: { code: string } }).error.code, 'ERR_TOKEN');
  }
  const ok = await raw('GET', '/api/v1/torrents', { headers: { authorization: `Bearer ${token}` } });
  assert.equal(ok.status, 200);
});

test('the Host header must be loopback (DNS rebinding): 403 for evil.example', async () => {
  const auth = { authorization: `Bearer ${token}` };
  for (const host of [
    'evil.example',
    `evil.example:${port}`,
    '127.0.0.1.evil.example',
    '10.0.0.1',
    '[::2]',
  ]) {
    const r = await raw('GET', '/api/v1/torrents', { headers: { ...auth, host } });
    assert.equal(r.status, 403, host);
    assert.equal((r.json as { error: { code: string } }).error.code, 'ERR_HOST');
  }
  // The OpenAPI description needs no token, but the Host check still applies.
  assert.equal((await raw('GET', '/api/v1/openapi.json', { headers: { host: 'evil.example' } })).status, 403);
  for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, '127.0.0.2']) {
    assert.equal((await raw('GET', '/api/v1/torrents', { headers: { ...auth, host } })).status, 200, host);
  }
});

test('a cross-site Origin is refused; a loopback Origin is accepted', async () => {
  const auth = { authorization: `Bearer ${token}` };
  for (const origin of ['http://evil.example', 'http://localhost.evil.example', 'null', 'not a url']) {
    const r = await raw('GET', '/api/v1/torrents', { headers: { ...auth, origin } });
    assert.equal(r.status, 403, origin);
    assert.equal((r.json as { error: { code: string } }).error.code, 'ERR_ORIGIN');
  }
  // A simple cross-site POST (no preflight) is refused before it does anything.
  const before = manager.list().length;
  const r = await raw('POST', '/api/v1/torrents', {
    headers: { ...auth, origin: 'http://evil.example', 'content-type': 'text/plain' },
    body: JSON.stringify({ torrent: b.torrentBytes.toString('base64') }),
  });
  assert.equal(r.status, 403);
  assert.equal(manager.list().length, before);
  for (const origin of [`http://127.0.0.1:${port}`, `http://localhost:${port}`]) {
    assert.equal((await raw('GET', '/api/v1/torrents', { headers: { ...auth, origin } })).status, 200);
  }
});

// Issue 19: any loopback Origin was accepted, so a page served by any local web app or dev server
// (another port: another site) could drive the daemon with a token it had learnt. Only the daemon's
// own origin is accepted: http, its address or `localhost`, its port.
test('an Origin on another loopback port, another loopback address or https is refused', async () => {
  const auth = { authorization: `Bearer ${token}` };
  const other = port === 65535 ? port - 1 : port + 1;
  for (const origin of [
    `http://127.0.0.1:${other}`,
    `http://localhost:${other}`,
    'http://127.0.0.1',
    'http://localhost',
    `http://127.0.0.2:${port}`,
    `http://[::1]:${other}`,
    `https://127.0.0.1:${port}`,
  ]) {
    const r = await raw('GET', '/api/v1/torrents', { headers: { ...auth, origin } });
    assert.equal(r.status, 403, origin);
    assert.equal((r.json as { error: { code: string } }).error.code, 'ERR_ORIGIN');
  }
});

// Issue 19: `dir` accepted /etc and relative folders. It must be an absolute folder inside the
// default download folder or one the daemon was started with (--allow-dir), symlinks resolved.
test('dir: outside the allowed folders, relative, or through a symlink out of them: 400', async () => {
  const { symlink, mkdtemp, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const outside = await mkdtemp(join(tmpdir(), 'bitswarm-api-outside-'));
  try {
    await symlink(outside, join(root, 'link-out'));
    const torrent = b.torrentBytes.toString('base64');
    for (const dir of [
      '/etc',
      outside,
      'relative/folder',
      './x',
      `${root}/../elsewhere`,
      join(root, 'link-out'),
      join(root, 'link-out', 'deeper'),
      '',
      42,
    ]) {
      const r = await api<{ error: { message: string } }>(
        'POST',
        '/torrents',
        { torrent, dir, paused: true },
        400,
      );
      assert.match(r.error.message, /^dir: /, String(dir));
    }
    assert.equal(manager.has(b.metainfo.infoHashHex), false, 'nothing was added');
    const r = await api<{ error: { message: string } }>('POST', '/torrents', { torrent, dir: '/etc' }, 400);
    assert.match(r.error.message, /is not inside an allowed folder .*--allow-dir/);
  } finally {
    await rm(join(root, 'link-out'), { force: true });
    await rm(outside, { recursive: true, force: true });
  }
});

// Issue 19: an error about a file that is not a torrent showed its first byte ("unexpected byte
// 0x72"); and a magnet with a huge so= range was an HTTP 500.
test('not a torrent: 400 "not a torrent file" with none of its bytes; bad magnets are 400, not 500', async () => {
  const { writeFile } = await import('node:fs/promises');
  const secret = join(root, 'secret.txt');
  await writeFile(secret, 'rosebud: the password is hunter2\n');
  for (const body of [{ path: secret }, { torrent: Buffer.from('rosebud').toString('base64') }]) {
    const r = await api<{ error: { code: string; message: string } }>('POST', '/torrents', body, 400);
    assert.equal(r.error.message, 'not a torrent file: bad bencode at byte 0');
  }
  const list = await api<{ error: { message: string } }>(
    'POST',
    '/torrents',
    { torrent: Buffer.from('li1ee').toString('base64') },
    400,
  );
  assert.equal(list.error.message, 'not a torrent file: it is not a bencoded dictionary');
  const h = '0'.repeat(40);
  for (const magnet of [
    `magnet:?xt=urn:btih:${h}&so=0-4294967295`,
    `magnet:?xt=urn:btih:${h}${'&tr=http://t.example/a'.repeat(501)}`,
    `magnet:?xt=urn:btih:${h}${'&x.pe=10.0.0.1:1'.repeat(501)}`,
  ]) {
    const r = await api<{ error: { code: string } }>('POST', '/torrents', { magnet }, 400);
    assert.equal(r.error.code, 'ERR_MAGNET');
    await api('POST', '/torrents', { path: magnet }, 400);
  }
});

test('an Origin whose name only starts like a loopback address is refused', {}, async () => {
  const auth = { authorization: `Bearer ${token}` };
  for (const origin of ['https://127.0.0.1.evil.example', 'http://127.evil.example:8080']) {
    const r = await raw('GET', '/api/v1/torrents', { headers: { ...auth, origin } });
    assert.equal(r.status, 403, origin);
  }
});

test('bodies: over the limit 413, bad JSON 400, a non-object 400; unknown routes 404', async () => {
  const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const big = JSON.stringify({ torrent: 'A'.repeat(300 * 1024) });
  const r413 = await raw('POST', '/api/v1/torrents', { headers: auth, body: big });
  assert.equal(r413.status, 413);
  assert.equal((r413.json as { error: { code: string } }).error.code, 'ERR_TOO_LARGE');
  // Small-body routes have their own, lower cap (64 KiB).
  const r413b = await raw('PUT', `/api/v1/session/limits`, {
    headers: auth,
    body: JSON.stringify({ pad: 'x'.repeat(70 * 1024) }),
  });
  assert.equal(r413b.status, 413);
  for (const body of ['{"torrent":', 'nope', '\u0000']) {
    const r = await raw('POST', '/api/v1/torrents', { headers: auth, body });
    assert.equal(r.status, 400, body);
    assert.equal((r.json as { error: { code: string } }).error.code, 'ERR_JSON');
  }
  for (const body of ['[1,2]', '"x"', 'null', '3']) {
    assert.equal((await raw('POST', '/api/v1/torrents', { headers: auth, body })).status, 400, body);
  }
  await api('POST', '/torrents', {}, 400);
  await api('POST', '/torrents', { torrent: Buffer.from('d4:infoi1ee').toString('base64') }, 400);
  await api('POST', '/torrents', { magnet: 'magnet:?xt=urn:btih:zz' }, 400);
  await api('POST', '/torrents', { path: join(root, 'missing.torrent') }, 400);
  await api('POST', '/torrents', { torrent: b.torrentBytes.toString('base64'), peers: ['nope'] }, 400);
  await api('PUT', '/session/limits', { uploadLimitBytesPerSec: -1 }, 400);
  await api('GET', '/nothing-here', undefined, 404);
  await api('GET', '/torrents/xyz', undefined, 400);
  await api('GET', `/torrents/${'0'.repeat(40)}`, undefined, 404);
  await api('POST', `/torrents/${'0'.repeat(40)}/pause`, undefined, 404);
  assert.equal((await raw('GET', '/elsewhere')).status, 404);
});

test('the OpenAPI description is served without a token and names every route', async () => {
  const r = await raw('GET', '/api/v1/openapi.json');
  assert.equal(r.status, 200);
  const doc = r.json as { openapi: string; paths: Record<string, Record<string, unknown>> };
  assert.match(doc.openapi, /^3\./);
  const routes = Object.entries(doc.paths).flatMap(([p, ops]) =>
    Object.keys(ops)
      .filter((k) => ['get', 'post', 'put', 'delete'].includes(k))
      .map((k) => `${k.toUpperCase()} ${p}`),
  );
  for (const want of [
    'GET /api/v1/session',
    'PUT /api/v1/session/limits',
    'GET /api/v1/events',
    'GET /api/v1/torrents',
    'POST /api/v1/torrents',
    'GET /api/v1/torrents/{hash}',
    'DELETE /api/v1/torrents/{hash}',
    'POST /api/v1/torrents/{hash}/pause',
    'POST /api/v1/torrents/{hash}/resume',
    'POST /api/v1/torrents/{hash}/recheck',
    'PUT /api/v1/torrents/{hash}/priorities',
    'PUT /api/v1/torrents/{hash}/limits',
  ]) {
    assert.ok(routes.includes(want), `${want} is described`);
  }
});

test('add by torrent bytes, list, show (files, trackers, pieces), pause, resume, recheck, remove', {
  timeout: 30_000,
}, async () => {
  const dir = join(root, 'dl-a');
  const hex = a.metainfo.infoHashHex;
  const added = await api<{ infoHash: string; torrent: View }>(
    'POST',
    '/torrents',
    { torrent: a.torrentBytes.toString('base64'), dir, peers: [`127.0.0.1:${seedA.port}`] },
    201,
  );
  assert.equal(added.infoHash, hex);
  assert.equal(added.torrent.name, 'a');
  await waitApiStatus(hex, 'seeding');
  assert.deepEqual(await differences(a, dir), []);

  const { torrents } = await api<{ torrents: View[] }>('GET', '/torrents');
  assert.ok(torrents.some((t) => t.infoHash === hex && t.percent === 100 && t.dir === dir));

  const show = await api<{
    files: { index: number; path: string; length: number; priority: number; verifiedBytes: number }[];
    trackers: { url: string; tier: number; status: string }[];
    pieces: string;
    pieceCount: number;
    pieceLength: number;
    peers: unknown[];
    limits: Record<string, unknown>;
  }>('GET', `/torrents/${hex}`);
  assert.deepEqual(
    show.files.map((f) => [f.path, f.length, f.priority, f.verifiedBytes]),
    [
      ['a/f0.bin', 200_000, 4, 200_000],
      ['a/f1.bin', 50_000, 4, 50_000],
    ],
  );
  assert.deepEqual(
    show.trackers.map((t) => [t.url, t.tier]),
    [['http://127.0.0.1:9/announce', 0]],
  );
  assert.equal(show.pieceCount, a.metainfo.pieceCount);
  const bits = Buffer.from(show.pieces, 'base64');
  assert.equal(bits.length, Math.ceil(a.metainfo.pieceCount / 8));
  assert.ok(bits.subarray(0, bits.length - 1).every((x) => x === 0xff));
  assert.ok(Array.isArray(show.peers));
  assert.deepEqual(show.limits, {
    uploadLimitBytesPerSec: 0,
    downloadLimitBytesPerSec: 0,
    seedRatio: null,
    seedTimeSec: null,
  });

  const paused = await api<View>('POST', `/torrents/${hex}/pause`);
  assert.equal(paused.status, 'paused');
  assert.equal(session.get(hex), undefined);
  const resumed = await api<View>('POST', `/torrents/${hex}/resume`);
  assert.notEqual(resumed.status, 'paused');
  await waitApiStatus(hex, 'seeding');

  let checks = 0;
  const onActive = (h: string, t: { on: (e: 'check:progress', f: () => void) => void }): void => {
    if (h === hex) t.on('check:progress', () => checks++);
  };
  manager.on('torrent:active', onActive);
  await api('POST', `/torrents/${hex}/recheck`);
  await waitApiStatus(hex, 'seeding');
  await waitFor(() => checks === a.metainfo.pieceCount, 'every piece checked');
  manager.off('torrent:active', onActive);

  const removed = await api<{ removed: string; deletedData: boolean }>('DELETE', `/torrents/${hex}`);
  assert.deepEqual(removed, { removed: hex, deletedData: false, deleted: [], kept: [] });
  await api('GET', `/torrents/${hex}`, undefined, 404);
  assert.deepEqual(await differences(a, dir), [], 'data kept');
});

test('add by path and by magnet (metadata from a peer), priorities, limits, delete with data', {
  timeout: 30_000,
}, async () => {
  const dirB = join(root, 'dl-b');
  const hb = b.metainfo.infoHashHex;
  await api('POST', '/torrents', { path: b.torrentPath, dir: dirB, paused: true }, 201);
  assert.equal((await api<View>('GET', `/torrents/${hb}`)).status, 'paused');
  const pr = await api<{ files: { priority: number }[] }>('PUT', `/torrents/${hb}/priorities`, {
    priorities: [7],
  });
  assert.deepEqual(
    pr.files.map((f) => f.priority),
    [7],
  );
  await api('PUT', `/torrents/${hb}/priorities`, { priorities: [4, 4] }, 400);
  await api('PUT', `/torrents/${hb}/priorities`, { priorities: 'all' }, 400);
  const lim = await api<{ limits: Record<string, unknown> }>('PUT', `/torrents/${hb}/limits`, {
    uploadLimitBytesPerSec: 100_000,
    downloadLimitBytesPerSec: 200_000,
    seedRatio: 1.5,
    seedTimeSec: 3600,
  });
  assert.deepEqual(lim.limits, {
    uploadLimitBytesPerSec: 100_000,
    downloadLimitBytesPerSec: 200_000,
    seedRatio: 1.5,
    seedTimeSec: 3600,
  });
  const lim2 = await api<{ limits: Record<string, unknown> }>('PUT', `/torrents/${hb}/limits`, {
    seedRatio: null,
    downloadLimitBytesPerSec: 0,
  });
  assert.equal(lim2.limits.seedRatio, null);
  assert.equal(lim2.limits.downloadLimitBytesPerSec, 0);
  assert.equal(lim2.limits.seedTimeSec, 3600);
  await api('PUT', `/torrents/${hb}/limits`, { seedRatio: 'high' }, 400);
  await api('POST', `/torrents/${hb}/resume`);
  manager.torrentOf(hb) ?? (await waitFor(() => manager.torrentOf(hb) !== undefined, 'b active'));
  manager.torrentOf(hb)!.addPeers([peerOf(seedB)]);
  await waitApiStatus(hb, 'seeding');
  assert.deepEqual(await differences(b, dirB), []);
  await writeNeighbour(dirB);
  const del = await api<{ deleted: string[]; kept: unknown[] }>('DELETE', `/torrents/${hb}?deleteData=1`);
  assert.deepEqual(await readdir(dirB), ['keep.txt'], 'only the torrent own files were deleted');
  // What it created (its file and folder) is listed; keep.txt is not the torrent's, so not even named.
  assert.deepEqual(del.deleted.sort(), ['b/', 'b/f0.bin']);
  assert.deepEqual(del.kept, []);

  // A magnet: the metadata comes from the peer named in the request.
  const hc = c.metainfo.infoHashHex;
  const magnet = formatMagnet({ infoHash: c.metainfo.infoHash, name: 'c' });
  const dirC = join(root, 'dl-c');
  const m = await api<{ torrent: View }>(
    'POST',
    '/torrents',
    { magnet, dir: dirC, peers: [`127.0.0.1:${seedC.port}`] },
    201,
  );
  assert.equal(m.torrent.infoHash, hc);
  await waitApiStatus(hc, 'seeding');
  assert.deepEqual(await differences(c, dirC), []);
  const show = await api<{ name: string; pieceCount: number }>('GET', `/torrents/${hc}`);
  assert.equal(show.name, 'c');
  assert.equal(show.pieceCount, c.metainfo.pieceCount);
  await api('DELETE', `/torrents/${hc}`);
});

async function writeNeighbour(dir: string): Promise<void> {
  const { writeFile } = await import('node:fs/promises');
  await writeFile(join(dir, 'keep.txt'), 'not the torrent');
}

test('show lists the connected peers; session stats and limits', { timeout: 30_000 }, async () => {
  // The daemon seeds c at a slow upload rate, so a leecher stays connected for a while.
  const hc = c.metainfo.infoHashHex;
  await api(
    'POST',
    '/torrents',
    { path: c.torrentPath, dir: c.dataDir, uploadLimitBytesPerSec: 128 * 1024 },
    201,
  );
  await waitApiStatus(hc, 'seeding');
  const leech = await loopbackSession();
  try {
    await leech.add(c.metainfo, { dir: join(root, 'dl-c-leech'), peers: [peerOf(session)] });
    let peers: { address: string }[] = [];
    await waitFor(async () => {
      peers = (await api<{ peers: { address: string }[] }>('GET', `/torrents/${hc}`)).peers;
      return peers.length === 1;
    }, 'the leecher in show');
    assert.match(peers[0]!.address, /^127\.0\.0\.1:\d+$/);
    const stats = await api<Record<string, unknown> & { limits: Record<string, number> }>('GET', '/session');
    assert.equal(stats.port, session.port);
    assert.equal(stats.torrents, manager.list().length);
    assert.equal(stats.seeding, manager.list().filter((t) => t.status === 'seeding').length);
    assert.ok((stats.peers as number) >= 1);
    // Bound to loopback: no port mapping is tried, and the reply says so.
    assert.equal(stats.portMapping, null);
    const set = await api<{ limits: Record<string, number> }>('PUT', '/session/limits', {
      uploadLimitBytesPerSec: 1_000_000,
      downloadLimitBytesPerSec: 2_000_000,
      maxActiveDownloads: 3,
      maxActiveSeeds: 7,
      maxConnections: 99,
    });
    assert.deepEqual(set.limits, {
      uploadLimitBytesPerSec: 1_000_000,
      downloadLimitBytesPerSec: 2_000_000,
      maxActiveDownloads: 3,
      maxActiveSeeds: 7,
      maxConnections: 99,
    });
    assert.equal(session.uploadLimit.rateBytesPerSec, 1_000_000);
    assert.equal(manager.maxActiveSeeds, 7);
    await api('PUT', '/session/limits', {
      uploadLimitBytesPerSec: 0,
      downloadLimitBytesPerSec: 0,
      maxActiveDownloads: 5,
      maxActiveSeeds: 20,
      maxConnections: 500,
    });
  } finally {
    await leech.stop();
    await api('DELETE', `/torrents/${hc}`);
  }
});

interface SseEvent {
  event: string;
  data: unknown;
}

/** Opens the event stream; collects parsed events until closed. */
function openEvents(): Promise<{ events: SseEvent[]; res: IncomingMessage; close: () => void }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/api/v1/events',
        headers: { authorization: `Bearer ${token}`, host: `127.0.0.1:${port}` },
      },
      (res) => {
        const events: SseEvent[] = [];
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buf += chunk;
          for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const ev = /^event: (.*)$/m.exec(block)?.[1] ?? 'message';
            const data = /^data: (.*)$/m.exec(block)?.[1];
            events.push({ event: ev, data: data === undefined ? undefined : JSON.parse(data) });
          }
        });
        res.on('error', () => undefined);
        resolve({ events, res, close: () => req.destroy() });
      },
    );
    req.on('error', (err) => {
      if ((err as NodeJS.ErrnoException).code !== 'ECONNRESET') reject(err);
    });
    req.end();
  });
}

test('the event stream (SSE) delivers hello, added, status, complete and progress events', {
  timeout: 30_000,
}, async () => {
  const unauth = await raw('GET', '/api/v1/events');
  assert.equal(unauth.status, 401);
  const s = await openEvents();
  try {
    assert.equal(s.res.statusCode, 200);
    assert.match(String(s.res.headers['content-type']), /^text\/event-stream/);
    await waitFor(() => s.events.length > 0, 'hello');
    assert.equal(s.events[0]!.event, 'hello');
    const ha = a.metainfo.infoHashHex;
    await api(
      'POST',
      '/torrents',
      { path: a.torrentPath, dir: join(root, 'dl-sse'), peers: [`127.0.0.1:${seedA.port}`] },
      201,
    );
    const has = (event: string, pred: (d: Record<string, unknown>) => boolean = () => true): boolean =>
      s.events.some((e) => e.event === event && pred(e.data as Record<string, unknown>));
    await waitFor(() => has('complete', (d) => d.infoHash === ha), 'complete event');
    assert.ok(has('added', (d) => d.infoHash === ha));
    assert.ok(has('status', (d) => d.infoHash === ha && d.status === 'seeding'));
    await api('POST', `/torrents/${ha}/pause`);
    await waitFor(() => has('status', (d) => d.infoHash === ha && d.status === 'paused'), 'paused event');
    // A progress event lists every torrent (one sent before the add does not list this one).
    const lists = (d: Record<string, unknown>): boolean =>
      (d as unknown as { torrents: View[] }).torrents.some((t) => t.infoHash === ha);
    await waitFor(() => has('progress', lists), 'a progress event with the torrent', 3000);
    await api('DELETE', `/torrents/${ha}`);
    await waitFor(() => has('removed', (d) => d.infoHash === ha), 'removed event');
  } finally {
    s.close();
  }
});

// Issue 13: a torrent's general facts include both info hashes (BEP 52), its version, creator and date.
test("a hybrid torrent's detail: v1 and v2 info hashes, version, created by, creation date", async () => {
  const h = await makeTorrent(root, 'hyb', [40_000, 9_000], {
    version: 'hybrid',
    createdBy: 'bitswarm test',
    creationDate: 1_700_000_000,
  });
  const v1 = await makeTorrent(root, 'plain', [10_000], { single: true });
  const hex = h.metainfo.infoHashHex;
  assert.ok(h.metainfo.infoHashV2, 'the helper made a hybrid');
  await api('POST', '/torrents', { path: h.torrentPath, dir: join(root, 'dl-hyb'), paused: true }, 201);
  await api('POST', '/torrents', { path: v1.torrentPath, dir: join(root, 'dl-plain'), paused: true }, 201);
  try {
    const d = await api<Record<string, unknown>>('GET', `/torrents/${hex}`);
    assert.equal(d.infoHash, hex);
    assert.equal(d.infoHashV2, h.metainfo.infoHashV2!.toString('hex'));
    assert.equal(d.metaVersion, 'hybrid');
    assert.equal(d.createdBy, 'bitswarm test');
    assert.equal(d.creationDate, 1_700_000_000);
    assert.match(String(d.magnet), new RegExp(`xt=urn:btmh:1220${d.infoHashV2}`));
    const p = await api<Record<string, unknown>>('GET', `/torrents/${v1.metainfo.infoHashHex}`);
    assert.equal(p.metaVersion, 'v1');
    assert.equal(p.infoHashV2, null);
    assert.equal(p.creationDate, null);
  } finally {
    await api('DELETE', `/torrents/${hex}`);
    await api('DELETE', `/torrents/${v1.metainfo.infoHashHex}`);
  }
});

// Issue 13: a torrent's page adds peers by address; they are kept in its record for its next start.
test('POST /torrents/{hash}/peers: kept in the record (IPv6 too); a bad address, or a body of the wrong types, is a 400 naming it', async () => {
  const t = await makeTorrent(root, 'peers', [5_000], { single: true });
  const hex = t.metainfo.infoHashHex;
  await api('POST', '/torrents', { path: t.torrentPath, dir: join(root, 'dl-peers'), paused: true }, 201);
  try {
    const row = await api<View>('POST', `/torrents/${hex}/peers`, {
      peers: ['127.0.0.1:9', '[2001:db8::1]:6881'],
    });
    assert.equal(row.infoHash, hex);
    assert.deepEqual(manager.recordOf(hex)?.peers?.slice(-2), ['127.0.0.1:9', '[2001:db8::1]:6881']);
    const bad = await api<{ error: { message: string } }>(
      'POST',
      `/torrents/${hex}/peers`,
      { peers: ['nope'] },
      400,
    );
    assert.match(bad.error.message, /peers: "nope" is not HOST:PORT/);
    await api('POST', `/torrents/${hex}/peers`, { peers: [] }, 400);
    // The route table's body schema checks types before the control layer sees them, naming the field.
    const typed = async (method: string, path: string, body: unknown): Promise<string> =>
      (await api<{ error: { message: string } }>(method, path, body, 400)).error.message;
    assert.equal(
      await typed('POST', `/torrents/${hex}/peers`, { peers: [1] }),
      'peers[0]: expected string, got 1',
    );
    assert.equal(
      await typed('PUT', `/torrents/${hex}/limits`, { uploadLimitBytesPerSec: 'fast' }),
      'uploadLimitBytesPerSec: expected integer, got "fast"',
    );
    assert.equal(
      await typed('PUT', `/torrents/${hex}/priorities`, { priorities: [4, 'x'] }),
      'priorities[1]: expected integer, got "x"',
    );
    await api('POST', `/torrents/${'0'.repeat(40)}/peers`, { peers: ['127.0.0.1:9'] }, 404);
  } finally {
    await api('DELETE', `/torrents/${hex}`);
  }
});

// Issue 13: ban a peer from a torrent's page: disconnected, listed, kept in the record.
test('POST /torrents/{hash}/ban: the peer is disconnected and listed as banned; a bad address is a 400', {
  timeout: 20_000,
}, async () => {
  const t = await makeTorrent(root, 'ban', [400_000], { single: true });
  const src = await seeder(t);
  const hex = t.metainfo.infoHashHex;
  const peer = `127.0.0.1:${src.port}`;
  try {
    // Slow enough to be connected when the ban comes.
    await api(
      'POST',
      '/torrents',
      { path: t.torrentPath, dir: join(root, 'dl-ban'), peers: [peer], downloadLimitBytesPerSec: 20_000 },
      201,
    );
    type Banned = { peers: { address: string }[]; bannedPeers: string[] };
    await waitFor(
      async () => (await api<Banned>('GET', `/torrents/${hex}`)).peers.some((p) => p.address === peer),
      'the seeder connected',
    );
    const bad = await api<{ error: { message: string } }>('POST', `/torrents/${hex}/ban`, { peer: 'x' }, 400);
    assert.equal(bad.error.message, 'peer: "x" is not HOST:PORT');
    const d = await api<Banned>('POST', `/torrents/${hex}/ban`, { peer });
    assert.deepEqual(d.bannedPeers, [peer]);
    await waitFor(
      async () => !(await api<Banned>('GET', `/torrents/${hex}`)).peers.some((p) => p.address === peer),
      'the seeder disconnected',
    );
    assert.deepEqual(manager.recordOf(hex)?.bannedPeers, [peer]);
  } finally {
    await api('DELETE', `/torrents/${hex}`);
    await src.stop();
  }
});

test('no response ever sets a cookie; every JSON reply says no-store and nosniff', () => {
  assert.ok(replies.length > 50, `${replies.length} replies seen`);
  for (const r of replies) {
    assert.equal(r.headers['set-cookie'], undefined);
    if (r.status !== 200 && r.status !== 201) continue;
    assert.equal(r.headers['cache-control'], 'no-store');
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
  }
});
