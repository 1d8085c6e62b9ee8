// Fetching a magnet link's info dict from peers (BEP 9, ut_metadata over BEP 10): connects to the
// peers it is given, asks those that offer ut_metadata for the 16 KiB pieces, checks the result
// against the info hash, and drops (and avoids) peers whose metadata does not match.

import { setMaxListeners } from 'node:events';
import type { Socket } from 'node:net';
import { PeerConnection } from '../peer/connection.js';
import { dial, formatAddress, type PeerAddress } from '../peer/dial.js';
import { type Metainfo, parseInfoDict } from '../protocol/metainfo.js';
import { DisconnectReason, type Handshake } from '../protocol/peer-wire.js';
import {
  decodeUtMetadata,
  encodeUtMetadata,
  MAX_METADATA_BYTES,
  MetadataAssembler,
} from '../protocol/ut-metadata.js';
import { TypedEmitter } from '../util/typed-events.js';

export interface MetadataFetcherOptions {
  infoHash: Buffer;
  peerId: Buffer;
  /** Our listening port (extension handshake `p`). */
  port: number;
  localAddress?: string;
  /** The magnet's trackers: they become the torrent's announce list (one tier each). */
  trackers?: readonly string[];
  name?: string | undefined;
  maxConnections?: number;
  requestTimeoutMs?: number;
}

export interface MetadataFetcherEvents extends Record<string, unknown[]> {
  'metadata:progress': [received: number, total: number];
  'peer:connect': [address: string];
}

const LOCAL_UT_METADATA = 1;
/** Addresses kept to dial while fetching (trackers and the DHT may keep sending new ones). */
const MAX_FETCH_CANDIDATES = 1000;

interface FetchPeer {
  conn: PeerConnection;
  host: string;
  address: string;
  outstanding: Set<number>;
  hasMetadata: boolean;
  /** The metadata size this peer advertised (a valid one), once its extension handshake came. */
  size?: number;
}

export class MetadataFetcher extends TypedEmitter<MetadataFetcherEvents> {
  readonly #o: MetadataFetcherOptions;
  readonly #ac = new AbortController();
  readonly #candidates = new Map<
    string,
    { addr: PeerAddress; busy: boolean; nextTryMs: number; failures: number }
  >();
  readonly #peers = new Set<FetchPeer>();
  readonly #banned = new Set<string>();
  /** Pieces in flight: piece → when it was asked, and from whom. */
  readonly #requested = new Map<number, { peer: FetchPeer; atMs: number }>();
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

  constructor(options: MetadataFetcherOptions) {
    super();
    this.#o = options;
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

  addPeers(addrs: readonly PeerAddress[]): void {
    for (const a of addrs) {
      const key = formatAddress(a);
      if (this.#candidates.has(key)) continue;
      if (this.#candidates.size >= MAX_FETCH_CANDIDATES && !this.#dropOldest()) continue;
      this.#candidates.set(key, { addr: a, busy: false, nextTryMs: 0, failures: 0 });
    }
    this.#fill();
  }

  /** Makes room in a full candidate list: the oldest one not being dialed or connected goes. */
  #dropOldest(): boolean {
    for (const [key, c] of this.#candidates) {
      if (c.busy) continue;
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

  stop(): void {
    if (this.#ac.signal.aborted) return;
    this.#ac.abort();
    if (this.#timer) clearInterval(this.#timer);
    for (const p of this.#peers) p.conn.close(DisconnectReason.shutdown);
    this.#peers.clear();
  }

  acceptIncoming(socket: Socket, handshake: Handshake, rest: Buffer): void {
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
      PeerConnection.incoming(socket, handshake, rest, this.#connOptions()),
      host,
      `${host}:${socket.remotePort}`,
    );
  }

  #connOptions() {
    return {
      infoHash: this.#o.infoHash,
      peerId: this.#o.peerId,
      extensions: { m: { ut_metadata: LOCAL_UT_METADATA }, p: this.#o.port },
      signal: this.#ac.signal,
    };
  }

  #fill(): void {
    const signal = this.#ac.signal;
    if (signal.aborted || this.#resolve === undefined) return;
    const now = Date.now();
    for (const c of this.#candidates.values()) {
      if (this.#peers.size + this.#dialing >= (this.#o.maxConnections ?? 20)) break;
      if (c.busy || c.nextTryMs > now || this.#banned.has(c.addr.host)) continue;
      c.busy = true;
      this.#dialing++;
      dial(c.addr, {
        timeoutMs: 10_000,
        signal,
        ...(this.#o.localAddress ? { localAddress: this.#o.localAddress } : {}),
      }).then(
        (socket) => {
          this.#dialing--;
          if (signal.aborted) {
            socket.destroy();
            return;
          }
          const peer = this.#attach(
            PeerConnection.outgoing(socket, this.#connOptions()),
            c.addr.host,
            formatAddress(c.addr),
          );
          peer.conn.once('connection:close', () => {
            c.busy = false;
            c.failures++;
            c.nextTryMs = Date.now() + 15_000 * Math.min(8, c.failures);
          });
        },
        () => {
          this.#dialing--;
          c.busy = false;
          c.failures++;
          c.nextTryMs = Date.now() + 10_000 * Math.min(8, c.failures);
        },
      );
    }
  }

  #attach(conn: PeerConnection, host: string, address: string): FetchPeer {
    const peer: FetchPeer = { conn, host, address, outstanding: new Set(), hasMetadata: false };
    this.#peers.add(peer);
    conn.on('handshake:done', () => this.emit('peer:connect', address));
    conn.on('extended:handshake', () => {
      const ext = conn.remoteExtensions;
      // An incoming peer's listen port (BEP 10 `p`): the torrent dials it once the metadata is
      // here, since this connection closes with the fetcher.
      const listenPort = ext?.p;
      if (listenPort !== undefined && listenPort > 0) {
        const key = formatAddress({ host, port: listenPort });
        if (!this.#candidates.has(key)) {
          const c = { addr: { host, port: listenPort }, busy: true, nextTryMs: 0, failures: 0 };
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
      this.#adopt();
      for (const p of this.#peers) this.#request(p);
      this.#fill();
    });
    return peer;
  }

  /**
   * Chooses the metadata size to assemble: the one most connected peers advertise. A size nobody
   * connected vouches for any more (its peers were banned or left) is dropped with what it had.
   */
  #adopt(): void {
    const counts = new Map<number, number>();
    for (const p of this.#peers) if (p.size !== undefined) counts.set(p.size, (counts.get(p.size) ?? 0) + 1);
    if (this.#assembler && counts.has(this.#assembler.metadataSize)) return;
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
    for (const piece of a.missing()) {
      if (peer.outstanding.size >= (this.#singleSource ? 4 : 2)) break;
      if (this.#requested.has(piece)) continue;
      if (!peer.conn.sendExtended('ut_metadata', encodeUtMetadata({ type: 'request', piece }))) return;
      peer.outstanding.add(piece);
      this.#requested.set(piece, { peer, atMs: Date.now() });
    }
  }

  #onMessage(peer: FetchPeer, payload: Uint8Array): void {
    let msg: ReturnType<typeof decodeUtMetadata>;
    try {
      msg = decodeUtMetadata(payload);
    } catch {
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
    let result: ReturnType<MetadataAssembler['add']>;
    try {
      result = this.#assembler.add(msg.piece, msg.data, msg.totalSize);
    } catch {
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
      } catch {
        this.#onBadMetadata();
        return;
      }
      metainfo.announceList = (this.#o.trackers ?? []).map((t) => [t]);
      this.#done = true;
      this.#resolve?.(metainfo);
      return;
    }
    this.#request(peer);
  }

  #tick(): void {
    const now = Date.now();
    const timeout = this.#o.requestTimeoutMs ?? 15_000;
    for (const [piece, r] of this.#requested) {
      if (now - r.atMs > timeout) {
        this.#requested.delete(piece);
        r.peer.outstanding.delete(piece);
        if (this.#singleSource && this.#source === r.peer) {
          // The single source stalls: ask the next peer instead.
          r.peer.hasMetadata = false;
          this.#source = undefined;
        }
      }
    }
    for (const p of this.#peers) this.#request(p);
    this.#fill();
  }
}
