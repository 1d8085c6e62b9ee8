// Hostile peers in a v2 swarm (BEP 52): pieces are checked by their merkle piece hashes, and a peer
// that sends bad blocks is the one banned: at once when it sent the whole bad piece; when honest
// peers sent the rest of the piece, at its first bad block from the leaf hashes an honest peer sends
// (proven by the piece's hash), and else by smart ban (its blocks compared once the piece verifies).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Session } from '../../../src/session/session.js';
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

  test('a liar among honest senders is named at its first bad block by proven leaf hashes, before any retry', async () => {
    // The liar answers only the second block of a piece, corrupted: it never sends a piece alone, so
    // every bad piece has an honest sender too. The honest seeder uploads at 64 KiB/s: the retry of a
    // failed piece (one piece a second) comes long after the leaf hashes (a round trip). Smart ban
    // could only name the liar once a retry verifies; the merkle proof names it before.
    const liar = await ScriptedServer.listen(HOSTILE, {
      infoHash,
      pieces: 'all',
      serve: { ...corruptAll, answer: (b) => b.offset === 16384 },
    });
    servers.push(liar);
    const seeder = new Session({
      port: 0,
      bind: '127.0.0.2',
      hasherThreads: 0,
      uploadLimitBytesPerSec: 64 * 1024,
    });
    sessions.push(seeder);
    await seeder.start();
    await addSeeder(seeder, fixture);
    const leecher = await session('127.0.0.4');
    const failed: { piece: number; from: string[] }[] = [];
    const verified: number[] = [];
    const { torrent: leech, storage } = await addLeecher(
      leecher,
      fixture,
      [
        { host: HOSTILE, port: liar.port },
        { host: '127.0.0.2', port: seeder.port },
      ],
      {
        torrentOptions: { connectionOptions: { requestTimeoutMs: 1000 } },
        onTorrent: (t) => {
          t.on('piece:failed', (piece, from) => failed.push({ piece, from }));
          t.on('piece:verified', (piece) => verified.push(piece));
        },
      },
    );
    await eventOf(leech, 'peer:banned', (a) => a === `${HOSTILE}:${liar.port}`, 10_000);
    assert.ok(failed.length >= 1, 'a piece failed');
    assert.ok(
      failed.every((f) => f.from.length > 1),
      `every failed piece had an honest sender too: ${JSON.stringify(failed)}`,
    );
    assert.ok(
      failed.every((f) => !verified.includes(f.piece)),
      `banned before a failed piece was downloaded again: ${JSON.stringify({ failed, verified })}`,
    );
    seeder.uploadLimit.setRate(0); // the point is made: the rest at full speed
    await completed(leech, 10_000);
    await assertSameBytes(storage, fixture);
    assert.deepEqual(leech.bannedPeers, [`${HOSTILE}:${liar.port}`]);
  });
});
