// Issue 20, fault 4: what a user sets survives a daemon restart — session limits set through the API
// (`bitswarm limits`, `bitswarm set`) and the daemon's `-d` — and adding a torrent that is already
// there is refused (409, one line; `bitswarm add` exits 1) instead of silently ignoring the new folder.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type JsonChild, runBitswarm } from '../../interop/helpers.js';
import { daemonApi, makeTorrent, type SampleTorrent, startDaemonJson, tempDir } from '../api/helpers.js';

let root: string;
let cleanup: () => Promise<void>;
let sample: SampleTorrent;

before(async () => {
  ({ dir: root, cleanup } = await tempDir('daemon-settings'));
  sample = await makeTorrent(root, 'kept', [30_000], { single: true });
});

after(async () => {
  await cleanup();
});

/** The daemon on `state`; `-d` only when given (a restart keeps the saved folder). */
function startDaemon(state: string, downloads?: string): Promise<JsonChild> {
  return startDaemonJson({ state, ...(downloads !== undefined ? { downloads } : {}) });
}

async function stopDaemon(d: JsonChild): Promise<void> {
  d.child.kill('SIGTERM');
  await d.exited;
}

test('limits set through the API and -d outlive a restart; a second add of a torrent is a 409', {
  timeout: 60_000,
}, async () => {
  const state = join(root, 'state');
  const downloads = join(root, 'downloads');
  const limits = {
    uploadLimitBytesPerSec: 100_000,
    downloadLimitBytesPerSec: 200_000,
    maxActiveDownloads: 3,
    maxActiveSeeds: 4,
    maxConnections: 77,
  };
  const first = await startDaemon(state, downloads);
  try {
    const api = await daemonApi(state);
    const put = await api('PUT', '/session/limits', limits);
    assert.equal(put.status, 200, put.text);
  } finally {
    await stopDaemon(first);
  }

  // Restarted without -d and without limits: both come back from the state directory.
  const second = await startDaemon(state);
  try {
    const api = await daemonApi(state);
    const session = (await api('GET', '/session')).json as { limits: typeof limits };
    assert.deepEqual(session.limits, limits);
    const torrent = sample.torrentBytes.toString('base64');
    const added = await api('POST', '/torrents', { torrent, paused: true });
    assert.equal(added.status, 201, added.text);
    const view = (added.json as { torrent: { dir: string } }).torrent;
    assert.equal(view.dir, downloads);

    // The same torrent again, into another folder: refused, and the first stays where it was.
    const hex = sample.metainfo.infoHashHex;
    const line = `torrent ${hex} already exists: ${sample.name}, in ${downloads}`;
    const again = await api('POST', '/torrents', { torrent, dir: join(downloads, 'other') });
    assert.equal(again.status, 409, again.text);
    assert.equal((again.json as { error: { message: string } }).error.message, line);
    const cli = await runBitswarm([
      'add',
      sample.torrentPath,
      '--state',
      state,
      '-d',
      join(downloads, 'other'),
    ]);
    assert.equal(cli.code, 1, cli.stderr);
    assert.equal(cli.stderr, `bitswarm: ${line}\n`);
    const shown = (await api('GET', `/torrents/${hex}`)).json as { dir: string };
    assert.equal(shown.dir, downloads);
  } finally {
    await stopDaemon(second);
  }
});
