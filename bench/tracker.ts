// Benchmark of the embedded tracker against opentracker (Debian's package) on loopback, in one run:
// announces per second answered over HTTP and over UDP by each, from the same load generator
// (bench/tracker-load.ts, in this process) with 100,000 distinct peers over 1,000 torrents.
//
// bitswarm's TrackerServer runs in a child process behind a minimal standalone server (a net server
// using serveHttpConnection and a dgram socket calling handleUdp), so its RSS can be read: after
// the peers are in, after the HTTP runs, at the end, and its peak. opentracker closes every HTTP
// connection after one reply, so the HTTP comparison uses one connection per request for both; the
// keep-alive rate of bitswarm is printed as well. Each measured run lasts BENCH_TRACKER_SECONDS (10).
// Target: at least a third of opentracker's rate on each protocol; flat memory.

import { type ChildProcess, fork, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { type AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serveHttpConnection } from '../src/discovery/http-tracker-conn.js';
import { TrackerServer } from '../src/discovery/tracker-server.js';
import { freePort } from '../test/interop/clients.js';
import { hasExecutable, makeTempDir } from '../test/interop/helpers.js';
import { httpLoad, type LoadResult, PeerSet, udpLoad } from './tracker-load.js';

const TORRENTS = Number(process.env.BENCH_TRACKER_TORRENTS ?? 1000);
const PEERS = Number(process.env.BENCH_TRACKER_PEERS ?? 100_000);
const SECONDS = Number(process.env.BENCH_TRACKER_SECONDS ?? 10);
const HTTP_CONNECTIONS = 32;
const UDP_SOCKETS = 4;
const UDP_WINDOW = 32;
const TARGET_RATIO = 1 / 3;
const MB = 1024 * 1024;

interface ServerStats {
  rssBytes: number;
  heapUsedBytes: number;
  maxRssBytes: number;
  cpuSeconds: number;
  peers: number;
  torrents: number;
}

type ChildMessage = { type: 'ready'; tcpPort: number; udpPort: number } | ({ type: 'stats' } & ServerStats);

// ---------------------------------------------------------------------------------------------------
// Child: the standalone bitswarm tracker

async function serve(): Promise<void> {
  const set = new PeerSet({ torrents: TORRENTS, peers: PEERS });
  const tracked = new Set(set.hashes.map((h) => h.toString('hex')));
  const tracker = new TrackerServer({
    isTracked: (h) => tracked.has(h),
    intervalSec: 1800,
    minIntervalSec: 900,
  });
  tracker.start();
  const tcp = createServer((socket) => serveHttpConnection(socket, tracker));
  const udp = createSocket({ type: 'udp4', recvBufferSize: 4 * MB, sendBufferSize: 4 * MB });
  udp.on('message', (msg, rinfo) => {
    const reply = tracker.handleUdp(msg, { address: rinfo.address, port: rinfo.port, family: 'IPv4' });
    if (reply !== undefined) udp.send(reply, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => tcp.listen({ port: 0, host: '127.0.0.1', backlog: 1024 }, resolve));
  await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
  const send = (m: ChildMessage): void => {
    process.send?.(m);
  };
  process.on('message', (m: { type: string; gc?: boolean }) => {
    if (m.type === 'stats') {
      // A collection before a memory snapshot, so that it shows what is live, not garbage.
      if (m.gc === true) (globalThis as { gc?: () => void }).gc?.();
      const cpu = process.cpuUsage();
      send({
        type: 'stats',
        rssBytes: process.memoryUsage().rss,
        heapUsedBytes: process.memoryUsage().heapUsed,
        maxRssBytes: process.resourceUsage().maxRSS * 1024,
        cpuSeconds: (cpu.user + cpu.system) / 1e6,
        ...tracker.stats,
      });
    } else if (m.type === 'exit') {
      tracker.stop();
      tcp.close();
      udp.close();
      process.disconnect();
    }
  });
  send({ type: 'ready', tcpPort: (tcp.address() as AddressInfo).port, udpPort: udp.address().port });
}

// ---------------------------------------------------------------------------------------------------
// Parent: load and report

interface TrackerUnderTest {
  name: string;
  tcpPort: number;
  udpPort: number;
  /** Server-side stats (RSS, CPU); CPU and RSS only for opentracker. `gc` first for snapshots. */
  stats(gc?: boolean): Promise<Partial<ServerStats>>;
}

interface SuiteResult {
  fill: LoadResult;
  httpClose: LoadResult & { serverCpu: number };
  httpKeepAlive?: LoadResult & { serverCpu: number };
  udp: LoadResult & { serverCpu: number };
  afterFill: Partial<ServerStats>;
  afterHttp: Partial<ServerStats>;
  end: Partial<ServerStats>;
}

async function measured<T extends LoadResult>(
  t: TrackerUnderTest,
  run: () => Promise<T>,
): Promise<T & { serverCpu: number }> {
  const before = (await t.stats()).cpuSeconds ?? 0;
  const r = await run();
  const after = (await t.stats()).cpuSeconds ?? 0;
  return { ...r, serverCpu: (after - before) / r.seconds };
}

async function suite(t: TrackerUnderTest, set: PeerSet, keepAliveToo: boolean): Promise<SuiteResult> {
  const ms = SECONDS * 1000;
  process.stderr.write(`${t.name}: announcing ${PEERS} peers…\n`);
  const fill = await httpLoad(set, {
    port: t.tcpPort,
    connections: HTTP_CONNECTIONS,
    keepAlive: keepAliveToo,
    peers: { from: 0, to: PEERS },
    event: 'started',
  });
  const afterFill = await t.stats(true);
  process.stderr.write(`${t.name}: HTTP, one connection per announce…\n`);
  const httpClose = await measured(t, () =>
    httpLoad(set, {
      port: t.tcpPort,
      connections: HTTP_CONNECTIONS,
      keepAlive: false,
      durationMs: ms,
      event: '',
    }),
  );
  let httpKeepAlive: SuiteResult['httpKeepAlive'];
  if (keepAliveToo) {
    process.stderr.write(`${t.name}: HTTP keep-alive…\n`);
    httpKeepAlive = await measured(t, () =>
      httpLoad(set, {
        port: t.tcpPort,
        connections: HTTP_CONNECTIONS,
        keepAlive: true,
        durationMs: ms,
        event: '',
      }),
    );
  }
  const afterHttp = await t.stats(true);
  process.stderr.write(`${t.name}: UDP…\n`);
  await udpLoad(set, { port: t.udpPort, sockets: UDP_SOCKETS, window: UDP_WINDOW, durationMs: 1000 }); // warm-up
  const udp = await measured(t, () =>
    udpLoad(set, { port: t.udpPort, sockets: UDP_SOCKETS, window: UDP_WINDOW, durationMs: ms }),
  );
  const end = await t.stats(true);
  return { fill, httpClose, ...(httpKeepAlive ? { httpKeepAlive } : {}), udp, afterFill, afterHttp, end };
}

async function startBitswarm(): Promise<{ t: TrackerUnderTest; child: ChildProcess }> {
  const child = fork(fileURLToPath(import.meta.url), ['--serve'], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    execArgv: ['--expose-gc'],
    env: { ...process.env },
  });
  const pending: ((s: ServerStats) => void)[] = [];
  const ready = new Promise<{ tcpPort: number; udpPort: number }>((resolve, reject) => {
    child.on('message', (m: ChildMessage) => {
      if (m.type === 'ready') resolve(m);
      else if (m.type === 'stats') pending.shift()?.(m);
    });
    child.once('exit', (code) => reject(new Error(`bitswarm tracker exited with ${code}`)));
  });
  const { tcpPort, udpPort } = await ready;
  return {
    child,
    t: {
      name: 'bitswarm',
      tcpPort,
      udpPort,
      stats: (gc = false) =>
        new Promise<ServerStats>((resolve) => {
          pending.push(resolve);
          child.send({ type: 'stats', gc });
        }),
    },
  };
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function procStats(pid: number): Promise<Partial<ServerStats>> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string): number =>
    Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) * 1024;
  const stat = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
  // utime and stime are fields 14 and 15 (1-based) of /proc/PID/stat, in clock ticks (100 Hz on Linux).
  const ticks = Number(stat[11]) + Number(stat[12]);
  return { rssBytes: kb('VmRSS'), maxRssBytes: kb('VmHWM'), cpuSeconds: ticks / 100 };
}

async function startOpentracker(
  set: PeerSet,
  dir: string,
): Promise<{ t: TrackerUnderTest; child: ChildProcess }> {
  const port = await freePort();
  const whitelist = join(dir, 'whitelist');
  await writeFile(whitelist, `${set.hashes.map((h) => h.toString('hex')).join('\n')}\n`);
  // opentracker reads the whitelist as nobody, chrooted to its cwd.
  await chmod(dir, 0o755);
  await chmod(whitelist, 0o644);
  const child = spawn(
    'opentracker',
    ['-i', '127.0.0.1', '-p', String(port), '-P', String(port), '-w', whitelist],
    {
      cwd: dir,
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  const pid = child.pid!;
  await waitUntil(
    async () => {
      const r = await httpLoad(set, {
        port,
        connections: 1,
        keepAlive: false,
        peers: { from: 0, to: 1 },
        event: 'stopped',
      }).catch(() => undefined);
      return r !== undefined && r.answered === 1;
    },
    10_000,
    'opentracker and its whitelist',
  );
  return { child, t: { name: 'opentracker', tcpPort: port, udpPort: port, stats: () => procStats(pid) } };
}

const rate = (r: LoadResult): number => r.answered / r.seconds;
const fmtRate = (n: number): string => `${Math.round(n).toLocaleString('en-US')}/s`;
const fmtMB = (b: number | undefined): string => (b === undefined ? '?' : `${(b / MB).toFixed(1)} MB`);
const fmtPct = (x: number): string => `${Math.round(x * 100)}%`;

async function main(): Promise<void> {
  if (!(await hasExecutable('opentracker'))) {
    throw new Error('opentracker is not installed (apt-get install opentracker): nothing to compare against');
  }
  const set = new PeerSet({ torrents: TORRENTS, peers: PEERS });
  process.stderr.write(
    `tracker benchmark: ${PEERS} peers over ${TORRENTS} torrents, ${SECONDS} s per run, loopback\n`,
  );

  const bs = await startBitswarm();
  let bsResult: SuiteResult;
  try {
    bsResult = await suite(bs.t, set, true);
  } finally {
    const exited = new Promise((resolve) => bs.child.once('exit', resolve));
    bs.child.send({ type: 'exit' });
    await exited;
  }

  const tmp = await makeTempDir('bench-opentracker');
  let otResult: SuiteResult;
  let ot: { t: TrackerUnderTest; child: ChildProcess } | undefined;
  try {
    ot = await startOpentracker(set, tmp.dir);
    otResult = await suite(ot.t, set, false);
  } finally {
    if (ot !== undefined && ot.child.exitCode === null) {
      const exited = new Promise((resolve) => ot?.child.once('exit', resolve));
      ot.child.kill('SIGTERM');
      await exited;
    }
    await tmp.cleanup();
  }

  const rows: [
    string,
    LoadResult & { serverCpu: number },
    (LoadResult & { serverCpu: number }) | undefined,
  ][] = [
    ['HTTP (new connection each)', bsResult.httpClose, otResult.httpClose],
    ['HTTP (keep-alive)', bsResult.httpKeepAlive!, undefined],
    ['UDP (BEP 15)', bsResult.udp, otResult.udp],
  ];
  const out: string[] = [];
  out.push('');
  out.push(
    `${'announces answered'.padEnd(28)}${'bitswarm'.padStart(14)}${'opentracker'.padStart(14)}${'ratio'.padStart(8)}   server CPU bs/ot, generator CPU, errors bs/ot`,
  );
  const verdicts: string[] = [];
  for (const [name, b, o] of rows) {
    const ratio = o === undefined ? undefined : rate(b) / rate(o);
    out.push(
      `${name.padEnd(28)}${fmtRate(rate(b)).padStart(14)}${(o ? fmtRate(rate(o)) : '—').padStart(14)}${(ratio === undefined ? '' : ratio.toFixed(2)).padStart(8)}   ${fmtPct(b.serverCpu)}/${o ? fmtPct(o.serverCpu) : '—'}, ${fmtPct(b.generatorCpu)}${o ? `/${fmtPct(o.generatorCpu)}` : ''}, ${b.errors}/${o ? o.errors : '—'}`,
    );
    if (ratio !== undefined) {
      verdicts.push(`${name}: ratio ${ratio.toFixed(2)} ${ratio >= TARGET_RATIO ? '≥' : '<'} 1/3 target`);
    }
  }
  out.push('');
  out.push(
    `fill (${PEERS} started announces): bitswarm ${fmtRate(rate(bsResult.fill))} (keep-alive), opentracker ${fmtRate(rate(otResult.fill))}`,
  );
  const mem = (x: Partial<ServerStats>): string =>
    `RSS ${fmtMB(x.rssBytes)}${x.heapUsedBytes !== undefined ? ` (heap ${fmtMB(x.heapUsedBytes)})` : ''}`;
  out.push(
    `bitswarm tracker: ${bsResult.end.peers} peers in ${bsResult.end.torrents} torrents; after peers are in ${mem(bsResult.afterFill)}, after HTTP ${mem(bsResult.afterHttp)}, at the end ${mem(bsResult.end)}; peak RSS ${fmtMB(bsResult.end.maxRssBytes)}`,
  );
  out.push(
    `opentracker: after peers are in ${mem(otResult.afterFill)}, at the end ${mem(otResult.end)}; peak RSS ${fmtMB(otResult.end.maxRssBytes)}`,
  );
  // Rates per second of server CPU: when the load generator saturates before a server does, the raw
  // ratio flatters the slower server; this one does not.
  for (const [name, b, o] of rows) {
    if (o === undefined || b.serverCpu === 0 || o.serverCpu === 0) continue;
    const eff = rate(b) / b.serverCpu / (rate(o) / o.serverCpu);
    out.push(
      `${name} per server CPU-second: bitswarm ${fmtRate(rate(b) / b.serverCpu)}, opentracker ${fmtRate(rate(o) / o.serverCpu)}, ratio ${eff.toFixed(2)}`,
    );
  }
  out.push(...verdicts);
  process.stdout.write(`${out.join('\n')}\n`);
}

if (process.argv.includes('--serve')) await serve();
else await main();
