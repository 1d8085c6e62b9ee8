// One daemon, many swarms: `bitswarm daemon` downloads 20 torrents at once, each from its own
// swarm (a seeder session per torrent on its own port); all complete byte-exact; pausing one leaves
// the others running; after a restart of the daemon every torrent comes back as it was, with nothing
// downloaded again.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Session } from '../../src/session/session.js';
import {
  daemonApi,
  differences,
  freePort,
  makeTorrent,
  type SampleTorrent,
  seeder,
  startDaemonJson,
  waitFor,
} from '../unit/api/helpers.js';
import { type JsonChild, makeTempDir } from './helpers.js';

const COUNT = 20;

interface View {
  infoHash: string;
  status: string;
  percent: number;
  verifiedBytes: number;
  downloadedBytes: number;
}

interface Daemon extends JsonChild {
  api: <T>(method: string, path: string, body?: unknown, expect?: number) => Promise<T>;
}

async function startDaemon(state: string, port: number, dl: string): Promise<Daemon> {
  const d = await startDaemonJson({
    state,
    port,
    downloads: dl,
    args: ['--max-active-downloads', String(COUNT)],
    timeoutMs: 20_000,
  });
  const call = await daemonApi(state);
  const api = async <T>(method: string, path: string, body?: unknown, expect = 200): Promise<T> => {
    const r = await call(method, path, body);
    assert.equal(r.status, expect, `${method} ${path}: ${r.text}`);
    return r.json as T;
  };
  return { ...d, api };
}

async function stopDaemon(d: Daemon): Promise<number> {
  const t0 = Date.now();
  d.child.kill('SIGTERM');
  const killer = setTimeout(() => d.child.kill('SIGKILL'), 15_000);
  const e = await d.exited;
  clearTimeout(killer);
  assert.equal(e.code, 143, d.stderr()); // SIGTERM's exit code, after a clean stop
  return Date.now() - t0;
}

test('one daemon, 20 swarms: all complete, pause is per torrent, a restart resumes all', {
  timeout: 240_000,
}, async () => {
  const { dir: root, cleanup } = await makeTempDir('many-swarms');
  const seeders: Session[] = [];
  const daemons: Daemon[] = [];
  try {
    const samples: SampleTorrent[] = [];
    for (let i = 0; i < COUNT; i++) {
      const size = 1024 * 1024 + Math.floor((i * 2 * 1024 * 1024) / (COUNT - 1));
      samples.push(
        await makeTorrent(root, `t${String(i).padStart(2, '0')}`, [size - 1000, 1000], {
          pieceLength: 32 * 1024,
        }),
      );
    }
    // Each torrent's swarm: one seeder on its own port, paced so the downloads overlap in time.
    for (const s of samples) seeders.push(await seeder(s, { uploadLimitBytesPerSec: 512 * 1024 }));
    const uploadedBySeeders = (): number =>
      seeders.reduce((n, s, i) => n + (s.get(samples[i]!.metainfo.infoHashHex)?.uploadedBytes ?? 0), 0);

    const state = join(root, 'state');
    const dl = join(root, 'dl');
    const port = await freePort();
    let d = await startDaemon(state, port, dl);
    daemons.push(d);
    const hexes: string[] = [];
    for (const [i, s] of samples.entries()) {
      const r = await d.api<{ infoHash: string }>(
        'POST',
        '/torrents',
        { path: s.torrentPath, peers: [`127.0.0.1:${seeders[i]!.port}`] },
        201,
      );
      hexes.push(r.infoHash);
    }
    const list = async (): Promise<Map<string, View>> =>
      new Map((await d.api<{ torrents: View[] }>('GET', '/torrents')).torrents.map((t) => [t.infoHash, t]));

    // Pause the largest one once it has begun; the others keep going.
    const pausedHex = hexes[COUNT - 1]!;
    await waitFor(async () => ((await list()).get(pausedHex)?.verifiedBytes ?? 0) > 0, 'progress', 30_000);
    await d.api('POST', `/torrents/${pausedHex}/pause`);
    const pausedAt = (await list()).get(pausedHex)!;
    assert.equal(pausedAt.status, 'paused');
    assert.ok(pausedAt.percent < 100, 'paused before it completed');
    const t0 = Date.now();
    await waitFor(
      async () => [...(await list()).values()].filter((t) => t.status === 'seeding').length === COUNT - 1,
      'the 19 others to complete',
      120_000,
    );
    console.log(`# 19 torrents complete in ${((Date.now() - t0) / 1000).toFixed(1)} s while one was paused`);
    const stillPaused = (await list()).get(pausedHex)!;
    assert.equal(stillPaused.status, 'paused');
    assert.equal(stillPaused.verifiedBytes, pausedAt.verifiedBytes, 'a paused torrent makes no progress');
    await d.api('POST', `/torrents/${pausedHex}/resume`);
    await waitFor(async () => (await list()).get(pausedHex)?.status === 'seeding', 'the resumed one', 60_000);
    for (const s of samples) assert.deepEqual(await differences(s, dl), [], s.name);

    // Pause one seeding torrent, then restart the daemon: every torrent comes back as it was.
    const pausedSeed = hexes[3]!;
    await d.api('POST', `/torrents/${pausedSeed}/pause`);
    const before = await list();
    const uploadedBefore = uploadedBySeeders();
    const stopMs = await stopDaemon(d);
    d = await startDaemon(state, port, dl);
    daemons.push(d);
    const listening = d.lines.find((l) => l.event === 'listening')!;
    assert.equal(listening.torrents, COUNT);
    await waitFor(
      async () => [...(await list()).values()].filter((t) => t.status === 'seeding').length === COUNT - 1,
      'all to resume seeding',
      30_000,
    );
    console.log(`# restart: stop ${stopMs} ms, ${COUNT} torrents loaded in ${String(listening.loadMs)} ms`);
    await new Promise((r) => setTimeout(r, 2000));
    const afterRestart = await list();
    for (const h of hexes) {
      const was = before.get(h)!;
      const now = afterRestart.get(h)!;
      assert.equal(now.status, h === pausedSeed ? 'paused' : 'seeding', h);
      assert.equal(now.percent, 100, h);
      assert.equal(now.downloadedBytes, was.downloadedBytes, `${h}: nothing downloaded again`);
    }
    assert.equal(uploadedBySeeders(), uploadedBefore, 'the seeders sent nothing after the restart');
    for (const s of samples) assert.deepEqual(await differences(s, dl), [], s.name);
    await stopDaemon(d);
  } finally {
    for (const d of daemons)
      if (d.child.exitCode === null && d.child.signalCode === null) d.child.kill('SIGKILL');
    await Promise.all(daemons.map((d) => d.exited));
    await Promise.all(seeders.map((s) => s.stop()));
    await cleanup();
  }
});
