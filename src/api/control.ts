// The control layer: the operations the daemon offers (add, remove, pause, resume, recheck, move,
// priorities, limits, reannounce, statistics), each a method that checks its input and calls the
// manager or the session. No HTTP here: the router (server.ts) maps routes to these calls and their
// errors (ApiError, ManagerError, MetainfoError) to statuses; tests may call them directly.

import { mkdir, realpath } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { type PeerAddress, parseAddress } from '../protocol/address.js';
import { formatMagnet, isMagnet, parseMagnet } from '../protocol/magnet.js';
import { magnetHashes } from '../protocol/metainfo.js';
import { type AltSpeedSchedule, type AltSpeeds, altSpeedsFor, savedSpeeds } from '../session/alt-speed.js';
import { notContacted } from '../session/diagnostics.js';
import type { TorrentManager } from '../session/manager.js';
import type { Session } from '../session/session.js';
import type { SessionSettings } from '../session/state-store.js';
import { parseTorrentBytes, readTorrentBytes, TorrentFileError } from '../session/torrent-file.js';
import { isInside } from '../storage/file-storage.js';
import type { Torrent } from '../swarm/torrent.js';
import { errorText } from '../util/logger.js';
import {
  type AddReply,
  ApiError,
  type JsonBody,
  type RemoveReply,
  type SessionStats,
  type TorrentDetail,
  type TorrentView,
} from './types.js';

export interface ApiControlOptions {
  manager: TorrentManager;
  session: Session;
  /** Where a torrent added without `dir` goes; an allowed folder. */
  defaultDir: string;
  /** Other folders that adds and moves may use (and any folder inside them). */
  allowedDirs?: readonly string[];
  /** Called with the session settings a call changed (limits, settings), to keep them. */
  onSettings?: (changed: Partial<SessionSettings>) => Promise<void>;
  /** The session's normal and alternative speeds (absent: made from the session's limits now). */
  altSpeeds?: AltSpeeds;
  /** The port and discovery switches saved for the next start (absent: those running now). */
  nextStart?: () => { port?: number; dht?: boolean; lsd?: boolean; pex?: boolean };
}

const HEX40 = /^[0-9a-f]{40}$/;

export class ApiControl {
  readonly #o: ApiControlOptions;

  readonly #speeds: AltSpeeds;
  /** Where a torrent added without `dir` goes: the daemon's `-d`, or what the settings made it. */
  #defaultDir: string;

  constructor(options: ApiControlOptions) {
    this.#o = options;
    this.#speeds =
      options.altSpeeds ??
      altSpeedsFor(options.session, {
        uploadLimitBytesPerSec: options.session.uploadLimit.rateBytesPerSec,
        downloadLimitBytesPerSec: options.session.downloadLimit.rateBytesPerSec,
      });
    this.#defaultDir = options.defaultDir;
  }

  get manager(): TorrentManager {
    return this.#o.manager;
  }

  /** An info hash from a request: 40 lowercase hex digits, else 400. */
  static infoHash(text: string): string {
    if (!HEX40.test(text)) throw new ApiError('ERR_BAD_REQUEST', `"${text}" is not a 40-digit hex info hash`);
    return text;
  }

  list(): { torrents: TorrentView[] } {
    return { torrents: this.#o.manager.list() };
  }

  view(hex: string): TorrentView {
    return this.#o.manager.view(hex);
  }

  async add(body: JsonBody, signal: AbortSignal): Promise<AddReply> {
    const hex = await this.#add(body, signal);
    return { infoHash: hex, torrent: this.#o.manager.view(hex) };
  }

  async remove(hex: string, deleteData: boolean): Promise<RemoveReply> {
    const report = await this.#o.manager.remove(hex, { deleteData });
    // `deleted`: what went; `kept`: what stayed and why (not created by this torrent, a symlink…).
    return { removed: hex, deletedData: deleteData, ...report };
  }

  async pause(hex: string): Promise<TorrentView> {
    await this.#o.manager.pause(hex);
    return this.view(hex);
  }

  async resume(hex: string): Promise<TorrentView> {
    await this.#o.manager.resume(hex);
    return this.view(hex);
  }

  async recheck(hex: string): Promise<TorrentView> {
    await this.#o.manager.recheck(hex);
    return this.view(hex);
  }

  reannounce(hex: string): TorrentView {
    this.#o.manager.reannounce(hex);
    return this.view(hex);
  }

  async move(hex: string, body: JsonBody): Promise<TorrentView> {
    // The same allow-list as an add: the API never writes outside the folders the user allowed.
    await this.#o.manager.move(hex, await this.#allowedDir(body.dir));
    return this.view(hex);
  }

  /** Replaces a torrent's trackers; the body's shape was checked against the route's schema. */
  async setTrackers(hex: string, body: JsonBody): Promise<TorrentDetail> {
    await this.#o.manager.setTrackers(hex, body.tiers as string[][]);
    return this.detail(hex);
  }

  /** Moves a torrent in the queue; the body was checked against the route's schema (an enum). */
  moveInQueue(hex: string, body: JsonBody): TorrentView {
    this.#o.manager.moveInQueue(hex, body.move as 'top' | 'up' | 'down' | 'bottom');
    return this.view(hex);
  }

  /** Bans a peer by its endpoint (`host:port`, `[v6]:port`). */
  banPeer(hex: string, body: JsonBody): TorrentDetail {
    const [peer] = peerList([body.peer], 'peer');
    this.#o.manager.banPeer(hex, peer!);
    return this.detail(hex);
  }

  /** Peers the user names (`host:port`, `[v6]:port`): dialled now if it runs, kept for its next start. */
  addPeers(hex: string, body: JsonBody): TorrentView {
    if (!Array.isArray(body.peers) || body.peers.length === 0 || body.peers.length > 200)
      throw new ApiError('ERR_BAD_REQUEST', 'peers: a list of 1 to 200 "HOST:PORT" strings');
    this.#o.manager.addPeers(hex, peerList(body.peers));
    return this.view(hex);
  }

  async setPriorities(hex: string, body: JsonBody): Promise<TorrentDetail> {
    const m = this.#o.manager;
    if (body.files !== undefined || body.priority !== undefined) {
      // Some files only: { files: [indexes], priority: n }.
      const f = body.files;
      const n = body.priority;
      if (
        !Array.isArray(f) ||
        !f.every((x) => Number.isInteger(x)) ||
        !Number.isInteger(n) ||
        (n as number) < 0 ||
        (n as number) > 7
      )
        throw new ApiError(
          'ERR_BAD_REQUEST',
          'files/priority: expected an array of file indexes and a priority from 0 (skip) to 7 (high)',
        );
      await m.setFilePriority(hex, f as number[], n as number);
      return this.detail(hex);
    }
    const p = body.priorities;
    if (!Array.isArray(p) || !p.every((x) => typeof x === 'number')) {
      throw new ApiError(
        'ERR_BAD_REQUEST',
        'priorities: expected an array of numbers (0 skip … 4 normal … 7 high)',
      );
    }
    await m.setFilePriorities(hex, p as number[]);
    return this.detail(hex);
  }

  async setLimits(hex: string, body: JsonBody): Promise<TorrentDetail> {
    const up = optInt(body, 'uploadLimitBytesPerSec');
    const down = optInt(body, 'downloadLimitBytesPerSec');
    const ratio = optNullableNumber(body, 'seedRatio');
    const time = optNullableNumber(body, 'seedTimeSec');
    await this.#o.manager.setLimits(hex, {
      ...(up !== undefined ? { uploadLimitBytesPerSec: up } : {}),
      ...(down !== undefined ? { downloadLimitBytesPerSec: down } : {}),
      ...(ratio !== undefined ? { seedRatio: ratio } : {}),
      ...(time !== undefined ? { seedTimeSec: time } : {}),
    });
    return this.detail(hex);
  }

  async setSessionLimits(body: JsonBody): Promise<SessionStats> {
    const s = this.#o.session;
    const m = this.#o.manager;
    // Every value is checked before any is applied: a bad one changes nothing.
    const up = optInt(body, 'uploadLimitBytesPerSec');
    const down = optInt(body, 'downloadLimitBytesPerSec');
    const maxActiveDownloads = optInt(body, 'maxActiveDownloads');
    const maxActiveSeeds = optInt(body, 'maxActiveSeeds');
    const maxConnections = optInt(body, 'maxConnections');
    if (maxConnections === 0)
      throw new ApiError(
        'ERR_BAD_REQUEST',
        'maxConnections: at least 1 (no connection would download nothing)',
      );
    this.#speeds.set({
      normal: {
        ...(up !== undefined ? { uploadLimitBytesPerSec: up } : {}),
        ...(down !== undefined ? { downloadLimitBytesPerSec: down } : {}),
      },
    });
    m.setQueueLimits({
      ...(maxActiveDownloads !== undefined ? { maxActiveDownloads } : {}),
      ...(maxActiveSeeds !== undefined ? { maxActiveSeeds } : {}),
    });
    if (maxConnections !== undefined) s.connectionBudget.max = maxConnections;
    // Kept in the state directory: a restart brings them back.
    await this.#o.onSettings?.({
      ...(up !== undefined ? { uploadLimitBytesPerSec: up } : {}),
      ...(down !== undefined ? { downloadLimitBytesPerSec: down } : {}),
      ...(maxActiveDownloads !== undefined ? { maxActiveDownloads } : {}),
      ...(maxActiveSeeds !== undefined ? { maxActiveSeeds } : {}),
      ...(maxConnections !== undefined ? { maxConnections } : {}),
    });
    return this.sessionStats();
  }

  /**
   * The settings beyond the limits: the alternative speeds and their schedule (at once), the default
   * download folder (for the next add; inside an allowed folder, created), the listen port and the
   * discovery switches (kept for the next start). Every value is checked before any is applied.
   */
  async setSessionSettings(body: JsonBody): Promise<SessionStats> {
    const alt = body.altSpeed === undefined ? {} : obj(body.altSpeed, 'altSpeed');
    const schedule = alt.schedule === undefined ? undefined : obj(alt.schedule, 'altSpeed.schedule');
    const altUp = optInt(alt, 'uploadLimitBytesPerSec', 'altSpeed.');
    const altDown = optInt(alt, 'downloadLimitBytesPerSec', 'altSpeed.');
    const altOn = optBool(alt, 'enabled', 'altSpeed.');
    const sched: Partial<AltSpeedSchedule> = {};
    if (schedule) {
      const on = optBool(schedule, 'enabled', 'altSpeed.schedule.');
      const begin = optInt(schedule, 'beginMinute', 'altSpeed.schedule.', 1439);
      const end = optInt(schedule, 'endMinute', 'altSpeed.schedule.', 1439);
      const days = schedule.days;
      if (days !== undefined) {
        if (!Array.isArray(days) || !days.every((d) => Number.isInteger(d) && d >= 0 && d <= 6))
          throw new ApiError(
            'ERR_BAD_REQUEST',
            'altSpeed.schedule.days: expected weekdays 0 (Sunday) … 6 (Saturday)',
          );
        sched.days = [...new Set(days as number[])].sort();
      }
      if (on !== undefined) sched.enabled = on;
      if (begin !== undefined) sched.beginMinute = begin;
      if (end !== undefined) sched.endMinute = end;
    }
    const port = optInt(body, 'port', '', 65535, 1);
    const switches = {
      dht: optBool(body, 'dht'),
      lsd: optBool(body, 'lsd'),
      pex: optBool(body, 'pex'),
    };
    let dir: string | undefined;
    if (body.downloadDir !== undefined) {
      dir = await this.#allowedDir(body.downloadDir, 'downloadDir');
      try {
        await mkdir(dir, { recursive: true });
      } catch (err) {
        throw new ApiError('ERR_BAD_REQUEST', `downloadDir: cannot create ${dir}: ${errorText(err)}`);
      }
    }
    // All checked: applied, then kept.
    this.#speeds.set({
      alt: {
        ...(altUp !== undefined ? { uploadLimitBytesPerSec: altUp } : {}),
        ...(altDown !== undefined ? { downloadLimitBytesPerSec: altDown } : {}),
      },
      ...(altOn !== undefined ? { enabled: altOn } : {}),
      ...(schedule ? { schedule: sched } : {}),
    });
    // A schedule switched on inside its window turns turtle on now, as the window's start would.
    if (schedule) this.#speeds.tick(new Date());
    if (dir !== undefined) this.#defaultDir = dir;
    const {
      uploadLimitBytesPerSec: _u,
      downloadLimitBytesPerSec: _d,
      ...speeds
    } = savedSpeeds(this.#speeds.state);
    await this.#o.onSettings?.({
      ...speeds,
      ...(port !== undefined ? { port } : {}),
      ...Object.fromEntries(Object.entries(switches).filter(([, v]) => v !== undefined)),
      ...(dir !== undefined ? { downloadDir: dir } : {}),
    });
    return this.sessionStats();
  }

  /** File `index` of a torrent, when it has one that is not padding (404 otherwise). */
  file(hex: string, index: number): { path: string } {
    const m = this.#o.manager;
    const files = m.metainfoOf(hex)?.files;
    if (!files) m.view(hex); // 404 for an unknown torrent
    const f = files?.[index];
    if (!f || f.padding) throw new ApiError('ERR_NOT_FOUND', `torrent ${hex} has no file ${index}`);
    return { path: f.path.join('/') };
  }

  /** The running torrent, to stream a file of (404 unknown, 409 paused or queued). */
  active(hex: string): Torrent {
    const t = this.#o.manager.torrentOf(hex);
    if (t) return t;
    this.#o.manager.view(hex); // 404 when the daemon does not have it
    throw new ApiError('ERR_CONFLICT', `torrent ${hex} is not active (paused or queued)`);
  }

  sessionStats(): SessionStats {
    const s = this.#o.session;
    const list = this.#o.manager.list();
    const sum = (k: 'downloadRate' | 'uploadRate' | 'uploadedBytes' | 'downloadedBytes' | 'peers'): number =>
      list.reduce((n, t) => n + t[k], 0);
    const count = (status: string): number => list.filter((t) => t.status === status).length;
    const alt = this.#speeds.state;
    const running = s.discovery;
    const saved = this.#o.nextStart?.() ?? {};
    const next = {
      port: saved.port ?? s.port,
      dht: saved.dht ?? running.dht,
      lsd: saved.lsd ?? running.lsd,
      pex: saved.pex ?? running.pex,
    };
    return {
      port: s.port,
      peerId: s.peerId.toString('latin1').slice(0, 8),
      encryption: s.encryption,
      torrents: list.length,
      downloading: count('downloading'),
      seeding: count('seeding'),
      paused: count('paused'),
      queued: count('queued'),
      downloadRate: sum('downloadRate'),
      uploadRate: sum('uploadRate'),
      downloadedBytes: sum('downloadedBytes'),
      uploadedBytes: sum('uploadedBytes'),
      peers: sum('peers'),
      dhtNodes: s.dht?.nodeCount ?? 0,
      portMapping: s.portMapping ?? null,
      limits: {
        ...this.#speeds.state.normal,
        maxActiveDownloads: this.#o.manager.maxActiveDownloads,
        maxActiveSeeds: this.#o.manager.maxActiveSeeds,
        maxConnections: s.connectionBudget.max,
      },
      altSpeed: { ...alt.alt, enabled: alt.enabled, schedule: { ...alt.schedule } },
      effectiveLimits: {
        uploadLimitBytesPerSec: s.uploadLimit.rateBytesPerSec,
        downloadLimitBytesPerSec: s.downloadLimit.rateBytesPerSec,
      },
      discovery: running,
      downloadDir: this.#defaultDir,
      nextStart: next,
      pendingRestart: (['port', 'dht', 'lsd', 'pex'] as const).filter(
        (k) => next[k] !== (k === 'port' ? s.port : running[k]),
      ),
    };
  }

  detail(hex: string): TorrentDetail {
    const m = this.#o.manager;
    const view = m.view(hex);
    const meta = m.metainfoOf(hex);
    const t = m.torrentOf(hex);
    const record = m.recordOf(hex);
    const progress = t?.fileProgress();
    return {
      ...view,
      pieceLength: meta?.pieceLength ?? null,
      pieceCount: meta?.pieceCount ?? null,
      pieces: t ? Buffer.from(t.bitfield.buffer).toString('base64') : (record?.resume?.pieces ?? null),
      private: meta?.private ?? false,
      comment: meta?.comment ?? null,
      metaVersion: meta?.version ?? null,
      infoHashV2: meta?.infoHashV2?.toString('hex') ?? null,
      createdBy: meta?.createdBy ?? null,
      creationDate: meta?.creationDate ?? null,
      magnet: formatMagnet({
        ...(meta ? magnetHashes(meta) : { infoHash: Buffer.from(hex, 'hex') }),
        name: view.name,
        trackers: (meta?.announceList ?? []).flat(),
      }),
      files: (meta?.files ?? [])
        .map((f, i) => ({
          index: i,
          path: f.path.join('/'),
          length: f.length,
          padding: f.padding,
          priority: record?.priorities?.[i] ?? 4,
          verifiedBytes: progress?.[i] ?? 0,
        }))
        .filter((f) => !f.padding),
      peers: t?.peers() ?? [],
      bannedPeers: t?.bannedPeers ?? [...(record?.bannedPeers ?? [])],
      encryptionHints: t?.encryptionHints() ?? [],
      // BEP 19: each web seed's URL, state (active, idle, backoff, banned) with the reason, bytes downloaded.
      webSeeds:
        t?.webSeeds() ??
        (meta?.urlList ?? []).map((url) => ({
          url,
          state: 'idle',
          reason: null,
          retryAtMs: null,
          downloadedBytes: 0,
          downloadRate: 0,
          failures: 0,
        })),
      // Each tracker with its last result or error and the next announce (not running: not contacted).
      trackers: this.#o.session.diagnosticsOf(hex)?.trackers() ?? notContacted(meta?.announceList ?? []),
      // The session's: whether the router forwards our port (UPnP, NAT-PMP/PCP), or why not.
      portMapping: this.#o.session.portMapping ?? null,
      limits: {
        uploadLimitBytesPerSec: record?.uploadLimitBytesPerSec ?? 0,
        downloadLimitBytesPerSec: record?.downloadLimitBytesPerSec ?? 0,
        seedRatio: record?.seedRatio ?? null,
        seedTimeSec: record?.seedTimeSec ?? null,
      },
    };
  }

  async #add(body: JsonBody, signal: AbortSignal): Promise<string> {
    const m = this.#o.manager;
    const dir = body.dir === undefined ? this.#defaultDir : await this.#allowedDir(body.dir);
    const peers = Array.isArray(body.peers) ? peerList(body.peers) : [];
    const up = optInt(body, 'uploadLimitBytesPerSec');
    const down = optInt(body, 'downloadLimitBytesPerSec');
    const common = {
      dir,
      peers,
      paused: body.paused === true,
      ...(body.sequential === true ? { sequential: true } : {}),
      // Adding what is there answers 409: the new folder and settings would be silently ignored.
      refuseExisting: true,
      ...(Array.isArray(body.priorities) ? { priorities: body.priorities as number[] } : {}),
      ...(up !== undefined ? { uploadLimitBytesPerSec: up } : {}),
      ...(down !== undefined ? { downloadLimitBytesPerSec: down } : {}),
      ...(typeof body.seedRatio === 'number' ? { seedRatio: body.seedRatio } : {}),
      ...(typeof body.seedTimeSec === 'number' ? { seedTimeSec: body.seedTimeSec } : {}),
    };
    if (typeof body.magnet === 'string') {
      if (!isMagnet(body.magnet)) throw new ApiError('ERR_BAD_REQUEST', 'magnet: not a magnet link');
      return m.add({
        ...common,
        magnet: parseMagnet(body.magnet),
        ...(body.chooseFiles === true ? { chooseFiles: true } : {}),
      });
    }
    let bytes: Buffer;
    if (typeof body.torrent === 'string') bytes = Buffer.from(body.torrent, 'base64');
    else if (typeof body.path === 'string') {
      if (isMagnet(body.path)) return m.add({ ...common, magnet: parseMagnet(body.path) });
      try {
        // A regular file of at most the torrent-size cap, read until the request goes away.
        bytes = await readTorrentBytes(body.path, { signal });
      } catch (err) {
        if (signal.aborted) throw err;
        const why = err instanceof TorrentFileError ? err.message : 'cannot read';
        throw new ApiError('ERR_BAD_REQUEST', `path: ${JSON.stringify(body.path)}: ${why}`);
      }
    } else
      throw new ApiError('ERR_BAD_REQUEST', 'give "torrent" (base64 .torrent bytes), "magnet" or "path"');
    return m.add({ ...common, metainfo: parseTorrentBytes(bytes) });
  }

  /** `dir` when it is an absolute folder inside an allowed one (symlinks resolved); 400 otherwise. */
  async #allowedDir(dir: unknown, field = 'dir'): Promise<string> {
    if (typeof dir !== 'string' || dir === '' || dir.includes('\0') || !isAbsolute(dir)) {
      throw new ApiError(
        'ERR_BAD_REQUEST',
        `${field}: expected an absolute folder, got ${JSON.stringify(dir)}`,
      );
    }
    const allowed = [...new Set([this.#defaultDir, this.#o.defaultDir, ...(this.#o.allowedDirs ?? [])])].map(
      (d) => resolve(d),
    );
    const real = await realLocation(resolve(dir));
    for (const a of allowed) {
      const realA = await realLocation(a);
      if (real === realA || isInside(realA, real)) return resolve(dir);
    }
    throw new ApiError(
      'ERR_BAD_REQUEST',
      `${field}: ${JSON.stringify(dir)} is not inside an allowed folder (${allowed.join(', ')}; the daemon allows more with --allow-dir)`,
    );
  }
}

/** The real path of `path`: its deepest existing ancestor through realpath, the rest appended. */
async function realLocation(path: string): Promise<string> {
  const rest: string[] = [];
  for (let p = path; ; p = dirname(p)) {
    try {
      return join(await realpath(p), ...rest.reverse());
    } catch {
      // Not there (yet): its parent is, or the path is taken as given at the root.
      if (dirname(p) === p) return path;
      rest.push(basename(p));
    }
  }
}

/** `body[key]`: absent, or a whole number from 0 to `max` (a 400 names `prefix + key`). */
function optInt(
  body: JsonBody,
  key: string,
  prefix = '',
  max = Number.MAX_SAFE_INTEGER,
  min = 0,
): number | undefined {
  const v = body[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `from ${min} to ${max}`;
    throw new ApiError('ERR_BAD_REQUEST', `${prefix}${key}: expected a whole number ${range}`);
  }
  return v;
}

function optBool(body: JsonBody, key: string, prefix = ''): boolean | undefined {
  const v = body[key];
  if (v === undefined || typeof v === 'boolean') return v;
  throw new ApiError('ERR_BAD_REQUEST', `${prefix}${key}: expected true or false`);
}

/** A nested object of a request body, or a 400 naming it. */
function obj(v: unknown, field: string): JsonBody {
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as JsonBody;
  throw new ApiError('ERR_BAD_REQUEST', `${field}: expected an object`);
}

function optNullableNumber(body: JsonBody, key: string): number | null | undefined {
  const v = body[key];
  if (v === undefined || v === null) return v as null | undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
    throw new ApiError('ERR_BAD_REQUEST', `${key}: expected a number ≥ 0 or null`);
  }
  return v;
}

/** `peers` of a request: each `host:port` (IPv6 as `[addr]:port`), or a 400 naming the bad one. */
function peerList(peers: readonly unknown[], field = 'peers'): PeerAddress[] {
  return peers.map((p) => {
    const a = typeof p === 'string' ? parseAddress(p) : undefined;
    if (!a) throw new ApiError('ERR_BAD_REQUEST', `${field}: "${String(p)}" is not HOST:PORT`);
    return a;
  });
}
