// Launchers for the real BitTorrent clients used by the interop tests (libtorrent through
// python3-libtorrent, transmission-daemon, aria2, opentracker) and for bitswarm itself as a child
// process. Every client runs on 127.0.0.1 with DHT, LSD, UPnP and NAT-PMP off (except aria2 with a
// UDP tracker, which needs its DHT socket: see aria2Tracked). Every process started here is tracked
// and killed by `killAll()`.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { get } from 'node:http';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseScrapeReply } from '../../src/protocol/tracker-http.js';

const execFileP = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
/** Repository root (this file runs from dist/test/interop). */
export const repoRoot = resolve(here, '../../..');
export const bitswarmBin = join(repoRoot, 'bin', 'bitswarm.js');
const ltScript = join(repoRoot, 'test', 'interop', 'lt-peer.py');

const live = new Set<ChildProcess>();

export interface Proc {
  child: ChildProcess;
  output: string[];
  /** Resolves with the first output line that satisfies `pred`. */
  waitFor(pred: (line: string) => boolean, timeoutMs: number, what: string): Promise<string>;
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export function run(
  cmd: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Proc {
  const child = spawn(cmd, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  const output: string[] = [];
  const waiters = new Set<{ pred: (l: string) => boolean; resolve: (l: string) => void }>();
  const onData = (chunk: Buffer): void => {
    for (const line of chunk.toString('utf8').split(/\r|\n/)) {
      if (!line.trim()) continue;
      output.push(line);
      if (output.length > 5000) output.shift();
      for (const w of waiters) {
        if (w.pred(line)) {
          waiters.delete(w);
          w.resolve(line);
        }
      }
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<number | null>((res) => {
    child.once('exit', (code) => {
      live.delete(child);
      res(code);
    });
    child.once('error', () => {
      live.delete(child);
      res(-1);
    });
  });
  return {
    child,
    output,
    exited,
    waitFor(pred, timeoutMs, what) {
      const found = output.find(pred);
      if (found) return Promise.resolve(found);
      return new Promise((res, rej) => {
        const w = { pred, resolve: res };
        waiters.add(w);
        const t = setTimeout(() => {
          waiters.delete(w);
          rej(
            new Error(
              `timed out after ${timeoutMs} ms waiting for ${what}; last output:\n${output.slice(-15).join('\n')}`,
            ),
          );
        }, timeoutMs);
        void exited.then((code) => {
          if (!waiters.has(w)) return;
          // give buffered output a moment, then fail
          setTimeout(() => {
            if (!waiters.has(w)) return;
            waiters.delete(w);
            clearTimeout(t);
            rej(
              new Error(
                `${cmd} exited (${code}) before ${what}; last output:\n${output.slice(-15).join('\n')}`,
              ),
            );
          }, 100);
        });
        const origResolve = w.resolve;
        w.resolve = (l) => {
          clearTimeout(t);
          origResolve(l);
        };
      });
    },
    async kill(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

export async function killAll(): Promise<void> {
  await Promise.all(
    [...live].map(
      (c) =>
        new Promise<void>((res) => {
          if (c.exitCode !== null || c.signalCode !== null) return res();
          c.once('exit', () => res());
          c.kill('SIGKILL');
        }),
    ),
  );
}

/**
 * A port free for both TCP and UDP on 127.0.0.1 (a bitswarm peer binds both), picked at random
 * below Linux's ephemeral range (32768+) so outgoing connections and UDP sockets of other
 * processes cannot take it between this check and its use.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 10_000 + Math.floor(Math.random() * 22_000);
    if ((await canBind('tcp', port)) && (await canBind('udp', port))) return port;
  }
  throw new Error('no free port found for TCP and UDP');
}

function canBind(kind: 'tcp' | 'udp', port: number): Promise<boolean> {
  return new Promise((res) => {
    if (kind === 'tcp') {
      const s = createServer();
      s.once('error', () => res(false));
      s.listen(port, '127.0.0.1', () => s.close(() => res(true)));
    } else {
      const u = createSocket('udp4');
      u.once('error', () => {
        u.close();
        res(false);
      });
      u.bind(port, '127.0.0.1', () => u.close(() => res(true)));
    }
  });
}

export function hasTool(path: string): boolean {
  return existsSync(path);
}

/** In CI a missing client is a failure; on a developer's machine the test is skipped. */
export function requireTool(path: string): string | false {
  if (existsSync(path)) return false;
  if (process.env.CI) throw new Error(`${path} is missing: .ci/run must install it`);
  return `${path} not installed`;
}

// ---------------------------------------------------------------------------------------------------

/** `--port N --bind 127.0.0.1`: a bitswarm command's sockets on loopback only. */
export function onLoopback(port: number): string[] {
  return ['--port', String(port), '--bind', '127.0.0.1'];
}

export function bitswarm(args: string[], cwd?: string): Proc {
  return run(process.execPath, [bitswarmBin, ...args], cwd ? { cwd } : {});
}

export interface LtOptions {
  torrent?: string;
  magnet?: string;
  dir: string;
  port?: number;
  peers?: string[];
  exitWhenDone?: boolean;
  dhtBootstrap?: string;
}

export function libtorrent(o: LtOptions): Promise<Proc & { port: number }> {
  return libtorrentWith(o, []);
}

export interface TransmissionDaemon {
  proc: Proc;
  peerPort: number;
  rpcPort: number;
  remote(...args: string[]): Promise<string>;
  waitComplete(timeoutMs: number): Promise<void>;
  stop(): Promise<void>;
}

/** `settings` are merged into its settings.json (e.g. `{ encryption: 2 }`: encryption required). */
export async function transmission(
  configDir: string,
  downloadDir: string,
  settingsOverride: Record<string, unknown> = {},
): Promise<TransmissionDaemon> {
  await mkdir(configDir, { recursive: true });
  const peerPort = await freePort();
  const rpcPort = await freePort();
  const settings = {
    'bind-address-ipv4': '127.0.0.1',
    'bind-address-ipv6': '::1',
    'dht-enabled': false,
    'lpd-enabled': false,
    'pex-enabled': false,
    'utp-enabled': false,
    'port-forwarding-enabled': false,
    'peer-port': peerPort,
    'peer-port-random-on-start': false,
    'rpc-enabled': true,
    'rpc-bind-address': '127.0.0.1',
    'rpc-port': rpcPort,
    'rpc-authentication-required': false,
    'rpc-whitelist-enabled': false,
    'rpc-host-whitelist-enabled': false,
    'download-dir': downloadDir,
    'incomplete-dir-enabled': false,
    'start-added-torrents': true,
    'ratio-limit-enabled': false,
    encryption: 1,
    'message-level': 2,
    'blocklist-enabled': false,
    'speed-limit-up-enabled': false,
    'speed-limit-down-enabled': false,
    'cache-size-mb': 4,
    'peer-limit-global': 200,
    'peer-limit-per-torrent': 60,
    ...settingsOverride,
  };
  await writeFile(join(configDir, 'settings.json'), JSON.stringify(settings, null, 2));
  const proc = run('/usr/bin/transmission-daemon', ['-f', '-g', configDir, '--log-error']);
  const remote = async (...args: string[]): Promise<string> => {
    const { stdout } = await execFileP('/usr/bin/transmission-remote', [`127.0.0.1:${rpcPort}`, ...args], {
      timeout: 10_000,
    });
    return stdout;
  };
  // wait for RPC
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      await remote('-l');
      break;
    } catch (err) {
      if (Date.now() > deadline)
        throw new Error(
          `transmission-daemon RPC never came up: ${(err as Error).message}\n${proc.output.join('\n')}`,
        );
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  return {
    proc,
    peerPort,
    rpcPort,
    remote,
    async waitComplete(timeoutMs) {
      const end = Date.now() + timeoutMs;
      let info = '';
      while (Date.now() < end) {
        info = await remote('-t', 'all', '-i').catch(() => '');
        if (/Percent Done: 100%/.test(info) && !/State: (Verifying|Queued for verification)/.test(info))
          return;
        await new Promise((r) => setTimeout(r, 300));
      }
      throw new Error(`transmission did not complete in ${timeoutMs} ms:\n${info}`);
    },
    async stop() {
      await proc.kill('SIGTERM'); // 3.00 may crash on shutdown: exit code ignored
    },
  };
}

export interface Aria2Options {
  torrent: string;
  dir: string;
  port: number;
  seed: boolean;
}

export function aria2(o: Aria2Options): Proc {
  const args = [
    '--enable-dht=false',
    '--enable-dht6=false',
    '--bt-enable-lpd=false',
    '--enable-peer-exchange=false',
    `--listen-port=${o.port}`,
    '--file-allocation=falloc',
    '--console-log-level=notice',
    '--summary-interval=1',
    '--bt-stop-timeout=0',
    '--disable-ipv6=true',
    '--check-certificate=false',
    '--bt-tracker-connect-timeout=5',
    `--dir=${o.dir}`,
    '--interface=127.0.0.1',
  ];
  if (o.seed) args.push('--check-integrity=true', '--seed-ratio=0.0', '--bt-seed-unverified=false');
  else args.push('--seed-time=0');
  args.push(o.torrent);
  return run('/usr/bin/aria2c', args);
}

// ---------------------------------------------------------------------------------------------------
// DHT on loopback (dht-interop.test.ts): libtorrent with its DHT on and bootstrapped from a test node
// only, and a bitswarm DHT node to bootstrap from.

export interface LtDhtOptions extends LtOptions {
  /** Required here: the DHT's only bootstrap nodes, "host:port[,host:port]". Never a public one. */
  dhtBootstrap: string;
  /** Re-announce to the DHT every this many seconds while no peer is connected. */
  dhtAnnounceEverySec?: number;
  /**
   * libtorrent's own defaults, as a desktop client runs it: DHT settings none relaxed (one node per
   * IP and per /24, preferred BEP 42 ids) — the test must then give every node its own /24 of 127/8
   * — and the torrent added auto-managed. Default: relaxed (--dht-loopback), not auto-managed.
   */
  dhtDefaults?: boolean;
  /** The loopback address libtorrent listens on (default 127.0.0.1). */
  bind?: string;
}

/**
 * libtorrent with its DHT on; unless `dhtDefaults`, allowed to keep many nodes of one IP (every
 * test node is then 127.0.0.1).
 */
export async function libtorrentDht(o: LtDhtOptions): Promise<Proc & { port: number }> {
  if (!/^(127\.\d+\.\d+\.\d+|\[::1\]):\d+(,(127\.\d+\.\d+\.\d+|\[::1\]):\d+)*$/.test(o.dhtBootstrap))
    throw new Error(`libtorrentDht: bootstrap ${o.dhtBootstrap} is not on loopback`);
  const args = [ltScript, '--dir', o.dir, '--port', String(o.port ?? 0)];
  args.push(o.dhtDefaults ? '--auto-managed' : '--dht-loopback');
  if (o.bind) {
    if (!/^127\.\d+\.\d+\.\d+$/.test(o.bind)) throw new Error(`libtorrentDht: ${o.bind} is not loopback`);
    args.push('--bind', o.bind);
  }
  if (o.torrent) args.push('--torrent', o.torrent);
  if (o.magnet) args.push('--magnet', o.magnet);
  for (const p of o.peers ?? []) args.push('--peer', p);
  if (o.exitWhenDone) args.push('--exit-when-done');
  args.push('--dht-bootstrap', o.dhtBootstrap);
  if (o.dhtAnnounceEverySec) args.push('--dht-announce-every', String(o.dhtAnnounceEverySec));
  const p = run('/usr/bin/python3', args);
  const line = await p.waitFor((l) => l.includes('"listening"'), 20_000, 'libtorrent to listen');
  const port = (JSON.parse(line) as { port: number }).port;
  return Object.assign(p, { port });
}

/**
 * A bitswarm process that is the first node of a new DHT (`--dht-bootstrap none`) on 127.0.0.1,
 * seeding `torrent` from `dir` so that it has something to run. Resolves once it is seeding.
 */
export async function bitswarmDhtRoot(
  torrent: string,
  dir: string,
  bind = '127.0.0.1',
): Promise<Proc & { port: number }> {
  const port = await freePort();
  const p = bitswarm([
    'seed',
    torrent,
    '-d',
    dir,
    '--port',
    String(port),
    '--bind',
    bind,
    '--dht-bootstrap',
    'none',
    '--no-tracker',
    '--json',
  ]);
  await p.waitFor((l) => l.includes('"event":"complete"'), 30_000, 'bitswarm DHT root to start');
  return Object.assign(p, { port });
}

// ---------------------------------------------------------------------------------------------------
// Trackers: a bitswarm peer's embedded tracker, Debian's opentracker, and clients told to use them.

/** `bitswarm tracker` on 127.0.0.1:port (HTTP and UDP), open to any info hash; resolves once it listens. */
export async function bitswarmTracker(port: number): Promise<Proc> {
  const p = bitswarm(['tracker', '--port', String(port), '--bind', '127.0.0.1', '--json']);
  await p.waitFor((l) => l.includes('"event":"listening"'), 20_000, 'bitswarm tracker to listen');
  return p;
}

/** Seeders and leechers a tracker counts for one torrent. */
export interface SwarmCounts {
  complete: number;
  incomplete: number;
  /** Announces with event=completed the tracker has seen. */
  downloaded: number;
}

/** Percent-encodes every byte of a hex info hash (what a tracker's query string wants). */
function percentHash(infoHashHex: string): string {
  return infoHashHex.replace(/../g, (b) => `%${b}`);
}

/**
 * An HTTP scrape of one info hash on 127.0.0.1:port (bitswarm serves HTTP and UDP on one port, and
 * so does opentracker here), or undefined when the tracker does not answer or does not know it.
 */
export async function scrapeCounts(port: number, infoHashHex: string): Promise<SwarmCounts | undefined> {
  const body = await new Promise<Buffer | undefined>((res) => {
    const req = get(`http://127.0.0.1:${port}/scrape?info_hash=${percentHash(infoHashHex)}`, (r) => {
      const parts: Buffer[] = [];
      r.on('data', (b: Buffer) => parts.push(b));
      r.on('end', () => res(Buffer.concat(parts)));
      r.on('error', () => res(undefined));
    });
    req.setTimeout(3000, () => req.destroy());
    req.on('error', () => res(undefined));
  });
  if (!body) return undefined;
  try {
    const counts = parseScrapeReply(body).get(infoHashHex.toLowerCase());
    return counts
      ? { complete: counts.complete, incomplete: counts.incomplete, downloaded: counts.downloaded }
      : undefined;
  } catch {
    return undefined;
  }
}

/** Polls `scrapeCounts` until `pred` holds (e.g. "the seeder has announced"). */
export async function waitForSwarm(
  port: number,
  infoHashHex: string,
  pred: (c: SwarmCounts) => boolean,
  timeoutMs: number,
  what: string,
): Promise<SwarmCounts> {
  const end = Date.now() + timeoutMs;
  let last: SwarmCounts | undefined;
  while (Date.now() < end) {
    last = await scrapeCounts(port, infoHashHex);
    if (last && pred(last)) return last;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}; last scrape: ${JSON.stringify(last)}`,
  );
}

/**
 * Debian's opentracker on 127.0.0.1:port (TCP and UDP). Debian builds it with a whitelist: it serves
 * only `infoHashesHex`. It chroots to its cwd and drops privileges (to nobody) before reading the
 * whitelist, so `dir` becomes world-readable — and every folder above `dir` must be searchable by
 * others (mkdtemp makes 0700 folders: chmod them 0755). Resolves once it serves the first hash.
 */
export async function opentracker(dir: string, port: number, infoHashesHex: string[]): Promise<Proc> {
  await mkdir(dir, { recursive: true });
  const whitelist = join(dir, 'whitelist');
  await writeFile(whitelist, infoHashesHex.map((h) => `${h}\n`).join(''));
  await chmod(dir, 0o755);
  await chmod(whitelist, 0o644);
  const p = run(
    '/usr/bin/opentracker',
    ['-i', '127.0.0.1', '-p', String(port), '-P', String(port), '-w', whitelist],
    { cwd: dir },
  );
  // The whitelist is loaded by a thread after the sockets open: until then every announce fails.
  const hash = percentHash(infoHashesHex[0] ?? '');
  const url = `http://127.0.0.1:${port}/announce?info_hash=${hash}&peer_id=-XX0000-000000000000&port=1&left=0&event=stopped`;
  const end = Date.now() + 10_000;
  for (;;) {
    const body = await new Promise<string>((res) => {
      get(url, (r) => {
        let text = '';
        r.on('data', (b: Buffer) => {
          text += b.toString('latin1');
        });
        r.on('end', () => res(text));
      }).on('error', () => res('failure reason'));
    });
    if (body.startsWith('d') && body.includes('8:interval')) return p;
    if (Date.now() > end || p.child.exitCode !== null)
      throw new Error(`opentracker did not serve the whitelisted hash in time:\n${p.output.join('\n')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** libtorrent (lt-peer.py) with extra flags, e.g. `--log-trackers`, `--log-peers`, `--reannounce-every N`. */
export async function libtorrentWith(o: LtOptions, extraArgs: string[]): Promise<Proc & { port: number }> {
  const args = [ltScript, '--dir', o.dir, '--port', String(o.port ?? 0)];
  if (o.torrent) args.push('--torrent', o.torrent);
  if (o.magnet) args.push('--magnet', o.magnet);
  for (const p of o.peers ?? []) args.push('--peer', p);
  if (o.exitWhenDone) args.push('--exit-when-done');
  if (o.dhtBootstrap) args.push('--dht-bootstrap', o.dhtBootstrap);
  args.push(...extraArgs);
  const p = run('/usr/bin/python3', args);
  const line = await p.waitFor((l) => l.includes('"listening"'), 20_000, 'libtorrent to listen');
  const port = (JSON.parse(line) as { port: number }).port;
  return Object.assign(p, { port });
}

export interface Aria2TrackerOptions {
  torrent: string;
  dir: string;
  port: number;
  /**
   * aria2 speaks UDP trackers only through its DHT socket ("udp is not supported yet" otherwise), so
   * a torrent with a udp:// tracker needs this port. The DHT then starts with an empty routing table
   * (a fresh `<dir>-dht.dat`, no entry point), so it sends nothing but to the tracker and to peers.
   */
  dhtPort?: number;
}

/** An aria2 leecher that finds its peers through the torrent's tracker; exits 0 once complete. */
export function aria2Tracked(o: Aria2TrackerOptions): Proc {
  const dht =
    o.dhtPort !== undefined
      ? [
          '--enable-dht=true',
          `--dht-listen-port=${o.dhtPort}`,
          `--dht-file-path=${o.dir}-dht.dat`,
          '--dht-message-timeout=2',
        ]
      : ['--enable-dht=false'];
  return run('/usr/bin/aria2c', [
    ...dht,
    '--enable-dht6=false',
    '--bt-enable-lpd=false',
    '--enable-peer-exchange=false',
    `--listen-port=${o.port}`,
    '--file-allocation=falloc',
    '--console-log-level=notice',
    '--summary-interval=1',
    '--bt-stop-timeout=0',
    '--disable-ipv6=true',
    '--bt-tracker-connect-timeout=5',
    '--bt-tracker-timeout=5',
    '--bt-tracker-interval=5',
    '--seed-time=0',
    `--dir=${o.dir}`,
    '--interface=127.0.0.1',
    o.torrent,
  ]);
}
