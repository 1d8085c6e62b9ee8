// The simulator's scenarios: each builds a swarm, runs it in virtual time and returns a summary (the
// same lines for the same seed and size) and the checks that must hold. To add one, write a function
// like those below and list it in SCENARIOS; the CLI (`npm run sim`) and the unit tests pick it up.

import { dhtLookups } from './dht.js';
import { type PeerSpec, type SimPeer, SimSwarm, type SwarmOptions } from './harness.js';
import type { LinkSpec } from './sim-network.js';

export interface ScenarioOptions {
  peers: number;
  seed: number;
}

export interface ScenarioResult {
  /** The summary: the same lines for the same options. */
  lines: string[];
  /** Named assertions; the run passes when every one holds. */
  checks: { name: string; ok: boolean }[];
  /** Virtual milliseconds the run took. */
  virtualMs: number;
}

export interface Scenario {
  name: string;
  description: string;
  /** Leechers when --peers is not given. */
  defaultPeers: number;
  run(o: ScenarioOptions): Promise<ScenarioResult>;
}

const KiB = 1024;
const MiB = 1024 * KiB;

const SEEDER_LINK: LinkSpec = { upBytesPerSec: 2 * MiB, downBytesPerSec: 2 * MiB, latencyMs: 20 };

/** A home connection: upload 128 KiB/s to 1 MiB/s, download 4 times that, 5–60 ms, a little loss. */
function homeLink(random: () => number): LinkSpec {
  const up = [128 * KiB, 256 * KiB, 512 * KiB, 1 * MiB][Math.floor(random() * 4)]!;
  return {
    upBytesPerSec: up,
    downBytesPerSec: up * 4,
    latencyMs: 5 + Math.floor(random() * 56),
    loss: random() < 0.5 ? 0 : 0.002,
  };
}

function swarmOf(o: ScenarioOptions, extra: Partial<SwarmOptions> = {}): SimSwarm {
  return new SimSwarm({ seed: o.seed, totalBytes: 256 * KiB, pieceLength: 32 * KiB, ...extra });
}

function addLeechers(sw: SimSwarm, n: number, joinWithinMs: number, spec: Partial<PeerSpec> = {}): SimPeer[] {
  const out: SimPeer[] = [];
  for (let i = 0; i < n; i++) {
    out.push(
      sw.addPeer({
        role: 'leecher',
        link: homeLink(sw.random),
        joinAtMs: Math.floor(sw.random() * joinWithinMs),
        ...spec,
      }),
    );
  }
  return out;
}

const allDone = (sw: SimSwarm, leechers: readonly SimPeer[]) => (): boolean =>
  sw.leechersDone >= leechers.length;

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

const sec = (ms: number): string => (ms / 1000).toFixed(3);

/** The lines every scenario prints: completion times, upload per peer, redundant bytes. */
function summarize(name: string, o: ScenarioOptions, sw: SimSwarm, leechers: readonly SimPeer[]): string[] {
  const m = sw.metainfo;
  const done = leechers.filter((p) => p.completedAtMs !== undefined);
  const times = done.map((p) => p.completedAtMs! - p.joinedAtMs!).sort((a, b) => a - b);
  const lines = [
    `scenario ${name} seed ${o.seed} peers ${o.peers}`,
    `torrent ${m.totalLength} bytes, ${m.pieceCount} pieces of ${m.pieceLength}`,
    `virtual time ${sec(sw.clock.elapsedMs)} s, ${sw.clock.events} events`,
    `leechers complete ${done.length}/${leechers.length}`,
  ];
  if (times.length > 0) {
    lines.push(
      `completion s (join to complete): min ${sec(times[0]!)} median ${sec(quantile(times, 0.5))} p90 ${sec(quantile(times, 0.9))} max ${sec(times[times.length - 1]!)}`,
    );
  }
  for (const role of ['seeder', 'leecher', 'corrupt'] as const) {
    const ups = sw
      .of(role)
      .map((p) => p.torrent?.uploadedBytes ?? 0)
      .sort((a, b) => a - b);
    if (ups.length === 0) continue;
    const total = ups.reduce((a, b) => a + b, 0);
    lines.push(
      `upload ${role} (${ups.length}): total ${total} bytes (${(total / m.totalLength).toFixed(2)} copies), per peer min ${ups[0]} median ${quantile(ups, 0.5)} max ${ups[ups.length - 1]}`,
    );
  }
  let downloaded = 0;
  let wasted = 0;
  for (const p of sw.peers) {
    downloaded += p.torrent?.downloadedBytes ?? 0;
    wasted += p.torrent?.wastedBytes ?? 0;
  }
  lines.push(
    `payload received ${downloaded} bytes, redundant ${wasted} bytes (${downloaded > 0 ? ((100 * wasted) / downloaded).toFixed(2) : '0.00'} %: duplicates and failed pieces)`,
  );
  lines.push(
    `network bytes sent ${sw.net.bytesCarried}, lost to closed connections ${sw.net.bytesDropped} (uploads queued when the receiver hung up)`,
  );
  return lines;
}

function finish(
  name: string,
  o: ScenarioOptions,
  sw: SimSwarm,
  leechers: readonly SimPeer[],
  checks: { name: string; ok: boolean }[],
  extra: string[] = [],
): ScenarioResult {
  return { lines: [...summarize(name, o, sw, leechers), ...extra], checks, virtualMs: sw.clock.elapsedMs };
}

/** 1 seeder, N leechers joining over 10 s, a fifth of them behind NATs: everyone completes. */
async function oneSeeder(o: ScenarioOptions): Promise<ScenarioResult> {
  const sw = swarmOf(o);
  sw.addPeer({ role: 'seeder', link: SEEDER_LINK });
  const leechers: SimPeer[] = [];
  for (let i = 0; i < o.peers; i++) {
    leechers.push(
      sw.addPeer({
        role: 'leecher',
        link: homeLink(sw.random),
        joinAtMs: Math.floor(sw.random() * 10_000),
        nat: i % 5 === 4,
      }),
    );
  }
  await sw.run(allDone(sw, leechers), 600_000);
  await sw.stop();
  const natted = leechers.filter((p) => p.spec.nat);
  return finish('one-seeder', o, sw, leechers, [
    { name: 'every leecher completes', ok: leechers.every((p) => p.done) },
    { name: 'leechers behind NATs complete', ok: natted.every((p) => p.done) },
    {
      name: 'leechers upload (the seeder is not the only source)',
      ok: sw.of('leecher').some((p) => (p.torrent?.uploadedBytes ?? 0) > 0),
    },
  ]);
}

/**
 * The shape of bench:swarm at scale: 1 seeder and N leechers with the same uplink, all joining at
 * once; the last completion against the lower bound max(F/u_s, N·F/(u_s + Σu_i)) and the seeder's
 * upload in copies of the file. Initial seeding is automatic (the default); SIM_SUPER_SEED=1 forces it, 0 turns it off.
 */
async function bound(o: ScenarioOptions): Promise<ScenarioResult> {
  const up = 256 * KiB;
  const link: LinkSpec = { upBytesPerSec: up, downBytesPerSec: 4 * up, latencyMs: 20 };
  const env = process.env.SIM_SUPER_SEED;
  const sw = swarmOf(o, {
    totalBytes: 512 * KiB,
    pieceLength: 16 * KiB,
    superSeed: env === '0' ? false : env === '1' ? true : 'auto',
  });
  const seeder = sw.addPeer({ role: 'seeder', link });
  const leechers = addLeechers(sw, o.peers, 0, { link });
  await sw.run(allDone(sw, leechers), 600_000);
  await sw.stop();
  const F = sw.metainfo.totalLength;
  const lower = Math.max(F / up, (o.peers * F) / (up * (o.peers + 1)));
  const last = Math.max(...leechers.map((p) => (p.completedAtMs ?? Number.NaN) - p.joinedAtMs!)) / 1000;
  const copies = (seeder.torrent?.uploadedBytes ?? 0) / F;
  const ratio = last / lower;
  return finish(
    'bound',
    o,
    sw,
    leechers,
    [
      { name: 'every leecher completes', ok: leechers.every((p) => p.done) },
      // Initial seeding keeps the seeder near one copy (about 4 without it, seed 1 at 200 peers).
      { name: 'the seeder uploads at most 2 copies', ok: copies <= 2 },
      { name: 'the last leecher completes within 6× the lower bound', ok: ratio <= 6 },
    ],
    [
      `lower bound ${lower.toFixed(3)} s, last completion ${last.toFixed(3)} s: ${ratio.toFixed(2)}×; seeder uploaded ${copies.toFixed(2)} copies`,
    ],
  );
}

/** 1 seeder and N leechers that all arrive within 2 s. */
async function flashCrowd(o: ScenarioOptions): Promise<ScenarioResult> {
  const sw = swarmOf(o, { totalBytes: 128 * KiB });
  sw.addPeer({ role: 'seeder', link: SEEDER_LINK });
  const leechers = addLeechers(sw, o.peers, 2_000);
  await sw.run(allDone(sw, leechers), 900_000);
  await sw.stop();
  return finish('flash-crowd', o, sw, leechers, [
    { name: 'every leecher completes', ok: leechers.every((p) => p.done) },
  ]);
}

/**
 * The only seeder leaves once the leechers hold 30 % of their pieces on average: every leecher ends
 * with every piece that was still in the swarm (all of them, when the leechers held each piece).
 */
async function seederLeaves(o: ScenarioOptions): Promise<ScenarioResult> {
  const sw = swarmOf(o);
  const seeder = sw.addPeer({ role: 'seeder', link: { ...SEEDER_LINK, upBytesPerSec: 512 * KiB } });
  const leechers = addLeechers(sw, o.peers, 5_000);
  const m = sw.metainfo;
  let union: boolean[] | undefined;
  let unionPieces = 0;
  let settled = false;
  const watch = sw.clock.setInterval(() => {
    if (union === undefined) {
      let verified = 0;
      for (const p of leechers) verified += p.torrent?.verifiedBytes ?? 0;
      if (verified < 0.3 * m.totalLength * leechers.length) return;
      union = [];
      for (let i = 0; i < m.pieceCount; i++) union.push(leechers.some((p) => p.torrent?.bitfield.get(i)));
      unionPieces = union.filter(Boolean).length;
      void seeder.leave();
      return;
    }
    const u = union;
    settled = leechers.every((p) => u.every((has, i) => !has || p.torrent?.bitfield.get(i)));
  }, 500);
  await sw.run(() => settled, 900_000);
  sw.clock.clearInterval(watch);
  await sw.stop();
  const left = seeder.leftAtMs;
  return finish(
    'seeder-leaves',
    o,
    sw,
    leechers,
    [
      { name: 'the seeder left', ok: left !== undefined },
      { name: 'every leecher gets every piece left in the swarm', ok: settled },
      {
        name: 'all complete when the leechers held every piece',
        ok: unionPieces < m.pieceCount || leechers.every((p) => p.done),
      },
    ],
    [
      `seeder left at ${left === undefined ? '-' : sec(left)} s; pieces left in the swarm ${unionPieces}/${m.pieceCount}`,
    ],
  );
}

/** A tenth as many peers as leechers claim to seed and send garbage: they get banned, the rest completes. */
async function corruptPeers(o: ScenarioOptions): Promise<ScenarioResult> {
  const sw = swarmOf(o);
  sw.addPeer({ role: 'seeder', link: SEEDER_LINK });
  const bad = Math.max(1, Math.round(o.peers / 10));
  for (let i = 0; i < bad; i++) sw.addPeer({ role: 'corrupt', link: homeLink(sw.random), joinAtMs: i * 100 });
  const leechers = addLeechers(sw, o.peers, 5_000);
  await sw.run(allDone(sw, leechers), 900_000);
  await sw.stop();
  const badHosts = new Set(sw.of('corrupt').map((p) => p.host.ip));
  const bannedBad = new Set<string>();
  let honestBanned = 0;
  for (const p of leechers) {
    for (const h of p.banned) {
      if (badHosts.has(h)) bannedBad.add(h);
      else honestBanned++;
    }
  }
  return finish(
    'corrupt-peers',
    o,
    sw,
    leechers,
    [
      { name: 'every honest leecher completes', ok: leechers.every((p) => p.done) },
      { name: 'no honest peer is banned', ok: honestBanned === 0 },
      { name: 'every corrupt peer is banned by someone', ok: bannedBad.size === badHosts.size },
    ],
    [`corrupt peers ${badHosts.size}, banned by someone ${bannedBad.size}, honest bans ${honestBanned}`],
  );
}

/**
 * Half the leechers start cut off from the seeder and the other half (a partition); it heals after
 * 60 s. Nothing crosses before; everyone completes after.
 */
async function partition(o: ScenarioOptions): Promise<ScenarioResult> {
  const sw = swarmOf(o);
  sw.addPeer({ role: 'seeder', link: SEEDER_LINK });
  const leechers = addLeechers(sw, o.peers, 5_000);
  const cut = leechers.filter((_, i) => i % 2 === 1);
  for (const p of cut) sw.net.setGroup(p.host, 1);
  const healAtMs = 60_000;
  let cutBytesAtHeal = -1;
  sw.clock.at(healAtMs, () => {
    cutBytesAtHeal = cut.reduce((n, p) => n + (p.torrent?.verifiedBytes ?? 0), 0);
    for (const p of cut) sw.net.setGroup(p.host, 0);
  });
  await sw.run(allDone(sw, leechers), 900_000);
  await sw.stop();
  const lastCut = Math.max(...cut.map((p) => p.completedAtMs ?? Number.POSITIVE_INFINITY));
  return finish(
    'partition',
    o,
    sw,
    leechers,
    [
      { name: 'nothing reaches the cut-off half before the heal', ok: cutBytesAtHeal === 0 },
      { name: 'every leecher completes after the heal', ok: leechers.every((p) => p.done) },
    ],
    [`healed at ${sec(healAtMs)} s; last cut-off leecher complete at ${sec(lastCut)} s`],
  );
}

/**
 * The tracker names 2 peers per announce and is not asked again: the leechers find the rest of the
 * swarm by peer exchange (BEP 11).
 */
async function pexOnly(o: ScenarioOptions): Promise<ScenarioResult> {
  const sw = swarmOf(o, {
    numwant: 2,
    announceIntervalSec: 3600,
    totalBytes: 1024 * KiB,
    pieceLength: 64 * KiB,
  });
  sw.addPeer({ role: 'seeder', link: SEEDER_LINK });
  const leechers = addLeechers(sw, o.peers, 5_000);
  await sw.run(allDone(sw, leechers), 900_000);
  const known = leechers.map((p) => p.torrent?.candidateCounts() ?? { tracker: 0, pex: 0 });
  const viaPex = leechers.filter((p) => (p.glue?.learnedByPex ?? 0) > 0).length;
  await sw.stop();
  const mean = (f: (c: { tracker: number; pex: number }) => number): string =>
    (known.reduce((a, c) => a + f(c), 0) / Math.max(1, known.length)).toFixed(1);
  return finish(
    'pex',
    o,
    sw,
    leechers,
    [
      { name: 'every leecher completes', ok: leechers.every((p) => p.done) },
      { name: 'most leechers (≥ 2/3) learn peers by PEX', ok: viaPex * 3 >= leechers.length * 2 },
    ],
    [
      `addresses known per leecher at the end: from the tracker ${mean((c) => c.tracker)}, by PEX ${mean((c) => c.pex)}; leechers that learned by PEX ${viaPex}/${leechers.length}`,
    ],
  );
}

/**
 * A third of the leechers vanish without a word (crash, cable pulled) between 1 s and 4 s, and as
 * many new ones join meanwhile: every leecher that stays completes (its requests to the vanished
 * peers time out and go to others).
 */
async function churn(o: ScenarioOptions): Promise<ScenarioResult> {
  const sw = swarmOf(o, { totalBytes: 1024 * KiB, pieceLength: 64 * KiB });
  sw.addPeer({ role: 'seeder', link: SEEDER_LINK });
  const first = addLeechers(sw, o.peers, 2_000);
  const gone = first.filter(() => sw.random() < 1 / 3);
  for (const p of gone) sw.clock.at(1_000 + Math.floor(sw.random() * 3_000), () => void p.crash());
  const late: SimPeer[] = [];
  for (let i = 0; i < gone.length; i++) {
    late.push(
      sw.addPeer({
        role: 'leecher',
        link: homeLink(sw.random),
        joinAtMs: 1_000 + Math.floor(sw.random() * 4_000),
      }),
    );
  }
  const stayers = [...first.filter((p) => !gone.includes(p)), ...late];
  let settled = false;
  const watch = sw.clock.setInterval(() => {
    settled = stayers.every((p) => p.done);
  }, 250);
  await sw.run(() => settled, 900_000);
  sw.clock.clearInterval(watch);
  await sw.stop();
  const doneBeforeCrash = gone.filter(
    (p) => p.completedAtMs !== undefined && p.completedAtMs <= p.leftAtMs!,
  ).length;
  return finish(
    'churn',
    o,
    sw,
    stayers,
    [{ name: 'every leecher that stays completes', ok: stayers.every((p) => p.done) }],
    [`vanished ${gone.length} (${doneBeforeCrash} of them complete first), joined late ${late.length}`],
  );
}

export const SCENARIOS: readonly Scenario[] = [
  {
    name: 'one-seeder',
    description: '1 seeder + N leechers (a fifth behind NATs) joining over 10 s: all complete',
    defaultPeers: 200,
    run: oneSeeder,
  },
  {
    name: 'flash-crowd',
    description: '1 seeder + N leechers arriving within 2 s: all complete',
    defaultPeers: 1000,
    run: flashCrowd,
  },
  {
    name: 'seeder-leaves',
    description:
      'the only seeder leaves at 30 % average progress: every piece left in the swarm reaches everyone',
    defaultPeers: 200,
    run: seederLeaves,
  },
  {
    name: 'corrupt-peers',
    description:
      'N leechers + N/10 peers sending corrupt data: they are banned, every honest leecher completes',
    defaultPeers: 200,
    run: corruptPeers,
  },
  {
    name: 'partition',
    description: 'half the leechers cut off from the rest for 60 s: the partition heals, all complete',
    defaultPeers: 200,
    run: partition,
  },
  {
    name: 'pex',
    description:
      'the tracker names 2 peers per announce, once: the leechers find the rest by PEX and all complete',
    defaultPeers: 100,
    run: pexOnly,
  },
  {
    name: 'churn',
    description:
      'a third of N leechers vanish without a word mid-download, as many join late: all who stay complete',
    defaultPeers: 100,
    run: churn,
  },
  {
    name: 'bound',
    description:
      '1 seeder + N leechers, equal uplinks, all at once: last completion vs the lower bound, seeder upload in copies',
    defaultPeers: 200,
    run: bound,
  },
  {
    name: 'dht',
    description:
      'N DHT nodes (real DhtNodes, KRPC over the simulated network): 20 lookups converge in ≤ 8 hops',
    defaultPeers: 10_000,
    run: dhtLookups,
  },
];

export function scenarioNamed(name: string): Scenario | undefined {
  return SCENARIOS.find((s) => s.name === name);
}
