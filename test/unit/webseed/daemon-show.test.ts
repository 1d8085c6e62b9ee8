// The daemon shows each web seed (BEP 19): `bitswarm show` and the API's torrent detail give its URL,
// its state (with the reason of a ban) and the bytes it sent.
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createTorrent } from '../../../src/storage/create-torrent.js';
import { pseudoRandom } from '../../interop/fixtures.js';
import { type JsonChild, runBitswarm } from '../../interop/helpers.js';
import { startDaemonJson, tempDir, waitFor } from '../api/helpers.js';
import { type FileServer, startFileServer } from './server.js';

let root: string;
let cleanup: () => Promise<void>;
let server: FileServer;
let daemon: JsonChild;
let state: string;
const DATA = pseudoRandom('daemon web seed', 1_500_000);

before(async () => {
  ({ dir: root, cleanup } = await tempDir('webseed-daemon'));
  await mkdir(join(root, 'www'), { recursive: true });
  await writeFile(join(root, 'www', 'data.bin'), DATA);
  server = await startFileServer(join(root, 'www'));
  state = join(root, 'state');
  daemon = await startDaemonJson({ state, downloads: join(root, 'downloads') });
});

after(async () => {
  daemon.child.kill('SIGTERM');
  await daemon.exited;
  await server.close();
  await cleanup();
});

test('show: each web seed with its state, reason and bytes', { timeout: 60_000 }, async () => {
  const created = await createTorrent(join(root, 'www', 'data.bin'), {
    pieceLength: 32768,
    creationDate: null,
    threads: 0,
    webSeeds: [`${server.url}/data.bin`, 'file:///etc/passwd'],
  });
  const torrent = join(root, 'data.torrent');
  await writeFile(torrent, created.torrent);
  const cli = (...args: string[]) => runBitswarm([...args, '--state', state], { timeoutMs: 30_000 });
  const added = await cli('add', torrent);
  assert.equal(added.code, 0, added.stderr);
  const ls = JSON.parse((await cli('ls', '--json')).stdout) as { torrents: { infoHash: string }[] };
  const hex = ls.torrents[0]!.infoHash;
  let detail:
    | {
        status: string;
        webSeeds: { url: string; state: string; reason: string | null; downloadedBytes: number }[];
      }
    | undefined;
  await waitFor(
    async () => {
      detail = JSON.parse((await cli('show', hex, '--json')).stdout);
      return detail?.status === 'seeding';
    },
    'the download from the web seed',
    30_000,
  );
  assert.deepEqual(await readFile(join(root, 'downloads', 'data.bin')), DATA);
  const [http, file] = detail!.webSeeds;
  assert.equal(http?.url, `${server.url}/data.bin`);
  assert.equal(http?.state, 'idle');
  assert.equal(http?.downloadedBytes, DATA.length);
  assert.equal(file?.state, 'banned');
  assert.match(file?.reason ?? '', /scheme file: is not supported/);
  const text = await cli('show', hex);
  assert.match(text.stdout, /^web seeds$/m);
  assert.match(
    text.stdout,
    new RegExp(`^ {2}http://127\\.0\\.0\\.1:${server.port}/data\\.bin +idle +1\\.43 MiB`, 'm'),
  );
  assert.match(text.stdout, /^ {2}file:\/\/\/etc\/passwd +banned +0 B .*scheme file: is not supported/m);
});
