// Issue 15, "reachable behind a router", for real: a bitswarm seeder in a "home" namespace behind a
// NAT router (Debian's miniupnpd with nftables, nat-router.ts) maps its port — with UPnP IGD, and
// with PCP/NAT-PMP when UPnP is off — and a bitswarm leecher in the "internet" namespace dials the
// mapped external address and downloads byte for byte. The leecher's namespace refuses incoming TCP
// connections, so every byte comes over the connection it dialed to the mapping. When the seeder
// stops, the mapping is gone from the router (its nft chain, and GetSpecificPortMappingEntry).
// NAT-PMP itself (PCP off) is checked against the same router: map, then removal.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { compareTree, makeSample, type Sample } from './fixtures.js';
import { bitswarmNodeArgs, type JsonChild, makeTempDir, spawnJson } from './helpers.js';
import {
  createNatRouter,
  HOME_IP,
  INTERNET_IP,
  MINIUPNPD,
  type NatRouter,
  ROUTER_LAN_IP,
  ROUTER_WAN_IP,
} from './nat-router.js';
import { netnsSkip } from './netns.js';

const PORT_MAPPER = new URL('../../src/discovery/port-mapper.js', import.meta.url).href;

/** The router's rules are nftables ones: miniupnpd must be the nftables build (Debian's miniupnpd-nftables). */
function miniupnpdSkip(): string | false {
  if (!existsSync(MINIUPNPD))
    return `${MINIUPNPD} is not installed (apt-get install miniupnpd-nftables nftables)`;
  const v = spawnSync(MINIUPNPD, ['--version'], { encoding: 'utf8' });
  const text = `${v.stdout}${v.stderr}`;
  return text.includes('nftables')
    ? false
    : `${MINIUPNPD} is not the nftables build: ${text.trim().split('\n').join(' ')}`;
}

const skip = miniupnpdSkip() || (await netnsSkip());

let router: NatRouter | undefined;
let root: string;
let cleanup: (() => Promise<void>) | undefined;
let sample: Sample;

before(async () => {
  if (skip) return;
  ({ dir: root, cleanup } = await makeTempDir('bitswarm-nat'));
  sample = await makeSample(root, 'single', 3 * 1024 * 1024 + 4321);
  router = await createNatRouter(root);
  // The internet peer takes no incoming TCP connection: it can only dial.
  const fw = join(root, 'internet.nft');
  await writeFile(
    fw,
    'table inet fw {\n  chain input {\n    type filter hook input priority 0; policy accept;\n    ct state established,related accept\n    meta l4proto tcp ct state new drop\n  }\n}\n',
  );
  const r = await router.exec(router.internet, 'nft', ['-f', fw]);
  assert.equal(r.code, 0, r.stderr);
});

after(async () => {
  await router?.teardown();
  await cleanup?.();
});

/** `bitswarm <args>` inside a namespace, its JSON lines collected. */
function cliIn(ns: string, args: readonly string[]): JsonChild {
  return spawnJson(bitswarmNodeArgs(args), {
    skipBadLines: true,
    spawn: (cmd, a) => router!.spawn(ns, cmd, a),
  });
}

async function waitFor<T>(
  what: string,
  f: () => T | undefined,
  timeoutMs: number,
  info: () => string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${info()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const event = (c: JsonChild, name: string): Record<string, unknown> | undefined =>
  c.lines.find((l) => l.event === name);

/** What GetSpecificPortMappingEntry says of an external port, asked from the home namespace. */
async function upnpEntry(port: number, protocol: 'TCP' | 'UDP'): Promise<unknown> {
  const script = `const { PortMapper } = await import(${JSON.stringify(PORT_MAPPER)});
const pm = new PortMapper({ internalPort: 1, natpmp: false });
const e = await pm.lookupUpnpMapping(${port}, '${protocol}');
process.stdout.write(JSON.stringify(e ?? null));`;
  const r = await router!.exec(router!.home, process.execPath, ['--input-type=module', '-e', script], {
    timeoutMs: 15_000,
  });
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

/** Stops a seeder as a user does (Ctrl-C) and checks it ends with SIGINT's code. */
async function interrupt(c: JsonChild): Promise<void> {
  c.child.kill('SIGINT');
  const { code } = await c.exited;
  assert.equal(code, 130, c.stderr());
}

/** The leecher, in the internet namespace: downloads `what` and exits once complete. */
async function leech(what: string, out: string, extra: string[] = []): Promise<JsonChild> {
  const l = cliIn(router!.internet, [
    'download',
    what,
    '-d',
    out,
    '--bind',
    INTERNET_IP,
    '--no-dht',
    '--no-lsd',
    '--no-upnp',
    '--no-natpmp',
    '--json',
    ...extra,
  ]);
  const code = await Promise.race([
    l.exited.then((e) => e.code),
    new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 60_000).unref()),
  ]);
  if (code === 'timeout') l.child.kill('SIGKILL');
  assert.equal(code, 0, `leecher: ${code}\n${l.stderr()}\n${JSON.stringify(l.lines.slice(-5))}`);
  return l;
}

test('UPnP IGD: share behind the router maps its port, advertises the external address, and a peer on the internet downloads from it; the mapping is removed at exit', {
  skip,
  timeout: 120_000,
}, async () => {
  const r = router!;
  const seeder = cliIn(r.home, [
    'share',
    sample.files[0] ? join(sample.dataDir, sample.files[0].path) : '',
    '-o',
    join(root, 'shared.torrent'),
    '--bind',
    HOME_IP,
    '--port',
    '6881',
    '--no-natpmp',
    '--no-dht',
    '--no-lsd',
    '--json',
  ]);
  try {
    const info = (): string => `${seeder.stderr()}\n${JSON.stringify(seeder.lines)}\n${r.log().slice(-3000)}`;
    const mapped = await waitFor('the port mapping', () => event(seeder, 'portmap'), 20_000, info);
    assert.equal(mapped.method, 'upnp');
    assert.equal(mapped.externalIp, ROUTER_WAN_IP);
    assert.equal(mapped.externalPort, 6881);
    assert.equal(mapped.gateway, ROUTER_LAN_IP);
    assert.equal(mapped.udp, true);
    const shared = await waitFor('the magnet', () => event(seeder, 'shared'), 20_000, info);
    const magnet = String(shared.magnet);
    // The link and the torrent name the router's external address, not the LAN one.
    assert.match(magnet, new RegExp(`x\\.pe=${ROUTER_WAN_IP}%3A6881`));
    assert.equal(shared.announce, `http://${ROUTER_WAN_IP}:6881/announce`);
    assert.match(await r.natRules(), /dport 6881/);
    const entry = (await upnpEntry(6881, 'TCP')) as {
      internalClient: string;
      internalPort: number;
      leaseSec: number;
    };
    assert.equal(entry.internalClient, HOME_IP);
    assert.equal(entry.internalPort, 6881);
    // The lease asked for (3600 s) counts down on the router.
    assert.ok(entry.leaseSec > 3500 && entry.leaseSec <= 3600, String(entry.leaseSec));

    const out = join(root, 'out-upnp');
    const l = await leech(magnet, out);
    assert.deepEqual(await compareTree(sample, out), []);
    // The leecher dialled the mapping (a connection the seeder made would come from another port).
    assert.ok(
      l.lines.some((x) => x.event === 'peer' && x.peer === `${ROUTER_WAN_IP}:6881`),
      JSON.stringify(l.lines.filter((x) => x.event === 'peer')),
    );
  } finally {
    await interrupt(seeder);
  }
  assert.doesNotMatch(await r.natRules(), /dport 6881/);
  assert.equal(await upnpEntry(6881, 'TCP'), null);
  assert.equal(await upnpEntry(6881, 'UDP'), null);
});

test('--no-upnp: PCP/NAT-PMP maps the port; a peer on the internet dials the mapping and downloads; the mapping is removed at exit', {
  skip,
  timeout: 120_000,
}, async () => {
  const r = router!;
  const seeder = cliIn(r.home, [
    'seed',
    sample.torrent,
    '-d',
    sample.dataDir,
    '--bind',
    HOME_IP,
    '--port',
    '6882',
    '--no-upnp',
    '--no-dht',
    '--no-lsd',
    '--json',
  ]);
  try {
    const info = (): string => `${seeder.stderr()}\n${JSON.stringify(seeder.lines)}\n${r.log().slice(-3000)}`;
    const mapped = await waitFor('the port mapping', () => event(seeder, 'portmap'), 20_000, info);
    // miniupnpd speaks PCP, which the client tries first.
    assert.equal(mapped.method, 'pcp');
    assert.equal(mapped.externalIp, ROUTER_WAN_IP);
    assert.equal(mapped.gateway, ROUTER_LAN_IP);
    const port = Number(mapped.externalPort);
    assert.match(await r.natRules(), new RegExp(`dport ${port}\\b`));
    const out = join(root, 'out-pcp');
    const l = await leech(sample.torrent, out, ['--peer', `${ROUTER_WAN_IP}:${port}`]);
    assert.deepEqual(await compareTree(sample, out), []);
    assert.ok(l.lines.some((x) => x.event === 'peer' && x.peer === `${ROUTER_WAN_IP}:${port}`));
  } finally {
    await interrupt(seeder);
  }
  assert.doesNotMatch(await r.natRules(), /dport 6882\b/);
});

test('NAT-PMP alone (PCP off): the router maps TCP and UDP and reports its external address; stop removes both', {
  skip,
  timeout: 60_000,
}, async () => {
  const r = router!;
  const flag = join(root, 'natpmp-stop');
  const script = `const { existsSync } = await import('node:fs');
const { PortMapper } = await import(${JSON.stringify(PORT_MAPPER)});
const pm = new PortMapper({ internalPort: 6883, upnp: false, pcp: false });
const failures = [];
pm.on('portmap:failed', (m, e) => failures.push(e));
pm.start();
const m = await pm.ready();
process.stdout.write(JSON.stringify({ m, failures }) + '\\n');
while (!existsSync(${JSON.stringify(flag)})) await new Promise((r) => setTimeout(r, 50));
await pm.stop();
process.stdout.write('stopped\\n');`;
  const child = r.spawn(r.home, process.execPath, ['--input-type=module', '-e', script]);
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => {
    out += s;
  });
  child.stderr!.setEncoding('utf8').on('data', (s: string) => {
    err += s;
  });
  const exited = new Promise<number | null>((res) => child.once('exit', (c) => res(c)));
  const first = await waitFor(
    'the mapping',
    () => (out.includes('\n') ? out.split('\n')[0] : undefined),
    20_000,
    () => err,
  );
  const { m, failures } = JSON.parse(first) as { m: Record<string, unknown> | null; failures: string[] };
  assert.deepEqual(failures, []);
  assert.ok(m, err);
  assert.equal(m.method, 'natpmp');
  assert.equal(m.externalIp, ROUTER_WAN_IP);
  assert.equal(m.udp, true);
  const rules = await r.natRules();
  // miniupnpd's rules match the protocol number: 0x6 TCP, 0x11 UDP.
  assert.match(rules, new RegExp(`0x6 th dport ${m.externalPort}\\b`));
  assert.match(rules, new RegExp(`0x11 th dport ${m.externalPort}\\b`));
  await writeFile(flag, '');
  assert.equal(await exited, 0, err);
  assert.match(out, /stopped/);
  assert.doesNotMatch(await r.natRules(), new RegExp(`dport ${m.externalPort}\\b`));
});

test('a session behind the router: its DHT takes a BEP 42 id for the external address, and it advertises that address', {
  skip,
  timeout: 60_000,
}, async () => {
  const r = router!;
  const session = new URL('../../src/session/session.js', import.meta.url).href;
  const bep42 = new URL('../../src/protocol/bep42.js', import.meta.url).href;
  const script = `const { Session } = await import(${JSON.stringify(session)});
const { isBep42NodeId } = await import(${JSON.stringify(bep42)});
const s = new Session({ port: 6884, bind: '${HOME_IP}', lsd: false, dhtBootstrap: [], upnp: false });
await s.start();
const m = await s.portMappingReady();
while (!s.dht.table) await new Promise((r) => setTimeout(r, 10));
await new Promise((r) => setTimeout(r, 100));
const out = { m, bep42: m ? isBep42NodeId(s.dht.nodeId, m.externalIp) : false, advertised: s.advertisedAddress };
await s.stop();
process.stdout.write(JSON.stringify(out));`;
  const res = await r.exec(r.home, process.execPath, ['--input-type=module', '-e', script], {
    timeoutMs: 30_000,
  });
  assert.equal(res.code, 0, res.stderr);
  const out = JSON.parse(res.stdout) as {
    m: { externalIp: string; externalPort: number } | null;
    bep42: boolean;
    advertised: unknown;
  };
  assert.equal(out.m?.externalIp, ROUTER_WAN_IP);
  assert.equal(out.bep42, true);
  assert.deepEqual(out.advertised, { host: ROUTER_WAN_IP, port: out.m?.externalPort });
  assert.doesNotMatch(await r.natRules(), /dport 6884\b/);
});
