// Benchmark of `bitswarm create` against mktorrent on one large generated file (1 GiB by default,
// BENCH_CREATE_MB to change it, BENCH_CREATE_RUNS for the number of runs each). Both run as child
// processes from a warm page cache, alternating, with the same piece length (2^20) and 2 threads for
// mktorrent; prints median wall times, the ratio bitswarm/mktorrent and bitswarm's peak RSS.
// Targets: ratio ≤ 1.0 and peak RSS under 100 MB.

import { rm } from 'node:fs/promises';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  BITSWARM_BIN_PATH,
  bitswarmNodeArgs,
  hasExecutable,
  makeTempDir,
  run,
  runOk,
} from '../test/interop/helpers.js';
import { generate, median, warm } from './common.js';

const MIB = 1024 * 1024;
const sizeMiB = Number(process.env.BENCH_CREATE_MB ?? 1024);
const runs = Number(process.env.BENCH_CREATE_RUNS ?? 5);
const PIECE_LOG2 = 20;
const PIECE_LENGTH = 2 ** PIECE_LOG2;
const MKTORRENT_THREADS = 2;
const TIMEOUT_MS = 10 * 60_000;
const TARGET_RATIO = 1.0;
const TARGET_RSS_MB = 100;
/** GNU time, for mktorrent's CPU time (optional). */
const GNU_TIME = '/usr/bin/time';

if (!Number.isInteger(sizeMiB) || sizeMiB < 1)
  throw new Error(`BENCH_CREATE_MB: ${sizeMiB} is not a size in MiB`);
if (!Number.isInteger(runs) || runs < 1) throw new Error(`BENCH_CREATE_RUNS: ${runs} is not a count`);

interface Timing {
  ms: number;
  /** User + system CPU time, when it could be measured. */
  cpuMs?: number;
  maxRssKiB?: number;
}

/**
 * The environment of the bitswarm runs. NODE_EXTRA_CA_CERTS makes Node read and parse a CA bundle
 * at start-up, before any of bitswarm's code runs and whether or not TLS is ever used: with a
 * system bundle that costs about 60 ms per process (measured on the 2-core machine), more than
 * anything bitswarm does before it hashes. It says nothing about `create`, so it is left out (and
 * the report says so); BENCH_CREATE_KEEP_ENV=1 keeps it.
 */
const droppedEnv = process.env.BENCH_CREATE_KEEP_ENV === '1' ? [] : ['NODE_EXTRA_CA_CERTS'];
const bitswarmEnv: NodeJS.ProcessEnv = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => !droppedEnv.includes(k)),
);
const droppedSet = droppedEnv.filter((k) => process.env[k] !== undefined);

/**
 * One `bitswarm create`, run as users run it (node bin/bitswarm.js) under GNU time for its CPU time
 * and peak RSS; without GNU time, through an inline runner that reports them itself.
 */
async function timeBitswarm(input: string, out: string, gnuTime: boolean): Promise<Timing> {
  await rm(out, { force: true });
  const create = ['create', input, '-o', out, '--piece-length', String(PIECE_LENGTH), '--no-date', '-q'];
  const [cmd, args] = gnuTime
    ? [GNU_TIME, ['-f', 'maxrss-kib=%M cpu-s=%U %S', process.execPath, BITSWARM_BIN_PATH, ...create]]
    : [process.execPath, bitswarmNodeArgs(create, true)];
  const t0 = performance.now();
  const r = await run(cmd, args, { timeoutMs: TIMEOUT_MS, env: bitswarmEnv });
  const ms = performance.now() - t0;
  if (r.code !== 0) throw new Error(`bitswarm create failed (${r.code}): ${r.stderr}`);
  const g = /maxrss-kib=(\d+) cpu-s=([\d.]+) ([\d.]+)/.exec(r.stderr);
  if (g) return { ms, maxRssKiB: Number(g[1]), cpuMs: (Number(g[2]) + Number(g[3])) * 1000 };
  const m = /maxrss-kib=(\d+) cpu-ms=(\d+)/.exec(r.stderr);
  if (!m) throw new Error(`bitswarm did not report its peak RSS: ${r.stderr}`);
  return { ms, maxRssKiB: Number(m[1]), cpuMs: Number(m[2]) };
}

async function timeMktorrent(input: string, out: string, gnuTime: boolean): Promise<Timing> {
  await rm(out, { force: true }); // mktorrent refuses to overwrite
  const args = ['-t', String(MKTORRENT_THREADS), '-l', String(PIECE_LOG2), '-d', '-o', out, input];
  const t0 = performance.now();
  const r = gnuTime
    ? await runOk(GNU_TIME, ['-f', 'cpu-s=%U %S', 'mktorrent', ...args], { timeoutMs: TIMEOUT_MS })
    : await runOk('mktorrent', args, { timeoutMs: TIMEOUT_MS });
  const ms = performance.now() - t0;
  const m = /cpu-s=([\d.]+) ([\d.]+)/.exec(r.stderr);
  return m ? { ms, cpuMs: (Number(m[1]) + Number(m[2])) * 1000 } : { ms };
}

const show = (who: string, i: number, t: Timing): string =>
  `  run ${i + 1} ${who.padEnd(10)} ${t.ms.toFixed(0).padStart(6)} ms` +
  (t.cpuMs !== undefined ? `  cpu ${t.cpuMs.toFixed(0).padStart(6)} ms` : '') +
  (t.maxRssKiB !== undefined ? `  peak RSS ${(t.maxRssKiB / 1024).toFixed(1)} MiB` : '') +
  '\n';

async function infoHash(torrent: string): Promise<string> {
  const r = await runOk(process.execPath, bitswarmNodeArgs(['info', torrent, '--json']));
  return (JSON.parse(r.stdout) as { infoHash: string }).infoHash;
}

async function main(): Promise<number> {
  if (!(await hasExecutable('mktorrent'))) {
    process.stderr.write('bench:create needs mktorrent (apt-get install mktorrent)\n');
    return 1;
  }
  const tmp = await makeTempDir('bench-create');
  const stopOnSignal = (): void => {
    void tmp.cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', stopOnSignal);
  try {
    const input = join(tmp.dir, 'data.bin');
    const oursOut = join(tmp.dir, 'bitswarm.torrent');
    const theirsOut = join(tmp.dir, 'mktorrent.torrent');
    process.stdout.write(
      `bench:create — ${sizeMiB} MiB, piece length ${PIECE_LENGTH}, ${runs} runs each, ${availableParallelism()} cores, node ${process.version}\n`,
    );
    if (droppedSet.length > 0) {
      process.stdout.write(
        `  bitswarm runs without ${droppedSet.join(', ')} (Node start-up cost unrelated to create; BENCH_CREATE_KEEP_ENV=1 keeps it)\n`,
      );
    }
    let t0 = performance.now();
    await generate(input, sizeMiB * MIB, 7);
    process.stdout.write(`  generated in ${(performance.now() - t0).toFixed(0)} ms\n`);
    t0 = performance.now();
    await warm(input);
    process.stdout.write(`  warmed the page cache in ${(performance.now() - t0).toFixed(0)} ms\n`);

    const gnuTime = await hasExecutable(GNU_TIME);
    const ours: Timing[] = [];
    const theirs: Timing[] = [];
    const loadBefore = loadavg()[0]!;
    for (let i = 0; i < runs; i++) {
      // alternate which goes first so neither always profits from the other's warm-up
      const order = i % 2 === 0 ? (['bitswarm', 'mktorrent'] as const) : (['mktorrent', 'bitswarm'] as const);
      for (const who of order) {
        const t =
          who === 'bitswarm'
            ? await timeBitswarm(input, oursOut, gnuTime)
            : await timeMktorrent(input, theirsOut, gnuTime);
        (who === 'bitswarm' ? ours : theirs).push(t);
        process.stdout.write(show(who, i, t));
      }
    }
    const loadAfter = loadavg()[0]!;

    const [hashOurs, hashTheirs] = await Promise.all([infoHash(oursOut), infoHash(theirsOut)]);
    const same = hashOurs === hashTheirs;
    const mOurs = median(ours.map((t) => t.ms));
    const mTheirs = median(theirs.map((t) => t.ms));
    const ratio = mOurs / mTheirs;
    const rssMB = (Math.max(...ours.map((t) => t.maxRssKiB ?? 0)) * 1024) / 1e6;
    const mbps = (ms: number): string => ((sizeMiB * MIB) / 1e6 / (ms / 1000)).toFixed(0);
    const lines = [
      `median bitswarm   ${mOurs.toFixed(0)} ms (${mbps(mOurs)} MB/s)`,
      `median mktorrent  ${mTheirs.toFixed(0)} ms (${mbps(mTheirs)} MB/s, -t ${MKTORRENT_THREADS})`,
      `ratio bitswarm/mktorrent  ${ratio.toFixed(3)}  (target ≤ ${TARGET_RATIO.toFixed(1)}: ${ratio <= TARGET_RATIO ? 'met' : 'MISSED'})`,
      `bitswarm peak RSS  ${rssMB.toFixed(1)} MB  (target < ${TARGET_RSS_MB} MB: ${rssMB < TARGET_RSS_MB ? 'met' : 'MISSED'})`,
    ];
    if (ours.every((t) => t.cpuMs !== undefined) && theirs.every((t) => t.cpuMs !== undefined)) {
      // CPU time barely depends on what else runs on the machine, so it is the steadier comparison
      const cOurs = median(ours.map((t) => t.cpuMs!));
      const cTheirs = median(theirs.map((t) => t.cpuMs!));
      lines.push(
        `median CPU time   bitswarm ${cOurs.toFixed(0)} ms, mktorrent ${cTheirs.toFixed(0)} ms, ratio ${(cOurs / cTheirs).toFixed(3)}`,
      );
    }
    lines.push(
      `info hash  ${same ? `same (${hashOurs})` : `DIFFERENT: bitswarm ${hashOurs}, mktorrent ${hashTheirs}`}`,
    );
    if (Math.max(loadBefore, loadAfter) > availableParallelism() / 2) {
      lines.push(
        `warning: load average ${loadBefore.toFixed(2)} → ${loadAfter.toFixed(2)} on ${availableParallelism()} cores: other work shared the CPU, wall times are noisy`,
      );
    }
    process.stdout.write(`${lines.join('\n')}\n`);
    return same ? 0 : 1;
  } finally {
    process.off('SIGINT', stopOnSignal);
    await tmp.cleanup();
  }
}

process.exitCode = await main();
