// `bitswarm daemon` as a child process: SIGTERM and SIGINT save the resume data, tell the tracker
// `stopped`, and the process exits within a few seconds; a restart brings the torrent back as it was.
import assert from 'node:assert/strict';
import { access, readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { JsonChild } from '../../interop/helpers.js';
import { daemonApi, makeTorrent, type SampleTorrent, startDaemonJson, tempDir, waitFor } from './helpers.js';

let root: string;
let cleanup: () => Promise<void>;
let tracker: Server;
let trackerPort: number;
/** Announces seen by the tracker: the info hash (hex) and the event. */
const announces: { infoHash: string; event: string; at: number }[] = [];
let sample: SampleTorrent;

/** Percent-decoding to bytes (URLSearchParams would decode the binary info hash as UTF-8). */
function queryBytes(query: string, key: string): Buffer | undefined {
  for (const part of query.split('&')) {
    const [k, v] = part.split('=');
    if (k !== key || v === undefined) continue;
    const out: number[] = [];
    for (let i = 0; i < v.length; i++) {
      if (v[i] === '%') {
        out.push(Number.parseInt(v.slice(i + 1, i + 3), 16));
        i += 2;
      } else out.push(v.charCodeAt(i));
    }
    return Buffer.from(out);
  }
  return undefined;
}

before(async () => {
  ({ dir: root, cleanup } = await tempDir('daemon-signal'));
  tracker = createServer((req, res) => {
    const query = (req.url ?? '').split('?')[1] ?? '';
    announces.push({
      infoHash: queryBytes(query, 'info_hash')?.toString('hex') ?? '',
      event: queryBytes(query, 'event')?.toString() ?? '',
      at: Date.now(),
    });
    res.end('d8:intervali60e5:peers0:e');
  });
  await new Promise<void>((r) => tracker.listen(0, '127.0.0.1', () => r()));
  const a = tracker.address();
  trackerPort = typeof a === 'object' && a ? a.port : 0;
  sample = await makeTorrent(root, 'tracked', [300_000, 40_000], {
    announce: [[`http://127.0.0.1:${trackerPort}/announce`]],
  });
});

after(async () => {
  tracker.closeAllConnections();
  await new Promise<void>((r) => tracker.close(() => r()));
  await cleanup();
});

type Daemon = JsonChild;

function startDaemon(state: string): Promise<Daemon> {
  // The samples' data folders are under root: the API may add into them.
  return startDaemonJson({ state, downloads: join(root, 'downloads'), args: ['--allow-dir', root] });
}

/** Sends `signal`, returns how long the daemon took to exit, and its exit. */
async function stopDaemon(d: Daemon, signal: NodeJS.Signals) {
  const t0 = Date.now();
  d.child.kill(signal);
  const killer = setTimeout(() => d.child.kill('SIGKILL'), 15_000);
  const e = await d.exited;
  clearTimeout(killer);
  return { ms: Date.now() - t0, ...e };
}

test('SIGTERM then SIGINT: resume data flushed, tracker told stopped, exit within seconds', {
  timeout: 60_000,
}, async () => {
  const state = join(root, 'state');
  const hex = sample.metainfo.infoHashHex;
  const d1 = await startDaemon(state);
  try {
    const api = await daemonApi(state);
    const added = await api('POST', '/torrents', { path: sample.torrentPath, dir: sample.dataDir });
    assert.equal(added.status, 201, added.text);
    await waitFor(async () => {
      const v = (await api('GET', `/torrents/${hex}`)).json as { status: string };
      return v.status === 'seeding';
    }, 'seeding');
    await waitFor(
      () => announces.some((x) => x.infoHash === hex && x.event === 'started'),
      'a started announce',
    );
  } catch (err) {
    d1.child.kill('SIGKILL');
    throw err;
  }
  const stop1 = await stopDaemon(d1, 'SIGTERM');
  console.log(`# SIGTERM: daemon exited in ${stop1.ms} ms`);
  assert.equal(stop1.code, 143, d1.stderr());
  assert.ok(stop1.ms < 5000, `exit took ${stop1.ms} ms`);
  const stopped1 = announces.filter((x) => x.infoHash === hex && x.event === 'stopped');
  assert.equal(stopped1.length, 1, 'the tracker was told stopped once');
  await assert.rejects(access(join(state, 'api.json')), 'api.json removed at exit');
  const rec = JSON.parse(await readFile(join(state, 'torrents', `${hex}.json`), 'utf8'));
  assert.ok(rec.resume, 'resume data saved');
  const bits = Buffer.from(rec.resume.pieces, 'base64');
  const count = [...bits].reduce((n, x) => n + x.toString(2).replaceAll('0', '').length, 0);
  assert.equal(count, sample.metainfo.pieceCount, 'every piece in the resume data');
  assert.equal(rec.paused, false);

  // Restart: the torrent is back as it was, announces again; SIGINT stops it the same way.
  const startedBefore = announces.filter((x) => x.infoHash === hex && x.event === 'started').length;
  const d2 = await startDaemon(state);
  try {
    const listening = d2.lines.find((l) => l.event === 'listening')!;
    assert.equal(listening.torrents, 1);
    const api = await daemonApi(state);
    await waitFor(async () => {
      const v = (await api('GET', `/torrents/${hex}`)).json as { status: string; percent: number };
      return v.status === 'seeding' && v.percent === 100;
    }, 'seeding after restart');
    await waitFor(
      () => announces.filter((x) => x.infoHash === hex && x.event === 'started').length > startedBefore,
      'a new started announce',
    );
  } catch (err) {
    d2.child.kill('SIGKILL');
    throw err;
  }
  const stop2 = await stopDaemon(d2, 'SIGINT');
  console.log(`# SIGINT: daemon exited in ${stop2.ms} ms`);
  assert.equal(stop2.code, 130, d2.stderr());
  assert.ok(stop2.ms < 5000, `exit took ${stop2.ms} ms`);
  assert.equal(announces.filter((x) => x.infoHash === hex && x.event === 'stopped').length, 2);
});

test('a daemon whose tracker does not answer still exits within a few seconds', {
  timeout: 60_000,
}, async () => {
  // A tracker that accepts the connection and never replies.
  const silent = createServer(() => undefined);
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
  const a = silent.address();
  const silentPort = typeof a === 'object' && a ? a.port : 0;
  let hits = 0;
  silent.on('request', () => hits++);
  try {
    const mute = await makeTorrent(root, 'mute', [50_000], {
      announce: [[`http://127.0.0.1:${silentPort}/announce`]],
    });
    const state = join(root, 'state-mute');
    const d = await startDaemon(state);
    try {
      const api = await daemonApi(state);
      assert.equal(
        (await api('POST', '/torrents', { path: mute.torrentPath, dir: mute.dataDir })).status,
        201,
      );
      await waitFor(() => hits > 0, 'an announce to the silent tracker');
    } catch (err) {
      d.child.kill('SIGKILL');
      throw err;
    }
    const stop = await stopDaemon(d, 'SIGTERM');
    console.log(`# SIGTERM with a silent tracker: exited in ${stop.ms} ms (code ${stop.code})`);
    assert.ok(stop.ms < 9000, `exit took ${stop.ms} ms`);
    const rec = JSON.parse(
      await readFile(join(state, 'torrents', `${mute.metainfo.infoHashHex}.json`), 'utf8'),
    );
    assert.ok(rec.resume, 'resume data saved before the trackers were told');
  } finally {
    silent.closeAllConnections();
    await new Promise<void>((r) => silent.close(() => r()));
  }
});
