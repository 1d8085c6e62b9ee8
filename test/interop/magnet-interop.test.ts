// Issue 21 (3): a magnet link from a real seeder costs little more than the .torrent. The
// connection the metadata came over goes on with the download: a relay in front of the seeder that
// takes one connection only proves it (a second dial would be reset), against libtorrent and
// Transmission. All on 127.0.0.1 with the clients' DHT/LSD/UPnP/NAT-PMP off.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { formatMagnet } from '../../src/protocol/magnet.js';
import { parseMetainfo } from '../../src/protocol/metainfo.js';
import { bitswarm, freePort, killAll, libtorrent, onLoopback, requireTool, transmission } from './clients.js';
import { compareTree, makeSample, type Sample } from './fixtures.js';
import { countingRelay } from './helpers.js';

const TIMEOUT_MS = 120_000;
let root: string;
let sample: Sample;
let magnet: string;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'bitswarm-magnet-interop-'));
  sample = await makeSample(root, 'multi');
  const m = parseMetainfo(await readFile(sample.torrent));
  magnet = formatMagnet({ infoHash: m.infoHash, name: m.name });
});

after(async () => {
  await killAll();
  await rm(root, { recursive: true, force: true });
});

/** Downloads `what` (a .torrent or the magnet) through `peer`; the time it took, in ms. */
async function download(what: string, dir: string, peer: string): Promise<number> {
  const port = await freePort();
  const started = Date.now();
  const p = bitswarm(['download', what, '-d', dir, ...onLoopback(port), '--peer', peer, '--json']);
  const code = await Promise.race([
    p.exited,
    new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), TIMEOUT_MS - 20_000).unref()),
  ]);
  if (code === 'timeout') await p.kill('SIGKILL');
  assert.equal(code, 0, `bitswarm download exited ${code}:\n${p.output.slice(-20).join('\n')}`);
  assert.deepEqual(await compareTree(sample, dir), []);
  return Date.now() - started;
}

interface Seeder {
  port: number;
  stop(): Promise<void>;
}

/**
 * The magnet through a relay that takes one connection only, then the .torrent from a second seeder
 * of the same data (Transmission refuses a quick second connection from an address it just saw:
 * the very cost of a re-dial that this rule avoids).
 */
async function compare(t: { diagnostic: (s: string) => void }, seeder: () => Promise<Seeder>, label: string) {
  let byMagnet: number;
  const first = await seeder();
  try {
    const relay = await countingRelay(first.port, 1);
    try {
      byMagnet = await download(magnet, join(root, `${label}-magnet`), `127.0.0.1:${relay.port}`);
      assert.equal(relay.count(), 1, 'the magnet download dialled the seeder more than once');
    } finally {
      await relay.close();
    }
  } finally {
    await first.stop();
  }
  const second = await seeder();
  let byTorrent: number;
  try {
    byTorrent = await download(sample.torrent, join(root, `${label}-torrent`), `127.0.0.1:${second.port}`);
  } finally {
    await second.stop();
  }
  t.diagnostic(`${label}: magnet ${byMagnet} ms (one connection), .torrent ${byTorrent} ms`);
  assert.ok(byMagnet <= byTorrent * 1.5 + 3_000, `magnet ${byMagnet} ms against .torrent ${byTorrent} ms`);
}

test('a magnet from a libtorrent seeder: one connection, about the time of the .torrent', {
  timeout: TIMEOUT_MS,
}, async (t) => {
  const skip = requireTool('/usr/bin/python3');
  if (skip) return t.skip(skip);
  await compare(
    t,
    async () => {
      const seeder = await libtorrent({ torrent: sample.torrent, dir: sample.dataDir });
      await seeder.waitFor((l) => l.includes('"complete"'), 30_000, 'libtorrent seeder ready');
      return { port: seeder.port, stop: () => seeder.kill().then(() => undefined) };
    },
    'libtorrent',
  );
});

test('a magnet from a Transmission seeder: one connection, about the time of the .torrent', {
  timeout: TIMEOUT_MS,
}, async (t) => {
  const skip = requireTool('/usr/bin/transmission-daemon');
  if (skip) return t.skip(skip);
  let n = 0;
  await compare(
    t,
    async () => {
      const tr = await transmission(join(root, `tr-seed-${n++}`), sample.dataDir);
      try {
        await tr.remote('-a', sample.torrent, '-w', sample.dataDir);
        await tr.remote('-t', 'all', '-v');
        await tr.waitComplete(30_000);
      } catch (err) {
        await tr.stop();
        throw err;
      }
      return { port: tr.peerPort, stop: () => tr.stop() };
    },
    'transmission',
  );
});
