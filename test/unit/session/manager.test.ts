// The torrent manager's operations over real loopback swarms: add, pause, resume, remove (with and
// without the data: only what the torrent created), recheck, file priorities, per-torrent limits and
// the download queue.
import assert from 'node:assert/strict';
import { mkdir, open, readdir, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
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
  seededSample,
  seeder,
  waitFor,
  waitStatus,
} from '../api/helpers.js';

// Three files whose boundaries fall inside pieces (16 KiB pieces): f1 shares a piece with f0 and f2.
const fx = seededSample('manager', 'multi', [100_000, 200_000, 150_000]);

test('add downloads byte-exact, saves metainfo and record; pause stops it, resume restarts it', {
  timeout: 20_000,
}, async () => {
  const state = join(fx.root, 'state-add');
  const dir = join(fx.root, 'dl-add');
  const { manager, session, stop } = await managerWith(state);
  try {
    const hex = await manager.add({ metainfo: fx.sample.metainfo, dir, paused: true });
    assert.equal(hex, fx.sample.metainfo.infoHashHex);
    const store = new StateStore(state);
    assert.deepEqual(await readFile(store.torrentPath(hex)), fx.sample.torrentBytes);
    const rec = JSON.parse(await readFile(store.recordPath(hex), 'utf8'));
    assert.equal(rec.paused, true);
    assert.equal(rec.dir, dir);
    assert.equal(manager.view(hex).status, 'paused');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(session.get(hex), undefined, 'a paused torrent is not in the session');

    await manager.resume(hex);
    assert.equal(JSON.parse(await readFile(store.recordPath(hex), 'utf8')).paused, false);
    manager.torrentOf(hex) ?? (await waitFor(() => manager.torrentOf(hex) !== undefined, 'active'));
    manager.torrentOf(hex)?.addPeers([peerOf(fx.seed)]);
    await waitStatus(manager, hex, 'seeding');
    assert.deepEqual(await differences(fx.sample, dir), []);
    const v = manager.view(hex);
    assert.equal(v.percent, 100);
    assert.equal(v.leftBytes, 0);
    assert.equal(v.verifiedBytes, fx.sample.metainfo.totalLength);
    assert.ok(v.downloadedBytes >= fx.sample.metainfo.totalLength);

    await manager.pause(hex);
    assert.equal(manager.view(hex).status, 'paused');
    assert.equal(session.get(hex), undefined);
    assert.equal(manager.torrentOf(hex), undefined);
    const saved = JSON.parse(await readFile(store.recordPath(hex), 'utf8'));
    assert.equal(saved.paused, true);
    assert.ok(saved.resume, 'pausing saves resume data');
    assert.equal(
      Buffer.from(saved.resume.pieces, 'base64').length,
      Math.ceil(fx.sample.metainfo.pieceCount / 8),
    );
    // Adding the same torrent again changes nothing.
    assert.equal(await manager.add({ metainfo: fx.sample.metainfo, dir: join(fx.root, 'elsewhere') }), hex);
    assert.equal(manager.list().length, 1);
    assert.equal(manager.view(hex).dir, dir);
  } finally {
    await stop();
  }
});

test('remove keeps the data by default; with deleteData only the torrent own files go', {
  timeout: 20_000,
}, async () => {
  const state = join(fx.root, 'state-rm');
  const { manager, stop } = await managerWith(state);
  try {
    const keepDir = join(fx.root, 'dl-rm-keep');
    const hex = await manager.add({ metainfo: fx.sample.metainfo, dir: keepDir, peers: [peerOf(fx.seed)] });
    await waitStatus(manager, hex, 'seeding');
    await manager.remove(hex);
    assert.equal(manager.has(hex), false);
    assert.deepEqual(await readdir(join(state, 'torrents')), []);
    assert.deepEqual(await differences(fx.sample, keepDir), [], 'data kept');
    await assert.rejects(manager.pause(hex), { code: 'ERR_NOT_FOUND' });

    // The same data, now with neighbours: a file beside the torrent's folder, one inside it, and a
    // subfolder inside it. Only the torrent's three files may go; its folder stays (not empty).
    const delDir = join(fx.root, 'dl-rm-del');
    const hex2 = await manager.add({ metainfo: fx.sample.metainfo, dir: delDir, peers: [peerOf(fx.seed)] });
    await waitStatus(manager, hex2, 'seeding');
    await writeFile(join(delDir, 'other.txt'), 'mine');
    await writeFile(join(delDir, 'multi', 'notes.txt'), 'mine too');
    await mkdir(join(delDir, 'multi', 'sub'));
    await writeFile(join(delDir, 'multi', 'sub', 'x'), 'x');
    await manager.remove(hex2, { deleteData: true });
    assert.deepEqual((await readdir(delDir)).sort(), ['multi', 'other.txt']);
    assert.deepEqual((await readdir(join(delDir, 'multi'))).sort(), ['notes.txt', 'sub']);
    assert.equal(await readFile(join(delDir, 'other.txt'), 'utf8'), 'mine');

    // Alone in its folder, the torrent's folder goes too; the download folder itself stays.
    const aloneDir = join(fx.root, 'dl-rm-alone');
    const hex3 = await manager.add({ metainfo: fx.sample.metainfo, dir: aloneDir, peers: [peerOf(fx.seed)] });
    await waitStatus(manager, hex3, 'seeding');
    await manager.remove(hex3, { deleteData: true });
    assert.deepEqual(await readdir(aloneDir), []);
  } finally {
    await stop();
  }
});

test('recheck finds a damaged piece and downloads it again', { timeout: 20_000 }, async () => {
  const dir = join(fx.root, 'dl-recheck');
  const { manager, stop } = await managerWith(join(fx.root, 'state-recheck'));
  try {
    const hex = await manager.add({ metainfo: fx.sample.metainfo, dir, peers: [peerOf(fx.seed)] });
    await waitStatus(manager, hex, 'seeding');
    const pieceLength = fx.sample.metainfo.pieceLength;
    // Damage one byte of piece 8 (inside f1), keeping size and mtime as they were.
    const file = join(dir, 'multi', 'f1.bin');
    const before = await stat(file);
    const fh = await open(file, 'r+');
    const at = 8 * pieceLength - 100_000 + 5;
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, at);
    await fh.write(Buffer.from([b[0]! ^ 0xff]), 0, 1, at);
    await fh.close();
    const { utimes } = await import('node:fs/promises');
    await utimes(file, before.atime, before.mtime);

    let checked = 0;
    let failedSeen = false;
    manager.on('torrent:active', (_h: string, t: Torrent) => {
      t.on('check:progress', () => checked++);
      t.on('piece:verified', (p) => {
        if (p === 8) failedSeen = true;
      });
    });
    await manager.recheck(hex);
    await waitFor(() => checked > 0, 'a hash check');
    await waitStatus(manager, hex, 'seeding');
    assert.equal(checked, fx.sample.metainfo.pieceCount, 'every piece was checked');
    assert.ok(failedSeen, 'piece 8 was downloaded again after the check');
    assert.deepEqual(await differences(fx.sample, dir), []);
  } finally {
    await stop();
  }
});

test('a skipped file is not downloaded, except the bytes of pieces it shares with wanted files', {
  timeout: 20_000,
}, async () => {
  const dir = join(fx.root, 'dl-prio');
  const m = fx.sample.metainfo;
  const own = await seeder(fx.sample);
  const { manager, stop } = await managerWith(undefined);
  try {
    const hex = await manager.add({ metainfo: m, dir, peers: [peerOf(own)], priorities: [4, 0, 7] });
    await waitStatus(manager, hex, 'seeding');
    const f1 = m.files[1]!;
    const firstShared = Math.floor(f1.offset / m.pieceLength);
    const lastShared = Math.floor((f1.offset + f1.length - 1) / m.pieceLength);
    // Bytes of f1 outside its first and last piece belong to f1 alone: never fetched.
    const aloneStart = (firstShared + 1) * m.pieceLength - f1.offset;
    const aloneEnd = lastShared * m.pieceLength - f1.offset;
    // Not complete, so it keeps the `.part` name as Transmission does (the shared edges make it exist).
    await assert.rejects(stat(join(dir, 'multi', 'f1.bin')), { code: 'ENOENT' });
    const got = await readFile(join(dir, 'multi', 'f1.bin.part')).catch(() => Buffer.alloc(0));
    const original = fx.sample.files[1]!.bytes;
    const alone = got.subarray(aloneStart, Math.min(aloneEnd, got.length));
    assert.ok(
      alone.every((x) => x === 0),
      'no byte of f1 alone was written',
    );
    // The shared edges were written (they are part of wanted pieces).
    assert.ok(got.subarray(0, aloneStart).equals(original.subarray(0, aloneStart)));
    assert.ok(got.length === 0 || got.subarray(aloneEnd).equals(original.subarray(aloneEnd)));
    assert.deepEqual(await readFile(join(dir, 'multi', 'f0.bin')), fx.sample.files[0]!.bytes);
    assert.deepEqual(await readFile(join(dir, 'multi', 'f2.bin')), fx.sample.files[2]!.bytes);
    const wantedPieces = m.pieceCount - (lastShared - firstShared - 1);
    const t = own.get(hex)!;
    assert.ok(
      t.uploadedBytes <= wantedPieces * m.pieceLength,
      `seeder sent ${t.uploadedBytes} bytes for ${wantedPieces} wanted pieces`,
    );
    const v = manager.view(hex);
    assert.equal(v.leftBytes, 0);
    assert.ok(v.verifiedBytes < m.totalLength);

    await assert.rejects(manager.setFilePriorities(hex, [4, 4]), { code: 'ERR_BAD_REQUEST' });
    await assert.rejects(manager.setFilePriorities(hex, [4, 9, 4]), { code: 'ERR_BAD_REQUEST' });
  } finally {
    await stop();
    await own.stop();
  }
});

test('wanting a skipped file after completion fetches what is missing', {
  timeout: 20_000,
}, async () => {
  const dir = join(fx.root, 'dl-prio-later');
  const own = await seeder(fx.sample);
  const { manager, stop } = await managerWith(undefined);
  try {
    const hex = await manager.add({
      metainfo: fx.sample.metainfo,
      dir,
      peers: [peerOf(own)],
      priorities: [4, 0, 4],
    });
    await waitStatus(manager, hex, 'seeding');
    await manager.setFilePriorities(hex, [4, 4, 4]);
    assert.equal(manager.recordOf(hex)!.priorities?.join(), '4,4,4');
    await waitStatus(manager, hex, 'downloading');
    await waitStatus(manager, hex, 'seeding', 5000);
    assert.deepEqual(await differences(fx.sample, dir), []);
  } finally {
    await stop();
    await own.stop();
  }
});

test('a per-torrent upload limit paces what a seeder sends', { timeout: 30_000 }, async () => {
  const small = await makeTorrent(fx.root, 'up-limited', [1024 * 1024]);
  const { manager, session, stop } = await managerWith(undefined);
  const leech = await loopbackSession();
  try {
    const rate = 512 * 1024;
    const hex = await manager.add({
      metainfo: small.metainfo,
      dir: small.dataDir,
      uploadLimitBytesPerSec: rate,
    });
    await waitStatus(manager, hex, 'seeding');
    const started = Date.now();
    const t = await leech.add(small.metainfo, {
      dir: join(fx.root, 'dl-up-limited'),
      peers: [peerOf(session)],
    });
    await new Promise<void>((r) => (t.complete ? r() : t.once('torrent:complete', () => r())));
    const seconds = (Date.now() - started) / 1000;
    // The bucket starts with one second's worth; the rest goes at the rate.
    const minSeconds = (small.metainfo.totalLength - rate) / rate;
    assert.ok(seconds >= minSeconds * 0.8, `1 MiB at ${rate} B/s took ${seconds} s`);
    assert.ok(seconds < minSeconds * 4, `1 MiB at ${rate} B/s took ${seconds} s`);
    assert.deepEqual(await differences(small, join(fx.root, 'dl-up-limited')), []);
    // New limits are saved and applied to the running torrent; null lifts a seeding goal.
    await manager.setLimits(hex, { downloadLimitBytesPerSec: 0, uploadLimitBytesPerSec: 1000, seedRatio: 2 });
    const rec = manager.recordOf(hex)!;
    assert.equal(rec.downloadLimitBytesPerSec, 0);
    assert.equal(rec.uploadLimitBytesPerSec, 1000);
    assert.equal(rec.seedRatio, 2);
    assert.equal(manager.torrentOf(hex)!.uploadLimit.rateBytesPerSec, 1000);
    await manager.setLimits(hex, { seedRatio: null });
    assert.equal(manager.recordOf(hex)!.seedRatio, undefined);
  } finally {
    await leech.stop();
    await stop();
  }
});

test('a per-torrent download limit paces the download', {
  timeout: 30_000,
}, async () => {
  const small = await makeTorrent(fx.root, 'limited', [1024 * 1024]);
  const own = await seeder(small);
  const { manager, stop } = await managerWith(undefined);
  try {
    const rate = 384 * 1024;
    const started = Date.now();
    const hex = await manager.add({
      metainfo: small.metainfo,
      dir: join(fx.root, 'dl-limited'),
      peers: [peerOf(own)],
      downloadLimitBytesPerSec: rate,
    });
    await waitStatus(manager, hex, 'seeding');
    const seconds = (Date.now() - started) / 1000;
    // The bucket starts full (one second's worth) and requests already sent still arrive: the rest
    // is paced, so at least (size − 2 × rate) / rate seconds pass.
    const minSeconds = (small.metainfo.totalLength - 2 * rate) / rate;
    assert.ok(seconds >= minSeconds * 0.9, `1 MiB at ${rate} B/s took ${seconds} s`);
  } finally {
    await stop();
    await own.stop();
  }
});

test('queue: over max active downloads the rest are queued and start when a slot frees', {
  timeout: 30_000,
}, async () => {
  const samples: SampleTorrent[] = [];
  for (let i = 0; i < 3; i++) samples.push(await makeTorrent(fx.root, `q${i}`, [48 * 1024 + i]));
  const { manager, stop } = await managerWith(undefined, { maxActiveDownloads: 1 });
  const seeders: Session[] = [];
  try {
    // No peers yet: the first one downloads (waiting for peers), the others wait in the queue.
    const hexes: string[] = [];
    for (const s of samples)
      hexes.push(await manager.add({ metainfo: s.metainfo, dir: join(fx.root, 'dl-q') }));
    await waitStatus(manager, hexes[0]!, 'downloading');
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(
      hexes.map((h) => manager.view(h).status),
      ['downloading', 'queued', 'queued'],
    );
    // Pausing the running one frees its slot for the next in line.
    await manager.pause(hexes[0]!);
    await waitStatus(manager, hexes[1]!, 'downloading');
    assert.equal(manager.view(hexes[2]!).status, 'queued');
    // Completing frees a slot too.
    for (const s of samples) seeders.push(await seeder(s));
    manager.torrentOf(hexes[1]!)!.addPeers([peerOf(seeders[1]!)]);
    await waitStatus(manager, hexes[1]!, 'seeding');
    await waitStatus(manager, hexes[2]!, 'downloading');
    manager.torrentOf(hexes[2]!)!.addPeers([peerOf(seeders[2]!)]);
    await waitStatus(manager, hexes[2]!, 'seeding');
    assert.equal(manager.view(hexes[0]!).status, 'paused');
    // Resuming the paused one puts it back in line; a slot is free, so it runs.
    await manager.resume(hexes[0]!);
    await waitStatus(manager, hexes[0]!, 'downloading');
    manager.torrentOf(hexes[0]!)!.addPeers([peerOf(seeders[0]!)]);
    await waitStatus(manager, hexes[0]!, 'seeding');
    for (const s of samples) assert.deepEqual(await differences(s, join(fx.root, 'dl-q')), []);
  } finally {
    await stop();
    await Promise.all(seeders.map((s) => s.stop()));
  }
});

test('queue order: the last added, moved to the top, starts first when a slot frees; the place outlives a restart', {
  timeout: 30_000,
}, async () => {
  const samples: SampleTorrent[] = [];
  for (let i = 0; i < 3; i++) samples.push(await makeTorrent(fx.root, `qo${i}`, [20 * 1024 + i]));
  const state = join(fx.root, 'state-queue-order');
  let { manager, stop } = await managerWith(state, { maxActiveDownloads: 1 });
  try {
    const hexes: string[] = [];
    for (const s of samples)
      hexes.push(await manager.add({ metainfo: s.metainfo, dir: join(fx.root, 'dl-qo') }));
    await waitStatus(manager, hexes[0]!, 'downloading');
    assert.deepEqual(
      manager.list().map((v) => [v.infoHash, v.queuePosition]),
      hexes.map((h, i) => [h, i + 1]),
    );
    manager.moveInQueue(hexes[2]!, 'top');
    assert.deepEqual(
      manager.list().map((v) => v.infoHash),
      [hexes[2], hexes[0], hexes[1]],
    );
    // Moving ahead of a running torrent does not stop it; the next free slot goes to the mover.
    assert.equal(manager.view(hexes[0]!).status, 'downloading');
    await manager.pause(hexes[0]!);
    await waitStatus(manager, hexes[2]!, 'downloading');
    assert.equal(manager.view(hexes[1]!).status, 'queued');
    manager.moveInQueue(hexes[1]!, 'up');
    manager.moveInQueue(hexes[1]!, 'up');
    assert.deepEqual(
      manager.list().map((v) => v.infoHash),
      [hexes[1], hexes[2], hexes[0]],
    );
    manager.moveInQueue(hexes[1]!, 'bottom');
    manager.moveInQueue(hexes[2]!, 'down');
    const before = manager.list().map((v) => v.infoHash);
    assert.deepEqual(before, [hexes[0], hexes[2], hexes[1]]);
    await stop();
    ({ manager, stop } = await managerWith(state, { maxActiveDownloads: 1 }));
    await manager.load();
    assert.deepEqual(
      manager.list().map((v) => v.infoHash),
      before,
      'the queue order after a restart',
    );
  } finally {
    await stop();
  }
});

test('queue: torrents added in one burst still respect max active downloads', {
  timeout: 20_000,
}, async () => {
  const samples: SampleTorrent[] = [];
  for (let i = 0; i < 4; i++) samples.push(await makeTorrent(fx.root, `burst${i}`, [20 * 1024 + i]));
  const { manager, session, stop } = await managerWith(undefined, { maxActiveDownloads: 1 });
  try {
    const hexes = await Promise.all(
      samples.map((s) => manager.add({ metainfo: s.metainfo, dir: join(fx.root, 'dl-burst') })),
    );
    await waitStatus(manager, hexes[0]!, 'downloading');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(session.torrents.length, 1, `${session.torrents.length} torrents run, limit 1`);
    assert.equal(hexes.filter((h) => manager.view(h).status === 'queued').length, 3);
  } finally {
    await stop();
  }
});

// Issue 19: `rm --delete-data` deleted files bitswarm never wrote (a torrent added paused and never
// started, whose names matched the user's own files) and followed a symlinked folder out of the
// download folder. Only what the torrent created (recorded in its resume data) is deleted, never
// through a symlink, and the report says what was kept and why.

const NAMES = ['multi/f0.bin', 'multi/f1.bin', 'multi/f2.bin'];

/** The user's own files under the torrent's names. */
async function userFiles(dir: string): Promise<void> {
  await mkdir(join(dir, 'multi'), { recursive: true });
  for (const n of NAMES) await writeFile(join(dir, n), `the user's own ${n}`);
}

async function assertUserFiles(dir: string): Promise<void> {
  for (const n of NAMES) assert.equal(await readFile(join(dir, n), 'utf8'), `the user's own ${n}`, n);
}

test('a paused torrent never started, its names colliding with the user files: nothing deleted', {
  timeout: 20_000,
}, async () => {
  const dir = join(fx.root, 'dl-collide');
  await userFiles(dir);
  const { manager, stop } = await managerWith(join(fx.root, 'state-collide'));
  try {
    const hex = await manager.add({ metainfo: fx.sample.metainfo, dir, paused: true });
    const report = await manager.remove(hex, { deleteData: true });
    await assertUserFiles(dir);
    assert.deepEqual(report.deleted, []);
    assert.deepEqual(
      report.kept,
      NAMES.map((path) => ({ path, reason: 'not created by this torrent' })),
    );
  } finally {
    await stop();
  }
});

test('a download into a folder holding one of its files: that file and the folder stay, the rest goes', {
  timeout: 20_000,
}, async () => {
  const dir = join(fx.root, 'dl-partial');
  await mkdir(join(dir, 'multi'), { recursive: true });
  // The user's file, already right (a copy of the data), so the download keeps it as it is.
  await writeFile(join(dir, 'multi', 'f1.bin'), fx.sample.files[1]!.bytes);
  const { manager, stop } = await managerWith(join(fx.root, 'state-partial'));
  try {
    const hex = await manager.add({ metainfo: fx.sample.metainfo, dir, peers: [peerOf(fx.seed)] });
    await waitStatus(manager, hex, 'seeding');
    assert.deepEqual(await differences(fx.sample, dir), []);
    const report = await manager.remove(hex, { deleteData: true });
    assert.deepEqual(report.deleted.sort(), ['multi/f0.bin', 'multi/f2.bin']);
    assert.deepEqual(report.kept, [{ path: 'multi/f1.bin', reason: 'not created by this torrent' }]);
    assert.deepEqual(await readdir(join(dir, 'multi')), ['f1.bin']);
  } finally {
    await stop();
  }
});

test('a folder of the torrent replaced by a symlink to another folder: nothing behind it is deleted', {
  timeout: 20_000,
}, async () => {
  const dir = join(fx.root, 'dl-link');
  const elsewhere = join(fx.root, 'elsewhere');
  const { manager, stop } = await managerWith(join(fx.root, 'state-link'));
  try {
    const hex = await manager.add({ metainfo: fx.sample.metainfo, dir, peers: [peerOf(fx.seed)] });
    await waitStatus(manager, hex, 'seeding');
    await manager.pause(hex);
    // The user moves the folder away and leaves a symlink in its place (same files, same inodes).
    await rename(join(dir, 'multi'), elsewhere);
    await symlink(elsewhere, join(dir, 'multi'));
    const report = await manager.remove(hex, { deleteData: true });
    assert.deepEqual(report.deleted, []);
    for (const path of NAMES) {
      assert.ok(
        report.kept.some((k) => k.path === path && k.reason === 'path goes through a symlink (multi)'),
        JSON.stringify(report.kept),
      );
    }
    assert.ok(report.kept.some((k) => k.path === 'multi/' && /symlink/.test(k.reason)));
    assert.deepEqual((await readdir(elsewhere)).sort(), ['f0.bin', 'f1.bin', 'f2.bin']);
  } finally {
    await stop();
    await rm(elsewhere, { recursive: true, force: true });
  }
});

test('what it created is remembered across a restart; a file the user put in its place is kept', {
  timeout: 30_000,
}, async () => {
  const dir = join(fx.root, 'dl-restart');
  const state = join(fx.root, 'state-restart');
  let hex: string;
  {
    const { manager, stop } = await managerWith(state);
    try {
      hex = await manager.add({ metainfo: fx.sample.metainfo, dir, peers: [peerOf(fx.seed)] });
      await waitStatus(manager, hex, 'seeding');
    } finally {
      await stop();
    }
  }
  const rec = JSON.parse(await readFile(new StateStore(state).recordPath(hex), 'utf8'));
  assert.deepEqual(rec.created.files.map((f: { file: number }) => f.file).sort(), [0, 1, 2]);
  assert.deepEqual(
    rec.created.folders.map((f: { path: string }) => f.path),
    ['multi'],
  );
  // Replaced by the user: another file (another inode) under the same name.
  await rm(join(dir, 'multi', 'f2.bin'));
  await writeFile(join(dir, 'multi', 'f2.bin'), 'mine now');
  const { manager, stop } = await managerWith(state);
  try {
    await manager.load();
    await manager.pause(hex);
    const report = await manager.remove(hex, { deleteData: true });
    assert.deepEqual(report.deleted.sort(), ['multi/f0.bin', 'multi/f1.bin']);
    assert.deepEqual(report.kept, [
      { path: 'multi/f2.bin', reason: 'replaced since this torrent created it' },
      { path: 'multi/', reason: 'not empty' },
    ]);
    assert.equal(await readFile(join(dir, 'multi', 'f2.bin'), 'utf8'), 'mine now');
  } finally {
    await stop();
  }
});

test('a record of an older version (no list of created files): nothing deleted, and it says so', {
  timeout: 20_000,
}, async () => {
  const dir = join(fx.root, 'dl-old');
  const state = join(fx.root, 'state-old');
  await userFiles(dir);
  let hex: string;
  {
    const { manager, stop } = await managerWith(state);
    try {
      hex = await manager.add({ metainfo: fx.sample.metainfo, dir, paused: true });
    } finally {
      await stop();
    }
  }
  const store = new StateStore(state);
  const rec = JSON.parse(await readFile(store.recordPath(hex), 'utf8'));
  delete rec.created;
  await writeFile(store.recordPath(hex), JSON.stringify(rec));
  const { manager, stop } = await managerWith(state);
  try {
    await manager.load();
    const report = await manager.remove(hex, { deleteData: true });
    await assertUserFiles(dir);
    assert.deepEqual(report.deleted, []);
    assert.equal(report.kept.length, 3);
    for (const k of report.kept) assert.match(k.reason, /^no record of which files this torrent created/);
  } finally {
    await stop();
  }
});

test('a torrent that created everything: every file and its folder go, the download folder stays', {
  timeout: 20_000,
}, async () => {
  const dir = join(fx.root, 'dl-all');
  const { manager, stop } = await managerWith(join(fx.root, 'state-all'));
  try {
    const hex = await manager.add({ metainfo: fx.sample.metainfo, dir, peers: [peerOf(fx.seed)] });
    await waitStatus(manager, hex, 'seeding');
    const report = await manager.remove(hex, { deleteData: true });
    assert.deepEqual(report.deleted.sort(), ['multi/', ...NAMES]);
    assert.deepEqual(report.kept, []);
    assert.deepEqual(await readdir(dir), []);
  } finally {
    await stop();
  }
});
