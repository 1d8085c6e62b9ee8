// bitswarm trades data with the real clients, in both directions, single- and multi-file:
// libtorrent (python3-libtorrent), Transmission (transmission-daemon) and aria2. Every result is
// checked byte for byte. All on 127.0.0.1 with the clients' DHT/LSD/UPnP/NAT-PMP off.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  aria2,
  bitswarm,
  freePort,
  killAll,
  libtorrent,
  onLoopback,
  requireTool,
  transmission,
} from './clients.js';
import { compareTree, makeSample, type Sample } from './fixtures.js';

const TIMEOUT_MS = 120_000;
let root: string;
const samples: Record<'single' | 'multi', Sample> = {} as Record<'single' | 'multi', Sample>;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'bitswarm-interop-'));
  samples.single = await makeSample(root, 'single');
  samples.multi = await makeSample(root, 'multi');
});

after(async () => {
  await killAll();
  await rm(root, { recursive: true, force: true });
});

async function bitswarmSeed(sample: Sample, peers: string[] = []) {
  const port = await freePort();
  const p = bitswarm([
    'seed',
    sample.torrent,
    '-d',
    sample.dataDir,
    ...onLoopback(port),
    '--json',
    ...peers.flatMap((x) => ['--peer', x]),
  ]);
  await p.waitFor((l) => l.includes('"event":"complete"'), 30_000, 'bitswarm seeder to check its data');
  return Object.assign(p, { port });
}

async function bitswarmDownload(sample: Sample, dir: string, peer: string) {
  const port = await freePort();
  const p = bitswarm(['download', sample.torrent, '-d', dir, ...onLoopback(port), '--peer', peer, '--json']);
  const code = await Promise.race([
    p.exited,
    new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), TIMEOUT_MS).unref()),
  ]);
  if (code === 'timeout') await p.kill('SIGKILL');
  assert.equal(code, 0, `bitswarm download exited ${code}:\n${p.output.slice(-20).join('\n')}`);
  assert.deepEqual(await compareTree(sample, dir), []);
}

for (const kind of ['single', 'multi'] as const) {
  describe(`${kind}-file torrent`, () => {
    test('bitswarm downloads from a libtorrent seeder', { timeout: TIMEOUT_MS }, async (t) => {
      const skip = requireTool('/usr/bin/python3');
      if (skip) return t.skip(skip);
      const sample = samples[kind];
      const seeder = await libtorrent({ torrent: sample.torrent, dir: sample.dataDir });
      try {
        await seeder.waitFor((l) => l.includes('"complete"'), 30_000, 'libtorrent seeder ready');
        await bitswarmDownload(sample, join(root, `bs-from-lt-${kind}`), `127.0.0.1:${seeder.port}`);
      } finally {
        await seeder.kill();
      }
    });

    test('libtorrent downloads from a bitswarm seeder', { timeout: TIMEOUT_MS }, async () => {
      const sample = samples[kind];
      const seeder = await bitswarmSeed(sample);
      const dir = join(root, `lt-from-bs-${kind}`);
      try {
        const leecher = await libtorrent({
          torrent: sample.torrent,
          dir,
          peers: [`127.0.0.1:${seeder.port}`],
          exitWhenDone: true,
        });
        await leecher.waitFor((l) => l.includes('"complete"'), TIMEOUT_MS - 10_000, 'libtorrent to complete');
        await leecher.kill();
        assert.deepEqual(await compareTree(sample, dir), []);
      } finally {
        await seeder.kill();
      }
    });

    test('bitswarm downloads from a Transmission seeder', { timeout: TIMEOUT_MS }, async (t) => {
      const skip = requireTool('/usr/bin/transmission-daemon');
      if (skip) return t.skip(skip);
      const sample = samples[kind];
      const tr = await transmission(join(root, `tr-seed-${kind}`), sample.dataDir);
      try {
        await tr.remote('-a', sample.torrent, '-w', sample.dataDir);
        await tr.remote('-t', 'all', '-v');
        await tr.waitComplete(30_000);
        await bitswarmDownload(sample, join(root, `bs-from-tr-${kind}`), `127.0.0.1:${tr.peerPort}`);
      } finally {
        await tr.stop();
      }
    });

    test('Transmission downloads from a bitswarm seeder', { timeout: TIMEOUT_MS }, async (t) => {
      const skip = requireTool('/usr/bin/transmission-daemon');
      if (skip) return t.skip(skip);
      const sample = samples[kind];
      const dir = join(root, `tr-from-bs-${kind}`);
      const tr = await transmission(join(root, `tr-leech-${kind}`), dir);
      await tr.remote('-a', sample.torrent, '-w', dir);
      // Transmission 3.00 never dials 127.x peers: the bitswarm seeder connects to it.
      const seeder = await bitswarmSeed(sample, [`127.0.0.1:${tr.peerPort}`]);
      try {
        await tr.waitComplete(TIMEOUT_MS - 10_000);
        assert.deepEqual(await compareTree(sample, dir, true), []);
      } finally {
        await tr.stop();
        await seeder.kill();
      }
    });

    test('bitswarm downloads from an aria2 seeder', { timeout: TIMEOUT_MS }, async (t) => {
      const skip = requireTool('/usr/bin/aria2c');
      if (skip) return t.skip(skip);
      const sample = samples[kind];
      const port = await freePort();
      const seeder = aria2({ torrent: sample.torrent, dir: sample.dataDir, port, seed: true });
      try {
        await seeder.waitFor((l) => /SEED|seeding|Download complete/i.test(l), 30_000, 'aria2 seeder ready');
        await bitswarmDownload(sample, join(root, `bs-from-aria2-${kind}`), `127.0.0.1:${port}`);
      } finally {
        await seeder.kill();
      }
    });

    test('aria2 downloads from a bitswarm seeder', { timeout: TIMEOUT_MS }, async (t) => {
      const skip = requireTool('/usr/bin/aria2c');
      if (skip) return t.skip(skip);
      const sample = samples[kind];
      const dir = join(root, `aria2-from-bs-${kind}`);
      const port = await freePort();
      const leecher = aria2({ torrent: sample.torrent, dir, port, seed: false });
      // aria2 has no option to add a peer by hand: the bitswarm seeder dials it.
      await leecher.waitFor((l) => /DL:|CN:/.test(l), 20_000, 'aria2 leecher to start');
      const seeder = await bitswarmSeed(sample, [`127.0.0.1:${port}`]);
      try {
        const code = await leecher.exited;
        assert.equal(code, 0, `aria2 exited ${code}:\n${leecher.output.slice(-20).join('\n')}`);
        assert.deepEqual(await compareTree(sample, dir), []);
      } finally {
        await leecher.kill();
        await seeder.kill();
      }
    });
  });
}
