// The library's Torrent and TorrentFile: what `client.add()` and `client.seed()` return. A Torrent is
// a view of one entry of the torrent manager (src/session/manager.ts), named by its info hash; it
// outlives the swarm objects the manager starts and stops (pause, resume, queue) and re-attaches to
// each one, so a user's listeners stay where they were.
//
// Errors: 'error' is emitted only while a listener is attached (an unheard 'error' would crash the
// user's process, as Node's EventEmitter throws it); the error is always kept in `torrent.error` and
// the status becomes 'error'. `events.once(torrent, 'done')` listens to 'error' itself, so it rejects.

import { EventEmitter } from 'node:events';
import type { Readable } from 'node:stream';
import { parseAddress } from '../protocol/address.js';
import { formatMagnet, type Magnet } from '../protocol/magnet.js';
import { type Metainfo, magnetHashes } from '../protocol/metainfo.js';
import { rawTorrent, type TorrentManager, type TorrentStatus, type TorrentView } from '../session/manager.js';
import { fileVerifiedBytes, type Torrent as SwarmTorrent } from '../swarm/torrent.js';
import { UsageError } from '../util/errors.js';
import { TorrentError } from './errors.js';
import { fileReadStream, type ReadStreamOptions } from './stream.js';

/** Events of a Torrent: listener arguments by event name. */
export interface TorrentEventMap {
  /** The metadata of a torrent added by magnet link arrived: `files`, `length`, … are known now. */
  metadata: [];
  /** Every wanted piece is verified and flushed to disk (a torrent that starts complete emits it too). */
  done: [];
  /** The torrent stopped on a failure (storage, metadata); emitted only while a listener is attached. */
  error: [TorrentError];
  /** A problem that does not stop the torrent (a setting that could not be saved, a sanitized path). */
  warning: [Error];
  /** The status changed: 'fetching-metadata', 'queued', 'checking', 'downloading', 'seeding', … */
  status: [TorrentStatus];
  /** The torrent was removed from its client; it emits nothing more. */
  removed: [];
  /** Checking existing data: pieces checked so far, of all. */
  'check:progress': [checked: number, total: number];
  'piece:verified': [index: number];
  /** A piece failed its hash check (its peers are suspected, and banned after repeated failures). */
  'piece:failed': [index: number];
  /** A peer connected: its address, whether the stream is encrypted (MSE), and TCP or uTP. */
  'peer:connect': [address: string, encryption: 'rc4' | 'handshake' | 'none', transport: 'tcp' | 'utp'];
  'peer:disconnect': [address: string, reason: string];
  /**
   * A peer sent data that failed the hash check (too often; `reason` `bad-data`) or was banned by
   * the user (`user`): its endpoint (`host:port`, scope `peer`) is banned; a whole host (scope
   * `host`) once several of its endpoints were.
   */
  'peer:banned': [address: string, scope: 'peer' | 'host', reason: 'bad-data' | 'user'];
}

/** A connected peer, as `torrent.peers()` lists it. */
export interface PeerView {
  address: string;
  seed: boolean;
  /** Payload bytes per second from and to this peer. */
  downloadSpeed: number;
  uploadSpeed: number;
  /** The peer's client, from its extension handshake ('' when it sent none). */
  client: string;
}

/**
 * What a Torrent needs of its client: the manager, and the way to tell it about manager events
 * (the client routes them by info hash). Not part of the public API.
 */
export interface TorrentContext {
  manager: TorrentManager;
  infoHash: string;
  /** The magnet a torrent was added by, while its metadata is not known. */
  magnet?: Magnet;
  /** `host:port` of this client when it is bound to one address (a peer for magnet links). */
  selfAddress: () => string | undefined;
  remove: (options: { deleteData?: boolean }) => Promise<void>;
}

/** The manager events one torrent hears (the client calls these). */
export interface TorrentHooks {
  active(swarm: SwarmTorrent): void;
  status(status: TorrentStatus): void;
  complete(): void;
  error(message: string): void;
  removed(): void;
}

export class Torrent extends EventEmitter<TorrentEventMap> {
  /** The info hash, 40 lowercase hex digits. */
  readonly infoHash: string;
  /** The files, in the torrent's order (padding files left out); empty until the metadata is known. */
  files: readonly TorrentFile[] = [];
  /** The last failure (the status is then 'error'); cleared by resume(). */
  error: TorrentError | undefined;
  readonly #ctx: TorrentContext;
  #swarm: SwarmTorrent | undefined;
  #last: TorrentView | undefined;
  #doneEmitted = false;
  #removed = false;
  #hadMetadata: boolean;

  /** Torrents come from `client.add()` and `client.seed()`; not constructed by users. */
  constructor(ctx: TorrentContext, hooks: (h: TorrentHooks) => void) {
    super({ captureRejections: false });
    this.#ctx = ctx;
    this.infoHash = ctx.infoHash;
    this.#hadMetadata = this.#metainfo !== undefined;
    this.#buildFiles();
    hooks({
      active: (swarm) => this.#attach(swarm),
      status: (s) => {
        if (s === 'downloading') this.#doneEmitted = false;
        this.emit('status', s);
      },
      complete: () => {
        if (this.#doneEmitted) return;
        this.#doneEmitted = true;
        this.emit('done');
      },
      error: (message) => {
        this.error = new TorrentError(`${this.name}: ${message}`);
        if (this.listenerCount('error') > 0) this.emit('error', this.error);
      },
      removed: () => {
        this.#last = this.#view();
        this.#removed = true;
        this.emit('removed');
        this.removeAllListeners();
      },
    });
  }

  get #metainfo(): Metainfo | undefined {
    return this.#ctx.manager.metainfoOf(this.infoHash) ?? this.#swarm?.metainfo;
  }

  #view(): TorrentView | undefined {
    if (this.#removed || !this.#ctx.manager.has(this.infoHash)) return this.#last;
    return this.#ctx.manager.view(this.infoHash);
  }

  #buildFiles(): void {
    const m = this.#metainfo;
    if (!m || this.files.length > 0) return;
    const files: TorrentFile[] = [];
    m.files.forEach((f, i) => {
      if (!f.padding) files.push(new TorrentFile(this, this.#ctx, m, i, files.length));
    });
    this.files = files;
  }

  #attach(swarm: SwarmTorrent): void {
    this.#swarm = swarm;
    if (!this.#hadMetadata) {
      // A magnet's metadata arrived: the swarm that starts now is the first to know it.
      this.#hadMetadata = true;
      this.#buildFiles();
      for (const w of swarm.metainfo.warnings) this.emit('warning', new Error(`${this.name}: ${w}`));
      this.emit('metadata');
    }
    swarm.on('check:progress', (c, total) => this.emit('check:progress', c, total));
    swarm.on('piece:verified', (i) => this.emit('piece:verified', i));
    swarm.on('piece:failed', (i) => this.emit('piece:failed', i));
    swarm.on('peer:connect', (a, encryption, transport) =>
      this.emit('peer:connect', a, encryption, transport),
    );
    swarm.on('peer:disconnect', (a, reason) => this.emit('peer:disconnect', a, reason));
    swarm.on('peer:banned', (a, scope, reason) => this.emit('peer:banned', a, scope, reason));
  }

  /** The metadata, once known (for the library's own modules, e.g. streams). */
  get metainfo(): Metainfo | undefined {
    return this.#metainfo;
  }

  /** The swarm object while the torrent runs (for the library's own modules, e.g. streams). */
  get swarm(): SwarmTorrent | undefined {
    return this.#swarm?.state === 'stopped' ? undefined : this.#swarm;
  }

  /** Whether the metadata (the info dict) is known: always for a .torrent, later for a magnet link. */
  get hasMetadata(): boolean {
    return this.#metainfo !== undefined;
  }

  get name(): string {
    return this.#metainfo?.name ?? this.#view()?.name ?? this.#ctx.magnet?.name ?? this.infoHash;
  }

  /** Total bytes of the torrent's files (0 until the metadata is known). */
  get length(): number {
    return this.#metainfo?.totalLength ?? 0;
  }

  get pieceLength(): number {
    return this.#metainfo?.pieceLength ?? 0;
  }

  get pieceCount(): number {
    return this.#metainfo?.pieceCount ?? 0;
  }

  /** The download folder: a file's path is relative to it. */
  get path(): string {
    return this.#view()?.dir ?? '';
  }

  get status(): TorrentStatus {
    return this.#removed ? 'paused' : (this.#view()?.status ?? 'queued');
  }

  get paused(): boolean {
    return this.status === 'paused';
  }

  /** Bytes of verified pieces. */
  get verifiedBytes(): number {
    return this.#view()?.verifiedBytes ?? 0;
  }

  /** Share of the torrent verified, 0 to 1. */
  get progress(): number {
    if (!this.hasMetadata) return 0;
    return this.length === 0 ? 1 : this.verifiedBytes / this.length;
  }

  /** Every wanted piece is verified and on disk. */
  get done(): boolean {
    const v = this.#view();
    if (!v || !this.hasMetadata) return false;
    if (v.status === 'seeding' || v.status === 'finished') return true;
    return this.#swarm === undefined || this.#swarm.state === 'stopped' ? v.leftBytes === 0 : false;
  }

  /** Payload bytes per second, averaged over the last seconds. */
  get downloadSpeed(): number {
    return this.#view()?.downloadRate ?? 0;
  }

  get uploadSpeed(): number {
    return this.#view()?.uploadRate ?? 0;
  }

  /** Payload bytes received and sent, over every run of this torrent. */
  get downloadedBytes(): number {
    return this.#view()?.downloadedBytes ?? 0;
  }

  get uploadedBytes(): number {
    return this.#view()?.uploadedBytes ?? 0;
  }

  /** Milliseconds until done at the current speed: 0 when done, Infinity while nothing arrives. */
  get timeRemaining(): number {
    if (this.done) return 0;
    const v = this.#view();
    const speed = this.downloadSpeed;
    if (!v || v.leftBytes === null || speed <= 0) return Number.POSITIVE_INFINITY;
    return Math.round((1000 * v.leftBytes) / speed);
  }

  get numPeers(): number {
    return this.#view()?.peers ?? 0;
  }

  /** The connected peers. */
  peers(): PeerView[] {
    return (this.swarm?.peers() ?? []).map((p) => ({
      address: p.address,
      seed: p.seed,
      downloadSpeed: Math.round(p.downloadRate),
      uploadSpeed: Math.round(p.uploadRate),
      client: p.client,
    }));
  }

  /**
   * A magnet link: the info hash, the name, the trackers, and this client's address as a peer
   * (`x.pe`): the router's external address when it forwards our port (UPnP, NAT-PMP/PCP), else the
   * bound address when the client is bound to one.
   */
  get magnetURI(): string {
    const m = this.#metainfo;
    const self = this.#ctx.selfAddress();
    return formatMagnet({
      ...(m ? magnetHashes(m) : { infoHash: Buffer.from(this.infoHash, 'hex') }),
      name: this.name,
      trackers: m ? m.announceList.flat() : (this.#ctx.magnet?.trackers ?? []),
      ...(self ? { peers: [self] } : {}),
    });
  }

  /** The .torrent file's bytes (undefined until the metadata is known). */
  get torrentFile(): Uint8Array | undefined {
    const m = this.#metainfo;
    return m ? rawTorrent(m) : undefined;
  }

  /** Peers to connect to, as 'host:port' ('[v6]:port'); remembered with the torrent. */
  addPeers(peers: readonly string[]): void {
    this.#ctx.manager.addPeers(this.infoHash, parsePeers(peers));
  }

  /** Stops the torrent (its connections and discovery) and saves its resume data. */
  async pause(): Promise<void> {
    await this.#ctx.manager.pause(this.infoHash);
  }

  /** Starts a paused (or failed, or finished) torrent again. */
  async resume(): Promise<void> {
    this.error = undefined;
    await this.#ctx.manager.resume(this.infoHash);
  }

  /** Removes the torrent from its client; `deleteData` also deletes its files (only its own). */
  async remove(options: { deleteData?: boolean } = {}): Promise<void> {
    await this.#ctx.remove(options);
  }
}

/** One file of a torrent. Its bytes are `[offset, offset + length)` of the torrent's data. */
export class TorrentFile {
  /** Position in `torrent.files`. */
  readonly index: number;
  /** The file's name (the last element of its path). */
  readonly name: string;
  /** Path relative to the download folder, '/'-separated; a multi-file torrent's start with its name. */
  readonly path: string;
  readonly length: number;
  /** Where the file's bytes start in the torrent's data. */
  readonly offset: number;
  readonly torrent: Torrent;
  readonly #ctx: TorrentContext;
  readonly #metainfo: Metainfo;
  /** Index among the metainfo's files (padding files included): priorities are indexed so. */
  readonly #fileIndex: number;

  /** Files come from `torrent.files`; not constructed by users. */
  constructor(torrent: Torrent, ctx: TorrentContext, metainfo: Metainfo, fileIndex: number, index: number) {
    const f = metainfo.files[fileIndex]!;
    this.torrent = torrent;
    this.#ctx = ctx;
    this.#metainfo = metainfo;
    this.#fileIndex = fileIndex;
    this.index = index;
    this.name = f.path[f.path.length - 1] ?? '';
    this.path = f.path.join('/');
    this.length = f.length;
    this.offset = f.offset;
  }

  /** Bytes of this file that are verified. */
  get verifiedBytes(): number {
    const pieces = this.#ctx.manager.verifiedPieces(this.#ctx.infoHash);
    return pieces ? fileVerifiedBytes(this.#metainfo, pieces)[this.#fileIndex]! : 0;
  }

  /** Share of the file verified, 0 to 1 (1 for an empty file). */
  get progress(): number {
    return this.length === 0 ? 1 : this.verifiedBytes / this.length;
  }

  /** 0 (skipped), 1 (low) … 4 (normal) … 7 (high). */
  get priority(): number {
    return this.#ctx.manager.recordOf(this.#ctx.infoHash)?.priorities?.[this.#fileIndex] ?? 4;
  }

  /** Downloads this file (at `priority`, 1 low … 4 normal … 7 high). */
  select(priority = 4): void {
    if (!Number.isInteger(priority) || priority < 1 || priority > 7)
      throw new UsageError(`select: priority ${priority} is not a whole number from 1 to 7`);
    this.#setPriority(priority);
  }

  /**
   * The file's bytes `[start, end]` (end inclusive, as in `fs.createReadStream`) while the torrent
   * downloads: only verified bytes; a read of a piece not verified yet waits for it and makes it
   * urgent (with a window of the pieces ahead; destroying the stream drops that). Fails when the
   * torrent is paused or queued.
   */
  createReadStream(options: ReadStreamOptions = {}): Readable {
    return fileReadStream(this.torrent, this.#metainfo, this.#fileIndex, options);
  }

  /** The file's bytes, chunk by chunk, as createReadStream() reads them. */
  [Symbol.asyncIterator](): AsyncIterator<Buffer> {
    return this.createReadStream()[Symbol.asyncIterator]();
  }

  /** The path of this file on `client.createServer()`: `/<infoHash>/<index in the metainfo>/<name>`. */
  get streamPath(): string {
    return `/${this.torrent.infoHash}/${this.#fileIndex}/${encodeURIComponent(this.name)}`;
  }

  /** Skips this file: its pieces are no longer asked for (those it shares with wanted files still are). */
  deselect(): void {
    this.#setPriority(0);
  }

  #setPriority(priority: number): void {
    const { manager, infoHash } = this.#ctx;
    const current = manager.recordOf(infoHash)?.priorities;
    const priorities = this.#metainfo.files.map((_, i) => current?.[i] ?? 4);
    priorities[this.#fileIndex] = priority;
    // The manager applies the priorities at once and saves them; a failed save is only a warning.
    manager.setFilePriorities(infoHash, priorities).catch((err: Error) => {
      this.torrent.emit('warning', err);
    });
  }
}

/** Parses 'host:port' / '[v6]:port' strings; a bad one rejects the whole call with one line. */
export function parsePeers(peers: readonly string[] | undefined): { host: string; port: number }[] {
  if (peers === undefined) return [];
  if (!Array.isArray(peers)) throw new UsageError('peers: give an array of "host:port" strings');
  return peers.map((p) => {
    const a = typeof p === 'string' ? parseAddress(p) : undefined;
    if (!a) throw new UsageError(`peers: ${JSON.stringify(p)} is not HOST:PORT`);
    return a;
  });
}
