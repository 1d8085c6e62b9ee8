// Benchmark of the session daemon with many torrents: 1,000 small torrents (data in place, so they
// seed) are added to one `bitswarm daemon` through the control API; then the daemon is restarted
// with the same state directory. Prints the time until all are loaded again (every torrent back
// to `seeding`), the peak RSS (VmHWM) of the daemon in each phase, and the bytes it read (rchar of
// /proc/PID/io: a restart that trusts its resume data reads the state files, not the 1,000 torrents'
// data). Target: restart in under 5 s with no recheck, under 300 MB peak RSS.
//
// BENCH_SESSION_TORRENTS (1000), BENCH_SESSION_FILE_BYTES (65536), BENCH_SESSION_ACTIVE (all: every
// torrent may seed at once; `default`: the daemon's own queue limits), BENCH_SESSION_PROFILE_DIR.

import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createTorrent } from '../src/storage/create-torrent.js';
import { type JsonChild, makeTempDir, pseudoRandomBytes } from '../test/interop/helpers.js';
import { daemonApi, freePort, startDaemonJson } from '../test/unit/api/helpers.js';

const TORRENTS = Number(process.env.BENCH_SESSION_TORRENTS ?? 1000);
const FILE_BYTES = Number(process.env.BENCH_SESSION_FILE_BYTES ?? 64 * 1024);
const ALL_ACTIVE = (process.env.BENCH_SESSION_ACTIVE ?? 'all') === 'all';
/** BENCH_SESSION_PROFILE_DIR: write a CPU profile of each daemon there (node --cpu-prof). */
const PROFILE_DIR = process.env.BENCH_SESSION_PROFILE_DIR;
const TARGET_RESTART_MS = 5000;
const TARGET_RSS_BYTES = 300 * 1024 * 1024;
const MB = 1024 * 1024;

interface Daemon extends JsonChild {
  startedAtMs: number;
  api: <T>(method: string, path: string, body?: unknown) => Promise<{ status: number; json: T }>;
}

async function startDaemon(state: string, port: number, dl: string): Promise<Daemon> {
  const startedAtMs = Date.now();
  const daemon = await startDaemonJson({
    state,
    port,
    downloads: dl,
    args: [
      '--no-lsd',
      ...(ALL_ACTIVE
        ? ['--max-active-downloads', String(TORRENTS), '--max-active-seeds', String(TORRENTS)]
        : []),
    ],
    ...(PROFILE_DIR ? { nodeFlags: ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`] } : {}),
    timeoutMs: 120_000,
  });
  const call = await daemonApi(state);
  const api = async <T>(method: string, path: string, body?: unknown) => {
    const r = await call(method, path, body);
    return { status: r.status, json: r.json as T };
  };
  return { ...daemon, startedAtMs, api };
}

async function procField(pid: number, file: 'status' | 'io', field: string): Promise<number> {
  const text = await readFile(`/proc/${pid}/${file}`, 'utf8').catch(() => '');
  const m = new RegExp(`^${field}:\\s*(\\d+)`, 'm').exec(text);
  return m ? Number(m[1]) : Number.NaN;
}

/** Waits until `count` torrents seed; returns the time since the daemon started, and the statuses. */
async function untilSeeding(d: Daemon, count: number, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await d.api<{ torrents: { status: string }[] }>('GET', '/torrents');
    const byStatus: Record<string, number> = {};
    for (const t of r.json.torrents) byStatus[t.status] = (byStatus[t.status] ?? 0) + 1;
    if ((byStatus.seeding ?? 0) >= count) return { ms: Date.now() - d.startedAtMs, byStatus };
    if (Date.now() > deadline) return { ms: Number.NaN, byStatus };
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function stop(d: Daemon): Promise<number> {
  const t0 = Date.now();
  d.child.kill('SIGTERM');
  await d.exited;
  return Date.now() - t0;
}

async function main(): Promise<void> {
  const { dir: root, cleanup } = await makeTempDir('bench-session');
  const daemons: Daemon[] = [];
  try {
    const dataDir = join(root, 'data');
    const torrents = join(root, 'torrents');
    await mkdir(dataDir);
    await mkdir(torrents);
    const tMake = Date.now();
    const paths: string[] = [];
    for (let i = 0; i < TORRENTS; i++) {
      const file = join(dataDir, `file-${i}.bin`);
      await writeFile(file, pseudoRandomBytes(FILE_BYTES, i + 1));
      const created = await createTorrent(file, { creationDate: null, threads: 0, pieceLength: 16384 });
      const p = join(torrents, `${i}.torrent`);
      await writeFile(p, created.torrent);
      paths.push(p);
    }
    console.log(
      `made ${TORRENTS} torrents of ${FILE_BYTES / 1024} KiB in ${Date.now() - tMake} ms ` +
        `(queue: ${ALL_ACTIVE ? 'all may seed at once' : 'daemon defaults'})`,
    );

    const state = join(root, 'state');
    const port = await freePort();
    const first = await startDaemon(state, port, dataDir);
    daemons.push(first);
    const tAdd = Date.now();
    for (const p of paths) {
      const r = await first.api('POST', '/torrents', { path: p, dir: dataDir });
      if (r.status !== 201) throw new Error(`add ${p}: HTTP ${r.status}`);
    }
    const addMs = Date.now() - tAdd;
    const expected = ALL_ACTIVE ? TORRENTS : 0;
    const firstLoad = await untilSeeding(first, expected, 300_000);
    const firstHwm = (await procField(first.child.pid!, 'status', 'VmHWM')) * 1024;
    const firstRead = await procField(first.child.pid!, 'io', 'rchar');
    console.log(
      `first run: ${TORRENTS} adds in ${addMs} ms; all checked and seeding after ${firstLoad.ms} ms ` +
        `(${JSON.stringify(firstLoad.byStatus)}); peak RSS ${(firstHwm / MB).toFixed(0)} MB; read ${(firstRead / MB).toFixed(1)} MB`,
    );
    const stopMs = await stop(first);
    console.log(`stop (SIGTERM, resume data of ${TORRENTS} torrents saved): ${stopMs} ms`);

    const second = await startDaemon(state, port, dataDir);
    daemons.push(second);
    const listening = second.lines.find((l) => l.event === 'listening')!;
    const listenMs = Date.now() - second.startedAtMs;
    const restart = await untilSeeding(second, ALL_ACTIVE ? TORRENTS : 0, 120_000);
    // Let anything still starting settle, then read the peak.
    await new Promise((r) => setTimeout(r, 1000));
    const hwm = (await procField(second.child.pid!, 'status', 'VmHWM')) * 1024;
    const read = await procField(second.child.pid!, 'io', 'rchar');
    const written = await procField(second.child.pid!, 'io', 'wchar');
    const writes = await procField(second.child.pid!, 'io', 'syscw');
    const rss = (await procField(second.child.pid!, 'status', 'VmRSS')) * 1024;
    await stop(second);
    console.log(
      `restart: API up after ${listenMs} ms (daemon says ${String(listening.torrents)} torrents loaded in ${String(listening.loadMs)} ms); ` +
        `all ${ALL_ACTIVE ? 'seeding' : 'back'} after ${restart.ms} ms (${JSON.stringify(restart.byStatus)})`,
    );
    console.log(
      `restart: peak RSS ${(hwm / MB).toFixed(0)} MB, RSS after load ${(rss / MB).toFixed(0)} MB, ` +
        `read ${(read / MB).toFixed(1)} MB (data: ${((TORRENTS * FILE_BYTES) / MB).toFixed(0)} MB), ` +
        `wrote ${(written / MB).toFixed(1)} MB in ${writes} write calls`,
    );
    const noRecheck = read < (TORRENTS * FILE_BYTES) / 2;
    const okTime = restart.ms < TARGET_RESTART_MS;
    const okRss = hwm < TARGET_RSS_BYTES;
    console.log(
      `target: restart < ${TARGET_RESTART_MS} ms ${okTime ? 'met' : 'MISSED'}; no recheck ${noRecheck ? 'met' : 'MISSED'}; ` +
        `peak RSS < ${TARGET_RSS_BYTES / MB} MB ${okRss ? 'met' : 'MISSED'}`,
    );
  } finally {
    for (const d of daemons) if (d.child.exitCode === null) d.child.kill('SIGKILL');
    await Promise.all(daemons.map((d) => d.exited));
    await cleanup();
  }
}

await main();
