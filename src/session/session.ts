// A session: one bitswarm process, one port, many torrents. It owns the TCP listener and tells
// apart by the first bytes what connects: `0x13 "BitTorrent protocol"` is a peer, routed to its
// torrent by the info hash in the handshake; `GET ` is a request for the embedded tracker.

import { createServer, type Server, type Socket } from 'node:net';
import { makePeerId } from '../peer/connection.js';
import type { PeerAddress } from '../peer/dial.js';
import { readHandshake } from '../peer/handshake.js';
import type { Metainfo } from '../protocol/metainfo.js';
import { FileStorage } from '../storage/file-storage.js';
import { HasherPool } from '../storage/hasher-pool.js';
import type { Storage } from '../storage/storage.js';
import { Torrent, type TorrentOptions } from '../swarm/torrent.js';
import { VERSION } from '../util/version.js';

export interface SessionOptions {
  /** TCP port; 0 picks a free one. */
  port?: number;
  /** Address to bind; default all interfaces. */
  bind?: string;
  peerId?: Buffer;
  maxConnectionsPerTorrent?: number;
  hasherThreads?: number;
  handshakeTimeoutMs?: number;
}

export interface AddOptions {
  /** Download directory. */
  dir: string;
  peers?: PeerAddress[];
  storage?: Storage;
  skipCheck?: boolean;
  sequential?: boolean;
  torrentOptions?: Partial<TorrentOptions>;
  /** Called with the new torrent before it starts (to attach listeners before its first event). */
  onTorrent?: (torrent: Torrent) => void;
}

export class SessionError extends Error {
  override readonly name = 'SessionError';
  readonly code = 'ERR_SESSION';
}

export class Session {
  readonly peerId: Buffer;
  readonly hasher: HasherPool;
  readonly #o: SessionOptions;
  readonly #torrents = new Map<string, Torrent>();
  readonly #ac = new AbortController();
  readonly #sockets = new Set<Socket>();
  #server: Server | undefined;
  #port = 0;
  #started = false;
  #stopped = false;

  constructor(options: SessionOptions = {}) {
    this.#o = options;
    this.peerId = options.peerId ?? makePeerId(VERSION);
    this.hasher = new HasherPool(
      options.hasherThreads !== undefined ? { threads: options.hasherThreads } : {},
    );
  }

  get port(): number {
    return this.#port;
  }

  get torrents(): Torrent[] {
    return [...this.#torrents.values()];
  }

  get(infoHashHex: string): Torrent | undefined {
    return this.#torrents.get(infoHashHex);
  }

  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    const server = createServer({ noDelay: true }, (socket) => this.#onConnection(socket));
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port: this.#o.port ?? 0, ...(this.#o.bind ? { host: this.#o.bind } : {}) }, () => {
        server.off('error', reject);
        resolve();
      });
    }).catch((err: NodeJS.ErrnoException) => {
      throw new SessionError(
        err.code === 'EADDRINUSE'
          ? `port ${this.#o.port} is already in use (choose another with --port)`
          : `cannot listen on port ${this.#o.port ?? 0}: ${err.message}`,
        { cause: err },
      );
    });
    server.on('error', () => undefined);
    const addr = server.address();
    this.#port = typeof addr === 'object' && addr ? addr.port : 0;
  }

  #onConnection(socket: Socket): void {
    if (this.#stopped) {
      socket.destroy();
      return;
    }
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.once('readable', () => {
      const first = socket.read(1) as Buffer | null;
      if (!first) {
        socket.destroy();
        return;
      }
      socket.unshift(first);
      if (first[0] === 0x13) this.#onPeer(socket);
      else if (first[0] === 0x47 /* G */) this.#onHttp(socket);
      else socket.destroy();
    });
  }

  #onPeer(socket: Socket): void {
    readHandshake(socket, { timeoutMs: this.#o.handshakeTimeoutMs ?? 10_000, signal: this.#ac.signal }).then(
      ({ handshake, rest }) => {
        this.#sockets.delete(socket);
        const t = this.#torrents.get(Buffer.from(handshake.infoHash).toString('hex'));
        if (!t) {
          socket.destroy();
          return;
        }
        t.acceptIncoming(socket, handshake, rest);
      },
      () => socket.destroy(),
    );
  }

  #onHttp(socket: Socket): void {
    // The embedded tracker arrives with the tracker issue; until then, a plain 404.
    socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
  }

  async add(metainfo: Metainfo, options: AddOptions): Promise<Torrent> {
    if (this.#stopped) throw new SessionError('session is stopped');
    const key = metainfo.infoHashHex;
    const existing = this.#torrents.get(key);
    if (existing) {
      if (options.peers) existing.addPeers(options.peers);
      return existing;
    }
    const torrent = new Torrent({
      metainfo,
      storage: options.storage ?? new FileStorage(metainfo, options.dir),
      hasher: this.hasher,
      peerId: this.peerId,
      port: this.#port,
      ...(this.#o.maxConnectionsPerTorrent !== undefined
        ? { maxConnections: this.#o.maxConnectionsPerTorrent }
        : {}),
      ...(options.skipCheck ? { skipCheck: true } : {}),
      ...(options.sequential ? { sequential: true } : {}),
      ...(this.#o.bind && this.#o.bind !== '0.0.0.0' && this.#o.bind !== '::'
        ? { localAddress: this.#o.bind }
        : {}),
      ...options.torrentOptions,
    });
    this.#torrents.set(key, torrent);
    if (options.peers) torrent.addPeers(options.peers);
    options.onTorrent?.(torrent);
    await torrent.start();
    return torrent;
  }

  async remove(infoHashHex: string): Promise<void> {
    const t = this.#torrents.get(infoHashHex);
    if (!t) return;
    this.#torrents.delete(infoHashHex);
    await t.stop();
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#ac.abort();
    await Promise.all([...this.#torrents.values()].map((t) => t.stop()));
    this.#torrents.clear();
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
    const server = this.#server;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    await this.hasher.stop();
  }
}
