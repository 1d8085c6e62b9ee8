// The library's Client: one session (one port: peers, the embedded tracker, the DHT) and the torrent
// manager the daemon uses, with its state directory when one is given — the same resume data and
// settings files, so a Client can open what a stopped daemon left, and the reverse.
//
// Nothing opens a socket before ready() (or the first add/seed, which call it). Bad input rejects
// with a UsageError before any socket is opened, with the line the CLI prints for the same input.

import { EventEmitter } from 'node:events';
import type { Server } from 'node:http';
import { dirname, resolve } from 'node:path';
import type { PortMapping, PortMapStatus } from '../discovery/port-mapper.js';
import { formatAddress } from '../protocol/address.js';
import { isAnnounce } from '../protocol/announce.js';
import { parseMagnet } from '../protocol/magnet.js';
import { parseMetainfo } from '../protocol/metainfo.js';
import { TorrentManager } from '../session/manager.js';
import { type Session, SessionError, type SessionOptions } from '../session/session.js';
import { startSession } from '../session/start-session.js';
import { StateLock } from '../session/state-lock.js';
import { type SessionSettings, StateStore } from '../session/state-store.js';
import { CreateError, createTorrent } from '../storage/create-torrent.js';
import { UsageError } from '../util/errors.js';
import { errorText, type Logger } from '../util/logger.js';
import { VERSION } from '../util/version.js';
import { loadSource } from './source.js';
import { streamServer } from './stream.js';
import { parsePeers, Torrent, type TorrentContext, type TorrentHooks } from './torrent.js';

export interface ClientOptions {
  /** TCP and UDP port for peers, the embedded tracker and the DHT. 0: any free port. Default: 6881,
   * else the next free ones, else any (as the CLI). */
  port?: number;
  /** Address to listen on and connect from. Default: all interfaces. */
  bind?: string;
  /** The Mainline DHT (default true; no public bootstrap nodes when bound to loopback). */
  dht?: boolean;
  /** DHT bootstrap nodes, 'host:port'; replaces the default list ([] starts a new DHT). */
  dhtBootstrap?: string[];
  /** Local service discovery, BEP 14 multicast on the LAN (default true; off when bound to loopback). */
  lsd?: boolean;
  /** Peer exchange (default true). */
  pex?: boolean;
  /** Ask the router to forward the port: UPnP IGD, and PCP / NAT-PMP (each default true; both off
   * when bound to loopback). The outcome: `portMapping`, the `portmap` event, or a `warning`. */
  upnp?: boolean;
  natpmp?: boolean;
  /** The embedded tracker on the port (default true). */
  tracker?: boolean;
  /** Protocol encryption (MSE/PE): `prefer` (default), `require` or `off`, as `--encryption`. */
  encryption?: 'prefer' | 'require' | 'off';
  /** Peer connections over `tcp`, `utp` (BEP 29) or `both` (default), as `--transport`. */
  transport?: 'tcp' | 'utp' | 'both';
  /** Initial seeding (BEP 16) of a torrent that starts complete: `'auto'` (default: while we are the
   * swarm's only source and more than one leecher is there), `true` always (`--super-seed`),
   * `false` never (`--no-super-seed`). */
  superSeed?: boolean | 'auto';
  /** Keep torrents, their settings and resume data here (the daemon's layout); reopened by the next
   * Client with the same folder. Default: nothing is kept. */
  stateDir?: string;
  /** Where add() downloads when no `dir` is given. Default: the current folder. */
  downloadDir?: string;
  /** Session-wide rate limits on payload, bytes per second (0: unlimited, the default). */
  uploadLimitBytesPerSec?: number;
  downloadLimitBytesPerSec?: number;
  /** Most peer connections over all torrents (default 500). */
  maxConnections?: number;
  /** Torrents downloading at once (default 5) and seeding at once (default 20); the rest queue. */
  maxActiveDownloads?: number;
  maxActiveSeeds?: number;
  /** Let magnet links name trackers and peers on loopback, link-local or this machine's own
   * addresses (default false: they are not contacted; `peers` given to add() always are). */
  allowLocalPeers?: boolean;
  /**
   * Name incomplete files `<name>.part` until every piece of the file is verified (default true, as
   * Transmission does); false writes them under their own names from the start.
   */
  partSuffix?: boolean;
  /**
   * Where the client logs what it catches and goes on from (a tracker failure, a resume file not
   * saved, …): `new Logger({ level: 'info', sink: (r) => … })`. Default: nowhere.
   */
  logger?: Logger;
}

export interface AddOptions {
  /** Download folder (default: the client's downloadDir). */
  dir?: string;
  /** Peers to connect to, 'host:port' ('[v6]:port' for IPv6). */
  peers?: string[];
  /** Download pieces in order. */
  sequential?: boolean;
  /** Add without starting (resume() starts it). */
  paused?: boolean;
  /** This torrent's rate limits, bytes per second (0: unlimited). */
  uploadLimitBytesPerSec?: number;
  downloadLimitBytesPerSec?: number;
}

export interface SeedOptions {
  /** Trackers: URLs (http, https, udp) or 'host:port' (the tracker inside the peer there); one tier each. */
  announce?: string[];
  /** A power of two of at least 16384 (default: about 1,000–2,000 pieces). */
  pieceLength?: number;
  /** BEP 27: no DHT, PEX or LSD for this torrent. */
  private?: boolean;
  comment?: string;
  /** Peers to connect to, 'host:port'. */
  peers?: string[];
}

export interface ClientEventMap {
  /** A torrent was added (by add(), seed(), or loaded from the state directory). */
  torrent: [Torrent];
  /** A problem that stops nothing: a damaged file of the state directory (that torrent is skipped or
   * rechecked), a discovery method that could not start (LSD on a host without multicast). */
  warning: [Error];
  /** The router forwards our port: where peers on the internet reach this client. */
  portmap: [PortMapping];
}

interface Running {
  session: Session;
  manager: TorrentManager;
}

export class Client extends EventEmitter<ClientEventMap> {
  readonly #o: ClientOptions;
  readonly #torrents = new Map<string, { torrent: Torrent; hooks: TorrentHooks }>();
  #ready: Promise<Running> | undefined;
  #running: Running | undefined;
  #closing: Promise<void> | undefined;
  /** The state directory's lock, held from ready() to close(). */
  #lock: StateLock | undefined;

  constructor(options: ClientOptions = {}) {
    super({ captureRejections: false });
    this.#o = checkOptions(options);
  }

  /** The port peers reach this client at (0 before ready()). */
  get port(): number {
    return this.#running?.session.port ?? 0;
  }

  /** The router's port mapping (UPnP or NAT-PMP/PCP): done, failed (why) or pending; undefined when off. */
  get portMapping(): PortMapStatus | undefined {
    return this.#running?.session.portMapping;
  }

  /** The torrents, in the order they were added. */
  get torrents(): Torrent[] {
    const m = this.#running?.manager;
    if (!m) return [];
    return m
      .list()
      .map((v) => this.#torrentFor(v.infoHash))
      .filter((t): t is Torrent => t !== undefined);
  }

  /** The torrent with this info hash (40 hex digits, any case, or its 20 bytes), if the client holds it. */
  get(infoHash: string | Uint8Array): Torrent | undefined {
    const hex = typeof infoHash === 'string' ? infoHash.toLowerCase() : Buffer.from(infoHash).toString('hex');
    return this.#torrentFor(hex);
  }

  /** Opens the port, loads the state directory, starts its torrents. Idempotent. */
  ready(): Promise<void> {
    if (this.#closing !== undefined) return Promise.reject(new SessionError('the client is closed'));
    this.#ready ??= this.#start();
    return this.#ready.then(() => undefined);
  }

  async #start(): Promise<Running> {
    const o = this.#o;
    let store: StateStore | undefined;
    let settings: SessionSettings = {};
    if (o.stateDir !== undefined) {
      // One process per state directory: refused while a daemon (or a download --state) holds it.
      const lock = await StateLock.acquire(resolve(o.stateDir), 'client');
      this.#lock = lock;
      try {
        store = new StateStore(lock.dir, o.logger);
        await store.open();
        settings = await store.loadSettings();
      } catch (err) {
        this.#lock = undefined;
        await lock.release();
        throw err;
      }
    }
    const pick = <K extends keyof SessionSettings>(key: K, given: SessionSettings[K]): void => {
      if (given !== undefined) settings[key] = given;
    };
    pick('port', o.port);
    pick('uploadLimitBytesPerSec', o.uploadLimitBytesPerSec);
    pick('downloadLimitBytesPerSec', o.downloadLimitBytesPerSec);
    pick('maxConnections', o.maxConnections);
    pick('maxActiveDownloads', o.maxActiveDownloads);
    pick('maxActiveSeeds', o.maxActiveSeeds);
    const sessionOptions: SessionOptions = {
      dht: o.dht ?? true,
      lsd: o.lsd ?? true,
      upnp: o.upnp ?? true,
      natpmp: o.natpmp ?? true,
      pex: o.pex ?? true,
      tracker: o.tracker ?? true,
      ...(o.bind !== undefined ? { bind: o.bind } : {}),
      ...(o.encryption !== undefined ? { encryption: o.encryption } : {}),
      ...(o.transport !== undefined ? { transport: o.transport } : {}),
      ...(o.superSeed !== undefined ? { superSeed: o.superSeed } : {}),
      ...(o.dhtBootstrap !== undefined ? { dhtBootstrap: parsePeers(o.dhtBootstrap) } : {}),
      ...(settings.uploadLimitBytesPerSec !== undefined
        ? { uploadLimitBytesPerSec: settings.uploadLimitBytesPerSec }
        : {}),
      ...(settings.downloadLimitBytesPerSec !== undefined
        ? { downloadLimitBytesPerSec: settings.downloadLimitBytesPerSec }
        : {}),
      ...(settings.maxConnections !== undefined ? { maxConnections: settings.maxConnections } : {}),
      ...(store ? { stateDir: store.dir } : {}),
      ...(o.allowLocalPeers ? { allowLocalPeers: true } : {}),
      ...(o.partSuffix === false ? { partSuffix: false } : {}),
      ...(o.logger ? { logger: o.logger } : {}),
    };
    const session = await startSession(settings.port, sessionOptions).catch(async (err: unknown) => {
      await this.#lock?.release();
      this.#lock = undefined;
      throw err;
    });
    const manager = new TorrentManager({
      session,
      ...(store ? { store } : {}),
      ...(settings.maxActiveDownloads !== undefined
        ? { maxActiveDownloads: settings.maxActiveDownloads }
        : {}),
      ...(settings.maxActiveSeeds !== undefined ? { maxActiveSeeds: settings.maxActiveSeeds } : {}),
    });
    const running = { session, manager };
    // A discovery method that could not start (LSD without multicast): the client runs without it.
    for (const w of session.warnings) this.emit('warning', new Error(w));
    session.on('portmap:failed', (_method, message) => this.emit('warning', new Error(message)));
    session.on('portmap:mapped', (m) => this.emit('portmap', m));
    try {
      this.#route(manager);
      this.#running = running;
      if (store) {
        settings.port = session.port;
        await store.saveSettings(settings);
        for (const w of await manager.load()) this.emit('warning', new Error(w));
      }
      manager.start();
      for (const v of manager.list()) this.#torrentFor(v.infoHash);
      return running;
    } catch (err) {
      this.#running = undefined;
      await manager.stop();
      await session.stop();
      await this.#lock?.release();
      this.#lock = undefined;
      throw err;
    }
  }

  /** Manager events go to the Torrent of their info hash. */
  #route(manager: TorrentManager): void {
    manager.on('torrent:active', (hex, swarm) => this.#hooksFor(hex)?.active(swarm));
    manager.on('torrent:status', (hex, status) => this.#hooksFor(hex)?.status(status));
    manager.on('torrent:complete', (hex) => this.#hooksFor(hex)?.complete());
    manager.on('torrent:error', (hex, message) => this.#hooksFor(hex)?.error(message));
    manager.on('torrent:removed', (hex) => {
      const entry = this.#torrents.get(hex);
      this.#torrents.delete(hex);
      entry?.hooks.removed();
    });
  }

  #hooksFor(hex: string): TorrentHooks | undefined {
    this.#torrentFor(hex);
    return this.#torrents.get(hex)?.hooks;
  }

  /** The Torrent of an info hash the manager holds, made on first use. */
  #torrentFor(hex: string): Torrent | undefined {
    const known = this.#torrents.get(hex);
    if (known) return known.torrent;
    const running = this.#running;
    if (!running?.manager.has(hex)) return undefined;
    const { manager, session } = running;
    const link = manager.recordOf(hex)?.magnet;
    let magnet: TorrentContext['magnet'];
    try {
      magnet = link !== undefined ? parseMagnet(link) : undefined;
    } catch (err) {
      // The torrent runs from its metainfo; only its magnet link is not offered.
      session.log.debug('saved magnet link not read', { torrent: hex, error: errorText(err) });
      magnet = undefined;
    }
    const bind = this.#o.bind;
    const ctx: TorrentContext = {
      manager,
      infoHash: hex,
      ...(magnet ? { magnet } : {}),
      // The router's external address once it forwards our port, else the bound address.
      selfAddress: () => {
        const mapped = session.advertisedAddress;
        if (mapped.host !== undefined) return formatAddress({ host: mapped.host, port: mapped.port });
        return bind && bind !== '0.0.0.0' && bind !== '::'
          ? formatAddress({ host: bind, port: session.port })
          : undefined;
      },
      remove: (options) => this.remove(hex, options),
    };
    let hooks: TorrentHooks | undefined;
    const torrent = new Torrent(ctx, (h) => {
      hooks = h;
    });
    this.#torrents.set(hex, { torrent, hooks: hooks! });
    this.emit('torrent', torrent);
    return torrent;
  }

  /**
   * Adds a torrent: a magnet link, a path to a .torrent, or the .torrent's bytes. Resolves once the
   * client holds it (a magnet's metadata comes later: the 'metadata' event). Adding a torrent the
   * client already holds returns it (and connects to the peers given).
   */
  async add(source: string | Uint8Array, options: AddOptions = {}): Promise<Torrent> {
    const peers = parsePeers(options.peers);
    const loaded = await loadSource(source);
    const { manager } = await this.#started();
    const hex = loaded.kind === 'magnet' ? loaded.magnet.infoHashHex : loaded.metainfo.infoHashHex;
    if (manager.has(hex)) {
      manager.addPeers(hex, peers);
      return this.#torrentFor(hex)!;
    }
    await manager.add({
      dir: resolve(options.dir ?? this.#o.downloadDir ?? '.'),
      peers,
      ...(loaded.kind === 'magnet' ? { magnet: loaded.magnet } : { metainfo: loaded.metainfo }),
      ...(options.paused ? { paused: true } : {}),
      ...(options.sequential ? { sequential: true } : {}),
      ...(options.uploadLimitBytesPerSec !== undefined
        ? { uploadLimitBytesPerSec: options.uploadLimitBytesPerSec }
        : {}),
      ...(options.downloadLimitBytesPerSec !== undefined
        ? { downloadLimitBytesPerSec: options.downloadLimitBytesPerSec }
        : {}),
    });
    return this.#torrentFor(hex)!;
  }

  /**
   * Makes the torrent of a file or folder (in memory) and seeds it from where it is. The data was
   * just hashed, so it is not checked again unless a file changed meanwhile. The torrent's
   * `torrentFile` holds the .torrent bytes, `magnetURI` its magnet link.
   */
  async seed(path: string, options: SeedOptions = {}): Promise<Torrent> {
    if (typeof path !== 'string' || path === '')
      throw new UsageError('seed: give the path of a file or folder');
    const announce = options.announce ?? [];
    if (!Array.isArray(announce)) throw new UsageError('seed: announce: give an array of trackers');
    for (const a of announce) {
      if (typeof a !== 'string' || !isAnnounce(a))
        throw new UsageError(
          `seed: announce: ${JSON.stringify(a)} is neither an http(s)/udp URL nor host:port`,
        );
    }
    const peers = parsePeers(options.peers);
    if (this.#closing !== undefined) throw new SessionError('the client is closed');
    // Made before the port opens: a bad path or piece length rejects without opening a socket.
    const hashedAtMs = Date.now();
    let torrentBytes: Buffer;
    try {
      torrentBytes = (
        await createTorrent(path, {
          announce: announce.map((a) => [a]),
          createdBy: `bitswarm/${VERSION}`,
          ...(options.pieceLength !== undefined ? { pieceLength: options.pieceLength } : {}),
          ...(options.private ? { private: true } : {}),
          ...(options.comment !== undefined ? { comment: options.comment } : {}),
        })
      ).torrent;
    } catch (err) {
      if (err instanceof CreateError) throw new UsageError(err.message, { cause: err });
      throw err;
    }
    const metainfo = parseMetainfo(torrentBytes);
    const { manager } = await this.#started();
    const hex = await manager.add({ metainfo, dir: dirname(resolve(path)), peers, hashedAtMs });
    return this.#torrentFor(hex)!;
  }

  /** Removes a torrent (by info hash or the Torrent); `deleteData` also deletes its own files. */
  async remove(
    torrent: string | Uint8Array | Torrent,
    options: { deleteData?: boolean } = {},
  ): Promise<void> {
    const hex =
      torrent instanceof Torrent
        ? torrent.infoHash
        : typeof torrent === 'string'
          ? torrent.toLowerCase()
          : Buffer.from(torrent).toString('hex');
    const { manager } = await this.#started();
    await manager.remove(hex, options.deleteData ? { deleteData: true } : {});
  }

  /**
   * An http.Server (call listen() on it) that serves `/<infoHash>/<fileIndex>` of this client's
   * torrents with Range while they download (see `file.streamPath`), and a JSON listing at `/`.
   */
  createServer(): Server {
    return streamServer(() => this.torrents);
  }

  /** Stops every torrent (saving resume data when there is a state directory) and closes the port. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    const starting = this.#ready;
    if (!starting) return;
    // A failed start was thrown to ready()'s caller; closing has nothing to stop then.
    const running = await starting.catch(() => undefined);
    if (!running) return;
    await running.manager.stop();
    await running.session.stop();
    this.#running = undefined;
    await this.#lock?.release();
    this.#lock = undefined;
  }

  async #started(): Promise<Running> {
    await this.ready();
    const running = this.#running;
    if (!running || this.#closing !== undefined) throw new SessionError('the client is closed');
    return running;
  }
}

function checkOptions(o: ClientOptions): ClientOptions {
  if (typeof o !== 'object' || o === null) throw new UsageError('Client: options must be an object');
  const whole = (name: keyof ClientOptions, min: number, max: number): void => {
    const v = o[name];
    if (v === undefined) return;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
      throw new UsageError(
        `Client: ${name}: ${JSON.stringify(v)} is not a whole number from ${min} to ${max}`,
      );
  };
  whole('port', 0, 65535);
  whole('uploadLimitBytesPerSec', 0, Number.MAX_SAFE_INTEGER);
  whole('downloadLimitBytesPerSec', 0, Number.MAX_SAFE_INTEGER);
  whole('maxConnections', 1, 100_000);
  whole('maxActiveDownloads', 0, 10_000);
  whole('maxActiveSeeds', 0, 100_000);
  for (const name of ['bind', 'stateDir', 'downloadDir'] as const) {
    const v = o[name];
    if (v !== undefined && (typeof v !== 'string' || v === ''))
      throw new UsageError(`Client: ${name}: give a non-empty string`);
  }
  if (o.dhtBootstrap !== undefined) parsePeers(o.dhtBootstrap);
  return { ...o };
}
