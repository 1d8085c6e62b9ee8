// Issue 19 ("512 MiB pieces cost 1.1 GB of RAM"): a piece larger than STREAM_PIECE_BYTES is never
// held whole while it downloads. Its blocks go to disk as they arrive and the piece is hashed from
// disk a chunk at a time. Measured here with 32 MiB pieces from a seeder in another process (so
// its read cache is not counted): the leecher's buffers grow by far less than one piece. Block
// writes in flight count against the cap on unverified bytes (48 MiB by default, more than a piece
// here: on a busy disk they alone could fill it), so the leecher's cap is set to 8 MiB. A piece
// that a peer corrupts fails, is downloaded again, and the liar is banned.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { STREAM_PIECE_BYTES } from '../../../src/storage/hasher-pool.js';
import { MemoryStorage } from '../../../src/storage/memory-storage.js';
import { bitswarmNodeArgs, type JsonChild, spawnJson } from '../../interop/helpers.js';
import { loopbackSession, makeTorrent, type SampleTorrent, tempDir, waitFor } from '../api/helpers.js';
import { ScriptedServer } from './scripted-peer.js';

const PIECE = 32 * 1024 * 1024;
// What is measured is the memory the download keeps alive, not garbage the collector has not come
// to yet (on a busy machine that alone can be tens of MiB): each sample follows a full collection.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
let root: string;
let cleanup: () => Promise<void>;
let sample: SampleTorrent;
let seed: JsonChild;
let seedPort: number;

before(async () => {
  assert.ok(PIECE > STREAM_PIECE_BYTES);
  ({ dir: root, cleanup } = await tempDir('large-pieces'));
  sample = await makeTorrent(root, 'big', [2 * PIECE + 12345], { pieceLength: PIECE, single: true });
  seed = spawnJson(
    bitswarmNodeArgs([
      'seed',
      sample.torrentPath,
      '-d',
      sample.dataDir,
      '--bind',
      '127.0.0.1',
      '--port',
      '0',
      '--no-dht',
      '--no-lsd',
      '--json',
    ]),
  );
  await waitFor(() => seed.lines.some((l) => l.event === 'complete'), 'the seeder to check its data', 30_000);
  seedPort = seed.lines.find((l) => l.event === 'start')!.port as number;
});

after(async () => {
  seed?.child.kill('SIGKILL');
  await cleanup();
});

test('32 MiB pieces download without holding a piece: buffers grow by less than half a piece', {
  timeout: 60_000,
}, async (t) => {
  const leecher = await loopbackSession();
  try {
    gc();
    const before = process.memoryUsage().arrayBuffers;
    let peak = before;
    const sampler = setInterval(() => {
      gc();
      peak = Math.max(peak, process.memoryUsage().arrayBuffers);
    }, 20);
    const dir = join(root, 'dl');
    try {
      const torrent = await leecher.add(sample.metainfo, {
        dir,
        peers: [{ host: '127.0.0.1', port: seedPort }],
        torrentOptions: { maxUnverifiedBytes: 8 * 1024 * 1024 },
      });
      await waitFor(() => torrent.state === 'seeding', 'the download to complete', 50_000);
    } finally {
      clearInterval(sampler);
    }
    const grew = peak - before;
    t.diagnostic(
      `arrayBuffers grew by at most ${(grew / 1024 / 1024).toFixed(1)} MiB for ${PIECE / 1024 / 1024} MiB pieces`,
    );
    assert.ok(grew < PIECE / 2, `arrayBuffers grew by ${(grew / 1024 / 1024).toFixed(1)} MiB`);
    const got = await readFile(join(dir, sample.name));
    assert.ok(got.equals(sample.files[0]!.bytes), 'the downloaded bytes differ');
  } finally {
    await leecher.stop();
  }
});

test('a large piece a liar corrupts fails, comes again from an honest peer, and the liar is banned', {
  timeout: 60_000,
}, async (t) => {
  const bytes = sample.files[0]!.bytes;
  const m = sample.metainfo;
  // The liar has every piece and spoils one block of the first; once it is banned, the seeder gives the rest.
  const liar = await ScriptedServer.listen('127.0.0.2', {
    infoHash: m.infoHash,
    pieces: 'all',
    pieceCount: m.pieceCount,
    serve: { data: bytes, pieceLength: PIECE, corrupt: (b) => b.piece === 0 && b.offset === 5 * 16384 },
  }).catch(() => undefined);
  if (!liar) return t.skip('cannot listen on 127.0.0.2');
  const leecher = await loopbackSession();
  try {
    const banned: string[] = [];
    const storage = new MemoryStorage(m);
    const torrent = await leecher.add(m, {
      dir: '',
      storage,
      skipCheck: true,
      peers: [{ host: '127.0.0.2', port: liar.port }],
    });
    torrent.on('peer:banned', (host) => banned.push(host));
    await waitFor(() => banned.length > 0, 'the liar to be banned', 30_000);
    torrent.addPeers([{ host: '127.0.0.1', port: seedPort }]);
    await waitFor(() => torrent.state === 'seeding', 'the download to complete', 50_000);
    assert.deepEqual(banned, [`127.0.0.2:${liar.port}`]);
    const piece0 = await storage.readPiece(0);
    assert.equal(
      createHash('sha1').update(piece0).digest('hex'),
      Buffer.from(m.pieces.subarray(0, 20)).toString('hex'),
    );
  } finally {
    await leecher.stop();
    await liar.close();
  }
});
