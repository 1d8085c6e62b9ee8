// Web seeds (BEP 19) against Debian's nginx: `bitswarm download` of a single-file and a multi-file
// torrent (names that need percent-encoding) whose only source is nginx on 127.0.0.1, and one where
// nginx and a bitswarm seeder both give pieces. Byte for byte.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createTorrent } from '../../src/storage/create-torrent.js';
import { bitswarm, freePort, killAll, onLoopback, requireTool } from './clients.js';
import { pseudoRandom } from './fixtures.js';
import { NGINX, type Nginx, startNginx } from './nginx.js';

const TIMEOUT_MS = 120_000;
let root: string;
let nginx: Nginx | undefined;
const FILES = [
  { path: 'album #2/01 intro.bin', bytes: pseudoRandom('n1', 1_500_000) },
  { path: 'album #2/ü & more/02 100%.bin', bytes: pseudoRandom('n2', 2_000_001) },
  { path: 'album #2/empty', bytes: Buffer.alloc(0) },
];
const SINGLE = pseudoRandom('nginx single', 5 * 1024 * 1024 + 99);

const skip = requireTool(NGINX);

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'bitswarm-webseed-nginx-'));
  const www = join(root, 'www');
  for (const f of FILES) {
    await mkdir(dirname(join(www, f.path)), { recursive: true });
    await writeFile(join(www, f.path), f.bytes);
  }
  await writeFile(join(www, 'single.bin'), SINGLE);
  if (!skip) nginx = await startNginx(www, root);
});

after(async () => {
  await nginx?.stop();
  await killAll();
  await rm(root, { recursive: true, force: true });
});

async function torrent(path: string, webSeed: string, name: string): Promise<string> {
  const created = await createTorrent(path, {
    pieceLength: 65536,
    creationDate: null,
    threads: 0,
    webSeeds: [webSeed],
  });
  const file = join(root, `${name}.torrent`);
  await writeFile(file, created.torrent);
  return file;
}

async function download(t: string, dir: string, peers: string[] = []): Promise<string[]> {
  const p = bitswarm([
    'download',
    t,
    '-d',
    dir,
    ...onLoopback(await freePort()),
    '--no-dht',
    '--no-lsd',
    ...peers.flatMap((x) => ['--peer', x]),
    '--json',
  ]);
  const code = await Promise.race([
    p.exited,
    new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), TIMEOUT_MS).unref()),
  ]);
  if (code === 'timeout') await p.kill('SIGKILL');
  assert.equal(code, 0, `bitswarm download exited ${code}:\n${p.output.slice(-20).join('\n')}`);
  return p.output;
}

async function same(dir: string, path: string, bytes: Buffer): Promise<void> {
  const { readFile } = await import('node:fs/promises');
  assert.ok((await readFile(join(dir, path))).equals(bytes), `${path} differs`);
}

describe('web seeds from nginx', { skip }, () => {
  test('single file, nginx the only source', { timeout: TIMEOUT_MS }, async () => {
    const t = await torrent(join(root, 'www', 'single.bin'), `${nginx!.url}/single.bin`, 'single');
    const dir = join(root, 'dl-single');
    await download(t, dir);
    await same(dir, 'single.bin', SINGLE);
  });

  test('multi-file with names to percent-encode, nginx the only source', {
    timeout: TIMEOUT_MS,
  }, async () => {
    const t = await torrent(join(root, 'www', 'album #2'), `${nginx!.url}/`, 'multi');
    const dir = join(root, 'dl-multi');
    await download(t, dir);
    for (const f of FILES) await same(dir, f.path, f.bytes);
  });

  test('nginx and a bitswarm seeder together', { timeout: TIMEOUT_MS }, async () => {
    const t = await torrent(join(root, 'www', 'single.bin'), `${nginx!.url}/single.bin`, 'both');
    const port = await freePort();
    const seed = bitswarm([
      'seed',
      t,
      '-d',
      join(root, 'www'),
      ...onLoopback(port),
      '--no-dht',
      '--no-lsd',
      '--json',
    ]);
    await seed.waitFor((l) => l.includes('"event":"complete"'), 30_000, 'the seeder to check its data');
    const dir = join(root, 'dl-both');
    await download(t, dir, [`127.0.0.1:${port}`]);
    await same(dir, 'single.bin', SINGLE);
    await seed.kill('SIGTERM');
  });
});
