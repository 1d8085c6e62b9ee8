// A file truncated while seeding (issue 19): the seed used to stop whole at the first failed read.
// Now the pieces that can no longer be read leave the bitfield, nothing wrong is sent, the other
// pieces are served on, and the torrent downloads the lost ones again from peers that have them.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { buildMetainfo, parseMetainfo } from '../../../src/protocol/metainfo.js';
import { TorrentState } from '../../../src/swarm/torrent.js';
import { waitFor } from '../api/helpers.js';
import {
  addLeecher,
  addSeeder,
  assertSameBytes,
  completed,
  eventOf,
  type MemoryTorrent,
  pseudoRandomBytes,
  startSession,
  stopAfterEachTest,
} from './scripted-peer.js';

const PIECE = 32 * 1024;
const FILES = [
  { name: 'a.bin', length: 5 * PIECE + 1000 },
  { name: 'b.bin', length: 6 * PIECE + 7000 },
  { name: 'c.bin', length: 4 * PIECE - 500 },
];
const data = pseudoRandomBytes(
  FILES.reduce((n, f) => n + f.length, 0),
  23,
);
const pieceCount = Math.ceil(data.length / PIECE);
const pieces = Buffer.alloc(pieceCount * 20);
for (let i = 0; i < pieceCount; i++)
  createHash('sha1')
    .update(data.subarray(i * PIECE, (i + 1) * PIECE))
    .digest()
    .copy(pieces, i * 20);
const fixture: MemoryTorrent = {
  data,
  metainfo: parseMetainfo(
    buildMetainfo({
      name: 'multi',
      pieceLength: PIECE,
      pieces,
      files: FILES.map((f) => ({ path: [f.name], length: f.length })),
    }),
  ),
};

const { sessions } = stopAfterEachTest();
const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('a file truncated while seeding', () => {
  test('the seed serves every intact piece, drops the lost ones, and gets them back from a peer', {
    timeout: 60_000,
  }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bitswarm-truncated-'));
    dirs.push(dir);
    await mkdir(join(dir, 'multi'));
    let at = 0;
    for (const f of FILES) {
      await writeFile(join(dir, 'multi', f.name), data.subarray(at, at + f.length));
      at += f.length;
    }
    const a = await startSession('127.0.0.2');
    sessions.push(a);
    const seed = await a.add(fixture.metainfo, { dir });
    assert.equal(seed.state, TorrentState.seeding);

    // b.bin loses its second half: the pieces touching those bytes are gone.
    const b = fixture.metainfo.files[1]!;
    const keep = Math.floor(b.length / 2);
    await truncate(join(dir, 'multi', 'b.bin'), keep);
    const lostStart = b.offset + keep;
    const lostEnd = b.offset + b.length;
    const lost = new Set<number>();
    for (let p = 0; p < pieceCount; p++) {
      if (p * PIECE < lostEnd && (p + 1) * PIECE > lostStart) lost.add(p);
    }
    assert.ok(lost.size >= 3);

    const lostEvents: number[] = [];
    seed.on('piece:lost', (p) => lostEvents.push(p));
    const l = await startSession('127.0.0.3');
    sessions.push(l);
    const failed: number[] = [];
    const { torrent: leech, storage } = await addLeecher(l, fixture, [{ host: '127.0.0.2', port: a.port }], {
      onTorrent: (t) => t.on('piece:failed', (p) => failed.push(p)),
    });
    const intact = [...Array(pieceCount).keys()].filter((p) => !lost.has(p));
    await waitFor(() => intact.every((p) => leech.bitfield.get(p)), 'every intact piece', 20_000);
    await waitFor(() => lostEvents.length === lost.size, 'every lost piece noticed', 20_000);
    assert.deepEqual(failed, [], 'the leecher was sent bad data');
    assert.deepEqual(new Set(lostEvents), lost);
    for (const p of lost) assert.ok(!seed.bitfield.get(p) && !leech.bitfield.get(p));
    assert.equal(seed.state, TorrentState.downloading, 'the seed stopped');
    assert.equal(
      seed.verifiedBytes,
      fixture.metainfo.totalLength - [...lost].reduce((n, p) => n + pieceLen(p), 0),
    );

    // A second full seeder: the leecher completes, and the first seed gets its lost pieces back.
    const c = await startSession('127.0.0.4');
    sessions.push(c);
    await addSeeder(c, fixture);
    const reseeded = eventOf(seed, 'torrent:complete', () => true, 30_000);
    leech.addPeers([{ host: '127.0.0.4', port: c.port }]);
    seed.addPeers([{ host: '127.0.0.4', port: c.port }]);
    await completed(leech, 30_000);
    await assertSameBytes(storage, fixture);
    await reseeded;
    assert.equal(seed.state, TorrentState.seeding);
    await seed.flush();
    const bOnDisk = await readFile(join(dir, 'multi', 'b.bin'));
    assert.ok(bOnDisk.equals(data.subarray(b.offset, b.offset + b.length)), 'b.bin was not restored');
  });
});

function pieceLen(p: number): number {
  return p === pieceCount - 1 ? data.length - p * PIECE : PIECE;
}
