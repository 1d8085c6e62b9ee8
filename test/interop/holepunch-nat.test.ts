// Issue 15, BEP 55 hole punching for real: two bitswarm peers behind two NAT routers (two-nats.ts),
// neither reachable from outside, meet through a third on the internet. B seeds behind router B; A
// leeches behind router A; both dial the relay R on the internet, which holds nothing and downloads
// at 1 KiB/s, so it can serve A nothing. R's PEX tells A of B (router B's address, B's port; B has
// PEX off and never learns of A); A's
// dial there dies at router B; A asks R for a rendezvous; R sends `connect` to both; both dial each
// other over uTP at once and each one's packets open its own router for the other's. A downloads the
// whole file from B, byte for byte, over that uTP connection.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { compareTree, makeSample, type Sample } from './fixtures.js';
import { bitswarmNodeArgs, type JsonChild, makeTempDir, spawnJson } from './helpers.js';
import { netnsSkip } from './netns.js';
import {
  createTwoNats,
  HOME_A_IP,
  HOME_B_IP,
  INTERNET_IP,
  ROUTER_B_WAN_IP,
  type TwoNats,
} from './two-nats.js';

const skip = await netnsSkip();

let nats: TwoNats | undefined;
let root: string;
let cleanup: (() => Promise<void>) | undefined;
let sample: Sample;

before(async () => {
  if (skip) return;
  ({ dir: root, cleanup } = await makeTempDir('bitswarm-holepunch'));
  sample = await makeSample(root, 'single', 3 * 1024 * 1024 + 4321);
  nats = await createTwoNats(root);
});

after(async () => {
  await nats?.teardown();
  await cleanup?.();
});

/** `bitswarm download` of the sample in namespace `ns`, bound to `ip`, port 6881, JSON lines. */
function peer(ns: string, ip: string, dir: string, extra: string[]): JsonChild {
  return spawnJson(
    bitswarmNodeArgs([
      'download',
      sample.torrent,
      '-d',
      dir,
      '--bind',
      ip,
      '--port',
      '6881',
      '--transport',
      'both',
      '--no-dht',
      '--no-lsd',
      '--no-upnp',
      '--no-natpmp',
      '--no-tracker',
      '--encryption',
      'off',
      '--json',
      ...extra,
    ]),
    { spawn: (cmd, args) => nats!.spawn(ns, cmd, args) },
  );
}

test('two peers behind two NATs meet over uTP through a relay (BEP 55) and one downloads from the other', {
  skip,
  timeout: 120_000,
}, async () => {
  const n = nats!;
  const relay = peer(n.internet, INTERNET_IP, join(root, 'relay'), ['--download-limit', '1K']);
  // B without PEX: it learns nothing of A, so it never dials A on its own (were both to dial each
  // other after PEX, their uTP fallbacks alone could open both routers); only R's `connect` makes it.
  const seeder = peer(n.homeB, HOME_B_IP, sample.dataDir, [
    '--seed',
    '--no-pex',
    '--peer',
    `${INTERNET_IP}:6881`,
  ]);
  const all = [relay, seeder];
  try {
    const info = (): string =>
      ['relay', 'seeder', 'leecher']
        .map(
          (name, i) => `${name}: ${all[i]?.stderr() ?? ''}\n${JSON.stringify(all[i]?.lines.slice(-8) ?? [])}`,
        )
        .join('\n');
    // The seeder is connected to the relay before the leecher starts.
    const deadline = Date.now() + 20_000;
    while (!relay.lines.some((l) => l.event === 'peer' && String(l.peer).startsWith(`${ROUTER_B_WAN_IP}:`))) {
      if (Date.now() > deadline) throw new Error(`the seeder never reached the relay\n${info()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const leecher = peer(n.homeA, HOME_A_IP, join(root, 'leecher'), ['--peer', `${INTERNET_IP}:6881`]);
    all.push(leecher);
    const exited = await Promise.race([
      leecher.exited,
      new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 90_000).unref()),
    ]);
    if (exited === 'timeout') leecher.child.kill('SIGKILL');
    assert.deepEqual(exited, { code: 0, signal: null }, info());
    assert.deepEqual(await compareTree(sample, join(root, 'leecher')), []);
    // The leecher met the seeder at router B's address (B's port kept by the NAT), over uTP.
    const toB = leecher.lines.find((l) => l.event === 'peer' && l.peer === `${ROUTER_B_WAN_IP}:6881`);
    assert.equal(toB?.transport, 'utp', info());
    const done = leecher.lines.find((l) => l.event === 'complete') as { holepunch?: Record<string, number> };
    assert.ok((done.holepunch?.rendezvousSent ?? 0) >= 1, JSON.stringify(done));
    // Nearly every byte came from B: the relay could not have served more than a piece or two.
    const progress = relay.lines.filter((l) => l.event === 'progress').at(-1) as
      | { downloaded?: number }
      | undefined;
    assert.ok((progress?.downloaded ?? 0) < 256 * 1024, JSON.stringify(progress));
  } finally {
    for (const c of all) c.child.kill('SIGINT');
    await Promise.all(all.map((c) => c.exited));
  }
});
