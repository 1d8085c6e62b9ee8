// Trackerless swarms in one process: bitswarm sessions on 127.0.0.1 that find each other only
// through their Mainline DHT nodes (BEP 5) and fetch a magnet link's info dict (BEP 9). No tracker,
// no peer address, no public bootstrap: the first session starts a new DHT and the others
// bootstrap from it. Every session shares one IP, so the per-IP query limit is raised.
import assert from 'node:assert/strict';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { DhtDropReason, DhtNode } from '../../../src/discovery/dht/dht-node.js';
import { decodeKrpc, encodeKrpc } from '../../../src/protocol/krpc.js';
import { formatMagnet, parseMagnet } from '../../../src/protocol/magnet.js';
import { hybridV2Hash, type Metainfo, parseMetainfo } from '../../../src/protocol/metainfo.js';
import { Session, type SessionOptions } from '../../../src/session/session.js';
import type { Torrent } from '../../../src/swarm/torrent.js';
import { compareTree, makeSample, type Sample } from '../../interop/fixtures.js';
import { makeTorrent } from '../api/helpers.js';

const HOST = '127.0.0.1';
let root: string;
let sample: Sample;
let metainfo: Metainfo;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'bitswarm-dht-swarm-'));
  sample = await makeSample(root, 'multi', 512 * 1024 + 999);
  metainfo = parseMetainfo(await readFile(sample.torrent));
  assert.equal(metainfo.announceList.length, 0, 'the sample must have no tracker');
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

function dhtSession(bootstrapPorts: number[], extra: SessionOptions = {}): Session {
  return new Session({
    port: 0,
    bind: HOST,
    hasherThreads: 0,
    tracker: false,
    lsd: false,
    dhtBootstrap: bootstrapPorts.map((port) => ({ host: HOST, port })),
    dhtRateLimitPerSec: 100_000,
    ...extra,
  });
}

function dhtOf(s: Session) {
  const d = s.dht;
  assert.ok(d, 'the session has a DHT node');
  return d;
}

function completed(t: Torrent): Promise<void> {
  if (t.complete) return Promise.resolve();
  return new Promise((resolve) => t.once('torrent:complete', () => resolve()));
}

async function until(what: string, cond: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A magnet link with nothing but the info hash and name: no tr, no x.pe. */
function bareMagnet(m: Metainfo) {
  const magnet = parseMagnet(formatMagnet({ infoHash: m.infoHash, name: m.name }));
  assert.equal(magnet.trackers.length + magnet.peers.length, 0);
  return magnet;
}

test('20 DHT nodes on loopback: an announced torrent is found from every node, and a magnet link downloads', {
  timeout: 90_000,
}, async (t) => {
  const sessions: Session[] = [];
  try {
    const first = dhtSession([]);
    sessions.push(first);
    await first.start();
    for (let i = 1; i < 20; i++) {
      const s = dhtSession([first.port]);
      sessions.push(s);
      await s.start();
    }
    const joinedAt = Date.now();
    // Everyone knows the first node, and the first node (pinged back by all) knows many.
    await until(
      'every DHT node to join',
      () => sessions.every((s) => dhtOf(s).nodeCount >= 1) && dhtOf(first).nodeCount >= 8,
      20_000,
    );
    t.diagnostic(
      `joined in ${Date.now() - joinedAt} ms; routing table sizes ${sessions.map((s) => dhtOf(s).nodeCount).join(' ')}`,
    );

    const seeder = sessions[7]!;
    const announced = new Promise<number>((resolve) =>
      dhtOf(seeder).on('announce:done', (hex, nodes) => {
        if (hex === metainfo.infoHashHex) resolve(nodes);
      }),
    );
    const seedTorrent = await seeder.add(metainfo, { dir: sample.dataDir });
    assert.equal(seedTorrent.state, 'seeding');
    const nodes = await announced;
    assert.ok(nodes > 0, 'the announce reached no node');
    t.diagnostic(`announce reached ${nodes} nodes`);

    const lookupsAt = Date.now();
    const found = await Promise.all(
      sessions.map(async (s, i) => {
        if (s === seeder) return true;
        const peers = await dhtOf(s).lookup(metainfo.infoHash);
        const ok = peers.some((p) => p.host === HOST && p.port === seeder.port);
        if (!ok) t.diagnostic(`node ${i} found ${JSON.stringify(peers)}`);
        return ok;
      }),
    );
    t.diagnostic(`19 lookups in ${Date.now() - lookupsAt} ms`);
    assert.deepEqual(
      found.flatMap((ok, i) => (ok ? [] : [i])),
      [],
      'nodes that did not find the seeder',
    );

    // A magnet link across two of them: nothing but the info hash, the DHT does the rest.
    const leecher = sessions[15]!;
    const dir = join(root, 'dht-leech');
    const started = Date.now();
    const torrent = await leecher.addMagnet(bareMagnet(metainfo), { dir });
    t.diagnostic(`metadata in ${Date.now() - started} ms`);
    await completed(torrent);
    t.diagnostic(`magnet → complete in ${Date.now() - started} ms`);
    assert.equal(torrent.metainfo.infoHashHex, metainfo.infoHashHex);
    assert.deepEqual(await compareTree(sample, dir), []);
  } finally {
    await Promise.all(sessions.map((s) => s.stop()));
  }
});

/**
 * A bootstrap router that answers find_node slowly, as the public routers do from far away (DNS,
 * round trip): it answers after `delayMs` with the address of one real node.
 */
async function slowRouter(delayMs: number, node: { id: Buffer; port: number }): Promise<UdpSocket> {
  const sock = createSocket('udp4');
  const id = Buffer.alloc(20, 0xee);
  const timers = new Set<NodeJS.Timeout>();
  sock.on('close', () => {
    for (const timer of timers) clearTimeout(timer);
  });
  sock.on('message', (msg, rinfo) => {
    let q: ReturnType<typeof decodeKrpc>;
    try {
      q = decodeKrpc(msg);
    } catch {
      return;
    }
    if (q.kind !== 'query') return;
    const reply = encodeKrpc({
      kind: 'response',
      t: q.t,
      id,
      nodes: [{ id: node.id, host: HOST, port: node.port }],
    });
    const timer = setTimeout(() => {
      timers.delete(timer);
      sock.send(reply, rinfo.port, rinfo.address);
    }, delayMs);
    timers.add(timer);
  });
  await new Promise<void>((resolve) => sock.bind(0, HOST, resolve));
  return sock;
}

function portOf(sock: UdpSocket): number {
  return sock.address().port;
}

test('a torrent added while the DHT is still bootstrapping is announced once it has joined', {
  timeout: 30_000,
}, async (t) => {
  const sessions: Session[] = [];
  let router: UdpSocket | undefined;
  try {
    const first = dhtSession([]);
    sessions.push(first);
    await first.start();
    router = await slowRouter(1000, { id: dhtOf(first).nodeId, port: first.port });
    const seeder = dhtSession([portOf(router)]);
    sessions.push(seeder);
    await seeder.start();
    await seeder.add(metainfo, { dir: sample.dataDir });
    await until('the seeder to join the DHT', () => dhtOf(seeder).nodeCount >= 1, 10_000);
    const finder = dhtSession([first.port]);
    sessions.push(finder);
    await finder.start();
    await until('the finder to join', () => dhtOf(finder).nodeCount >= 1, 10_000);
    // Give the seeder time for a (re-)announce after joining, then look.
    let peers: { host: string; port: number }[] = [];
    const lookingAt = Date.now();
    const end = lookingAt + 10_000;
    while (Date.now() < end) {
      peers = await dhtOf(finder).lookup(metainfo.infoHash);
      if (peers.some((p) => p.port === seeder.port)) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.ok(
      peers.some((p) => p.port === seeder.port),
      `the seeder was never found; peers ${JSON.stringify(peers)}`,
    );
    t.diagnostic(`found ${Date.now() - lookingAt} ms after the finder joined`);
  } finally {
    router?.close();
    await Promise.all(sessions.map((s) => s.stop()));
  }
});

test('a magnet link added while the DHT is still bootstrapping does not wait for the next lookup round', {
  timeout: 40_000,
}, async (t) => {
  const sessions: Session[] = [];
  let router: UdpSocket | undefined;
  try {
    const first = dhtSession([]);
    sessions.push(first);
    await first.start();
    const seeder = dhtSession([first.port]);
    sessions.push(seeder);
    await seeder.start();
    await until('the seeder to join', () => dhtOf(seeder).nodeCount >= 1, 10_000);
    const announced = new Promise<void>((resolve) =>
      dhtOf(seeder).on('announce:done', (_hex, n) => {
        if (n > 0) resolve();
      }),
    );
    await seeder.add(metainfo, { dir: sample.dataDir });
    await announced;
    router = await slowRouter(500, { id: dhtOf(first).nodeId, port: first.port });
    const leecher = dhtSession([portOf(router)]);
    sessions.push(leecher);
    await leecher.start();
    const started = Date.now();
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), 6000);
    try {
      // The bootstrap answers within 0.5 s and the seeder is one lookup away: well under 6 s.
      await leecher.addMagnet(bareMagnet(metainfo), { dir: join(root, 'race-leech'), signal: ac.signal });
    } finally {
      clearTimeout(timer);
    }
    t.diagnostic(`metadata in ${Date.now() - started} ms`);
  } finally {
    router?.close();
    await Promise.all(sessions.map((s) => s.stop()));
  }
});

test('the DHT node keeps answering others during a get_peers flood from one address', {
  timeout: 30_000,
}, async (t) => {
  // The default per-IP limit (20 queries/s, burst 40): the flood comes from 127.0.0.2, the
  // well-behaved node from 127.0.0.1.
  const target = new Session({
    port: 0,
    bind: HOST,
    hasherThreads: 0,
    tracker: false,
    lsd: false,
    dhtBootstrap: [],
  });
  const flooder = createSocket('udp4');
  const honestSock = createSocket('udp4');
  let honest: DhtNode | undefined;
  let floodTimer: NodeJS.Timeout | undefined;
  try {
    await target.start();
    const dropped = { rateLimited: 0 };
    dhtOf(target).on('packet:dropped', (reason) => {
      if (reason === DhtDropReason.rateLimited) dropped.rateLimited++;
    });
    try {
      await new Promise<void>((resolve, reject) => {
        flooder.once('error', reject);
        flooder.bind(0, '127.0.0.2', () => resolve());
      });
    } catch {
      return t.skip('cannot bind 127.0.0.2');
    }
    let floodAnswers = 0;
    flooder.on('message', () => {
      floodAnswers++;
    });
    await new Promise<void>((resolve) => honestSock.bind(0, HOST, () => resolve()));
    honest = new DhtNode({
      send: (msg, host, port) => honestSock.send(msg, port, host),
      bootstrap: [{ host: HOST, port: target.port }],
    });
    const node = honest;
    honestSock.on('message', (msg, rinfo) =>
      node.handlePacket(msg, { address: rinfo.address, port: rinfo.port }),
    );

    // 100 get_peers per 50 ms tick (2,000 a second), each its own transaction and info hash, for 2 seconds.
    let sent = 0;
    const floodStarted = Date.now();
    const flooderId = Buffer.alloc(20, 0x66);
    floodTimer = setInterval(() => {
      for (let i = 0; i < 100; i++) {
        const q = encodeKrpc({
          kind: 'query',
          t: Buffer.from([sent >> 16, (sent >> 8) & 0xff, sent & 0xff]),
          id: flooderId,
          method: 'get_peers',
          infoHash: Buffer.from(`${String(sent).padStart(20, '0')}`.slice(0, 20)),
        });
        flooder.send(q, target.port, HOST);
        sent++;
      }
    }, 50);
    await node.start();
    // Meanwhile the well-behaved node pings ten times a second and runs a lookup.
    let answered = 0;
    const pings = 20;
    for (let i = 0; i < pings; i++) {
      if (await node.ping(HOST, target.port)) answered++;
      await new Promise((r) => setTimeout(r, 100));
    }
    const peers = await node.lookup(metainfo.infoHash);
    clearInterval(floodTimer);
    floodTimer = undefined;
    const floodSec = (Date.now() - floodStarted) / 1000;
    await new Promise((r) => setTimeout(r, 200));
    t.diagnostic(
      `flood: ${sent} queries in ${floodSec.toFixed(1)} s, ${floodAnswers} answered, ${dropped.rateLimited} rate-limited; honest pings answered ${answered}/${pings}`,
    );
    assert.equal(answered, pings, 'the well-behaved node was not answered every time');
    assert.deepEqual(peers, []);
    assert.ok(node.nodeCount >= 1, 'the well-behaved node did not keep the target in its table');
    assert.ok(sent > 3000, `the flood was only ${sent} queries`);
    // Burst of 40, then 20 a second: a flood is never amplified.
    assert.ok(floodAnswers <= 40 + 20 * (floodSec + 1), `the flooder got ${floodAnswers} answers`);
    assert.ok(dropped.rateLimited > 0);
  } finally {
    if (floodTimer) clearInterval(floodTimer);
    honest?.stop();
    flooder.close();
    honestSock.close();
    await target.stop();
  }
});

test('a hybrid (BEP 52) is announced under both names: each finds the seeder', {
  timeout: 60_000,
}, async () => {
  const sessions: Session[] = [];
  try {
    const first = dhtSession([]);
    sessions.push(first);
    await first.start();
    for (let i = 1; i < 6; i++) {
      const s = dhtSession([first.port]);
      sessions.push(s);
      await s.start();
    }
    await until('every DHT node to join', () => sessions.every((s) => dhtOf(s).nodeCount >= 1), 20_000);
    const hybrid = await makeTorrent(root, 'dht-hybrid', [40_000, 3_000], { version: 'hybrid' });
    const v2 = hybridV2Hash(hybrid.metainfo);
    assert.ok(v2);
    const seeder = sessions[3]!;
    const done = new Set<string>();
    dhtOf(seeder).on('announce:done', (hex) => done.add(hex));
    await seeder.add(hybrid.metainfo, { dir: hybrid.dataDir });
    await until(
      'both announces',
      () => done.has(hybrid.metainfo.infoHashHex) && done.has(v2.toString('hex')),
      20_000,
    );
    for (const name of [hybrid.metainfo.infoHash, v2]) {
      const peers = await dhtOf(sessions[5]!).lookup(name);
      assert.ok(
        peers.some((p) => p.host === HOST && p.port === seeder.port),
        `${name.toString('hex')}: ${JSON.stringify(peers)}`,
      );
    }
  } finally {
    await Promise.all(sessions.map((s) => s.stop()));
  }
});
