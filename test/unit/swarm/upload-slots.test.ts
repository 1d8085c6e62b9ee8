// Upload slots sized to the uplink, in a whole swarm (the simulator, virtual time): one seeder and
// six leechers with 40 Mbit/s uplinks sharing 64 MiB, as bench:swarm's `six`. The leechers learn from the rates
// they reach that their uplink carries more than four slots' worth, open more at once, and the swarm
// completes sooner and with fewer copies from the seeder than with the fixed four; a leecher on a
// slow uplink keeps the minimum.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_UNCHOKE_SLOTS } from '../../../src/swarm/choker.js';
import { SimSwarm } from '../../sim/harness.js';
import type { LinkSpec } from '../../sim/sim-network.js';

const KiB = 1024;

/** One seeder and six leechers on `link`; the last completion, the seeder's copies, the most slots a leecher had. */
async function six(
  link: LinkSpec,
  o: {
    seed: number;
    totalBytes: number;
    pieceLength: number;
    uploadSlots?: number;
    superSeed?: boolean | 'auto';
  },
) {
  const sw = new SimSwarm(o);
  const seeder = sw.addPeer({ role: 'seeder', link });
  const leechers = Array.from({ length: 6 }, (_, i) =>
    sw.addPeer({ role: 'leecher', link, joinAtMs: 100 + i * 20 }),
  );
  let mostSlots = 0;
  try {
    await sw.run(() => {
      for (const l of leechers) mostSlots = Math.max(mostSlots, l.torrent?.uploadSlots ?? 0);
      return sw.leechersDone === leechers.length;
    }, 1_800_000);
    assert.equal(sw.leechersDone, leechers.length, 'every leecher completes');
    return {
      lastMs: Math.max(...leechers.map((l) => l.completedAtMs!)),
      copies: seeder.torrent!.uploadedBytes / sw.metainfo.totalLength,
      mostSlots,
    };
  } finally {
    await sw.stop();
  }
}

test('a fast uplink opens more slots than four at once, and the swarm completes sooner', async () => {
  const link: LinkSpec = { upBytesPerSec: 5_000_000, downBytesPerSec: 50_000_000, latencyMs: 1 };
  // Without initial seeding: with it, both finish within 3 % of the bound F/u (13.4 s), and which is
  // ahead by a few ms is chance. Here the seeder's slots count as much as the leechers'.
  const shape = { seed: 1, totalBytes: 64 * 1024 * KiB, pieceLength: 64 * KiB, superSeed: false };
  const fixed = await six(link, { ...shape, uploadSlots: DEFAULT_UNCHOKE_SLOTS });
  const sized = await six(link, shape);
  assert.equal(fixed.mostSlots, DEFAULT_UNCHOKE_SLOTS);
  assert.ok(sized.mostSlots > 10, `a 5 MB/s uplink opened ${sized.mostSlots} slots`);
  assert.ok(
    sized.lastMs < fixed.lastMs,
    `sized to the uplink ${sized.lastMs.toFixed(0)} ms, four slots ${fixed.lastMs.toFixed(0)} ms`,
  );
  assert.ok(sized.copies <= fixed.copies + 0.005, `copies ${sized.copies} against ${fixed.copies}`);
});

test('a slow uplink keeps the minimum', async () => {
  const link: LinkSpec = { upBytesPerSec: 12_000, downBytesPerSec: 120_000, latencyMs: 20 };
  const r = await six(link, { seed: 2, totalBytes: 256 * KiB, pieceLength: 16 * KiB });
  assert.equal(r.mostSlots, DEFAULT_UNCHOKE_SLOTS, '12 kB/s shared: no slot beyond the four is worth it');
});
