// Idle connections must not lock a torrent away (issue 19, defect 2). Peers that complete the
// handshake and then send only keep-alives took every slot of a torrent: an honest leecher stayed at
// 0 bytes, and a leecher full of idle incoming connections never dialed the seeder it was given.
// Now: a per-IP limit, idle peers evicted when a new peer needs the slot, and a share of the slots
// that incoming connections never take.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Session } from '../../../src/session/session.js';
import type { Torrent } from '../../../src/swarm/torrent.js';
import {
  addLeecher,
  addSeeder,
  assertSameBytes,
  completed,
  type MemoryTorrent,
  memoryTorrent,
  recordDisconnects,
  ScriptedPeer,
  startSession,
  stopAfterEachTest,
} from './scripted-peer.js';

const PIECE_LENGTH = 64 * 1024;
const fixture: MemoryTorrent = memoryTorrent(32 * PIECE_LENGTH - 1000, PIECE_LENGTH, 19);
const infoHash = fixture.metainfo.infoHash;

const { sessions, scripted } = stopAfterEachTest();

async function session(host: string): Promise<Session> {
  const s = await startSession(host);
  sessions.push(s);
  return s;
}

/**
 * `count` connections to `host:port` that complete the handshake and then only send keep-alives
 * (`interested` too, one in four: a waiting leecher looks like that). `from(i)` is the
 * local address of the i-th. Resolves once each is attached or was refused.
 */
async function idlers(
  host: string,
  port: number,
  count: number,
  from: (i: number) => string,
): Promise<ScriptedPeer[]> {
  const peers: ScriptedPeer[] = [];
  for (let i = 0; i < count; i++) {
    const p = await ScriptedPeer.connect(port, {
      infoHash,
      host,
      localAddress: from(i),
      keepAliveMs: 200,
      record: false,
    });
    scripted.push(p);
    peers.push(p);
    // One at a time, so each is attached (or refused) before the next arrives.
    await p.until(() => p.remoteHandshake, 5000, 'the handshake').catch(() => undefined);
    if (i % 4 === 0 && !p.isClosed) p.send({ type: 'interested' });
  }
  return peers;
}

const open = (peers: ScriptedPeer[]): number => peers.filter((p) => !p.isClosed).length;

async function download(leecher: Session, seeder: Session, seederHost: string): Promise<Torrent> {
  const { torrent, storage } = await addLeecher(leecher, fixture, [{ host: seederHost, port: seeder.port }]);
  await completed(torrent, 20_000);
  await assertSameBytes(storage, fixture);
  return torrent;
}

describe('idle connections do not lock a torrent away', () => {
  test('60 idle connections from one address: 8 are let in, an honest leecher downloads', {
    timeout: 60_000,
  }, async () => {
    const seeder = await session('127.0.0.2');
    const seed = await addSeeder(seeder, fixture);
    const hogs = await idlers('127.0.0.2', seeder.port, 60, () => '127.0.0.9');
    assert.equal(open(hogs), 8, 'connections kept from one address');
    assert.equal(seed.peerCount, 8);
    const leecher = await session('127.0.0.3');
    await download(leecher, seeder, '127.0.0.2');
  });

  test('the per-IP limit is an option: 3 peers of one machine at most', { timeout: 30_000 }, async () => {
    const seeder = await session('127.0.0.2');
    await addSeeder(seeder, fixture, { maxConnectionsPerIp: 3 });
    const hogs = await idlers('127.0.0.2', seeder.port, 5, () => '127.0.0.9');
    assert.equal(open(hogs), 3);
  });

  test('idle peers from 60 addresses fill the slots; a new leecher evicts one and downloads', {
    timeout: 60_000,
  }, async () => {
    const seeder = await session('127.0.0.2');
    const seed = await addSeeder(seeder, fixture, { evictIdleAfterMs: 300 });
    const gone = recordDisconnects(seed);
    const hogs = await idlers('127.0.0.2', seeder.port, 60, (i) => `127.0.1.${i + 1}`);
    // 50 slots, of which incoming connections may take 40 (the rest is kept for dialing).
    assert.equal(seed.peerCount, 40);
    await new Promise((resolve) => setTimeout(resolve, 400));
    const leecher = await session('127.0.0.3');
    await download(leecher, seeder, '127.0.0.2');
    const evicted = gone.filter((d) => d.reason === 'connection-limit');
    assert.ok(evicted.length >= 1, 'no idle peer was evicted');
    assert.ok(
      evicted.every((d) => d.address.startsWith('127.0.1.')),
      'an honest peer was evicted',
    );
    // Under load, late idlers may already have evicted early ones; at least one gave way to the leecher.
    assert.ok(open(hogs) <= 39, `${open(hogs)} idle peers kept their slots`);
  });

  test('idle peers younger than the eviction age keep their slots', { timeout: 30_000 }, async () => {
    const seeder = await session('127.0.0.2');
    const seed = await addSeeder(seeder, fixture, { maxConnections: 10, evictIdleAfterMs: 60_000 });
    await idlers('127.0.0.2', seeder.port, 8, (i) => `127.0.1.${i + 1}`);
    assert.equal(seed.peerCount, 8);
    const late = await ScriptedPeer.connect(seeder.port, {
      infoHash,
      host: '127.0.0.2',
      localAddress: '127.0.1.100',
    });
    scripted.push(late);
    await late.closed;
    assert.equal(seed.peerCount, 8);
  });

  test('a leecher with 50 idle incoming connections still dials the seeder it is given', {
    timeout: 60_000,
  }, async () => {
    const seeder = await session('127.0.0.2');
    await addSeeder(seeder, fixture);
    const leecher = await session('127.0.0.3');
    const { torrent, storage } = await addLeecher(leecher, fixture, []);
    const hogs = await idlers('127.0.0.3', leecher.port, 50, (i) => `127.0.2.${i + 1}`);
    assert.equal(open(hogs), 40);
    torrent.addPeers([{ host: '127.0.0.2', port: seeder.port }]);
    await completed(torrent, 20_000);
    await assertSameBytes(storage, fixture);
  });
});
