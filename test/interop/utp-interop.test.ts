// uTP (BEP 29) with libtorrent 2.0: a libtorrent whose TCP is off both ways (uTP only) exchanges
// data with bitswarm in both directions, single- and multi-file, byte for byte; and a libtorrent with
// both transports dials bitswarm over uTP first. All on 127.0.0.1 with libtorrent's
// DHT/LSD/UPnP/NAT-PMP off.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { bitswarm, freePort, killAll, libtorrentWith, onLoopback, requireTool } from './clients.js';
import { compareTree, makeSample, type Sample } from './fixtures.js';

const TIMEOUT_MS = 120_000;
let root: string;
const samples: Record<'single' | 'multi', Sample> = {} as Record<'single' | 'multi', Sample>;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'bitswarm-utp-interop-'));
  samples.single = await makeSample(root, 'single');
  samples.multi = await makeSample(root, 'multi');
});

after(async () => {
  await killAll();
  await rm(root, { recursive: true, force: true });
});

async function bitswarmSeed(sample: Sample, peers: string[] = [], extra: string[] = []) {
  const port = await freePort();
  const p = bitswarm([
    'seed',
    sample.torrent,
    '-d',
    sample.dataDir,
    ...onLoopback(port),
    '--no-dht',
    '--json',
    ...peers.flatMap((x) => ['--peer', x]),
    ...extra,
  ]);
  await p.waitFor((l) => l.includes('"event":"complete"'), 30_000, 'bitswarm seeder to check its data');
  return Object.assign(p, { port });
}

function ltPeer(
  o: { torrent: string; dir: string; peers?: string[]; exitWhenDone?: boolean },
  transport: 'utp' | 'both',
) {
  return libtorrentWith(o, ['--transport', transport]);
}

for (const kind of ['single', 'multi'] as const) {
  describe(`${kind}-file torrent, libtorrent with TCP off (uTP only)`, () => {
    for (const transport of ['both', 'utp'] as const) {
      test(`bitswarm (--transport ${transport}) downloads from a uTP-only libtorrent seeder`, {
        timeout: TIMEOUT_MS,
      }, async (t) => {
        const skip = requireTool('/usr/bin/python3');
        if (skip) return t.skip(skip);
        const sample = samples[kind];
        const seeder = await ltPeer({ torrent: sample.torrent, dir: sample.dataDir }, 'utp');
        try {
          await seeder.waitFor((l) => l.includes('"complete"'), 30_000, 'libtorrent seeder ready');
          const dir = join(root, `bs-from-lt-${kind}-${transport}`);
          const port = await freePort();
          const p = bitswarm([
            'download',
            sample.torrent,
            '-d',
            dir,
            ...onLoopback(port),
            '--no-dht',
            '--peer',
            `127.0.0.1:${seeder.port}`,
            '--transport',
            transport,
            '--json',
          ]);
          const code = await Promise.race([
            p.exited,
            new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), TIMEOUT_MS - 15_000).unref()),
          ]);
          if (code === 'timeout') await p.kill('SIGKILL');
          assert.equal(code, 0, `bitswarm download exited ${code}:\n${p.output.slice(-20).join('\n')}`);
          assert.deepEqual(await compareTree(sample, dir), []);
          // The peer event names what carried it: uTP, libtorrent having TCP off.
          const peers = p.output
            .filter((l) => l.startsWith('{'))
            .map((l) => JSON.parse(l) as { event?: string; transport?: string })
            .filter((e) => e.event === 'peer');
          assert.ok(peers.length > 0, 'a peer event');
          assert.ok(
            peers.every((e) => e.transport === 'utp'),
            peers.map((e) => JSON.stringify(e)).join('\n'),
          );
        } finally {
          await seeder.kill();
        }
      });
    }

    test('a uTP-only libtorrent leecher downloads from bitswarm (libtorrent dials)', {
      timeout: TIMEOUT_MS,
    }, async (t) => {
      const skip = requireTool('/usr/bin/python3');
      if (skip) return t.skip(skip);
      const sample = samples[kind];
      const seeder = await bitswarmSeed(sample);
      const dir = join(root, `lt-from-bs-${kind}`);
      try {
        const leecher = await ltPeer(
          { torrent: sample.torrent, dir, peers: [`127.0.0.1:${seeder.port}`], exitWhenDone: true },
          'utp',
        );
        await leecher.waitFor((l) => l.includes('"complete"'), TIMEOUT_MS - 20_000, 'libtorrent to complete');
        await leecher.kill();
        assert.deepEqual(await compareTree(sample, dir), []);
      } finally {
        await seeder.kill();
      }
    });

    test('bitswarm seeds to a uTP-only libtorrent it dials (--transport utp)', {
      timeout: TIMEOUT_MS,
    }, async (t) => {
      const skip = requireTool('/usr/bin/python3');
      if (skip) return t.skip(skip);
      const sample = samples[kind];
      const dir = join(root, `lt-from-bs-dialed-${kind}`);
      const leecher = await ltPeer({ torrent: sample.torrent, dir, exitWhenDone: true }, 'utp');
      const seeder = await bitswarmSeed(sample, [`127.0.0.1:${leecher.port}`], ['--transport', 'utp']);
      try {
        await leecher.waitFor((l) => l.includes('"complete"'), TIMEOUT_MS - 20_000, 'libtorrent to complete');
        assert.deepEqual(await compareTree(sample, dir), []);
      } finally {
        await leecher.kill();
        await seeder.kill();
      }
    });
  });
}

test('a libtorrent with both transports dials bitswarm over uTP first', {
  timeout: TIMEOUT_MS,
}, async (t) => {
  const skip = requireTool('/usr/bin/python3');
  if (skip) return t.skip(skip);
  const sample = samples.single;
  const seeder = await bitswarmSeed(sample);
  const dir = join(root, 'lt-both-from-bs');
  try {
    const leecher = await libtorrentWith(
      { torrent: sample.torrent, dir, peers: [`127.0.0.1:${seeder.port}`], exitWhenDone: true },
      ['--transport', 'both', '--log-peers'],
    );
    await leecher.waitFor((l) => l.includes('"complete"'), TIMEOUT_MS - 20_000, 'libtorrent to complete');
    await leecher.kill();
    assert.deepEqual(await compareTree(sample, dir), []);
    // libtorrent's peer_connect_alert names the socket type of each outgoing connection.
    const dials = leecher.output
      .filter((l) => l.includes('"event": "peer"') && l.includes('"kind": "connect"'))
      .map((l) => String((JSON.parse(l) as { message: string }).message));
    assert.ok(dials.length > 0, leecher.output.slice(-10).join('\n'));
    assert.match(dials[0]!, /\(uTP\)/, dials.join('\n'));
  } finally {
    await seeder.kill();
  }
});
