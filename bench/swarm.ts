// Benchmark of a whole swarm against the physical lower bound: one tracker host, one seeder and N
// leechers, each host a network namespace on one bridge (test/interop/netns.ts) with its uplink
// capped by tc htb. Every leecher starts at once; the bench prints each leecher's completion time,
// the last one, the lower bound max(F/u_s, N·F/(u_s + Σu_i)) (Kumar & Ross), their ratio and what the
// seeder uploaded in copies of the file — for bitswarm (the CLI, `seed` and `download --seed`) and
// for libtorrent (python3-libtorrent via bench/lt-swarm-peer.py), in the same run, on the same LAN,
// with the same torrent and the same tracker (`bitswarm tracker` on a host of its own). Both run
// as users run them: TCP only (libtorrent's uTP off), DHT, LSD, UPnP, NAT-PMP off, PEX on.
//
//   npm run bench:swarm [-- --scenario NAME]... [--size MiB] [--runs N] [--only bitswarm|libtorrent]
//
// Scenarios (all by default): six (6 leechers, 64 MiB, 40 Mbit/s each), twelve (12 leechers, 32 MiB,
// 20 Mbit/s), hetero (six with one leecher at 4× the others' uplink), leave (six, the seeder leaves
// once it has uploaded one copy: its client counts a copy sent and its connections had a copy
// delivered, acknowledged by TCP; it is then killed). --size overrides the size of every scenario (quick runs); with
// --runs N each client runs N times per scenario, alternating, and the medians are printed.
// Targets (issue 18): ratio ≤ 1.3 and ≤ libtorrent's in every scenario; the seeder uploads ≤ 1.1
// copies in `six`. Needs root (namespaces); sends nothing outside them.

import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { makeTempDir } from '../test/interop/helpers.js';
import {
  assertIsolated,
  bitswarmBin,
  type LanPeer,
  repoRoot,
  spawnLanPeer,
} from '../test/interop/lan-harness.js';
import { createLan, htbTcCommands, type NetnsLan } from '../test/interop/netns.js';
import { generate, median } from './common.js';

const MIB = 1024 * 1024;
const LT_DRIVER = join(repoRoot, 'bench', 'lt-swarm-peer.py');
const PORT = '6881';
const TRACKER_PORT = '6969';
/** --verbose: a line a second with the seeder's upload and each leecher's progress. */
let verbose = false;

interface Scenario {
  name: string;
  summary: string;
  leechers: number;
  sizeMiB: number;
  seederMbit: number;
  /** Uplink of each leecher, Mbit/s. */
  leecherMbit: number[];
  /** The seeder leaves once it has uploaded this many copies. */
  seederLeavesAfterCopies?: number;
}

const SCENARIOS: Scenario[] = [
  {
    name: 'six',
    summary: '6 leechers, 64 MiB, 40 Mbit/s uplinks',
    leechers: 6,
    sizeMiB: 64,
    seederMbit: 40,
    leecherMbit: Array(6).fill(40),
  },
  {
    name: 'twelve',
    summary: '12 leechers, 32 MiB, 20 Mbit/s uplinks',
    leechers: 12,
    sizeMiB: 32,
    seederMbit: 20,
    leecherMbit: Array(12).fill(20),
  },
  {
    name: 'hetero',
    summary: '6 leechers, 64 MiB, 40 Mbit/s uplinks but one leecher at 160',
    leechers: 6,
    sizeMiB: 64,
    seederMbit: 40,
    leecherMbit: [160, 40, 40, 40, 40, 40],
  },
  {
    name: 'leave',
    summary: '6 leechers, 64 MiB, 40 Mbit/s; the seeder leaves after uploading one copy',
    leechers: 6,
    sizeMiB: 64,
    seederMbit: 40,
    leecherMbit: Array(6).fill(40),
    seederLeavesAfterCopies: 1,
  },
];

type Client = 'bitswarm' | 'libtorrent';

interface RunResult {
  client: Client;
  /** Seconds from the common start to each leecher's completion (NaN: did not complete). */
  completions: number[];
  last: number;
  /** What the seeder's client says it uploaded (payload), in copies of the file. */
  seederCopies: number;
  /** Bytes the seeder's interface sent (tc counters: payload and headers), in copies. */
  seederWireCopies: number;
  /** Seconds after the start at which the seeder left (the `leave` scenario). */
  seederLeftAt?: number;
  /** What the seeder's connections had delivered when it left (TCP acknowledged), in copies. */
  seederDeliveredCopies?: number;
}

function lowerBoundSec(s: Scenario, sizeBytes: number): number {
  const bps = (mbit: number): number => (mbit * 1e6) / 8;
  const us = bps(s.seederMbit);
  const sum = s.leecherMbit.reduce((a, m) => a + bps(m), 0);
  return Math.max(sizeBytes / us, (s.leechers * sizeBytes) / (us + sum));
}

async function tc(lan: NetnsLan, ns: string, args: string[]): Promise<string> {
  const r = await lan.exec(ns, 'tc', args, { timeoutMs: 10_000 });
  if (r.code !== 0) throw new Error(`tc ${args.join(' ')}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** Bytes sent so far through the htb root of `ns`. */
/** A piece message's header (length, id, index, offset) before each block. */
const PIECE_HEADER_BYTES = 13;
const BLOCK_BYTES = 16 * 1024;
/** The `leave` seeder waits at most this long after its client counted a copy (see runOnce). */
const LEAVE_DRAIN_MS = 2000;

/**
 * Bytes the connections of the host in `ns` had acknowledged by their peers (TCP `bytes_acked`, from
 * `ss`): what it delivered, not what it handed to its sockets. `seen` keeps each connection's
 * largest count, so that one closed since an earlier call still counts.
 */
async function deliveredBytes(lan: NetnsLan, ns: string, seen: Map<string, number>): Promise<number> {
  const r = await lan.exec(ns, 'ss', ['-tinH', 'state', 'connected']);
  let conn: string | undefined;
  for (const line of r.stdout.split('\n')) {
    if (!/^\s/.test(line)) {
      conn = line.trim().split(/\s+/).slice(-2).join(' ');
      continue;
    }
    const m = /bytes_acked:(\d+)/.exec(line);
    // bytes_acked counts the SYN as one byte.
    if (conn && m) seen.set(conn, Math.max(seen.get(conn) ?? 0, Number(m[1]) - 1));
  }
  let total = 0;
  for (const v of seen.values()) total += v;
  return total;
}

async function sentBytes(lan: NetnsLan, ns: string): Promise<number> {
  const out = await tc(lan, ns, ['-s', 'qdisc', 'show', 'dev', 'eth0']);
  const m = /qdisc htb 1: root[^\n]*\n\s*Sent (\d+) bytes/.exec(out);
  return m ? Number(m[1]) : Number.NaN;
}

async function capUplink(lan: NetnsLan, ns: string, mbit: number): Promise<void> {
  await lan.exec(ns, 'tc', ['qdisc', 'del', 'dev', 'eth0', 'root']);
  for (const c of htbTcCommands('eth0', { rateMbit: mbit }) ?? []) await tc(lan, ns, c);
}

function uploadedOf(p: LanPeer): number {
  for (let i = p.events.length - 1; i >= 0; i--) {
    const u = p.events[i]!.uploaded;
    if (typeof u === 'number') return u;
  }
  return 0;
}

function start(lan: NetnsLan, host: number, client: Client, name: string, args: string[]): LanPeer {
  return spawnLanPeer(lan, host, name, args, client === 'bitswarm' ? undefined : LT_DRIVER);
}

async function runOnce(
  lan: NetnsLan,
  s: Scenario,
  client: Client,
  torrent: string,
  seedDir: string,
  root: string,
  sizeBytes: number,
): Promise<RunResult> {
  const addr = (i: number): string => lan.addresses[i]!;
  const peers: LanPeer[] = [];
  const timeoutMs = Math.max(120_000, lowerBoundSec(s, sizeBytes) * 8000);
  try {
    const tracker = start(lan, 0, 'bitswarm', 'tracker', [
      'tracker',
      '--bind',
      addr(0),
      '--port',
      TRACKER_PORT,
      '--json',
    ]);
    peers.push(tracker);
    await tracker.waitEvent('listening', 30_000);
    // Fresh counters for this run.
    await capUplink(lan, lan.namespaces[1]!, s.seederMbit);
    for (let i = 0; i < s.leechers; i++) await capUplink(lan, lan.namespaces[i + 2]!, s.leecherMbit[i]!);
    const common = ['--bind', addr(1), '--port', PORT];
    const seeder =
      client === 'bitswarm'
        ? start(lan, 1, client, 'seeder', [
            'seed',
            torrent,
            '-d',
            seedDir,
            ...common,
            '--no-dht',
            '--no-lsd',
            '--json',
          ])
        : start(lan, 1, client, 'seeder', ['--torrent', torrent, '--dir', seedDir, ...common]);
    peers.push(seeder);
    await seeder.waitEvent('start', 60_000);
    // Its first announce reaches the tracker before any leecher asks.
    await new Promise((r) => setTimeout(r, 1500));
    const wire0 = await sentBytes(lan, lan.namespaces[1]!);
    const t0 = Date.now();
    const leechers: LanPeer[] = [];
    for (let i = 0; i < s.leechers; i++) {
      const host = i + 2;
      const dir = join(root, `${client}-${i}`);
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { recursive: true });
      const args = ['--bind', addr(host), '--port', PORT];
      leechers.push(
        client === 'bitswarm'
          ? start(lan, host, client, `L${i}`, [
              'download',
              torrent,
              '-d',
              dir,
              ...args,
              '--no-dht',
              '--no-lsd',
              '--seed',
              '--json',
            ])
          : start(lan, host, client, `L${i}`, ['--torrent', torrent, '--dir', dir, ...args]),
      );
    }
    peers.push(...leechers);
    let seederLeftAt: number | undefined;
    let seederUploadAtLeave = 0;
    let wireAtLeave = Number.NaN;
    let deliveredAtLeave = Number.NaN;
    const leave = s.seederLeavesAfterCopies;
    const watcher =
      leave === undefined
        ? undefined
        : (async () => {
            // It leaves once its connections have delivered a copy (acknowledged by TCP): what its
            // client counts is what it handed to its sockets, part of which may still be in their
            // buffers and the uplink's queue, and a SIGKILL would take that part with it. `ss` is
            // read all along, so that connections closed by then still count. Should that never
            // add up, it leaves LEAVE_DRAIN_MS after its client counted a copy.
            const acked = new Map<string, number>();
            const copy = leave * sizeBytes * (1 + PIECE_HEADER_BYTES / BLOCK_BYTES);
            let countedAt: number | undefined;
            for (;;) {
              deliveredAtLeave = await deliveredBytes(lan, lan.namespaces[1]!, acked);
              if (!seeder.running || deliveredAtLeave >= copy) break;
              if (countedAt === undefined && uploadedOf(seeder) >= leave * sizeBytes) countedAt = Date.now();
              if (countedAt !== undefined && Date.now() - countedAt >= LEAVE_DRAIN_MS) break;
              await new Promise((r) => setTimeout(r, 100));
            }
            wireAtLeave = (await sentBytes(lan, lan.namespaces[1]!)) - wire0;
            seederUploadAtLeave = uploadedOf(seeder);
            seederLeftAt = (Date.now() - t0) / 1000;
            await seeder.kill('SIGKILL');
          })();
    const trace = verbose
      ? setInterval(() => {
          const mib = (x: number): string => (x / MIB).toFixed(1);
          console.log(
            `     t=${f1((Date.now() - t0) / 1000)} s seeder up ${mib(uploadedOf(seeder))} MiB; leechers have ${leechers.map((p) => mib(p.verifiedBytes)).join(' ')}; up ${leechers.map((p) => mib(uploadedOf(p))).join(' ')}`,
          );
        }, 1000)
      : undefined;
    await Promise.all(leechers.map((p) => p.waitEvent('complete', timeoutMs).catch(() => undefined)));
    clearInterval(trace);
    if (verbose) {
      const at = (p: LanPeer, ev: string): string => {
        const e = p.events.find((x) => x.event === ev);
        return e ? f1((e.time - t0) / 1000) : '-';
      };
      for (const p of leechers)
        console.log(
          `     ${p.name}: start ${at(p, 'start')} s, first peer ${at(p, 'peer')} s, complete ${at(p, 'complete')} s`,
        );
    }
    await watcher;
    const completions = leechers.map((p) => ((p.completedAtMs ?? Number.NaN) - t0) / 1000);
    let seederBytes = seederUploadAtLeave;
    let wire = wireAtLeave;
    if (leave === undefined) {
      // The seeder's next progress line counts what it sent up to the last completion.
      await new Promise((r) => setTimeout(r, 1200));
      seederBytes = uploadedOf(seeder);
      wire = (await sentBytes(lan, lan.namespaces[1]!)) - wire0;
    }
    return {
      client,
      completions,
      last: Math.max(...completions),
      seederCopies: seederBytes / sizeBytes,
      seederWireCopies: wire / sizeBytes,
      ...(seederLeftAt !== undefined
        ? { seederLeftAt, seederDeliveredCopies: deliveredAtLeave / sizeBytes }
        : {}),
    };
  } finally {
    await Promise.all(peers.map((p) => p.kill('SIGKILL')));
    for (let i = 0; i < s.leechers; i++)
      await rm(join(root, `${client}-${i}`), { recursive: true, force: true });
  }
}

const f1 = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : 'DNF');
const f2 = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : 'DNF');
const f3 = (x: number): string => (Number.isFinite(x) ? x.toFixed(3) : '?');

async function runScenario(
  s: Scenario,
  sizeMiB: number,
  runs: number,
  clients: readonly Client[],
): Promise<Map<Client, RunResult[]>> {
  const sizeBytes = sizeMiB * MIB;
  const bound = lowerBoundSec(s, sizeBytes);
  console.log(`\n== ${s.name}: ${s.summary}${sizeMiB !== s.sizeMiB ? ` (size ${sizeMiB} MiB)` : ''}`);
  console.log(
    `   lower bound max(F/u_s, N·F/(u_s+Σu_i)) = ${f1(bound)} s (seeder ${s.seederMbit} Mbit/s, leechers ${s.leecherMbit.join('/')} Mbit/s)`,
  );
  const { dir: root } = await makeTempDir(`bench-swarm-${s.name}`);
  const lan = await createLan(s.leechers + 2);
  const results = new Map<Client, RunResult[]>(clients.map((c) => [c, []]));
  try {
    await assertIsolated(lan);
    const seedDir = join(root, 'seed');
    await mkdir(seedDir, { recursive: true });
    await generate(join(seedDir, 'swarm.bin'), sizeBytes, 11);
    const torrent = join(root, 'swarm.torrent');
    const made = await lan.exec(
      lan.namespaces[0]!,
      process.execPath,
      [
        bitswarmBin,
        'create',
        join(seedDir, 'swarm.bin'),
        '-o',
        torrent,
        '-a',
        `${lan.addresses[0]}:${TRACKER_PORT}`,
        '-q',
        '--no-date',
      ],
      { timeoutMs: 120_000 },
    );
    if (made.code !== 0) throw new Error(`create: ${made.stderr.trim()}`);
    for (let r = 0; r < runs; r++) {
      for (const client of r % 2 ? [...clients].reverse() : clients) {
        const res = await runOnce(lan, s, client, torrent, seedDir, root, sizeBytes);
        results.get(client)!.push(res);
        console.log(
          `   ${client.padEnd(10)} run ${r + 1}: leechers ${res.completions.map(f1).join(' ')} s; last ${f1(res.last)} s = ${f2(res.last / bound)}× bound; seeder uploaded ${f2(res.seederCopies)} copies (${f2(res.seederWireCopies)} on the wire)${res.seederLeftAt !== undefined ? `, left at ${f1(res.seederLeftAt)} s having delivered ${f3(res.seederDeliveredCopies ?? Number.NaN)} copies` : ''}`,
        );
      }
    }
  } finally {
    await lan.teardown();
    await rm(root, { recursive: true, force: true });
  }
  for (const client of clients) {
    const rs = results.get(client)!;
    const last = median(rs.map((r) => r.last));
    console.log(
      `   ${client.padEnd(10)} median of ${rs.length}: last ${f1(last)} s, ratio ${f2(last / bound)}, seeder ${f2(median(rs.map((r) => r.seederCopies)))} copies`,
    );
  }
  return results;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      scenario: { type: 'string', multiple: true },
      size: { type: 'string' },
      runs: { type: 'string' },
      only: { type: 'string' },
      verbose: { type: 'boolean' },
    },
  });
  verbose = values.verbose === true;
  const names = values.scenario ?? SCENARIOS.map((s) => s.name);
  const chosen: Scenario[] = [];
  for (const n of names) {
    const s = SCENARIOS.find((x) => x.name === n);
    if (!s) {
      console.error(`bench:swarm: no scenario ${n} (${SCENARIOS.map((x) => x.name).join(', ')})`);
      return 2;
    }
    chosen.push(s);
  }
  const size = values.size === undefined ? undefined : Number(values.size);
  if (size !== undefined && !(Number.isInteger(size) && size > 0 && size <= 4096)) {
    console.error(`bench:swarm: --size takes MiB, 1–4096 (got ${values.size})`);
    return 2;
  }
  const runs = Number(values.runs ?? 1);
  if (!(Number.isInteger(runs) && runs >= 1 && runs <= 20)) {
    console.error(`bench:swarm: --runs takes 1–20 (got ${values.runs})`);
    return 2;
  }
  const clients: Client[] =
    values.only === 'bitswarm'
      ? ['bitswarm']
      : values.only === 'libtorrent'
        ? ['libtorrent']
        : ['bitswarm', 'libtorrent'];
  if (values.only !== undefined && clients.length !== 1) {
    console.error(`bench:swarm: --only takes bitswarm or libtorrent (got ${values.only})`);
    return 2;
  }
  const summary: string[] = [];
  let ok = true;
  for (const s of chosen) {
    const sizeMiB = size ?? s.sizeMiB;
    const res = await runScenario(s, sizeMiB, runs, clients);
    const bound = lowerBoundSec(s, sizeMiB * MIB);
    const med = (c: Client): { ratio: number; copies: number } => {
      const rs = res.get(c) ?? [];
      return {
        ratio: rs.length ? median(rs.map((r) => r.last)) / bound : Number.NaN,
        copies: rs.length ? median(rs.map((r) => r.seederCopies)) : Number.NaN,
      };
    };
    const b = med('bitswarm');
    const l = med('libtorrent');
    const checks = [`ratio ${f2(b.ratio)} ≤ 1.3: ${b.ratio <= 1.3 ? 'yes' : 'NO'}`];
    if (clients.length === 2)
      checks.push(
        // libtorrent not completing (DNF) counts as slower than any bitswarm that did.
        `≤ libtorrent's ${f2(l.ratio)}: ${b.ratio <= l.ratio || (Number.isFinite(b.ratio) && !Number.isFinite(l.ratio)) ? 'yes' : 'NO'}`,
      );
    if (s.name === 'six')
      checks.push(`seeder ${f2(b.copies)} copies ≤ 1.1: ${b.copies <= 1.1 ? 'yes' : 'NO'}`);
    if (checks.some((c) => c.endsWith('NO'))) ok = false;
    summary.push(`${s.name.padEnd(7)} bitswarm ${checks.join('; ')}`);
  }
  console.log(`\n${summary.join('\n')}`);
  return ok ? 0 : 1;
}

process.exitCode = await main();
