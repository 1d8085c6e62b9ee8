// The manager's lifecycle (one discriminated union per torrent, the running torrent the session's):
// a magnet paused while its metadata is fetched rests paused and never shows an error; a torrent
// whose storage fails shows the error, and resume starts it again from the queue once the cause is
// gone; the session keeps one entry per running torrent, none once it stops.
import assert from 'node:assert/strict';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseMagnet } from '../../../src/protocol/magnet.js';
import { differences, managerWith, seededSample, waitFor, waitStatus } from '../api/helpers.js';

const fx = seededSample('manager-lifecycle', 'life', [120_000, 40_000]);

test('a magnet paused while its metadata is fetched rests paused, and resumes fetching', async () => {
  const { manager, session, stop } = await managerWith(undefined);
  try {
    const told: string[] = [];
    manager.on('torrent:status', (_h, s) => told.push(s));
    // A link nobody serves: it stays in the fetch.
    const magnet = parseMagnet(`magnet:?xt=urn:btih:${'ab'.repeat(20)}&dn=nobody`);
    const hex = await manager.add({ magnet, dir: join(fx.root, 'nobody') });
    await waitFor(() => session.fetching().length === 1, 'the fetch in the session', 5000);
    assert.equal(manager.view(hex).status, 'fetching-metadata');
    await manager.pause(hex);
    assert.equal(manager.view(hex).status, 'paused');
    assert.equal(manager.view(hex).error, null);
    assert.equal(session.fetching().length, 0, 'the fetch ended');
    await manager.resume(hex);
    await waitFor(() => manager.view(hex).status === 'fetching-metadata', 'the fetch again', 5000);
    assert.ok(!told.includes('error'), `statuses told: ${told}`);
    assert.deepEqual(told.slice(0, 2), ['fetching-metadata', 'paused']);
  } finally {
    await stop();
  }
});

test('a storage failure shows as an error; resume starts it again once the cause is gone', {
  timeout: 30_000,
}, async () => {
  const { manager, session, stop } = await managerWith(undefined);
  try {
    // The download folder's parent is a file: nothing can be written.
    const blocker = join(fx.root, 'blocker');
    await writeFile(blocker, 'not a folder');
    const dir = join(blocker, 'dl');
    const hex = await manager.add({
      metainfo: fx.sample.metainfo,
      dir,
      peers: [{ host: '127.0.0.1', port: fx.seed.port }],
    });
    await waitStatus(manager, hex, 'error', 15_000);
    assert.ok(manager.view(hex).error, 'the error is shown');
    await rm(blocker);
    await mkdir(blocker);
    await manager.resume(hex);
    await waitStatus(manager, hex, 'seeding', 20_000);
    assert.equal(manager.view(hex).error, null);
    assert.deepEqual(await differences(fx.sample, dir), []);
    assert.equal(session.torrents.length, 1, 'one running torrent in the session');
    await manager.pause(hex);
    assert.equal(session.torrents.length, 0);
    assert.equal(manager.torrentOf(hex), undefined);
  } finally {
    await stop();
  }
});
