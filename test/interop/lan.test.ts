// A real LAN: multi-host swarms of the bitswarm CLI, one process per host, each host a network
// namespace with its own address on one bridge (netns.ts). Nothing can leave the namespaces (no
// default route; checked before each scenario). Every download is compared byte for byte with the
// shared folder, and each scenario prints its timings as test diagnostics.
//  1. A shares a folder (its own tracker in the .torrent); B–F download knowing only the .torrent.
//  2. A (rate-limited) leaves half way; B–F complete from each other.
//  3. No tracker: a bare magnet link, peers find each other by LSD multicast only.
//  4. C (`download --state`) is SIGKILLed part way and run again: it resumes from its state and
//     downloads only the pieces it had not written.
//  5. Every host at 20 ms delay, 1% loss, 100 Mbit/s: the swarm completes; time vs ideal. By tc
//     netem where the kernel has it; else (this VM's and CI's kernels have no sch_netem) the rate by
//     tc htb, the loss by a cls_bpf drop class and the delay by a python3 TAP relay — whatever of
//     these cannot be applied is named in the test's name and diagnostics.
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
  LAN_PORT,
  type LanPeer,
  type LanRun,
  MiB,
  makeFolder,
  piecesOnDisk,
  type SharedFile,
  shapingTotals,
  shareOnA,
  sleep,
  startLeechers,
  withLan,
} from './lan-harness.js';
import {
  type AppliedShaping,
  describeShaping,
  htbTcCommands,
  lossBpfBytecode,
  netemTcArgs,
  netnsSkip,
  probeShaping,
} from './netns.js';

const skip = await netnsSkip();
/** Scenario 5 asks for this on every host; `shape` applies what this kernel allows (see netns.ts). */
const SHAPING = { delayMs: 20, lossPercent: 1, rateMbit: 100 } as const;
const planned = skip ? undefined : await probeShaping(SHAPING);
/** How many pieces the resume data in a `--state` folder lists, or undefined when it has none. */
async function savedResumePieces(state: string, infoHashHex: string): Promise<number | undefined> {
  const text = await readFile(join(state, 'torrents', `${infoHashHex}.json`), 'utf8').catch(() => '{}');
  let record: { resume?: { pieces?: unknown } };
  try {
    record = JSON.parse(text) as typeof record;
  } catch {
    return undefined; // not JSON: no usable resume data
  }
  const pieces = record.resume?.pieces;
  if (typeof pieces !== 'string') return undefined;
  let n = 0;
  for (const byte of Buffer.from(pieces, 'base64')) for (let x = byte; x; x >>= 1) n += x & 1;
  return n;
}

/** `count` TCP connect times in ms from host `from` to `host`:PORT, sorted (node, in its namespace). */
async function connectTimesMs(run: LanRun, from: number, host: string, count: number): Promise<number[]> {
  const script = `const net = require('node:net');
(async () => {
  const out = [];
  for (let i = 0; i < ${count}; i++) {
    const t = process.hrtime.bigint();
    await new Promise((res, rej) => {
      const s = net.connect({ host: ${JSON.stringify(host)}, port: ${PORT} }, () => { s.destroy(); res(); });
      s.once('error', rej);
    });
    out.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  console.log(JSON.stringify(out));
})();`;
  const r = await run.lan.exec(run.lan.namespaces[from]!, process.execPath, ['-e', script], {
    timeoutMs: 60_000,
  });
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as number[]).sort((a, b) => a - b);
}

/** How scenario 5 is shaped here, for its name: netem, else each part's means or its absence. */
function shapingNote(a: AppliedShaping | undefined): string {
  if (!a) return '';
  if (a.method === 'tc netem') return ' (tc netem)';
  const by = [
    a.rateMbit ? 'rate by tc htb' : '',
    a.lossPercent ? 'loss by a cls_bpf drop class' : '',
    a.delayMs ? 'delay by a python3 TAP relay' : '',
    ...a.notApplied.map((n) => `NOT APPLIED: ${n.replace(/ \(.*$/, '')}`),
  ].filter(Boolean);
  return ` (this kernel has no netem: ${by.join(', ')})`;
}

const PORT = LAN_PORT;

type Diag = (line: string) => void;

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
      // had no peer to download from (see 3a).
      if (done - meta > 15_000) slow.push(`${p.name} ${fmt((done - meta) / 1000)} s`);
    }
    assert.deepEqual(slow, [], 'every leecher completes within 15 s of getting the metadata');
  });
}

test('3a. no tracker: a bare magnet link, the seeder first, peers found by LSD', {
  skip,
  timeout: 120_000,
  // The seeder hears a leecher's LSD announce and dials it; the leecher gets the metadata over that
  // incoming connection. It must keep that peer (its BEP 10 `p` port) as a source for the pieces:
  // before the metadata fetcher did, each leecher waited ~30 s for the seeder's redial.
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

test('without netem: htb rate and a cls_bpf drop class for loss', () => {
  // ld rand; A >= 1% of 2^32 → ret 0 (no match), else ret -1 (the drop class).
  assert.equal(lossBpfBytecode(1), '4,32 0 0 4294963256,53 0 1 42949673,6 0 0 0,6 0 0 4294967295');
  assert.equal(lossBpfBytecode(100), '4,32 0 0 4294963256,53 0 1 4294967295,6 0 0 0,6 0 0 4294967295');
  assert.throws(() => lossBpfBytecode(0), RangeError);
  assert.deepEqual(htbTcCommands('eth0', { rateMbit: 100 }), [
    ['qdisc', 'replace', 'dev', 'eth0', 'root', 'handle', '1:', 'htb', 'default', '10'],
    [
      'class',
      'add',
      'dev',
      'eth0',
      'parent',
      '1:',
      'classid',
      '1:10',
      'htb',
      'rate',
      '100mbit',
      'quantum',
      '1514',
    ],
  ]);
  const lossy = htbTcCommands('eth0', { lossPercent: 1 })!;
  assert.equal(lossy.length, 5);
  assert.deepEqual(lossy[1]!.slice(-3), ['100gbit', 'quantum', '1514']);
  assert.deepEqual(lossy[3], [
    'qdisc',
    'add',
    'dev',
    'eth0',
    'parent',
    '1:99',
    'handle',
    '99:',
    'pfifo',
    'limit',
    '0',
  ]);
  assert.equal(lossy[4]!.at(-1), '1:99');
  assert.equal(htbTcCommands('eth0', {}), undefined);
  assert.equal(
    describeShaping({ delayMs: 20, lossPercent: 1, rateMbit: 100 }),
    '20 ms delay, 1% loss, 100 Mbit/s',
  );
});

test('4. host C killed part way and restarted with its state: it resumes, downloads only what it missed', {
  skip,
  timeout: 180_000,
}, async (t) => {
  const diag: Diag = (l) => t.diagnostic(l);
  const size = 24 * MiB;
  await withLan(6, async (run) => {
    // Rates as in scenario 2 (A 6 MiB/s, each leecher 1 MiB/s): C needs seconds, not a blink, so it
    // can be killed part way.
    const { files, torrent } = await shareOnA(run, size, 4, ['--upload-limit', '6M']);
    const m = parseMetainfo(await readFile(torrent));
    const limit = ['--no-lsd', '--upload-limit', '1M'];
    const others = startLeechers(run, torrent, [1, 3, 4, 5], limit);
    const state = join(run.root, 'C-state');
    const startC = (): LanPeer => startLeechers(run, torrent, [2], [...limit, '--state', state])[0]!;
    const c1 = startC();
    const t0 = Date.now();
    // Part way, and after C saved its resume data once (every 5 s) unless it is getting late.
    let savedAtKill: number | undefined;
    for (;;) {
      assert.ok(Date.now() - t0 < 60_000, `C made no progress in 60 s${c1.tail()}`);
      await sleep(100);
      if (c1.verifiedBytes < 0.3 * size) continue;
      savedAtKill = await savedResumePieces(state, m.infoHashHex);
      if (savedAtKill !== undefined || c1.verifiedBytes >= 0.6 * size) break;
    }
    const verifiedAtKill = c1.verifiedBytes;
    assert.ok(verifiedAtKill < 0.8 * size, `C was killed too late: it held ${verifiedAtKill} bytes`);
    const status = await c1.kill('SIGKILL');
    assert.equal(status.signal, 'SIGKILL');
    const atKill = Date.now();
    // What C holds now, hash-checked from the outside: the bytes it must not download again.
    const held = await piecesOnDisk(m, join(run.root, 'C'));
    const pieceBytes = (i: number): number => Math.min(m.pieceLength, m.totalLength - i * m.pieceLength);
    const heldBytes = held.reduce((n, h, i) => (h ? n + pieceBytes(i) : n), 0);
    const missing = m.totalLength - heldBytes;
    diag(
      `C killed after ${fmt((atKill - c1.startedAtMs) / 1000)} s: ${fmt((100 * verifiedAtKill) / size)}% verified by its last progress line, ${fmt((100 * heldBytes) / size)}% on disk (${held.filter(Boolean).length}/${m.pieceCount} pieces)`,
    );
    assert.ok(heldBytes >= 0.2 * size, `C had written only ${heldBytes} bytes`);
    diag(
      `C's saved resume data at the kill: ${savedAtKill === undefined ? 'none yet' : `${savedAtKill} pieces`} (written files newer than it make C check them again at the restart)`,
    );
    const c2 = startC();
    const done = await c2.waitEvent('complete', 120_000);
    await allComplete(others, 120_000);
    await assertSameBytes(files, [...others, c2], run);
    const downloaded = done.downloaded as number;
    diag(
      `C restarted: complete ${fmt(((c2.completedAtMs ?? Number.NaN) - c2.startedAtMs) / 1000)} s later, downloaded ${downloaded} bytes this run for ${missing} missing (${fmt((100 * downloaded) / Math.max(1, missing))}%)`,
    );
    // Every missing byte comes over the wire once; nothing it held is fetched again (a piece of
    // slack for a block counted twice at a disconnect).
    assert.ok(downloaded >= missing, `C completed with ${downloaded} bytes for ${missing} missing`);
    assert.ok(
      downloaded <= missing + m.pieceLength,
      `C downloaded ${downloaded} bytes again for ${missing} missing: it re-fetched what it held`,
    );
  });
});

test(`5. every host at ${describeShaping(SHAPING)}${shapingNote(planned)}: the swarm completes`, {
  skip,
  timeout: 240_000,
}, async (t) => {
  const diag: Diag = (l) => t.diagnostic(l);
  const size = 16 * MiB;
  await withLan(6, async (run) => {
    let applied: AppliedShaping | undefined;
    for (const ns of run.lan.namespaces) applied = await run.lan.shape(ns, SHAPING);
    assert.ok(applied);
    diag(`asked for ${describeShaping(SHAPING)} on every host's egress`);
    diag(`applied ${describeShaping(applied)} by ${applied.method}`);
    for (const n of applied.notApplied) diag(`NOT applied on this kernel: ${n}`);
    // Without netem, a rate at least is required: else this would be scenario 1 again.
    assert.equal(
      applied.rateMbit,
      SHAPING.rateMbit,
      `no rate shaping possible: ${applied.notApplied.join('; ')}`,
    );
    const { files, torrent } = await shareOnA(run, size, 5);
    // The delay as it really is: TCP connects from B to A take one round trip (B's and A's delay).
    const connects = await connectTimesMs(run, 1, run.lan.addresses[0]!, 7);
    diag(
      `TCP connect B→A (one round trip): median ${fmt(connects[3]!)} ms of ${connects.map((x) => fmt(x)).join(', ')} ms`,
    );
    const t0 = Date.now();
    const leechers = startLeechers(run, torrent, [1, 2, 3, 4, 5]);
    await allComplete(leechers, 200_000);
    await assertSameBytes(files, leechers, run);
    const total = reportCompletions(diag, leechers, size, t0);
    const { sent, dropped } = await shapingTotals(run.lan);
    diag(
      `the shaping dropped ${dropped} of ${sent + dropped} packets (${fmt((100 * dropped) / Math.max(1, sent + dropped))}%), all hosts`,
    );
    // The seeder must send each byte at least once: size ÷ its line rate is the floor.
    const ideal = size / ((applied.rateMbit * 1e6) / 8);
    diag(
      `swarm complete in ${fmt(total)} s; ideal ${fmt(ideal)} s (size ÷ seeder rate ${applied.rateMbit} Mbit/s): ${fmt(total / ideal)}×`,
    );
  });
});
