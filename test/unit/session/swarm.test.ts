// Whole swarms in one process over real loopback sockets: one seeder and leechers, byte-exact.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parseMetainfo } from '../../../src/protocol/metainfo.js';
import { Session } from '../../../src/session/session.js';
import type { Torrent } from '../../../src/swarm/torrent.js';
import { compareTree, makeSample, type Sample } from '../../interop/fixtures.js';

let root: string;
let sample: Sample;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'bitswarm-swarm-'));
  sample = await makeSample(root, 'multi', 2 * 1024 * 1024);
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

function completed(t: Torrent): Promise<void> {
  if (t.complete) return Promise.resolve();
  return new Promise((resolve) => t.once('torrent:complete', () => resolve()));
}

test('one seeder and four leechers: all complete and trade with each other', {
  timeout: 60_000,
}, async () => {
  const m = parseMetainfo(await readFile(sample.torrent));
  const sessions: Session[] = [];
  try {
    const seed = new Session({ port: 0, bind: '127.0.0.1', hasherThreads: 0 });
    sessions.push(seed);
    await seed.start();
    const seedTorrent = await seed.add(m, { dir: sample.dataDir, torrentOptions: { uploadSlots: 2 } });
    assert.equal(seedTorrent.state, 'seeding');
    const leechers: Session[] = [];
    for (let i = 0; i < 4; i++) {
      const s = new Session({ port: 0, bind: '127.0.0.1', hasherThreads: 0 });
      sessions.push(s);
      leechers.push(s);
      await s.start();
    }
    const torrents: Torrent[] = [];
    for (const [i, s] of leechers.entries()) {
      const peers = [seed, ...leechers.slice(0, i)].map((x) => ({ host: '127.0.0.1', port: x.port }));
      torrents.push(await s.add(m, { dir: join(root, `leech-${i}`), peers }));
    }
    await Promise.all(torrents.map(completed));
    for (let i = 0; i < 4; i++) assert.deepEqual(await compareTree(sample, join(root, `leech-${i}`)), []);
    const traded = torrents.reduce((n, t) => n + t.uploadedBytes, 0);
    assert.ok(seedTorrent.uploadedBytes < 4 * m.totalLength, `seeder uploaded ${seedTorrent.uploadedBytes}`);
    assert.ok(traded > 0, 'leechers uploaded nothing to each other');
    for (const t of torrents) assert.equal(t.state, 'seeding');
  } finally {
    await Promise.all(sessions.map((s) => s.stop()));
  }
});
