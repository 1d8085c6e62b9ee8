// Issue 21 (3): the connection a magnet's metadata came over goes on with the download. Counted at
// a TCP relay in front of the seeder: one connection in all, metadata and pieces; and a seeder that
// takes one connection only (a busy client) still gives the whole download.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Magnet, parseMagnet } from '../../../src/protocol/magnet.js';
import { Session } from '../../../src/session/session.js';
import { MemoryStorage } from '../../../src/storage/memory-storage.js';
import { countingRelay } from '../../interop/helpers.js';
import {
  addSeeder,
  assertSameBytes,
  completed,
  memoryTorrent,
  recordDisconnects,
  stopAfterEachTest,
} from './scripted-peer.js';

const { sessions } = stopAfterEachTest();

async function session(): Promise<Session> {
  const s = new Session({
    port: 0,
    bind: '127.0.0.1',
    hasherThreads: 0,
    dht: false,
    lsd: false,
    encryption: 'off',
  });
  sessions.push(s);
  await s.start();
  return s;
}

for (const [label, max] of [
  ['one connection in all: the metadata and every piece come over the first', Infinity],
  ['a seeder that takes one connection only still gives the whole download', 1],
] as const) {
  test(`a magnet: ${label}`, { timeout: 30_000 }, async () => {
    const t = memoryTorrent(1024 * 1024, 64 * 1024);
    const seed = await session();
    await addSeeder(seed, t);
    const r = await countingRelay(seed.port, max);
    try {
      const leech = await session();
      const magnet: Magnet = parseMagnet(`magnet:?xt=urn:btih:${t.metainfo.infoHashHex}`);
      const storage = new MemoryStorage(t.metainfo);
      const started = Date.now();
      let closes: { address: string; reason: string }[] = [];
      const torrent = await leech.addMagnet(magnet, {
        dir: '',
        storage,
        skipCheck: true,
        peers: [{ host: '127.0.0.1', port: r.port }],
        onTorrent: (tt) => {
          closes = recordDisconnects(tt);
        },
      });
      await completed(torrent, 20_000);
      await assertSameBytes(storage, t);
      const ms = Date.now() - started;
      assert.equal(
        r.count(),
        1,
        `the relay took ${r.count()} connections; closed: ${JSON.stringify(closes)}`,
      );
      assert.ok(ms < 10_000, `complete after ${ms} ms`);
    } finally {
      await r.close();
    }
  });
}
