// Trackerless swarms with libtorrent: a magnet link and the Mainline DHT are all each side is given.
// No tracker, no peer address: the DHT's only node to start from is a bitswarm process that began a
// new DHT on 127.0.0.1 (`--dht-bootstrap none`), so every packet stays on loopback. Results are
// checked byte for byte. libtorrent runs with --dht-loopback (see lt-peer.py): by default it keeps
// one routing-table entry per IP, and every node here is 127.0.0.1.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { decodeKrpc, encodeKrpc } from '../../src/protocol/krpc.js';
import { formatMagnet } from '../../src/protocol/magnet.js';
import { parseMetainfo } from '../../src/protocol/metainfo.js';
import { createTorrent } from '../../src/storage/create-torrent.js';
import {
  bitswarm,
  bitswarmDhtRoot,
  freePort,
  killAll,
  libtorrentDht,
  onLoopback,
  type Proc,
  requireTool,
} from './clients.js';
import { compareTree, makeSample, type Sample } from './fixtures.js';

const TIMEOUT_MS = 150_000;
let root: string;
let sample: Sample;
let magnet: string;
/** An unrelated one-piece torrent the DHT root seeds, so that it is a plain `bitswarm seed`. */
const rootTorrent = { torrent: '', dir: '' };

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'bitswarm-dht-interop-'));
  sample = await makeSample(root, 'multi', 1024 * 1024 + 4321);
  const m = parseMetainfo(await readFile(sample.torrent));
  assert.equal(m.announceList.length, 0, 'the sample must have no tracker');
  // No tr, no x.pe: the DHT is the only way to the other side.
  magnet = formatMagnet({ infoHash: m.infoHash, name: m.name });
  rootTorrent.dir = join(root, 'dht-root');
  await mkdir(rootTorrent.dir, { recursive: true });
  await writeFile(join(rootTorrent.dir, 'root.txt'), 'the first node of a test DHT\n');
  const created = await createTorrent(join(rootTorrent.dir, 'root.txt'), { creationDate: null, threads: 0 });
  rootTorrent.torrent = join(root, 'root.torrent');
  await writeFile(rootTorrent.torrent, created.torrent);
});

after(async () => {
  await killAll();
  await rm(root, { recursive: true, force: true });
});

/** Asks one DHT node (get_peers) until it returns peers for `infoHash`, or fails after `timeoutMs`. */
async function waitForDhtPeers(
  host: string,
  port: number,
  infoHash: Buffer,
  timeoutMs: number,
): Promise<void> {
  const sock = createSocket('udp4');
  await new Promise<void>((res) => sock.bind(0, '127.0.0.1', res));
  const id = randomBytes(20);
  let found = false;
  sock.on('message', (msg) => {
    try {
      const r = decodeKrpc(msg);
      if (r.kind === 'response' && (r.values?.length ?? 0) > 0) found = true;
    } catch {
      // not for us
    }
  });
  try {
    const deadline = Date.now() + timeoutMs;
    while (!found) {
      if (Date.now() > deadline) throw new Error(`the DHT node ${host}:${port} never listed the seeder`);
      const t = randomBytes(2);
      sock.send(encodeKrpc({ kind: 'query', t, id, method: 'get_peers', infoHash }), port, host);
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    sock.close();
  }
}

function exitedWithin(p: Proc, ms: number): Promise<number | null | 'timeout'> {
  return Promise.race([p.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), ms).unref())]);
}

test('bitswarm downloads a magnet link from a libtorrent seeder found through the DHT', {
  timeout: TIMEOUT_MS,
}, async (t) => {
  const skip = requireTool('/usr/bin/python3');
  if (skip) return t.skip(skip);
  const dhtRoot = await bitswarmDhtRoot(rootTorrent.torrent, rootTorrent.dir);
  const bootstrap = `127.0.0.1:${dhtRoot.port}`;
  // libtorrent announces a seeding torrent to the DHT by itself once its DHT has bootstrapped.
  const seeder = await libtorrentDht({
    torrent: sample.torrent,
    dir: sample.dataDir,
    dhtBootstrap: bootstrap,
  });
  const dir = join(root, 'bs-from-lt');
  try {
    await seeder.waitFor((l) => l.includes('"complete"'), 30_000, 'libtorrent seeder ready');
    const started = Date.now();
    const port = await freePort();
    const leecher = bitswarm([
      'download',
      magnet,
      '-d',
      dir,
      ...onLoopback(port),
      '--dht-bootstrap',
      bootstrap,
      '--no-tracker',
      '--json',
    ]);
    const code = await exitedWithin(leecher, TIMEOUT_MS - 40_000);
    if (code === 'timeout') await leecher.kill('SIGKILL');
    const why = `bitswarm download exited ${code}:\n${leecher.output.slice(-20).join('\n')}\nlibtorrent:\n${seeder.output.slice(-10).join('\n')}`;
    assert.equal(code, 0, why);
    t.diagnostic(`magnet → complete in ${Date.now() - started} ms`);
    assert.deepEqual(await compareTree(sample, dir), []);
  } finally {
    await seeder.kill();
    await dhtRoot.kill();
  }
});

test('libtorrent downloads a magnet link from a bitswarm seeder found through the DHT', {
  timeout: TIMEOUT_MS,
}, async (t) => {
  const skip = requireTool('/usr/bin/python3');
  if (skip) return t.skip(skip);
  const dhtRoot = await bitswarmDhtRoot(rootTorrent.torrent, rootTorrent.dir);
  const bootstrap = `127.0.0.1:${dhtRoot.port}`;
  const port = await freePort();
  // The seeder joins the DHT through the root and announces the torrent there (no tracker at all).
  const seeder = bitswarm([
    'seed',
    sample.torrent,
    '-d',
    sample.dataDir,
    ...onLoopback(port),
    '--dht-bootstrap',
    bootstrap,
    '--no-tracker',
    '--json',
  ]);
  const dir = join(root, 'lt-from-bs');
  try {
    await seeder.waitFor((l) => l.includes('"event":"complete"'), 30_000, 'bitswarm seeder ready');
    const started = Date.now();
    // libtorrent 2.0.8 does not search the DHT for a magnet added before its DHT has bootstrapped
    // (no get_peers for it in 60 s here): --dht-announce-every asks it to, until a peer connects.
    const leecher = await libtorrentDht({
      magnet,
      dir,
      dhtBootstrap: bootstrap,
      dhtAnnounceEverySec: 5,
      exitWhenDone: true,
    });
    await leecher.waitFor(
      (l) => l.includes('"complete"'),
      TIMEOUT_MS - 40_000,
      'libtorrent to complete from the magnet link',
    );
    t.diagnostic(`magnet → complete in ${Date.now() - started} ms`);
    await leecher.kill();
    assert.deepEqual(await compareTree(sample, dir), []);
  } finally {
    await seeder.kill();
    await dhtRoot.kill();
  }
});

// Issue 21: a libtorrent peer with its *default* DHT settings (one routing-table node per IP and per
// /24, BEP 42 ids preferred, nothing relaxed, no forced announce) finds a bitswarm seeder through the
// DHT alone. Each node has its own /24 of 127/8, as hosts of a real network would.
test('libtorrent with default DHT settings finds a bitswarm seeder by magnet through the DHT alone', {
  timeout: TIMEOUT_MS,
}, async (t) => {
  const skip = requireTool('/usr/bin/python3');
  if (skip) return t.skip(skip);
  const m = parseMetainfo(await readFile(sample.torrent));
  const dhtRoot = await bitswarmDhtRoot(rootTorrent.torrent, rootTorrent.dir, '127.0.1.1');
  const bootstrap = `127.0.1.1:${dhtRoot.port}`;
  const port = await freePort();
  const seeder = bitswarm([
    'seed',
    sample.torrent,
    '-d',
    sample.dataDir,
    '--port',
    String(port),
    '--bind',
    '127.0.2.1',
    '--dht-bootstrap',
    bootstrap,
    '--no-tracker',
    '--json',
  ]);
  const dir = join(root, 'lt-defaults-from-bs');
  try {
    await seeder.waitFor((l) => l.includes('"event":"complete"'), 30_000, 'bitswarm seeder ready');
    // As for a seeder that has been up a while: its announce has reached the DHT. (libtorrent looks
    // a new magnet up once, then every 15 minutes.)
    await waitForDhtPeers('127.0.1.1', dhtRoot.port, m.infoHash, 30_000);
    const started = Date.now();
    const leecher = await libtorrentDht({
      magnet,
      dir,
      dhtBootstrap: bootstrap,
      dhtDefaults: true,
      bind: '127.0.3.1',
      exitWhenDone: true,
    });
    await leecher.waitFor(
      (l) => l.includes('"complete"'),
      TIMEOUT_MS - 40_000,
      'libtorrent (default DHT settings) to complete from the magnet link',
    );
    t.diagnostic(`magnet → complete in ${Date.now() - started} ms`);
    await leecher.kill();
    assert.deepEqual(await compareTree(sample, dir), []);
  } finally {
    await seeder.kill();
    await dhtRoot.kill();
  }
});
