// Issue 21 (5): a torrent tracked by its own peer's tracker takes that swarm as a peer source. A
// peer that announces to a seeder's embedded tracker and never dials (behind a NAT, or insisting on
// what the seeder does not speak first) is dialled by the seeder itself.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { test } from 'node:test';
import {
  addLeecher,
  addSeeder,
  memoryTorrent,
  ScriptedServer,
  startSession,
  stopAfterEachTest,
} from './scripted-peer.js';

const { sessions, servers } = stopAfterEachTest();

function announce(trackerPort: number, infoHash: Buffer, port: number, left: number): Promise<number> {
  const q = [
    `info_hash=${escape(infoHash.toString('latin1'))}`,
    `peer_id=${escape('-XX0000-000000000001')}`,
    `port=${port}`,
    'uploaded=0',
    'downloaded=0',
    `left=${left}`,
    'compact=1',
    'event=started',
  ].join('&');
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: trackerPort, path: `/announce?${q}` }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

test('a seeder dials the peers that announce to its own tracker', { timeout: 30_000 }, async () => {
  const t = memoryTorrent(256 * 1024, 64 * 1024);
  const seed = await startSession('127.0.0.1');
  sessions.push(seed);
  await addSeeder(seed, t);
  // A leecher that only listens: it never dials anybody.
  const leecher = await ScriptedServer.listen('127.0.0.1', { infoHash: t.metainfo.infoHash, pieces: 'none' });
  servers.push(leecher);
  assert.equal(await announce(seed.port, t.metainfo.infoHash, leecher.port, t.metainfo.totalLength), 200);
  const peer = await leecher.peer(0, 10_000);
  const hs = await peer.until(() => peer.remoteHandshake, 10_000, 'the seeder’s handshake');
  assert.ok(Buffer.from(hs.infoHash).equals(t.metainfo.infoHash));
});

test('a leecher takes its own tracker’s peers too, and never dials itself', {
  timeout: 30_000,
}, async () => {
  const t = memoryTorrent(256 * 1024, 64 * 1024);
  const seedSession = await startSession('127.0.0.1');
  sessions.push(seedSession);
  await addSeeder(seedSession, t);
  const leechSession = await startSession('127.0.0.1');
  sessions.push(leechSession);
  const { torrent } = await addLeecher(leechSession, t, []);
  // The seeder announces itself to the leecher's tracker: the leecher dials it and completes.
  assert.equal(await announce(leechSession.port, t.metainfo.infoHash, seedSession.port, 0), 200);
  await new Promise<void>((resolve) => torrent.once('torrent:complete', () => resolve()));
  // Our own announce of ourselves (same port, loopback) is not a peer to dial.
  assert.ok(!torrent.peerList().some((p) => p.listenPort === leechSession.port));
});
