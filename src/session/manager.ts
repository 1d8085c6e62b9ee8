// The torrent manager: what a daemon (or a `download --state`) keeps across restarts. It holds each
// torrent's settings and resume data in the state directory, decides which torrents run (pause,
// queue, seeding goals), and starts and stops them in the Session.
//
// Lifecycle of one entry (its `life`, a discriminated union: each state holds what exists only in it):
//   idle (queued) → fetching (a magnet's metadata) → running → idle (finished: a seeding goal was met)
//   any → idle (paused, by the user) → idle (queued) …; failed: the start or the storage failed,
//   resume or recheck to try again.
// A running torrent is the session's (session.get): the session's registry is the only one of
// what runs; the user-facing status (checking, downloading, seeding, error) is read from it.
//
// Resume data (resume.ts): the verified pieces and each file's size and mtime, saved after an fsync
// of the data. At start the pieces are trusted when every file's size and mtime match; otherwise the
// data is checked again. A damaged resume file costs only its torrent a recheck; a damaged settings
// file skips only that torrent (with a warning). Which queued torrents start is queue.ts's decision;
// moving and deleting a torrent's files is torrent-data.ts's.

import { resolve } from 'node:path';
import { isSupportedTrackerUrl } from '../discovery/tracker-client.js';
import { formatAddress, type PeerAddress, parseSavedAddress } from '../protocol/address.js';
import { encode } from '../protocol/bencode.js';
import { formatMagnet, type Magnet, parseMagnet } from '../protocol/magnet.js';
import { type Metainfo, parseMetainfo } from '../protocol/metainfo.js';
import type { CreatedEntry } from '../storage/file-storage.js';
import type { Torrent } from '../swarm/torrent.js';
import type { Bitfield } from '../util/bitfield.js';
import { errorText, type Logger } from '../util/logger.js';
import { TypedEmitter } from '../util/typed-events.js';
import { type QueueItem, torrentsToStart } from './queue.js';
import {
  filePaths,
  isValidResume,
  makeResume,
  rememberPeers,
  resumeBitfield,
  resumeComplete,
  resumeVerifiedBytes,
  trustedPieces,
  unchangedSince,
} from './resume.js';
import type { Session } from './session.js';
import { fileFingerprints, type StateStore, type TorrentRecord } from './state-store.js';
import { type DeleteReport, deleteTorrentData, moveTorrentData } from './torrent-data.js';

// Where they lived before (tests and other modules import them from here).
export { type DeleteReport, deleteTorrentData, moveTorrentData } from './torrent-data.js';

import { readTorrentBytes } from './torrent-file.js';

export const TorrentStatus = {
  fetchingMetadata: 'fetching-metadata',
  queued: 'queued',
  checking: 'checking',
  downloading: 'downloading',
  seeding: 'seeding',
  paused: 'paused',
  finished: 'finished',
  error: 'error',
} as const;
export type TorrentStatus = (typeof TorrentStatus)[keyof typeof TorrentStatus];

export class ManagerError extends Error {
  override readonly name = 'ManagerError';
  readonly code: string;
  constructor(code: 'ERR_NOT_FOUND' | 'ERR_BAD_REQUEST' | 'ERR_CONFLICT', message: string) {
    super(message);
    this.code = code;
  }
}

export interface ManagerOptions {
  session: Session;
  store?: StateStore;
  maxActiveDownloads?: number;
  maxActiveSeeds?: number;
  flushIntervalMs?: number;
}

export interface AddRequest {
  metainfo?: Metainfo;
  magnet?: Magnet;
  dir: string;
  paused?: boolean;
  peers?: PeerAddress[];
  priorities?: number[];
  uploadLimitBytesPerSec?: number;
  downloadLimitBytesPerSec?: number;
  seedRatio?: number;
  seedTimeSec?: number;
  sequential?: boolean;
  /** A magnet: fetch its metadata, then rest paused with nothing downloaded, for the user to choose its files. */
  chooseFiles?: boolean;
  /**
   * The data under `dir` was hashed into this metainfo from this time on (a torrent just created
   * from it): when no file has changed since, every piece is trusted and the check is skipped.
   */
  hashedAtMs?: number;
  /** A torrent already held is refused (ERR_CONFLICT, "already exists") instead of returned. */
  refuseExisting?: boolean;
}

export interface TorrentView {
  infoHash: string;
  name: string;
  status: TorrentStatus;
  /** Its place in the queue, 1 first (the order in which queued torrents start). */
  queuePosition: number;
  error: string | null;
  dir: string;
  totalLength: number | null;
  verifiedBytes: number;
  leftBytes: number | null;
  percent: number;
  downloadRate: number;
  uploadRate: number;
  peers: number;
  uploadedBytes: number;
  downloadedBytes: number;
  ratio: number;
  addedAtMs: number;
  /** Seconds to completion at the current rate; null when not downloading or no data flows. */
  etaSec: number | null;
  /** Why it may stall, now (tracker errors, no peers known, refused peers); empty when all is well. */
  warnings: string[];
}

/** Where a torrent is in its life (see the top of this file). */
type Life =
  | {
      kind: 'idle';
      status: typeof TorrentStatus.queued | typeof TorrentStatus.paused | typeof TorrentStatus.finished;
    }
  | { kind: 'failed'; error: string }
  /** A magnet's metadata is being fetched; `abort` ends the fetch. */
  | { kind: 'fetching'; abort: AbortController }
  /** In the session; `error`: the torrent's own failure (its storage), when it had one. */
  | { kind: 'running'; seedingSinceMs?: number; error?: string };

interface Entry {
  hex: string;
  record: TorrentRecord;
  metainfo?: Metainfo;
  magnet?: Magnet;
  life: Life;
  /** The status last told to listeners (`torrent:status`): only to tell changes. */
  told: TorrentStatus;
  /** Totals of earlier runs; the running torrent's counters add to them. */
  baseUploaded: number;
  baseDownloaded: number;
  dirty: boolean;
  /** Set when the resume data must not be trusted at the next start (recheck). */
  forceCheck?: boolean;
  busy?: Promise<void>;
}

const idle = (status: (Life & { kind: 'idle' })['status']): Life => ({ kind: 'idle', status });

export interface ManagerEvents extends Record<string, unknown[]> {
  'torrent:added': [infoHash: string];
  'torrent:removed': [infoHash: string];
  'torrent:status': [infoHash: string, status: TorrentStatus];
  'torrent:complete': [infoHash: string];
  'torrent:error': [infoHash: string, message: string];
  /** A torrent started running (its Torrent object, for progress displays). */
  'torrent:active': [infoHash: string, torrent: Torrent];
}

export class TorrentManager extends TypedEmitter<ManagerEvents> {
  readonly session: Session;
  readonly #store: StateStore | undefined;
  readonly #entries = new Map<string, Entry>();
  readonly #o: ManagerOptions;
  /** The session's log. */
  readonly #log: Logger;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(options: ManagerOptions) {
    super();
    this.#o = options;
    this.session = options.session;
    this.#log = options.session.log;
    this.#store = options.store;
  }

  get maxActiveDownloads(): number {
    return this.#o.maxActiveDownloads ?? 5;
  }

  get maxActiveSeeds(): number {
    return this.#o.maxActiveSeeds ?? 20;
  }

  setQueueLimits(limits: { maxActiveDownloads?: number; maxActiveSeeds?: number }): void {
    if (limits.maxActiveDownloads !== undefined) this.#o.maxActiveDownloads = limits.maxActiveDownloads;
    if (limits.maxActiveSeeds !== undefined) this.#o.maxActiveSeeds = limits.maxActiveSeeds;
    this.#schedule();
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => this.#tick(), this.#o.flushIntervalMs ?? 5000);
  }

  /** Loads every torrent of the state directory. Returns warnings for the ones that were damaged. */
  async load(): Promise<string[]> {
    const store = this.#store;
    if (!store) return [];
    await store.open();
    const hexes = await store.list();
    // Files are read with bounded parallelism (a thousand torrents restart in seconds), then added
    // in the order torrents were added.
    const results = new Array<{ entry?: Entry; warning?: string }>(hexes.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < hexes.length) {
        const i = next++;
        results[i] = await this.#loadOne(store, hexes[i]!);
      }
    };
    await Promise.all(Array.from({ length: Math.min(32, hexes.length) }, worker));
    const warnings: string[] = [];
    const entries: Entry[] = [];
    for (const r of results) {
      if (r.warning) warnings.push(r.warning);
      if (r.entry) entries.push(r.entry);
    }
    entries.sort((a, b) => queueKey(a.record) - queueKey(b.record));
    for (const e of entries) this.#entries.set(e.hex, e);
    this.#schedule();
    return warnings;
  }

  async #loadOne(store: StateStore, hex: string): Promise<{ entry?: Entry; warning?: string }> {
    let record: TorrentRecord | undefined;
    try {
      record = await store.readJson<TorrentRecord>(store.recordPath(hex));
    } catch {
      return { warning: `${store.recordPath(hex)}: damaged settings, torrent skipped` };
    }
    if (!record || record.infoHash !== hex || typeof record.dir !== 'string') {
      return { warning: `${store.recordPath(hex)}: missing or damaged settings, torrent skipped` };
    }
    const entry: Entry = {
      hex,
      record,
      life: idle(TorrentStatus.queued),
      told: TorrentStatus.queued,
      baseUploaded: record.uploadedBytes ?? 0,
      baseDownloaded: record.downloadedBytes ?? 0,
      dirty: false,
    };
    let warning: string | undefined;
    try {
      entry.metainfo = parseMetainfo(await readTorrentBytes(store.torrentPath(hex)));
      // Trackers the user edited replace the metainfo's (a damaged list is ignored: the metainfo's).
      const edited = record.trackers;
      if (
        Array.isArray(edited) &&
        edited.every((t) => Array.isArray(t) && t.every((u) => typeof u === 'string'))
      )
        entry.metainfo.announceList = edited;
    } catch {
      if (!record.magnet)
        return { warning: `${store.torrentPath(hex)}: missing or damaged metainfo, torrent skipped` };
      try {
        entry.magnet = parseMagnet(record.magnet);
      } catch {
        return { warning: `${store.recordPath(hex)}: bad magnet link, torrent skipped` };
      }
    }
    if (entry.metainfo && record.resume && !isValidResume(record.resume, entry.metainfo)) {
      warning = `${store.recordPath(hex)}: damaged resume data, the torrent will be rechecked`;
      delete record.resume;
    }
    entry.life = idle(restingStatus(record));
    entry.told = restingStatus(record);
    return warning ? { entry, warning } : { entry };
  }

  has(hex: string): boolean {
    return this.#entries.has(hex);
  }

  async add(req: AddRequest): Promise<string> {
    if (this.#stopped) throw new ManagerError('ERR_CONFLICT', 'the manager is stopped');
    const hex = req.metainfo?.infoHashHex ?? req.magnet?.infoHashHex;
    if (!hex) throw new ManagerError('ERR_BAD_REQUEST', 'nothing to add: give a torrent or a magnet link');
    const resume =
      req.metainfo && req.hashedAtMs !== undefined
        ? await unchangedSince(req.metainfo, resolve(req.dir), req.hashedAtMs)
        : undefined;
    const existing = this.#entries.get(hex);
    if (existing && req.refuseExisting) {
      const r = existing.record;
      throw new ManagerError('ERR_CONFLICT', `torrent ${hex} already exists: ${r.name}, in ${r.dir}`);
    }
    if (existing) {
      if (req.peers?.length) this.#torrent(existing)?.addPeers(req.peers);
      return hex;
    }
    const record: TorrentRecord = {
      version: 1,
      infoHash: hex,
      name: req.metainfo?.name ?? req.magnet?.name ?? hex,
      dir: resolve(req.dir),
      paused: req.paused ?? false,
      addedAtMs: Date.now(),
      uploadedBytes: 0,
      downloadedBytes: 0,
      seedingSec: 0,
      ...(req.priorities ? { priorities: req.priorities } : {}),
      ...(req.uploadLimitBytesPerSec !== undefined
        ? { uploadLimitBytesPerSec: req.uploadLimitBytesPerSec }
        : {}),
      ...(req.downloadLimitBytesPerSec !== undefined
        ? { downloadLimitBytesPerSec: req.downloadLimitBytesPerSec }
        : {}),
      ...(req.seedRatio !== undefined ? { seedRatio: req.seedRatio } : {}),
      ...(req.seedTimeSec !== undefined ? { seedTimeSec: req.seedTimeSec } : {}),
      ...(req.peers?.length ? { peers: req.peers.map(formatAddress) } : {}),
      ...(req.sequential ? { sequential: true } : {}),
      ...(req.magnet && !req.metainfo ? { magnet: formatMagnet(req.magnet) } : {}),
      ...(req.magnet && !req.metainfo && req.chooseFiles ? { chooseFiles: true } : {}),
      ...(resume ? { resume } : {}),
      // Nothing created yet: the storage tells what it creates (a file already there is not ours).
      created: { files: [], folders: [] },
    };
    const entry: Entry = {
      hex,
      record,
      life: idle(restingStatus(record)),
      told: restingStatus(record),
      baseUploaded: 0,
      baseDownloaded: 0,
      dirty: true,
      ...(req.metainfo ? { metainfo: req.metainfo } : {}),
      ...(req.magnet && !req.metainfo ? { magnet: req.magnet } : {}),
    };
    this.#entries.set(hex, entry);
    if (this.#store) {
      await this.#store.open();
      if (req.metainfo) await this.#store.saveMetainfo(hex, rawTorrent(req.metainfo));
      await this.#store.saveRecord(record);
      entry.dirty = false;
    }
    this.emit('torrent:added', hex);
    this.#schedule();
    return hex;
  }

  #get(hex: string): Entry {
    const e = this.#entries.get(hex);
    if (!e) throw new ManagerError('ERR_NOT_FOUND', `no torrent with info hash ${hex}`);
    return e;
  }

  /** Adds peer addresses to a torrent: dialed now if it runs, and remembered for its next start. */
  addPeers(hex: string, peers: readonly PeerAddress[]): void {
    const e = this.#get(hex);
    if (peers.length === 0) return;
    const known = new Set(e.record.peers ?? []);
    for (const p of peers) known.add(formatAddress(p));
    e.record.peers = [...known].slice(-200);
    e.dirty = true;
    this.#torrent(e)?.addPeers(peers);
  }

  /**
   * Moves a torrent in the queue (the order in which queued torrents start, and of `list()`): to
   * the top or the bottom, or one place up or down. A torrent moved ahead of running ones starts
   * when a slot frees; nothing running is stopped for it.
   */
  moveInQueue(hex: string, where: 'top' | 'up' | 'down' | 'bottom'): void {
    const e = this.#get(hex);
    const order = [...this.#entries.values()].sort((a, b) => queueKey(a.record) - queueKey(b.record));
    const i = order.indexOf(e);
    const set = (x: Entry, key: number): void => {
      x.record.queueOrder = key;
      x.dirty = true;
    };
    if (where === 'top' && i > 0) set(e, queueKey(order[0]!.record) - 1);
    else if (where === 'bottom' && i < order.length - 1)
      set(e, queueKey(order[order.length - 1]!.record) + 1);
    else if ((where === 'up' && i > 0) || (where === 'down' && i < order.length - 1)) {
      const other = order[where === 'up' ? i - 1 : i + 1]!;
      const [k1, k2] = [queueKey(e.record), queueKey(other.record)];
      // Equal keys (two adds in one millisecond) would not swap: part them first.
      set(e, k2);
      set(other, k1 === k2 ? k1 + (where === 'up' ? 1 : -1) : k1);
    }
    this.#schedule();
  }

  /**
   * Replaces a torrent's trackers with `tiers` (each a list of http, https or udp URLs; empty tiers
   * and repeated URLs dropped): kept in its record, in effect at once if it runs.
   */
  async setTrackers(hex: string, tiers: readonly (readonly string[])[]): Promise<void> {
    const e = this.#get(hex);
    const seen = new Set<string>();
    const clean: string[][] = [];
    for (const tier of tiers) {
      const urls: string[] = [];
      for (const raw of tier) {
        const url = raw.trim();
        // The tracker client's own test: what it would refuse to contact is refused here.
        if (!isSupportedTrackerUrl(url))
          throw new ManagerError('ERR_BAD_REQUEST', `trackers: "${url}" is not an http, https or udp URL`);
        if (!seen.has(url)) urls.push(url);
        seen.add(url);
      }
      if (urls.length > 0) clean.push(urls);
    }
    if (seen.size > 500) throw new ManagerError('ERR_BAD_REQUEST', 'trackers: more than 500 URLs');
    e.record.trackers = clean;
    e.dirty = true;
    if (e.metainfo) e.metainfo.announceList = clean;
    if (this.#torrent(e)) await this.#o.session.setTrackers(hex, clean);
  }

  /** Bans a peer of a torrent by its endpoint: at once if it runs, and at every start (its record). */
  banPeer(hex: string, address: PeerAddress): void {
    const e = this.#get(hex);
    const peer = formatAddress(address);
    const bans = new Set(e.record.bannedPeers ?? []);
    bans.add(peer);
    e.record.bannedPeers = [...bans].slice(-1000);
    e.dirty = true;
    this.#torrent(e)?.banPeer(peer);
  }

  torrentOf(hex: string): Torrent | undefined {
    const e = this.#entries.get(hex);
    return e && this.#torrent(e);
  }

  /** The running torrent of an entry: the session's. */
  #torrent(e: Entry): Torrent | undefined {
    return e.life.kind === 'running' ? this.session.get(e.hex) : undefined;
  }

  /** What the user sees: the state of the life, and for a running torrent the torrent's own state. */
  #status(e: Entry): TorrentStatus {
    const life = e.life;
    if (life.kind === 'idle') return life.status;
    if (life.kind === 'failed') return TorrentStatus.error;
    if (life.kind === 'fetching') return TorrentStatus.fetchingMetadata;
    const t = this.session.get(e.hex);
    if (!t) return TorrentStatus.queued;
    return t.state === 'seeding'
      ? TorrentStatus.seeding
      : t.state === 'checking' || t.state === 'idle'
        ? TorrentStatus.checking
        : t.state === 'error'
          ? TorrentStatus.error
          : TorrentStatus.downloading;
  }

  #error(e: Entry): string | undefined {
    return e.life.kind === 'failed' || e.life.kind === 'running' ? e.life.error : undefined;
  }

  metainfoOf(hex: string): Metainfo | undefined {
    return this.#entries.get(hex)?.metainfo;
  }

  recordOf(hex: string): Readonly<TorrentRecord> | undefined {
    return this.#entries.get(hex)?.record;
  }

  /** The verified pieces: the running torrent's, else those of the saved resume data. */
  verifiedPieces(hex: string): Bitfield | undefined {
    const e = this.#entries.get(hex);
    if (!e) return undefined;
    const t = this.#torrent(e);
    if (t) return t.bitfield;
    return e.metainfo && e.record.resume && isValidResume(e.record.resume, e.metainfo)
      ? resumeBitfield(e.record.resume, e.metainfo)
      : undefined;
  }

  list(): TorrentView[] {
    return [...this.#entries.values()]
      .sort((a, b) => queueKey(a.record) - queueKey(b.record))
      .map((e, i) => this.#view(e, i + 1));
  }

  view(hex: string): TorrentView {
    const e = this.#get(hex);
    const key = queueKey(e.record);
    let ahead = 0;
    for (const x of this.#entries.values()) if (queueKey(x.record) < key) ahead++;
    return this.#view(e, ahead + 1);
  }

  #view(e: Entry, queuePosition: number): TorrentView {
    const t = this.#torrent(e);
    const m = e.metainfo;
    const now = Date.now();
    const verified = t ? t.verifiedBytes : m && e.record.resume ? resumeVerifiedBytes(e.record.resume, m) : 0;
    const uploaded = e.baseUploaded + (t?.uploadedBytes ?? 0);
    const downloaded = e.baseDownloaded + (t?.downloadedBytes ?? 0);
    const downloadRate = t ? Math.round(t.downloadMeter.rate(now)) : 0;
    return {
      infoHash: e.hex,
      name: m?.name ?? e.record.name,
      status: this.#status(e),
      queuePosition,
      error: this.#error(e) ?? null,
      dir: e.record.dir,
      totalLength: m?.totalLength ?? null,
      verifiedBytes: verified,
      leftBytes: t ? t.leftBytes : m ? m.totalLength - verified : null,
      percent: m ? (m.totalLength === 0 ? 100 : Number(((100 * verified) / m.totalLength).toFixed(2))) : 0,
      downloadRate,
      uploadRate: t ? Math.round(t.uploadMeter.rate(now)) : 0,
      peers: t?.peerCount ?? 0,
      uploadedBytes: uploaded,
      downloadedBytes: downloaded,
      ratio: m && m.totalLength > 0 ? Number((uploaded / m.totalLength).toFixed(3)) : 0,
      addedAtMs: e.record.addedAtMs,
      etaSec: t && !t.complete ? etaSeconds(t.leftBytes, downloadRate) : t?.complete ? 0 : null,
      warnings: this.session.diagnosticsOf(e.hex)?.warnings(now) ?? [],
    };
  }

  async pause(hex: string): Promise<void> {
    const e = this.#get(hex);
    e.record.paused = true;
    e.dirty = true;
    await this.#deactivate(e, TorrentStatus.paused);
    await this.#save(e);
    this.#schedule();
  }

  async resume(hex: string): Promise<void> {
    const e = this.#get(hex);
    e.record.paused = false;
    e.record.finished = false;
    e.dirty = true;
    // A torrent whose storage failed while it ran starts again from the queue.
    if (this.#torrent(e)?.state === 'error') await this.#deactivate(e, TorrentStatus.queued);
    else if (e.life.kind === 'idle' || e.life.kind === 'failed') this.#setLife(e, idle(TorrentStatus.queued));
    await this.#save(e);
    this.#schedule();
  }

  async recheck(hex: string): Promise<void> {
    const e = this.#get(hex);
    const wasActive = this.#torrent(e) !== undefined;
    e.forceCheck = true;
    delete e.record.resume;
    e.dirty = true;
    if (wasActive) {
      await this.#deactivate(e, TorrentStatus.queued);
      this.#schedule();
    } else if (e.life.kind === 'failed') {
      // A torrent that failed to start tries again, checking its data.
      this.#setLife(e, idle(TorrentStatus.queued));
      this.#schedule();
    }
    await this.#save(e);
  }

  /**
   * Removes a torrent; with `deleteData`, also the files and folders it created (see
   * deleteTorrentData). Returns what was deleted and what was kept, and why.
   */
  async remove(hex: string, options: { deleteData?: boolean } = {}): Promise<DeleteReport> {
    const e = this.#get(hex);
    this.#entries.delete(hex);
    await this.#deactivate(e, TorrentStatus.paused, { save: false });
    if (this.#store) await this.#store.removeTorrent(hex);
    const report: DeleteReport = { deleted: [], kept: [] };
    if (options.deleteData && e.metainfo) {
      Object.assign(report, await deleteTorrentData(e.metainfo, e.record.dir, e.record.created));
    }
    this.emit('torrent:removed', hex);
    this.#schedule();
    return report;
  }

  async setFilePriorities(hex: string, priorities: number[]): Promise<void> {
    const e = this.#get(hex);
    if (e.metainfo && priorities.length !== e.metainfo.files.length) {
      throw new ManagerError(
        'ERR_BAD_REQUEST',
        `priorities: ${priorities.length} given for ${e.metainfo.files.length} files`,
      );
    }
    if (priorities.some((p) => !Number.isInteger(p) || p < 0 || p > 7)) {
      throw new ManagerError(
        'ERR_BAD_REQUEST',
        'priorities: each must be a whole number from 0 (skip) to 7 (high)',
      );
    }
    e.record.priorities = priorities;
    e.dirty = true;
    this.#torrent(e)?.setFilePriorities(priorities);
    await this.#save(e);
  }

  /** Sets the priority of some files (by index), leaving the others as they are. */
  async setFilePriority(hex: string, indexes: readonly number[], priority: number): Promise<void> {
    const e = this.#get(hex);
    if (!e.metainfo)
      throw new ManagerError('ERR_CONFLICT', 'priorities: the metadata is not fetched yet (no file list)');
    const count = e.metainfo.files.length;
    const bad = indexes.find((i) => !Number.isInteger(i) || i < 0 || i >= count);
    if (bad !== undefined)
      throw new ManagerError(
        'ERR_BAD_REQUEST',
        `files: no file ${bad} (the torrent has files 0–${count - 1})`,
      );
    const next = e.record.priorities ? [...e.record.priorities] : new Array<number>(count).fill(4);
    for (const i of indexes) next[i] = priority;
    await this.setFilePriorities(hex, next);
  }

  /** Announces a running torrent to its trackers now; false when it does not run. */
  reannounce(hex: string): boolean {
    this.#get(hex);
    return this.session.reannounce(hex);
  }

  /**
   * Moves a torrent's data to `dir` and goes on from there: its files are renamed (copied then
   * deleted across file systems); on failure the files already moved go back and nothing changes.
   */
  async move(hex: string, dir: string): Promise<void> {
    const e = this.#get(hex);
    const target = resolve(dir);
    const from = e.record.dir;
    if (target === from) return;
    // Only waits for the move or check in progress: its error went to its own caller.
    await e.busy?.catch(() => undefined);
    const paused = e.record.paused === true;
    const finished = e.record.finished === true;
    await this.#deactivate(e, paused ? TorrentStatus.paused : TorrentStatus.queued);
    const work = (async () => {
      if (e.metainfo) await moveTorrentData(e.metainfo, from, target, this.#log);
      e.record.dir = target;
      if (e.metainfo && e.record.resume) {
        // The files kept their bytes: fingerprint them where they are now, so nothing is rechecked.
        e.record.resume.files = await fileFingerprints(
          e.metainfo.files.map((f, i) => (f.padding ? '' : filePaths(e.metainfo!, target)[i]!)),
        );
      }
      e.dirty = true;
    })();
    e.busy = work.catch(() => undefined); // its error is thrown to this caller, just below
    try {
      await work;
    } catch (err) {
      throw new ManagerError('ERR_CONFLICT', `move to ${target}: ${(err as Error).message}`);
    } finally {
      delete e.busy;
      await this.#save(e);
      if (!paused) this.#setLife(e, idle(finished ? TorrentStatus.finished : TorrentStatus.queued));
      this.#schedule();
    }
  }

  async setLimits(
    hex: string,
    limits: {
      uploadLimitBytesPerSec?: number;
      downloadLimitBytesPerSec?: number;
      seedRatio?: number | null;
      seedTimeSec?: number | null;
    },
  ): Promise<void> {
    const e = this.#get(hex);
    if (limits.uploadLimitBytesPerSec !== undefined)
      e.record.uploadLimitBytesPerSec = limits.uploadLimitBytesPerSec;
    if (limits.downloadLimitBytesPerSec !== undefined)
      e.record.downloadLimitBytesPerSec = limits.downloadLimitBytesPerSec;
    if (limits.seedRatio === null) delete e.record.seedRatio;
    else if (limits.seedRatio !== undefined) e.record.seedRatio = limits.seedRatio;
    if (limits.seedTimeSec === null) delete e.record.seedTimeSec;
    else if (limits.seedTimeSec !== undefined) e.record.seedTimeSec = limits.seedTimeSec;
    this.#torrent(e)?.setRateLimits({
      uploadBytesPerSec: e.record.uploadLimitBytesPerSec ?? 0,
      downloadBytesPerSec: e.record.downloadLimitBytesPerSec ?? 0,
    });
    e.dirty = true;
    await this.#save(e);
  }

  #setLife(e: Entry, life: Life): void {
    e.life = life;
    this.#tell(e);
  }

  /** Tells listeners of a change of the status (and starts the seeding clock). */
  #tell(e: Entry): void {
    const status = this.#status(e);
    if (e.told === status) return;
    e.told = status;
    if (status === TorrentStatus.seeding && e.life.kind === 'running') e.life.seedingSinceMs = Date.now();
    this.emit('torrent:status', e.hex, status);
  }

  /** Starts what may run, in queue order; queues the rest (queue.ts decides). */
  #schedule(): void {
    if (this.#stopped) return;
    const items: QueueItem[] = [...this.#entries.values()].map((e) => {
      const running = e.life.kind === 'running';
      const active = running || e.life.kind === 'fetching' || e.busy !== undefined;
      const resumed = e.metainfo && e.record.resume ? resumeComplete(e.record.resume, e.metainfo) : false;
      return {
        id: e.hex,
        order: queueKey(e.record),
        active,
        queued: e.life.kind === 'idle' && e.life.status === TorrentStatus.queued,
        complete: running ? this.#status(e) === TorrentStatus.seeding : resumed,
      };
    });
    const limits = { maxActiveDownloads: this.maxActiveDownloads, maxActiveSeeds: this.maxActiveSeeds };
    for (const hex of torrentsToStart(items, limits)) {
      const e = this.#entries.get(hex)!;
      e.busy = this.#activate(e).finally(() => {
        delete e.busy;
      });
    }
  }

  async #activate(e: Entry): Promise<void> {
    const common = {
      dir: e.record.dir,
      peers: (e.record.peers ?? []).map(parseSavedAddress).filter((a): a is PeerAddress => a !== undefined),
      uploadLimitBytesPerSec: e.record.uploadLimitBytesPerSec ?? 0,
      downloadLimitBytesPerSec: e.record.downloadLimitBytesPerSec ?? 0,
      onTorrent: (t: Torrent) => this.#attach(e, t),
      storageOptions: { onCreate: (c: CreatedEntry) => this.#created(e, c) },
      ...(e.record.sequential ? { sequential: true } : {}),
    };
    try {
      if (!e.metainfo && e.magnet) {
        const ac = new AbortController();
        this.#setLife(e, { kind: 'fetching', abort: ac });
        if (e.record.chooseFiles) {
          // The metadata only: the torrent then rests paused, its files listed, nothing downloaded.
          const { metainfo, peers } = await this.session.fetchMetadata(e.magnet, {
            peers: common.peers,
            signal: ac.signal,
          });
          if (this.#stopped || !this.#entries.has(e.hex) || ac.signal.aborted) return;
          this.#metadataIn(e, metainfo);
          // Where the metadata came from is where the download starts: kept for the resume.
          this.addPeers(e.hex, peers);
          e.record.paused = true;
          delete e.record.chooseFiles;
          this.#setLife(e, idle(TorrentStatus.paused));
          await this.#save(e);
          return;
        }
        const fetchOptions = {
          ...common,
          signal: ac.signal,
          torrentOptions: e.record.priorities ? { filePriorities: e.record.priorities } : {},
        };
        // Once the metadata is in, the torrent's start (#attach) makes the life `running`.
        await this.session.addMagnet(e.magnet, fetchOptions);
        return;
      }
      const m = e.metainfo!;
      const verified = e.forceCheck ? undefined : await trustedPieces(e.record, m);
      delete e.forceCheck;
      await this.session.add(m, {
        ...common,
        torrentOptions: {
          ...(verified ? { verified } : {}),
          ...(e.record.priorities ? { filePriorities: e.record.priorities } : {}),
        },
      });
    } catch (err) {
      // Stopped on purpose: removed, or a fetch aborted by #deactivate (which sets the life next).
      if (this.#stopped || !this.#entries.has(e.hex)) return;
      if (e.life.kind === 'fetching' && e.life.abort.signal.aborted) return;
      const error = (err as Error).message;
      this.#setLife(e, { kind: 'failed', error });
      this.emit('torrent:error', e.hex, error);
      await this.session
        .remove(e.hex)
        .catch((rmErr: unknown) =>
          this.#log.debug('failed torrent not removed', { torrent: e.hex, error: errorText(rmErr) }),
        );
    }
  }

  /** Records what the torrent's storage created (records of older versions have no list to add to). */
  #created(e: Entry, c: CreatedEntry): void {
    const created = e.record.created;
    if (!created) return;
    if (c.kind === 'file') {
      created.files = created.files.filter((f) => f.file !== c.file);
      created.files.push({ file: c.file, ino: c.ino, born: c.born });
    } else {
      const path = c.path.join('/');
      created.folders = created.folders.filter((f) => f.path !== path);
      created.folders.push({ path, ino: c.ino, born: c.born });
    }
    e.dirty = true;
  }

  #attach(e: Entry, t: Torrent): void {
    e.life = { kind: 'running' };
    for (const p of e.record.bannedPeers ?? []) if (typeof p === 'string') t.banPeer(p);
    // Peers given while the torrent was starting (addPeers) are in the record: dial them too.
    t.addPeers(
      (e.record.peers ?? []).map(parseSavedAddress).filter((a): a is PeerAddress => a !== undefined),
    );
    this.emit('torrent:active', e.hex, t);
    if (!e.metainfo) {
      this.#metadataIn(e, t.metainfo);
      // The trackers the user set while it was fetched, in effect now.
      if (e.record.trackers) void this.#o.session.setTrackers(e.hex, e.record.trackers);
    }
    this.#tell(e);
    t.on('state:changed', (s) => {
      if (s !== 'stopped' && this.#torrent(e) === t) this.#tell(e);
    });
    t.on('piece:verified', () => {
      e.dirty = true;
    });
    const completeAtStart =
      e.metainfo && e.record.resume ? resumeComplete(e.record.resume, e.metainfo) : false;
    t.on('torrent:complete', () => {
      this.emit('torrent:complete', e.hex);
      // A torrent that was already complete when it started has nothing new to save.
      if (completeAtStart && t.downloadedBytes === 0) return;
      e.dirty = true;
      void this.#save(e);
      this.#schedule();
    });
    t.on('torrent:error', (err) => {
      if (e.life.kind === 'running') e.life.error = err.message;
      this.emit('torrent:error', e.hex, err.message);
    });
  }

  /** A magnet's metadata is in: remember it (with the trackers the user set meanwhile), named by it. */
  #metadataIn(e: Entry, m: Metainfo): void {
    e.metainfo = m;
    if (e.record.trackers) m.announceList = e.record.trackers;
    e.record.name = m.name;
    delete e.record.magnet;
    e.dirty = true;
    if (this.#store) {
      this.#store
        .saveMetainfo(e.hex, rawTorrent(m))
        .catch((err: unknown) =>
          this.#log.warn('metainfo not saved', { torrent: e.hex, error: errorText(err) }),
        );
    }
  }

  /** Stops the running torrent (if any), saving its resume data. */
  async #deactivate(
    e: Entry,
    status: (Life & { kind: 'idle' })['status'],
    o: { save?: boolean } = {},
  ): Promise<void> {
    if (e.life.kind === 'fetching') e.life.abort.abort();
    // Only waits for the move or check in progress: its error went to its own caller.
    await e.busy?.catch(() => undefined);
    const t = this.#torrent(e);
    if (t) {
      e.record.uploadedBytes = e.baseUploaded + t.uploadedBytes;
      e.record.downloadedBytes = e.baseDownloaded + t.downloadedBytes;
      e.record.seedingSec = this.#seedingSec(e);
      // The peers it knew (from a magnet's x.pe, PEX, …) are where it starts again after a resume.
      rememberPeers(e.record, t);
      if (o.save !== false && e.metainfo && t.state !== 'checking') {
        await t
          .flush()
          .catch((err: unknown) => this.#log.warn('flush failed', { torrent: e.hex, error: errorText(err) }));
        const bitfield = t.bitfield.clone();
        await this.session.remove(e.hex);
        e.record.resume = await makeResume(bitfield, e.metainfo, e.record.dir);
      } else {
        await this.session.remove(e.hex);
      }
      e.baseUploaded = e.record.uploadedBytes;
      e.baseDownloaded = e.record.downloadedBytes;
      e.dirty = true;
    }
    this.#setLife(e, idle(status));
  }

  #seedingSec(e: Entry): number {
    const since = e.life.kind === 'running' ? e.life.seedingSinceMs : undefined;
    const extra = since !== undefined ? (Date.now() - since) / 1000 : 0;
    return Math.round((e.record.seedingSec ?? 0) + extra);
  }

  /** Saves an entry's record, with fresh resume data when its torrent runs. */
  async #save(e: Entry): Promise<void> {
    if (!this.#store || !this.#entries.has(e.hex)) return;
    const t = this.#torrent(e);
    if (t && e.metainfo && t.state !== 'checking' && t.state !== 'idle') {
      const bitfield = t.bitfield.clone();
      await t
        .flush()
        .catch((err: unknown) => this.#log.warn('flush failed', { torrent: e.hex, error: errorText(err) }));
      e.record.resume = await makeResume(bitfield, e.metainfo, e.record.dir);
      e.record.uploadedBytes = e.baseUploaded + t.uploadedBytes;
      e.record.downloadedBytes = e.baseDownloaded + t.downloadedBytes;
      rememberPeers(e.record, t);
    }
    e.record.seedingSec = this.#seedingSec(e);
    if (e.life.kind === 'running' && e.life.seedingSinceMs !== undefined) e.life.seedingSinceMs = Date.now();
    e.dirty = false;
    await this.#store.saveRecord(e.record).catch((err: unknown) => {
      e.dirty = true; // tried again at the next save
      this.#log.warn('resume data not saved', { torrent: e.hex, error: errorText(err) });
    });
  }

  #tick(): void {
    for (const e of this.#entries.values()) {
      this.#checkGoals(e);
      if (e.dirty && e.life.kind === 'running' && !e.busy) void this.#save(e);
    }
    this.#schedule();
  }

  #checkGoals(e: Entry): void {
    const t = this.#torrent(e);
    if (!t || !e.metainfo || this.#status(e) !== TorrentStatus.seeding) return;
    const { seedRatio, seedTimeSec } = e.record;
    const uploaded = e.baseUploaded + t.uploadedBytes;
    const ratioMet =
      seedRatio !== undefined && e.metainfo.totalLength > 0 && uploaded / e.metainfo.totalLength >= seedRatio;
    const timeMet = seedTimeSec !== undefined && this.#seedingSec(e) >= seedTimeSec;
    if (!ratioMet && !timeMet) return;
    e.record.finished = true;
    e.busy = this.#deactivate(e, TorrentStatus.finished)
      .then(() => this.#save(e))
      .finally(() => {
        delete e.busy;
        this.#schedule();
      });
  }

  /** Saves everything and stops every torrent (the session itself is stopped by its owner). */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    await Promise.all(
      [...this.#entries.values()].map(async (e) => {
        await this.#deactivate(e, restingStatus(e.record));
        await this.#save(e);
      }),
    );
  }
}

/** A .torrent for a metainfo: its original info bytes (so the info hash stays exactly the same) with
 * the outer keys it had, in sorted order. */
export function rawTorrent(m: Metainfo): Uint8Array {
  const parts: Uint8Array[] = [Buffer.from('d')];
  const kv = (k: string, v: Parameters<typeof encode>[0]): void => {
    parts.push(encode(k), encode(v));
  };
  const tiers = m.announceList;
  if (tiers[0]?.[0] !== undefined) kv('announce', tiers[0][0]);
  if (tiers.length > 1 || (tiers[0]?.length ?? 0) > 1) kv('announce-list', tiers);
  if (m.comment !== undefined) kv('comment', m.comment);
  if (m.createdBy !== undefined) kv('created by', m.createdBy);
  if (m.creationDate !== undefined) kv('creation date', m.creationDate);
  parts.push(encode('info'), m.infoBytes);
  // BEP 52: the piece layers known (a v2 magnet's were fetched from peers), keyed by file root.
  const layers = new Map<string, Uint8Array>();
  for (const f of m.v2?.files ?? [])
    if (f.piecesRoot && f.layer) layers.set(f.piecesRoot.toString('latin1'), f.layer);
  if (layers.size > 0) kv('piece layers', layers);
  if (m.urlList.length > 0) kv('url-list', m.urlList);
  parts.push(Buffer.from('e'));
  return Buffer.concat(parts);
}

/** Seconds until `leftBytes` are in at `rateBytesPerSec`; null when nothing flows. */
export function etaSeconds(leftBytes: number, rateBytesPerSec: number): number | null {
  if (leftBytes <= 0) return 0;
  return rateBytesPerSec > 0 ? Math.ceil(leftBytes / rateBytesPerSec) : null;
}

/** Where a torrent rests when it does not run: what the user last decided. */
function restingStatus(r: TorrentRecord): (Life & { kind: 'idle' })['status'] {
  return r.paused ? TorrentStatus.paused : r.finished ? TorrentStatus.finished : TorrentStatus.queued;
}

/** A torrent's place in the queue: where the user moved it, else when it was added. */
function queueKey(r: TorrentRecord): number {
  return typeof r.queueOrder === 'number' && Number.isFinite(r.queueOrder) ? r.queueOrder : r.addedAtMs;
}
