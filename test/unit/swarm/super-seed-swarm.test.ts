// Initial seeding in a whole swarm (the simulator, virtual time): one seeder, six or twelve leechers
// that dial it and that it then learns from the tracker. It does not dial them back (a second
// connection to a peer is closed as a twin, and before, with it went what initial seeding knew of
// the peer: the pieces it held were offered again, about 9 % of the file sent twice); with twelve
// sharing its uplink, a leecher whose requests wait at the seeder for seconds keeps its offers (it
// was released from initial seeding, another 9 %); each piece is sent about once.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SimSwarm } from '../../sim/harness.js';

const KiB = 1024;
const LINK = { upBytesPerSec: 640 * KiB, downBytesPerSec: 2560 * KiB, latencyMs: 5 };

test('a super-seeder sends each piece about once and keeps the connections its leechers made', async () => {
  for (const [seed, n] of [
    [1, 6],
    [2, 12],
  ] as const) {
    const sw = new SimSwarm({ seed, totalBytes: 16 * 1024 * KiB, pieceLength: 64 * KiB, superSeed: true });
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
      assert.ok(copies <= 1.02, `seed ${seed}: the seeder uploaded ${copies.toFixed(3)} copies`);
      assert.equal(closes.filter((r) => r === 'duplicate-connection').length, 0, closes.join(', '));
    } finally {
      await sw.stop();
    }
  }
});
