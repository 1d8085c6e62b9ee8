// The memory cap on pieces held while they are assembled and checked, in the simulator (virtual
// time, a disk that takes 3 ms per piece written): a download whose cap lets one piece at a time be
// held runs about as fast as one without a cap that matters. Before, a pipeline the cap had let run dry got no block that would refill it, and
// every piece waited for the torrent's next tick (a second).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SimSwarm } from '../../sim/harness.js';

const LINK = { upBytesPerSec: 8 * 1024 * 1024, downBytesPerSec: 8 * 1024 * 1024, latencyMs: 5 };

async function completionMs(maxUnverifiedBytes?: number): Promise<number> {
  const sw = new SimSwarm({
    seed: 3,
    totalBytes: 4 * 1024 * 1024,
    pieceLength: 256 * 1024,
    superSeed: false,
    pex: false,
    writeDelayMs: 3,
    ...(maxUnverifiedBytes !== undefined ? { maxUnverifiedBytes } : {}),
  });
  sw.addPeer({ role: 'seeder', link: LINK });
  const leecher = sw.addPeer({ role: 'leecher', link: LINK, joinAtMs: 100 });
  try {
    await sw.run(() => sw.leechersDone === 1, 60_000);
    assert.ok(leecher.completedAtMs !== undefined, 'the leecher completes');
    return leecher.completedAtMs - leecher.joinedAtMs!;
  } finally {
    await sw.stop();
  }
}

test('a download held to one piece by the memory cap is not slowed by it', async () => {
  const free = await completionMs();
  const capped = await completionMs(1);
  assert.ok(capped <= free * 1.25 + 50, `capped ${capped} ms vs ${free} ms without the cap`);
});
