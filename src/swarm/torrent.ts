// One torrent's swarm: composes the piece picker, the choker, storage and the peer connections,
// and changes role from leecher to seeder when every wanted piece is verified. The session hands it
// connections (incoming) and peer addresses (to dial). The jobs with state of their own are modules
// it wires together, none touching a socket or the time but through what it passes in:
//   peer-list.ts          every known peer by endpoint: sources, dial back-off, per-IP counts, bans
//   request-scheduler.ts  how many requests each peer gets, and when (pipelines, download limits)
//   piece-picker.ts       which blocks, of whom (rarest first, deadlines, endgame)
//   piece-assembler.ts    blocks into pieces, one hashing policy, the write of a verified piece
//   smart-ban.ts          who sent the bad block of a failed piece (the assembler's pass/fail hooks)
//   uploader.ts           requests served under the rate limits, paced by each socket's writability
//   choker.ts, super-seed.ts  who is unchoked; initial seeding
//
// Lifecycle: idle → checking → downloading ⇄ seeding; stopped is terminal; error is terminal.
// Every timer and listener hangs off one AbortController (#ac): stop() aborts it.

import { setMaxListeners } from 'node:events';
import { PeerConnection, type PeerConnectionOptions } from '../peer/connection.js';
import {
  connectOutgoing,
  dialsEncrypted,
  type EncryptionPolicy,
  type IncomingMse,
  mayNotSpeakMse,
} from '../peer/encryption.js';
import type { Transport, TransportSocket } from '../peer/transport.js';
import { formatAddress, type PeerAddress, parseAddress } from '../protocol/address.js';
import { allowedFastSet } from '../protocol/allowed-fast.js';
import { paddingBlocks } from '../protocol/geometry.js';
import { ipLiteralBytes } from '../protocol/ip.js';
import { hybridV2Hash, type Metainfo } from '../protocol/metainfo.js';
import type { DisconnectReason, Handshake, HashRequest } from '../protocol/peer-wire.js';
import { BLOCK_SIZE } from '../protocol/peer-wire.js';
import { checkExisting } from '../storage/check.js';
import { StorageError, StorageErrorCode } from '../storage/errors.js';
import type { HasherPool } from '../storage/hasher-pool.js';
import { ReadCache } from '../storage/read-cache.js';
import type { Storage } from '../storage/storage.js';
import { missingLayers, serveHashRequest, serveLeafHashes } from '../storage/verify-v2.js';
import { Bitfield } from '../util/bitfield.js';
import { type Clock, realClock } from '../util/clock.js';
import { errorText, type Logger, silentLogger } from '../util/logger.js';
import { RateMeter } from '../util/rate-meter.js';
import { TokenBucket } from '../util/token-bucket.js';
import { TypedEmitter } from '../util/typed-events.js';
import {
  type ChokerState,
  DEFAULT_UNCHOKE_SLOTS,
  decideUnchokes,
  isSnubbed,
  rateBasedSlots,
} from './choker.js';
import { MerkleBlame } from './merkle-blame.js';
import { type KnownPeer, PeerList, type PeerSource } from './peer-list.js';
import { PieceAssembler } from './piece-assembler.js';
import { type BlockRef, PiecePicker } from './piece-picker.js';
import { RequestScheduler } from './request-scheduler.js';
import { SmartBan } from './smart-ban.js';
import { SuperSeed } from './super-seed.js';
import { Uploader, type UploadPeer, type UploadSource } from './uploader.js';
import {
  type RangeSource,
  type WebSeedState,
  type WebSeedStatus,
  WebSeeds,
  type WebSeedTuning,
} from './web-seeds.js';

export const TorrentState = {
  idle: 'idle',
  checking: 'checking',
  downloading: 'downloading',
  seeding: 'seeding',
  stopped: 'stopped',
  error: 'error',
} as const;
export type TorrentState = (typeof TorrentState)[keyof typeof TorrentState];

export interface TorrentOptions {
  metainfo: Metainfo;
  storage: Storage;
  /** Where errors the torrent survives are told (default: nowhere). */
  logger?: Logger;
  hasher: HasherPool;
  peerId: Buffer;
  /** Our listening port, told to peers in the extension handshake. */
  port?: number;
  maxConnections?: number;
  /**
   * Most connections to one IP address, counting dials in progress (default 8): a few peers on one
   * machine are normal, a machine that takes every slot is not.
   */
  maxConnectionsPerIp?: number;
  /**
   * A peer that neither requested nor sent a block for this long (keep-alives do not count) is
   * closed when a new peer needs its slot: an incoming connection, or a dial. Default 30 s.
   */
  evictIdleAfterMs?: number;
  /** Regular upload slots, fixed. Default: sized to the uplink from the rates we reach (rateBasedSlots). */
  uploadSlots?: number;
  /**
   * Initial seeding (BEP 16, super-seed.ts) when the torrent starts complete: true always, 'auto'
   * while we are the swarm's only source — it ends when a seeder connects or a peer comes with
   * pieces we never offered, and a peer alone with us for a few seconds is served as by any seeder
   * (offers would only slow it). Default off. It ends if a piece is lost.
   */
  superSeed?: boolean | 'auto';
  sequential?: boolean;
  /** Bytes of received but not yet verified data held in memory before requests pause. */
  maxUnverifiedBytes?: number;
  /** Hash failures after which a peer's address is banned. */
  banStrikes?: number;
  /** Skip the check of existing data (fresh download into an empty folder). */
  skipCheck?: boolean;
  random?: () => number;
  connectionOptions?: Partial<PeerConnectionOptions>;
  localAddress?: string;
  /** BEP 10 extensions we offer (`m` of our extension handshake): name → local message id. */
  extensions?: Record<string, number>;
  /** Our DHT's UDP port, told to peers that support the DHT (BEP 5 PORT message). */
  dhtPort?: number;
  /** Rate limits on payload: this torrent's buckets come first, then shared (global) ones. */
  uploadBuckets?: readonly TokenBucket[];
  downloadBuckets?: readonly TokenBucket[];
  /** Pieces known verified from resume data: trusted, no check. */
  verified?: Bitfield;
  /** File priorities by file index (0 skip … 4 normal … 7 high). */
  filePriorities?: readonly number[];
  /** Connections shared with the other torrents of the session (the global limit). */
  connectionBudget?: { used: number; max: number };
  /** Protocol encryption of the connections we dial (encryption.ts). Default `off`; the session says `prefer`. */
  encryption?: EncryptionPolicy;
  /** Web seeds' backoff and request sizes (web-seeds.ts). */
  webSeedTuning?: WebSeedTuning;
  /** Time and timers, for this torrent and its connections. Default the real clock. */
  clock?: Clock;
  /** Where dialed connections come from. Default TCP. */
  transport?: Transport;
}

/** A connected peer as the session's discovery glue sees it (PEX, metadata exchange). */
export interface PeerInfo {
  key: string;
  address: string;
  host: string;
  /** The port the peer listens on: the one we dialed, or the `p` of its extension handshake. */
  listenPort: number | undefined;
  seed: boolean;
  /** We reached it by dialing, so others can too. */
  outgoing: boolean;
  /** What carries the connection (TCP or uTP). */
  transport: 'tcp' | 'utp';
  supports(extension: string): boolean;
}

export interface TorrentEvents extends Record<string, unknown[]> {
  'state:changed': [TorrentState];
  'check:progress': [checked: number, total: number];
  'piece:verified': [piece: number];
  /** `peers`: the endpoints (host:port) that sent its blocks. */
  'piece:failed': [piece: number, peers: string[]];
  /** A verified piece could not be read back (its file was truncated, removed or unreadable): needed again. */
  'piece:lost': [piece: number, reason: Error];
  'peer:connect': [address: string, encryption: 'rc4' | 'handshake' | 'none', transport: 'tcp' | 'utp'];
  /** `info` says whether the handshake was done and how many payload bytes the peer sent. */
  'peer:disconnect': [address: string, reason: string, key: string, info: PeerCloseInfo];
  /** A peer we dialed could not be reached (refused, timed out, unreachable). */
  'peer:dial-failed': [address: string, code: string, message: string];
  /**
   * A peer is banned: `address` is its endpoint (host:port) when only it is banned, or a host when
   * several endpoints of that host were and the whole address is banned. `reason`: it sent data
   * that failed the hash check (`bad-data`), or the user banned it (`user`, banPeer).
   */
  'peer:banned': [address: string, scope: 'peer' | 'host', reason: 'bad-data' | 'user'];
  /**
   * Every piece is verified and written to the OS (a page cache copy of the whole torrent): what
   * other clients call complete. `torrent:complete` follows once the data is flushed to disk.
   */
  'torrent:verified': [];
  'torrent:complete': [];
  'torrent:error': [Error];
  /** A BEP 10 extension handshake arrived on a connection. */
  'peer:extensions': [key: string];
  /** An extension message (other than the handshake) arrived. */
  'peer:extended': [key: string, name: string, payload: Uint8Array];
  /** A peer told us its DHT port (BEP 5). */
  'peer:dht-port': [host: string, port: number];
  /**
   * A peer closed the connection right after our plaintext handshake, before answering: it may
   * require encryption (under `prefer` it is dialled again, encrypted).
   */
  'peer:encryption-hint': [address: string];
  /** A web seed (BEP 19) became active, idle, backs off or is banned (with the reason). */
  'webseed:state': [url: string, state: WebSeedState, reason: string | null];
}

export interface PeerCloseInfo {
  handshaken: boolean;
  outgoing: boolean;
  payloadBytes: number;
  /** The socket error behind the close, when there was one. */
  error: string | undefined;
}

interface PeerEntry {
  key: string;
  address: string;
  host: string;
  conn: PeerConnection;
  dialedPort: number | undefined;
  lastBlockAtMs?: number;
  connectedAtMs: number;
  lastUnchokedAtMs?: number;
  /** It let an unchoke pass without a request: the choker passes it over until then. */
  passOverUntilMs?: number;
  isSeed: boolean;
  counted: 'none' | 'bits' | 'seed';
  /** Its side of the uploads (uploader.ts). */
  upload: UploadPeer;
  /** Its canonical allowed fast set (BEP 6), once it had fewer than ALLOWED_FAST_SET_SIZE pieces. */
  fastSet?: number[];
  /** It dialled us, and listens where a peer we know does (peer-list.ts joinedIncoming). */
  listedAs?: KnownPeer;
}

const TICK_MS = 1000;

/** A block of zeros for padding blocks (read only: the assembler copies what it is given). */
let PADDING_ZEROS: Buffer | undefined;
const CHOKE_INTERVAL_MS = 10_000;
/** The remembered peak upload rate (the uplink's capacity) halves in this long unless reached again. */
const UPLINK_PEAK_HALF_LIFE_MS = 60_000;
/**
 * The total upload rate that teaches the uplink's capacity is taken over this long. Short, because
 * until it is known every leecher has four slots and a peer that joined late gets only optimistic
 * turns (with 5 s, two of the 12 bench leechers got almost nothing from the others for 6 s); long
 * enough that the first bytes, which fill socket buffers faster than any uplink, do not make a
 * 12 kB/s uplink look worth more slots (2 s did).
 */
const UPLINK_WINDOW_MS = 3000;
/**
 * Initial seeding: offers outstanding over all peers, in bytes of pieces, shared out evenly (at least
 * SUPER_SEED_MIN_PENDING pieces each; at most 32, or an eighth of the torrent). A lone peer has the
 * uplink to itself and gets a deep pipeline; with many, each has a short one: once every piece is on
 * offer, what is left sits in the peers' pipelines, and a peer slow to ask holds its share back
 * while the uplink idles (1 MiB each made the last 5 s of the 12-leecher bench run at half the
 * uplink).
 */
const SUPER_SEED_PENDING_BYTES = 3 * 1024 * 1024;
const SUPER_SEED_MIN_PENDING = 4;
const SUPER_SEED_MAX_SLOTS = 16;
/**
 * BEP 6: a peer with fewer pieces than this may ask us for the pieces of its allowed fast set (this
 * many, chosen from its address) while we choke it, so a newcomer has something to trade before any
 * unchoke. Each piece of its set that we verify later is allowed at once.
 */
const ALLOWED_FAST_SET_SIZE = 10;
/** Initial seeding: a peer that got nothing from others for this long is offered anything it lacks. */
const SUPER_SEED_STARVE_MS = 5000;
/** Automatic initial seeding serves a peer alone with us this long as any seeder would. */
const SUPER_SEED_LONE_MS = 3000;

/** Verified bytes of each file of `m`: the file's share of the pieces set in `verified`. */
export function fileVerifiedBytes(m: Metainfo, verified: Bitfield): number[] {
  return m.files.map((f) => {
    if (f.length === 0) return 0;
    let done = 0;
    const first = Math.floor(f.offset / m.pieceLength);
    const last = Math.floor((f.offset + f.length - 1) / m.pieceLength);
    for (let p = first; p <= last; p++) {
      if (!verified.get(p)) continue;
      const start = Math.max(f.offset, p * m.pieceLength);
      const end = Math.min(f.offset + f.length, (p + 1) * m.pieceLength);
      done += end - start;
    }
    return done;
  });
}

const DEFAULT_MAX_CONNECTIONS = 50;
const DEFAULT_MAX_CONNECTIONS_PER_IP = 8;
const DEFAULT_EVICT_IDLE_AFTER_MS = 30_000;
/**
 * Share of the connection slots that incoming connections never take: however many peers dial us,
 * we can still dial the peers we were given or found (libtorrent keeps such a share too).
 */
const OUTGOING_SHARE = 0.2;
/**
 * An unchoked peer that has not requested a block this long after the unchoke wastes an upload
 * slot (an honest one asks within a round trip; 2 s is several, even over a satellite link): it is
 * choked and passed over for UNCHOKE_PASS_OVER_MS.
 */
const UNUSED_UNCHOKE_MS = 2_000;
const UNCHOKE_PASS_OVER_MS = 60_000;

/**
 * Spacing of the deadlines of the pieces a reader claims, per piece: the first is due now, the next
 * ones later, so only the pieces a reader is about to need get duplicate requests.
 */
const READER_DEADLINE_STEP_MS = 250;

/** A read of a piece that waits while the torrent stops or fails. */
export class TorrentStoppedError extends Error {
  override readonly name = 'TorrentStoppedError';
  readonly code = 'ERR_TORRENT_STOPPED';
}

export class Torrent extends TypedEmitter<TorrentEvents> {
  readonly metainfo: Metainfo;
  readonly infoHash: Buffer;
  /** A hybrid's truncated v2 info hash (BEP 52): its name in the v2 swarm; undefined otherwise. */
  readonly #v2Hash: Buffer | undefined;
  readonly bitfield: Bitfield;
  readonly downloadMeter = new RateMeter();
  readonly uploadMeter = new RateMeter();
  #state: TorrentState = TorrentState.idle;
  #ac = new AbortController();
  readonly #o: TorrentOptions;
  readonly #picker: PiecePicker;
  readonly #cache: ReadCache;
  readonly #peers = new Map<string, PeerEntry>();
  /** Every peer known by its endpoint: sources, failures, bans, connections per IP (peer-list.ts). */
  readonly #peerList: PeerList;
  /** Connections handed over (adopt) while the torrent checked its files. */
  readonly #adopting: { conn: PeerConnection; host: string; address: string; dialed?: PeerAddress }[] = [];
  /** Pieces being assembled, checked and written (piece-assembler.ts). */
  readonly #assembler: PieceAssembler;
  #verifiedBytes = 0;
  /** Who to blame for a failed piece (smart-ban.ts): its hooks run after each hash check. */
  readonly #smartBan = new SmartBan(BLOCK_SIZE);
  /** v2: the bad block of a failed piece named by its proven leaf hash (smart ban stays the fallback). */
  readonly #merkleBlame: MerkleBlame | undefined;
  /** Pieces we announced and then could not read back: requests for them are declined, not held against the peer. */
  readonly #lost = new Set<number>();
  #choker: ChokerState = { optimisticSinceMs: 0 };
  /** Regular upload slots as the last choke run sized them from our upload rates. */
  #rateSlots = DEFAULT_UNCHOKE_SLOTS;
  /** The highest total upload rate reached lately, and when it was last brought up to date. */
  #uplinkPeak = 0;
  #uplinkPeakAtMs = 0;
  /** Our total upload at each tick of the last UPLINK_WINDOW_MS. */
  readonly #uplinkSamples: { ms: number; bytes: number }[] = [];
  /** Initial seeding's state while it lasts (see #startSuperSeed). */
  #superSeed: SuperSeed | undefined;
  #lastChokeMs = 0;
  #nextKey = 1;
  /** Rate limits: this torrent's own bucket, then the shared ones. */
  readonly uploadLimit = new TokenBucket(0);
  readonly downloadLimit = new TokenBucket(0);
  /** Keeps the peers' request pipelines full (request-scheduler.ts). */
  readonly #scheduler: RequestScheduler;
  /** Request indices of the blocks of BEP 47 padding only: zeros, filled in, never requested. */
  readonly #padding: Set<number>;
  readonly #uploader: Uploader;
  readonly #clock: Clock;
  /** Readers' claims (see prioritize): owner → pieces in the order it needs them, and when set. */
  readonly #claims = new Map<object, { pieces: readonly number[]; atMs: number }>();
  /** Pieces of files that are not wanted, made wanted (priority low) because a reader claims them. */
  readonly #wantedForReaders = new Set<number>();
  /** Reads waiting for a piece to be verified. */
  readonly #waiters = new Map<number, Set<{ resolve: () => void; reject: (e: Error) => void }>>();
  readonly #webSeeds: WebSeeds;
  /** Payload bytes, for statistics (session totals, ratio). */
  downloadedBytes = 0;
  /** Payload bytes sent to peers. */
  get uploadedBytes(): number {
    return this.#uploader.uploadedBytes;
  }
  wastedBytes = 0;

  constructor(options: TorrentOptions) {
    super();
    // Every connection listens to this signal: more than 10 listeners is normal here, not a leak.
    setMaxListeners(0, this.#ac.signal);
    this.#o = options;
    this.#clock = options.clock ?? realClock;
    this.metainfo = options.metainfo;
    this.infoHash = options.metainfo.infoHash;
    this.#v2Hash = hybridV2Hash(options.metainfo);
    this.bitfield = new Bitfield(this.metainfo.pieceCount);
    this.#merkleBlame = this.metainfo.v2
      ? new MerkleBlame(this.metainfo.v2, this.metainfo.pieceLength)
      : undefined;
    this.#picker = new PiecePicker({
      pieceCount: this.metainfo.pieceCount,
      pieceLength: this.metainfo.pieceLength,
      totalLength: this.metainfo.totalLength,
      ...(options.random ? { random: options.random } : {}),
      ...(options.sequential ? { sequential: true } : {}),
      // The picker keeps the verified pieces, in our bitfield: the one record of them.
      verified: this.bitfield,
    });
    this.#cache = new ReadCache(options.storage, { geometry: this.metainfo });
    this.#padding = paddingBlocks(this.#picker.geometry, this.metainfo.files);
    this.#assembler = new PieceAssembler({
      metainfo: this.metainfo,
      geometry: this.#picker.geometry,
      storage: options.storage,
      hasher: options.hasher,
      signal: this.#ac.signal,
      released: () => this.#scheduler.released(),
    });
    this.#peerList = new PeerList({
      maxPerIp: options.maxConnectionsPerIp ?? DEFAULT_MAX_CONNECTIONS_PER_IP,
    });
    this.#uploader = new Uploader({
      source: this.#uploadSource(),
      buckets: [this.uploadLimit, ...(options.uploadBuckets ?? [])],
      clock: this.#clock,
      signal: this.#ac.signal,
      meter: this.uploadMeter,
      maxInvalidRequests: options.connectionOptions?.maxInvalidRequests ?? 10,
    });
    this.#scheduler = new RequestScheduler({
      picker: this.#picker,
      buckets: [this.downloadLimit, ...(options.downloadBuckets ?? [])],
      clock: this.#clock,
      ...(options.maxUnverifiedBytes !== undefined ? { maxUnverifiedBytes: options.maxUnverifiedBytes } : {}),
      view: {
        downloading: () => this.#state === TorrentState.downloading && !this.#ac.signal.aborted,
        peers: () => this.#peers.values(),
        unverifiedBytes: () => this.#assembler.unverifiedBytes,
        writingBytes: () => this.#assembler.writingBytes,
        avoid: (address) =>
          this.#smartBan.watching
            ? (p: number, offset: number) => this.#avoids(p, offset, address)
            : undefined,
        refilled: () => this.#webSeeds.pump(),
        isPadding: (b) =>
          this.#padding.size > 0 &&
          this.#padding.has(this.#picker.geometry.requestIndex(b.piece, b.offset / BLOCK_SIZE)),
        fillPadding: (peer, b) => this.#onPadding(peer as PeerEntry, b),
      },
    });
    this.#webSeeds = this.#makeWebSeeds(options.webSeedTuning);
  }

  // ---- web seeds (BEP 19): piece sources beside the peers, fed by the same picker ----

  /** Adds a web seed: its source fetches byte ranges (the session makes it); `refused`: listed, never asked. */
  addWebSeed(url: string, source: RangeSource | undefined, refused?: string): void {
    this.#webSeeds.add(url, source, refused);
    if (this.#state === TorrentState.downloading) this.#webSeeds.pump();
  }

  /** Each web seed's URL, state (with the reason of a backoff or ban) and bytes downloaded. */
  webSeeds(): WebSeedStatus[] {
    return this.#webSeeds.status();
  }

  #makeWebSeeds(tuning: WebSeedTuning | undefined): WebSeeds {
    const host = {
      picker: this.#picker,
      pieceLength: this.metainfo.pieceLength,
      mayStart: (nowMs: number): 'yes' | 'partial' | 'no' => {
        if (this.#state !== TorrentState.downloading || !this.#scheduler.allowed(nowMs)) return 'no';
        return this.#scheduler.overCap ? 'partial' : 'yes';
      },
      bytes: (key: string, from: string, piece: number, offset: number, data: Uint8Array) =>
        this.#webSeedBytes(key, from, piece, offset, data),
      take: (n: number, nowMs: number): number => this.#scheduler.take(n, nowMs),
      released: () => this.#scheduler.fillAll(),
      changed: (url: string, state: WebSeedState, reason: string | null) =>
        this.emit('webseed:state', url, state, reason),
    };
    return new WebSeeds(host, this.#ac.signal, tuning, this.#clock);
  }

  /**
   * Bytes of a web seed's run, a part of one block, in order: kept while the lane still has the block
   * outstanding (a peer's endgame copy may have come first, or a ban dropped the piece).
   */
  #webSeedBytes(key: string, from: string, piece: number, offset: number, data: Uint8Array): void {
    const blockStart = offset - (offset % BLOCK_SIZE);
    if (!this.#picker.isOutstanding(key, piece, blockStart)) {
      this.wastedBytes += data.length;
      return;
    }
    const whole = this.#assembler.gather(piece, offset, data);
    if (!whole) return;
    const blockLength = whole.bytes.length;
    const block = { piece, offset: blockStart, length: blockLength };
    if (!this.#blockIn(key, block, whole.bytes, from, { inOrder: true, placed: whole.placed })) return;
    this.downloadedBytes += blockLength;
    this.downloadMeter.add(blockLength, this.#clock.now());
  }

  /** Per-torrent rate limits in bytes per second (0: unlimited). */
  setRateLimits(limits: { uploadBytesPerSec?: number; downloadBytesPerSec?: number }): void {
    if (limits.uploadBytesPerSec !== undefined) this.uploadLimit.setRate(limits.uploadBytesPerSec);
    if (limits.downloadBytesPerSec !== undefined) this.downloadLimit.setRate(limits.downloadBytesPerSec);
    this.#uploader.pump();
  }

  /** Regular upload slots now (the optimistic one comes on top): fixed, or sized to the uplink. */
  get uploadSlots(): number {
    return this.#slots();
  }

  /** Connected peers that have this piece, as the picker counts them (a piece map's shading). */
  pieceAvailability(piece: number): number {
    return this.#picker.availability(piece);
  }

  /** Initial seeding (BEP 16) is on: peers hear of pieces one offer at a time. */
  get superSeeding(): boolean {
    return this.#superSeed !== undefined;
  }

  get state(): TorrentState {
    return this.#state;
  }

  get complete(): boolean {
    return this.#picker.complete;
  }

  /** Bytes of verified pieces; kept with the bitfield (#setVerified), read every second by displays. */
  get verifiedBytes(): number {
    return this.#verifiedBytes;
  }

  /** A piece is verified: the picker keeps it in the bitfield (once); the rest follows here. */
  #setVerified(piece: number): void {
    if (!this.#picker.pieceVerified(piece)) return;
    this.#o.storage.pieceVerified(piece); // a file whose pieces are all verified loses its `.part`
    this.#lost.delete(piece);
    this.#verifiedBytes += this.#picker.geometry.pieceSize(piece);
  }

  /**
   * A verified piece failed to read back while serving: the data on disk changed under us. The
   * piece leaves our bitfield (nothing wrong is ever sent), the others are served on, and the
   * torrent downloads it again from whoever has it.
   */
  #pieceLost(piece: number, reason: Error): void {
    if (!this.#picker.pieceLost(piece)) return;
    this.#lost.add(piece);
    this.#verifiedBytes -= this.#picker.geometry.pieceSize(piece);
    this.#cache.invalidate(piece);
    this.emit('piece:lost', piece, reason);
    this.#endSuperSeed();
    if (this.#state === TorrentState.seeding && !this.#picker.complete) {
      this.#setState(TorrentState.downloading);
      // Seeders we dropped while we were one can give it back.
      this.#peerList.retryAll();
      this.#fillConnections();
    }
    for (const p of this.#peers.values()) this.#updateInterest(p);
  }

  get peerCount(): number {
    return this.#peers.size;
  }

  peers(): {
    address: string;
    seed: boolean;
    downloadRate: number;
    uploadRate: number;
    client: string;
    encryption: 'rc4' | 'handshake' | 'none';
    transport: 'tcp' | 'utp';
  }[] {
    const now = this.#clock.now();
    return [...this.#peers.values()].map((p) => ({
      address: p.address,
      seed: p.isSeed,
      downloadRate: p.conn.downloadMeter.rate(now),
      uploadRate: p.conn.uploadMeter.rate(now),
      client: p.conn.remoteClient ?? '',
      encryption: p.conn.encryption,
      transport: p.conn.transport,
    }));
  }

  #setState(s: TorrentState): void {
    if (this.#state === s) return;
    this.#state = s;
    this.emit('state:changed', s);
  }

  /** Checks existing data, then starts connecting and trading. */
  async start(): Promise<void> {
    if (this.#state !== TorrentState.idle) return;
    const signal = this.#ac.signal;
    this.#setState(TorrentState.checking);
    const noLayers = missingLayers(this.metainfo);
    if (noLayers > 0) {
      // Fetching piece layers from peers (BEP 52 hash requests) for a v2-only magnet is not done yet.
      this.#fail(
        new Error(
          `v2-only torrent without the piece layers of ${noLayers} file(s): add it from its .torrent file`,
        ),
      );
      return;
    }
    await this.#o.storage.open();
    // Stopped while the files were opening: stop() closed what was not open yet.
    if (signal.aborted) {
      await this.#o.storage.close();
      return;
    }
    if (this.#o.filePriorities) this.#applyPriorities(this.#o.filePriorities);
    if (this.#o.verified) {
      for (const i of this.#o.verified.indices()) this.#markVerified(i);
    } else if (!this.#o.skipCheck) {
      const have = await checkExisting(this.metainfo, this.#o.storage, this.#o.hasher, {
        signal,
        onProgress: (done, total) => this.emit('check:progress', done, total),
      });
      if (signal.aborted) return;
      for (const i of have.indices()) this.#markVerified(i);
    }
    if (signal.aborted) return;
    this.#setState(this.#picker.complete ? TorrentState.seeding : TorrentState.downloading);
    if (this.#picker.complete && (this.#o.superSeed ?? false) !== false) this.#startSuperSeed();
    this.#adoptHeld();
    if (this.#picker.complete) {
      this.emit('torrent:verified');
      this.emit('torrent:complete');
    }
    const timer = this.#clock.setInterval(() => this.#tick(), TICK_MS);
    signal.addEventListener('abort', () => this.#clock.clearInterval(timer), { once: true });
    this.#tick();
  }

  /** Sets file priorities (0 skip … 4 normal … 7 high); a piece gets the highest of its files. */
  setFilePriorities(priorities: readonly number[]): void {
    this.#applyPriorities(priorities);
    this.#wantedChanged();
  }

  /** Follows a change of the wanted pieces: downloading again, or done. */
  #wantedChanged(): void {
    if (this.#state === TorrentState.seeding && !this.#picker.complete) {
      this.#setState(TorrentState.downloading);
      // Seeders we dropped while we were one are worth dialing again now.
      this.#peerList.retryAll();
      this.#fillConnections();
      for (const p of this.#peers.values()) this.#updateInterest(p);
    } else if (this.#state === TorrentState.downloading && this.#picker.complete) {
      void this.#becomeSeeder();
    }
  }

  #applyPriorities(priorities: readonly number[]): void {
    const m = this.metainfo;
    const piecePrio = new Int8Array(m.pieceCount).fill(-1);
    m.files.forEach((f, i) => {
      if (f.padding || f.length === 0) return;
      const prio = Math.max(0, Math.min(7, priorities[i] ?? 4));
      const first = Math.floor(f.offset / m.pieceLength);
      const last = Math.floor((f.offset + f.length - 1) / m.pieceLength);
      for (let p = first; p <= last; p++) if (prio > piecePrio[p]!) piecePrio[p] = prio;
    });
    for (let p = 0; p < m.pieceCount; p++) {
      // A piece of padding only (or of empty files) follows its neighbours: normal.
      this.#picker.setPriority(p, piecePrio[p]! < 0 ? 4 : piecePrio[p]!);
    }
    // What readers wait for stays wanted whatever the files' priorities say.
    this.#wantedForReaders.clear();
    this.#applyClaims();
  }

  // ---- readers: pieces they wait for come first ----

  /**
   * A reader (any object: its identity is the claim) needs `pieces`, in this order, the first one now.
   * Replaces the owner's earlier claim; an empty list drops it. Claimed pieces get deadlines in the
   * piece picker (the first due now, the next ones a little later), are asked of the fastest peers
   * first, with duplicate requests once due; a claimed piece of a file that is not wanted is
   * downloaded anyway, and is not wanted again once nobody claims it. Everything else still
   * downloads rarest first.
   */
  prioritize(owner: object, pieces: readonly number[]): void {
    const m = this.metainfo;
    for (const p of pieces) {
      if (!Number.isInteger(p) || p < 0 || p >= m.pieceCount)
        throw new RangeError(`piece ${p} out of range 0..${m.pieceCount - 1}`);
    }
    const unverified = pieces.filter((p) => !this.bitfield.get(p));
    const before = this.#claims.get(owner)?.pieces;
    // A claim that starts where the owner's last one did not (a new reader, a seek) reorders pipelines.
    const jumped = unverified.length > 0 && !before?.includes(unverified[0]!);
    if (unverified.length === 0) {
      if (!this.#claims.delete(owner)) return;
    } else this.#claims.set(owner, { pieces: unverified, atMs: this.#clock.now() });
    this.#applyClaims();
    this.#wantedChanged();
    if (this.#state !== TorrentState.downloading || this.#ac.signal.aborted) return;
    if (jumped) this.#scheduler.promote(unverified);
    for (const p of this.#peers.values()) {
      this.#updateInterest(p);
      this.#scheduler.fill(p);
    }
  }

  /** The pieces some reader claims (for tests and displays), earliest deadline first. */
  get claimedPieces(): readonly number[] {
    return this.#picker.urgentPieces;
  }

  /** The union of the claims as deadlines; unclaimed pieces made wanted for a reader are not any more. */
  #applyClaims(): void {
    const deadlines = new Map<number, number>();
    for (const { pieces, atMs } of this.#claims.values()) {
      pieces.forEach((p, i) => {
        if (this.bitfield.get(p)) return;
        const d = atMs + i * READER_DEADLINE_STEP_MS;
        if (d < (deadlines.get(p) ?? Number.POSITIVE_INFINITY)) deadlines.set(p, d);
      });
    }
    for (const p of this.#wantedForReaders) {
      if (deadlines.has(p)) continue;
      this.#wantedForReaders.delete(p);
      if (!this.bitfield.get(p)) this.#picker.setPriority(p, 0);
    }
    for (const p of deadlines.keys()) {
      if (this.#picker.isWanted(p)) continue;
      this.#picker.setPriority(p, 1);
      this.#wantedForReaders.add(p);
    }
    this.#picker.setDeadlines(deadlines);
  }

  /**
   * Resolves once `piece` is verified and written (at once if it is); rejects with
   * TorrentStoppedError when the torrent stops or fails first, or with the signal's reason.
   */
  waitForPiece(piece: number, signal?: AbortSignal): Promise<void> {
    if (this.bitfield.get(piece)) return Promise.resolve();
    if (this.#ac.signal.aborted) return Promise.reject(new TorrentStoppedError('the torrent is stopped'));
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<void>((resolve, reject) => {
      let set = this.#waiters.get(piece);
      if (!set) {
        set = new Set();
        this.#waiters.set(piece, set);
      }
      const onAbort = (): void => {
        set.delete(w);
        w.reject(signal?.reason as Error);
      };
      const w = {
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        reject: (e: Error) => {
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
      };
      set.add(w);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  #wakeWaiters(piece: number): void {
    const set = this.#waiters.get(piece);
    if (!set) return;
    this.#waiters.delete(piece);
    for (const w of set) w.resolve();
  }

  #rejectWaiters(): void {
    const err = new TorrentStoppedError('the torrent stopped');
    for (const set of this.#waiters.values()) for (const w of set) w.reject(err);
    this.#waiters.clear();
  }

  /**
   * Bytes of a verified piece, read from storage. Rejects (StorageError ERR_STORAGE_MISSING) for a
   * piece that is not verified: nothing unverified is ever returned.
   */
  readVerified(piece: number, offset: number, length: number): Promise<Buffer> {
    if (!this.bitfield.get(piece))
      return Promise.reject(
        new StorageError(StorageErrorCode.Missing, '', `piece ${piece} is not verified yet`),
      );
    return this.#o.storage.read(piece, offset, length);
  }

  /** Verified bytes of each file (a file's share of its verified pieces). */
  fileProgress(): number[] {
    return fileVerifiedBytes(this.metainfo, this.bitfield);
  }

  /** Bytes of wanted pieces not yet verified. */
  get leftBytes(): number {
    let n = 0;
    for (let p = 0; p < this.metainfo.pieceCount; p++) {
      if (!this.bitfield.get(p) && this.#picker.isWanted(p)) n += this.#picker.geometry.pieceSize(p);
    }
    return n;
  }

  #markVerified(piece: number): void {
    this.#setVerified(piece);
    this.#wakeWaiters(piece);
  }

  async stop(): Promise<void> {
    if (this.#state === TorrentState.stopped) return;
    this.#setState(TorrentState.stopped);
    this.#ac.abort();
    this.#rejectWaiters();
    this.#uploader.stop();
    this.#scheduler.stop();
    for (const p of [...this.#peers.values()]) p.conn.close('shutdown');
    // Whatever the close handlers have not removed yet leaves the shared budget here.
    if (this.#o.connectionBudget) this.#o.connectionBudget.used -= this.#peers.size;
    this.#peers.clear();
    this.#peerList.forgetConnections();
    this.#assembler.clear();
    // A failed flush loses no verified piece for good (a recheck finds what did not reach the disk),
    // but it is said: the resume data written next may count pieces the disk does not hold.
    // (Storage not open yet, stopped during start: nothing was written, nothing to flush.)
    await this.#o.storage.flush().catch((err: unknown) => {
      if (err instanceof StorageError && err.code === StorageErrorCode.Closed) return;
      (this.#o.logger ?? silentLogger).warn('flush at stop failed', { error: errorText(err) });
    });
    await this.#o.storage.close();
  }

  /** Makes every verified piece durable (fsync), e.g. before resume data is saved. */
  async flush(): Promise<void> {
    await this.#o.storage.flush();
  }

  /** Addresses of the peers we know (connected or not), for saving and for restarts. */
  knownAddresses(): string[] {
    return this.#peerList.knownAddresses();
  }

  /**
   * Adds addresses to dial. Those of a discovery source are bounded (MAX_CANDIDATES_PER_SOURCE,
   * MAX_CANDIDATES); manual ones (the user's, the default) are always kept.
   */
  addPeers(addrs: readonly PeerAddress[], source: PeerSource = 'manual', o: { v2?: boolean } = {}): void {
    // Only a hybrid has a v2 swarm beside its v1 one; a peer found in both is dialled as v1.
    this.#peerList.add(addrs, source, o.v2 === true && this.#v2Hash !== undefined);
    if (this.#state === TorrentState.downloading || this.#state === TorrentState.seeding)
      this.#fillConnections();
  }

  /** Candidates kept to dial, by source (manual included). */
  candidateCounts(): Record<PeerSource, number> {
    return this.#peerList.counts();
  }

  /** The connected peers whose handshakes are done. */
  peerList(): PeerInfo[] {
    const out: PeerInfo[] = [];
    for (const p of this.#peers.values()) {
      if (!p.conn.remotePeerId) continue;
      const conn = p.conn;
      out.push({
        key: p.key,
        address: p.address,
        host: p.host,
        listenPort: p.dialedPort ?? conn.remoteExtensions?.p,
        seed: p.isSeed,
        outgoing: p.dialedPort !== undefined,
        transport: conn.transport,
        supports: (name) => conn.remoteExtensions?.m.has(name) ?? false,
      });
    }
    return out;
  }

  /**
   * BEP 55: a relay says this peer dials us over uTP now — dial it over uTP at once too, so that
   * both NATs let the other's packets in. False when it is connected already or may not be dialled.
   */
  holepunch(addr: PeerAddress): boolean {
    if (this.#state !== TorrentState.downloading && this.#state !== TorrentState.seeding) return false;
    if (!this.#peerList.punch(addr, this.#clock.now())) return false;
    this.#fillConnections();
    return true;
  }

  /**
   * When a peer that dialled us listens at `c` (its BEP 10 `p`), `c` counts as connected through that
   * connection and is not dialled: true. Otherwise false.
   */
  #linkIncoming(c: KnownPeer): boolean {
    if (c.connected) return true;
    for (const p of this.#peers.values()) {
      if (p.dialedPort !== undefined || p.listedAs || p.conn.closed || p.host !== c.addr.host) continue;
      if (p.conn.remoteExtensions?.p !== c.addr.port) continue;
      this.#peerList.joinedIncoming(c);
      p.listedAs = c;
      return true;
    }
    return false;
  }

  /** Another connection to the peer of `entry` (by its peer id), if any. */
  #twinOf(entry: PeerEntry): PeerEntry | undefined {
    const id = entry.conn.remotePeerId;
    if (!id) return undefined;
    for (const p of this.#peers.values()) if (p !== entry && p.conn.remotePeerId?.equals(id)) return p;
    return undefined;
  }

  /**
   * Which of two connections to one peer stays. Both made from one side: the first. One each way
   * (both dialled at once, as a BEP 55 hole punch does): the one dialled by the lower peer id — both
   * ends decide alike, so that they do not each close a different one and keep none.
   */
  #keepOfTwins(newer: PeerEntry, older: PeerEntry): PeerEntry {
    const newerOurs = newer.dialedPort !== undefined;
    if (newerOurs === (older.dialedPort !== undefined)) return older;
    const weAreLower = Buffer.compare(this.#o.peerId, newer.conn.remotePeerId!) < 0;
    return newerOurs === weAreLower ? newer : older;
  }

  /** Sends a BEP 10 extension message by name; false when the peer does not support it. */
  sendExtended(key: string, name: string, payload: Uint8Array): boolean {
    return this.#peers.get(key)?.conn.sendExtended(name, payload) ?? false;
  }

  /**
   * The user bans a peer by its endpoint (`host:port`, `[v6]:port`): it is disconnected, never
   * dialled nor accepted again, and its blocks in unfinished pieces are dropped. False when the
   * address cannot be read.
   */
  banPeer(address: string): boolean {
    const a = parseAddress(address);
    if (!a) return false;
    this.#ban(formatAddress(a), 'user');
    return true;
  }

  /** The endpoints banned, by the user or for sending bad data. */
  get bannedPeers(): string[] {
    return this.#peerList.bannedEndpoints().filter((p) => !WebSeeds.isWebSeedHost(p));
  }

  closePeer(key: string, reason: DisconnectReason): void {
    this.#peers.get(key)?.conn.close(reason);
  }

  /** A connection's options; `v2Name`: under a hybrid's truncated v2 hash (its v2 swarm's name). */
  #connOptions(v2Name = false): PeerConnectionOptions {
    return {
      infoHash: (v2Name ? this.#v2Hash : undefined) ?? this.infoHash,
      peerId: this.#o.peerId,
      pieceCount: this.metainfo.pieceCount,
      extensions: {
        m: this.#o.extensions ?? {},
        ...(this.#o.port !== undefined ? { p: this.#o.port } : {}),
        metadataSize: this.metainfo.infoBytes.length,
      },
      signal: this.#ac.signal,
      ...(this.#o.clock ? { clock: this.#o.clock } : {}),
      ...(this.#o.dhtPort !== undefined ? { dht: true } : {}),
      ...(this.metainfo.v2 ? { v2: true } : {}),
      ...this.#o.connectionOptions,
    };
  }

  /** An incoming connection whose handshake the session's demux has read. */
  acceptIncoming(socket: TransportSocket, handshake: Handshake, rest: Buffer, mse?: IncomingMse): void {
    const host = socket.remoteAddress ?? '?';
    if (
      this.#ac.signal.aborted ||
      this.#peerList.isBannedHost(host) ||
      (this.#state !== TorrentState.downloading && this.#state !== TorrentState.seeding) ||
      this.#peerList.ipCount(host) >= this.#peerList.maxPerIp ||
      !this.#roomForIncoming()
    ) {
      socket.destroy();
      return;
    }
    // A hybrid's v2 peers know it by its truncated v2 hash (BEP 52): answered under that hash.
    const options = this.#connOptions(this.#v2Hash?.equals(handshake.infoHash) === true);
    const conn = PeerConnection.incoming(socket, handshake, rest, mse ? { ...options, ...mse } : options);
    this.#attach(conn, host, formatAddress({ host, port: socket.remotePort ?? 0 }));
  }

  /**
   * True when an incoming connection may have a slot: one is free outside the outgoing share, or a
   * peer idle for long enough was closed to make one.
   */
  #roomForIncoming(): boolean {
    const own = this.#o.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    let incoming = 0;
    for (const p of this.#peers.values()) if (p.dialedPort === undefined) incoming++;
    const incomingFull = incoming >= own - Math.floor(own * OUTGOING_SHARE);
    if (!incomingFull && this.#peers.size < this.#maxConnections()) return true;
    // An idle incoming peer makes room within the incoming share; any idle peer when all are full.
    return this.#evictIdle(incomingFull ? 'incoming' : 'any') && this.#peers.size < this.#maxConnections();
  }

  /**
   * Closes the peer that does least for us, among those that neither requested nor sent a block for
   * `evictIdleAfterMs` (keep-alives do not count): peers with interest on neither side first, then
   * the longest idle. False when no peer is idle that long.
   */
  #evictIdle(which: 'incoming' | 'any'): boolean {
    const now = this.#clock.now();
    const after = this.#o.evictIdleAfterMs ?? DEFAULT_EVICT_IDLE_AFTER_MS;
    let worst: PeerEntry | undefined;
    let worstScore = -1;
    for (const p of this.#peers.values()) {
      if (which === 'incoming' && p.dialedPort !== undefined) continue;
      const idleMs = now - Math.max(p.connectedAtMs, p.conn.lastActivityMs);
      if (idleMs < after) continue;
      const interest = p.conn.amInterested || p.conn.peerInterested;
      const score = idleMs + (interest ? 0 : 1e12);
      if (score > worstScore) {
        worst = p;
        worstScore = score;
      }
    }
    if (!worst) return false;
    worst.conn.close('connection-limit');
    return true;
  }

  /** Peers that closed right after our plaintext handshake (the latest 10): they may require encryption. */
  encryptionHints(): string[] {
    return this.#peerList.encryptionHints();
  }

  #maxConnections(): number {
    const own = this.#o.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    const b = this.#o.connectionBudget;
    return b ? Math.min(own, this.#peers.size + Math.max(0, b.max - b.used)) : own;
  }

  #fillConnections(): void {
    const signal = this.#ac.signal;
    if (signal.aborted) return;
    const now = this.#clock.now();
    const list = this.#peerList;
    let room = this.#maxConnections() - this.#peers.size - list.dialing;
    if (room <= 0) {
      // Every slot is taken: a peer that only keeps its slot warm gives it up to one we can dial.
      if (list.dialing > 0 || !list.hasDialCandidate(now) || !this.#evictIdle('any')) return;
      room = this.#maxConnections() - this.#peers.size - list.dialing;
      if (room <= 0) return;
    }
    let started = 0;
    for (const c of list.dialCandidates(now)) {
      if (started >= room || list.dialing >= 10) break;
      if (this.#linkIncoming(c)) continue;
      const via = c.via;
      list.dialStarted(c);
      started++;
      const address = c.key;
      const policy = this.#o.encryption ?? 'off';
      const encrypted = dialsEncrypted(policy, c.wire);
      connectOutgoing(c.addr, {
        encrypted,
        policy,
        connection: this.#connOptions(c.v2 === true),
        dial: {
          timeoutMs: 10_000,
          signal,
          // #onBlock copies each block into its piece buffer before it returns
          sharedReads: true,
          ...(via ? { via } : {}),
          ...(this.#o.localAddress ? { localAddress: this.#o.localAddress } : {}),
        },
        ...(this.#o.connectionOptions?.handshakeTimeoutMs !== undefined
          ? { handshakeTimeoutMs: this.#o.connectionOptions.handshakeTimeoutMs }
          : {}),
        ...(this.#o.transport ? { transport: this.#o.transport } : {}),
        ...(this.#o.clock ? { clock: this.#o.clock } : {}),
      })
        .then((conn) => {
          if (signal.aborted) {
            list.dialFailed(c, this.#clock.now(), { aborted: true });
            conn.close('aborted');
            return;
          }
          list.dialSucceeded();
          this.#attach(conn, c.addr.host, address, c, encrypted ? 'encrypted' : 'plaintext');
        })
        .catch((err: unknown) => {
          if (signal.aborted) {
            list.dialFailed(c, this.#clock.now(), { aborted: true });
            return;
          }
          // The socket's errno (ECONNREFUSED, EHOSTUNREACH…) is the DialError's cause.
          const e = err as { cause?: { code?: unknown }; message?: unknown };
          const code = typeof e.cause?.code === 'string' ? e.cause.code : 'ERR_DIAL';
          this.emit('peer:dial-failed', address, code, String(e.message ?? err));
          // A peer without MSE closes on our key: try it in plaintext now, and remember that.
          const plaintextNow = encrypted && policy === 'prefer' && mayNotSpeakMse(err);
          list.dialFailed(c, this.#clock.now(), { plaintextNow });
          if (plaintextNow) setImmediate(() => this.#fillConnections());
        });
    }
  }

  /**
   * A live connection made for the metadata of a magnet goes on as one of this torrent's peers, so
   * the peer that gave the metadata is not dialled again (BEP 9 leaves that open; a re-dial costs a
   * client's back-off). Held while the torrent checks its files; closed if it has no room for it.
   */
  adopt(conn: PeerConnection, host: string, address: string, dialed?: PeerAddress): void {
    conn.handOver({ signal: this.#ac.signal, extensions: this.#connOptions().extensions ?? {} });
    if (conn.closed) return;
    if (this.#state !== TorrentState.downloading && this.#state !== TorrentState.seeding) {
      this.#adopting.push({ conn, host, address, ...(dialed ? { dialed } : {}) });
      return;
    }
    this.#join(conn, host, address, dialed);
  }

  /** An adopted connection, handed over already, joins the trading torrent if there is room. */
  #join(conn: PeerConnection, host: string, address: string, dialed: PeerAddress | undefined): void {
    const list = this.#peerList;
    const key = dialed ? formatAddress(dialed) : undefined;
    const candidate = key !== undefined ? list.get(key) : undefined;
    if (
      list.isBannedHost(host) ||
      (key !== undefined && list.isBannedEndpoint(key)) ||
      list.ipCount(host) >= list.maxPerIp ||
      this.#peers.size >= this.#maxConnections() ||
      candidate?.connected
    ) {
      conn.close('connection-limit');
      return;
    }
    if (candidate) list.joinedListed(candidate);
    const wire = conn.encryption === 'none' ? 'plaintext' : 'encrypted';
    const peerKey = this.#attach(conn, host, address, candidate, wire, true);
    conn.setPieceCount(this.metainfo.pieceCount);
    if (conn.remoteExtensions && !conn.closed) this.emit('peer:extensions', peerKey);
  }

  /** Connections adopt() held while the torrent checked its files: they join it now. */
  #adoptHeld(): void {
    for (const h of this.#adopting.splice(0)) {
      if (!h.conn.closed) this.#join(h.conn, h.host, h.address, h.dialed);
    }
  }

  /** A connection joins the torrent (its key is returned); a dialed one was counted against its IP when the dial began. */
  #attach(
    conn: PeerConnection,
    host: string,
    address: string,
    candidate?: KnownPeer,
    wire?: 'encrypted' | 'plaintext',
    adopted = false,
  ): string {
    const key = `c${this.#nextKey++}`;
    const list = this.#peerList;
    if (!candidate) list.joinedUnlisted(host);
    const entry: PeerEntry = {
      key,
      address,
      host,
      conn,
      dialedPort: candidate?.addr.port,
      connectedAtMs: this.#clock.now(),
      isSeed: false,
      counted: 'none',
      upload: this.#uploader.peer(conn),
    };
    this.#peers.set(key, entry);
    if (this.#o.connectionBudget) this.#o.connectionBudget.used++;

    const onHandshake = (): void => {
      // We may have connected to ourselves (our own address came back from a tracker).
      if (conn.remotePeerId?.equals(this.#o.peerId)) {
        conn.close('self-connection');
        return;
      }
      const twin = this.#twinOf(entry);
      if (twin) {
        const closing = this.#keepOfTwins(entry, twin) === entry ? twin : entry;
        closing.conn.close('duplicate-connection');
        if (closing === entry) return;
      }
      // A banned peer coming back from another port, under the same peer id.
      if (conn.remotePeerId && list.isBannedId(conn.remotePeerId.toString('hex'))) {
        conn.close('banned');
        return;
      }
      if (candidate) list.handshaken(candidate, wire);
      if (this.#superSeed) {
        // Initial seeding: nothing announced up front, each piece offered by a `have` (BEP 16).
        if (!adopted) conn.sendBitfield(new Bitfield(this.metainfo.pieceCount));
        this.#superSeed.addPeer(key, this.#clock.now());
        // Its first offers now: a peer with nothing may send no bitfield, and would wait for the tick.
        this.#offerPieces();
      } else if (!adopted) conn.sendBitfield(this.bitfield);
      else {
        // Other messages went first (BEP 3 wants a bitfield first): what we have goes as haves.
        for (const i of this.bitfield.indices()) conn.have(i);
      }
      if (this.#o.dhtPort !== undefined && conn.remoteSupportsDht) conn.sendPort(this.#o.dhtPort);
      this.emit('peer:connect', address, conn.encryption, conn.transport);
    };
    if (!adopted) conn.on('handshake:done', onHandshake);
    conn.on('bitfield:received', () => this.#onPeerBitfield(entry));
    conn.on('have:received', (piece: number) => {
      if (entry.counted === 'bits') this.#picker.peerHave(piece);
      if (this.#superSeed) {
        this.#superSeed.peerHas(key, piece, this.#clock.now());
        this.#offerPieces();
      }
      // (A leecher that completes here is no other source: what it has came through this swarm.)
      if (conn.peerBitfield?.complete) {
        entry.isSeed = true;
        // Counted as a seeder from now on (the picker's cheaper path for peers that have everything).
        if (entry.counted === 'bits') {
          this.#picker.peerRemoved(conn.peerBitfield);
          this.#countAsSeed(entry);
        }
      }
      if (!conn.amInterested && this.#wants(piece)) conn.interested();
      if (entry.isSeed && this.#state === TorrentState.seeding) conn.close('both-seeders');
      else this.#scheduler.fill(entry);
    });
    conn.on('choke:changed', () => this.#scheduler.fill(entry));
    conn.on('interest:changed', () => {
      if (!conn.peerInterested) return;
      // A free slot goes to it now; else a slot held by a peer that never used it is freed now.
      if (this.#unchokedCount() < this.#slots()) this.#runChoker(true);
      else this.#chokeUnusedUnchokes();
    });
    conn.on('block:received', (piece: number, offset: number, data: Uint8Array) =>
      this.#onBlock(entry, piece, offset, data),
    );
    conn.on('request:timeout', (block: BlockRef) => {
      this.#picker.release(key, block);
      this.#gaveUp(entry, block);
      this.#scheduler.fill(entry);
    });
    conn.on('request:dropped', (block: BlockRef) => {
      this.#picker.release(key, block);
      this.#gaveUp(entry, block);
    });
    conn.on('request:received', (block: BlockRef) => {
      this.#superSeed?.peerRequested(key, this.#clock.now());
      this.#uploader.request(entry.upload, block);
    });
    conn.on('cancel:received', (block: BlockRef) => this.#uploader.cancel(entry.upload, block));
    conn.on('allowed-fast:received', () => this.#scheduler.fill(entry));
    conn.on('suggest:received', () => this.#scheduler.fill(entry));
    conn.on('extended:handshake', () => {
      // An incoming peer whose listen port (BEP 10 `p`) names a banned endpoint.
      const p = conn.remoteExtensions?.p;
      if (p !== undefined && p > 0 && list.isBannedEndpoint(formatAddress({ host, port: p }))) {
        conn.close('banned');
        return;
      }
      // One we know already by that address: not dialled while this connection lasts.
      const known =
        !candidate && p !== undefined && p > 0 ? list.get(formatAddress({ host, port: p })) : undefined;
      if (known) this.#linkIncoming(known);
      this.emit('peer:extensions', key);
    });
    conn.on('port:received', (port: number) => this.emit('peer:dht-port', host, port));
    let servingLeaves = false;
    conn.on('hash-request:received', (r: HashRequest) => {
      const v2 = this.metainfo.v2;
      // BEP 52: leaf hashes of a piece we have, hashed from its data (one such request at a time per
      // peer: each costs a read and a hash of the piece); the rest from the piece layers.
      if (v2 && r.baseLayer === 0 && !servingLeaves) {
        servingLeaves = true;
        const read = (piece: number): Promise<Uint8Array | undefined> =>
          this.bitfield.get(piece)
            ? this.#o.storage.read(piece, 0, this.#picker.geometry.pieceSize(piece)).catch(() => undefined)
            : Promise.resolve(undefined);
        void serveLeafHashes(v2, this.metainfo.pieceLength, r, read).then((hashes) => {
          servingLeaves = false;
          if (conn.closed) return;
          if (hashes) conn.sendHashes(r, hashes);
          else conn.sendHashReject(r);
        });
        return;
      }
      const hashes = v2 ? serveHashRequest(v2, this.metainfo.pieceLength, r) : undefined;
      if (hashes) conn.sendHashes(r, hashes);
      else conn.sendHashReject(r);
    });
    conn.on('hashes:received', (r: HashRequest, hashes: Uint8Array) => {
      for (const liar of this.#merkleBlame?.answered(address, r, hashes) ?? []) {
        this.#o.logger?.info('a block failed its proven leaf hash', { peer: liar });
        this.#ban(liar);
      }
    });
    conn.on('hash-reject:received', (r: HashRequest) => this.#merkleBlame?.refused(address, r));
    conn.on('extended:message', (name, _id, payload) => {
      if (name !== undefined) this.emit('peer:extended', key, name, payload);
    });
    conn.on('connection:close', (reason: string, error?: Error) => {
      this.#merkleBlame?.refused(address);
      if (this.#peers.delete(key)) {
        list.countIp(host, -1);
        if (this.#o.connectionBudget) this.#o.connectionBudget.used--;
      }
      for (const b of this.#picker.releaseAll(key)) void b;
      if (this.#superSeed) {
        this.#superSeed.removePeer(key, this.#clock.now());
        this.#offerPieces();
      }
      if (entry.listedAs) list.leftIncoming(entry.listedAs);
      if (entry.counted === 'seed') this.#picker.seedRemoved();
      else if (entry.counted === 'bits' && conn.peerBitfield) this.#picker.peerRemoved(conn.peerBitfield);
      entry.counted = 'none';
      if (candidate) {
        const hungUpOnPlaintext =
          wire === 'plaintext' &&
          !conn.handshakeDone &&
          (reason === 'remote-closed' || reason === 'socket-error');
        const dialNow = list.closed(candidate, this.#clock.now(), {
          handshaken: conn.remotePeerId !== undefined,
          bothSeeders: reason === 'both-seeders',
          hungUpOnPlaintext,
          retryEncrypted: (this.#o.encryption ?? 'off') === 'prefer',
        });
        if (hungUpOnPlaintext) this.emit('peer:encryption-hint', address);
        if (dialNow) setImmediate(() => this.#fillConnections());
      }
      this.emit('peer:disconnect', address, reason, key, {
        handshaken: conn.remotePeerId !== undefined,
        outgoing: candidate !== undefined,
        payloadBytes: conn.downloadMeter.total,
        error: error?.message,
      });
      // Others may pick up what this one had outstanding.
      this.#scheduler.fillAll();
    });
    if (adopted) onHandshake();
    return key;
  }

  #onPeerBitfield(entry: PeerEntry): void {
    const bf = entry.conn.peerBitfield;
    if (!bf) return;
    if (this.#superSeed) {
      this.#superSeed.peerBitfield(entry.key, (i) => bf.get(i), this.#clock.now());
      if (this.#superSeed.foreignSource) this.#otherSource(entry);
      else this.#offerPieces();
    }
    if (bf.complete) this.#countAsSeed(entry);
    else {
      this.#picker.peerAdded(bf);
      entry.counted = 'bits';
    }
    if (entry.isSeed && this.#state === TorrentState.seeding) {
      entry.conn.close('both-seeders');
      return;
    }
    this.#allowFast(entry);
    this.#updateInterest(entry);
    this.#scheduler.fill(entry);
  }

  /**
   * BEP 6 allowed fast: a peer with few pieces may ask for the pieces of its canonical set that we
   * have, while we choke it (`piece`: only that one, just verified). Not in initial seeding, where
   * what a peer hears of is the seeder's offers alone.
   */
  #allowFast(entry: PeerEntry, piece?: number): void {
    const conn = entry.conn;
    const bf = conn.peerBitfield;
    if (this.#superSeed || !conn.supportsFast || !bf) return;
    if (entry.fastSet === undefined) {
      if (bf.count >= ALLOWED_FAST_SET_SIZE) return;
      entry.fastSet = allowedFastSet(
        this.infoHash,
        ipLiteralBytes(entry.host),
        this.metainfo.pieceCount,
        ALLOWED_FAST_SET_SIZE,
      );
    }
    for (const p of entry.fastSet)
      if ((piece === undefined || p === piece) && this.bitfield.get(p) && !bf.get(p)) conn.allowedFast(p);
  }

  /**
   * A piece we just verified that at most one connected peer has (the seeder we had it from, say):
   * suggested (BEP 6) to the peers we upload to that want it, so it spreads from us at once.
   */
  #suggestFresh(piece: number): void {
    if (this.#superSeed || this.#picker.availability(piece) > 1) return;
    for (const p of this.#peers.values()) {
      const c = p.conn;
      if (c.amChoking || !c.peerInterested || !c.supportsFast || c.peerBitfield?.get(piece)) continue;
      c.suggest(piece);
    }
  }

  /** The peer has every piece: the picker counts it as a seeder (not by its bitfield). */
  #countAsSeed(entry: PeerEntry): void {
    entry.isSeed = true;
    this.#picker.seedAdded();
    entry.counted = 'seed';
  }

  #wants(piece: number): boolean {
    return (
      !this.bitfield.get(piece) && this.#state === TorrentState.downloading && this.#picker.isWanted(piece)
    );
  }

  #updateInterest(entry: PeerEntry): void {
    const bf = entry.conn.peerBitfield;
    let want = false;
    if (bf && this.#state === TorrentState.downloading) {
      for (let i = 0; i < bf.length && !want; i++) if (bf.get(i) && this.#wants(i)) want = true;
    }
    if (want && !entry.conn.amInterested) entry.conn.interested();
    else if (!want && entry.conn.amInterested) entry.conn.notInterested();
  }

  /**
   * A block of padding the picker gave a peer: its zeros go in as if that peer had sent them (they
   * cannot be wrong), with no request and no bytes counted as downloaded.
   */
  #onPadding(entry: PeerEntry, block: BlockRef): void {
    PADDING_ZEROS ??= Buffer.alloc(BLOCK_SIZE);
    this.#blockIn(entry.key, block, PADDING_ZEROS.subarray(0, block.length), entry.address);
  }

  #onBlock(entry: PeerEntry, piece: number, offset: number, data: Uint8Array): void {
    const nowMs = this.#clock.now();
    entry.lastBlockAtMs = nowMs;
    if (this.#blockIn(entry.key, { piece, offset, length: data.length }, data, entry.address)) {
      this.downloadedBytes += data.length;
      this.downloadMeter.add(data.length, nowMs);
      this.#scheduler.take(data.length, nowMs);
    } else this.wastedBytes += data.length;
    this.#scheduler.queueFill(entry);
  }

  /**
   * A block from `key` (a peer, a web seed, or padding given to a peer) goes in unless the picker
   * has it already: other requesters are told to cancel, the assembler takes its bytes, a piece
   * whose last block this was is checked. False when the picker refused it (the caller counts it).
   */
  #blockIn(
    key: string,
    block: BlockRef,
    bytes: Uint8Array,
    from: string,
    o?: { inOrder?: boolean; placed?: boolean },
  ): boolean {
    const r = this.#picker.received(key, block);
    if (!r.accepted) return false;
    for (const other of r.cancel) this.#peers.get(other)?.conn.cancel(block);
    this.#assembler.add(block.piece, block.offset, bytes, from, o);
    if (r.pieceDone !== undefined) void this.#verify(r.pieceDone);
    return true;
  }

  /** Checks a piece whose last block is in (the assembler's one hashing policy), then follows the verdict. */
  async #verify(piece: number): Promise<void> {
    const signal = this.#ac.signal;
    let verdict: 'passed' | 'failed' | undefined;
    try {
      verdict = await this.#assembler.verify(piece, {
        // Smart ban judges the senders: a lone sender of a bad piece at once, a liar among several later.
        failed: (f) => {
          this.#picker.pieceFailed(piece);
          this.wastedBytes += f.length;
          this.emit('piece:failed', piece, [...f.senders]);
          const liar = this.#smartBan.failed(f, this.#clock.now());
          if (liar !== undefined) this.#ban(liar);
          else if (f.bytes) this.#askLeafHashes(f.piece, f.bytes, f.blocks, f.senders);
          // Asked again at once, in this same task: with the refill a microtask later (after the
          // assembler's promise), the liar of hostile-data's "one bad block per piece" test got its
          // block into every retry and was never found out.
          this.#scheduler.fillAll();
          this.#webSeeds.pump();
        },
        passed: (_piece, good) => {
          for (const liar of this.#smartBan.passed(piece, good)) this.#strike(liar, this.#o.banStrikes ?? 3);
        },
      });
    } catch (err) {
      if (!signal.aborted) this.#fail(err as Error);
      return;
    }
    if (verdict !== 'passed') return;
    this.#setVerified(piece);
    this.#cache.invalidate(piece);
    for (const p of this.#peers.values()) {
      p.conn.have(piece);
      this.#allowFast(p, piece);
    }
    this.#suggestFresh(piece);
    this.#wakeWaiters(piece);
    this.emit('piece:verified', piece);
    if (this.#picker.complete) await this.#becomeSeeder();
  }

  /**
   * A v2 piece failed with blocks from several senders: ask a peer that has it (another than its
   * senders when one can) for its leaf hashes, to name the sender of the bad block at once.
   */
  #askLeafHashes(
    piece: number,
    bytes: Uint8Array,
    blocks: ReadonlyMap<number, string>,
    senders: ReadonlySet<string>,
  ): void {
    const blame = this.#merkleBlame;
    if (!blame) return;
    // Up to three peers, those that sent none of the piece first: the first proven answer decides.
    const ask = [...this.#peers.values()]
      .filter((p) => p.conn.remoteSupportsV2 && (p.isSeed || p.conn.peerBitfield?.get(piece)))
      .sort((a, b) => Number(senders.has(a.address)) - Number(senders.has(b.address)))
      .slice(0, 3);
    if (ask.length === 0) return;
    const request = blame.failed(
      piece,
      bytes,
      blocks,
      ask.map((p) => p.address),
      this.#clock.now(),
    );
    if (request) for (const p of ask) p.conn.sendHashRequest(request);
  }

  /**
   * `entry` did not send `block` (it timed out, or was refused). A block that smart ban kept from its
   * first sender may go to anyone now (SmartBan.lift): the other peers are asked at once.
   */
  #gaveUp(entry: PeerEntry, block: BlockRef): void {
    if (!this.#smartBan.lift(block.piece, block.offset)) return;
    for (const p of this.#peers.values()) if (p !== entry) this.#scheduler.fill(p);
  }

  /** Smart ban's filter: a block of a failed piece is asked of another peer than the one that sent it. */
  #avoids(piece: number, offset: number, peer: string): boolean {
    return this.#smartBan.avoids(piece, offset, peer, this.#clock.now(), () => {
      // Only while someone else can send it; a lone source is asked again.
      for (const p of this.#peers.values()) {
        if (p.address !== peer && (p.isSeed || p.conn.peerBitfield?.get(piece))) return true;
      }
      return false;
    });
  }

  #strike(peer: string, n: number): void {
    if (this.#peerList.strike(peer, n, this.#o.banStrikes ?? 3)) this.#ban(peer);
  }

  /**
   * Bans the endpoint `peer` (host:port) and the peer ids seen on it; the whole host once
   * HOST_BAN_ENDPOINTS (peer-list.ts) of its endpoints are banned; or a web seed (by its id). Its blocks in pieces
   * being assembled go too.
   */
  #ban(peer: string, reason: 'bad-data' | 'user' = 'bad-data'): void {
    if (WebSeeds.isWebSeedHost(peer)) {
      if (!this.#peerList.ban(peer, [], false).added) return;
      this.#webSeeds.ban(peer, 'sent data that failed the hash check');
      this.#dropPiecesFrom(new Set([peer]));
      return;
    }
    const ids: string[] = [];
    for (const p of this.#peers.values())
      if (p.address === peer && p.conn.remotePeerId) ids.push(p.conn.remotePeerId.toString('hex'));
    const { added, host } = this.#peerList.ban(peer, ids);
    if (!added) return;
    this.emit('peer:banned', peer, 'peer', reason);
    if (host !== undefined) this.emit('peer:banned', host, 'host', reason);
    const untrusted = new Set<string>([peer]);
    for (const p of this.#peers.values()) {
      if (p.address === peer || (host !== undefined && p.host === host)) {
        untrusted.add(p.address);
        p.conn.close('banned');
      }
    }
    this.#dropPiecesFrom(untrusted);
  }

  /** Pieces being assembled with blocks from `untrusted` start over (a piece whose every block is in
   * is being verified: its hash will judge it). */
  #dropPiecesFrom(untrusted: ReadonlySet<string>): void {
    for (const piece of this.#assembler.dropFrom(untrusted)) this.#picker.pieceFailed(piece);
    this.#scheduler.fillAll();
    this.#webSeeds.pump();
  }

  #fail(err: Error): void {
    this.#setState(TorrentState.error);
    this.emit('torrent:error', err);
    this.#ac.abort();
    this.#rejectWaiters();
    this.#uploader.stop();
    this.#scheduler.stop();
    for (const p of this.#peers.values()) p.conn.close('shutdown');
  }

  async #becomeSeeder(): Promise<void> {
    if (this.#state !== TorrentState.downloading) return;
    this.emit('torrent:verified');
    await this.#o.storage.flush();
    if (this.#ac.signal.aborted) return;
    this.#setState(TorrentState.seeding);
    for (const p of [...this.#peers.values()]) {
      if (p.isSeed) p.conn.close('both-seeders');
      else if (p.conn.amInterested) p.conn.notInterested();
    }
    this.#runChoker(true);
    this.emit('torrent:complete');
  }

  /** The uploader's view of this torrent: what it has, its read cache, and what a failed read means. */
  #uploadSource(): UploadSource {
    const m = this.metainfo;
    return {
      pieceCount: m.pieceCount,
      pieceLength: (piece) => this.#picker.geometry.pieceSize(piece),
      has: (piece) => this.bitfield.get(piece),
      lost: (piece) => this.#lost.has(piece),
      readCached: (piece, offset, length) => this.#cache.readCached(piece, offset, length),
      read: (piece, offset, length) => this.#cache.read(piece, offset, length),
      giveBack: (data) => this.#cache.giveBack(data),
      readFailed: (piece, err) => {
        // Missing, unreadable or no longer ours: that piece only. Anything else stops the torrent.
        if (!(err instanceof StorageError) || err.code === StorageErrorCode.Closed) this.#fail(err);
        else this.#pieceLost(piece, err);
      },
    };
  }

  #slots(): number {
    const slots = this.#o.uploadSlots ?? this.#rateSlots;
    // Initial seeding: every leecher gets a slot (each asks only for what it was offered), up to 16.
    return this.#superSeed
      ? Math.max(slots, Math.min(SUPER_SEED_MAX_SLOTS, this.#superSeed.peerCount))
      : slots;
  }

  #startSuperSeed(): void {
    // The pipelines (SUPER_SEED_PENDING_BYTES), but a small torrent is not handed to its first few
    // peers whole.
    const total = Math.ceil(SUPER_SEED_PENDING_BYTES / this.metainfo.pieceLength);
    const pending = Math.max(
      2,
      Math.min(32, Math.max(SUPER_SEED_MIN_PENDING, total), Math.floor(this.metainfo.pieceCount / 8)),
    );
    this.#superSeed = new SuperSeed({
      pieceCount: this.metainfo.pieceCount,
      maxPendingPerPeer: pending,
      pendingTotal: total,
      minPendingPerPeer: Math.min(pending, SUPER_SEED_MIN_PENDING),
      starveAfterMs: SUPER_SEED_STARVE_MS,
      maxHeldPerPeer: pending * 16,
      random: this.#o.random ?? Math.random,
      busy: (peer) => (this.#peers.get(peer)?.conn.pendingIncomingRequests ?? 0) > 0,
      interested: (peer) => this.#peers.get(peer)?.conn.peerInterested ?? false,
      ...(this.#o.superSeed === 'auto' ? { releaseLoneAfterMs: SUPER_SEED_LONE_MS } : {}),
    });
  }

  /**
   * `entry` came with pieces we never offered (a seeder, or a peer that has them from one):
   * automatic initial seeding lasts only while we are the swarm's only source. (A leecher that
   * completed through this swarm, connecting again, has only pieces we offered.)
   */
  #otherSource(entry: PeerEntry): void {
    if (!this.#superSeed || this.#o.superSeed !== 'auto') return;
    this.#o.logger?.info('initial seeding ends: the swarm has another source', { peer: entry.address });
    this.#endSuperSeed();
  }

  /** Initial seeding is over: every peer hears of every piece it was not told about. */
  #endSuperSeed(): void {
    const ss = this.#superSeed;
    if (!ss) return;
    this.#superSeed = undefined;
    for (const p of this.#peers.values()) this.#haveTheRest(p, (i) => ss.told(p.key, i));
  }

  /** Leaving initial seeding for peer `p`: a `have` for every verified piece it was not told about. */
  #haveTheRest(p: PeerEntry, told: (piece: number) => boolean): void {
    if (p.conn.closed) return;
    for (const i of this.bitfield.indices()) if (!told(i)) p.conn.have(i);
  }

  /** Sends the `have` of each new offer of initial seeding. */
  #offerPieces(): void {
    if (!this.#superSeed) return;
    for (const { peer, piece } of this.#superSeed.offers(this.#clock.now())) {
      const p = this.#peers.get(peer);
      if (p && !p.conn.closed) p.conn.have(piece);
    }
    for (const { peer, told } of this.#superSeed.released.splice(0)) {
      const p = this.#peers.get(peer);
      if (p) this.#haveTheRest(p, (i) => Boolean(told[i]));
    }
  }

  /**
   * Sizes the upload slots from the rates we reach and the uplink's capacity as far as we know it:
   * the highest total upload rate reached, fading (halving each UPLINK_PEAK_HALF_LIFE_MS) so that a
   * slower uplink later is learned too. Every tick: more slots are given out at once, not at the
   * next choke round (a download may be over by then).
   */
  #resizeSlots(nowMs: number): void {
    // A meter's rate is taken from its first byte on while that is less than a window ago: a peer
    // served only lately reads its first burst into the socket buffers as its rate (on a 12 kB/s
    // uplink, four peers read 8–25 kB/s each). Only whole windows count, and only of peers in
    // slots: what a choked peer takes (its allowed fast pieces) says nothing of what a slot is worth.
    // The total counts what left our write buffers: what a peer asks for at once (its allowed fast
    // pieces while choked, say) is not uploaded until the uplink took it.
    const rates: number[] = [];
    let sent = this.uploadedBytes;
    for (const p of this.#peers.values()) {
      const meter = p.conn.uploadMeter;
      if (!p.conn.amChoking && nowMs - meter.firstMs >= meter.windowMs) rates.push(meter.rate(nowMs));
      sent -= p.conn.writeBufferBytes;
    }
    const samples = this.#uplinkSamples;
    samples.push({ ms: nowMs, bytes: sent });
    while (samples.length > 2 && nowMs - samples[1]!.ms >= UPLINK_WINDOW_MS) samples.shift();
    const first = samples[0]!;
    const total =
      nowMs - first.ms >= UPLINK_WINDOW_MS ? ((sent - first.bytes) * 1000) / (nowMs - first.ms) : 0;
    const fade = 0.5 ** (Math.max(0, nowMs - this.#uplinkPeakAtMs) / UPLINK_PEAK_HALF_LIFE_MS);
    this.#uplinkPeak = Math.max(total, this.#uplinkPeak * fade);
    this.#uplinkPeakAtMs = nowMs;
    const before = this.#rateSlots;
    this.#rateSlots = rateBasedSlots(rates, DEFAULT_UNCHOKE_SLOTS, this.#uplinkPeak);
    if (
      this.#rateSlots > before &&
      this.#o.uploadSlots === undefined &&
      this.#unchokedCount() < this.#slots()
    )
      this.#runChoker(true);
  }

  #unchokedCount(): number {
    let n = 0;
    for (const p of this.#peers.values()) if (!p.conn.amChoking) n++;
    return n;
  }

  #runChoker(force = false): void {
    const now = this.#clock.now();
    if (!force && now - this.#lastChokeMs < CHOKE_INTERVAL_MS) return;
    this.#lastChokeMs = now;
    const seeding = this.#state === TorrentState.seeding;
    const list = [...this.#peers.values()].map((p) => ({
      id: p.key,
      interested: p.conn.peerInterested && !((p.passOverUntilMs ?? 0) > now),
      downloadRateBytesPerSec: p.conn.downloadMeter.rate(now),
      uploadRateBytesPerSec: p.conn.uploadMeter.rate(now),
      snubbed:
        p.conn.amInterested && !p.conn.peerChoking && isSnubbed(p.lastBlockAtMs ?? p.connectedAtMs, now),
      connectedAtMs: p.connectedAtMs,
      ...(p.lastUnchokedAtMs !== undefined ? { lastUnchokedAtMs: p.lastUnchokedAtMs } : {}),
      isSeed: p.isSeed,
    }));
    const { unchoke, state } = decideUnchokes(
      list,
      { slots: this.#slots(), seeding, nowMs: now, random: this.#o.random ?? Math.random },
      this.#choker,
    );
    this.#choker = state;
    for (const p of this.#peers.values()) {
      if (unchoke.has(p.key)) {
        if (p.conn.amChoking) {
          p.conn.unchoke();
          p.lastUnchokedAtMs = now;
        }
      } else if (!p.conn.amChoking) {
        p.conn.choke();
        this.#uploader.choked(p.upload);
      }
    }
  }

  /** Upload slots held by peers that do not use them go to others now, not at the next round. */
  #chokeUnusedUnchokes(): void {
    const now = this.#clock.now();
    // Only when another peer is waiting for a slot: passing over the only candidate gains nothing.
    let waiting = false;
    for (const p of this.#peers.values()) {
      if (p.conn.peerInterested && p.conn.amChoking && !((p.passOverUntilMs ?? 0) > now)) waiting = true;
    }
    if (!waiting) return;
    let freed = false;
    for (const p of this.#peers.values()) {
      const since = p.lastUnchokedAtMs;
      if (p.conn.amChoking || since === undefined || now - since < UNUSED_UNCHOKE_MS) continue;
      if (p.conn.lastActivityMs >= since || p.conn.pendingIncomingRequests > 0) continue;
      p.passOverUntilMs = now + UNCHOKE_PASS_OVER_MS;
      freed = true;
    }
    if (freed) this.#runChoker(true);
  }

  #tick(): void {
    if (this.#ac.signal.aborted) return;
    const now = this.#clock.now();
    this.#scheduler.tick(now);
    this.#fillConnections();
    this.#offerPieces();
    this.#chokeUnusedUnchokes();
    this.#resizeSlots(now);
    this.#runChoker();
    if (this.#state === TorrentState.downloading) {
      for (const p of this.#peers.values()) {
        this.#updateInterest(p);
        this.#scheduler.fill(p);
      }
      this.#webSeeds.pump(now);
    }
  }
}
