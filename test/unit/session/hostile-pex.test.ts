// PEX churn must not grow memory (issue 19, defect 4): a peer that reconnects and sends 100 fresh
// addresses each time grew a seeder by 400 MB. The addresses kept to dial are bounded per source
// and over all sources; the user's own peers are never dropped.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { encodeExtensionHandshake } from '../../../src/protocol/extension.js';
import { encodePex, type PexEntry } from '../../../src/protocol/pex.js';
import { LOCAL_EXTENSIONS } from '../../../src/session/extension-glue.js';
import { HasherPool } from '../../../src/storage/hasher-pool.js';
import { MemoryStorage } from '../../../src/storage/memory-storage.js';
import { MAX_CANDIDATES, MAX_CANDIDATES_PER_SOURCE } from '../../../src/swarm/peer-list.js';
import { Torrent } from '../../../src/swarm/torrent.js';
import { waitFor } from '../api/helpers.js';
import {
  addSeeder,
  type MemoryTorrent,
  memoryTorrent,
  ScriptedPeer,
  startSession,
  stopAfterEachTest,
} from './scripted-peer.js';

const fixture: MemoryTorrent = memoryTorrent(8 * 16 * 1024, 16 * 1024, 4);

const { sessions, scripted } = stopAfterEachTest();

/** `count` addresses never seen before: loopback hosts (127.64.0.0/10), port 9 where nothing listens. */
function freshAddresses(round: number, count: number): PexEntry[] {
  return Array.from({ length: count }, (_, i) => {
    const n = round * count + i;
    return { host: `127.${64 + ((n >> 16) & 63)}.${(n >> 8) & 255}.${n & 255}`, port: 9, flags: 0 };
  });
}

describe('the addresses to dial are bounded', () => {
  test('2,000 rounds of 100 fresh PEX addresses: the list stays at its bound; other sources and manual peers stay', () => {
    const hasher = new HasherPool({ threads: 0 });
    const torrent = new Torrent({
      metainfo: fixture.metainfo,
      storage: new MemoryStorage(fixture.metainfo),
      hasher,
      peerId: Buffer.alloc(20, 1),
    });
    torrent.addPeers([{ host: '127.0.0.77', port: 6881 }]);
    const fromTracker = freshAddresses(100_000, 300).map((a) => ({ host: a.host, port: 1 }));
    torrent.addPeers(fromTracker, 'tracker');
    for (let round = 0; round < 2000; round++) {
      torrent.addPeers(freshAddresses(round, 100), 'pex');
      const counts = torrent.candidateCounts();
      assert.ok(counts.pex <= MAX_CANDIDATES_PER_SOURCE, `round ${round}: ${counts.pex} PEX addresses`);
    }
    let counts = torrent.candidateCounts();
    assert.deepEqual(counts, {
      manual: 1,
      tracker: 300,
      dht: 0,
      lsd: 0,
      pex: MAX_CANDIDATES_PER_SOURCE,
      magnet: 0,
    });
    // The newest addresses are the ones kept.
    const known = new Set(torrent.knownAddresses());
    assert.ok(known.has('127.67.13.63:9'), 'the last address sent was dropped');
    assert.ok(!known.has('127.64.0.0:9'), 'the first address sent was kept');
    // A second chatty source: over all sources, the largest lists give way; manual ones never.
    for (let round = 0; round < 50; round++) torrent.addPeers(freshAddresses(200_000 + round, 100), 'dht');
    counts = torrent.candidateCounts();
    assert.equal(counts.manual, 1);
    assert.equal(counts.tracker, 300);
    assert.equal(counts.pex + counts.dht + counts.tracker, MAX_CANDIDATES);
    assert.ok(torrent.knownAddresses().includes('127.0.0.77:6881'));
    // The user naming a found address makes it theirs.
    torrent.addPeers([fromTracker[0]!]);
    assert.equal(torrent.candidateCounts().manual, 2);
    assert.equal(torrent.candidateCounts().tracker, 299);
  });

  test('a PEX peer over a real socket reconnects 15 times with 100 fresh addresses each: the seeder keeps at most the bound', {
    timeout: 60_000,
  }, async () => {
    const seeder = await startSession('127.0.0.2');
    sessions.push(seeder);
    const seed = await addSeeder(seeder, fixture);
    seed.addPeers([{ host: '127.0.0.77', port: 9 }]);
    const handshake = encodeExtensionHandshake({ m: { ut_pex: 7 }, p: 6881 });
    let learned = 0;
    for (let round = 0; round < 15; round++) {
      const p = await ScriptedPeer.connect(seeder.port, {
        infoHash: fixture.metainfo.infoHash,
        host: '127.0.0.2',
        localAddress: '127.0.0.9',
        extended: true,
        record: false,
      });
      scripted.push(p);
      await p.until(() => p.remoteHandshake, 5000, 'the handshake');
      p.send({ type: 'extended', id: 0, payload: handshake });
      const added = freshAddresses(round, 100);
      p.send({
        type: 'extended',
        id: LOCAL_EXTENSIONS.ut_pex,
        payload: encodePex({ added, dropped: [], added6: [], dropped6: [] }),
      });
      // Learned once the seeder has read the message.
      const before = seeder.learnedByPex;
      await waitFor(() => seeder.learnedByPex >= before + 100, `round ${round}'s addresses`, 5000);
      learned = seeder.learnedByPex;
      p.destroy();
      await p.closed;
    }
    assert.equal(learned, 1500);
    const counts = seed.candidateCounts();
    assert.ok(counts.pex <= MAX_CANDIDATES_PER_SOURCE, `${counts.pex} PEX addresses kept`);
    assert.ok(counts.pex >= MAX_CANDIDATES_PER_SOURCE - 50, `only ${counts.pex} PEX addresses kept`);
    assert.ok(seed.knownAddresses().includes('127.0.0.77:9'), 'the manual peer was dropped');
  });
});
