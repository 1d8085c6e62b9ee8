// The CLI covers what the API can do, against a real `bitswarm daemon`: limits (session and torrent),
// set, prio, recheck, move, reannounce, pause/resume --all; ETA in ls/show; the tracker's status and
// failure in show; prefix errors that say the minimum (4) and that a prefix is ambiguous.
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { matchHash } from '../../../src/cli/cmd-remote.js';
import type { Session } from '../../../src/session/session.js';
import { type JsonChild, runBitswarm } from '../../interop/helpers.js';
import {
  makeTorrent,
  peerOf,
  type SampleTorrent,
  seeder,
  startDaemonJson,
  tempDir,
  waitFor,
} from '../api/helpers.js';

let root: string;
let cleanup: () => Promise<void>;
let state: string;
let daemon: JsonChild;
let tracker: Server;
let announces = 0;
let sample: SampleTorrent;
let seed: Session;
let hex: string;

async function cli(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runBitswarm([...args, '--state', state], { timeoutMs: 30_000 });
}

async function json<T>(...args: string[]): Promise<T> {
  const r = await cli(...args, '--json');
  assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

interface Show {
  infoHash: string;
  status: string;
  dir: string;
  etaSec: number | null;
  warnings: string[];
  files: { index: number; priority: number }[];
  trackers: { url: string; status: string; lastError: string | null; nextAnnounceAtMs: number | null }[];
  limits: { downloadLimitBytesPerSec: number; uploadLimitBytesPerSec: number };
}

before(async () => {
  ({ dir: root, cleanup } = await tempDir('daemon-commands'));
  tracker = createServer((_req, res) => {
    announces++;
    res.end('d14:failure reason22:torrent not registerede');
  });
  await new Promise<void>((r) => tracker.listen(0, '127.0.0.1', () => r()));
  const a = tracker.address();
  const port = typeof a === 'object' && a ? a.port : 0;
  sample = await makeTorrent(root, 'moved', [600_000, 100_000, 50_000], {
    announce: [[`http://127.0.0.1:${port}/announce`]],
  });
  hex = sample.metainfo.infoHashHex;
  seed = await seeder(sample);
  state = join(root, 'state');
  daemon = await startDaemonJson({ state, downloads: join(root, 'downloads') });
});

after(async () => {
  daemon.child.kill('SIGTERM');
  await daemon.exited;
  await seed.stop();
  tracker.closeAllConnections();
  await new Promise<void>((r) => tracker.close(() => r()));
  await cleanup();
});

test('session limits and settings: limits shows and sets, set lists and changes', {
  timeout: 60_000,
}, async () => {
  const shown = await cli('limits');
  assert.equal(shown.code, 0, shown.stderr);
  assert.equal(shown.stdout, 'session: ↓ unlimited  ↑ unlimited\n');
  const set = await cli('limits', '--down', '2M', '--up', '500K');
  assert.equal(set.stdout, 'session: ↓ 2.00 MiB/s  ↑ 500 KiB/s\n');
  assert.deepEqual(await json('limits'), {
    downloadLimitBytesPerSec: 2 * 1024 * 1024,
    uploadLimitBytesPerSec: 500 * 1024,
  });
  assert.equal((await cli('limits', '--down', '0', '--up', '0')).code, 0);
  const changed = await cli('set', 'max-active-downloads', '3');
  assert.equal(changed.stdout, 'max-active-downloads = 3\n');
  const all = await json<Record<string, number>>('set');
  assert.equal(all.maxActiveDownloads, 3);
  const list = await cli('set');
  assert.match(list.stdout, /^max-active-downloads +3$/m);
  assert.match(list.stdout, /^download-limit +unlimited$/m);
  // The alternative speeds apply at once; the port and the discovery switches at the next start.
  assert.equal((await cli('set', 'alt-download-limit', '300K')).stdout, 'alt-download-limit = 300 KiB/s\n');
  assert.equal((await cli('set', 'schedule', '22:30-06:00')).stdout, 'schedule = 22:30-06:00\n');
  assert.equal(
    (await cli('set', 'schedule-days', 'mon-wed,sat')).stdout,
    'schedule-days = mon,tue,wed,sat\n',
  );
  // A new schedule puts turtle where its window says (now: maybe outside); the user's switch then holds.
  assert.equal((await cli('set', 'turtle', 'on')).stdout, 'turtle = on\n');
  const port = (await json<{ port: number }>('set')).port;
  const changedPort = await cli('set', 'port', String(port === 65535 ? 65534 : port + 1));
  assert.match(changedPort.stdout, /^port = \d+ \(after the daemon restarts\)$/m);
  assert.equal((await cli('set', 'pex', 'off')).stdout, 'pex = off (after the daemon restarts)\n');
  const dir = join(root, 'downloads', 'later');
  assert.equal((await cli('set', 'download-dir', dir)).stdout, `download-dir = ${dir}\n`);
  const after = await json<{
    altSpeed: {
      enabled: boolean;
      downloadLimitBytesPerSec: number;
      schedule: { days: number[]; beginMinute: number };
    };
    pex: boolean;
    pendingRestart: string[];
    downloadDir: string;
  }>('set');
  assert.equal(after.altSpeed.enabled, true);
  assert.equal(after.altSpeed.downloadLimitBytesPerSec, 300 * 1024);
  assert.deepEqual(after.altSpeed.schedule.days, [1, 2, 3, 6]);
  assert.equal(after.altSpeed.schedule.beginMinute, 22 * 60 + 30);
  assert.deepEqual(after.pendingRestart, ['port', 'pex']);
  assert.equal(after.downloadDir, dir);
  assert.equal((await stat(dir)).isDirectory(), true);
  // Kept in the state directory for the next start.
  const saved = JSON.parse(await readFile(join(state, 'session.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(saved.altSpeedEnabled, true);
  assert.equal(saved.altDownloadLimitBytesPerSec, 300 * 1024);
  assert.equal(saved.pex, false);
  assert.equal(saved.port, port === 65535 ? 65534 : port + 1);
  // The session's limits in force are the alternative ones while turtle is on.
  const stats = await json<Record<string, unknown>>('set');
  assert.equal(stats.downloadLimitBytesPerSec, 0, 'the normal limit is kept as it was');
  for (const [key, value, why] of [
    ['turtle', 'maybe', 'set: turtle: expected on or off, got "maybe"'],
    [
      'schedule',
      '25:00-26:00',
      'set: schedule: expected off, on or HH:MM-HH:MM (e.g. 09:00-17:00), got "25:00-26:00"',
    ],
    [
      'schedule-days',
      'funday',
      'set: schedule-days: "funday" is not a day or a range of days (sun, mon, …, sat; all, weekdays, weekends)',
    ],
    ['port', '70000', 'set: port: '],
    ['download-dir', '/', 'downloadDir: "/" is not inside an allowed folder'],
  ] as const) {
    const r = await cli('set', key, value);
    assert.equal(r.code, 2, `${key} ${value}: ${r.stdout}`);
    assert.ok(r.stderr.startsWith(`bitswarm: ${why}`), r.stderr);
  }
  // Back to full speed and the first folder for the tests that follow.
  await cli('set', 'turtle', 'off');
  await cli('set', 'schedule', 'off');
  await cli('set', 'download-dir', join(root, 'downloads'));
  const bad = await cli('set', 'max-peers', '3');
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^bitswarm: set: unknown key "max-peers" \(keys: download-limit, /);
  const badRate = await cli('limits', '--down', 'fast');
  assert.equal(badRate.code, 2);
  assert.equal(badRate.stderr, 'bitswarm: limits: --down: "fast" is not a size (e.g. 262144 or 256K)\n');
});

test('a torrent: ETA while it downloads, the tracker failure in show, per-torrent limits, prio', {
  timeout: 150_000,
}, async () => {
  const added = await cli('add', sample.torrentPath, '--paused', '--peer', `127.0.0.1:${peerOf(seed).port}`);
  assert.equal(added.code, 0, added.stderr);
  // Slow it down (732 KiB at 16 KiB/s: 45 s) so that it is seen downloading, even on a busy machine.
  const lim = await cli('limits', hex.slice(0, 8), '--down', '16K');
  assert.match(lim.stdout, new RegExp(`^${hex.slice(0, 8)} moved: ↓ 16.0 KiB/s  ↑ unlimited$`, 'm'));
  assert.equal((await cli('resume', hex.slice(0, 6))).code, 0);
  await waitFor(
    async () => {
      const d = await json<Show>('show', hex.slice(0, 4));
      return d.status === 'downloading' && d.etaSec !== null && d.etaSec > 0;
    },
    'a downloading torrent with an ETA',
    40_000,
  );
  const eta = await cli('show', hex);
  assert.match(eta.stdout, /^ {2}ETA {8}(\d+s|\d+m\d\ds)$/m);
  const ls = await cli('ls');
  assert.match(ls.stdout, /^HASH +STATUS +DONE +SIZE +DOWN +UP +PEERS +ETA +RATIO +NAME$/m);
  assert.match(
    ls.stdout,
    new RegExp(`^${hex.slice(0, 8)} +downloading .* (\\d+s|\\d+m\\d\\ds) +\\d\\.\\d\\d +moved`, 'm'),
  );
  // The tracker answered with a failure reason: show and the API say so.
  await waitFor(
    async () => (await json<Show>('show', hex)).trackers[0]?.status === 'error',
    'the tracker error in show',
    30_000,
  );
  const d = await json<Show>('show', hex);
  assert.match(d.trackers[0]!.lastError!, /torrent not registered/);
  assert.ok(d.trackers[0]!.nextAnnounceAtMs! > Date.now() - 1000, 'next announce time');
  assert.ok(
    d.warnings.some((w) => /torrent not registered/.test(w)),
    `warnings: ${d.warnings}`,
  );
  assert.ok(
    daemon.lines.some((l) => l.event === 'diagnostic' && l.infoHash === hex && l.kind === 'tracker-error'),
    'the daemon --json prints the diagnostic events too',
  );
  const text = await cli('show', hex);
  assert.match(text.stdout, /^warnings\n {2}tracker 127\.0\.0\.1:\d+: .*torrent not registered/m);
  assert.match(
    text.stdout,
    /^ {2}1 +http:\/\/127\.0\.0\.1:\d+\/announce +error +error: .*torrent not registered +next announce in /m,
  );
  // prio: file 2 skipped, 0 high.
  assert.equal((await cli('prio', hex, '2', 'skip')).stdout, `${hex.slice(0, 8)}: 1 file set to skip\n`);
  assert.equal((await cli('prio', hex, '0-1', 'high')).code, 0);
  const p = await json<Show>('show', hex);
  assert.deepEqual(
    p.files.map((f) => f.priority),
    [7, 7, 0],
  );
  const badPrio = await cli('prio', hex, '5', 'high');
  assert.equal(badPrio.code, 2);
  assert.match(badPrio.stderr, /no file 5 \(the torrent has files 0–2/);
  const badLevel = await cli('prio', hex, '0', 'urgent');
  assert.equal(badLevel.stderr, 'bitswarm: prio: "urgent" is not a priority (skip, low, normal or high)\n');
  // reannounce: the tracker hears from it again at once.
  const before = announces;
  assert.equal((await cli('reannounce', hex)).code, 0);
  await waitFor(() => announces > before, 'an announce after reannounce', 20_000);
  // Let it finish: no per-torrent limit.
  assert.equal((await cli('limits', hex, '--down', '0')).code, 0);
  await waitFor(async () => (await json<Show>('show', hex)).status === 'seeding', 'seeding', 60_000);
});

test('move: the data moves and the torrent goes on from there; recheck finds it whole', {
  timeout: 90_000,
}, async () => {
  const from = (await json<Show>('show', hex)).dir;
  // Only into the folders the daemon allows (its -d and --allow-dir), as for an add.
  const outside = await cli('move', hex.slice(0, 10), join(root, 'outside'));
  assert.equal(outside.code, 2, outside.stderr);
  assert.match(outside.stderr, /is not inside an allowed folder/);
  const to = join(root, 'downloads', 'elsewhere');
  const r = await cli('move', hex.slice(0, 10), to);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `moved ${hex} moved to ${to}\n`);
  assert.deepEqual(await readFile(join(to, 'moved/f0.bin')), sample.files[0]!.bytes);
  assert.equal(await stat(join(from, 'moved/f0.bin')).catch(() => 'gone'), 'gone');
  await waitFor(
    async () => (await json<Show>('show', hex)).status === 'seeding',
    'seeding from the new place',
    30_000,
  );
  assert.equal((await json<Show>('show', hex)).dir, to);
  // Into a folder that holds one of its files already: refused, nothing moved.
  const clash = join(root, 'downloads', 'clash');
  await (await import('node:fs/promises')).mkdir(join(clash, 'moved'), { recursive: true });
  await (await import('node:fs/promises')).writeFile(join(clash, 'moved/f1.bin'), 'mine');
  const refused = await cli('move', hex, clash);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /^bitswarm: move to .*clash: .*f1\.bin exists already\n$/);
  assert.deepEqual(await readFile(join(to, 'moved/f0.bin')), sample.files[0]!.bytes, 'rolled back');
  assert.equal(await readFile(join(clash, 'moved/f1.bin'), 'utf8'), 'mine');
  await waitFor(async () => (await json<Show>('show', hex)).status === 'seeding', 'seeding again', 30_000);
  // recheck: checked again, the same pieces found whole.
  // (file 2 is skipped since the prio test: what was verified of it stays what it was)
  const percent = (await json<Show & { percent: number }>('show', hex)).percent;
  assert.equal((await cli('recheck', hex)).stdout, `rechecking ${hex} moved\n`);
  let last = '';
  await waitFor(
    async () => {
      const d = await json<Show & { percent: number }>('show', hex);
      last = `${d.status} ${d.percent}% ${d.dir}`;
      return d.status === 'seeding' && d.percent === percent;
    },
    'seeding after the recheck',
    30_000,
  ).catch((err: Error) => {
    throw new Error(`${err.message} (last: ${last})`);
  });
});

test('pause --all and resume --all; prefixes: minimum 4 hex digits, no match, ambiguous', {
  timeout: 60_000,
}, async () => {
  const paused = await json<{ torrents: Show[] }>('pause', '--all');
  assert.deepEqual(
    paused.torrents.map((t) => [t.infoHash, t.status]),
    [[hex, 'paused']],
  );
  const resumed = await cli('resume', '--all');
  assert.match(resumed.stdout, new RegExp(`^resumed ${hex} moved`, 'm'));
  const both = await cli('pause', hex, '--all');
  assert.equal(both.code, 2);
  const short = await cli('pause', hex.slice(0, 2));
  assert.equal(short.code, 2);
  assert.equal(
    short.stderr,
    `bitswarm: pause: "${hex.slice(0, 2)}" is too short: give at least 4 hex digits of the info hash\n`,
  );
  const none = await cli('show', hex.startsWith('ffff') ? '0000' : 'ffff');
  assert.equal(none.code, 2);
  assert.match(none.stderr, /^bitswarm: show: no torrent matches "(ffff|0000)" \(see bitswarm ls\)\n$/);
  // Ambiguity needs two torrents sharing a prefix: the rule itself, on two such hashes.
  const a = `4d42${'0'.repeat(36)}`;
  const b = `4d42${'1'.repeat(36)}`;
  assert.throws(
    () => matchHash('4d42', [a, b], 'pause'),
    /pause: "4d42" is ambiguous: 2 torrents match \(4d4200000000, 4d4211111111\); give more digits/,
  );
  assert.equal(matchHash('4d421', [a, b], 'pause'), b);
  assert.throws(() => matchHash('xyz1', [a], 'rm'), /is not an info hash/);
});
