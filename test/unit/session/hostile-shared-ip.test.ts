// Issue 18, bans scoped to the offender: on one machine (several peers, one address, different
// ports) or behind one NAT, one corrupt peer must not shut out the honest peers of its address. A
// ban takes the endpoint (host:port) and the peer id that lied; the address goes only when two of
// its endpoints have lied.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Session } from '../../../src/session/session.js';
import type { Torrent } from '../../../src/swarm/torrent.js';
import { freePort } from '../../interop/clients.js';
import {
  addLeecher,
  addSeeder,
  assertSameBytes,
  completed,
  eventOf,
  type MemoryTorrent,
  memoryTorrent,
  ScriptedPeer,
  ScriptedServer,
  startSession,
  stopAfterEachTest,
} from './scripted-peer.js';

const PIECE_LENGTH = 64 * 1024;
const fixture: MemoryTorrent = memoryTorrent(24 * PIECE_LENGTH - 3000, PIECE_LENGTH, 7);
const infoHash = fixture.metainfo.infoHash;
/** The address the liars and the honest peer share. */
const SHARED = '127.0.0.7';
const corruptAll = { data: fixture.data, pieceLength: PIECE_LENGTH, corrupt: () => true };

const { sessions, scripted, servers } = stopAfterEachTest();

async function session(host: string, port = 0): Promise<Session> {
  const s = port === 0 ? await startSession(host) : await startSessionOn(host, port);
  sessions.push(s);
  return s;
}

/** A session on a given port (the honest peer's, named before it was up). */
async function startSessionOn(host: string, port: number): Promise<Session> {
  const s = new Session({ port, bind: host, hasherThreads: 0, encryption: 'off' });
  await s.start();
  return s;
}

async function liar(): Promise<ScriptedServer> {
  const s = await ScriptedServer.listen(SHARED, { infoHash, pieces: 'all', serve: corruptAll });
  servers.push(s);
  return s;
}

describe('bans scoped to the offender', { skip: process.platform !== 'linux' && 'needs 127.0.0.7' }, () => {
  test('a liar and an honest peer on one address: only the liar is banned; the honest one, named before it was up, is dialled after the ban', {
    timeout: 30_000,
  }, async () => {
    const bad = await liar();
    const honestPort = await freePort();
    const leecher = await session('127.0.0.4');
    const banned: string[] = [];
    let leech: Torrent | undefined;
    const { storage } = await addLeecher(
      leecher,
      fixture,
      [
        { host: SHARED, port: bad.port },
        // Given by the user, not up yet: the first dials are refused.
        { host: SHARED, port: honestPort },
      ],
      {
        onTorrent: (t) => {
          leech = t;
          t.on('peer:banned', (address, scope) => banned.push(`${scope} ${address}`));
        },
      },
    );
    assert.ok(leech);
    await eventOf(leech, 'peer:banned', () => true, 10_000);
    assert.deepEqual(banned, [`peer ${SHARED}:${bad.port}`]);
    const honest = await session(SHARED, honestPort);
    await addSeeder(honest, fixture);
    await completed(leech, 20_000);
    await assertSameBytes(storage, fixture);
    assert.deepEqual(banned, [`peer ${SHARED}:${bad.port}`], 'the honest endpoint was banned');
    assert.equal(bad.accepted, 1, 'the banned endpoint was dialled again');
  });

  test('two lying endpoints of one address: the address is banned, and a new connection from it is dropped', {
    timeout: 30_000,
  }, async () => {
    const first = await liar();
    const second = await liar();
    const leecher = await session('127.0.0.4');
    const banned: string[] = [];
    let leech: Torrent | undefined;
    await addLeecher(leecher, fixture, [{ host: SHARED, port: first.port }], {
      onTorrent: (t) => {
        leech = t;
        t.on('peer:banned', (address, scope) => banned.push(`${scope} ${address}`));
      },
    });
    assert.ok(leech);
    await eventOf(leech, 'peer:banned', () => true, 10_000);
    leech.addPeers([{ host: SHARED, port: second.port }]);
    await eventOf(leech, 'peer:banned', (a) => a === SHARED, 10_000);
    assert.deepEqual(banned, [
      `peer ${SHARED}:${first.port}`,
      `peer ${SHARED}:${second.port}`,
      `host ${SHARED}`,
    ]);
    // Any port of it now: dropped before our handshake answers.
    const back = await ScriptedPeer.connect(leecher.port, {
      infoHash,
      host: '127.0.0.4',
      localAddress: SHARED,
    });
    scripted.push(back);
    await back.closed;
    assert.equal(back.remoteHandshake, undefined);
  });
});
