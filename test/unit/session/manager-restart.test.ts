// The torrent manager across restarts: every torrent comes back as it was (a paused one stays
// paused), resume data is trusted when sizes and mtimes match and checked again when they do not,
// and seeding goals (ratio, time) finish a torrent for good.
import assert from 'node:assert/strict';
import { readFile, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { TorrentManager } from '../../../src/session/manager.js';
import type { Session } from '../../../src/session/session.js';
import { StateStore } from '../../../src/session/state-store.js';
import type { Torrent } from '../../../src/swarm/torrent.js';
import {
  differences,
  loopbackSession,
  makeTorrent,
  managerWith,
  peerOf,
  type SampleTorrent,
  seeder,
  tempDir,
  waitFor,
  waitStatus,
} from '../api/helpers.js';

let root: string;
let cleanup: () => Promise<void>;
let a: SampleTorrent;
let b: SampleTorrent;
let c: SampleTorrent;
let seedA: Session;

before(async () => {
  ({ dir: root, cleanup } = await tempDir('manager-restart'));
  a = await makeTorrent(root, 'a', [300_000, 123_456]);
  b = await makeTorrent(root, 'b', [80_000]);
  c = await makeTorrent(root, 'c', [90_000], { single: true });
  seedA = await seeder(a);
});
after(async () => {
  await seedA.stop();
  await cleanup();
});

/** Starts a manager on `state` and records which torrents ran a hash check. */
async function open(state: string) {
  const r = await managerWith(state, { flushIntervalMs: 100 });
  const checked = new Set<string>();
  r.manager.on('torrent:active', (hex: string, t: Torrent) => {
    t.on('check:progress', () => checked.add(hex));
  });
  const warnings = await r.manager.load();
  r.manager.start();
  return { ...r, checked, warnings };
}

test('after a restart every torrent is as it was; resume data is trusted only when files match', {
  timeout: 30_000,
}, async () => {
  const state = join(root, 'state');
  const dir = join(root, 'dl');
  const first = await open(state);
  const ha = a.metainfo.infoHashHex;
  const hb = b.metainfo.infoHashHex;
  const hc = c.metainfo.infoHashHex;
  let downloadedA: number;
  try {
    await first.manager.add({ metainfo: a.metainfo, dir, peers: [peerOf(seedA)] });
    await first.manager.add({ metainfo: b.metainfo, dir, paused: true });
    await first.manager.add({ metainfo: c.metainfo, dir }); // no peer: stays downloading at 0 %
    await waitStatus(first.manager, ha, 'seeding');
    await waitStatus(first.manager, hc, 'downloading');
    downloadedA = first.manager.view(ha).downloadedBytes;
    assert.ok(downloadedA >= a.metainfo.totalLength);
  } finally {
    await first.stop();
  }

  // Restart: same states, and the complete torrent trusts its resume data (no hash check at all).
  const second = await open(state);
  try {
    assert.deepEqual(second.warnings, []);
    assert.deepEqual(
      second.manager.list().map((v) => v.infoHash),
      [ha, hb, hc],
      'in the order they were added',
    );
    await waitStatus(second.manager, ha, 'seeding');
    await waitStatus(second.manager, hc, 'downloading');
    assert.equal(second.manager.view(hb).status, 'paused');
    assert.equal(second.session.get(hb), undefined, 'the paused torrent does not run');
    assert.equal(second.checked.has(ha), false, 'resume data trusted: no check');
    assert.equal(second.manager.view(ha).percent, 100);
    assert.equal(second.manager.view(ha).downloadedBytes, downloadedA, 'counters survive');
    assert.equal(second.session.get(ha)?.downloadedBytes, 0, 'nothing downloaded again');
    assert.equal(second.manager.view(hc).percent, 0);
  } finally {
    await second.stop();
  }

  // A file touched while stopped: its size still matches but its mtime does not, so it is checked
  // again (and found complete).
  const f = join(dir, 'a', 'f1.bin');
  const later = new Date(Date.now() + 5000);
  await utimes(f, later, later);
  const third = await open(state);
  try {
    await waitStatus(third.manager, ha, 'seeding');
    assert.ok(third.checked.has(ha), 'a changed mtime costs a recheck');
    assert.equal(third.manager.view(hb).status, 'paused');
    assert.deepEqual(await differences(a, dir), []);
  } finally {
    await third.stop();
  }

  // A file that shrank is checked again too, and the pieces it lost are missing again.
  const rec = JSON.parse(await readFile(new StateStore(state).recordPath(ha), 'utf8'));
  assert.ok(rec.resume.files.every((x: { size: number }) => x.size >= 0));
  const { truncate } = await import('node:fs/promises');
  await truncate(join(dir, 'a', 'f0.bin'), 100_000);
  const fourth = await open(state);
  try {
    // The saved peers bring the seeder back at once, so only what the truncation lost comes again.
    await waitStatus(fourth.manager, ha, 'seeding');
    assert.ok(fourth.checked.has(ha));
    const again = fourth.session.get(ha)!.downloadedBytes;
    const lost = 300_000 - 100_000;
    const piece = a.metainfo.pieceLength;
    assert.ok(again >= lost - piece && again <= lost + 2 * piece, `downloaded ${again} for ${lost} lost`);
    assert.deepEqual(await differences(a, dir), []);
  } finally {
    await fourth.stop();
  }
});

test('trusted resume data starts a torrent without reading it: faster than a check', {
  timeout: 30_000,
}, async () => {
  // Big enough that a check takes measurable time: 24 MiB in 16 KiB pieces.
  const big = await makeTorrent(root, 'big', [24 * 1024 * 1024]);
  const state = join(root, 'state-big');
  const first = await open(state);
  const hex = big.metainfo.infoHashHex;
  let checkMs: number;
  try {
    const t0 = Date.now();
    await first.manager.add({ metainfo: big.metainfo, dir: big.dataDir });
    await waitStatus(first.manager, hex, 'seeding', 20_000);
    checkMs = Date.now() - t0;
    assert.ok(first.checked.has(hex));
  } finally {
    await first.stop();
  }
  const second = await open(state);
  try {
    const t0 = Date.now();
    await waitStatus(second.manager, hex, 'seeding');
    const trustedMs = Date.now() - t0;
    assert.equal(second.checked.has(hex), false);
    console.log(`# check ${checkMs} ms, trusted resume ${trustedMs} ms`);
    assert.ok(trustedMs < checkMs, `trusted start ${trustedMs} ms vs check ${checkMs} ms`);
  } finally {
    await second.stop();
  }
});

test('seeding goal by ratio: finished once uploaded ≥ ratio × size, and stays finished', {
  timeout: 20_000,
}, async () => {
  const state = join(root, 'state-ratio');
  const host = await open(state);
  const hex = b.metainfo.infoHashHex;
  const leech = await loopbackSession();
  try {
    await host.manager.add({ metainfo: b.metainfo, dir: b.dataDir, seedRatio: 1 });
    await waitStatus(host.manager, hex, 'seeding');
    const t = await leech.add(b.metainfo, { dir: join(root, 'dl-ratio'), peers: [peerOf(host.session)] });
    await new Promise<void>((r) => (t.complete ? r() : t.once('torrent:complete', () => r())));
    await waitStatus(host.manager, hex, 'finished');
    assert.equal(host.session.get(hex), undefined, 'a finished torrent stops seeding');
    const v = host.manager.view(hex);
    assert.ok(v.ratio >= 1, `ratio ${v.ratio}`);
    // The status changes first; the record follows once the torrent has stopped.
    const path = new StateStore(state).recordPath(hex);
    await waitFor(async () => JSON.parse(await readFile(path, 'utf8')).finished === true, 'finished saved');
    const rec = JSON.parse(await readFile(path, 'utf8'));
    assert.ok(rec.uploadedBytes >= b.metainfo.totalLength);
  } finally {
    await leech.stop();
    await host.stop();
  }
  const again = await open(state);
  try {
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(again.manager.view(hex).status, 'finished');
    assert.equal(again.session.get(hex), undefined);
  } finally {
    await again.stop();
  }
});

test('seeding goal by time: finished after seedTimeSec of seeding, and stays finished', {
  timeout: 20_000,
}, async () => {
  const state = join(root, 'state-time');
  const host = await open(state);
  const hex = c.metainfo.infoHashHex;
  try {
    const t0 = Date.now();
    await host.manager.add({ metainfo: c.metainfo, dir: c.dataDir, seedTimeSec: 1 });
    await waitStatus(host.manager, hex, 'seeding');
    await waitStatus(host.manager, hex, 'finished', 5000);
    assert.ok(Date.now() - t0 >= 500, 'not before (about) one second of seeding');
    assert.equal(host.session.get(hex), undefined);
  } finally {
    await host.stop();
  }
  const again = await open(state);
  try {
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(again.manager.view(hex).status, 'finished');
    assert.ok(again.manager.recordOf(hex)!.seedingSec >= 1);
    // Resuming clears the goal flag; the goal is met at once, so it finishes again.
    await again.manager.resume(hex);
    await waitFor(
      () => again.manager.recordOf(hex)!.finished === false || again.session.get(hex) !== undefined,
      'resume',
    );
    await waitStatus(again.manager, hex, 'finished', 5000);
  } finally {
    await again.stop();
  }
});

test('a manager without a state directory keeps nothing and loads nothing', async () => {
  const session = await loopbackSession();
  const manager = new TorrentManager({ session });
  try {
    assert.deepEqual(await manager.load(), []);
    const hex = await manager.add({ metainfo: b.metainfo, dir: b.dataDir });
    await waitStatus(manager, hex, 'seeding');
    assert.equal(manager.list().length, 1);
  } finally {
    await manager.stop();
    await session.stop();
  }
});
