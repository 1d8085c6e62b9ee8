// Shared helpers for the manager, state-store and control API tests: sample torrents on disk,
// loopback sessions, seeders, polling, and a raw HTTP client (fetch refuses to set `Host`).

import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { after, before } from 'node:test';
import { ApiServer } from '../../../src/api/server.js';
import { type Metainfo, parseMetainfo } from '../../../src/protocol/metainfo.js';
import { TorrentManager, type TorrentStatus } from '../../../src/session/manager.js';
import { Session, type SessionOptions } from '../../../src/session/session.js';
import { StateStore } from '../../../src/session/state-store.js';
import { createTorrent } from '../../../src/storage/create-torrent.js';
import { bitswarmNodeArgs, type JsonChild, pseudoRandomBytes, spawnJson } from '../../interop/helpers.js';

export async function tempDir(prefix: string): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `bitswarm-${prefix}-`));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export interface SampleFile {
  /** Path under the torrent's root (for a multi-file torrent, without the torrent's name). */
  path: string;
  bytes: Buffer;
}

export interface SampleTorrent {
  metainfo: Metainfo;
  torrentBytes: Buffer;
  torrentPath: string;
  /** Folder that holds the torrent's data (its name is inside it). */
  dataDir: string;
  name: string;
  /** Files with their paths relative to a download folder (the torrent's name first). */
  files: SampleFile[];
}

let seedCounter = 1;

/**
 * Writes files of pseudo-random bytes under `<root>/seed-<name>/<name>/…` and makes a torrent of them.
 * One file without a folder gives a single-file torrent.
 */
export async function makeTorrent(
  root: string,
  name: string,
  sizes: readonly number[],
  options: {
    pieceLength?: number;
    announce?: string[][];
    single?: boolean;
    version?: 'v1' | 'v2' | 'hybrid';
    createdBy?: string;
    creationDate?: number;
  } = {},
): Promise<SampleTorrent> {
  const dataDir = join(root, `seed-${name}`);
  const files: SampleFile[] = [];
  if (options.single) {
    const bytes = pseudoRandomBytes(sizes[0] ?? 0, seedCounter++);
    files.push({ path: name, bytes });
  } else {
    sizes.forEach((size, i) => {
      files.push({ path: `${name}/f${i}.bin`, bytes: pseudoRandomBytes(size, seedCounter++) });
    });
  }
  for (const f of files) {
    await mkdir(dirname(join(dataDir, f.path)), { recursive: true });
    await writeFile(join(dataDir, f.path), f.bytes);
  }
  const created = await createTorrent(join(dataDir, name), {
    pieceLength: options.pieceLength ?? 16384,
    creationDate: options.creationDate ?? null,
    threads: 0,
    ...(options.version ? { version: options.version } : {}),
    ...(options.createdBy ? { createdBy: options.createdBy } : {}),
    ...(options.announce ? { announce: options.announce } : {}),
  });
  const torrentPath = join(root, `${name}.torrent`);
  await writeFile(torrentPath, created.torrent);
  return {
    metainfo: parseMetainfo(created.torrent),
    torrentBytes: created.torrent,
    torrentPath,
    dataDir,
    name,
    files,
  };
}

/** Every file under `dir`, relative ('/' between elements), sorted. */
export async function listing(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else out.push(relative(dir, p).split('\\').join('/'));
    }
  };
  await walk(dir);
  return out.sort();
}

/** Files of `sample` that differ from the originals under `dir` (empty: byte-exact). */
export async function differences(sample: SampleTorrent, dir: string): Promise<string[]> {
  const bad: string[] = [];
  for (const f of sample.files) {
    const got = await readFile(join(dir, f.path)).catch(() => undefined);
    if (!got) bad.push(`${f.path}: missing`);
    else if (!got.equals(f.bytes)) bad.push(`${f.path}: differs`);
  }
  return bad;
}

/** A loopback session with no discovery but the given peers; stop it in `after`/`finally`. */
export async function loopbackSession(options: SessionOptions = {}): Promise<Session> {
  const s = new Session({
    port: 0,
    bind: '127.0.0.1',
    dht: false,
    lsd: false,
    hasherThreads: 0,
    trackerClient: false,
    ...options,
  });
  await s.start();
  return s;
}

/** A session seeding `sample` from its data folder. */
/** A temp dir, one sample torrent in it and a loopback seeder of it: see seededSample. */
export interface SeededSample {
  root: string;
  sample: SampleTorrent;
  seed: Session;
}

/**
 * Registers the calling test file's hooks: before its tests, a temp dir (`prefix`) holding the
 * sample torrent `name` of files of `sizes` and a loopback seeder of it; after them, the seeder
 * stopped and the dir removed. The fields are set once the `before` hook has run.
 */
export function seededSample(
  prefix: string,
  name: string,
  sizes: readonly number[],
  options?: Parameters<typeof makeTorrent>[3],
): SeededSample {
  const fx = {} as SeededSample;
  let cleanup: (() => Promise<void>) | undefined;
  before(async () => {
    const t = await tempDir(prefix);
    cleanup = t.cleanup;
    fx.root = t.dir;
    fx.sample = await makeTorrent(fx.root, name, sizes, options);
    fx.seed = await seeder(fx.sample);
  });
  after(async () => {
    await fx.seed?.stop();
    await cleanup?.();
  });
  return fx;
}

export async function seeder(sample: SampleTorrent, options: SessionOptions = {}): Promise<Session> {
  const s = await loopbackSession(options);
  const t = await s.add(sample.metainfo, { dir: sample.dataDir });
  if (t.state !== 'seeding') throw new Error(`seeder of ${sample.name} is ${t.state}`);
  return s;
}

export function peerOf(s: Session): { host: string; port: number } {
  return { host: '127.0.0.1', port: s.port };
}

/** A manager over a fresh loopback session (and a state directory when given). */
export async function managerWith(
  stateDir: string | undefined,
  options: { maxActiveDownloads?: number; maxActiveSeeds?: number; flushIntervalMs?: number } = {},
  sessionOptions: SessionOptions = {},
): Promise<{ manager: TorrentManager; session: Session; stop: () => Promise<void> }> {
  const session = await loopbackSession(sessionOptions);
  const manager = new TorrentManager({
    session,
    ...(stateDir ? { store: new StateStore(stateDir) } : {}),
    ...options,
  });
  return {
    manager,
    session,
    stop: async () => {
      await manager.stop();
      await session.stop();
    },
  };
}

/**
 * An API server over a manager over a loopback session, with a state directory under `root`: what
 * the daemon runs, in this process. `stop` stops the three.
 */
export async function apiServerIn(root: string): Promise<{
  session: Session;
  manager: TorrentManager;
  server: ApiServer;
  port: number;
  token: string;
  stop: () => Promise<void>;
}> {
  const session = await loopbackSession();
  const store = new StateStore(join(root, 'state'));
  const manager = new TorrentManager({ session, store });
  await manager.load();
  manager.start();
  const token = await store.token();
  const server = new ApiServer({ manager, session, token, defaultDir: root });
  await server.start();
  return {
    session,
    manager,
    server,
    port: server.address!.port,
    token,
    stop: async () => {
      await server.stop();
      await manager.stop();
      await session.stop();
    },
  };
}

/** Polls `cond` every 20 ms until it holds; fails after `timeoutMs` with `what`. */
export async function waitFor(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export function waitStatus(
  manager: TorrentManager,
  hex: string,
  status: TorrentStatus,
  timeoutMs = 10_000,
): Promise<void> {
  return waitFor(
    () => manager.has(hex) && manager.view(hex).status === status,
    `${hex.slice(0, 8)} to be ${status} (is ${manager.has(hex) ? manager.view(hex).status : 'gone'})`,
    timeoutMs,
  );
}

export { freePort } from '../../interop/clients.js';

export interface RawReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: unknown;
}

/** One HTTP request with full control over the headers (fetch forbids setting Host). */
export function rawRequest(
  port: number,
  method: string,
  path: string,
  o: { headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, method, path, headers: { host: `127.0.0.1:${port}`, ...o.headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
        res.on('error', reject);
      },
    );
    // A server may answer (413) and close before reading the whole body: that is not an error here.
    req.on('error', reject);
    if (o.body !== undefined) req.write(o.body);
    req.end();
  });
}

/**
 * Starts `bitswarm daemon --json` in a child process, bound to loopback with the DHT off; resolves
 * once it listens, and rejects (with its stderr) if it exits first or takes longer than `timeoutMs`.
 */
export async function startDaemonJson(o: {
  state: string;
  /** `-d`; undefined: none, the daemon's saved default folder (a restart that checks it). */
  downloads?: string;
  /** `--port` (default 0: any free one); null: none, the daemon's saved port. */
  port?: number | null;
  /** More daemon arguments. */
  args?: readonly string[];
  /** Node flags before the script (a CPU profile, say). */
  nodeFlags?: readonly string[];
  timeoutMs?: number;
}): Promise<JsonChild> {
  const d = spawnJson([
    ...(o.nodeFlags ?? []),
    ...bitswarmNodeArgs([
      'daemon',
      '--state',
      o.state,
      '--bind',
      '127.0.0.1',
      '--no-dht',
      ...(o.port === null ? [] : ['--port', String(o.port ?? 0)]),
      '--json',
      ...(o.downloads !== undefined ? ['-d', o.downloads] : []),
      ...(o.args ?? []),
    ]),
  ]);
  await Promise.race([
    waitFor(
      () => d.lines.some((l) => l.event === 'listening'),
      'the daemon to listen',
      o.timeoutMs ?? 15_000,
    ),
    d.exited.then((e) => {
      throw new Error(`daemon exited early (${e.code ?? e.signal}): ${d.stderr()}`);
    }),
  ]);
  return d;
}

/** Calls a running daemon's API as its CLI does: port and token from its state folder. */
export async function daemonApi(
  state: string,
): Promise<(method: string, path: string, body?: unknown) => Promise<RawReply>> {
  const token = (await readFile(join(state, 'api-token'), 'utf8')).trim();
  const { port } = JSON.parse(await readFile(join(state, 'api.json'), 'utf8')) as { port: number };
  return (method, path, body) =>
    rawRequest(port, method, `/api/v1${path}`, {
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
}
