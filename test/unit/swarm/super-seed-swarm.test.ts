// Initial seeding in a whole swarm (the simulator, virtual time): one seeder, six or twelve leechers
// that dial it and that it then learns from the tracker. It does not dial them back (a second
// connection to a peer is closed as a twin, and before, with it went what initial seeding knew of
// the peer: the pieces it held were offered again, about 9 % of the file sent twice); with twelve
// sharing its uplink, a leecher whose requests wait at the seeder for seconds keeps its offers (it
// was released from initial seeding, another 9 %); each piece is sent about once (≤ 1.03 copies:
// 1.000–1.021 measured, automatic or forced, with the upload slots sized to the uplink).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SimSwarm } from '../../sim/harness.js';

const KiB = 1024;
const LINK = { upBytesPerSec: 640 * KiB, downBytesPerSec: 2560 * KiB, latencyMs: 5 };

test('a super-seeder sends each piece about once and keeps the connections its leechers made', async () => {
  for (const [seed, n, superSeed] of [
    [1, 6, true],
    [2, 12, true],
    [3, 6, 'auto'],
    [4, 12, 'auto'],
  ] as const) {
    const sw = new SimSwarm({ seed, totalBytes: 16 * 1024 * KiB, pieceLength: 64 * KiB, superSeed });
    const seeder = sw.addPeer({ role: 'seeder', link: LINK });
    const leechers = Array.from({ length: n }, (_, i) =>
      sw.addPeer({ role: 'leecher', link: LINK, joinAtMs: 100 + i * 50 }),
    );
    const closes: string[] = [];
    let hooked = false;
    try {
      await sw.run(() => {
        if (!hooked && seeder.torrent) {
          hooked = true;
          seeder.torrent.on('peer:disconnect', (_a, reason) => closes.push(reason));
        }
        return sw.leechersDone === leechers.length;
      }, 600_000);
      assert.equal(sw.leechersDone, n, 'every leecher completes');
      const copies = seeder.torrent!.uploadedBytes / sw.metainfo.totalLength;
      assert.ok(
        copies <= 1.03,
        `seed ${seed}, ${superSeed}: the seeder uploaded ${copies.toFixed(3)} copies`,
      );
      assert.equal(closes.filter((r) => r === 'duplicate-connection').length, 0, closes.join(', '));
    } finally {
      await sw.stop();
    }
  }
});

/** One seeder, `leechers` joining 50 ms apart, maybe a second seeder; the last completion and the first seeder. */
async function run(superSeed: boolean | 'auto', leechers: number, secondSeeder = false) {
  const sw = new SimSwarm({ seed: 7, totalBytes: 8 * 1024 * KiB, pieceLength: 64 * KiB, superSeed });
  const seeder = sw.addPeer({ role: 'seeder', link: LINK });
  // The other seeder (libtorrent's, Transmission's) announces every piece.
  if (secondSeeder) sw.addPeer({ role: 'seeder', link: LINK, superSeed: false });
  const ls = Array.from({ length: leechers }, (_, i) =>
    sw.addPeer({ role: 'leecher', link: LINK, joinAtMs: 100 + i * 50 }),
  );
  let superSeedingAtStart: boolean | undefined;
  try {
    await sw.run(() => {
      superSeedingAtStart ??= seeder.torrent?.superSeeding;
      return sw.leechersDone === ls.length;
    }, 600_000);
    assert.equal(sw.leechersDone, leechers, 'every leecher completes');
    return {
      lastMs: Math.max(...ls.map((l) => l.completedAtMs!)),
      superSeedingAtStart,
      superSeedingAtEnd: seeder.torrent!.superSeeding,
      copies: seeder.torrent!.uploadedBytes / sw.metainfo.totalLength,
    };
  } finally {
    await sw.stop();
  }
}

test('automatic initial seeding serves a lone leecher as fast as plain seeding does, and a forced one would not', async () => {
  const plain = await run(false, 1);
  const auto = await run('auto', 1);
  const forced = await run(true, 1);
  assert.equal(auto.superSeedingAtStart, true, 'it starts as initial seeding');
  assert.ok(
    auto.lastMs <= plain.lastMs * 1.1,
    `alone, the leecher is served as by any seeder: ${auto.lastMs} ms against ${plain.lastMs} ms`,
  );
  // Forced, the lone leecher still completes (nobody to pass pieces on to: no starvation wait).
  assert.ok(forced.lastMs <= plain.lastMs * 1.5, `forced: ${forced.lastMs} ms against ${plain.lastMs} ms`);
});

test('automatic initial seeding ends when another seeder is in the swarm', async () => {
  const r = await run('auto', 4, true);
  assert.equal(r.superSeedingAtStart, true);
  assert.equal(r.superSeedingAtEnd, false, 'a seeder connected: we are not the only source');
  const forced = await run(true, 4, true);
  assert.equal(forced.superSeedingAtEnd, true, 'forced, it goes on');
});
