// Protocol encryption (MSE/PE) with real clients that require it: libtorrent with its in and out
// policies forced and RC4 only, Transmission with `encryption: 2` (required). bitswarm downloads
// from them and seeds to them, single- and multi-file, byte for byte; a `prefer` download takes
// from a plaintext-only libtorrent, an encryption-only libtorrent and aria2 at once. All on
// 127.0.0.1 with the clients' DHT/LSD/UPnP/NAT-PMP off.
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
  libtorrentWith,
  onLoopback,
  requireTool,
  transmission,
} from './clients.js';
import { compareTree, makeSample, type Sample } from './fixtures.js';

const TIMEOUT_MS = 120_000;
let root: string;
const samples: Record<'single' | 'multi', Sample> = {} as Record<'single' | 'multi', Sample>;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'bitswarm-mse-interop-'));
  samples.single = await makeSample(root, 'single');
  samples.multi = await makeSample(root, 'multi');
});

after(async () => {
  await killAll();
  await rm(root, { recursive: true, force: true });
});

interface PeerEvent {
  event: 'peer';
  peer: string;
  encryption: 'rc4' | 'handshake' | 'none';
}

/** Runs `bitswarm download` to completion; returns its `peer` events (--json). */
async function bitswarmDownload(sample: Sample, dir: string, peers: string[], extra: string[] = []) {
  const port = await freePort();
  const p = bitswarm([
    'download',
    sample.torrent,
    '-d',
    dir,
    ...onLoopback(port),
    ...peers.flatMap((x) => ['--peer', x]),
    '--json',
    ...extra,
  ]);
  const code = await Promise.race([
    p.exited,
    new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), TIMEOUT_MS - 15_000).unref()),
  ]);
  if (code === 'timeout') await p.kill('SIGKILL');
  assert.equal(code, 0, `bitswarm download exited ${code}:\n${p.output.slice(-20).join('\n')}`);
  assert.deepEqual(await compareTree(sample, dir), []);
  return p.output
    .filter((l) => l.startsWith('{') && l.includes('"event":"peer"'))
    .map((l) => JSON.parse(l) as PeerEvent);
}

async function bitswarmSeed(sample: Sample, peers: string[] = [], extra: string[] = []) {
  const port = await freePort();
  const p = bitswarm([
    'seed',
    sample.torrent,
    '-d',
    sample.dataDir,
    ...onLoopback(port),
    '--json',
    ...peers.flatMap((x) => ['--peer', x]),
    ...extra,
  ]);
  await p.waitFor((l) => l.includes('"event":"complete"'), 30_000, 'bitswarm seeder to check its data');
  return Object.assign(p, { port });
}

function ltEncrypted(
  o: { torrent: string; dir: string; peers?: string[]; exitWhenDone?: boolean },
  policy = 'forced',
) {
  return libtorrentWith(o, ['--encryption', policy]);
}

for (const kind of ['single', 'multi'] as const) {
  describe(`${kind}-file torrent, encryption required by the other side`, () => {
    test('bitswarm (prefer) downloads from a libtorrent seeder that forces RC4', {
      timeout: TIMEOUT_MS,
    }, async (t) => {
      const skip = requireTool('/usr/bin/python3');
      if (skip) return t.skip(skip);
      const sample = samples[kind];
      const seeder = await ltEncrypted({ torrent: sample.torrent, dir: sample.dataDir });
      try {
        await seeder.waitFor((l) => l.includes('"complete"'), 30_000, 'libtorrent seeder ready');
        const peers = await bitswarmDownload(sample, join(root, `bs-from-lt-${kind}`), [
          `127.0.0.1:${seeder.port}`,
        ]);
        assert.ok(peers.length > 0 && peers.every((p) => p.encryption === 'rc4'), JSON.stringify(peers));
      } finally {
        await seeder.kill();
      }
    });

    test('a libtorrent leecher that forces RC4 downloads from bitswarm', {
      timeout: TIMEOUT_MS,
    }, async (t) => {
      const skip = requireTool('/usr/bin/python3');
      if (skip) return t.skip(skip);
      const sample = samples[kind];
      const seeder = await bitswarmSeed(sample);
      const dir = join(root, `lt-from-bs-${kind}`);
      try {
        const leecher = await ltEncrypted({
          torrent: sample.torrent,
          dir,
          peers: [`127.0.0.1:${seeder.port}`],
          exitWhenDone: true,
        });
        await leecher.waitFor((l) => l.includes('"complete"'), TIMEOUT_MS - 20_000, 'libtorrent to complete');
        await leecher.kill();
        assert.deepEqual(await compareTree(sample, dir), []);
      } finally {
        await seeder.kill();
      }
    });

    test('bitswarm seeds to libtorrent when both require encryption (bitswarm dials)', {
      timeout: TIMEOUT_MS,
    }, async (t) => {
      const skip = requireTool('/usr/bin/python3');
      if (skip) return t.skip(skip);
      const sample = samples[kind];
      const dir = join(root, `lt-from-bs-require-${kind}`);
      const leecher = await ltEncrypted({ torrent: sample.torrent, dir, exitWhenDone: true });
      const seeder = await bitswarmSeed(sample, [`127.0.0.1:${leecher.port}`], ['--encryption', 'require']);
      try {
        await leecher.waitFor((l) => l.includes('"complete"'), TIMEOUT_MS - 20_000, 'libtorrent to complete');
        assert.deepEqual(await compareTree(sample, dir), []);
      } finally {
        await leecher.kill();
        await seeder.kill();
      }
    });

    test('bitswarm downloads from a Transmission seeder that requires encryption', {
      timeout: TIMEOUT_MS,
    }, async (t) => {
      const skip = requireTool('/usr/bin/transmission-daemon');
      if (skip) return t.skip(skip);
      const sample = samples[kind];
      const tr = await transmissionRequiring(join(root, `tr-seed-${kind}`), sample.dataDir);
      try {
        await tr.remote('-a', sample.torrent, '-w', sample.dataDir);
        await tr.remote('-t', 'all', '-v');
        await tr.waitComplete(30_000);
        const peers = await bitswarmDownload(
          sample,
          join(root, `bs-from-tr-${kind}`),
          [`127.0.0.1:${tr.peerPort}`],
          ['--encryption', 'require'],
        );
        assert.ok(peers.length > 0 && peers.every((p) => p.encryption === 'rc4'), JSON.stringify(peers));
      } finally {
        await tr.stop();
      }
    });

    test('a Transmission leecher that requires encryption downloads from bitswarm', {
      timeout: TIMEOUT_MS,
    }, async (t) => {
      const skip = requireTool('/usr/bin/transmission-daemon');
      if (skip) return t.skip(skip);
      const sample = samples[kind];
      const dir = join(root, `tr-from-bs-${kind}`);
      const tr = await transmissionRequiring(join(root, `tr-leech-${kind}`), dir);
      await tr.remote('-a', sample.torrent, '-w', dir);
      // Transmission 3.00 never dials 127.x peers: the bitswarm seeder connects to it.
      const seeder = await bitswarmSeed(sample, [`127.0.0.1:${tr.peerPort}`]);
      try {
        await tr.waitComplete(TIMEOUT_MS - 20_000);
        assert.deepEqual(await compareTree(sample, dir, true), []);
      } finally {
        await tr.stop();
        await seeder.kill();
      }
    });
  });
}

test('prefer: bitswarm downloads from an aria2 seeder, encrypted', { timeout: TIMEOUT_MS }, async (t) => {
  const skip = requireTool('/usr/bin/aria2c');
  if (skip) return t.skip(skip);
  const sample = samples.single;
  const port = await freePort();
  const seeder = aria2({ torrent: sample.torrent, dir: sample.dataDir, port, seed: true });
  try {
    await seeder.waitFor((l) => /SEED|seeding|Download complete/i.test(l), 30_000, 'aria2 seeder ready');
    const peers = await bitswarmDownload(sample, join(root, 'bs-from-aria2'), [`127.0.0.1:${port}`]);
    // aria2 takes the plaintext stream when offered both: the handshake is still MSE.
    assert.ok(peers.length > 0 && peers.every((p) => p.encryption !== 'none'), JSON.stringify(peers));
  } finally {
    await seeder.kill();
  }
});

test('prefer: one download from a plaintext-only libtorrent, an encryption-only libtorrent and aria2', {
  timeout: TIMEOUT_MS,
}, async (t) => {
  const skip = requireTool('/usr/bin/python3') || requireTool('/usr/bin/aria2c');
  if (skip) return t.skip(skip);
  const sample = samples.multi;
  const plain = await ltEncrypted({ torrent: sample.torrent, dir: sample.dataDir }, 'disabled');
  const forced = await ltEncrypted({ torrent: sample.torrent, dir: sample.dataDir }, 'forced');
  const aria2Port = await freePort();
  const ar = aria2({ torrent: sample.torrent, dir: sample.dataDir, port: aria2Port, seed: true });
  try {
    await plain.waitFor((l) => l.includes('"complete"'), 30_000, 'plaintext libtorrent seeder ready');
    await forced.waitFor((l) => l.includes('"complete"'), 30_000, 'forced libtorrent seeder ready');
    await ar.waitFor((l) => /SEED|seeding|Download complete/i.test(l), 30_000, 'aria2 seeder ready');
    const peers = await bitswarmDownload(
      sample,
      join(root, 'bs-from-three'),
      [
        `127.0.0.1:${plain.port}`,
        `127.0.0.1:${forced.port}`,
        `127.0.0.1:${aria2Port}`,
        // About 3 s at this rate: time for all three to connect before the download is done.
      ],
      ['--download-limit', '1M'],
    );
    const by = (port: number) => peers.find((p) => p.peer === `127.0.0.1:${port}`);
    assert.equal(by(plain.port)?.encryption, 'none', `plaintext libtorrent: ${JSON.stringify(peers)}`);
    assert.equal(by(forced.port)?.encryption, 'rc4', `forced libtorrent: ${JSON.stringify(peers)}`);
    assert.ok(by(aria2Port), `aria2: ${JSON.stringify(peers)}`);
  } finally {
    await Promise.all([plain.kill(), forced.kill(), ar.kill()]);
  }
});

test('require: nothing passes between bitswarm and a plaintext-only libtorrent', {
  timeout: TIMEOUT_MS,
}, async (t) => {
  const skip = requireTool('/usr/bin/python3');
  if (skip) return t.skip(skip);
  const sample = samples.single;
  // bitswarm (require) dials libtorrent (plaintext only), which hangs up on the key; libtorrent is
  // told the seeder's address too and dials it in plaintext, and the seeder hangs up on that.
  const leecher = await libtorrentWith({ torrent: sample.torrent, dir: join(root, 'lt-plain-vs-require') }, [
    '--encryption',
    'disabled',
    '--log-peers',
  ]);
  const seeder = await bitswarmSeed(sample, [`127.0.0.1:${leecher.port}`], ['--encryption', 'require']);
  try {
    await leecher.waitFor((l) => l.includes('"incoming"'), 30_000, 'bitswarm to dial libtorrent');
    let lines = 0;
    await leecher.waitFor((l) => l.includes('"progress"') && ++lines >= 5, 30_000, 'libtorrent progress');
    const last = leecher.output.filter((l) => l.includes('"progress"')).at(-1) ?? '{}';
    const st = JSON.parse(last) as { downloaded: number; peers: number };
    assert.equal(st.downloaded, 0, last);
    assert.equal(st.peers, 0, last);
  } finally {
    await leecher.kill();
    await seeder.kill();
  }
});

/** transmission-daemon with `encryption: 2` (required) in its settings.json. */
function transmissionRequiring(configDir: string, downloadDir: string) {
  return transmission(configDir, downloadDir, { encryption: 2 });
}
