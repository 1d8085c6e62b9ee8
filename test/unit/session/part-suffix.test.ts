// Incomplete files as users meet them over real loopback swarms: a download paused (or stopped) half
// way leaves `<name>.part` files, never the final names at full size; a restart resumes from them
// (resume data still trusted) and completion leaves only the final names; a peer serves the verified
// pieces of a `.part` file; the seeder's complete files keep their names; `partSuffix: false` writes
// the final names; removing with the data deletes the `.part` files.
import assert from 'node:assert/strict';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { TorrentManager } from '../../../src/session/manager.js';
import type { Session } from '../../../src/session/session.js';
import { fileFingerprints } from '../../../src/session/state-store.js';
import {
  differences,
  listing,
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
let sample: SampleTorrent;
/** Sends about 200 KB/s: a download of it can be caught half way. */
let slow: Session;
let fast: Session;

before(async () => {
  ({ dir: root, cleanup } = await tempDir('part'));
  // Boundaries inside pieces: f1 shares its first and last piece with f0 and f2.
  sample = await makeTorrent(root, 'parts', [300_000, 500_000, 200_000]);
  slow = await seeder(sample, { uploadLimitBytesPerSec: 200_000 });
  fast = await seeder(sample);
});
after(async () => {
  await slow.stop();
  await fast.stop();
  await cleanup();
});

const FINAL = ['parts/f0.bin', 'parts/f1.bin', 'parts/f2.bin'];

/** Waits until some but not all of the torrent is verified, then pauses it. */
async function pauseHalfWay(manager: TorrentManager, hex: string): Promise<number> {
  const total = sample.metainfo.totalLength;
  await waitFor(() => manager.view(hex).verifiedBytes >= total / 4, 'a quarter downloaded', 15_000);
  await manager.pause(hex);
  const v = manager.view(hex).verifiedBytes;
  assert.ok(v > 0 && v < total, `paused half way (${v} of ${total} bytes verified)`);
  return v;
}

test('paused half way: only .part names; a restart resumes from them and completion leaves the final names', {
  timeout: 40_000,
}, async () => {
  const state = join(root, 'state-resume');
  const dir = join(root, 'dl-resume');
  const hex = sample.metainfo.infoHashHex;
  let verified: number;
  {
    const { manager, stop } = await managerWith(state);
    try {
      await manager.add({ metainfo: sample.metainfo, dir, peers: [peerOf(slow)] });
      verified = await pauseHalfWay(manager, hex);
      const names = await listing(dir);
      assert.ok(names.length > 0, 'something was written');
      for (const n of names) assert.match(n, /\.part$/, `${n} is marked incomplete`);
    } finally {
      await stop();
    }
  }
  const { manager, stop } = await managerWith(state);
  try {
    await manager.load();
    await manager.resume(hex);
    await waitFor(() => manager.torrentOf(hex)?.state === 'downloading', 'restarted');
    // At least what was verified at the pause (a piece being hashed then, or one from the peer
    // since the resume, may add to it).
    const after = manager.view(hex).verifiedBytes;
    assert.ok(after >= verified, `nothing verified is lost (${after} of the ${verified} bytes)`);
    manager.torrentOf(hex)!.addPeers([peerOf(fast)]);
    await waitStatus(manager, hex, 'seeding', 20_000);
    assert.deepEqual(await listing(dir), FINAL);
    assert.deepEqual(await differences(sample, dir), []);
  } finally {
    await stop();
  }
  assert.deepEqual(await listing(sample.dataDir), FINAL, "the seeders' complete files keep their names");
});

test('resume data of a .part file still holds once it is renamed (same size and mtime)', async () => {
  const p = join(root, 'fp.bin');
  await writeFile(`${p}.part`, 'abc');
  const before = await fileFingerprints([p]);
  assert.equal(before[0]!.size, 3);
  await rename(`${p}.part`, p);
  assert.deepEqual(await fileFingerprints([p]), before);
  assert.deepEqual(await fileFingerprints(['']), [{ size: -1, mtimeMs: 0 }], 'padding: no path, no look-up');
});

test('a peer serves the verified pieces of a .part file', { timeout: 20_000 }, async () => {
  // The first 40 pieces of f1 (and what precedes it) as a .part file, the rest of it missing.
  const dir = join(root, 'partial-seed');
  await mkdir(join(dir, 'parts'), { recursive: true });
  const m = sample.metainfo;
  const f0 = sample.files[0]!.bytes;
  const f1 = sample.files[1]!.bytes;
  await writeFile(join(dir, 'parts', 'f0.bin'), f0);
  await writeFile(join(dir, 'parts', 'f1.bin.part'), f1.subarray(0, 40 * m.pieceLength));
  const a = await loopbackSession();
  const b = await loopbackSession();
  try {
    const ta = await a.add(m, { dir });
    assert.equal(ta.state, 'downloading');
    const have = ta.verifiedBytes;
    assert.ok(have > f0.length, 'pieces of f1.bin.part verified');
    const bDir = join(root, 'partial-leech');
    const tb = await b.add(m, { dir: bDir, peers: [peerOf(a)] });
    await waitFor(() => tb.verifiedBytes === have, 'the leecher has what the .part holds');
    for (const piece of ta.bitfield.indices()) {
      assert.deepEqual(
        await tb.readVerified(piece, 0, m.pieceLength),
        await ta.readVerified(piece, 0, m.pieceLength),
      );
    }
    assert.ok(ta.uploadedBytes >= have - f0.length, 'served from f1.bin.part');
    assert.deepEqual(await listing(dir), ['parts/f0.bin', 'parts/f1.bin.part'], 'complete f0 kept its name');
  } finally {
    await b.stop();
    await a.stop();
  }
});

test('partSuffix false (--no-part-suffix) writes the final names from the start', {
  timeout: 20_000,
}, async () => {
  const dir = join(root, 'dl-nosuffix');
  const { manager, stop } = await managerWith(undefined, {}, { partSuffix: false });
  try {
    const hex = await manager.add({ metainfo: sample.metainfo, dir, peers: [peerOf(slow)] });
    await pauseHalfWay(manager, hex);
    const names = await listing(dir);
    assert.ok(names.length > 0);
    for (const n of names) assert.ok(FINAL.includes(n), `${n} has its final name`);
  } finally {
    await stop();
  }
});

test('remove with deleteData half way deletes the .part files it created', { timeout: 20_000 }, async () => {
  const dir = join(root, 'dl-delete');
  const { manager, stop } = await managerWith(join(root, 'state-delete'));
  try {
    const hex = await manager.add({ metainfo: sample.metainfo, dir, peers: [peerOf(slow)] });
    await pauseHalfWay(manager, hex);
    const parts = await listing(dir);
    assert.ok(parts.length > 0 && parts.every((n) => n.endsWith('.part')));
    const report = await manager.remove(hex, { deleteData: true });
    assert.deepEqual(report.kept, []);
    assert.deepEqual(report.deleted.filter((d) => !d.endsWith('/')).sort(), parts);
    assert.deepEqual(await listing(dir), []);
  } finally {
    await stop();
  }
});
