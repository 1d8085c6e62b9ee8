// Benchmark of web seeds (BEP 19): bitswarm downloading a single-file torrent whose only source is a
// local nginx (its url-list), against aria2c downloading the same file from the same nginx over
// HTTP. 1 GiB by default (BENCH_WEBSEED_MB), BENCH_WEBSEED_RUNS runs of each (default 3), alternating;
// prints the median times and the ratio of throughputs (bitswarm / aria2). Target: at least 0.8×.
//
// Both run as users run them: `node bin/bitswarm.js download` (DHT, LSD, PEX off, bound to
// 127.0.0.1), until its `verified` line (every piece hashed and written to the OS; it then flushes to
// disk before it exits, which aria2 does not do); `aria2c --file-allocation=falloc` with 4
// connections to the server (-x4 -s4, as many as bitswarm opens) and no DHT/LPD, until it exits.
// The file sits in the page cache; the download folder is deleted and the disk synced between runs.
// Before each run as much memory as the download writes, and 256 MiB more for the client's own, is
// written and freed (recyclePageCache: on a virtual machine, page cache writes into memory the host
// took back cost ten times as much; without it bitswarm measured 0.55-0.6× aria2, with it 1.18×), and
// the two clients take turns going first.

import { mkdir, rm, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createTorrent } from '../src/storage/create-torrent.js';
import { killAll, run as startProc } from '../test/interop/clients.js';
import { BITSWARM_BIN_PATH, hasExecutable, makeTempDir } from '../test/interop/helpers.js';
import { NGINX, startNginx } from '../test/interop/nginx.js';
import { generate, median, recyclePageCache, warm } from './common.js';

const MIB = 1024 * 1024;
const sizeMiB = Number(process.env.BENCH_WEBSEED_MB ?? 1024);
const runs = Number(process.env.BENCH_WEBSEED_RUNS ?? 3);
const TARGET_RATIO = 0.8;
const timeoutMs = Math.max(120_000, sizeMiB * 600);

async function timeBitswarm(torrent: string, out: string): Promise<number> {
  const t0 = performance.now();
  const proc = startProc(process.execPath, [
    BITSWARM_BIN_PATH,
    'download',
    torrent,
    '-d',
    out,
    '--bind',
    '127.0.0.1',
    '--port',
    '0',
    '--no-dht',
    '--no-lsd',
    '--no-pex',
    '--json',
  ]);
  await proc.waitFor((l) => l.includes('"event":"verified"'), timeoutMs, 'bitswarm to verify every piece');
  const ms = performance.now() - t0;
  const code = await proc.exited;
  if (code !== 0) throw new Error(`bitswarm exited ${code}: ${proc.output.slice(-10).join('\n')}`);
  return ms;
}

async function timeAria2(url: string, out: string): Promise<number> {
  const t0 = performance.now();
  const proc = startProc('aria2c', [
    '--file-allocation=falloc',
    '--enable-dht=false',
    '--enable-dht6=false',
    '--bt-enable-lpd=false',
    '--enable-peer-exchange=false',
    '--disable-ipv6=true',
    '--check-certificate=false',
    '--allow-overwrite=true',
    '--auto-file-renaming=false',
    '--console-log-level=warn',
    '--summary-interval=0',
    '-x4',
    '-s4',
    '-d',
    out,
    '-o',
    'file.bin',
    url,
  ]);
  const code = await proc.exited;
  const ms = performance.now() - t0;
  if (code !== 0) throw new Error(`aria2c exited ${code}: ${proc.output.slice(-10).join('\n')}`);
  return ms;
}

async function main(): Promise<number> {
  if (!(await hasExecutable(NGINX)) || !(await hasExecutable('aria2c'))) {
    process.stderr.write('bench:webseed needs nginx and aria2c\n');
    return 1;
  }
  const { dir, cleanup } = await makeTempDir('bench-webseed');
  let nginx: Awaited<ReturnType<typeof startNginx>> | undefined;
  try {
    const www = join(dir, 'www');
    await mkdir(www, { recursive: true });
    const file = join(www, 'file.bin');
    await generate(file, sizeMiB * MIB);
    nginx = await startNginx(www, dir);
    const url = `${nginx.url}/file.bin`;
    const created = await createTorrent(file, { webSeeds: [url], creationDate: null });
    const torrent = join(dir, 'file.torrent');
    await writeFile(torrent, created.torrent);
    await warm(file);
    process.stdout.write(
      `bench:webseed — ${sizeMiB} MiB from nginx on 127.0.0.1, piece length ${created.pieceLength}, ${runs} runs each, ${availableParallelism()} cores, node ${process.version}\n`,
    );
    const times = { bitswarm: [] as number[], aria2: [] as number[] };
    for (let i = 0; i < runs; i++) {
      const order = i % 2 === 0 ? (['bitswarm', 'aria2'] as const) : (['aria2', 'bitswarm'] as const);
      for (const who of order) {
        const out = join(dir, `out-${who}`);
        await rm(out, { recursive: true, force: true });
        await mkdir(out, { recursive: true });
        await startProc('sync', []).exited;
        await recyclePageCache(join(dir, 'recycle.bin'), (sizeMiB + 256) * MIB);
        const ms = who === 'bitswarm' ? await timeBitswarm(torrent, out) : await timeAria2(url, out);
        times[who].push(ms);
        process.stdout.write(
          `  run ${i + 1} ${who.padEnd(8)} ${(ms / 1000).toFixed(2)} s  ${((sizeMiB / ms) * 1000).toFixed(0)} MiB/s\n`,
        );
        await rm(out, { recursive: true, force: true });
      }
    }
    const b = median(times.bitswarm);
    const a = median(times.aria2);
    const ratio = a / b;
    process.stdout.write(
      `median: bitswarm ${(b / 1000).toFixed(2)} s (${((sizeMiB / b) * 1000).toFixed(0)} MiB/s), aria2 ${(a / 1000).toFixed(2)} s (${((sizeMiB / a) * 1000).toFixed(0)} MiB/s)\n` +
        `throughput bitswarm / aria2: ${ratio.toFixed(2)}× (target ≥ ${TARGET_RATIO}×) ${ratio >= TARGET_RATIO ? 'ok' : 'BELOW TARGET'}\n`,
    );
    return 0;
  } finally {
    await nginx?.stop();
    await killAll();
    await cleanup();
  }
}

process.exitCode = await main();
