// The state directory: atomic writes (no temp file left, a crash mid-write leaves the old file) and
// damage that costs only the damaged torrent.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { TorrentManager } from '../../../src/session/manager.js';
import { StateStore } from '../../../src/session/state-store.js';
import type { Torrent } from '../../../src/swarm/torrent.js';
import { loopbackSession, makeTorrent, type SampleTorrent, tempDir, waitStatus } from '../api/helpers.js';

let root: string;
let cleanup: () => Promise<void>;
let samples: SampleTorrent[];

before(async () => {
  ({ dir: root, cleanup } = await tempDir('state-store'));
  samples = [];
  for (const [i, size] of [96 * 1024, 64 * 1024 + 5, 40 * 1024].entries())
    samples.push(await makeTorrent(root, `s${i}`, [size, 7000]));
});
after(() => cleanup());

test('writeAtomic: the content lands whole, with mode 0600, and no temp file is left', async () => {
  const store = new StateStore(join(root, 'atomic'));
  await store.open();
  const path = join(store.dir, 'x.json');
  // Many overlapping writes to one path: each renames its own temp file; the last rename wins.
  await Promise.all(Array.from({ length: 50 }, (_, i) => store.writeAtomic(path, JSON.stringify({ i }))));
  const { i } = JSON.parse(await readFile(path, 'utf8')) as { i: number };
  assert.ok(Number.isInteger(i) && i >= 0 && i < 50);
  assert.deepEqual(await readdir(store.dir), ['torrents', 'x.json']);
  assert.equal((await stat(path)).mode & 0o777, 0o600);
});

test('writeAtomic: a rename that fails removes its temp file and keeps what was there', async () => {
  const store = new StateStore(join(root, 'atomic-fail'));
  await store.open();
  // The target is a non-empty folder: rename(2) refuses to replace it.
  const target = join(store.dir, 'torrents');
  await writeFile(join(target, 'keep'), 'x');
  await assert.rejects(store.writeAtomic(target, 'data'));
  assert.deepEqual((await readdir(store.dir)).sort(), ['torrents']);
  assert.deepEqual(await readdir(target), ['keep']);
});

test('a crash between write and rename leaves the old file (SIGKILL at random moments)', {
  timeout: 30_000,
}, async () => {
  const store = new StateStore(join(root, 'crash'));
  await store.open();
  const path = join(store.dir, 'session.json');
  // Two big, distinct contents, so a kill lands inside a write most of the time.
  const a = JSON.stringify({ v: 'a', pad: 'a'.repeat(2 * 1024 * 1024) });
  await store.writeAtomic(path, a);
  const moduleUrl = new URL('../../../src/session/state-store.js', import.meta.url).href;
  const script = `import(${JSON.stringify(moduleUrl)}).then(async ({ StateStore }) => {
      const s = new StateStore(process.argv[1]);
      const a = JSON.stringify({ v: 'a', pad: 'a'.repeat(2 * 1024 * 1024) });
      const b = JSON.stringify({ v: 'b', pad: 'b'.repeat(3 * 1024 * 1024) });
      process.stdout.write('ready\\n');
      for (let i = 0; ; i++) await s.writeAtomic(process.argv[2], i % 2 ? a : b);
    });`;
  const seen = new Set<string>();
  for (let round = 0; round < 8; round++) {
    const child = spawn(process.execPath, ['-e', script, store.dir, path], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    await new Promise((r) => setTimeout(r, 30 + Math.random() * 150));
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    const got = JSON.parse(await readFile(path, 'utf8')) as { v: string; pad: string };
    assert.ok(got.v === 'a' || got.v === 'b');
    assert.equal(got.pad.length, got.v === 'a' ? 2 * 1024 * 1024 : 3 * 1024 * 1024);
    assert.ok(got.pad === got.v.repeat(got.pad.length));
    seen.add(got.v);
  }
  // The killed writer leaves temp files behind (nothing cleans them), but never a torn session.json.
  const names = await readdir(store.dir);
  assert.ok(names.includes('session.json'));
  for (const n of names) assert.ok(n === 'session.json' || n === 'torrents' || n.endsWith('.tmp'), n);
  assert.ok(seen.size >= 1);
});

test('readJson: missing is undefined; damaged throws (the caller decides what it costs)', async () => {
  const store = new StateStore(join(root, 'read'));
  await store.open();
  assert.equal(await store.readJson(join(store.dir, 'nope.json')), undefined);
  await writeFile(join(store.dir, 'bad.json'), '{"half":');
  await assert.rejects(store.readJson(join(store.dir, 'bad.json')), SyntaxError);
  assert.deepEqual(await store.loadSettings(), {});
  await writeFile(join(store.dir, 'session.json'), 'not json');
  assert.deepEqual(await store.loadSettings(), {}, 'damaged settings fall back to defaults');
  await store.saveSettings({ port: 1234, maxActiveDownloads: 3 });
  assert.deepEqual(await store.loadSettings(), { port: 1234, maxActiveDownloads: 3 });
});

test('token: 64 hex digits, mode 0600, the same on the next call; a damaged one is replaced', async () => {
  const store = new StateStore(join(root, 'token'));
  await store.open();
  const t = await store.token();
  assert.match(t, /^[0-9a-f]{64}$/);
  assert.equal(await store.token(), t);
  assert.equal((await stat(join(store.dir, 'api-token'))).mode & 0o777, 0o600);
  await writeFile(join(store.dir, 'api-token'), 'short\n');
  const t2 = await store.token();
  assert.match(t2, /^[0-9a-f]{64}$/);
  assert.notEqual(t2, t);
});

test('list: only <40 hex>.torrent|.json names count; temp files and strangers are ignored', async () => {
  const store = new StateStore(join(root, 'list'));
  await store.open();
  const h = 'a'.repeat(40);
  const tdir = join(store.dir, 'torrents');
  await writeFile(join(tdir, `${h}.json`), '{}');
  await writeFile(join(tdir, `${h}.torrent`), 'x');
  await writeFile(join(tdir, `${'b'.repeat(40)}.json.0a1b2c3d.tmp`), '{');
  await writeFile(join(tdir, 'README'), 'x');
  await writeFile(join(tdir, `${'C'.repeat(40)}.json`), '{}');
  assert.deepEqual(await store.list(), [h]);
});

/** Adds every sample (data in place: they check and seed), stops; returns the state dir. */
async function stateWithSamples(name: string): Promise<string> {
  const stateDir = join(root, name);
  const session = await loopbackSession();
  const manager = new TorrentManager({ session, store: new StateStore(stateDir) });
  try {
    for (const s of samples) {
      const hex = await manager.add({ metainfo: s.metainfo, dir: s.dataDir });
      await waitStatus(manager, hex, 'seeding');
    }
  } finally {
    await manager.stop();
    await session.stop();
  }
  return stateDir;
}

/** Loads `stateDir` in a fresh manager; returns warnings, and which torrents ran a hash check. */
async function reload(stateDir: string) {
  const session = await loopbackSession();
  const manager = new TorrentManager({ session, store: new StateStore(stateDir) });
  const checked = new Set<string>();
  manager.on('torrent:active', (hex: string, t: Torrent) => {
    t.on('check:progress', () => checked.add(hex));
  });
  const warnings = await manager.load();
  return {
    manager,
    warnings,
    checked,
    stop: async () => {
      await manager.stop();
      await session.stop();
    },
  };
}

test('a damaged settings file or metainfo costs only its own torrent', { timeout: 20_000 }, async () => {
  const stateDir = await stateWithSamples('damaged-record');
  const store = new StateStore(stateDir);
  const [s0, s1, s2] = samples as [SampleTorrent, SampleTorrent, SampleTorrent];
  await writeFile(store.recordPath(s0.metainfo.infoHashHex), '{"version":1,"infoHash":');
  await writeFile(store.torrentPath(s1.metainfo.infoHashHex), 'd4:infoi1ee');
  const r = await reload(stateDir);
  try {
    assert.equal(r.warnings.length, 2, r.warnings.join('\n'));
    assert.ok(r.warnings.some((w) => w.includes(s0.metainfo.infoHashHex) && /settings/.test(w)));
    assert.ok(r.warnings.some((w) => w.includes(s1.metainfo.infoHashHex) && /metainfo/.test(w)));
    assert.deepEqual(
      r.manager.list().map((v) => v.infoHash),
      [s2.metainfo.infoHashHex],
    );
    await waitStatus(r.manager, s2.metainfo.infoHashHex, 'seeding');
    assert.equal(r.checked.size, 0, 'the intact torrent trusted its resume data');
  } finally {
    await r.stop();
  }
});

test('damaged resume data costs its torrent a recheck, nothing more', { timeout: 20_000 }, async () => {
  const stateDir = await stateWithSamples('damaged-resume');
  const store = new StateStore(stateDir);
  const [s0, s1, s2] = samples as [SampleTorrent, SampleTorrent, SampleTorrent];
  const hex0 = s0.metainfo.infoHashHex;
  const hex1 = s1.metainfo.infoHashHex;
  const rec0 = JSON.parse(await readFile(store.recordPath(hex0), 'utf8'));
  assert.ok(rec0.resume, 'a stopped torrent saved resume data');
  rec0.resume.pieces = '////////////////////'; // wrong length for this torrent
  await writeFile(store.recordPath(hex0), JSON.stringify(rec0));
  const rec1 = JSON.parse(await readFile(store.recordPath(hex1), 'utf8'));
  rec1.resume = { pieces: 42, files: 'no' };
  await writeFile(store.recordPath(hex1), JSON.stringify(rec1));
  const r = await reload(stateDir);
  try {
    assert.equal(r.warnings.length, 2, r.warnings.join('\n'));
    for (const w of r.warnings) assert.match(w, /resume data.*rechecked/);
    for (const s of samples) await waitStatus(r.manager, s.metainfo.infoHashHex, 'seeding');
    assert.deepEqual([...r.checked].sort(), [hex0, hex1].sort());
    assert.ok(!r.checked.has(s2.metainfo.infoHashHex));
    for (const s of samples) assert.equal(r.manager.view(s.metainfo.infoHashHex).percent, 100);
  } finally {
    await r.stop();
  }
});
