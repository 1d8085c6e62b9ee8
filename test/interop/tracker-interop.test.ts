// "Every peer is a tracker", against the real clients: aria2 and Transmission find a libtorrent
// seeder through a bitswarm peer's embedded tracker, over HTTP and over UDP, when it is the torrent's
// only tracker; and bitswarm finds a libtorrent seeder through Debian's opentracker, over HTTP and
// over UDP. Nobody is told a peer's address by hand: every torrent is made with `bitswarm create -a
// URL`, and every download is checked byte for byte. All on 127.0.0.1, DHT/LSD/UPnP/NAT-PMP off.
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  aria2Tracked,
  bitswarm,
  bitswarmTracker,
  freePort,
  killAll,
  libtorrentWith,
  opentracker,
  type Proc,
  requireTool,
  transmission,
  waitForSwarm,
} from './clients.js';
import { pseudoRandom } from './fixtures.js';

const TEST_TIMEOUT_MS = 60_000;
const NAME = 'payload.bin';
const SIZE_BYTES = 4 * 1024 * 1024 + 4321;

let root: string;
let seedDir: string;
let data: Buffer;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'bitswarm-tracker-interop-'));
  // opentracker reads its whitelist as nobody: the folders above it must be searchable.
  await chmod(root, 0o755);
  seedDir = join(root, 'seed');
  await mkdir(seedDir);
  data = pseudoRandom('tracker-interop', SIZE_BYTES);
  await writeFile(join(seedDir, NAME), data);
});

after(async () => {
  await killAll();
  await rm(root, { recursive: true, force: true });
});

/** `bitswarm create` of the payload with `announce` as its only tracker; returns the file and info hash. */
async function makeTorrent(announce: string, label: string): Promise<{ torrent: string; infoHash: string }> {
  const torrent = join(root, `${label}.torrent`);
  const p = bitswarm([
    'create',
    join(seedDir, NAME),
    '-a',
    announce,
    '-o',
    torrent,
    '--no-date',
    '-q',
    '--json',
  ]);
  const code = await p.exited;
  assert.equal(code, 0, `bitswarm create failed:\n${p.output.join('\n')}`);
  const line = p.output.find((l) => l.startsWith('{'));
  assert.ok(line, 'bitswarm create --json printed its result');
  return { torrent, infoHash: (JSON.parse(line) as { infoHash: string }).infoHash };
}

async function assertPayload(dir: string): Promise<void> {
  const got = await readFile(join(dir, NAME)).catch(() => undefined);
  assert.ok(got, `${join(dir, NAME)} exists`);
  assert.equal(got.length, data.length, 'downloaded length');
  assert.ok(got.equals(data), 'downloaded bytes equal the original');
}

/** A libtorrent seeder of the payload that logs its tracker replies and connections. */
async function ltSeeder(torrent: string): Promise<Proc & { port: number }> {
  const seeder = await libtorrentWith({ torrent, dir: seedDir }, ['--log-trackers', '--log-peers']);
  await seeder.waitFor(
    (l) => l.includes('"event": "complete"'),
    20_000,
    'libtorrent seeder to check its data',
  );
  return seeder;
}

/** The exit code, or 'timeout' (after killing it) when it has not exited within `ms`. */
async function exitWithin(p: Proc, ms: number): Promise<number | null | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([
    p.exited,
    new Promise<'timeout'>((r) => {
      timer = setTimeout(() => r('timeout'), ms);
    }),
  ]);
  clearTimeout(timer);
  if (code === 'timeout') await p.kill('SIGKILL');
  return code;
}

function trackerUrl(proto: 'http' | 'udp', port: number): string {
  return proto === 'http' ? `http://127.0.0.1:${port}/announce` : `udp://127.0.0.1:${port}`;
}

for (const proto of ['http', 'udp'] as const) {
  describe(`a bitswarm peer's embedded tracker over ${proto.toUpperCase()} is the only tracker`, () => {
    test('aria2 downloads from a libtorrent seeder it found there', {
      timeout: TEST_TIMEOUT_MS,
    }, async (t) => {
      const skip = requireTool('/usr/bin/aria2c') || requireTool('/usr/bin/python3');
      if (skip) return t.skip(skip);
      const started = Date.now();
      const port = await freePort();
      const tracker = await bitswarmTracker(port);
      const { torrent, infoHash } = await makeTorrent(trackerUrl(proto, port), `aria2-${proto}`);
      const seeder = await ltSeeder(torrent);
      const dir = join(root, `aria2-${proto}`);
      let leecher: Proc | undefined;
      try {
        await waitForSwarm(port, infoHash, (c) => c.complete >= 1, 20_000, 'the seeder to announce');
        const joinedMs = Date.now() - started;
        leecher = aria2Tracked({
          torrent,
          dir,
          port: await freePort(),
          ...(proto === 'udp' ? { dhtPort: await freePort() } : {}),
        });
        const code = await exitWithin(leecher, TEST_TIMEOUT_MS - (Date.now() - started) - 3000);
        assert.equal(code, 0, `aria2 exited ${code}:\n${leecher.output.slice(-20).join('\n')}`);
        await assertPayload(dir);
        assert.ok(
          seeder.output.some((l) => l.includes('"kind": "incoming"')),
          'aria2 dialled the seeder it learned from the tracker',
        );
        t.diagnostic(
          `seeder announced after ${joinedMs} ms; aria2 complete after ${Date.now() - started} ms in all`,
        );
      } finally {
        await leecher?.kill();
        await seeder.kill();
        await tracker.kill();
      }
    });

    test('Transmission downloads from a libtorrent seeder it found there', {
      timeout: TEST_TIMEOUT_MS,
    }, async (t) => {
      const skip = requireTool('/usr/bin/transmission-daemon') || requireTool('/usr/bin/python3');
      if (skip) return t.skip(skip);
      const started = Date.now();
      const port = await freePort();
      const tracker = await bitswarmTracker(port);
      const { torrent, infoHash } = await makeTorrent(trackerUrl(proto, port), `tr-${proto}`);
      const dir = join(root, `tr-${proto}`);
      const tr = await transmission(join(root, `tr-config-${proto}`), dir);
      let seeder: (Proc & { port: number }) | undefined;
      try {
        // Transmission 3.00 never dials a 127.x peer: the seeder must dial it. So Transmission
        // announces first, and the seeder's first announce (a seed is given leechers) lists it.
        await tr.remote('-a', torrent, '-w', dir);
        await waitForSwarm(port, infoHash, (c) => c.incomplete >= 1, 30_000, 'Transmission to announce');
        const joinedMs = Date.now() - started;
        seeder = await ltSeeder(torrent);
        await tr.waitComplete(TEST_TIMEOUT_MS - (Date.now() - started) - 5000);
        await assertPayload(dir);
        const reply = seeder.output.find((l) => l.includes('tracker_reply_alert'));
        assert.ok(reply, 'libtorrent got a tracker reply');
        assert.ok(
          seeder.output.some((l) => l.includes('"kind": "connect"') && l.includes(`"port": ${tr.peerPort}`)),
          `the libtorrent seeder dialled Transmission (port ${tr.peerPort}) from the tracker's list:\n${seeder.output.filter((l) => l.includes('"peer"') || l.includes('tracker')).join('\n')}`,
        );
        t.diagnostic(
          `Transmission announced after ${joinedMs} ms; complete after ${Date.now() - started} ms in all`,
        );
      } finally {
        await tr.stop();
        await seeder?.kill();
        await tracker.kill();
      }
    });
  });
}

/**
 * bitswarm downloads the payload from a libtorrent seeder that it finds on opentracker (both announce
 * there; bitswarm has no --peer and no DHT). Returns how long it took and whether opentracker then
 * counted a completed download (event=completed) within 3 s.
 */
async function downloadViaOpentracker(
  proto: 'http' | 'udp',
  label: string,
): Promise<{ elapsedMs: number; completedSeen: boolean }> {
  const started = Date.now();
  const port = await freePort();
  const { torrent, infoHash } = await makeTorrent(trackerUrl(proto, port), label);
  const ot = await opentracker(join(root, `ot-${label}`), port, [infoHash]);
  const dir = join(root, `bs-from-${label}`);
  let seeder: Proc | undefined;
  let leecher: Proc | undefined;
  try {
    seeder = await ltSeeder(torrent);
    await waitForSwarm(port, infoHash, (c) => c.complete >= 1, 20_000, 'the seeder to announce');
    leecher = bitswarm([
      'download',
      torrent,
      '-d',
      dir,
      '--port',
      String(await freePort()),
      '--bind',
      '127.0.0.1',
      '--no-dht',
      '--json',
    ]);
    const code = await exitWithin(leecher, TEST_TIMEOUT_MS - (Date.now() - started) - 8000);
    assert.equal(code, 0, `bitswarm download exited ${code}:\n${leecher.output.slice(-20).join('\n')}`);
    await assertPayload(dir);
    const elapsedMs = Date.now() - started;
    const completedSeen = await waitForSwarm(
      port,
      infoHash,
      (c) => c.downloaded >= 1,
      3000,
      'completed',
    ).then(
      () => true,
      () => false,
    );
    return { elapsedMs, completedSeen };
  } finally {
    await leecher?.kill();
    await seeder?.kill();
    await ot.kill();
  }
}

for (const proto of ['http', 'udp'] as const) {
  const P = proto.toUpperCase();
  describe(`bitswarm and opentracker over ${P}`, () => {
    test('bitswarm downloads from a libtorrent seeder it found there', {
      timeout: TEST_TIMEOUT_MS,
    }, async (t) => {
      const skip = requireTool('/usr/bin/opentracker') || requireTool('/usr/bin/python3');
      if (skip) return t.skip(skip);
      const { elapsedMs } = await downloadViaOpentracker(proto, `ot-${proto}`);
      t.diagnostic(`bitswarm complete after ${elapsedMs} ms in all`);
    });

    // `bitswarm download` (no --seed) stops its session as soon as the last piece is verified.
    // TrackerClient.stop() aborts its controller first, which cancels the `completed` announce that
    // completed() has just started, and then sends only `stopped`: over HTTP the request is destroyed
    // before it is written; over UDP it survives only when the datagram left before the abort.
    test('bitswarm tells it event=completed before it stops', {
      timeout: TEST_TIMEOUT_MS,
    }, async (t) => {
      const skip = requireTool('/usr/bin/opentracker') || requireTool('/usr/bin/python3');
      if (skip) return t.skip(skip);
      const { completedSeen } = await downloadViaOpentracker(proto, `ot-completed-${proto}`);
      assert.ok(completedSeen, 'opentracker counted the completed download');
    });
  });
}
