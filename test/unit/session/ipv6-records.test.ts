// Issue 20, fault 5: an IPv6 peer given to `add` (or `download --state`) survives a restart. The
// record keeps it as `[::1]:PORT`, and the restarted manager dials it and downloads from it.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  differences,
  makeTorrent,
  managerWith,
  type SampleTorrent,
  seeder,
  tempDir,
  waitStatus,
} from '../api/helpers.js';

let root: string;
let cleanup: () => Promise<void>;
let sample: SampleTorrent;

before(async () => {
  ({ dir: root, cleanup } = await tempDir('ipv6-records'));
  sample = await makeTorrent(root, 'six', [120_000, 30_000]);
});

after(async () => {
  await cleanup();
});

test('a peer at [::1]:port is saved bracketed and dialled after a restart', { timeout: 30_000 }, async () => {
  const seed = await seeder(sample, { bind: '::1' });
  const state = join(root, 'state');
  const out = join(root, 'out');
  const hex = sample.metainfo.infoHashHex;
  try {
    // Added paused: nothing is downloaded before the restart.
    const first = await managerWith(state, {}, { bind: '::1' });
    try {
      await first.manager.load();
      first.manager.start();
      await first.manager.add({
        metainfo: sample.metainfo,
        dir: out,
        peers: [{ host: '::1', port: seed.port }],
        paused: true,
      });
    } finally {
      await first.stop();
    }
    const record = JSON.parse(await readFile(join(state, 'torrents', `${hex}.json`), 'utf8')) as {
      peers?: string[];
    };
    assert.deepEqual(record.peers, [`[::1]:${seed.port}`]);

    const second = await managerWith(state, {}, { bind: '::1' });
    try {
      await second.manager.load();
      second.manager.start();
      await second.manager.resume(hex);
      await waitStatus(second.manager, hex, 'seeding', 20_000);
      assert.deepEqual(await differences(sample, out), []);
    } finally {
      await second.stop();
    }
  } finally {
    await seed.stop();
  }
});
