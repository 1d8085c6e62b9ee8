// Fetching a magnet link's info dict from peers (BEP 9, ut_metadata over BEP 10): connects to the
// peers it is given, asks those that offer ut_metadata for the 16 KiB pieces, checks the result
// against the info hash, and drops (and avoids) peers whose metadata does not match.

import type { Socket } from 'node:net';
import { PeerConnection } from '../peer/connection.js';
import { dial, formatAddress, type PeerAddress } from '../peer/dial.js';
import { type Metainfo, parseInfoDict } from '../protocol/metainfo.js';
import { DisconnectReason, type Handshake } from '../protocol/peer-wire.js';
import { decodeUtMetadata, encodeUtMetadata, MetadataAssembler } from '../protocol/ut-metadata.js';
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

interface FetchPeer {
  conn: PeerConnection;
  host: string;
  address: string;
  outstanding: Set<number>;
  hasMetadata: boolean;
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
  #dialing = 0;
  #timer: NodeJS.Timeout | undefined;
  #resolve: ((m: Metainfo) => void) | undefined;
  #done = false;

  constructor(options: MetadataFetcherOptions) {
    super();
    this.#o = options;
  }

  /** Addresses known so far (for the torrent to dial once the metadata is here). */
  knownPeers(): PeerAddress[] {
    return [...this.#candidates.values()].filter((c) => !this.#banned.has(c.addr.host)).map((c) => c.addr);
  }

  get connectionCount(): number {
    return this.#peers.size;
  }

  addPeers(addrs: readonly PeerAddress[]): void {
    for (const a of addrs) {
      const key = formatAddress(a);
      if (!this.#candidates.has(key))
        this.#candidates.set(key, { addr: a, busy: false, nextTryMs: 0, failures: 0 });
    }
    this.#fill();
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
      if (!ext?.m.has('ut_metadata') || size === undefined) return;
      if (!this.#assembler) {
        try {
          this.#assembler = new MetadataAssembler(size, this.#o.infoHash);
        } catch {
          conn.close(DisconnectReason.badMetadata);
          return;
        }
      }
      if (size !== this.#assembler.metadataSize) return; // disagrees with the others: not asked
      peer.hasMetadata = true;
      this.#request(peer);
    });
    conn.on('extended:message', (name, _id, payload) => {
      if (name === 'ut_metadata') this.#onMessage(peer, payload);
    });
    conn.on('connection:close', () => {
      this.#peers.delete(peer);
      for (const piece of peer.outstanding) this.#requested.delete(piece);
      this.#fill();
    });
    return peer;
  }

  #request(peer: FetchPeer): void {
    const a = this.#assembler;
    if (!a || !peer.hasMetadata || this.#done) return;
    for (const piece of a.missing()) {
      if (peer.outstanding.size >= 2) break;
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
      // Someone sent pieces of another info dict: drop everyone who contributed and start over.
      for (const p of this.#contributors) {
        this.#banned.add(p.host);
        p.conn.close(DisconnectReason.badMetadata);
      }
      this.#contributors.clear();
      return;
    }
    if (result.status === 'complete') {
      let metainfo: Metainfo;
      try {
        metainfo = parseInfoDict(result.info);
      } catch {
        for (const p of this.#contributors) {
          this.#banned.add(p.host);
          p.conn.close(DisconnectReason.badMetadata);
        }
        this.#contributors.clear();
        this.#assembler.reset();
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
      }
    }
    for (const p of this.#peers) this.#request(p);
    this.#fill();
  }
}
