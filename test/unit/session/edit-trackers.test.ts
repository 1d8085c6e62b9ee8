// Issue 13: a torrent's trackers are the user's to edit (add, change, remove). The new tiers take
// effect at once on a running torrent (the old trackers are told `stopped`, the new ones `started`),
// are kept in its record, and replace the metainfo's after a restart. A URL that is not http, https
// or udp is refused and changes nothing.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { makeTorrent, managerWith, type SampleTorrent, tempDir, waitFor } from '../api/helpers.js';

let root: string;
let cleanup: () => Promise<void>;
const trackers: { server: Server; url: string; events: string[] }[] = [];
let sample: SampleTorrent;

async function tracker(): Promise<{ server: Server; url: string; events: string[] }> {
  const events: string[] = [];
  const server = createServer((req, res) => {
    events.push(/[?&]event=(\w+)/.exec(req.url ?? '')?.[1] ?? 'interval');
    res.end('d8:intervali1800e5:peers0:e');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}/announce`, events };
}

before(async () => {
  ({ dir: root, cleanup } = await tempDir('edit-trackers'));
  trackers.push(await tracker(), await tracker());
  sample = await makeTorrent(root, 'tr', [30_000], { single: true, announce: [[trackers[0]!.url]] });
});

after(async () => {
  for (const t of trackers) {
    t.server.closeAllConnections();
    await new Promise<void>((r) => t.server.close(() => r()));
  }
  await cleanup();
});

test('edited trackers: in effect at once (old told stopped, new started), kept in the record, used after a restart', {
  timeout: 30_000,
}, async () => {
  const [t1, t2] = trackers as [(typeof trackers)[0], (typeof trackers)[0]];
  const state = join(root, 'state');
  let { manager, session, stop } = await managerWith(state, {}, { trackerClient: true });
  try {
    manager.start();
    const hex = await manager.add({ metainfo: sample.metainfo, dir: join(root, 'dl') });
    await waitFor(() => t1.events.includes('started'), 'the first tracker told started', 10_000);
    await assert.rejects(manager.setTrackers(hex, [['ftp://127.0.0.1/x']]), {
      code: 'ERR_BAD_REQUEST',
      message: 'trackers: "ftp://127.0.0.1/x" is not an http, https or udp URL',
    });
    assert.deepEqual(session.get(hex)?.metainfo.announceList, [[t1.url]], 'a refused edit changes nothing');
    // Edited: a new first tier, an empty one and a repeat dropped.
    await manager.setTrackers(hex, [[t2.url, t2.url], []]);
    await waitFor(() => t1.events.includes('stopped'), 'the removed tracker told stopped', 10_000);
    await waitFor(() => t2.events.includes('started'), 'the new tracker told started', 10_000);
    assert.deepEqual(manager.recordOf(hex)?.trackers, [[t2.url]]);
    assert.deepEqual(
      session
        .diagnosticsOf(hex)
        ?.trackers()
        .map((t) => [t.url, t.tier]),
      [[t2.url, 0]],
    );
    await stop();
    t2.events.length = 0;
    ({ manager, session, stop } = await managerWith(state, {}, { trackerClient: true }));
    await manager.load();
    manager.start();
    await waitFor(() => t2.events.includes('started'), 'the edited tracker after a restart', 10_000);
    assert.deepEqual(manager.metainfoOf(hex)?.announceList, [[t2.url]]);
  } finally {
    await stop();
  }
});
