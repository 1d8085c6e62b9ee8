// BEP 52 over the wire with libtorrent 2.0.8 (python3-libtorrent), byte for byte: bitswarm downloads
// libtorrent-made v2-only and hybrid torrents (single file; a folder with odd sizes, an empty file
// and pad files) from a libtorrent seeder, and libtorrent downloads v2-only and hybrid torrents that
// bitswarm created from a bitswarm seeder. All on 127.0.0.1, DHT/LSD/UPnP/NAT-PMP off.

import assert from 'node:assert/strict';
import { access, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { bitswarm, freePort, killAll, libtorrent, onLoopback, requireTool } from './clients.js';
import { compareTree, pseudoRandom, type Sample } from './fixtures.js';
import { runBitswarm, runPython } from './helpers.js';

const TIMEOUT_MS = 90_000;
const PL = 32 * 1024;

const LT_CREATE = `
import libtorrent as lt, os, sys
path, mode, pl, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
fs = lt.file_storage()
lt.add_files(fs, path)
ct = lt.create_torrent(fs, pl, flags=lt.create_torrent.v2_only if mode == 'v2' else 0)
lt.set_piece_hashes(ct, os.path.dirname(os.path.abspath(path)))
open(out, 'wb').write(lt.bencode(ct.generate()))
`;

const FILES: Record<'single' | 'multi', { path: string; length: number }[]> = {
  single: [{ path: 'single.bin', length: 1_000_003 }],
  multi: [
    { path: 'multi/a.bin', length: 700_001 },
    { path: 'multi/docs/empty.txt', length: 0 },
    { path: 'multi/docs/readme.txt', length: 20 },
    { path: 'multi/z/c.bin', length: 333_333 },
  ],
};

let root: string;
const skip = requireTool('/usr/bin/python3');

async function sample(
  kind: 'single' | 'multi',
  maker: 'lt' | 'bitswarm',
  mode: 'v2' | 'hybrid',
): Promise<Sample> {
  const dataDir = join(root, `data-${kind}`);
  const files = FILES[kind].map((f) => ({ path: f.path, bytes: pseudoRandom(f.path, f.length) }));
  for (const f of files) {
    await mkdir(dirname(join(dataDir, f.path)), { recursive: true });
    await writeFile(join(dataDir, f.path), f.bytes);
  }
  const torrent = join(root, `${kind}-${maker}-${mode}.torrent`);
  if (maker === 'lt')
    await runPython(LT_CREATE, [
      join(dataDir, kind === 'single' ? 'single.bin' : 'multi'),
      mode,
      String(PL),
      torrent,
    ]);
  else {
    const r = await runBitswarm([
      'create',
      join(dataDir, kind === 'single' ? 'single.bin' : 'multi'),
      `--${mode}`,
      '--piece-length',
      String(PL),
      '-q',
      '--force',
      '-o',
      torrent,
    ]);
    assert.equal(r.code, 0, r.stderr);
  }
  return { name: kind, torrent, dataDir, files };
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'bitswarm-v2-'));
});
after(async () => {
  await killAll();
  await rm(root, { recursive: true, force: true });
});

describe('BEP 52 transfers with libtorrent', { skip }, () => {
  for (const [kind, mode] of [
    ['multi', 'v2'],
    ['multi', 'hybrid'],
    ['single', 'v2'],
  ] as const) {
    test(`bitswarm downloads a libtorrent-made ${mode} ${kind}-file torrent from libtorrent`, {
      timeout: TIMEOUT_MS,
    }, async () => {
      const s = await sample(kind, 'lt', mode);
      const seeder = await libtorrent({ torrent: s.torrent, dir: s.dataDir });
      try {
        await seeder.waitFor((l) => l.includes('"complete"'), 30_000, 'libtorrent seeder ready');
        const dir = join(root, `bs-from-lt-${kind}-${mode}`);
        const port = await freePort();
        const p = bitswarm([
          'download',
          s.torrent,
          '-d',
          dir,
          ...onLoopback(port),
          '--peer',
          `127.0.0.1:${seeder.port}`,
          '--no-dht',
          '--no-lsd',
          '--json',
        ]);
        const code = await p.exited;
        assert.equal(code, 0, p.output.slice(-10).join('\n'));
        assert.deepEqual(await compareTree(s, dir), []);
        // pad files are never written
        await assert.rejects(access(join(dir, kind, '.pad')), { code: 'ENOENT' });
      } finally {
        await seeder.kill();
      }
    });
  }

  test('bitswarm fetches a btmh-only magnet from libtorrent: metadata, then the piece layers by hash requests', {
    timeout: TIMEOUT_MS,
  }, async () => {
    const s = await sample('multi', 'lt', 'v2');
    const info = await runBitswarm(['info', s.torrent, '--json']);
    const magnet = (JSON.parse(info.stdout) as { magnet: string }).magnet;
    assert.match(magnet, /^magnet:\?xt=urn:btmh:1220[0-9a-f]{64}&/);
    const seeder = await libtorrent({ torrent: s.torrent, dir: s.dataDir });
    try {
      await seeder.waitFor((l) => l.includes('"complete"'), 30_000, 'libtorrent seeder ready');
      const dir = join(root, 'bs-magnet-from-lt');
      const port = await freePort();
      const p = bitswarm([
        'download',
        magnet,
        '-d',
        dir,
        ...onLoopback(port),
        '--peer',
        `127.0.0.1:${seeder.port}`,
        '--no-dht',
        '--no-lsd',
        '--json',
      ]);
      const code = await p.exited;
      assert.equal(code, 0, p.output.slice(-10).join('\n'));
      assert.deepEqual(await compareTree(s, dir), []);
    } finally {
      await seeder.kill();
    }
  });

  test('libtorrent fetches a btmh-only magnet from bitswarm: metadata, then the piece layers by hash requests', {
    timeout: TIMEOUT_MS,
  }, async () => {
    const s = await sample('multi', 'bitswarm', 'v2');
    const info = await runBitswarm(['info', s.torrent, '--json']);
    const magnet = (JSON.parse(info.stdout) as { magnet: string }).magnet;
    assert.match(magnet, /^magnet:\?xt=urn:btmh:1220[0-9a-f]{64}&/);
    assert.doesNotMatch(magnet, /btih/);
    const port = await freePort();
    const seeder = bitswarm([
      'seed',
      s.torrent,
      '-d',
      s.dataDir,
      ...onLoopback(port),
      '--no-dht',
      '--no-lsd',
      '--json',
    ]);
    try {
      await seeder.waitFor(
        (l) => l.includes('"event":"complete"'),
        30_000,
        'bitswarm seeder to check its data',
      );
      const dir = join(root, 'lt-magnet-from-bs');
      const leecher = await libtorrent({ magnet, dir, peers: [`127.0.0.1:${port}`], exitWhenDone: true });
      await leecher.waitFor((l) => l.includes('"complete"'), TIMEOUT_MS - 20_000, 'libtorrent to complete');
      await leecher.kill();
      assert.deepEqual(await compareTree(s, dir), []);
    } finally {
      await seeder.kill();
    }
  });

  test("a hybrid's v2 swarm is its v1 swarm: libtorrent with only the btmh reaches a bitswarm seeder", {
    timeout: TIMEOUT_MS,
  }, async () => {
    const s = await sample('multi', 'bitswarm', 'hybrid');
    const info = await runBitswarm(['info', s.torrent, '--json']);
    const both = (JSON.parse(info.stdout) as { magnet: string }).magnet;
    const magnet = both.replace(/xt=urn:btih:[0-9a-f]{40}&/, '');
    assert.match(magnet, /^magnet:\?xt=urn:btmh:1220[0-9a-f]{64}&/);
    const port = await freePort();
    const seeder = bitswarm([
      'seed',
      s.torrent,
      '-d',
      s.dataDir,
      ...onLoopback(port),
      '--no-dht',
      '--no-lsd',
      '--json',
    ]);
    try {
      await seeder.waitFor(
        (l) => l.includes('"event":"complete"'),
        30_000,
        'bitswarm seeder to check its data',
      );
      const dir = join(root, 'lt-hybrid-btmh-from-bs');
      const leecher = await libtorrent({ magnet, dir, peers: [`127.0.0.1:${port}`], exitWhenDone: true });
      await leecher.waitFor((l) => l.includes('"complete"'), TIMEOUT_MS - 20_000, 'libtorrent to complete');
      await leecher.kill();
      assert.deepEqual(await compareTree(s, dir), []);
    } finally {
      await seeder.kill();
    }
  });

  for (const mode of ['v2', 'hybrid'] as const) {
    test(`libtorrent downloads a bitswarm-made ${mode} torrent from bitswarm`, {
      timeout: TIMEOUT_MS,
    }, async () => {
      const s = await sample('multi', 'bitswarm', mode);
      const port = await freePort();
      const seeder = bitswarm([
        'seed',
        s.torrent,
        '-d',
        s.dataDir,
        ...onLoopback(port),
        '--no-dht',
        '--no-lsd',
        '--json',
      ]);
      try {
        await seeder.waitFor(
          (l) => l.includes('"event":"complete"'),
          30_000,
          'bitswarm seeder to check its data',
        );
        const dir = join(root, `lt-from-bs-${mode}`);
        const leecher = await libtorrent({
          torrent: s.torrent,
          dir,
          peers: [`127.0.0.1:${port}`],
          exitWhenDone: true,
        });
        await leecher.waitFor((l) => l.includes('"complete"'), TIMEOUT_MS - 20_000, 'libtorrent to complete');
        await leecher.kill();
        assert.deepEqual(await compareTree(s, dir), []);
      } finally {
        await seeder.kill();
      }
    });
  }
});
