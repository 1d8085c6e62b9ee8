// Web seeds (BEP 19) end to end: a session downloads from a real HTTP server on 127.0.0.1 (node:http),
// alone or beside a peer, and copes with servers that lie, redirect, stall, answer 503 or ignore Range.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { formatMagnet, parseMagnet } from '../../../src/protocol/magnet.js';
import { type Metainfo, parseMetainfo } from '../../../src/protocol/metainfo.js';
import { Session, type SessionOptions } from '../../../src/session/session.js';
import { createTorrent } from '../../../src/storage/create-torrent.js';
import type { Torrent } from '../../../src/swarm/torrent.js';
import { pseudoRandom } from '../../interop/fixtures.js';
import { type FileServer, startFileServer } from './server.js';

let root: string;
let server: FileServer;
const SINGLE = pseudoRandom('web seed single', 3 * 1024 * 1024 + 4321);
/** Multi-file, with names that must be percent-encoded in a URL. */
const MULTI: { path: string; bytes: Buffer }[] = [
  { path: 'set #1/a b.bin', bytes: pseudoRandom('a', 700_000) },
  { path: 'set #1/empty', bytes: Buffer.alloc(0) },
  { path: 'set #1/ü/100% &+=.txt', bytes: pseudoRandom('c', 300_001) },
  { path: 'set #1/z.bin', bytes: pseudoRandom('z', 1_000_003) },
];

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'bitswarm-webseed-'));
  await mkdir(join(root, 'www'), { recursive: true });
  await writeFile(join(root, 'www', 'single.bin'), SINGLE);
  for (const f of MULTI) {
    await mkdir(dirname(join(root, 'www', f.path)), { recursive: true });
    await writeFile(join(root, 'www', f.path), f.bytes);
  }
  server = await startFileServer(join(root, 'www'));
});
after(async () => {
  await server.close();
  await rm(root, { recursive: true, force: true });
});

let dirs = 0;
function freshDir(): string {
  return join(root, `dl-${++dirs}`);
}

async function torrentOf(path: string, webSeeds: string[]): Promise<Metainfo> {
  const created = await createTorrent(path, { pieceLength: 65536, creationDate: null, threads: 0, webSeeds });
  return parseMetainfo(created.torrent);
}

function completed(t: Torrent): Promise<void> {
  if (t.complete) return Promise.resolve();
  return new Promise((resolve) => t.once('torrent:complete', () => resolve()));
}

const quick: SessionOptions['webSeed'] = { stallTimeoutMs: 1500, retryMinMs: 100, minRunBytes: 256 * 1024 };

async function withSession<T>(o: SessionOptions, fn: (s: Session) => Promise<T>): Promise<T> {
  const s = new Session({ port: 0, bind: '127.0.0.1', hasherThreads: 0, dht: false, pex: false, ...o });
  await s.start();
  try {
    return await fn(s);
  } finally {
    await s.stop();
  }
}

/** A seeding session for `m` from the files under `dir`. */
async function seeder(m: Metainfo, dir: string): Promise<Session> {
  const s = new Session({
    port: 0,
    bind: '127.0.0.1',
    hasherThreads: 0,
    dht: false,
    pex: false,
    webSeeds: false,
  });
  await s.start();
  const t = await s.add(m, { dir });
  assert.equal(t.state, 'seeding');
  return s;
}

function reset(): void {
  server.hook = undefined;
  server.mangle = undefined;
  server.rateBytesPerSec = 0;
  server.requests.length = 0;
}

describe('web seeds', () => {
  test('a single-file torrent whose only source is a web seed completes, with Range requests on few connections', {
    timeout: 30_000,
  }, async () => {
    reset();
    const m = await torrentOf(join(root, 'www', 'single.bin'), [`${server.url}/single.bin`]);
    const dir = freshDir();
    await withSession({ webSeed: quick }, async (s) => {
      const t = await s.add(m, { dir });
      await completed(t);
      assert.deepEqual(await readFile(join(dir, 'single.bin')), SINGLE);
      const [ws] = t.webSeeds();
      assert.equal(ws?.url, `${server.url}/single.bin`);
      assert.equal(ws?.state, 'idle');
      assert.equal(ws?.downloadedBytes, SINGLE.length);
      assert.equal(t.downloadedBytes, SINGLE.length);
    });
    assert.ok(server.requests.length > 1);
    for (const r of server.requests) {
      assert.equal(r.path, '/single.bin');
      assert.match(r.range ?? '', /^bytes=\d+-\d+$/);
    }
  });

  test('pieces too large to hold (32 MiB) from a web seed only: gathered block by block to disk, the download is exact', {
    timeout: 60_000,
  }, async () => {
    reset();
    const big = pseudoRandom('web seed big', 40 * 1024 * 1024 + 99);
    await writeFile(join(root, 'www', 'big.bin'), big);
    const created = await createTorrent(join(root, 'www', 'big.bin'), {
      pieceLength: 32 * 1024 * 1024,
      creationDate: null,
      threads: 0,
      webSeeds: [`${server.url}/big.bin`],
    });
    const m = parseMetainfo(created.torrent);
    const dir = freshDir();
    // A loaded machine may pause this process past `quick`'s 1.5 s stall timeout while it writes
    // and hashes 32 MiB pieces; a range asked again would count twice. Stalls are tested below.
    await withSession({ webSeed: { ...quick, stallTimeoutMs: 15_000 } }, async (s) => {
      // (Memory is measured in session/large-pieces.test.ts: here the HTTP server shares the process.)
      const t = await s.add(m, { dir });
      await completed(t);
      assert.ok((await readFile(join(dir, 'big.bin'))).equals(big), 'the downloaded bytes differ');
      assert.equal(t.webSeeds()[0]?.downloadedBytes, big.length);
    });
    await rm(join(root, 'www', 'big.bin'));
  });

  test('a URL ending in / gets the name appended (single file)', { timeout: 30_000 }, async () => {
    reset();
    const m = await torrentOf(join(root, 'www', 'single.bin'), [`${server.url}/`]);
    const dir = freshDir();
    await withSession({ webSeed: quick }, async (s) => {
      await completed(await s.add(m, { dir }));
      assert.deepEqual(await readFile(join(dir, 'single.bin')), SINGLE);
    });
    assert.ok(server.requests.every((r) => r.path === '/single.bin'));
  });

  test('multi-file: URL + name + path, percent-encoded; the empty file is never asked for', {
    timeout: 30_000,
  }, async () => {
    reset();
    const m = await torrentOf(join(root, 'www', 'set #1'), [server.url]);
    const dir = freshDir();
    await withSession({ webSeed: quick }, async (s) => {
      await completed(await s.add(m, { dir }));
    });
    for (const f of MULTI) assert.deepEqual(await readFile(join(dir, f.path)), f.bytes, f.path);
    const paths = new Set(server.requests.map((r) => r.path));
    assert.deepEqual([...paths].sort(), ['/set #1/a b.bin', '/set #1/z.bin', '/set #1/ü/100% &+=.txt']);
  });

  test('a server that lies is banned; its pieces come from a peer and the download completes', {
    timeout: 30_000,
  }, async () => {
    reset();
    // The first byte of every answer is flipped.
    server.mangle = (_path, _start, body) => {
      body[0]! ^= 0xff;
      return body;
    };
    const m = await torrentOf(join(root, 'www', 'single.bin'), [`${server.url}/single.bin`]);
    const seed = await seeder(m, join(root, 'www'));
    const dir = freshDir();
    try {
      await withSession({ webSeed: quick }, async (s) => {
        const t = await s.add(m, { dir, peers: [{ host: '127.0.0.1', port: seed.port }] });
        const states: string[] = [];
        t.on('webseed:state', (_url, state) => states.push(state));
        await completed(t);
        assert.deepEqual(await readFile(join(dir, 'single.bin')), SINGLE);
        const [ws] = t.webSeeds();
        assert.equal(ws?.state, 'banned');
        assert.match(ws?.reason ?? '', /hash/);
        assert.ok(states.includes('banned'));
      });
    } finally {
      await seed.stop();
    }
  });

  test('redirects are followed (and remembered); to another scheme they are refused; loops end', {
    timeout: 30_000,
  }, async () => {
    reset();
    server.hook = (_req, res, path) => {
      if (path === '/moved/single.bin') {
        res.writeHead(302, { location: '/single.bin' }).end();
        return true;
      }
      if (path === '/evil') {
        res.writeHead(301, { location: 'file:///etc/passwd' }).end();
        return true;
      }
      if (path === '/loop') {
        res.writeHead(307, { location: '/loop' }).end();
        return true;
      }
      return false;
    };
    const m = await torrentOf(join(root, 'www', 'single.bin'), [`${server.url}/moved/single.bin`]);
    const dir = freshDir();
    await withSession({ webSeed: quick }, async (s) => {
      await completed(await s.add(m, { dir }));
      assert.deepEqual(await readFile(join(dir, 'single.bin')), SINGLE);
    });
    const moved = server.requests.filter((r) => r.path === '/moved/single.bin').length;
    assert.ok(
      moved >= 1 && moved < server.requests.length / 2,
      `${moved} of ${server.requests.length} redirected`,
    );

    reset();
    server.hook = (_req, res, path) => {
      if (path === '/evil') {
        res.writeHead(301, { location: 'file:///etc/passwd' }).end();
        return true;
      }
      if (path === '/loop') {
        res.writeHead(307, { location: '/loop' }).end();
        return true;
      }
      return false;
    };
    const bad = await torrentOf(join(root, 'www', 'single.bin'), [
      `${server.url}/evil`,
      `${server.url}/loop`,
      'file:///etc/passwd',
      'ftp://127.0.0.1/single.bin',
    ]);
    await withSession({ webSeed: quick }, async (s) => {
      const t = await s.add(bad, { dir: freshDir() });
      await waitFor(() => t.webSeeds().every((w) => w.state === 'banned'), 10_000);
      const [evil, loop, file, ftp] = t.webSeeds();
      assert.match(evil?.reason ?? '', /scheme file:/);
      assert.match(loop?.reason ?? '', /more than 5 redirects/);
      assert.match(file?.reason ?? '', /scheme file: is not supported/);
      assert.match(ftp?.reason ?? '', /scheme ftp: is not supported/);
    });
    // Each lane (4) stops after the sixth request of its chain, the first to give up bans the server.
    const loops = server.requests.filter((r) => r.path === '/loop').length;
    assert.ok(loops >= 6 && loops <= 24, `${loops} requests to /loop`);
    assert.ok(server.requests.every((r) => r.path === '/evil' || r.path === '/loop'));
  });

  test('a server that stalls is backed off (timeout) and a peer finishes the download', {
    timeout: 30_000,
  }, async () => {
    reset();
    // Headers and a little of the body, then nothing.
    server.hook = (req, res) => {
      const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
      if (!m) return false;
      const len = Number(m[2]) - Number(m[1]) + 1;
      res.writeHead(206, {
        'content-length': len,
        'content-range': `bytes ${m[1]}-${m[2]}/${SINGLE.length}`,
      });
      res.write(SINGLE.subarray(Number(m[1]), Number(m[1]) + 1000));
      return true;
    };
    const m = await torrentOf(join(root, 'www', 'single.bin'), [`${server.url}/single.bin`]);
    const seed = await seeder(m, join(root, 'www'));
    try {
      await withSession({ webSeed: { ...quick, stallTimeoutMs: 500, retryMinMs: 60_000 } }, async (s) => {
        const t = await s.add(m, { dir: freshDir() });
        await waitFor(() => t.webSeeds()[0]?.state === 'backoff', 10_000);
        const [ws] = t.webSeeds();
        assert.match(ws?.reason ?? '', /sent nothing for 500 ms/);
        assert.ok((ws?.retryAtMs ?? 0) > Date.now() + 30_000);
        t.addPeers([{ host: '127.0.0.1', port: seed.port }]);
        await completed(t);
        assert.equal(t.webSeeds()[0]?.state, 'backoff');
      });
    } finally {
      await seed.stop();
    }
  });

  test('503 with Retry-After backs off, then it is asked again and the download completes', {
    timeout: 30_000,
  }, async () => {
    reset();
    let refusals = 0;
    server.hook = (_req, res) => {
      if (refusals >= 3) return false;
      refusals++;
      res.writeHead(503, { 'retry-after': '1' }).end('busy');
      return true;
    };
    const m = await torrentOf(join(root, 'www', 'single.bin'), [`${server.url}/single.bin`]);
    const dir = freshDir();
    await withSession({ webSeed: quick }, async (s) => {
      const t = await s.add(m, { dir });
      const reasons: (string | null)[] = [];
      t.on('webseed:state', (_u, state, reason) => {
        if (state === 'backoff') reasons.push(reason);
      });
      await completed(t);
      assert.deepEqual(await readFile(join(dir, 'single.bin')), SINGLE);
      assert.ok(
        reasons.some((r) => /HTTP 503/.test(r ?? '')),
        reasons.join(', '),
      );
      assert.equal(t.webSeeds()[0]?.failures, 0);
    });
    assert.equal(refusals, 3);
  });

  test('a wrong range, a longer body, a huge head or a 200 for a byte range: backed off or banned with the reason', {
    timeout: 30_000,
  }, async () => {
    reset();
    server.hook = (req, res, path) => {
      if (path === '/short') {
        const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '')!;
        res.writeHead(206, {
          'content-length': 10,
          'content-range': `bytes ${m[1]}-${Number(m[1]) + 9}/${SINGLE.length}`,
        });
        res.end(SINGLE.subarray(0, 10));
        return true;
      }
      if (path === '/long') {
        // The right range, and more bytes than it holds.
        const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '')!;
        const len = Number(m[2]) - Number(m[1]) + 1;
        res.writeHead(206, {
          'content-length': len + 10,
          'content-range': `bytes ${m[1]}-${m[2]}/${SINGLE.length}`,
        });
        res.end(Buffer.alloc(len + 10));
        return true;
      }
      if (path === '/bighead') {
        res.writeHead(206, { 'x-junk': 'a'.repeat(20_000) }).end();
        return true;
      }
      if (path === '/norange') {
        res.writeHead(200, { 'content-length': SINGLE.length }).end(SINGLE);
        return true;
      }
      return false;
    };
    const m = await torrentOf(join(root, 'www', 'single.bin'), [
      `${server.url}/short`,
      `${server.url}/norange`,
      `${server.url}/long`,
      `${server.url}/bighead`,
    ]);
    await withSession({ webSeed: { ...quick, retryMinMs: 60_000 } }, async (s) => {
      const t = await s.add(m, { dir: freshDir() });
      await waitFor(() => {
        const [a, b, c, d] = t.webSeeds();
        return (
          a?.state === 'backoff' && b?.state === 'banned' && c?.state === 'backoff' && d?.state === 'backoff'
        );
      }, 10_000);
      const [short, norange, long, bighead] = t.webSeeds();
      assert.match(short?.reason ?? '', /asked bytes \d+-\d+, got bytes/);
      assert.match(norange?.reason ?? '', /ignores Range/);
      assert.match(long?.reason ?? '', /Content-Length \d+, asked \d+ bytes/);
      assert.match(bighead?.reason ?? '', /response head over 16384 bytes/);
      assert.equal(t.verifiedBytes, 0);
    });
  });

  test('a web seed and a peer together: both deliver and the download completes', {
    timeout: 30_000,
  }, async () => {
    reset();
    server.rateBytesPerSec = 1024 * 1024;
    const m = await torrentOf(join(root, 'www', 'single.bin'), [`${server.url}/single.bin`]);
    const seed = await seeder(m, join(root, 'www'));
    seed.uploadLimit.setRate(1024 * 1024);
    const dir = freshDir();
    try {
      await withSession({ webSeed: quick }, async (s) => {
        const t = await s.add(m, { dir, peers: [{ host: '127.0.0.1', port: seed.port }] });
        await completed(t);
        assert.deepEqual(await readFile(join(dir, 'single.bin')), SINGLE);
        const fromWeb = t.webSeeds()[0]?.downloadedBytes ?? 0;
        const fromPeers = seed.torrents[0]?.uploadedBytes ?? 0;
        assert.ok(fromWeb > 256 * 1024, `web seed gave ${fromWeb} bytes`);
        assert.ok(fromPeers > 256 * 1024, `peer gave ${fromPeers} bytes`);
      });
    } finally {
      await seed.stop();
    }
  });

  test('both sources together finish sooner than either alone (each held to 1 MiB/s)', {
    timeout: 60_000,
  }, async (t) => {
    reset();
    server.rateBytesPerSec = 1024 * 1024;
    const m = await torrentOf(join(root, 'www', 'single.bin'), [`${server.url}/single.bin`]);
    const seed = await seeder(m, join(root, 'www'));
    seed.uploadLimit.setRate(1024 * 1024);
    const timed = async (web: boolean, peer: boolean): Promise<number> => {
      const dir = freshDir();
      // One connection to the server, so that it too gives 1 MiB/s.
      return withSession({ webSeed: { ...quick, connections: 1 }, webSeeds: web }, async (s) => {
        const started = Date.now();
        const tt = await s.add(m, {
          dir,
          ...(peer ? { peers: [{ host: '127.0.0.1', port: seed.port }] } : {}),
        });
        await completed(tt);
        const ms = Date.now() - started;
        assert.deepEqual(await readFile(join(dir, 'single.bin')), SINGLE);
        return ms;
      });
    };
    try {
      const webOnly = await timed(true, false);
      const peerOnly = await timed(false, true);
      const both = await timed(true, true);
      t.diagnostic(`web seed alone ${webOnly} ms, peer alone ${peerOnly} ms, both ${both} ms`);
      // Alone each takes about 3 s for 3 MiB. Together the web seed takes runs in order (shorter
      // near the end), the peer the rest, and in the endgame each duplicates what the other holds.
      // Measured 2.1–2.5 s against about 3 s each: start-up, runs and the endgame keep it above the
      // ideal 1.5 s; the test holds the claim (sooner), with a margin for a loaded machine.
      assert.ok(both < 0.9 * Math.min(webOnly, peerOnly), `both ${both} ms vs ${webOnly} / ${peerOnly} ms`);
    } finally {
      await seed.stop();
    }
  });

  test('the download limit holds web seed bytes too; requests come from the bound address', {
    timeout: 30_000,
  }, async () => {
    reset();
    const m = await torrentOf(join(root, 'www', 'single.bin'), [`${server.url}/single.bin`]);
    const started = Date.now();
    // One request for the whole file: the limit must hold inside a response, not only between them.
    await withSession(
      {
        webSeed: { ...quick, minRunBytes: 8 * 1024 * 1024 },
        bind: '127.0.0.2',
        downloadLimitBytesPerSec: 1024 * 1024,
      },
      async (s) => {
        await completed(await s.add(m, { dir: freshDir() }));
      },
    );
    const seconds = (Date.now() - started) / 1000;
    // 3 MiB at 1 MiB/s, less the first burst.
    assert.ok(seconds > 2, `took ${seconds} s`);
    assert.equal(server.requests.length, 1);
    assert.ok(server.requests.every((r) => r.remote === '127.0.0.2'));
  });
});

describe('web seeds of a magnet link (ws=)', () => {
  test('used once the metadata is in, when local addresses are allowed; refused with a warning otherwise', {
    timeout: 30_000,
  }, async () => {
    reset();
    const m = await torrentOf(join(root, 'www', 'single.bin'), []);
    const seed = await seeder(m, join(root, 'www'));
    // The peer gives the metadata and little data: the web seed does most of the work.
    seed.uploadLimit.setRate(128 * 1024);
    const magnet = parseMagnet(
      formatMagnet({ infoHash: m.infoHash, webSeeds: [`${server.url}/single.bin`] }),
    );
    const peers = [{ host: '127.0.0.1', port: seed.port }];
    try {
      const refused: string[] = [];
      await withSession({ webSeed: quick }, async (s) => {
        s.on('magnet:refused', (_h, why) => refused.push(why));
        const t = await s.addMagnet(magnet, { dir: freshDir(), peers });
        assert.deepEqual(t.webSeeds(), []);
      });
      assert.ok(
        refused.some((w) =>
          w.startsWith(`web seed ${server.url}/single.bin not contacted: 127.0.0.1 is a local address`),
        ),
        refused.join('; '),
      );
      assert.equal(server.requests.length, 0);
      const dir = freshDir();
      await withSession({ webSeed: quick, allowLocalPeers: true }, async (s) => {
        const t = await s.addMagnet(magnet, { dir, peers });
        await completed(t);
        assert.deepEqual(await readFile(join(dir, 'single.bin')), SINGLE);
        assert.ok((t.webSeeds()[0]?.downloadedBytes ?? 0) > SINGLE.length / 2);
      });
    } finally {
      await seed.stop();
    }
  });
});

async function waitFor(pred: () => boolean, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > until) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}
