// BEP 14 over real multicast, inside network namespaces only (see netns.ts): two LsdNode processes on
// one virtual LAN each find the other's announce of a shared torrent, never report their own
// announces (their cookie comes back through multicast loopback), and ignore a torrent they did
// not register.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { createLan, NETNS_IFACE, type NetnsLan, netnsSkip } from './netns.js';

const LSD_MODULE = new URL('../../src/discovery/lsd.js', import.meta.url).href;
const SHARED = 'aa'.repeat(20);
const ONLY_SECOND = 'bb'.repeat(20);
const TIMEOUT_MS = 20_000;

interface NodeReport {
  started: boolean;
  cookie: string;
  found: { infoHash: string; host: string; port: number }[];
  stats: { packetsSent: number; packetsReceived: number; ownIgnored: number; malformed: number };
  errors: string[];
}

// Runs in the namespace: one LsdNode on the LAN address, re-announcing quickly so the nodes need not
// start in a particular order; exits with a JSON report once it found a peer and heard itself, or
// after `runMs`.
const SCRIPT = `
const [modulePath, json] = process.argv.slice(-2);
const { LsdNode } = await import(modulePath);
const o = JSON.parse(json);
const node = new LsdNode({ port: o.port, bindAddress: o.address, ...o.extra, minIntervalMs: 200,
  reannounceIntervalMs: 300, tickMs: 50, maxBurstPackets: 100, packetsPerSec: 100 });
const report = { started: false, cookie: node.cookie, found: [], stats: {}, errors: [] };
node.on('peer:found', (infoHash, p) => report.found.push({ infoHash, host: p.host, port: p.port }));
node.on('lsd:error', (e) => report.errors.push(e.message));
node.on('lsd:disabled', (r) => report.errors.push(r));
report.started = await node.start();
for (const h of o.hashes) node.add(Buffer.from(h, 'hex'));
const deadline = Date.now() + o.runMs;
while (Date.now() < deadline) {
  await new Promise((r) => setTimeout(r, 100));
  if (new Set(report.found.map((f) => f.host)).size >= o.expectHosts && node.stats.ownIgnored > 2) break;
}
// A little longer, so that the other node hears us too before we leave.
await new Promise((r) => setTimeout(r, 1000));
report.stats = node.stats;
await node.stop();
process.stdout.write(JSON.stringify(report));
`;

const skip = await netnsSkip();
// Kernels without IPv6 (some CI runners) skip the IPv6 case.
const skip6 = existsSync('/proc/sys/net/ipv6') ? false : 'no IPv6 in this kernel';
let lan: NetnsLan | undefined;

before(async () => {
  if (!skip) lan = await createLan(2);
});
after(async () => {
  await lan?.teardown();
});

/** Runs one node in member namespace `i` and returns its report. */
async function runNode(i: number, port: number, hashes: string[], ipv6: boolean): Promise<NodeReport> {
  assert.ok(lan);
  const extra = ipv6 ? { ipv6Interface: NETNS_IFACE } : {};
  const config = JSON.stringify({
    address: lan.addresses[i],
    port,
    hashes,
    runMs: 8_000,
    extra,
    expectHosts: ipv6 ? 2 : 1,
  });
  const args = ['--input-type=module', '-e', SCRIPT, LSD_MODULE, config];
  const r = await lan.exec(lan.namespaces[i]!, process.execPath, args, { timeoutMs: TIMEOUT_MS });
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as NodeReport;
}

const peers = (r: NodeReport): string[] =>
  [...new Set(r.found.map((f) => `${f.infoHash} ${f.host} ${f.port}`))].sort();

function assertHealthy(r: NodeReport): void {
  assert.equal(r.started, true);
  assert.deepEqual(r.errors, []);
  assert.ok(r.stats.ownIgnored >= 1, `own announces came back and were ignored: ${JSON.stringify(r.stats)}`);
  assert.equal(r.stats.malformed, 0);
}

test('IPv4: two LsdNodes in two namespaces find each other; own cookie ignored', {
  skip,
  timeout: 60_000,
}, async () => {
  assert.ok(lan);
  const [first, second] = await Promise.all([
    runNode(0, 6001, [SHARED], false),
    runNode(1, 6002, [SHARED, ONLY_SECOND], false),
  ]);
  assertHealthy(first);
  assertHealthy(second);
  assert.notEqual(first.cookie, second.cookie);
  assert.deepEqual(peers(first), [`${SHARED} ${lan.addresses[1]} 6002`]);
  assert.deepEqual(peers(second), [`${SHARED} ${lan.addresses[0]} 6001`]);
});

test('IPv6 too: each node is also found at its link-local address', {
  skip: skip || skip6,
  timeout: 60_000,
}, async () => {
  assert.ok(lan);
  const [first, second] = await Promise.all([
    runNode(0, 6003, [SHARED], true),
    runNode(1, 6004, [SHARED], true),
  ]);
  assertHealthy(first);
  assertHealthy(second);
  for (const [r, other, port] of [
    [first, 1, 6004],
    [second, 0, 6003],
  ] as const) {
    const got = peers(r);
    assert.equal(got.length, 2, JSON.stringify(got));
    assert.equal(got[0], `${SHARED} ${lan.addresses[other]} ${port}`);
    assert.match(got[1]!, new RegExp(`^${SHARED} fe80::[0-9a-f:]+%${NETNS_IFACE} ${port}$`));
  }
});
