// Fetching a magnet link's info dict from peers (BEP 9, ut_metadata over BEP 10): connects to the
// peers it is given, asks those that offer ut_metadata for the 16 KiB pieces, checks the result
// against the info hash, and drops (and avoids) peers whose metadata does not match. For a v2-only
// torrent (BEP 52) it then asks peers for the piece layers the info dict lacks (hash requests),
// each layer checked against its file's root before the metadata is handed on.

import { setMaxListeners } from 'node:events';
import { PeerConnection } from '../peer/connection.js';
import { FIRST_RETRY_MS, retryDelayMs } from '../peer/dial.js';
import {
  connectOutgoing,
  dialsEncrypted,
  type EncryptionPolicy,
  type IncomingMse,
  mayNotSpeakMse,
} from '../peer/encryption.js';
import type { Transport, TransportSocket } from '../peer/transport.js';
import { formatAddress, type PeerAddress } from '../protocol/address.js';
import { HASH_BYTES, log2, MERKLE_BLOCK_BYTES, nextPow2 } from '../protocol/merkle.js';
import { type Metainfo, parseInfoDict } from '../protocol/metainfo.js';
import { setPieceLayer, type V2File } from '../protocol/metainfo-v2.js';
import { DisconnectReason, type Handshake, type HashRequest } from '../protocol/peer-wire.js';
import {
  decodeUtMetadata,
  encodeUtMetadata,
  MAX_METADATA_BYTES,
  METADATA_PIECE_BYTES,
  MetadataAssembler,
} from '../protocol/ut-metadata.js';
import { missingLayers } from '../storage/verify-v2.js';
import { errorText, type Logger, silentLogger } from '../util/logger.js';
import { TypedEmitter } from '../util/typed-events.js';

export interface MetadataFetcherOptions {
  infoHash: Buffer;
  peerId: Buffer;
  /** Our listening port (extension handshake `p`). */
  port: number;
  localAddress?: string;
  /** Protocol encryption of the connections we dial. Default `off`. */
  encryption?: EncryptionPolicy;
  /** The magnet's trackers: they become the torrent's announce list (one tier each). */
  trackers?: readonly string[];
  name?: string | undefined;
  /** A btmh magnet: set the v2 handshake bit (peers answer hash requests for piece layers). */
  v2?: boolean;
  maxConnections?: number;
  requestTimeoutMs?: number;
  /** Where peers closed for bad metadata messages are logged. */
  log?: Logger;
  /** Where connections come from (default TCP). */
  transport?: Transport;
}

export interface MetadataFetcherEvents extends Record<string, unknown[]> {
  'metadata:progress': [received: number, total: number];
  'peer:connect': [address: string];
}

const LOCAL_UT_METADATA = 1;
/** Addresses kept to dial while fetching (trackers and the DHT may keep sending new ones). */
const MAX_FETCH_CANDIDATES = 1000;

interface Candidate {
  addr: PeerAddress;
  busy: boolean;
  nextTryMs: number;
  failures: number;
  /** Given by the user (`--peer`): its back-off never grows past 30 s (retryDelayMs). */
  manual: boolean;
  /** A request to it went unanswered once: ask it one piece at a time from now on. */
  oneAtATime: boolean;
  /** Unanswered requests over all its connections; at SILENT_LIMIT it is dropped for metadata. */
  timeouts: number;
  /** It closed on our encryption key: dialled in plaintext from now on. */
  plaintext?: boolean;
}

interface FetchPeer {
  conn: PeerConnection;
  host: string;
  address: string;
  /** The address we dialled, when we did (incoming connections have none to dial again). */
  candidate: Candidate | undefined;
  outstanding: Set<number>;
  hasMetadata: boolean;
  /** Pieces per request round: 2 (pipelined), 1 after a request went unanswered. */
  maxOutstanding: number;
  /** Closed for a silence: dial it again soon, on a fresh connection. */
  redialSoon: boolean;
  /** The metadata size this peer advertised (a valid one), once its extension handshake came. */
  size?: number;
}

/** A connection the fetcher gives up to the torrent (see release). */
export interface ReleasedConnection {
  conn: PeerConnection;
  host: string;
  /** host:port as shown: the dialled address, or the remote end of an incoming connection. */
  address: string;
  /** The address we dialled, when we did. */
  dialed?: PeerAddress;
}

/** Unanswered requests after which a peer is no longer asked for metadata. */
const SILENT_LIMIT = 3;

export class MetadataFetcher extends TypedEmitter<MetadataFetcherEvents> {
  readonly #o: MetadataFetcherOptions;
  readonly #log: Logger;
  readonly #ac = new AbortController();
  readonly #candidates = new Map<string, Candidate>();
  readonly #peers = new Set<FetchPeer>();
  readonly #banned = new Set<string>();
  /** Pieces in flight: piece → when it was asked, and from whom. */
  readonly #requested = new Map<number, { peer: FetchPeer; atMs: number }>();
  /** Pieces a peer left unanswered: asked of other peers first. */
  readonly #unanswered = new Map<number, Set<FetchPeer>>();
  /** Addresses (host:port) that stayed silent SILENT_LIMIT times: not asked for metadata again. */
  readonly #silent = new Set<string>();
  readonly #contributors = new Set<FetchPeer>();
  #assembler: MetadataAssembler | undefined;
  /**
   * After metadata from several peers failed to hash, pieces come from one peer at a time, so a
   * second failure names the liar alone (honest peers are never banned for sharing a fetch with it).
   */
  #singleSource = false;
  #source: FetchPeer | undefined;
  #dialing = 0;
  #timer: NodeJS.Timeout | undefined;
  #resolve: ((m: Metainfo) => void) | undefined;
  #done = false;
  /** A v2-only torrent's piece layers being fetched (the info dict is here). */
  #layers: LayerFetch | undefined;

  constructor(options: MetadataFetcherOptions) {
    super();
    this.#o = options;
    this.#log = (options.log ?? silentLogger).child({ torrent: options.infoHash.toString('hex') });
    // Every dial and connection listens to this signal: many listeners are expected, not a leak.
    setMaxListeners(0, this.#ac.signal);
  }

  /** Addresses known so far (for the torrent to dial once the metadata is here). */
  knownPeers(): PeerAddress[] {
    return [...this.#candidates.values()].filter((c) => !this.#banned.has(c.addr.host)).map((c) => c.addr);
  }

  /** True when a peer at `host` sent bad metadata: it is not dialed again. */
  isBanned(host: string): boolean {
    return this.#banned.has(host);
  }

  get connectionCount(): number {
    return this.#peers.size;
  }

  /** How much of the info dict is here: bytes received of the size being assembled (once known). */
  get metadataBytes(): { received: number; total: number | undefined } {
    const a = this.#assembler;
    if (!a) return { received: 0, total: undefined };
    return {
      received: Math.min(a.metadataSize, a.receivedCount * METADATA_PIECE_BYTES),
      total: a.metadataSize,
    };
  }

  /** Peers to dial; `manual` ones (given by the user) are retried at least every 30 s. */
  addPeers(addrs: readonly PeerAddress[], opts: { manual?: boolean } = {}): void {
    for (const a of addrs) {
      const key = formatAddress(a);
      const c = this.#candidates.get(key);
      if (c) {
        if (opts.manual) c.manual = true;
        continue;
      }
      if (this.#candidates.size >= MAX_FETCH_CANDIDATES && !this.#dropOldest()) continue;
      this.#candidates.set(key, newCandidate(a, opts.manual ?? false));
    }
    this.#fill();
  }

  /** Makes room in a full candidate list: the oldest one not being dialed or connected goes. */
  #dropOldest(): boolean {
    for (const [key, c] of this.#candidates) {
      if (c.busy || c.manual) continue;
      this.#candidates.delete(key);
      return true;
    }
    return false;
  }

  fetch(signal: AbortSignal): Promise<Metainfo> {
    return new Promise<Metainfo>((resolve, reject) => {
      if (signal.aborted) {
        reject(signal.reason);
        return;
      }
      const onAbort = (): void => {
        this.stop();
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.#resolve = (m) => {
        signal.removeEventListener('abort', onAbort);
        resolve(m);
      };
      this.#timer = setInterval(() => this.#tick(), 1000);
      this.#fill();
    });
  }

  /**
   * Once the metadata is here: the live connections (handshake done), given up for the torrent to
   * go on with (PeerConnection.handOver), so that it does not dial the same peers again. Their
   * listeners here are removed; stop() closes the rest.
   */
  release(): ReleasedConnection[] {
    const out: ReleasedConnection[] = [];
    for (const p of this.#peers) {
      if (p.conn.closed || !p.conn.handshakeDone) continue;
      p.conn.removeAllListeners();
      this.#peers.delete(p);
      out.push({
        conn: p.conn,
        host: p.host,
        address: p.address,
        ...(p.candidate ? { dialed: p.candidate.addr } : {}),
      });
    }
    return out;
  }

  stop(): void {
    if (this.#ac.signal.aborted) return;
    this.#ac.abort();
    if (this.#timer) clearInterval(this.#timer);
    for (const p of this.#peers) p.conn.close(DisconnectReason.shutdown);
    this.#peers.clear();
  }

  acceptIncoming(socket: TransportSocket, handshake: Handshake, rest: Buffer, mse?: IncomingMse): void {
    const host = socket.remoteAddress ?? '?';
    if (
      this.#ac.signal.aborted ||
      this.#banned.has(host) ||
      this.#peers.size >= (this.#o.maxConnections ?? 20)
    ) {
      socket.destroy();
      return;
    }
    this.#attach(
      PeerConnection.incoming(socket, handshake, rest, {
        ...this.#connOptions(),
        ...mse,
      }),
      host,
      formatAddress({ host, port: socket.remotePort ?? 0 }),
    );
  }

  #connOptions() {
    return {
      infoHash: this.#o.infoHash,
      peerId: this.#o.peerId,
      extensions: { m: { ut_metadata: LOCAL_UT_METADATA }, p: this.#o.port },
      signal: this.#ac.signal,
      ...(this.#o.v2 ? { v2: true } : {}),
    };
  }

  #fill(): void {
    const signal = this.#ac.signal;
    if (signal.aborted || this.#resolve === undefined) return;
    const now = Date.now();
    for (const c of this.#candidates.values()) {
      if (this.#peers.size + this.#dialing >= (this.#o.maxConnections ?? 20)) break;
      if (c.busy || c.nextTryMs > now || this.#banned.has(c.addr.host)) continue;
      if (this.#silent.has(formatAddress(c.addr))) continue;
      c.busy = true;
      this.#dialing++;
      const policy = this.#o.encryption ?? 'off';
      const encrypted = dialsEncrypted(policy, c.plaintext ? 'plaintext' : undefined);
      connectOutgoing(c.addr, {
        encrypted,
        policy,
        connection: this.#connOptions(),
        dial: {
          timeoutMs: 10_000,
          signal,
          ...(this.#o.localAddress ? { localAddress: this.#o.localAddress } : {}),
        },
        ...(this.#o.transport ? { transport: this.#o.transport } : {}),
      }).then(
        (conn) => {
          this.#dialing--;
          if (signal.aborted) {
            conn.close(DisconnectReason.aborted);
            return;
          }
          const peer = this.#attach(conn, c.addr.host, formatAddress(c.addr), c);
          peer.conn.once('connection:close', () => {
            c.busy = false;
            if (peer.redialSoon) {
              c.nextTryMs = Date.now() + FIRST_RETRY_MS;
              return;
            }
            c.failures++;
            c.nextTryMs = Date.now() + retryDelayMs(c.failures, c.manual);
          });
        },
        (err: unknown) => {
          this.#dialing--;
          c.busy = false;
          if (encrypted && policy === 'prefer' && !c.plaintext && mayNotSpeakMse(err)) {
            // No MSE there: plaintext from now on, at once.
            c.plaintext = true;
            c.nextTryMs = 0;
            if (!signal.aborted) setImmediate(() => this.#fill());
            return;
          }
          c.failures++;
          c.nextTryMs = Date.now() + retryDelayMs(c.failures, c.manual);
        },
      );
    }
  }

  #attach(conn: PeerConnection, host: string, address: string, candidate?: Candidate): FetchPeer {
    const peer: FetchPeer = {
      conn,
      host,
      address,
      candidate,
      outstanding: new Set(),
      hasMetadata: false,
      maxOutstanding: candidate?.oneAtATime ? 1 : 2,
      redialSoon: false,
    };
    this.#peers.add(peer);
    conn.on('handshake:done', () => {
      this.emit('peer:connect', address);
      this.#askLayers(peer);
    });
    conn.on('hashes:received', (r, hashes) => this.#onHashes(peer, r, hashes));
    conn.on('extended:handshake', () => {
      const ext = conn.remoteExtensions;
      // An incoming peer's listen port (BEP 10 `p`): the torrent dials it once the metadata is
      // here, since this connection closes with the fetcher.
      const listenPort = ext?.p;
      if (listenPort !== undefined && listenPort > 0) {
        const key = formatAddress({ host, port: listenPort });
        if (!this.#candidates.has(key)) {
          const c = { ...newCandidate({ host, port: listenPort }, false), busy: true };
          this.#candidates.set(key, c);
          conn.once('connection:close', () => {
            c.busy = false;
          });
        }
      }
      const size = ext?.metadataSize;
      // A peer that cannot give the metadata only holds a fetch slot: the torrent dials it later.
      if (!ext?.m.has('ut_metadata')) {
        conn.close(DisconnectReason.closedLocally);
        return;
      }
      if (size === undefined || !Number.isSafeInteger(size) || size <= 0 || size > MAX_METADATA_BYTES) {
        conn.close(DisconnectReason.badMetadata);
        return;
      }
      peer.size = size;
      peer.hasMetadata = true;
      this.#adopt();
      this.#request(peer);
    });
    conn.on('extended:message', (name, _id, payload) => {
      if (name === 'ut_metadata') this.#onMessage(peer, payload);
    });
    conn.on('connection:close', () => {
      this.#peers.delete(peer);
      this.#contributors.delete(peer);
      if (this.#source === peer) this.#source = undefined;
      for (const piece of peer.outstanding) this.#requested.delete(piece);
      for (const avoid of this.#unanswered.values()) avoid.delete(peer);
      this.#adopt();
      for (const p of this.#peers) this.#request(p);
      this.#fill();
    });
    return peer;
  }

  /**
   * Chooses the metadata size to assemble: the one most connected peers advertise. A size that the
   * connected peers contradict (its own peers were banned or left) is dropped with what it had.
   */
  #adopt(): void {
    const counts = new Map<number, number>();
    for (const p of this.#peers) if (p.size !== undefined) counts.set(p.size, (counts.get(p.size) ?? 0) + 1);
    // Kept while nobody contradicts it: a peer we redial (or one that left) keeps what it gave.
    if (this.#assembler && (counts.size === 0 || counts.has(this.#assembler.metadataSize))) return;
    let best: number | undefined;
    for (const [size, n] of counts) if (best === undefined || n > counts.get(best)!) best = size;
    this.#assembler = best === undefined ? undefined : new MetadataAssembler(best, this.#o.infoHash);
    this.#requested.clear();
    for (const p of this.#peers) p.outstanding.clear();
    this.#contributors.clear();
  }

  #banPeer(peer: FetchPeer): void {
    this.#banned.add(peer.host);
    peer.conn.close(DisconnectReason.badMetadata);
  }

  /** The assembled data did not hash to the info hash (or did not parse). */
  #onBadMetadata(): void {
    const contributors = [...this.#contributors];
    this.#contributors.clear();
    this.#assembler?.reset();
    this.#requested.clear();
    for (const p of this.#peers) p.outstanding.clear();
    if (contributors.length === 1 || this.#singleSource) {
      for (const p of contributors) this.#banPeer(p);
    } else {
      this.#singleSource = true;
      this.#source = undefined;
    }
    for (const p of this.#peers) this.#request(p);
  }

  #request(peer: FetchPeer): void {
    const a = this.#assembler;
    if (!a || !peer.hasMetadata || peer.size !== a.metadataSize || this.#done) return;
    if (this.#singleSource) {
      if (this.#source && this.#source !== peer) return;
      this.#source = peer;
    }
    const max = this.#singleSource ? Math.min(4, peer.maxOutstanding * 2) : peer.maxOutstanding;
    const missing = a.missing();
    // Pieces this peer left unanswered go to others first; it gets them back only when nobody
    // else can take them (then one at a time, on the connection it has).
    const others = [...this.#peers].some((p) => p !== peer && p.hasMetadata && p.size === a.metadataSize);
    for (const piece of missing) {
      if (peer.outstanding.size >= max) break;
      if (this.#requested.has(piece)) continue;
      if (others && this.#unanswered.get(piece)?.has(peer)) continue;
      if (!peer.conn.sendExtended('ut_metadata', encodeUtMetadata({ type: 'request', piece }))) return;
      peer.outstanding.add(piece);
      this.#requested.set(piece, { peer, atMs: Date.now() });
    }
  }

  #onMessage(peer: FetchPeer, payload: Uint8Array): void {
    let msg: ReturnType<typeof decodeUtMetadata>;
    try {
      msg = decodeUtMetadata(payload);
    } catch (err) {
      this.#log.debug('bad ut_metadata message', { peer: peer.address, error: errorText(err) });
      peer.conn.close(DisconnectReason.badExtensionMessage);
      return;
    }
    if (msg.type === 'request') {
      peer.conn.sendExtended('ut_metadata', encodeUtMetadata({ type: 'reject', piece: msg.piece }));
      return;
    }
    if (msg.type === 'reject') {
      peer.outstanding.delete(msg.piece);
      if (this.#requested.get(msg.piece)?.peer === peer) this.#requested.delete(msg.piece);
      peer.hasMetadata = false;
      if (this.#source === peer) this.#source = undefined;
      for (const p of this.#peers) this.#request(p);
      return;
    }
    if (msg.type !== 'data' || !this.#assembler || this.#done) return;
    if (!peer.outstanding.delete(msg.piece)) return; // not asked of this peer
    this.#requested.delete(msg.piece);
    this.#unanswered.delete(msg.piece);
    let result: ReturnType<MetadataAssembler['add']>;
    try {
      result = this.#assembler.add(msg.piece, msg.data, msg.totalSize);
    } catch (err) {
      this.#log.debug('bad metadata piece', { peer: peer.address, piece: msg.piece, error: errorText(err) });
      peer.conn.close(DisconnectReason.badMetadata);
      return;
    }
    this.#contributors.add(peer);
    this.emit('metadata:progress', this.#assembler.receivedCount, this.#assembler.pieceCount);
    if (result.status === 'mismatch') {
      this.#onBadMetadata();
      return;
    }
    if (result.status === 'complete') {
      let metainfo: Metainfo;
      try {
        metainfo = parseInfoDict(result.info);
      } catch (err) {
        this.#log.info('metadata matches the info hash but is not a valid info dict', {
          error: errorText(err),
        });
        this.#onBadMetadata();
        return;
      }
      metainfo.announceList = (this.#o.trackers ?? []).map((t) => [t]);
      this.#done = true;
      if (missingLayers(metainfo) > 0) {
        this.#layers = new LayerFetch(metainfo);
        for (const p of this.#peers) this.#askLayers(p);
        return;
      }
      this.#resolve?.(metainfo);
      return;
    }
    this.#request(peer);
  }

  /** Asks `peer` for every piece layer still missing that nobody is being asked for. */
  #askLayers(peer: FetchPeer): void {
    const l = this.#layers;
    if (!l || peer.conn.closed || !peer.conn.handshakeDone || l.tried.has(peer)) return;
    l.tried.add(peer);
    for (const r of l.requestsFor()) peer.conn.sendHashRequest(r);
  }

  #onHashes(peer: FetchPeer, r: HashRequest, hashes: Uint8Array): void {
    const l = this.#layers;
    if (!l) return;
    if (!l.add(r, hashes)) {
      peer.conn.close(DisconnectReason.badMetadata);
      return;
    }
    if (l.complete()) {
      this.#layers = undefined;
      this.#resolve?.(l.metainfo);
    }
  }

  #tick(): void {
    if (this.#layers) {
      // Peers that joined since (or that refused): one more round each.
      for (const p of this.#peers) this.#askLayers(p);
      if ([...this.#peers].every((p) => this.#layers?.tried.has(p))) this.#layers.tried.clear();
    }
    const now = Date.now();
    const timeout = this.#o.requestTimeoutMs ?? 10_000;
    for (const [piece, r] of this.#requested) {
      if (now - r.atMs > timeout) this.#onSilence(r.peer, piece);
    }
    for (const p of this.#peers) this.#request(p);
    this.#fill();
  }

  /**
   * A request went unanswered (some clients answer only the first of two pipelined requests): the
   * piece is asked of another peer; the silent peer is asked one piece at a time from now on; alone,
   * it is asked again on a fresh connection; silent SILENT_LIMIT times, it is dropped for metadata.
   */
  #onSilence(peer: FetchPeer, piece: number): void {
    this.#requested.delete(piece);
    peer.outstanding.delete(piece);
    const avoid = this.#unanswered.get(piece) ?? new Set<FetchPeer>();
    this.#unanswered.set(piece, avoid.add(peer));
    peer.maxOutstanding = 1;
    const c = peer.candidate;
    if (c) c.oneAtATime = true;
    const timeouts = c ? ++c.timeouts : SILENT_LIMIT;
    if (this.#singleSource && this.#source === peer) {
      // The single source stalls: ask the next peer instead.
      peer.hasMetadata = false;
      this.#source = undefined;
    }
    const others = [...this.#peers].some((p) => p !== peer && p.hasMetadata);
    if (timeouts >= SILENT_LIMIT && (others || !c)) {
      if (c) this.#silent.add(formatAddress(c.addr));
      peer.hasMetadata = false;
      peer.conn.close(DisconnectReason.metadataTimeout);
    } else if (!others) {
      // Alone: the same question on a new connection (the old one may be wedged).
      peer.redialSoon = c !== undefined;
      peer.conn.close(DisconnectReason.metadataTimeout);
    }
  }
}

/** Hashes asked per request: a piece layer comes in runs of this many (libtorrent asks 512). */
const LAYER_CHUNK = 512;

/**
 * The piece layers of a v2-only torrent's files, gathered from `hashes` messages (base layer: the
 * piece layer; no proofs: the whole layer is checked against the root once every run is here).
 */
class LayerFetch {
  readonly tried = new Set<object>();
  readonly #level: number;
  readonly #runs = new Map<V2File, (Buffer | undefined)[]>();

  constructor(readonly metainfo: Metainfo) {
    this.#level = log2(metainfo.pieceLength / MERKLE_BLOCK_BYTES);
    for (const f of metainfo.v2?.files ?? []) {
      if (f.piecesRoot && f.pieceCount > 1 && !f.layer)
        this.#runs.set(f, new Array(Math.ceil(f.pieceCount / LAYER_CHUNK)).fill(undefined));
    }
  }

  /** Requests for every run still missing. */
  requestsFor(): HashRequest[] {
    const out: HashRequest[] = [];
    for (const [f, runs] of this.#runs) {
      const length = Math.min(LAYER_CHUNK, nextPow2(f.pieceCount));
      runs.forEach((got, i) => {
        if (!got)
          out.push({
            piecesRoot: f.piecesRoot!,
            baseLayer: this.#level,
            index: i * length,
            length,
            proofLayers: 0,
          });
      });
    }
    return out;
  }

  /** Takes a `hashes` answer; false when it cannot be right (the sender is then dropped). */
  add(r: HashRequest, hashes: Uint8Array): boolean {
    const root = Buffer.from(r.piecesRoot);
    for (const [f, runs] of this.#runs) {
      if (!f.piecesRoot!.equals(root)) continue;
      const length = Math.min(LAYER_CHUNK, nextPow2(f.pieceCount));
      if (r.baseLayer !== this.#level || r.length !== length || r.index % length !== 0) return false;
      if (hashes.length < length * HASH_BYTES) return false;
      const i = r.index / length;
      if (i >= runs.length) return false;
      runs[i] = Buffer.from(hashes.subarray(0, length * HASH_BYTES));
      if (runs.every((x) => x !== undefined)) {
        const layer = Buffer.concat(runs as Buffer[]).subarray(0, f.pieceCount * HASH_BYTES);
        if (!setPieceLayer(f, layer, this.metainfo.pieceLength)) {
          // Some run was wrong, and nothing says which: ask again for all of them.
          this.#runs.set(f, new Array<Buffer | undefined>(runs.length).fill(undefined));
          this.tried.clear();
          return false;
        }
        this.#runs.delete(f);
      }
      return true;
    }
    return true; // an answer for a file already complete
  }

  complete(): boolean {
    return this.#runs.size === 0;
  }
}

function newCandidate(addr: PeerAddress, manual: boolean): Candidate {
  return { addr, busy: false, nextTryMs: 0, failures: 0, manual, oneAtATime: false, timeouts: 0 };
}
