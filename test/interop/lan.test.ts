// A real LAN: multi-host swarms of the bitswarm CLI, one process per host, each host a network
// namespace with its own address on one bridge (netns.ts). Nothing can leave the namespaces (no
// default route; checked before each scenario). Every download is compared byte for byte with the
// shared folder, and each scenario prints its timings as test diagnostics.
//  1. A shares a folder (its own tracker in the .torrent); B–F download knowing only the .torrent.
//  2. A (rate-limited) leaves half way; B–F complete from each other.
//  3. No tracker: a bare magnet link, peers find each other by LSD multicast only.
//  4. (skipped) C killed and restarted with its state — needs persistence.
//  5. Every host at 20 ms delay, 1% loss, 100 Mbit/s (tc netem): the swarm completes; time vs ideal.
// Leechers run `download --seed`: a leecher that completes stays in the swarm, as users' clients do;
// plain `download` exits at completion and would take pieces away from the others (scenario 2).
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseMetainfo } from '../../src/protocol/metainfo.js';
import {
  compareFolder,
  fmt,
  type LanPeer,
  type LanRun,
  MiB,
  makeFolder,
  piecesOnDisk,
  type SharedFile,
  sleep,
  withLan,
} from './lan-harness.js';
import { netemSkip, netemTcArgs, netnsSkip } from './netns.js';

const skip = await netnsSkip();
const skipNetem = skip || (await netemSkip());
/** Every host uses the same port: each has its own address, as on a real LAN. */
const PORT = '6881';
const LETTERS = 'ABCDEF';

type Diag = (line: string) => void;

/** Starts `share` of a new folder on host 0 and waits until it serves. */
async function shareOnA(
  run: LanRun,
  sizeBytes: number,
  seed: number,
  extra: readonly string[] = [],
): Promise<{ a: LanPeer; files: SharedFile[]; torrent: string }> {
  const addr = run.lan.addresses[0]!;
  const files = await makeFolder(join(run.root, 'A'), 'lan-share', sizeBytes, seed);
  const torrent = join(run.root, 'lan-share.torrent');
  const a = run.bitswarm(0, 'A', [
    'share',
    join(run.root, 'A', 'lan-share'),
    '-o',
    torrent,
    '--bind',
    addr,
    '--port',
    PORT,
    '--no-dht',
    '--no-lsd',
    '--json',
    ...extra,
  ]);
  const shared = await a.waitEvent('shared', 60_000);
  // The .torrent names A's own tracker, at the address the other hosts reach it at.
  assert.equal(shared.announce, `http://${addr}:${PORT}/announce`);
  await a.waitEvent('start', 30_000);
  return { a, files, torrent };
}

/** Starts `download --seed` of `what` (a .torrent or magnet) on hosts `from`…`to`. */
function startLeechers(
  run: LanRun,
  what: string,
  hosts: readonly number[],
  extra: readonly string[] = ['--no-lsd'],
): LanPeer[] {
  return hosts.map((i) =>
    run.bitswarm(i, LETTERS[i]!, [
      'download',
      what,
      '-d',
      join(run.root, LETTERS[i]!),
      '--bind',
      run.lan.addresses[i]!,
      '--port',
      PORT,
      '--no-dht',
      '--seed',
      '--json',
      ...extra,
    ]),
  );
}

async function allComplete(peers: readonly LanPeer[], timeoutMs: number): Promise<void> {
  await Promise.all(peers.map((p) => p.waitEvent('complete', timeoutMs)));
}

async function assertSameBytes(
  files: readonly SharedFile[],
  peers: readonly LanPeer[],
  run: LanRun,
): Promise<void> {
  for (const p of peers) {
    assert.deepEqual(
      await compareFolder(files, join(run.root, p.name)),
      [],
      `${p.name} holds the shared bytes`,
    );
  }
}

/** One line per leecher: seconds from its start to completion, and the mean rate. */
function reportCompletions(diag: Diag, peers: readonly LanPeer[], sizeBytes: number, t0: number): number {
  let last = t0;
  for (const p of peers) {
    const done = p.completedAtMs ?? Number.NaN;
    last = Math.max(last, done);
    const secs = (done - p.startedAtMs) / 1000;
    diag(`${p.name}: complete after ${fmt(secs)} s (${fmt(sizeBytes / MiB / secs)} MiB/s)`);
  }
  return (last - t0) / 1000;
}

/** Bytes A sent, by its last progress line. */
function uploadedBy(a: LanPeer): number {
  for (let i = a.events.length - 1; i >= 0; i--) {
    const u = a.events[i]!.uploaded;
    if (typeof u === 'number') return u;
  }
  return 0;
}

test('1. A shares a folder; B–F download it knowing only the .torrent', {
  skip,
  timeout: 180_000,
}, async (t) => {
  const diag: Diag = (l) => t.diagnostic(l);
  const size = 24 * MiB;
  await withLan(6, async (run) => {
    const { a, files, torrent } = await shareOnA(run, size, 1);
    const t0 = Date.now();
    const leechers = startLeechers(run, torrent, [1, 2, 3, 4, 5]);
    await allComplete(leechers, 120_000);
    await assertSameBytes(files, leechers, run);
    const total = reportCompletions(diag, leechers, size, t0);
    // Let A's next progress line count its upload.
    await sleep(1200);
    diag(
      `swarm of 5 complete in ${fmt(total)} s for ${size / MiB} MiB each; A uploaded ${fmt(uploadedBy(a) / size)} copies (the rest went leecher to leecher)`,
    );
    assert.ok(a.running, `A still seeding${a.tail()}`);
  });
});

test('2. A leaves half way; B–F complete from each other', { skip, timeout: 180_000 }, async (t) => {
  const diag: Diag = (l) => t.diagnostic(l);
  const size = 16 * MiB;
  await withLan(6, async (run) => {
    // A sends 6 MiB/s, each leecher 1 MiB/s: A gets one full copy into the swarm (every piece on
    // some leecher) while the leechers hold about half of their five copies; no swarm can finish
    // after its only seeder left unless that one copy is out.
    const { a, files, torrent } = await shareOnA(run, size, 2, ['--upload-limit', '6M']);
    const m = parseMetainfo(await readFile(torrent));
    const leechers = startLeechers(run, torrent, [1, 2, 3, 4, 5], ['--no-lsd', '--upload-limit', '1M']);
    const t0 = Date.now();
    let sum = 0;
    let union = 0;
    for (;;) {
      assert.ok(Date.now() - t0 < 90_000, `no half way in 90 s: sum ${sum}, union ${union}/${m.pieceCount}`);
      await sleep(250);
      sum = leechers.reduce((n, p) => n + p.verifiedBytes, 0);
      if (sum < 0.5 * 5 * size) continue;
      const held = await Promise.all(leechers.map((p) => piecesOnDisk(m, join(run.root, p.name))));
      union = held[0]!.filter((_, i) => held.some((h) => h[i])).length;
      if (union === m.pieceCount) break;
    }
    // Half way, not at the end: the leechers still need a good share of their bytes from each other.
    assert.ok(sum < 0.9 * 5 * size, `A left too late: leechers already held ${sum} bytes`);
    const atKill = Date.now();
    const status = await a.kill('SIGKILL');
    assert.equal(status.signal, 'SIGKILL');
    diag(
      `A killed after ${fmt((atKill - t0) / 1000)} s: leechers held ${fmt((100 * sum) / (5 * size))}% of their bytes, every piece on at least one of them; ${leechers.filter((p) => p.completedAtMs !== undefined).length} already complete`,
    );
    await allComplete(leechers, 120_000);
    await assertSameBytes(files, leechers, run);
    const total = reportCompletions(diag, leechers, size, t0);
    diag(`swarm complete ${fmt(total - (atKill - t0) / 1000)} s after A left (${fmt(total)} s in all)`);
  });
});

/** Scenario 3: a seeder and three leechers with a bare magnet link, LSD only. */
async function lsdSwarm(diag: Diag, seederFirst: boolean): Promise<void> {
  const size = 8 * MiB;
  await withLan(4, async (run) => {
    const files = await makeFolder(join(run.root, 'A'), 'lan-share', size, 3);
    const torrent = join(run.root, 'lan-share.torrent');
    const created = await run.bitswarmOnce(0, [
      'create',
      join(run.root, 'A', 'lan-share'),
      '-o',
      torrent,
      '-q',
    ]);
    assert.equal(created.code, 0, created.stderr);
    const m = parseMetainfo(await readFile(torrent));
    assert.deepEqual(m.announceList, []);
    const magnet = `magnet:?xt=urn:btih:${m.infoHashHex}`;
    const noTracker = ['--no-tracker'];
    const startSeeder = (): LanPeer =>
      run.bitswarm(0, 'A', [
        'seed',
        torrent,
        '-d',
        join(run.root, 'A'),
        '--bind',
        run.lan.addresses[0]!,
        '--port',
        PORT,
        '--no-dht',
        '--json',
        ...noTracker,
      ]);
    let seeder: LanPeer | undefined;
    if (seederFirst) {
      seeder = startSeeder();
      await seeder.waitEvent('start', 30_000);
      // Its announce goes out once the check is done; leechers joining later are heard by it.
      await sleep(1000);
    }
    const leechers = startLeechers(run, magnet, [1, 2, 3], noTracker);
    if (!seederFirst) {
      await sleep(2000);
      seeder = startSeeder();
    }
    assert.ok(seeder);
    await allComplete(leechers, 60_000);
    await assertSameBytes(files, leechers, run);
    const ref = seederFirst ? 'its start' : 'the seeder joined';
    const slow: string[] = [];
    for (const p of leechers) {
      const from = seederFirst ? p.startedAtMs : Math.max(p.startedAtMs, seeder.startedAtMs);
      const meta = p.events.find((e) => e.event === 'start')!.time;
      const done = p.completedAtMs ?? Number.NaN;
      diag(
        `${p.name}: metadata ${fmt((meta - from) / 1000)} s after ${ref}, complete after ${fmt((done - from) / 1000)} s`,
      );
      // 8 MiB on a LAN take about a second; a leecher that waits tens of seconds after the metadata
      // had no peer to download from (see the todo of 3a).
      if (done - meta > 15_000) slow.push(`${p.name} ${fmt((done - meta) / 1000)} s`);
    }
    assert.deepEqual(slow, [], 'every leecher completes within 15 s of getting the metadata');
  });
}

test('3a. no tracker: a bare magnet link, the seeder first, peers found by LSD', {
  skip,
  timeout: 120_000,
  // The seeder hears a leecher's LSD announce and dials it; the leecher gets the metadata over that
  // incoming connection, then closes it with its MetadataFetcher and never learns the seeder's
  // listen address (knownPeers() holds only dialed candidates). The seeder redials after its 30 s
  // backoff: each leecher completes ~32 s after it started instead of ~2 s. Fix proposed in the
  // report: the fetcher adds an incoming peer's BEP 10 `p` port to its candidates.
  todo: 'metadata over an incoming connection: the leecher loses that peer for 30 s',
}, async (t) => {
  await lsdSwarm((l) => t.diagnostic(l), true);
});

test('3b. no tracker: a bare magnet link, the seeder joins last, peers found by LSD', {
  skip,
  timeout: 120_000,
}, async (t) => {
  await lsdSwarm((l) => t.diagnostic(l), false);
});

test('netem arguments for tc: delay, loss and rate, or none', () => {
  assert.deepEqual(netemTcArgs('eth0', { delayMs: 20, lossPercent: 1, rateMbit: 100 }), [
    'qdisc',
    'replace',
    'dev',
    'eth0',
    'root',
    'netem',
    'limit',
    '100000',
    'delay',
    '20ms',
    'loss',
    '1%',
    'rate',
    '100mbit',
  ]);
  assert.equal(netemTcArgs('eth0', {}), undefined);
  assert.equal(netemTcArgs('eth0', { delayMs: 0, lossPercent: 0 }), undefined);
  assert.throws(() => netemTcArgs('eth0', { lossPercent: 101 }), RangeError);
  assert.throws(() => netemTcArgs('eth0', { delayMs: Number.NaN }), RangeError);
});

test(
  '4. host C killed and restarted with its state',
  {
    skip: 'needs persistence of resume data (--state), not built yet',
  },
  () => undefined,
);

test('5. every host at 20 ms delay, 1% loss, 100 Mbit/s: the swarm completes', {
  skip: skipNetem,
  timeout: 240_000,
}, async (t) => {
  const diag: Diag = (l) => t.diagnostic(l);
  const size = 16 * MiB;
  const shaping = { delayMs: 20, lossPercent: 1, rateMbit: 100 };
  await withLan(6, async (run) => {
    for (const ns of run.lan.namespaces) await run.lan.netem(ns, shaping);
    const { files, torrent } = await shareOnA(run, size, 5);
    const t0 = Date.now();
    const leechers = startLeechers(run, torrent, [1, 2, 3, 4, 5]);
    await allComplete(leechers, 200_000);
    await assertSameBytes(files, leechers, run);
    const total = reportCompletions(diag, leechers, size, t0);
    // The seeder must send each byte at least once: size ÷ its line rate is the floor.
    const ideal = size / ((shaping.rateMbit * 1e6) / 8);
    diag(
      `swarm complete in ${fmt(total)} s; ideal ${fmt(ideal)} s (size ÷ seeder rate): ${fmt(total / ideal)}×`,
    );
  });
});
