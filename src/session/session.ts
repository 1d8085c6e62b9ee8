// A session: one bitswarm process, one port, many torrents. It owns the TCP listener and the UDP
// socket of that port, tells apart what arrives, and composes the discovery methods with the swarms:
//  - TCP: `0x13 "BitTorrent protocol"` is a peer, routed to its torrent by the handshake's info hash;
//    `GET ` is the embedded HTTP tracker (/announce, /scrape); anything else is an encrypted peer
//    (MSE), routed by the info hash it proves it knows (req2 xor req3).
//  - UDP: uTP (BEP 29; the first byte is type << 4 | version 1) is a peer connection, handed to
//    the same demux as a TCP one (plaintext or MSE; no tracker over uTP); bencoded KRPC (starts
//    with `d`) is the DHT; anything else is the UDP tracker (BEP 15), whose connection ids never
//    start like a uTP packet.
// Discovery feeds peer addresses into the torrents: tracker clients, our own tracker's announces,
// PEX (extension-glue.ts), LSD and the DHT.

import { randomBytes } from 'node:crypto';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { lookup as dnsLookup, type LookupOneOptions } from 'node:dns';
import { setMaxListeners } from 'node:events';
import { readFile } from 'node:fs/promises';
import { createServer, isIP, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { DhtNode } from '../discovery/dht/dht-node.js';
import { serveHttpConnection } from '../discovery/http-tracker-conn.js';
import { LsdNode } from '../discovery/lsd.js';
import {
  PortMapper,
  type PortMapperOptions,
  type PortMapping,
  type PortMapStatus,
} from '../discovery/port-mapper.js';
import { TrackerClient } from '../discovery/tracker-client.js';
import { TrackerServer } from '../discovery/tracker-server.js';
import { makePeerId } from '../peer/connection.js';
import {
  type EncryptionPolicy,
  type IncomingMse,
  readEncryptedHandshake,
  responderFor,
  runMse,
} from '../peer/encryption.js';
import { readHandshake } from '../peer/handshake.js';
import { UtpManager } from '../peer/utp-manager.js';
import type { UtpSocket } from '../peer/utp-socket.js';
import { type PeerAddress, parseAddress } from '../protocol/address.js';
import { bep42NodeId, isBep42NodeId } from '../protocol/bep42.js';
import type { Magnet } from '../protocol/magnet.js';
import { hybridV2Hash, type Metainfo, swarmNames } from '../protocol/metainfo.js';
import { req2Hash, streamKind } from '../protocol/mse.js';
import { DisconnectReason, type Handshake } from '../protocol/peer-wire.js';
import { looksLikeUtp } from '../protocol/utp.js';
import { FileStorage, type FileStorageOptions } from '../storage/file-storage.js';
import { HasherPool } from '../storage/hasher-pool.js';
import type { Storage } from '../storage/storage.js';
import { Torrent, type TorrentOptions } from '../swarm/torrent.js';
import type { WebSeedTuning } from '../swarm/web-seeds.js';
import { errorText, type Logger, silentLogger } from '../util/logger.js';
import { TokenBucket } from '../util/token-bucket.js';
import { TypedEmitter } from '../util/typed-events.js';
import { VERSION } from '../util/version.js';
import { refuseWebSeedUrl } from '../webseed/url.js';
import { WebSeedClient, type WebSeedOptions } from '../webseed/web-seed.js';
import { TorrentDiagnostics } from './diagnostics.js';
import { logDht, logLsd, logTorrent, logTrackerClient } from './event-log.js';
import { ExtensionGlue, type HolepunchStats, localExtensions } from './extension-glue.js';
import { filterMagnetTargets } from './local-targets.js';
import { MetadataFetcher, type ReleasedConnection } from './metadata-fetcher.js';
import { StateStore } from './state-store.js';
import { SessionTransport, type TransportMode } from './transport-policy.js';

export interface SessionOptions {
  /** TCP and UDP port; 0 picks a free one. */
  port?: number;
  /** Address to bind; default all interfaces. */
  bind?: string;
  peerId?: Buffer;
  maxConnectionsPerTorrent?: number;
  /** Most connections of one torrent to one IP address (default 8; see TorrentOptions). */
  maxConnectionsPerIp?: number;
  /** Initial seeding (BEP 16) for torrents that start complete: true, false or 'auto' (the default:
   * while we are the swarm's only source; see TorrentOptions). */
  superSeed?: boolean | 'auto';
  hasherThreads?: number;
  handshakeTimeoutMs?: number;
  /** The embedded tracker (default on). */
  tracker?: boolean;
  /** Track any info hash, not only this session's torrents. */
  openTracker?: boolean;
  trackerIntervalSec?: number;
  pex?: boolean;
  lsd?: boolean;
  dht?: boolean;
  /** DHT bootstrap nodes; default: the public bootstrap host names (none when bound to loopback). */
  dhtBootstrap?: PeerAddress[];
  dhtRateLimitPerSec?: number;
  /** Announce to trackers (default on). */
  trackerClient?: boolean;
  /** Tracker client timings, for tests. */
  trackerClientTimeoutMs?: number;
  trackerRetryMinMs?: number;
  /** Bound on telling trackers `stopped` when a torrent stops (default 2 s). */
  trackerStopTimeoutMs?: number;
  /**
   * Contact a magnet link's trackers (`tr=`) and peers (`x.pe=`) on loopback, link-local or this
   * machine's own addresses. Off by default: a link from anywhere must not make us send requests to
   * other services on the user's machine or LAN router. Peers the user gives (`peers`) are always dialled.
   */
  allowLocalPeers?: boolean;
  /** Session-wide rate limits on payload, bytes per second (0 or absent: unlimited). */
  uploadLimitBytesPerSec?: number;
  downloadLimitBytesPerSec?: number;
  /** Most peer connections over all torrents. */
  maxConnections?: number;
  /** A state directory: the DHT's routing table is saved there (dht.json) and reused at start. */
  stateDir?: string;
  /** Peer connections over `tcp`, `utp` (BEP 29) or `both` (default; see transport-policy.ts). */
  transport?: TransportMode;
  /** Protocol encryption (MSE/PE): `prefer` (default), `require` or `off`; see encryption.ts. */
  encryption?: EncryptionPolicy;
  /** Name incomplete files `<name>.part` until they are complete (default true; file-storage.ts). */
  partSuffix?: boolean;
  /** Download from the torrents' web seeds (BEP 19 url-list; default on). */
  webSeeds?: boolean;
  /** Web seed connections, timeouts and backoff (for tests and tuning). */
  webSeed?: Omit<WebSeedOptions, 'localAddress'> & WebSeedTuning;
  /** Where caught errors and events go (default: nowhere); the session hands it down. */
  logger?: Logger;
  /**
   * Ask the router to forward our port with UPnP IGD / with PCP or NAT-PMP (default on; always off
   * when bound to loopback: tests and the demo never talk to a real router).
   */
  upnp?: boolean;
  natpmp?: boolean;
  /** Port mapping details (a gateway address, timeouts; for tests). */
  portMapper?: Omit<PortMapperOptions, 'internalPort' | 'upnp' | 'natpmp' | 'bindAddress'>;
}

export interface AddOptions {
  /** Download directory. */
  dir: string;
  peers?: PeerAddress[];
  storage?: Storage;
  /** Options of the file storage made when `storage` is not given (onCreate, say). */
  storageOptions?: FileStorageOptions;
  skipCheck?: boolean;
  sequential?: boolean;
  torrentOptions?: Partial<TorrentOptions>;
  /** Called with the new torrent before it starts (to attach listeners before its first event). */
  onTorrent?: (torrent: Torrent) => void;
  /** This torrent's rate limits, bytes per second. */
  uploadLimitBytesPerSec?: number;
  downloadLimitBytesPerSec?: number;
}

export interface SessionEvents extends Record<string, unknown[]> {
  'torrent:added': [Torrent];
  'torrent:removed': [infoHashHex: string];
  'metadata:fetched': [infoHashHex: string];
  /** A magnet's tracker or peer that is not contacted (a local address; see local-targets.ts). */
  'magnet:refused': [infoHashHex: string, why: string];
  /** A discovery method that could not start (LSD without a multicast route, say); the others run. */
  'discovery:failed': [method: string, message: string];
  /** The router forwards our port: the external address is what we advertise from now on. */
  'portmap:mapped': [PortMapping];
  /** A port mapping method failed (a warning: the session runs on, reachable or not). */
  'portmap:failed': [method: string, message: string];
}

/**
 * dgram's address lookup, answering IP literals at once. Node's default (dns.lookup) answers even a
 * literal a tick later, so every datagram's send went through a deferred callback: with a uTP
 * packet per 1,452 bytes, a measurable share of a transfer's CPU. Host names still go to dns.lookup.
 */
function literalLookup(
  address: string,
  options: LookupOneOptions | number,
  cb: (err: NodeJS.ErrnoException | null, address: string, family: number) => void,
): void {
  const f = isIP(address);
  if (f !== 0) cb(null, address, f);
  else dnsLookup(address, typeof options === 'number' ? { family: options } : options, cb);
}

export class SessionError extends Error {
  override readonly name = 'SessionError';
  readonly code = 'ERR_SESSION';
}

/**
 * What the session runs under one info hash — its one registry (`#swarms`), one entry per torrent:
 * a magnet's metadata being fetched, then the torrent with its discovery. The manager above keeps
 * what does not run (settings, the queue, paused and finished torrents) and asks here for the rest.
 */
type Swarm = MetadataFetch | TorrentSlot;

interface MetadataFetch {
  phase: 'fetching';
  fetcher: MetadataFetcher;
  /** Settles with the torrent once the metadata is in and it is added (a second addMagnet waits for it too). */
  done: Promise<Torrent>;
}

interface TorrentSlot {
  phase: 'running';
  torrent: Torrent;
  glue: ExtensionGlue;
  client?: TrackerClient;
  /** A hybrid's announces under its truncated v2 hash (BEP 52), to the same trackers. */
  clientV2?: TrackerClient;
  diag: TorrentDiagnostics;
  lastDhtLookupMs: number;
}

const TICK_MS = 2000;

export function isLoopback(host: string | undefined): boolean {
  if (!host) return false;
  return host === 'localhost' || host === '::1' || host.startsWith('127.') || host === '::ffff:127.0.0.1';
}

export class Session extends TypedEmitter<SessionEvents> {
  readonly peerId: Buffer;
  readonly hasher: HasherPool;
  readonly tracker: TrackerServer | undefined;
  /** Session-wide rate limits, shared by every torrent. */
  readonly uploadLimit: TokenBucket;
  readonly downloadLimit: TokenBucket;
  /** Connections over all torrents, against the session-wide limit. */
  readonly connectionBudget: { used: number; max: number };
  /** The log of this session; the manager, the API server and discovery write to it too. */
  readonly log: Logger;
  readonly #o: SessionOptions;
  readonly #swarms = new Map<string, Swarm>();
  readonly #ac = new AbortController();
  readonly #sockets = new Set<Socket | UtpSocket>();
  #utp: UtpManager | undefined;
  #udpV6: boolean | undefined;
  #transport: SessionTransport = new SessionTransport('tcp', undefined);
  #server: Server | undefined;
  #udp: UdpSocket | undefined;
  #dht: DhtNode | undefined;
  #lsd: LsdNode | undefined;
  #portMapper: PortMapper | undefined;
  /** The port we announce (DHT, trackers): the external one when the router maps it. */
  #advertisedPort: number | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** Set once the DHT's routing table has nodes: what was announced before is announced again. */
  #dhtJoined = false;
  #lastDhtSaveMs = Date.now();
  #port = 0;
  /** Discovery methods that could not start, one line each (also emitted as `discovery:failed`). */
  readonly warnings: string[] = [];
  #started = false;
  #stopped = false;

  constructor(options: SessionOptions = {}) {
    super();
    this.#o = options;
    this.log = options.logger ?? silentLogger;
    // Handshakes in progress, trackers and the DHT all listen to this signal.
    setMaxListeners(0, this.#ac.signal);
    this.peerId = options.peerId ?? makePeerId(VERSION);
    this.connectionBudget = { used: 0, max: options.maxConnections ?? 500 };
    this.uploadLimit = new TokenBucket(options.uploadLimitBytesPerSec ?? 0);
    this.downloadLimit = new TokenBucket(options.downloadLimitBytesPerSec ?? 0);
    this.hasher = new HasherPool(
      options.hasherThreads !== undefined ? { threads: options.hasherThreads } : {},
    );
    if (options.tracker !== false) {
      this.tracker = new TrackerServer({
        isTracked: (hex) => this.#swarms.get(hex)?.phase === 'running',
        log: this.log,
        open: options.openTracker ?? false,
        ...(options.trackerIntervalSec !== undefined ? { intervalSec: options.trackerIntervalSec } : {}),
      });
    }
  }

  get port(): number {
    return this.#port;
  }

  get torrents(): Torrent[] {
    return [...this.#slots()].map((s) => s.torrent);
  }

  /** The running torrents' entries. */
  *#slots(): Generator<TorrentSlot> {
    for (const s of this.#swarms.values()) if (s.phase === 'running') yield s;
  }

  #slot(hex: string): TorrentSlot | undefined {
    const s = this.#swarms.get(hex);
    return s?.phase === 'running' ? s : undefined;
  }

  get dht(): DhtNode | undefined {
    return this.#dht;
  }

  /** The discovery methods running: DHT and LSD as started (LSD may fail to), PEX as configured. */
  get discovery(): { dht: boolean; lsd: boolean; pex: boolean } {
    return { dht: this.#dht !== undefined, lsd: this.#lsd !== undefined, pex: this.#o.pex !== false };
  }

  get(infoHashHex: string): Torrent | undefined {
    return this.#slot(infoHashHex)?.torrent;
  }

  /** Magnet links whose metadata is being fetched: peers connected, metadata bytes received and total. */
  fetching(): {
    infoHashHex: string;
    peers: number;
    metadataBytes: number;
    metadataSize: number | undefined;
  }[] {
    const out = [];
    for (const [infoHashHex, s] of this.#swarms) {
      if (s.phase !== 'fetching') continue;
      const m = s.fetcher.metadataBytes;
      out.push({
        infoHashHex,
        peers: s.fetcher.connectionCount,
        metadataBytes: m.received,
        metadataSize: m.total,
      });
    }
    return out;
  }

  /** Peers learned by PEX across all torrents (statistics and tests). */
  get learnedByPex(): number {
    let n = 0;
    for (const s of this.#slots()) n += s.glue.learnedByPex;
    return n;
  }

  /** BEP 55 hole punching across all torrents: rendezvous asked, relayed, refused; connects acted on. */
  get holepunchStats(): HolepunchStats {
    const sum: HolepunchStats = { rendezvousSent: 0, relayed: 0, refused: 0, connects: 0, errors: 0 };
    for (const s of this.#slots())
      for (const k of Object.keys(sum) as (keyof HolepunchStats)[]) sum[k] += s.glue.holepunchStats[k];
    return sum;
  }

  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    // One number for TCP and UDP. With a chosen port both must bind; with port 0 the kernel picks a
    // free TCP port, and if that number is taken on UDP another one is tried.
    const wanted = this.#o.port ?? 0;
    for (let attempt = 0; ; attempt++) {
      await this.#listenTcp(wanted);
      try {
        await this.#startUdp();
        break;
      } catch (err) {
        if (wanted !== 0 || attempt >= 20) throw err;
        const server = this.#server;
        if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    }
    this.tracker?.start();
    // A torrent tracked by our own tracker takes that swarm as a peer source, as if it had announced
    // to itself: peers that cannot dial us (a NAT, an encryption they insist on) are dialled by us.
    this.tracker?.on('peer:announce', (hex, p) => {
      if (p.event === 'stopped' || (p.port === this.#port && isOwnHost(p.host, this.#o.bind))) return;
      const s = this.#swarms.get(hex);
      if (s?.phase === 'fetching') s.fetcher.addPeers([{ host: p.host, port: p.port }]);
      else if (s && !(p.seed && s.torrent.complete)) s.torrent.addPeers([{ host: p.host, port: p.port }]);
    });
    // The router is asked first: the DHT waits for its answer to take a BEP 42 id for the external address.
    this.#startPortMapper();
    await this.#startDht();
    await this.#startLsd();
    this.#timer = setInterval(() => this.#tick(), TICK_MS);
  }

  async #listenTcp(port: number): Promise<void> {
    const server = createServer({ noDelay: true }, (socket) => this.#onConnection(socket));
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port, ...(this.#o.bind ? { host: this.#o.bind } : {}) }, () => {
        server.off('error', reject);
        resolve();
      });
    }).catch((err: NodeJS.ErrnoException) => {
      throw new SessionError(
        err.code === 'EADDRINUSE'
          ? `port ${port} is already in use (choose another with --port)`
          : `cannot listen on port ${port}: ${err.message}`,
        { cause: err },
      );
    });
    server.on('error', (err) =>
      this.log.warn('peer listener error', { port: this.#port, error: errorText(err) }),
    );
    const addr = server.address();
    this.#port = typeof addr === 'object' && addr ? addr.port : 0;
  }

  async #startUdp(): Promise<void> {
    const mode = this.#o.transport ?? 'both';
    if (this.tracker === undefined && this.#o.dht === false && mode === 'tcp') return;
    const bind = this.#o.bind;
    const v6 = bind ? isIP(bind) === 6 : true;
    const udp = createSocket(
      v6 ? { type: 'udp6', ipv6Only: false, lookup: literalLookup } : { type: 'udp4', lookup: literalLookup },
    );
    udp.on('error', (err) => this.log.debug('UDP socket error', { error: errorText(err) }));
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind({ port: this.#port, ...(bind ? { address: bind } : {}) }, () => {
        udp.off('error', reject);
        resolve();
      });
    }).catch((err: Error) => {
      udp.close();
      throw new SessionError(`cannot bind UDP port ${this.#port}: ${err.message}`, { cause: err });
    });
    const utp =
      mode === 'tcp'
        ? undefined
        : new UtpManager({
            send: (chunks, host, port) => this.#udpSendChunks(chunks, host, port),
            onIncoming: (socket) => {
              this.#transport.noteUtp({ host: socket.remoteAddress, port: socket.remotePort });
              this.#onConnection(socket);
            },
            maxConnections: this.connectionBudget.max,
          });
    this.#utp = utp;
    this.#transport = new SessionTransport(mode, utp);
    if (utp !== undefined) {
      // A window of uTP packets arrives in bursts: the kernel's default UDP buffer (~200 KiB) drops
      // some at loopback speed. Asked for 4 MiB; the kernel caps it at net.core.rmem_max.
      try {
        udp.setRecvBufferSize(4 * 1024 * 1024);
        udp.setSendBufferSize(1024 * 1024);
      } catch {
        // Not allowed here: the default buffers work, with more resends.
      }
    }
    udp.on('message', (msg, rinfo) => {
      if (msg.length === 0) return;
      if (utp !== undefined && looksLikeUtp(msg)) {
        utp.handlePacket(msg, { address: unmapV4(rinfo.address), port: rinfo.port });
        return;
      }
      if (msg[0] === 0x64 /* d */) {
        this.#dht?.handlePacket(msg, { address: unmapV4(rinfo.address), port: rinfo.port });
        return;
      }
      const reply = this.tracker?.handleUdp(msg, {
        address: unmapV4(rinfo.address),
        port: rinfo.port,
        family: rinfo.family === 'IPv6' && !rinfo.address.startsWith('::ffff:') ? 'IPv6' : 'IPv4',
      });
      if (reply) udp.send(reply, rinfo.port, rinfo.address);
    });
    this.#udp = udp;
  }

  #udpSend(msg: Buffer, host: string, port: number): void {
    const udp = this.#udp;
    if (!udp || this.#stopped) return;
    // A dual-stack IPv6 socket reaches IPv4 hosts through mapped addresses.
    const target = udp.address().family === 'IPv6' && isIP(host) === 4 ? `::ffff:${host}` : host;
    udp.send(msg, port, target, (err) => {
      if (err) this.log.trace('UDP send failed', { peer: `${host}:${port}`, error: errorText(err) });
    });
  }

  #udpSendChunks(chunks: readonly Uint8Array[], host: string, port: number): void {
    const udp = this.#udp;
    if (!udp || this.#stopped) return;
    // udp.address() is a system call: the family is read once (a packet per 1,350 bytes adds up).
    this.#udpV6 ??= udp.address().family === 'IPv6';
    const target = this.#udpV6 && isIP(host) === 4 ? `::ffff:${host}` : host;
    udp.send(chunks as Uint8Array[], port, target);
  }

  /** Statistics of uTP (packets refused, connections accepted…), when it is on. */
  get utpStats(): Readonly<Record<string, number>> | undefined {
    return this.#utp?.stats;
  }

  async #startDht(): Promise<void> {
    if (this.#o.dht === false || !this.#udp) return;
    const loopback = isLoopback(this.#o.bind);
    const { DHT_BOOTSTRAP_NODES } = await import('../discovery/dht/dht-node.js');
    const bootstrap = this.#o.dhtBootstrap ?? (loopback ? [] : DHT_BOOTSTRAP_NODES);
    const dht = new DhtNode({
      send: (msg, host, port) => this.#udpSend(msg, host, port),
      bootstrap,
      log: this.log,
      version: dhtVersion(VERSION),
      signal: this.#ac.signal,
      ...(this.#o.dhtRateLimitPerSec !== undefined ? { rateLimitPerSec: this.#o.dhtRateLimitPerSec } : {}),
    });
    const statePath = this.#o.stateDir ? join(this.#o.stateDir, 'dht.json') : undefined;
    if (statePath) {
      try {
        dht.importState(JSON.parse(await readFile(statePath, 'utf8')));
      } catch (err) {
        // No saved table yet, or a damaged one: start from the bootstrap nodes.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
          this.log.warn('DHT routing table not read; starting from the bootstrap nodes', {
            file: statePath,
            error: errorText(err),
          });
      }
    }
    dht.on('peers:found', (hex, peers) => {
      const s = this.#swarms.get(hex);
      if (s?.phase === 'running') s.torrent.addPeers(peers, 'dht');
      else s?.fetcher.addPeers(peers);
    });
    dht.on('node:added', () => this.#onDhtJoined(dht));
    logDht(this.log, dht);
    this.#dht = dht;
    // Bootstrapping runs in the background: a session is usable before the DHT has converged. Behind
    // a router that maps our port, it waits for the mapping (a few seconds at most) and, unless the
    // saved id already fits, takes a BEP 42 id derived from the external address.
    const mapper = this.#portMapper;
    if (mapper) {
      void this.portMappingReady(5000)
        .then((m) => {
          if (!m || this.#stopped || isBep42NodeId(dht.nodeId, m.externalIp)) return;
          const id = bep42NodeId(m.externalIp, randomBytes(20));
          if (id) dht.useNodeId(id);
        })
        .catch((err: unknown) =>
          this.log.debug('no BEP 42 id from the port mapping', { error: errorText(err) }),
        )
        .finally(() => this.#startDhtNode(dht));
    } else this.#startDhtNode(dht);
  }

  #startDhtNode(dht: DhtNode): void {
    dht.start().catch((err: unknown) => this.log.warn('DHT bootstrap failed', { error: errorText(err) }));
  }

  async #startLsd(): Promise<void> {
    const bind = this.#o.bind;
    // Never multicast from a loopback-bound session (tests, the demo): LSD is for real LANs.
    if (this.#o.lsd === false || isLoopback(bind)) return;
    const lsd = new LsdNode({
      port: this.#port,
      ...(bind && bind !== '0.0.0.0' && bind !== '::' ? { bindAddress: bind, interfaceAddress: bind } : {}),
      signal: this.#ac.signal,
    });
    logLsd(this.log, lsd);
    lsd.on('peer:found', (hex, peer) => {
      const s = this.#swarms.get(hex);
      if (s?.phase === 'running') s.torrent.addPeers([peer], 'lsd');
      else if (s?.phase === 'fetching') s.fetcher.addPeers([peer]);
      else this.#slotByV2(hex)?.torrent.addPeers([peer], 'lsd', { v2: true });
    });
    // No multicast route (a container, a namespace with only loopback): the other methods still run.
    const ok = await lsd.start().catch((err: Error) => {
      const line = `LSD is off: ${err.message}`;
      this.warnings.push(line);
      this.emit('discovery:failed', 'lsd', line);
      return false;
    });
    if (ok) this.#lsd = lsd;
  }

  #startPortMapper(): void {
    const bind = this.#o.bind;
    const upnp = this.#o.upnp !== false;
    const natpmp = this.#o.natpmp !== false;
    // Never from a loopback-bound session (tests, the demo, benches), nor over IPv6 alone.
    if ((!upnp && !natpmp) || isLoopback(bind) || (bind !== undefined && isIP(bind) === 6 && bind !== '::'))
      return;
    const mapper = new PortMapper({
      ...this.#o.portMapper,
      internalPort: this.#port,
      udp: this.#udp !== undefined,
      upnp,
      natpmp,
      ...(this.#localAddress() ? { bindAddress: this.#localAddress()! } : {}),
    });
    mapper.on('portmap:mapped', (m) => {
      const before = this.#advertisedPort;
      this.#advertisedPort = m.externalPort;
      this.emit('portmap:mapped', m);
      // A second NAT in front of the router (a carrier's): the mapping holds, but nobody outside gets in.
      if (isPrivateIpv4(m.externalIp)) {
        const line = `the router's external address ${m.externalIp} is private: another NAT is in front of it, so peers on the internet may still not reach this one`;
        this.warnings.push(line);
        this.emit('portmap:failed', m.method, line);
      }
      // Announced to the DHT with the internal port before: again with the external one.
      if (this.#dht && before !== m.externalPort) {
        for (const slot of this.#slots()) {
          if (slot.torrent.metainfo.private) continue;
          for (const { hash } of swarmNames(slot.torrent.metainfo)) this.#dht.announce(hash, m.externalPort);
        }
      }
    });
    mapper.on('portmap:failed', (method, message) => {
      const line = `${method === 'upnp' ? 'UPnP' : 'NAT-PMP/PCP'} port mapping: ${message}`;
      // Renewals that keep failing say so every few minutes: the list keeps each line once.
      if (this.warnings.length < 100 && !this.warnings.includes(line)) this.warnings.push(line);
      this.emit('portmap:failed', method, line);
    });
    mapper.on('portmap:removed', () => {
      this.#advertisedPort = undefined;
    });
    this.#portMapper = mapper;
    mapper.start();
  }

  /** The router's port mapping: what happened (undefined when mapping is off or bound to loopback). */
  get portMapping(): PortMapStatus | undefined {
    return this.#portMapper?.status;
  }

  /**
   * The first port mapping attempt's outcome: the mapping, or undefined when it failed, when there is
   * no attempt (at once) or when it takes longer than `timeoutMs`.
   */
  async portMappingReady(timeoutMs = 8000): Promise<PortMapping | undefined> {
    const mapper = this.#portMapper;
    if (!mapper) return undefined;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), timeoutMs);
      timer.unref();
    });
    try {
      return await Promise.race([mapper.ready(), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Where others reach this session: the router's external address and port once mapped, else the
   * listening port (and no host: the caller's own idea of our address stands).
   */
  get advertisedAddress(): { host?: string; port: number } {
    const m = this.#portMapper?.mapping;
    return m ? { host: m.externalIp, port: m.externalPort } : { port: this.#port };
  }

  #onConnection(socket: Socket | UtpSocket): void {
    if (this.#stopped) {
      socket.destroy();
      return;
    }
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
    socket.on('error', (err) =>
      this.log.debug('incoming connection error', { peer: remoteOf(socket), error: errorText(err) }),
    );
    socket.setTimeout(this.#o.handshakeTimeoutMs ?? 10_000, () => socket.destroy());
    // Up to 20 bytes tell the three kinds apart (streamKind); what was read goes back for the reader.
    let head: Buffer = Buffer.alloc(0);
    const onReadable = (): void => {
      for (let c = socket.read() as Buffer | null; c !== null; c = socket.read() as Buffer | null) {
        head = head.length === 0 ? c : Buffer.concat([head, c]);
      }
      const kind = streamKind(head);
      if (kind === undefined) return;
      socket.off('readable', onReadable);
      socket.unshift(head);
      socket.setTimeout(0);
      if (kind === 'peer') {
        // `require`: a plaintext peer is closed unanswered.
        if (this.encryption === 'require') socket.destroy();
        else this.#onPeer(socket);
      } else if (kind === 'http') {
        if (this.tracker && 'address' in socket) serveHttpConnection(socket, this.tracker);
        else socket.destroy();
      } else this.#onEncryptedPeer(socket);
    };
    socket.on('readable', onReadable);
  }

  /** The session's protocol encryption policy. */
  get encryption(): EncryptionPolicy {
    return this.#o.encryption ?? 'prefer';
  }

  #onPeer(socket: Socket | UtpSocket): void {
    readHandshake(socket, { timeoutMs: this.#o.handshakeTimeoutMs ?? 10_000, signal: this.#ac.signal }).then(
      ({ handshake, rest }) => this.#route(socket, handshake, rest),
      (err: unknown) => {
        this.log.debug('incoming handshake failed', { peer: remoteOf(socket), error: errorText(err) });
        socket.destroy();
      },
    );
  }

  #onEncryptedPeer(socket: Socket | UtpSocket): void {
    const o = { timeoutMs: this.#o.handshakeTimeoutMs ?? 10_000, signal: this.#ac.signal };
    const machine = responderFor(this.encryption, (req2) => this.#infoHashByReq2(req2));
    runMse(socket, machine, o)
      .then(async (done) => {
        const { handshake, rest } = await readEncryptedHandshake(socket, done, o);
        // The handshake inside must name the torrent the peer proved it knows.
        if (Buffer.compare(handshake.infoHash, done.result.infoHash) !== 0) socket.destroy();
        else
          this.#route(socket, handshake, rest, {
            obfuscated: true,
            ...(done.cipher ? { cipher: done.cipher } : {}),
          });
      })
      .catch((err: unknown) => {
        this.log.debug('incoming encrypted handshake failed', {
          peer: remoteOf(socket),
          error: errorText(err),
        });
        socket.destroy();
      });
  }

  /** The info hash whose HASH('req2', ·) is `req2`, among our torrents and metadata fetches. */
  #infoHashByReq2(req2: Uint8Array): Buffer | undefined {
    for (const hex of this.#swarms.keys()) {
      const infoHash = Buffer.from(hex, 'hex');
      if (req2Hash(infoHash).equals(req2)) return infoHash;
    }
    for (const slot of this.#slots()) {
      const m = slot.torrent.metainfo;
      const v2 = hybridV2Hash(m);
      if (v2 && req2Hash(v2).equals(req2)) return v2;
    }
    return undefined;
  }

  /** A hybrid torrent known to v2 peers by its truncated v2 hash (BEP 52): one swarm with its v1 one. */
  #slotByV2(hex: string) {
    for (const slot of this.#slots()) {
      if (hybridV2Hash(slot.torrent.metainfo)?.toString('hex') === hex) return slot;
    }
    return undefined;
  }

  #route(socket: Socket | UtpSocket, handshake: Handshake, rest: Buffer, mse?: IncomingMse): void {
    this.#sockets.delete(socket);
    const hex = Buffer.from(handshake.infoHash).toString('hex');
    const s = this.#swarms.get(hex) ?? this.#slotByV2(hex);
    if (s?.phase === 'running') s.torrent.acceptIncoming(socket, handshake, rest, mse);
    else if (s?.phase === 'fetching') s.fetcher.acceptIncoming(socket, handshake, rest, mse);
    else socket.destroy();
  }

  /** The address outgoing sockets leave from: the bound one, unless it is a wildcard. */
  #localAddress(): string | undefined {
    const bind = this.#o.bind;
    return bind && bind !== '0.0.0.0' && bind !== '::' ? bind : undefined;
  }

  #ownAddresses(): PeerAddress[] {
    const bind = this.#o.bind;
    return bind && bind !== '0.0.0.0' && bind !== '::' ? [{ host: bind, port: this.#port }] : [];
  }

  async add(metainfo: Metainfo, options: AddOptions): Promise<Torrent> {
    if (this.#stopped) throw new SessionError('session is stopped');
    const key = metainfo.infoHashHex;
    const existing = this.#slot(key);
    if (existing) {
      if (options.peers) existing.torrent.addPeers(options.peers);
      return existing.torrent;
    }
    const torrent = new Torrent({
      metainfo,
      storage:
        options.storage ??
        new FileStorage(metainfo, options.dir, {
          partSuffix: this.#o.partSuffix !== false,
          log: this.log.child({ torrent: key }),
          ...options.storageOptions,
        }),
      logger: this.log.child({ torrent: key }),
      hasher: this.hasher,
      peerId: this.peerId,
      port: this.#port,
      extensions: localExtensions(this.#utp !== undefined),
      uploadBuckets: [this.uploadLimit],
      connectionBudget: this.connectionBudget,
      downloadBuckets: [this.downloadLimit],
      encryption: this.encryption,
      transport: this.#transport,
      ...(this.#dht ? { dhtPort: this.#port } : {}),
      ...(this.#o.maxConnectionsPerTorrent !== undefined
        ? { maxConnections: this.#o.maxConnectionsPerTorrent }
        : {}),
      ...(this.#o.maxConnectionsPerIp !== undefined
        ? { maxConnectionsPerIp: this.#o.maxConnectionsPerIp }
        : {}),
      superSeed: this.#o.superSeed ?? 'auto',
      ...(options.skipCheck ? { skipCheck: true } : {}),
      ...(options.sequential ? { sequential: true } : {}),
      ...(this.#localAddress() ? { localAddress: this.#localAddress()! } : {}),
      ...(this.#o.webSeed ? { webSeedTuning: this.#o.webSeed } : {}),
      ...options.torrentOptions,
    });
    const glue = new ExtensionGlue(torrent, {
      pex: this.#o.pex !== false,
      ownAddresses: this.#ownAddresses(),
      onUtpPeer: (addr) => this.#transport.noteUtp(addr),
      holepunch: this.#utp !== undefined,
      ...(this.tracker
        ? {
            extraPeers: () =>
              (this.tracker?.peersOf(key) ?? []).map((p) => ({
                host: p.host,
                port: p.port,
                seed: p.seed,
                reachable: false,
              })),
          }
        : {}),
    });
    this.#addWebSeeds(torrent);
    torrent.setRateLimits({
      uploadBytesPerSec: options.uploadLimitBytesPerSec ?? 0,
      downloadBytesPerSec: options.downloadLimitBytesPerSec ?? 0,
    });
    const diag = new TorrentDiagnostics(metainfo.announceList);
    diag.attachTorrent(torrent);
    logTorrent(this.log, torrent);
    // A metadata fetch under this name ends here: the torrent takes its place (its incoming peers too).
    const slot: TorrentSlot = { phase: 'running', torrent, glue, diag, lastDhtLookupMs: 0 };
    this.#swarms.set(key, slot);
    glue.start();
    torrent.on('peer:dht-port', (host, port) => this.#dht?.addNode(host, port));
    if (options.peers) torrent.addPeers(options.peers);
    options.onTorrent?.(torrent);
    this.emit('torrent:added', torrent);
    await torrent.start();
    if (this.#stopped || this.#swarms.get(key) !== slot) return torrent;
    this.#startDiscovery(slot);
    return torrent;
  }

  /** The torrent's url-list (BEP 19): http(s) ones as sources, dialled from the bound address; others listed as refused. */
  #addWebSeeds(torrent: Torrent): void {
    if (this.#o.webSeeds === false) return;
    const m = torrent.metainfo;
    const bind = this.#o.bind;
    for (const url of m.urlList.slice(0, 32)) {
      const refused = refuseWebSeedUrl(url);
      if (refused !== undefined) {
        torrent.addWebSeed(url, undefined, refused);
        continue;
      }
      const source = new WebSeedClient(url, m, {
        ...this.#o.webSeed,
        ...(bind && bind !== '0.0.0.0' && bind !== '::' ? { localAddress: bind } : {}),
      });
      torrent.addWebSeed(url, source);
    }
  }

  /**
   * Trackers, LSD and the DHT. A hybrid (BEP 52) is announced and looked up under both its names,
   * the v1 info hash and the truncated v2 one, as libtorrent does: v1-only and v2-only clients find
   * it, and peers found under the v2 name are dialled with it (Torrent.addPeers `v2`).
   */
  #startDiscovery(slot: TorrentSlot): void {
    const torrent = slot.torrent;
    const m = torrent.metainfo;
    this.#startTrackers(slot);
    if (m.private) return;
    // Our own tracker knows us as a peer of this torrent, so announcers find us at once.
    for (const { hash } of swarmNames(m)) {
      this.#lsd?.add(hash);
      this.#dht?.announce(hash, this.#advertisedPort ?? this.#port);
    }
    if (this.#dht && !torrent.complete) this.#dhtLookup(slot);
  }

  /**
   * Replaces a running torrent's trackers (tiers of URLs, BEP 12): the old announcers say `stopped`
   * and new ones start. False when the torrent does not run (its next start takes the new list).
   */
  async setTrackers(infoHashHex: string, tiers: string[][]): Promise<boolean> {
    const slot = this.#slot(infoHashHex);
    if (!slot) return false;
    slot.torrent.metainfo.announceList = tiers;
    const old = [slot.client, slot.clientV2];
    delete slot.client;
    delete slot.clientV2;
    slot.diag.setTiers(tiers);
    await Promise.all(old.map((c) => c?.stop()));
    if (this.#swarms.get(infoHashHex) === slot && !this.#stopped) this.#startTrackers(slot);
    return true;
  }

  /** The torrent's announcers: one per name (a hybrid has two), to the tiers of its metainfo. */
  #startTrackers(slot: TorrentSlot): void {
    const torrent = slot.torrent;
    const m = torrent.metainfo;
    const v2 = hybridV2Hash(m);
    if (this.#o.trackerClient !== false && m.announceList.length > 0) {
      const stats = () => ({
        uploaded: torrent.uploadedBytes,
        downloaded: torrent.downloadedBytes,
        left: Math.max(0, m.totalLength - torrent.verifiedBytes),
      });
      const client = this.#trackerClient(m.infoHash, m.announceList, stats);
      client.on('peers:found', (peers) => torrent.addPeers(peers, 'tracker'));
      slot.client = client;
      slot.diag.attachTracker(client);
      client.start();
      if (!torrent.complete) torrent.once('torrent:complete', () => client.completed());
      if (v2) {
        const clientV2 = this.#trackerClient(v2, m.announceList, stats);
        clientV2.on('peers:found', (peers) => torrent.addPeers(peers, 'tracker', { v2: true }));
        slot.clientV2 = clientV2;
        clientV2.start();
        if (!torrent.complete) torrent.once('torrent:complete', () => clientV2.completed());
      }
    }
  }

  #trackerClient(
    infoHash: Buffer,
    tiers: readonly (readonly string[])[],
    getStats: () => { uploaded: number; downloaded: number; left: number },
  ): TrackerClient {
    const client = new TrackerClient({
      infoHash,
      peerId: this.peerId,
      port: this.#port,
      announcePort: () => this.#advertisedPort ?? this.#port,
      tiers,
      getStats,
      signal: this.#ac.signal,
      ...(this.#localAddress() ? { localAddress: this.#localAddress()! } : {}),
      ...(this.#o.trackerClientTimeoutMs !== undefined ? { timeoutMs: this.#o.trackerClientTimeoutMs } : {}),
      ...(this.#o.trackerRetryMinMs !== undefined ? { retryMinMs: this.#o.trackerRetryMinMs } : {}),
      ...(this.#o.trackerStopTimeoutMs !== undefined ? { stopTimeoutMs: this.#o.trackerStopTimeoutMs } : {}),
    });
    logTrackerClient(this.log, client, infoHash.toString('hex'));
    return client;
  }

  #dhtLookup(slot: TorrentSlot): void {
    const dht = this.#dht;
    if (!dht) return;
    slot.lastDhtLookupMs = Date.now();
    const m = slot.torrent.metainfo;
    for (const { hash, v2 } of swarmNames(m)) {
      dht
        .lookup(hash)
        .then((peers) => slot.torrent.addPeers(peers, 'dht', { v2 }))
        .catch((err: unknown) =>
          this.log.debug('DHT lookup failed', { torrent: m.infoHashHex, error: errorText(err) }),
        );
    }
  }

  /**
   * Adds a magnet link: fetches the info dict from peers (x.pe, trackers, the DHT, LSD), then adds
   * the torrent. Resolves once the torrent is added (it may take long; abort with `signal`).
   */
  async addMagnet(
    magnet: Magnet,
    options: AddOptions & { signal?: AbortSignal; onFetcher?: (f: MetadataFetcher) => void },
  ): Promise<Torrent> {
    if (this.#stopped) throw new SessionError('session is stopped');
    const existing = this.#swarms.get(magnet.infoHashHex);
    if (existing) return existing.phase === 'running' ? existing.torrent : existing.done;
    return this.#fetchMagnet(magnet, options, (metainfo, known, handed, fetcher) =>
      this.add(metainfo, {
        ...options,
        // The user's peers (unless the fetcher banned them) stay theirs; those found while fetching
        // count as that source, which is bounded.
        peers: (options.peers ?? []).filter((p) => !fetcher.isBanned(p.host)),
        onTorrent: (t) => {
          t.addPeers(known, 'magnet');
          // The connections the metadata came over go on with the torrent: no second dial.
          for (const h of handed.splice(0)) t.adopt(h.conn, h.host, h.address, h.dialed);
          options.onTorrent?.(t);
        },
      }),
    );
  }

  /**
   * Fetches a magnet link's metadata and stops there (nothing is downloaded): the user chooses its
   * files first. Resolves with the metainfo (the link's web seeds added to its url-list) and the
   * peers found meanwhile (where the download will find its peers again).
   */
  async fetchMetadata(
    magnet: Magnet,
    options: Pick<AddOptions, 'peers'> & { signal?: AbortSignal },
  ): Promise<{ metainfo: Metainfo; peers: PeerAddress[] }> {
    if (this.#stopped) throw new SessionError('session is stopped');
    if (this.#swarms.has(magnet.infoHashHex))
      throw new SessionError(`torrent ${magnet.infoHashHex} is running or being fetched already`);
    return this.#fetchMagnet(magnet, { dir: '', ...options }, async (metainfo, known) => ({
      metainfo,
      peers: [...(options.peers ?? []), ...known],
    }));
  }

  /**
   * A magnet's metadata fetch (its own entry in the registry while it runs), then `use` with the
   * metainfo, the peers found and the connections it came over (those `use` does not take are closed).
   */
  async #fetchMagnet<T>(
    magnet: Magnet,
    options: AddOptions & { signal?: AbortSignal; onFetcher?: (f: MetadataFetcher) => void },
    use: (
      metainfo: Metainfo,
      known: PeerAddress[],
      handed: ReleasedConnection[],
      fetcher: MetadataFetcher,
    ) => Promise<T>,
  ): Promise<T> {
    const hex = magnet.infoHashHex;
    // The link's own trackers and peers, without local ones unless the user allowed them.
    const targets = await filterMagnetTargets(
      magnet.trackers,
      magnet.peers,
      this.#o.allowLocalPeers === true,
    );
    for (const why of targets.refused) this.emit('magnet:refused', hex, why);
    // Its web seeds (`ws=`, BEP 19) under the same rule: not on local addresses unless allowed.
    const webSeeds = await filterMagnetTargets(magnet.webSeeds, [], this.#o.allowLocalPeers === true);
    for (const why of webSeeds.refused)
      this.emit('magnet:refused', hex, why.replace(/^tracker /, 'web seed '));
    if (this.#stopped) throw new SessionError('session is stopped');
    const fetcher = new MetadataFetcher({
      infoHash: magnet.infoHash,
      peerId: this.peerId,
      port: this.#port,
      ...(this.#localAddress() ? { localAddress: this.#localAddress()! } : {}),
      trackers: targets.trackers,
      name: magnet.name,
      encryption: this.encryption,
      log: this.log,
      transport: this.#transport,
      ...(magnet.infoHashV2 ? { v2: true } : {}),
    });
    let settle!: { resolve: (t: T) => void; reject: (e: unknown) => void };
    const done = new Promise<T>((resolve, reject) => {
      settle = { resolve, reject };
    });
    // A second addMagnet of the link waits for this one's torrent (a metadata-only fetch has none).
    const entry: MetadataFetch = {
      phase: 'fetching',
      fetcher,
      done: done.then((r) =>
        r instanceof Torrent
          ? r
          : Promise.reject(new SessionError('the metadata was fetched without a download')),
      ),
    };
    // Only a second addMagnet of the same link listens to it.
    entry.done.catch(() => undefined);
    this.#swarms.set(hex, entry);
    options.onFetcher?.(fetcher);
    fetcher.addPeers(
      targets.peers.map((p) => parseAddress(p)).filter((a): a is PeerAddress => a !== undefined),
    );
    fetcher.addPeers(options.peers ?? [], { manual: true });
    let client: TrackerClient | undefined;
    if (this.#o.trackerClient !== false && targets.trackers.length > 0) {
      // Size unknown until the metadata is here: `left` 1 says "not a seed".
      client = this.#trackerClient(
        magnet.infoHash,
        targets.trackers.map((t) => [t]),
        () => ({ uploaded: 0, downloaded: 0, left: 1 }),
      );
      client.on('peers:found', (peers) => fetcher.addPeers(peers));
      client.start();
    }
    this.#lsd?.add(magnet.infoHash);
    // Look up again every 5 s while no peer is connected, every 30 s after that.
    let lastLookupMs = Date.now();
    const lookups = setInterval(() => {
      const now = Date.now();
      if (now - lastLookupMs < (fetcher.connectionCount === 0 ? 5_000 : 30_000)) return;
      lastLookupMs = now;
      this.#dht
        ?.lookup(magnet.infoHash)
        .then((peers) => fetcher.addPeers(peers))
        .catch((err: unknown) =>
          this.log.debug('DHT lookup failed', { torrent: hex, error: errorText(err) }),
        );
    }, 1000);
    this.#dht
      ?.lookup(magnet.infoHash)
      .then((peers) => fetcher.addPeers(peers))
      .catch((err: unknown) => this.log.debug('DHT lookup failed', { torrent: hex, error: errorText(err) }));
    const signal = AbortSignal.any([this.#ac.signal, ...(options.signal ? [options.signal] : [])]);
    let handed: ReleasedConnection[] = [];
    try {
      const metainfo = await fetcher.fetch(signal);
      for (const url of webSeeds.trackers) if (!metainfo.urlList.includes(url)) metainfo.urlList.push(url);
      const known = fetcher.knownPeers();
      handed = fetcher.release();
      if (this.#stopped) throw new SessionError('session is stopped');
      this.emit('metadata:fetched', hex);
      const result = await use(metainfo, known, handed, fetcher);
      settle.resolve(result);
      return result;
    } catch (err) {
      settle.reject(err);
      throw err;
    } finally {
      clearInterval(lookups);
      // The torrent took this entry's place, unless the fetch ended without one.
      if (this.#swarms.get(hex) === entry) this.#swarms.delete(hex);
      for (const h of handed) h.conn.close(DisconnectReason.shutdown);
      fetcher.stop();
      await client?.stop();
    }
  }

  async remove(infoHashHex: string): Promise<void> {
    const slot = this.#slot(infoHashHex);
    if (!slot) return;
    this.#swarms.delete(infoHashHex);
    await this.#stopSlot(slot);
    this.emit('torrent:removed', infoHashHex);
  }

  /** Why a torrent may stall: tracker status, refused peers, … (undefined when it is not running). */
  diagnosticsOf(infoHashHex: string): TorrentDiagnostics | undefined {
    return this.#slot(infoHashHex)?.diag;
  }

  /** Announces a running torrent to its trackers (and looks it up in the DHT) now. */
  reannounce(infoHashHex: string): boolean {
    const slot = this.#slot(infoHashHex);
    if (!slot) return false;
    void slot.client?.announceNow();
    void slot.clientV2?.announceNow();
    if (this.#dht && !slot.torrent.metainfo.private) this.#dhtLookup(slot);
    return true;
  }

  async #stopSlot(slot: TorrentSlot): Promise<void> {
    slot.glue.stop();
    slot.diag.stop();
    for (const { hash } of swarmNames(slot.torrent.metainfo)) {
      this.#lsd?.remove(hash);
      this.#dht?.unannounce(hash);
    }
    await Promise.all([slot.client?.stop(), slot.clientV2?.stop(), slot.torrent.stop()]);
  }

  /** Saves the DHT's routing table in the state directory (atomically), when there is one. */
  async #saveDht(): Promise<void> {
    const dht = this.#dht;
    if (!dht || !this.#o.stateDir || dht.nodeCount === 0) return;
    this.#lastDhtSaveMs = Date.now();
    await new StateStore(this.#o.stateDir)
      .writeAtomic(join(this.#o.stateDir, 'dht.json'), JSON.stringify(dht.exportState()))
      .catch((err: unknown) =>
        this.log.warn('DHT routing table not saved', { dir: this.#o.stateDir, error: errorText(err) }),
      );
  }

  /**
   * The DHT's first node: torrents added while the DHT was empty were announced to nobody, and
   * magnets looked up in vain. Run at once (not on the next tick), so that a seeder is findable as
   * soon as it has joined.
   */
  #onDhtJoined(dht: DhtNode): void {
    if (this.#dhtJoined || this.#stopped) return;
    const now = Date.now();
    this.#dhtJoined = true;
    for (const slot of this.#slots()) {
      const m = slot.torrent.metainfo;
      if (m.private) continue;
      for (const { hash } of swarmNames(m)) dht.announce(hash, this.#advertisedPort ?? this.#port);
      slot.lastDhtLookupMs = now;
    }
    for (const [hex, s] of this.#swarms) {
      if (s.phase !== 'fetching') continue;
      const f = s.fetcher;
      dht
        .lookup(Buffer.from(hex, 'hex'))
        .then((peers) => f.addPeers(peers))
        .catch((err: unknown) =>
          this.log.debug('DHT lookup failed', { torrent: hex, error: errorText(err) }),
        );
    }
  }

  #tick(): void {
    const now = Date.now();
    if (this.#dht && this.#o.stateDir && now - this.#lastDhtSaveMs > 5 * 60_000) void this.#saveDht();
    for (const [hex, slot] of this.#swarms) {
      if (slot.phase !== 'running') continue;
      slot.glue.tick();
      const t = slot.torrent;
      slot.diag.check(t, now);
      // Tell our tracker about the peers we are connected to: an announce then returns the whole swarm.
      // Behind a mapped router, this session itself is listed at its external address.
      const own = this.#portMapper?.mapping;
      if (this.tracker && own && !t.metainfo.private)
        this.tracker.addKnownPeer(hex, { host: own.externalIp, port: own.externalPort, seed: t.complete });
      if (this.tracker) {
        for (const p of t.peerList()) {
          if (p.listenPort)
            this.tracker.addKnownPeer(hex, { host: p.host, port: p.listenPort, seed: p.seed });
        }
      }
      if (this.#dht && !t.complete && !t.metainfo.private && now - slot.lastDhtLookupMs > 60_000)
        this.#dhtLookup(slot);
    }
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#ac.abort();
    for (const s of this.#swarms.values()) if (s.phase === 'fetching') s.fetcher.stop();
    // The router's mapping is removed (bounded) while the torrents stop.
    await Promise.all([...[...this.#slots()].map((s) => this.#stopSlot(s)), this.#portMapper?.stop()]);
    this.#swarms.clear();
    await this.#saveDht();
    this.#dht?.stop();
    await this.#lsd?.stop();
    this.tracker?.stop();
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
    this.#utp?.stop();
    const udp = this.#udp;
    if (udp) await new Promise<void>((resolve) => udp.close(() => resolve()));
    const server = this.#server;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    await this.hasher.stop();
  }
}

/** A socket's remote end as `host:port`, for the log. */
function remoteOf(socket: {
  readonly remoteAddress?: string | undefined;
  readonly remotePort?: number | undefined;
}): string {
  const host = socket.remoteAddress ?? '?';
  return `${host.includes(':') ? `[${host}]` : host}:${socket.remotePort ?? '?'}`;
}

function unmapV4(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

/** BEP 5's `v`: our client code (`BM`, as in the peer id) and two version bytes, major and minor. */
export function dhtVersion(version: string): Buffer {
  const [major = 0, minor = 0] = version.split('.').map((p) => Number.parseInt(p, 10) || 0);
  return Buffer.from([0x42, 0x4d, major & 0xff, minor & 0xff]);
}

/** 10/8, 172.16/12, 192.168/16 and the carriers' 100.64/10: addresses a NAT hands out. */
function isPrivateIpv4(ip: string): boolean {
  const [a = -1, b = -1] = ip.split('.').map(Number);
  return (
    a === 10 ||
    (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && b === 168) ||
    (a === 100 && b >= 64 && b <= 127)
  );
}

/** Whether `host` may be this very session (a loopback address, or the address we are bound to). */
function isOwnHost(host: string, bind: string | undefined): boolean {
  return host === bind || host === '::1' || host.startsWith('127.');
}
