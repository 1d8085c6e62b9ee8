// `bitswarm download` stopped with Ctrl-C half way: the files on disk are `<name>.part` (a listing
// shows them as incomplete), not the final names at full size; `--no-part-suffix` writes the final
// names. A seeder in this process sends slowly, so the download can be caught half way.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Session } from '../../../src/session/session.js';
import { bitswarmNodeArgs, spawnJson } from '../../interop/helpers.js';
import {
  listing,
  makeTorrent,
  peerOf,
  type SampleTorrent,
  seeder,
  tempDir,
  waitFor,
} from '../api/helpers.js';

let root: string;
let cleanup: () => Promise<void>;
let sample: SampleTorrent;
let slow: Session;

before(async () => {
  ({ dir: root, cleanup } = await tempDir('part-cli'));
  sample = await makeTorrent(root, 'movie', [1_000_000, 200_000]);
  slow = await seeder(sample, { uploadLimitBytesPerSec: 300_000 });
});
after(async () => {
  await slow.stop();
  await cleanup();
});

/** Runs `bitswarm download` until a quarter is verified, then sends SIGINT; returns the listing. */
async function interruptedDownload(dir: string, extra: string[]): Promise<string[]> {
  const { port } = peerOf(slow);
  const args = [
    'download',
    sample.torrentPath,
    '-d',
    dir,
    '--peer',
    `127.0.0.1:${port}`,
    '--port',
    '0',
    '--bind',
    '127.0.0.1',
    '--no-dht',
    '--no-lsd',
    '--json',
    ...extra,
  ];
  const dl = spawnJson(bitswarmNodeArgs(args));
  try {
    const total = sample.metainfo.totalLength;
    const progress = (): number =>
      Math.max(0, ...dl.lines.map((l) => (l.event === 'progress' ? Number(l.verifiedBytes) : 0)));
    await waitFor(() => progress() >= total / 4 || dl.child.exitCode !== null, 'a quarter', 15_000);
    assert.ok(progress() < total, `caught half way (${progress()} of ${total})`);
    dl.child.kill('SIGINT');
    const exit = await dl.exited;
    assert.notEqual(exit.code, 0, 'an interrupted download does not exit 0');
  } finally {
    if (dl.child.exitCode === null && dl.child.signalCode === null) dl.child.kill('SIGKILL');
    await dl.exited;
  }
  return listing(dir);
}

test('Ctrl-C half way leaves movie/f0.bin.part, not movie/f0.bin', { timeout: 30_000 }, async () => {
  const names = await interruptedDownload(join(root, 'dl'), []);
  assert.ok(names.includes('movie/f0.bin.part'), names.join(', '));
  for (const n of names) assert.match(n, /\.part$/);
});

test('--no-part-suffix: Ctrl-C half way leaves the final name', { timeout: 30_000 }, async () => {
  const names = await interruptedDownload(join(root, 'dl-plain'), ['--no-part-suffix']);
  assert.ok(names.includes('movie/f0.bin'), names.join(', '));
  for (const n of names) assert.doesNotMatch(n, /\.part$/);
});
