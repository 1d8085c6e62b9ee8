// The state directory: what a session remembers across a restart or a crash.
//
//   <state>/lock                   the one process that uses this directory (state-lock.ts)
//   <state>/session.json           the session's own settings
//   <state>/api.json               where the daemon's control API listens (for the CLI)
//   <state>/api-token              the control API's token (mode 0600)
//   <state>/dht.json               the DHT routing table
//   <state>/torrents/<hash>.torrent  each torrent's metainfo (or .magnet for one still fetching)
//   <state>/torrents/<hash>.json     its settings and resume data
//
// Every file is written atomically: a temp file, fsync, rename over the old one, fsync of the folder.
// A damaged file costs only its own torrent (it is rechecked, or skipped with a warning).

import { randomBytes } from 'node:crypto';
import { lstat, mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { errorText, type Logger, silentLogger } from '../util/logger.js';
import type { AltSpeedSchedule } from './alt-speed.js';

export function defaultStateDir(): string {
  const xdg = process.env.XDG_STATE_HOME;
  return xdg?.startsWith('/') ? join(xdg, 'bitswarm') : join(homedir(), '.local', 'state', 'bitswarm');
}

/** Per-torrent settings and resume data, as saved. */
export interface TorrentRecord {
  version: 1;
  infoHash: string;
  name: string;
  dir: string;
  paused: boolean;
  addedAtMs: number;
  /** Its place in the queue, lower first; absent: its add time (where the user never moved it). */
  queueOrder?: number;
  /** File priorities by file index: 0 skip, 1 low … 4 normal … 7 high. Absent: all normal. */
  priorities?: number[];
  uploadLimitBytesPerSec?: number;
  downloadLimitBytesPerSec?: number;
  /** Seeding goals: stop seeding at this ratio or after this many seconds of seeding. */
  seedRatio?: number;
  seedTimeSec?: number;
  /** Set when a seeding goal was reached (the torrent stays stopped after a restart). */
  finished?: boolean;
  uploadedBytes: number;
  downloadedBytes: number;
  seedingSec: number;
  /** Resume data: verified pieces (peer-wire bitfield, base64) and the files as they were then. */
  resume?: { pieces: string; files: { size: number; mtimeMs: number }[] };
  /** The user's tracker tiers (BEP 12), in place of the metainfo's; absent: the metainfo's. */
  trackers?: string[][];
  /** Peers the user banned (`host:port`): banned again at every start. */
  bannedPeers?: string[];
  /** Peers to try first after a restart. */
  peers?: string[];
  /** Download pieces in order. */
  sequential?: boolean;
  /** A magnet still fetching metadata. */
  magnet?: string;
  /** A magnet whose files the user chooses first: its metadata is fetched, then it rests paused. */
  chooseFiles?: boolean;
  /**
   * What this torrent created on disk, with the inode and birth time (ms; 0 or absent where the file
   * system keeps none) each had then: file indices, and folders as paths relative to `dir` ('/'
   * between elements). Only these are deleted with its data. Absent in records written before it
   * existed: then nothing can be proven to be the torrent's own.
   */
  created?: {
    files: { file: number; ino: number; born?: number }[];
    folders: { path: string; ino: number; born?: number }[];
  };
}

export interface SessionSettings {
  port?: number;
  uploadLimitBytesPerSec?: number;
  downloadLimitBytesPerSec?: number;
  maxActiveDownloads?: number;
  maxActiveSeeds?: number;
  maxConnections?: number;
  maxConnectionsPerTorrent?: number;
  /** The daemon's default download folder (its `-d`, or as the API changed it), absolute. */
  downloadDir?: string;
  /** The daemon's last `-d`: a folder the API's adds and default folder may be in, besides --allow-dir. */
  downloadRoot?: string;
  /** The alternative ("turtle") speeds: whether on, their limits, their schedule. */
  altSpeedEnabled?: boolean;
  altUploadLimitBytesPerSec?: number;
  altDownloadLimitBytesPerSec?: number;
  altSpeedSchedule?: AltSpeedSchedule;
  /** The discovery switches for the next start (absent: on). */
  dht?: boolean;
  lsd?: boolean;
  pex?: boolean;
}

export class StateStore {
  readonly dir: string;
  readonly #torrents: string;
  readonly #log: Logger;

  constructor(dir: string, log: Logger = silentLogger) {
    this.dir = dir;
    this.#log = log;
    this.#torrents = join(dir, 'torrents');
  }

  async open(): Promise<void> {
    await mkdir(this.#torrents, { recursive: true, mode: 0o700 });
    // Temp files of writes a crash interrupted: the files they were for are intact.
    for (const d of [this.dir, this.#torrents]) {
      // Just made (mkdir above): a folder that cannot be listed has no temp files we could remove.
      for (const n of await readdir(d).catch(() => [] as string[])) {
        if (/\.[0-9a-f]{8}\.tmp$/.test(n)) await rm(join(d, n), { force: true });
      }
    }
  }

  /** Writes `data` to `path` atomically (temp file, fsync, rename, fsync of the folder). */
  async writeAtomic(path: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
    const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
    const fh = await open(tmp, 'w', mode);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await rename(tmp, path);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    await fsyncDir(join(path, '..'));
  }

  async readJson<T>(path: string): Promise<T | undefined> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      // Missing: no such record yet (the caller says what that means); anything else is logged.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        this.#log.warn('state file not read', { file: path, error: errorText(err) });
      return undefined;
    }
    return JSON.parse(text) as T; // a SyntaxError tells the caller the file is damaged
  }

  torrentPath(hex: string): string {
    return join(this.#torrents, `${hex}.torrent`);
  }

  recordPath(hex: string): string {
    return join(this.#torrents, `${hex}.json`);
  }

  async saveMetainfo(hex: string, bytes: Uint8Array): Promise<void> {
    await this.writeAtomic(this.torrentPath(hex), bytes);
  }

  async saveRecord(record: TorrentRecord): Promise<void> {
    await this.writeAtomic(this.recordPath(record.infoHash), JSON.stringify(record));
  }

  async removeTorrent(hex: string): Promise<void> {
    await rm(this.torrentPath(hex), { force: true });
    await rm(this.recordPath(hex), { force: true });
  }

  /** The info hashes that have a record or a metainfo file. */
  async list(): Promise<string[]> {
    const names = await readdir(this.#torrents).catch((err: unknown) => {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        this.#log.error('saved torrents not listed', { dir: this.#torrents, error: errorText(err) });
      return [] as string[];
    });
    const out = new Set<string>();
    for (const n of names) {
      const m = /^([0-9a-f]{40})\.(torrent|json)$/.exec(n);
      if (m) out.add(m[1]!);
    }
    return [...out].sort();
  }

  async loadSettings(): Promise<SessionSettings> {
    try {
      return (await this.readJson<SessionSettings>(join(this.dir, 'session.json'))) ?? {};
    } catch (err) {
      this.#log.warn('damaged session settings ignored (defaults used)', {
        file: join(this.dir, 'session.json'),
        error: errorText(err),
      });
      return {};
    }
  }

  async saveSettings(s: SessionSettings): Promise<void> {
    await this.writeAtomic(join(this.dir, 'session.json'), JSON.stringify(s, null, 2));
  }

  /** The API token, created on first use. */
  async token(): Promise<string> {
    const path = join(this.dir, 'api-token');
    const st = await lstat(path).catch(() => undefined);
    if (st && !st.isFile())
      throw new Error(`${path} is not a regular file: remove it or choose another --state`);
    try {
      const t = (await readFile(path, 'utf8')).trim();
      if (/^[0-9a-f]{64}$/.test(t)) return t;
    } catch {
      // created below
    }
    const t = randomBytes(32).toString('hex');
    await this.writeAtomic(path, `${t}\n`, 0o600);
    return t;
  }
}

async function fsyncDir(dir: string): Promise<void> {
  try {
    const fh = await open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    // Some file systems refuse to fsync a folder; the rename is still atomic.
  }
}

/** Sizes and mtimes of a torrent's files under `dir` (missing files: size -1). */
export async function fileFingerprints(
  paths: readonly string[],
): Promise<{ size: number; mtimeMs: number }[]> {
  return Promise.all(
    paths.map(async (p) => {
      // An incomplete file may be `<name>.part` (file-storage.ts); renaming it keeps size and mtime.
      for (const path of p === '' ? [] : [p, `${p}.part`]) {
        try {
          const st = await stat(path);
          return { size: st.size, mtimeMs: Math.floor(st.mtimeMs) };
        } catch {
          // Not there under this name: the other name, or "missing" (size -1) is the answer.
        }
      }
      return { size: -1, mtimeMs: 0 };
    }),
  );
}
