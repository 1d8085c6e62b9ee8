// The DHT scenario: N real DhtNodes (src/discovery/dht) exchanging real KRPC datagrams over the
// simulated network in virtual time. Routing tables are filled directly rather than by N
// bootstrap lookups (which would cost N lookups of simulation before the first measured one): each
// node is offered, for every prefix length, random nodes that share that prefix with it, and its
// k-buckets keep what they would keep. Then lookups from random nodes for random targets run through the nodes'
// own lookup code; the simulator traces each lookup's queries to count its hops: a node its table held
// is 1 hop away, a node named in the reply of a node h hops away is h + 1. A lookup converges when the
// node closest to the target of all N answers it.

import { DhtNode } from '../../src/discovery/dht/dht-node.js';
import { decodeKrpc } from '../../src/protocol/krpc.js';
import type { ScenarioOptions, ScenarioResult } from './scenarios.js';
import { prng, SimClock } from './sim-clock.js';

const DHT_PORT = 6881;
/** Nodes drawn from the ids sharing each prefix length with a node's own (see the table fill). */
const DRAWS_PER_PREFIX = 16;
const LOOKUPS = 20;
const MAX_HOPS = 8;

interface Trace {
  hop: Map<string, number>;
  answered: Set<string>;
  queries: number;
}

export async function dhtLookups(o: ScenarioOptions): Promise<ScenarioResult> {
  const clock = new SimClock();
  const random = prng(o.seed);
  const bytes = (n: number): Buffer => {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = Math.floor(random() * 256);
    return b;
  };
  const n = Math.max(2, o.peers);
  const ips: string[] = [];
  const latency: number[] = [];
  const byIp = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const k = i + 1;
    const ip = `10.${(k >> 16) & 255}.${(k >> 8) & 255}.${k & 255}`;
    ips.push(ip);
    byIp.set(ip, i);
    latency.push(5 + Math.floor(random() * 56));
  }
  const traces = new Map<number, Trace>();
  const nodes: DhtNode[] = [];
  for (let i = 0; i < n; i++) {
    nodes.push(
      new DhtNode({
        nodeId: bytes(20),
        clock,
        random: bytes,
        send: (msg, host) => {
          const j = byIp.get(host);
          if (j === undefined) return;
          const out = traces.get(i);
          if (out !== undefined && msg.includes('1:y1:q')) out.queries++;
          clock.at(latency[i]! + latency[j]!, () => {
            const t = traces.get(j);
            if (t !== undefined) noteReply(t, ips[i]!, msg);
            nodes[j]!.handlePacket(msg, { address: ips[i]!, port: DHT_PORT });
          });
        },
      }),
    );
  }
  // Routing tables as a settled DHT has them: for each prefix length i, nodes drawn at random from
  // those sharing our first i bits (a contiguous range of the ids in order); the k-buckets keep what
  // they would keep. Drawing stops where the range is small enough to offer whole.
  const nums = nodes.map((node) => BigInt(`0x${node.nodeId.toString('hex')}`));
  const order = nodes
    .map((_, i) => i)
    .sort((a, b) => (nums[a]! < nums[b]! ? -1 : nums[a]! > nums[b]! ? 1 : 0));
  const sorted = order.map((i) => nums[i]!);
  const lowerBound = (v: bigint): number => {
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (sorted[mid]! < v) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const now = clock.now();
  for (let i = 0; i < n; i++) {
    const self = nodes[i]!;
    const learn = (j: number): void => {
      if (j !== i) self.table.insert({ id: nodes[j]!.nodeId, host: ips[j]!, port: DHT_PORT }, now);
    };
    for (let bits = 0n; bits <= 160n; bits++) {
      const shift = 160n - bits;
      const lo = (nums[i]! >> shift) << shift;
      const from = lowerBound(lo);
      const to = lowerBound(lo + (1n << shift));
      if (to - from <= DRAWS_PER_PREFIX) {
        for (let p = from; p < to; p++) learn(order[p]!);
        break;
      }
      for (let d = 0; d < DRAWS_PER_PREFIX; d++) learn(order[from + Math.floor(random() * (to - from))]!);
    }
  }
  let tableSizes = 0;
  for (const node of nodes) tableSizes += node.nodeCount;

  const results: { hops: number; queries: number; converged: boolean }[] = [];
  let done = 0;
  for (let l = 0; l < LOOKUPS; l++) {
    const src = Math.floor(random() * n);
    if (traces.has(src)) continue;
    const target = bytes(20);
    const closest = closestTo(nodes, target);
    const trace: Trace = { hop: new Map(), answered: new Set(), queries: 0 };
    for (const c of nodes[src]!.table.all()) trace.hop.set(c.host, 1);
    traces.set(src, trace);
    const goal = ips[closest]!;
    nodes[src]!.lookup(target).then(
      () => {
        results.push({
          hops: trace.hop.get(goal) ?? Number.POSITIVE_INFINITY,
          queries: trace.queries,
          converged: trace.answered.has(goal) || closest === src,
        });
        done++;
      },
      () => done++,
    );
  }
  const started = traces.size;
  await clock.run({ until: () => done >= started, maxMs: 600_000 });
  for (const node of nodes) node.stop();

  const hops = results.map((r) => r.hops).sort((a, b) => a - b);
  const queries = results.map((r) => r.queries).sort((a, b) => a - b);
  const mid = (xs: number[]): number => xs[Math.floor(xs.length / 2)] ?? Number.NaN;
  const converged = results.filter((r) => r.converged).length;
  const lines = [
    `scenario dht seed ${o.seed} peers ${n}`,
    `virtual time ${(clock.elapsedMs / 1000).toFixed(3)} s, ${clock.events} events`,
    `routing tables: ${(tableSizes / n).toFixed(1)} nodes on average`,
    `lookups ${results.length}/${started}, reaching the closest node ${converged}`,
    `hops to the closest node: min ${hops[0]} median ${mid(hops)} max ${hops[hops.length - 1]}`,
    `queries per lookup: min ${queries[0]} median ${mid(queries)} max ${queries[queries.length - 1]}`,
  ];
  return {
    lines,
    checks: [
      { name: 'every lookup finishes', ok: results.length === started },
      { name: 'every lookup reaches the node closest to its target', ok: converged === started },
      { name: `every lookup converges in ≤ ${MAX_HOPS} hops`, ok: hops.every((h) => h <= MAX_HOPS) },
    ],
    virtualMs: clock.elapsedMs,
  };
}

function noteReply(t: Trace, from: string, msg: Buffer): void {
  let m: ReturnType<typeof decodeKrpc>;
  try {
    m = decodeKrpc(msg);
  } catch {
    return;
  }
  if (m.kind !== 'response') return;
  t.answered.add(from);
  const h = (t.hop.get(from) ?? 0) + 1;
  for (const node of m.nodes ?? []) if (!t.hop.has(node.host)) t.hop.set(node.host, h);
}

function closestTo(nodes: readonly DhtNode[], target: Buffer): number {
  let best = 0;
  let bestD: Buffer | undefined;
  const d = Buffer.alloc(20);
  for (let i = 0; i < nodes.length; i++) {
    const id = nodes[i]!.nodeId;
    for (let b = 0; b < 20; b++) d[b] = id[b]! ^ target[b]!;
    if (bestD === undefined || Buffer.compare(d, bestD) < 0) {
      bestD = Buffer.from(d);
      best = i;
    }
  }
  return best;
}
