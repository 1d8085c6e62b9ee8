// Benchmark of the transfer engine: one seeder to one leecher over loopback, a single-file torrent
// of 1 GiB (BENCH_TRANSFER_MB to change it) with 256 KiB pieces, BENCH_TRANSFER_RUNS runs (default 3)
// of each pair: bitswarm→bitswarm, libtorrent→libtorrent, libtorrent→bitswarm, and the same two
// first ones with protocol encryption required on both sides (RC4; BENCH_TRANSFER_PAIRS, a
// comma-separated list of bb, ll, lb, bl, bbe, lle, bbu, lbu, llu picks others; `--encrypted` runs bb,
// bbe and lle only; the *u pairs run over uTP only, BEP 29: opt-in, not in the default list). Prints the median wall time, the leecher's CPU seconds and peak RSS, and the ratios
// against libtorrent→libtorrent. `--v2` makes the torrent v2-only (BEP 52: every piece checked by its
// SHA-256 merkle hash on both sides) and runs bb, ll and lb.
// Targets: bitswarm→bitswarm at least as fast as libtorrent→libtorrent; the bitswarm leecher under
// 200 MB peak RSS; its CPU seconds per GiB within 1.5× libtorrent's leecher. Encrypted: bitswarm at
// least as fast as libtorrent, both encrypted; its leecher's CPU within 1.2× its own plaintext CPU.
//
// Wall time is from starting the leecher until it reports every piece verified and written to the
// OS, the same moment for both: libtorrent's `complete` line (its torrent is seeding; the data may be
// in the page cache only), bitswarm's `verified` line. bitswarm then flushes the data to disk before
// it exits 0; that time is printed too ("flushed"), and depends on the disk more than on the engine.
// bitswarm runs as users run it (node bin/bitswarm.js). The seeder starts first and has checked its data before the clock starts. The
// data lives in a temp dir on the same disk, the seeder's file in the page cache; the leecher's
// folder is deleted and the disk synced between runs, and right before each leecher starts, as much
// memory as it writes (and 256 MiB more) is written and freed (common.ts, recyclePageCache: on a
// virtual machine, writes into memory the host took back cost ten times the kernel time, and would
// be charged to whichever leecher met them). Everything binds to 127.0.0.1, and when the
// machine allows it the whole run happens in a private network namespace with only loopback.

import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import { availableParallelism, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { killAll, type Proc, run as startProc } from '../test/interop/clients.js';
import {
  BITSWARM_BIN_PATH,
  bitswarmNodeArgs,
  hasExecutable,
  hasPythonLibtorrent,
  makeTempDir,
  runOk,
} from '../test/interop/helpers.js';
import { generate, median, recyclePageCache, warm } from './common.js';

const MIB = 1024 * 1024;
const sizeMiB = Number(process.env.BENCH_TRANSFER_MB ?? 1024);
const runs = Number(process.env.BENCH_TRANSFER_RUNS ?? 3);
const PIECE_LENGTH = 256 * 1024;
const TARGET_RSS_MB = 200;
const TARGET_CPU_RATIO = 1.5;
const TARGET_WALL_RATIO = 1.0;
const TARGET_ENCRYPTED_CPU_RATIO = 1.2;
/** Issue 16: a v2 transfer takes at most this times our own v1 transfer of the same data. */
const TARGET_V2_OWN_V1 = 1.1;
const GNU_TIME = '/usr/bin/time';
const PYTHON = process.env.BITSWARM_PYTHON ?? '/usr/bin/python3';
const here = dirname(fileURLToPath(import.meta.url));
/** Time allowed for one transfer: generous (a slow disk), but a hang must end the benchmark. */
const transferTimeoutMs = Math.max(120_000, sizeMiB * 600);
const SEEDER_READY_MS = Math.max(60_000, sizeMiB * 200);

if (!Number.isInteger(sizeMiB) || sizeMiB < 1)
  throw new Error(`BENCH_TRANSFER_MB: ${sizeMiB} is not a size in MiB`);
if (!Number.isInteger(runs) || runs < 1) throw new Error(`BENCH_TRANSFER_RUNS: ${runs} is not a count`);

const PAIRS = {
  bb: { name: 'bitswarm→bitswarm', seeder: 'bitswarm', leecher: 'bitswarm', encrypted: false },
  /** With --v2: the same data as a v1 torrent (the v2 target is against our own v1 time). */
  bb1: { name: 'bitswarm→bitswarm v1', seeder: 'bitswarm', leecher: 'bitswarm', encrypted: false, v1: true },
  ll: { name: 'libtorrent→libtorrent', seeder: 'libtorrent', leecher: 'libtorrent', encrypted: false },
  lb: { name: 'libtorrent→bitswarm', seeder: 'libtorrent', leecher: 'bitswarm', encrypted: false },
  bl: { name: 'bitswarm→libtorrent', seeder: 'bitswarm', leecher: 'libtorrent', encrypted: false },
  bbe: { name: 'bitswarm→bitswarm RC4', seeder: 'bitswarm', leecher: 'bitswarm', encrypted: true },
  lle: { name: 'libtorrent→libtorrent RC4', seeder: 'libtorrent', leecher: 'libtorrent', encrypted: true },
  bbu: {
    name: 'bitswarm→bitswarm uTP',
    seeder: 'bitswarm',
    leecher: 'bitswarm',
    encrypted: false,
    utp: true,
  },
  lbu: {
    name: 'libtorrent→bitswarm uTP',
    seeder: 'libtorrent',
    leecher: 'bitswarm',
    encrypted: false,
    utp: true,
  },
  llu: {
    name: 'libtorrent→libtorrent uTP',
    seeder: 'libtorrent',
    leecher: 'libtorrent',
    encrypted: false,
    utp: true,
  },
} as const satisfies Record<
  string,
  { name: string; seeder: string; leecher: string; encrypted: boolean; utp?: boolean; v1?: boolean }
>;
type PairId = keyof typeof PAIRS;
type Client = 'bitswarm' | 'libtorrent';

const encryptedOnly = process.argv.includes('--encrypted');
const v2Only = process.argv.includes('--v2');
const pairIds = (
  process.env.BENCH_TRANSFER_PAIRS ??
  (encryptedOnly ? 'bb,bbe,lle' : v2Only ? 'bb,bb1,ll,lb' : 'bb,ll,lb,bbe,lle')
)
  .split(',')
  .map((s) => s.trim());
for (const id of pairIds) if (!(id in PAIRS)) throw new Error(`BENCH_TRANSFER_PAIRS: unknown pair ${id}`);

/** The libtorrent peer script, from the repository (it is not compiled into the build folder). */
function ltScript(): string {
  for (const root of [process.cwd(), resolve(here, '../..'), resolve(here, '../../..')]) {
    const p = join(root, 'test', 'interop', 'lt-peer.py');
    if (existsSync(p)) return p;
  }
  throw new Error('test/interop/lt-peer.py not found: run the benchmark from the repository root');
}

interface Usage {
  cpuS: number;
  maxRssKiB: number;
}

/**
 * Starts a command with its CPU time and peak RSS measured: through GNU time when there is one,
 * else by polling /proc (VmHWM, utime + stime) until it exits, which misses at most the last poll.
 */
function startMeasured(
  cmd: string,
  args: string[],
  usageFile: string,
  gnuTime: boolean,
): { proc: Proc; usage: () => Promise<Usage> } {
  if (gnuTime) {
    const proc = startProc(GNU_TIME, ['-o', usageFile, '-f', '%e %U %S %M', cmd, ...args]);
    return {
      proc,
      usage: async () => {
        await proc.exited;
        const text = (await readFile(usageFile, 'utf8')).trim().split('\n').pop() ?? '';
        const [, user, sys, rss] = text.split(' ').map(Number);
        if (user === undefined || sys === undefined || rss === undefined || Number.isNaN(rss))
          throw new Error(`cannot read GNU time's output: ${text}`);
        return { cpuS: user + sys, maxRssKiB: rss };
      },
    };
  }
  const proc = startProc(cmd, args);
  const pid = proc.child.pid;
  let last: Usage = { cpuS: 0, maxRssKiB: 0 };
  const poll = async (): Promise<void> => {
    try {
      const [status, statLine] = await Promise.all([
        readFile(`/proc/${pid}/status`, 'utf8'),
        readFile(`/proc/${pid}/stat`, 'utf8'),
      ]);
      const hwm = /^VmHWM:\s*(\d+) kB/m.exec(status);
      // fields after the parenthesised command name: utime and stime are the 12th and 13th
      const f = statLine.slice(statLine.lastIndexOf(')') + 2).split(' ');
      const ticks = Number(f[11]) + Number(f[12]);
      last = { cpuS: ticks / 100, maxRssKiB: Math.max(last.maxRssKiB, hwm ? Number(hwm[1]) : 0) };
    } catch {
      // gone already
    }
  };
  const timer = setInterval(() => void poll(), 50);
  return {
    proc,
    usage: async () => {
      await proc.exited;
      clearInterval(timer);
      return last;
    },
  };
}

interface Result {
  /** Until every piece is verified and written to the OS. */
  ms: number;
  /** bitswarm: until it exited, the data flushed to disk. */
  flushedMs?: number;
  cpuS: number;
  maxRssKiB: number;
}

interface Env {
  torrent: string;
  /** With --v2: the data's v1 torrent. */
  torrentV1?: string;
  seedDir: string;
  leechDir: string;
  tmp: string;
  size: number;
  gnuTime: boolean;
}

const BITSWARM_NET = ['--bind', '127.0.0.1', '--no-dht', '--no-lsd', '--no-pex', '--json'];

/** Encryption required, RC4 only, on both sides of an encrypted pair. */
const encryptionArgs = (who: Client, encrypted: boolean): string[] =>
  !encrypted ? [] : who === 'bitswarm' ? ['--encryption', 'require'] : ['--encryption', 'forced'];

/** uTP only (BEP 29) on both sides of a uTP pair; the others run TCP only. */
const transportArgs = (utp: boolean): string[] => ['--transport', utp ? 'utp' : 'tcp'];

async function startSeeder(
  who: Client,
  env: Env,
  encrypted: boolean,
  utp: boolean,
): Promise<{ proc: Proc; port: number }> {
  if (who === 'bitswarm') {
    const proc = startProc(process.execPath, [
      BITSWARM_BIN_PATH,
      'seed',
      env.torrent,
      '-d',
      env.seedDir,
      '--port',
      '0',
      ...BITSWARM_NET,
      ...encryptionArgs(who, encrypted),
      ...transportArgs(utp),
    ]);
    const start = await proc.waitFor(
      (l) => l.includes('"event":"start"'),
      20_000,
      'the bitswarm seeder to start',
    );
    await proc.waitFor(
      (l) => l.includes('"event":"complete"'),
      SEEDER_READY_MS,
      'the bitswarm seeder to check its data',
    );
    return { proc, port: (JSON.parse(start) as { port: number }).port };
  }
  const proc = startProc(PYTHON, [
    ltScript(),
    '--torrent',
    env.torrent,
    '--dir',
    env.seedDir,
    '--port',
    '0',
    '--timeout',
    '3600',
    ...encryptionArgs(who, encrypted),
    ...transportArgs(utp),
  ]);
  const listening = await proc.waitFor((l) => l.includes('"listening"'), 20_000, 'libtorrent to listen');
  await proc.waitFor(
    (l) => l.includes('"complete"'),
    SEEDER_READY_MS,
    'the libtorrent seeder to check its data',
  );
  return { proc, port: (JSON.parse(listening) as { port: number }).port };
}

async function leech(
  who: Client,
  env: Env,
  seederPort: number,
  runTag: string,
  encrypted: boolean,
  utp: boolean,
): Promise<Result> {
  await rm(env.leechDir, { recursive: true, force: true });
  await mkdir(env.leechDir, { recursive: true });
  const usageFile = join(env.tmp, `usage-${runTag}.txt`);
  const peer = `127.0.0.1:${seederPort}`;
  const [cmd, args] =
    who === 'bitswarm'
      ? [
          process.execPath,
          [
            BITSWARM_BIN_PATH,
            'download',
            env.torrent,
            '-d',
            env.leechDir,
            '--port',
            '0',
            '--peer',
            peer,
            ...BITSWARM_NET,
            ...encryptionArgs(who, encrypted),
            ...transportArgs(utp),
          ],
        ]
      : [
          PYTHON,
          [
            ltScript(),
            '--torrent',
            env.torrent,
            '--dir',
            env.leechDir,
            '--port',
            '0',
            '--peer',
            peer,
            '--exit-when-done',
            '--timeout',
            String(transferTimeoutMs / 1000),
            ...encryptionArgs(who, encrypted),
            ...transportArgs(utp),
          ],
        ];
  // The memory the leecher writes into lies free and recently used, whoever leeches (common.ts).
  await recyclePageCache(join(env.tmp, 'recycle.bin'), env.size + 256 * MIB);
  const t0 = performance.now();
  const { proc, usage } = startMeasured(cmd, args, usageFile, env.gnuTime);
  let ms: number;
  let flushedMs: number | undefined;
  const timeout = setTimeout(() => void proc.kill('SIGKILL'), transferTimeoutMs);
  try {
    if (who === 'bitswarm') {
      await proc.waitFor(
        (l) => l.includes('"event":"verified"'),
        transferTimeoutMs,
        'the bitswarm leecher to verify every piece',
      );
      ms = performance.now() - t0;
      const code = await proc.exited;
      flushedMs = performance.now() - t0;
      if (code !== 0) {
        throw new Error(
          `bitswarm download exited ${code}; last output:\n${proc.output.slice(-10).join('\n')}`,
        );
      }
    } else {
      await proc.waitFor(
        (l) => l.includes('"complete"'),
        transferTimeoutMs,
        'the libtorrent leecher to complete',
      );
      ms = performance.now() - t0;
    }
  } finally {
    clearTimeout(timeout);
  }
  const u = await usage();
  const got = await stat(join(env.leechDir, 'data.bin')).catch(() => undefined);
  if (got?.size !== env.size) throw new Error(`${who} leecher: data.bin is ${got?.size ?? 'missing'} bytes`);
  return { ms, ...(flushedMs !== undefined ? { flushedMs } : {}), ...u };
}

async function oneRun(pair: PairId, env0: Env, i: number): Promise<Result> {
  const p = PAIRS[pair];
  const v1 = 'v1' in p && p.v1;
  if (v1 && !env0.torrentV1) throw new Error(`pair ${pair} needs --v2 (a v1 torrent beside the v2 one)`);
  const env = v1 ? { ...env0, torrent: env0.torrentV1! } : env0;
  const utp = 'utp' in p && p.utp;
  const seeder = await startSeeder(p.seeder, env, p.encrypted, utp);
  try {
    return await leech(p.leecher, env, seeder.port, `${pair}-${i}`, p.encrypted, utp);
  } finally {
    await seeder.proc.kill('SIGTERM');
    await rm(env.leechDir, { recursive: true, force: true });
    // Written data goes to disk now, not during the next run.
    // (stdin ignored: helpers' `run` writes to stdin, which fails with EPIPE once sync has exited)
    await startProc('sync', []).exited;
  }
}

const fmtRun = (pair: PairId, i: number, r: Result): string =>
  `  run ${i + 1} ${PAIRS[pair].name.padEnd(26)} ${(r.ms / 1000).toFixed(2).padStart(7)} s` +
  `  ${((sizeMiB * MIB) / 1e6 / (r.ms / 1000)).toFixed(0).padStart(5)} MB/s` +
  `  leecher cpu ${r.cpuS.toFixed(2).padStart(6)} s  peak RSS ${(r.maxRssKiB / 1024).toFixed(1).padStart(6)} MiB` +
  (r.flushedMs !== undefined ? `  flushed ${(r.flushedMs / 1000).toFixed(2)} s` : '') +
  '\n';

async function main(): Promise<number> {
  const missing: string[] = [];
  if (
    pairIds.some(
      (id) => PAIRS[id as PairId].seeder === 'libtorrent' || PAIRS[id as PairId].leecher === 'libtorrent',
    )
  ) {
    if (!(await hasPythonLibtorrent())) missing.push('python3-libtorrent');
  }
  if (missing.length > 0) {
    process.stderr.write(`bench:transfer needs ${missing.join(', ')} (apt-get install python3-libtorrent)\n`);
    return 1;
  }
  const gnuTime = await hasExecutable(GNU_TIME);
  const tmp = await makeTempDir('bench-transfer');
  const stopOnSignal = (): void => {
    void killAll()
      .then(() => tmp.cleanup())
      .finally(() => process.exit(130));
  };
  process.once('SIGINT', stopOnSignal);
  process.once('SIGTERM', stopOnSignal);
  try {
    const seedDir = join(tmp.dir, 'seed');
    await mkdir(seedDir);
    const input = join(seedDir, 'data.bin');
    const torrent = join(tmp.dir, 'data.torrent');
    const env: Env = {
      torrent,
      seedDir,
      leechDir: join(tmp.dir, 'leech'),
      tmp: tmp.dir,
      size: sizeMiB * MIB,
      gnuTime,
    };
    process.stdout.write(
      `bench:transfer — ${sizeMiB} MiB${v2Only ? ' v2-only (BEP 52)' : ''}, piece length ${PIECE_LENGTH}, ${runs} runs each, ${availableParallelism()} cores, node ${process.version}, ${process.env.BITSWARM_BENCH_ISOLATED ? 'private network namespace' : 'loopback (no private namespace)'}, usage by ${gnuTime ? 'GNU time' : '/proc polling'}\n`,
    );
    let t0 = performance.now();
    await generate(input, env.size, 9);
    const create = (out: string, extra: string[]): Promise<unknown> =>
      runOk(
        process.execPath,
        bitswarmNodeArgs([
          'create',
          input,
          '--piece-length',
          String(PIECE_LENGTH),
          '-o',
          out,
          '-q',
          ...extra,
        ]),
      );
    await create(torrent, v2Only ? ['--v2'] : []);
    if (v2Only) {
      env.torrentV1 = join(tmp.dir, 'data-v1.torrent');
      await create(env.torrentV1, []);
    }
    await warm(input);
    process.stdout.write(
      `  generated, made the torrent and warmed the page cache in ${(performance.now() - t0).toFixed(0)} ms\n`,
    );

    const results = new Map<PairId, Result[]>(pairIds.map((id) => [id as PairId, []]));
    const loadBefore = loadavg()[0]!;
    t0 = performance.now();
    for (let i = 0; i < runs; i++) {
      // rotate the order so no pair always runs first (or right after another's disk writes)
      const order = pairIds.map((_, k) => pairIds[(k + i) % pairIds.length] as PairId);
      for (const pair of order) {
        const r = await oneRun(pair, env, i);
        results.get(pair)!.push(r);
        process.stdout.write(fmtRun(pair, i, r));
      }
    }
    const loadAfter = loadavg()[0]!;

    const gib = sizeMiB / 1024;
    const med = new Map(
      [...results].map(([id, rs]) => [
        id,
        {
          ms: median(rs.map((r) => r.ms)),
          cpuS: median(rs.map((r) => r.cpuS)),
          rssMB: (Math.max(...rs.map((r) => r.maxRssKiB)) * 1024) / 1e6,
          flushedMs: rs.every((r) => r.flushedMs !== undefined)
            ? median(rs.map((r) => r.flushedMs!))
            : undefined,
        },
      ]),
    );
    const lines: string[] = ['medians (leecher CPU per GiB, peak RSS is the largest of the runs):'];
    for (const [id, m] of med) {
      lines.push(
        `  ${PAIRS[id].name.padEnd(26)} ${(m.ms / 1000).toFixed(2).padStart(7)} s  ${((sizeMiB * MIB) / 1e6 / (m.ms / 1000)).toFixed(0).padStart(5)} MB/s  cpu ${(m.cpuS / gib).toFixed(2).padStart(6)} s/GiB  peak RSS ${m.rssMB.toFixed(1).padStart(6)} MB` +
          (m.flushedMs !== undefined ? `  flushed to disk ${(m.flushedMs / 1000).toFixed(2)} s` : ''),
      );
    }
    const ll = med.get('ll');
    const bb = med.get('bb');
    let ok = true;
    const bb1 = med.get('bb1');
    if (bb && bb1) {
      const ratio = bb.ms / bb1.ms;
      const v2Ok = ratio <= TARGET_V2_OWN_V1;
      ok &&= v2Ok;
      lines.push(
        `v2 / our own v1 wall ratio (bitswarm→bitswarm)     ${ratio.toFixed(3)}  (target ≤ ${TARGET_V2_OWN_V1.toFixed(1)}: ${v2Ok ? 'met' : 'MISSED'})`,
      );
    }
    const lb = med.get('lb');
    if (ll && bb) {
      const wall = bb.ms / ll.ms;
      const cpu = bb.cpuS / ll.cpuS;
      const wallOk = wall <= TARGET_WALL_RATIO;
      const cpuOk = cpu <= TARGET_CPU_RATIO;
      ok &&= wallOk && cpuOk;
      lines.push(
        `wall ratio bitswarm→bitswarm / libtorrent→libtorrent  ${wall.toFixed(3)}  (target ≤ ${TARGET_WALL_RATIO.toFixed(1)}: ${wallOk ? 'met' : 'MISSED'})`,
        `leecher CPU ratio bitswarm / libtorrent               ${cpu.toFixed(3)}  (target ≤ ${TARGET_CPU_RATIO.toFixed(1)}: ${cpuOk ? 'met' : 'MISSED'})`,
      );
    }
    if (ll && lb) {
      lines.push(
        `from a libtorrent seeder: wall ratio bitswarm / libtorrent ${(lb.ms / ll.ms).toFixed(3)}, leecher CPU ratio ${(lb.cpuS / ll.cpuS).toFixed(3)}`,
      );
    }
    const bbe = med.get('bbe');
    const lle = med.get('lle');
    if (bbe && lle) {
      const wall = bbe.ms / lle.ms;
      const wallOk = wall <= TARGET_WALL_RATIO;
      ok &&= wallOk;
      lines.push(
        `encrypted: wall ratio bitswarm / libtorrent            ${wall.toFixed(3)}  (target ≤ ${TARGET_WALL_RATIO.toFixed(1)}: ${wallOk ? 'met' : 'MISSED'})`,
        `encrypted: leecher CPU ratio bitswarm / libtorrent     ${(bbe.cpuS / lle.cpuS).toFixed(3)}`,
      );
    }
    if (bbe && bb) {
      const cpu = bbe.cpuS / bb.cpuS;
      const cpuOk = cpu <= TARGET_ENCRYPTED_CPU_RATIO;
      ok &&= cpuOk;
      lines.push(
        `bitswarm leecher CPU encrypted / plaintext            ${cpu.toFixed(3)}  (target ≤ ${TARGET_ENCRYPTED_CPU_RATIO.toFixed(1)}: ${cpuOk ? 'met' : 'MISSED'})`,
      );
    }
    const rss = Math.max(...[bb, lb, bbe].filter((m) => m !== undefined).map((m) => m.rssMB));
    if (Number.isFinite(rss)) {
      const rssOk = rss < TARGET_RSS_MB;
      ok &&= rssOk;
      lines.push(
        `bitswarm leecher peak RSS  ${rss.toFixed(1)} MB  (target < ${TARGET_RSS_MB} MB: ${rssOk ? 'met' : 'MISSED'})`,
      );
    }
    lines.push(`all runs took ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    if (Math.max(loadBefore, loadAfter) > availableParallelism()) {
      lines.push(
        `warning: load average ${loadBefore.toFixed(2)} → ${loadAfter.toFixed(2)} on ${availableParallelism()} cores: other work shared the CPU, wall times are noisy`,
      );
    }
    process.stdout.write(`${lines.join('\n')}\n`);
    return ok ? 0 : 1;
  } finally {
    process.off('SIGINT', stopOnSignal);
    process.off('SIGTERM', stopOnSignal);
    await killAll();
    await tmp.cleanup();
  }
}

/**
 * Re-runs this script inside a private network namespace with only loopback up, when the machine
 * allows it (root, as in CI): no packet of any client's defaults can leave the machine then.
 */
async function isolated(): Promise<number | undefined> {
  if (process.env.BITSWARM_BENCH_ISOLATED || process.env.BITSWARM_NO_UNSHARE === '1') return undefined;
  if (!(await hasExecutable('unshare'))) return undefined;
  const probe = startProc('unshare', ['--net', 'true']);
  if ((await probe.exited) !== 0) return undefined;
  const child = startProc(
    'unshare',
    [
      '--net',
      'sh',
      '-c',
      'ip link set lo up 2>/dev/null || true; exec "$@"',
      'sh',
      process.execPath,
      ...process.execArgv,
      fileURLToPath(import.meta.url),
      ...process.argv.slice(2),
    ],
    { env: { ...process.env, BITSWARM_BENCH_ISOLATED: '1' } },
  );
  child.child.stdout?.pipe(process.stdout);
  child.child.stderr?.pipe(process.stderr);
  const forward = (sig: NodeJS.Signals): void => {
    child.child.kill(sig);
  };
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  const code = await child.exited;
  return code ?? 1;
}

process.exitCode = (await isolated()) ?? (await main());
