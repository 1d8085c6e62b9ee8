// Hostile peers in a v2 swarm (BEP 52): pieces are checked by their merkle piece hashes, and a peer
// that sends bad blocks is the one banned: at once when it sent the whole bad piece, by smart ban
// (its blocks compared once the piece verifies) when honest peers sent the rest of the piece.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Session } from '../../../src/session/session.js';
import type { Torrent } from '../../../src/swarm/torrent.js';
import {
  addLeecher,
  addSeeder,
  assertSameBytes,
  completed,
  eventOf,
  type MemoryTorrent,
  memoryTorrentV2,
  ScriptedServer,
  startSession,
  stopAfterEachTest,
} from './scripted-peer.js';

const PIECE_LENGTH = 64 * 1024; // 4 blocks
const fixture: MemoryTorrent = memoryTorrentV2(24 * PIECE_LENGTH - 5000, PIECE_LENGTH, 5);
const infoHash = fixture.metainfo.infoHash;
const HOSTILE = '127.0.0.9';
const corruptAll = { data: fixture.data, pieceLength: PIECE_LENGTH, corrupt: () => true };

const { sessions, servers } = stopAfterEachTest();

async function session(host: string): Promise<Session> {
  const s = await startSession(host);
  sessions.push(s);
  return s;
}

async function seeders(hosts: string[]): Promise<{ host: string; port: number }[]> {
  const out: { host: string; port: number }[] = [];
  for (const host of hosts) {
    const s = await session(host);
    await addSeeder(s, fixture);
    out.push({ host, port: s.port });
  }
  return out;
}

describe('hostile peers in a v2 swarm', () => {
  test('the fixture is v2-only: known by its truncated SHA-256', () => {
    assert.equal(fixture.metainfo.version, 'v2');
    assert.deepEqual(fixture.metainfo.infoHash, fixture.metainfo.infoHashV2?.subarray(0, 20));
  });

  test('a peer that sent a whole bad piece alone is banned at once; honest peers complete it', async () => {
    const liar = await ScriptedServer.listen(HOSTILE, { infoHash, pieces: 'all', serve: corruptAll });
    servers.push(liar);
    const leecher = await session('127.0.0.4');
    let leech: Torrent | undefined;
    const log: string[] = [];
    const { storage } = await addLeecher(leecher, fixture, [{ host: HOSTILE, port: liar.port }], {
      onTorrent: (t) => {
        leech = t;
        t.on('piece:failed', (piece, from) => log.push(`failed ${piece} from ${from.join(',')}`));
        t.on('peer:banned', (host) => log.push(`banned ${host}`));
      },
    });
    assert.ok(leech);
    const endpoint = `${HOSTILE}:${liar.port}`;
    await eventOf(leech, 'peer:banned', (a) => a === endpoint, 5000);
    assert.match(log[0] ?? '', /^failed \d+ from 127\.0\.0\.9:\d+$/);
    assert.equal(log[1], `banned ${endpoint}`);
    assert.equal(leech.bitfield.count, 0);
    leech.addPeers(await seeders(['127.0.0.2']));
    await completed(leech, 10_000);
    await assertSameBytes(storage, fixture);
  });

  test('one corrupt block in four, beside two honest seeders: only the liar is banned', async () => {
    const liar = await ScriptedServer.listen(HOSTILE, {
      infoHash,
      pieces: 'all',
      serve: { ...corruptAll, corrupt: (b) => b.offset === 2 * 16384 },
    });
    servers.push(liar);
    const honest = await seeders(['127.0.0.2', '127.0.0.3']);
    const leecher = await session('127.0.0.4');
    const banned: string[] = [];
    const { torrent: leech, storage } = await addLeecher(
      leecher,
      fixture,
      [{ host: HOSTILE, port: liar.port }, ...honest],
      { onTorrent: (t) => t.on('peer:banned', (host) => banned.push(host)) },
    );
    await completed(leech, 10_000);
    await assertSameBytes(storage, fixture);
    assert.ok(
      banned.every((b) => b.startsWith(`${HOSTILE}:`)),
      `honest peers banned: ${banned}`,
    );
  });
});
