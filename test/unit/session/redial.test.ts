// Issue 21 (3): a refused first dial of a hand-given peer costs about a second, not ten: the peer
// is tried again after ~1 s, then less and less often (never more than 30 s apart for a --peer).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Session } from '../../../src/session/session.js';
import { freePort } from '../../interop/clients.js';
import { addLeecher, addSeeder, completed, memoryTorrent, stopAfterEachTest } from './scripted-peer.js';

const { sessions } = stopAfterEachTest();

test('a peer that refused the first dial is dialled again within seconds once it is up', {
  timeout: 30_000,
}, async () => {
  const t = memoryTorrent(256 * 1024, 64 * 1024);
  const port = await freePort();
  const leechSession = new Session({ port: 0, bind: '127.0.0.1', hasherThreads: 0, dht: false, lsd: false });
  sessions.push(leechSession);
  await leechSession.start();
  // Nothing listens on `port` yet: the first dial is refused.
  const { torrent } = await addLeecher(leechSession, t, [{ host: '127.0.0.1', port }]);
  await new Promise((r) => setTimeout(r, 300));
  const seed = new Session({ port, bind: '127.0.0.1', hasherThreads: 0, dht: false, lsd: false });
  sessions.push(seed);
  await seed.start();
  await addSeeder(seed, t);
  const up = Date.now();
  await completed(torrent, 20_000);
  const ms = Date.now() - up;
  // The old back-off waited 10 s after the first refusal; ~1 s (plus a tick) is the rule now.
  assert.ok(ms < 6_000, `connected ${ms} ms after the peer came up`);
});
