// Helpers for the multi-host LAN tests (lan.test.ts): one bitswarm CLI process per network namespace
// (netns.ts), its `--json` lines parsed into events, deterministic folders to share, a byte-for-byte
// comparison of what each host downloaded, which pieces a host already holds on disk (hash-checked
// here, from the outside), and a check that the namespaces have no way out to a real network.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Metainfo } from '../../src/protocol/metainfo.js';
import { pseudoRandomBytes } from './helpers.js';
import { createLan, NETNS_IFACE, type NetnsLan } from './netns.js';

/** Repository root (this file runs from dist/test/interop), and the executable users run. */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const bitswarmBin = join(repoRoot, 'bin', 'bitswarm.js');

/** One `--json` line of a bitswarm command (`start`, `progress`, `complete`, `shared`, `error`…). */
export interface LanEvent {
  event: string;
  time: number;
  [key: string]: unknown;
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

interface Waiter {
  pred: (e: LanEvent) => boolean;
  resolve: (e: LanEvent) => void;
  reject: (err: Error) => void;
  what: string;
  timer: NodeJS.Timeout;
}

/** A bitswarm process running on one host of the LAN. */
export class LanPeer {
  readonly events: LanEvent[] = [];
  readonly startedAtMs = Date.now();
  readonly exited: Promise<ExitStatus>;
  #stdout = '';
  #stderr = '';
  readonly #waiters = new Set<Waiter>();

  constructor(
    readonly name: string,
    readonly address: string,
    readonly child: ChildProcess,
  ) {
    child.stdout?.on('data', (chunk: Buffer) => this.#onStdout(chunk.toString('utf8')));
    child.stderr?.on('data', (chunk: Buffer) => {
      // Only the tail matters for a failure message.
      this.#stderr = (this.#stderr + chunk.toString('utf8')).slice(-4000);
    });
    this.exited = new Promise((res) => {
      child.once('exit', (code, signal) => {
        const status = { code, signal };
        for (const w of this.#waiters) {
          clearTimeout(w.timer);
          w.reject(new Error(`${this.name} exited (${code ?? signal}) before ${w.what}${this.tail()}`));
        }
        this.#waiters.clear();
        res(status);
      });
    });
  }

  #onStdout(text: string): void {
    this.#stdout += text;
    let nl = this.#stdout.indexOf('\n');
    while (nl >= 0) {
      const line = this.#stdout.slice(0, nl).trim();
      this.#stdout = this.#stdout.slice(nl + 1);
      nl = this.#stdout.indexOf('\n');
      if (!line.startsWith('{')) continue;
      let e: LanEvent;
      try {
        e = JSON.parse(line) as LanEvent;
      } catch {
        continue;
      }
      this.events.push(e);
      for (const w of [...this.#waiters]) {
        if (!w.pred(e)) continue;
        this.#waiters.delete(w);
        clearTimeout(w.timer);
        w.resolve(e);
      }
    }
  }

  /** The last lines of stderr and events, for failure messages. */
  tail(): string {
    const ev = this.events
      .slice(-3)
      .map((e) => JSON.stringify(e))
      .join('\n  ');
    return `\n  [${this.name} stderr] ${this.#stderr.trim() || '(empty)'}\n  [${this.name} last events] ${ev || '(none)'}`;
  }

  /** The first event (seen or to come) that satisfies `pred`. */
  waitFor(pred: (e: LanEvent) => boolean, timeoutMs: number, what: string): Promise<LanEvent> {
    const seen = this.events.find(pred);
    if (seen) return Promise.resolve(seen);
    if (this.child.exitCode !== null || this.child.signalCode !== null)
      return Promise.reject(new Error(`${this.name} has exited, no ${what}${this.tail()}`));
    return new Promise((res, rej) => {
      const w: Waiter = {
        pred,
        resolve: res,
        reject: rej,
        what,
        timer: setTimeout(() => {
          this.#waiters.delete(w);
          rej(new Error(`${this.name}: timed out after ${timeoutMs} ms waiting for ${what}${this.tail()}`));
        }, timeoutMs),
      };
      this.#waiters.add(w);
    });
  }

  waitEvent(event: string, timeoutMs: number): Promise<LanEvent> {
    return this.waitFor((e) => e.event === event, timeoutMs, `"${event}"`);
  }

  /** Verified bytes by the last progress line (the whole torrent once `complete` was seen). */
  get verifiedBytes(): number {
    for (let i = this.events.length - 1; i >= 0; i--) {
      const e = this.events[i]!;
      if (e.event === 'progress' && typeof e.verifiedBytes === 'number') return e.verifiedBytes;
    }
    return 0;
  }

  get completedAtMs(): number | undefined {
    return this.events.find((e) => e.event === 'complete')?.time;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Sends `signal` and waits for the exit (SIGKILL after 5 s). */
  async kill(signal: NodeJS.Signals = 'SIGTERM'): Promise<ExitStatus> {
    if (this.running) {
      this.child.kill(signal);
      const t = setTimeout(() => this.child.kill('SIGKILL'), 5000);
      const status = await this.exited;
      clearTimeout(t);
      return status;
    }
    return this.exited;
  }
}

/** A LAN of namespaces with a temp dir; `run` tears both down whatever happens. */
export interface LanRun {
  lan: NetnsLan;
  /** Scratch folder of this run (removed after). */
  root: string;
  peers: LanPeer[];
  /** Starts `bitswarm <args>` on host `index` (its namespace and address). */
  bitswarm(index: number, name: string, args: readonly string[]): LanPeer;
  /** Runs `bitswarm <args>` on host `index` to completion. */
  bitswarmOnce(
    index: number,
    args: readonly string[],
  ): Promise<{ code: number | null; stdout: string; stderr: string }>;
}

/** bitswarm commands that run a peer, and so would ask a router to forward their port. */
const PEER_COMMANDS = new Set(['download', 'seed', 'share', 'daemon', 'tracker', 'stream']);

/**
 * A bitswarm command line for a host of a test LAN: UPnP and NAT-PMP off, as in every test and
 * benchmark (bound to a namespace's address, not loopback, bitswarm would otherwise search the LAN for
 * a router). The port-mapping tests run bitswarm behind their own router with their own flags.
 */
export function lanArgs(args: readonly string[]): string[] {
  return PEER_COMMANDS.has(args[0] ?? '') ? [...args, '--no-upnp', '--no-natpmp'] : [...args];
}

/**
 * Starts a peer on host `host` of `lan`: bitswarm with `args` (lanArgs), or with `python` a
 * libtorrent driver script run by Debian's python3.
 */
export function spawnLanPeer(
  lan: NetnsLan,
  host: number,
  name: string,
  args: readonly string[],
  python?: string,
): LanPeer {
  const ns = lan.namespaces[host]!;
  const child =
    python === undefined
      ? lan.spawn(ns, process.execPath, [bitswarmBin, ...lanArgs(args)])
      : lan.spawn(ns, '/usr/bin/python3', [python, ...args]);
  return new LanPeer(name, lan.addresses[host]!, child);
}

export async function withLan<T>(hosts: number, body: (run: LanRun) => Promise<T>): Promise<T> {
  const root = await mkdtemp(join(tmpdir(), 'bitswarm-lan-'));
  let lan: NetnsLan | undefined;
  const peers: LanPeer[] = [];
  try {
    lan = await createLan(hosts);
    const l = lan;
    await assertIsolated(l);
    const run: LanRun = {
      lan: l,
      root,
      peers,
      bitswarm(index, name, args) {
        const peer = spawnLanPeer(l, index, name, args);
        peers.push(peer);
        return peer;
      },
      bitswarmOnce(index, args) {
        return l.exec(l.namespaces[index]!, process.execPath, [bitswarmBin, ...lanArgs(args)], {
          timeoutMs: 60_000,
        });
      },
    };
    return await body(run);
  } finally {
    await Promise.all(peers.map((p) => p.kill('SIGKILL')));
    await lan?.teardown();
    await rm(root, { recursive: true, force: true });
  }
}

/**
 * Fails unless every member namespace can reach nothing but its LAN: only `lo` and `eth0`, no
 * default route (IPv4 or IPv6), and every IPv4 route inside 10.77.0.0/24 or multicast.
 */
export async function assertIsolated(lan: NetnsLan): Promise<void> {
  for (const ns of lan.namespaces) {
    const links = await lan.exec(ns, 'ip', ['-o', 'link', 'show']);
    const names = [...links.stdout.matchAll(/^\d+:\s+([^:@\s]+)/gm)].map((m) => m[1]).sort();
    if (names.join(',') !== ['eth0', 'lo'].join(',') || NETNS_IFACE !== 'eth0')
      throw new Error(`${ns}: unexpected links ${names.join(', ')}`);
    for (const family of ['-4', '-6']) {
      const def = await lan.exec(ns, 'ip', [family, 'route', 'show', 'default']);
      if (def.stdout.trim() !== '') throw new Error(`${ns}: has a default route: ${def.stdout.trim()}`);
    }
    const routes = await lan.exec(ns, 'ip', ['-4', 'route', 'show']);
    for (const line of routes.stdout.split('\n').filter((l) => l.trim())) {
      if (!/^(10\.77\.0\.0\/24|224\.0\.0\.0\/4) /.test(line))
        throw new Error(`${ns}: unexpected route ${line}`);
    }
  }
}

export interface SharedFile {
  /** Path below the download directory (the torrent's name first). */
  path: string;
  bytes: Buffer;
}

/**
 * Writes a folder `name` under `parent` of about `totalBytes`: one large file, a few small ones of
 * odd sizes (so pieces straddle files), and an empty file. Deterministic for a given `seed`.
 */
export async function makeFolder(
  parent: string,
  name: string,
  totalBytes: number,
  seed: number,
): Promise<SharedFile[]> {
  const small = [
    { path: `${name}/docs/readme.txt`, bytes: Buffer.from(`bitswarm LAN test ${seed}\n`) },
    { path: `${name}/docs/empty.txt`, bytes: Buffer.alloc(0) },
    { path: `${name}/parts/a.bin`, bytes: pseudoRandomBytes(100_003, seed + 1) },
    { path: `${name}/parts/b.bin`, bytes: pseudoRandomBytes(1_234_567, seed + 2) },
  ];
  const rest = totalBytes - small.reduce((n, f) => n + f.bytes.length, 0);
  const files = [{ path: `${name}/big.bin`, bytes: pseudoRandomBytes(Math.max(1, rest), seed) }, ...small];
  for (const f of files) {
    await mkdir(dirname(join(parent, f.path)), { recursive: true });
    await writeFile(join(parent, f.path), f.bytes);
  }
  return files;
}

/** Mismatches between `files` and what is under `dir` (empty when every byte is equal). */
export async function compareFolder(files: readonly SharedFile[], dir: string): Promise<string[]> {
  const bad: string[] = [];
  for (const f of files) {
    const got = await readFile(join(dir, f.path)).catch(() => undefined);
    if (!got) bad.push(`${f.path}: missing`);
    else if (!got.equals(f.bytes))
      bad.push(`${f.path}: differs (${got.length} bytes, want ${f.bytes.length})`);
  }
  return bad;
}

/**
 * Which pieces of `m` are on disk under `dir` (in a file's own name or its `.part`) with the right
 * hash (a file's missing or short part reads as zeros): what the host holds.
 */
export async function piecesOnDisk(m: Metainfo, dir: string): Promise<boolean[]> {
  const data = Buffer.alloc(m.totalLength);
  for (const f of m.files) {
    if (f.padding || f.length === 0) continue;
    // An incomplete file is named `<name>.part` until every piece touching it is verified.
    const path = join(dir, ...f.path);
    const got = await readFile(path).catch(() => readFile(`${path}.part`).catch(() => undefined));
    got?.copy(data, f.offset, 0, Math.min(got.length, f.length));
  }
  const have: boolean[] = [];
  for (let i = 0; i < m.pieceCount; i++) {
    const start = i * m.pieceLength;
    const piece = data.subarray(start, Math.min(start + m.pieceLength, m.totalLength));
    const hash = createHash('sha1').update(piece).digest();
    have.push(hash.equals(m.pieces.subarray(i * 20, i * 20 + 20)));
  }
  return have;
}

/** Every host uses the same port: each has its own address, as on a real LAN. */
export const LAN_PORT = '6881';
/** Host names by index: A is host 0 (the sharer), B–F the others. */
export const LETTERS = 'ABCDEF';

/** Starts `share` of a new folder on host 0 and waits until it serves. */
export async function shareOnA(
  run: LanRun,
  sizeBytes: number,
  seed: number,
  extra: readonly string[] = [],
): Promise<{ a: LanPeer; files: SharedFile[]; torrent: string }> {
  const addr = run.lan.addresses[0]!;
  const files = await makeFolder(join(run.root, 'A'), 'lan-share', sizeBytes, seed);
  const torrent = join(run.root, 'lan-share.torrent');
  const a = run.bitswarm(0, 'A', [
    'share',
    join(run.root, 'A', 'lan-share'),
    '-o',
    torrent,
    '--bind',
    addr,
    '--port',
    LAN_PORT,
    '--no-dht',
    '--no-lsd',
    '--json',
    ...extra,
  ]);
  const shared = await a.waitEvent('shared', 60_000);
  // The .torrent names A's own tracker, at the address the other hosts reach it at.
  assert.equal(shared.announce, `http://${addr}:${LAN_PORT}/announce`);
  await a.waitEvent('start', 30_000);
  return { a, files, torrent };
}

/** Starts `download --seed` of `what` (a .torrent or magnet) on hosts `from`…`to`. */
export function startLeechers(
  run: LanRun,
  what: string,
  hosts: readonly number[],
  extra: readonly string[] = ['--no-lsd'],
): LanPeer[] {
  return hosts.map((i) =>
    run.bitswarm(i, LETTERS[i]!, [
      'download',
      what,
      '-d',
      join(run.root, LETTERS[i]!),
      '--bind',
      run.lan.addresses[i]!,
      '--port',
      LAN_PORT,
      '--no-dht',
      '--seed',
      '--json',
      ...extra,
    ]),
  );
}

/** Packets the shaping of every host sent and dropped so far (netns.ts `shapingStats`, summed). */
export async function shapingTotals(lan: NetnsLan): Promise<{ sent: number; dropped: number }> {
  let sent = 0;
  let dropped = 0;
  for (const ns of lan.namespaces) {
    const st = await lan.shapingStats(ns);
    sent += st?.sentPackets ?? 0;
    dropped += st?.droppedPackets ?? 0;
  }
  return { sent, dropped };
}

export const MiB = 1024 * 1024;

/** `x` with one decimal, for timing lines. */
export const fmt = (x: number): string => x.toFixed(1);

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
