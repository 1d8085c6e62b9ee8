// A scripted peer for swarm-level hostile tests: a raw TCP client or server on loopback that speaks
// the peer wire protocol through the codec, sends whatever the test tells it (valid or not), records
// what it receives, and can serve blocks from a Buffer with optional corruption or stalls. It is not
// a PeerConnection on purpose: it must be able to break every rule the real one enforces.
import assert from 'node:assert/strict';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server, Socket } from 'node:net';
import { after, afterEach, before } from 'node:test';
import type { PeerAddress } from '../../../src/peer/dial.js';
import { fileTree, leafHashes } from '../../../src/protocol/merkle.js';
import { buildMetainfo, type Metainfo, parseMetainfo } from '../../../src/protocol/metainfo.js';
import {
  BLOCK_SIZE,
  type Block,
  encodeHandshake,
  encodeMessage,
  encodePieceHeader,
  FrameReader,
  type Handshake,
  type Message,
  makeReserved,
} from '../../../src/protocol/peer-wire.js';
import { type AddOptions, Session } from '../../../src/session/session.js';
import { MemoryStorage } from '../../../src/storage/memory-storage.js';
import type { Torrent, TorrentEvents } from '../../../src/swarm/torrent.js';

/** What the scripted peer does with requests: answer them from `data`, maybe badly. */
export interface ServePolicy {
  /** The torrent's bytes in order. */
  data: Uint8Array;
  pieceLength: number;
  /** Flip bytes of this block before sending it. */
  corrupt?: (block: Block) => boolean;
  /** Answer only the first this many requests; later ones are accepted and never answered. */
  answerLimit?: number;
  /** Answer only the requests this accepts; the others are accepted and never answered. */
  answer?: (block: Block) => boolean;
  /** Unchoke when the remote side says it is interested. Default true. */
  unchokeOnInterest?: boolean;
}

export interface ScriptedPeerOptions {
  infoHash: Uint8Array;
  peerId?: Uint8Array;
  /** Fast extension bit. Default true. */
  fast?: boolean;
  /** Extension protocol bit. Default false (no extension handshake to answer). */
  extended?: boolean;
  /** Sent right after the handshake exchange: 'all' → have-all (or a full bitfield without Fast). */
  pieces?: 'all' | 'none' | Uint8Array;
  /** Needed for `pieces: 'all'` without the Fast extension. */
  pieceCount?: number;
  serve?: ServePolicy;
  /** Send a keep-alive this often (a staller that must not hit the idle timeout). */
  keepAliveMs?: number;
  /** Keep received messages in `messages` (piece data copied). Default true. */
  record?: boolean;
}

const GARBAGE_LIMITS = {
  maxBlockBytes: BLOCK_SIZE,
  maxExtendedBytes: 1 << 20,
  maxBitfieldBytes: 1 << 20,
  maxUnknownBytes: 1 << 20,
};

export class ScriptedPeer {
  readonly socket: Socket;
  readonly options: ScriptedPeerOptions;
  /** The remote handshake, once it arrived. */
  remoteHandshake: Handshake | undefined;
  readonly messages: Message[] = [];
  /** Requests received and how they were handled. */
  answered = 0;
  ignored = 0;
  bytesReceived = 0;
  /** Set when the remote stream stopped decoding (the remote side broke the protocol). */
  decodeError: Error | undefined;
  readonly closed: Promise<void>;
  #isClosed = false;
  #handshakeSent = false;
  readonly #reader = new FrameReader();
  readonly #waiters = new Set<() => void>();
  #keepAlive: ReturnType<typeof setInterval> | undefined;
  /** Random unless given: two scripted peers must not look like one peer connected twice. */
  readonly #peerId: Uint8Array;

  constructor(socket: Socket, options: ScriptedPeerOptions) {
    this.socket = socket;
    this.options = options;
    this.#peerId = options.peerId ?? Buffer.concat([Buffer.from('-XX0000-', 'latin1'), randomBytes(12)]);
    socket.on('error', () => undefined); // resets are what hostile tests provoke
    this.closed = new Promise((resolve) => {
      socket.once('close', () => {
        this.#isClosed = true;
        if (this.#keepAlive) clearInterval(this.#keepAlive);
        this.#wake();
        resolve();
      });
    });
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    if (options.keepAliveMs !== undefined) {
      this.#keepAlive = setInterval(() => this.send({ type: 'keep-alive' }), options.keepAliveMs);
    }
  }

  /** Dials a session. The handshake is sent as soon as the TCP connection is up unless `handshake: false`. */
  static async connect(
    port: number,
    options: ScriptedPeerOptions & { host?: string; localAddress?: string; handshake?: boolean },
  ): Promise<ScriptedPeer> {
    const socket = new Socket();
    const peer = new ScriptedPeer(socket, options);
    socket.connect({
      port,
      host: options.host ?? '127.0.0.1',
      ...(options.localAddress ? { localAddress: options.localAddress } : {}),
    });
    await Promise.race([once(socket, 'connect'), peer.closed]);
    if (options.handshake !== false && !peer.isClosed) peer.sendHandshake();
    return peer;
  }

  get isClosed(): boolean {
    return this.#isClosed;
  }

  sendHandshake(overrides: Partial<Handshake> = {}): void {
    this.#handshakeSent = true;
    this.sendRaw(
      encodeHandshake({
        reserved:
          overrides.reserved ??
          makeReserved({ fast: this.options.fast ?? true, extended: this.options.extended ?? false }),
        infoHash: overrides.infoHash ?? this.options.infoHash,
        peerId: overrides.peerId ?? this.#peerId,
      }),
    );
  }

  send(m: Message): boolean {
    return this.sendRaw(encodeMessage(m));
  }

  sendRaw(bytes: Uint8Array): boolean {
    if (this.#isClosed || this.socket.destroyed) return false;
    return this.socket.write(bytes);
  }

  destroy(): void {
    if (this.#keepAlive) clearInterval(this.#keepAlive);
    this.socket.destroy();
  }

  /** The first received message matching `pred` (already received or still to come). */
  waitFor<T extends Message>(pred: (m: Message) => m is T, timeoutMs?: number): Promise<T>;
  waitFor(pred: (m: Message) => boolean, timeoutMs?: number): Promise<Message>;
  waitFor(pred: (m: Message) => boolean, timeoutMs = 5000): Promise<Message> {
    return this.until(() => this.messages.find(pred), timeoutMs, 'a message');
  }

  /** Resolves with `probe()` once it is defined, re-checked after each received message or the close. */
  until<T>(probe: () => T | undefined, timeoutMs = 5000, what = 'a condition'): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const v = probe();
        if (v !== undefined) {
          clearTimeout(timer);
          this.#waiters.delete(check);
          resolve(v);
        } else if (this.#isClosed) {
          clearTimeout(timer);
          this.#waiters.delete(check);
          reject(new Error(`closed before ${what}`));
        }
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(new Error(`timed out waiting for ${what}`));
      }, timeoutMs);
      this.#waiters.add(check);
      check();
    });
  }

  #wake(): void {
    for (const w of [...this.#waiters]) w();
  }

  #onData(chunk: Buffer): void {
    this.bytesReceived += chunk.length;
    if (this.decodeError) return;
    this.#reader.push(chunk);
    try {
      if (!this.remoteHandshake) {
        const h = this.#reader.nextHandshake();
        if (!h) return;
        this.remoteHandshake = h;
        if (!this.#handshakeSent) this.sendHandshake();
        this.#sendPieces();
      }
      for (
        let m = this.#reader.nextMessage(GARBAGE_LIMITS);
        m;
        m = this.#reader.nextMessage(GARBAGE_LIMITS)
      ) {
        if (this.options.record !== false) {
          this.messages.push(m.type === 'piece' ? { ...m, data: Uint8Array.from(m.data) } : m);
        }
        this.#react(m);
      }
    } catch (err) {
      this.decodeError = err as Error;
    }
    this.#wake();
  }

  #sendPieces(): void {
    const p = this.options.pieces;
    if (p === undefined) return;
    const fast = this.options.fast ?? true;
    if (p === 'all' && fast) this.send({ type: 'have-all' });
    else if (p === 'none' && fast) this.send({ type: 'have-none' });
    else if (p === 'all') {
      const n = this.options.pieceCount ?? 0;
      const bits = new Uint8Array(Math.ceil(n / 8));
      for (let i = 0; i < n; i++) bits[i >> 3]! |= 0x80 >> (i & 7);
      this.send({ type: 'bitfield', bits });
    } else if (p !== 'none') this.send({ type: 'bitfield', bits: p });
  }

  #react(m: Message): void {
    const serve = this.options.serve;
    if (!serve) return;
    if (m.type === 'interested' && serve.unchokeOnInterest !== false) this.send({ type: 'unchoke' });
    if (m.type !== 'request') return;
    if (serve.answerLimit !== undefined && this.answered >= serve.answerLimit) {
      this.ignored++;
      return;
    }
    const block: Block = { piece: m.piece, offset: m.offset, length: m.length };
    if (serve.answer && !serve.answer(block)) {
      this.ignored++;
      return;
    }
    const start = m.piece * serve.pieceLength + m.offset;
    if (m.offset + m.length > serve.pieceLength || start + m.length > serve.data.length) {
      this.ignored++;
      return;
    }
    this.answered++;
    let data = serve.data.subarray(start, start + m.length);
    if (serve.corrupt?.(block)) {
      data = Buffer.from(data);
      for (let i = 0; i < data.length; i += 997) data[i]! ^= 0xa5;
    }
    this.sendRaw(encodePieceHeader(m.piece, m.offset, data.length));
    this.sendRaw(data);
  }
}

/** A `waitFor` predicate for one message type, typed as that message. */
export const isType =
  <T extends Message['type']>(type: T) =>
  (m: Message): m is Extract<Message, { type: T }> =>
    m.type === type;

/** Accepts connections (the session dials it) and wraps each in a ScriptedPeer. */
export class ScriptedServer {
  readonly server: Server;
  readonly peers: ScriptedPeer[] = [];
  readonly #waiters = new Set<() => void>();
  /** Every accepted connection, including those closed since. */
  accepted = 0;

  private constructor(server: Server, options: ScriptedPeerOptions) {
    this.server = server;
    server.on('connection', (socket: Socket) => {
      this.accepted++;
      this.peers.push(new ScriptedPeer(socket, options));
      for (const w of [...this.#waiters]) w();
    });
  }

  static async listen(host: string, options: ScriptedPeerOptions): Promise<ScriptedServer> {
    const server = createServer({ noDelay: true });
    const s = new ScriptedServer(server, options);
    server.listen(0, host);
    await once(server, 'listening');
    return s;
  }

  get port(): number {
    const a = this.server.address();
    if (!a || typeof a === 'string') throw new Error('not listening');
    return a.port;
  }

  /** The n-th accepted connection (0-based), waiting for it if needed. */
  peer(n = 0, timeoutMs = 5000): Promise<ScriptedPeer> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const p = this.peers[n];
        if (!p) return;
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve(p);
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(new Error(`no connection #${n} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.add(check);
      check();
    });
  }

  async close(): Promise<void> {
    for (const p of this.peers) p.destroy();
    await Promise.all(this.peers.map((p) => p.closed));
    if (this.server.listening) await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

// ---------------------------------------------------------------------------------------------------
// Fixtures shared by the hostile swarm tests

/** A torrent held in memory: its bytes and its parsed metainfo. */
export interface MemoryTorrent {
  data: Buffer;
  metainfo: Metainfo;
}

/** Deterministic bytes (AES-128-CTR keystream of the seed), so a failure reproduces; fast for tens of MiB. */
export function pseudoRandomBytes(length: number, seed = 1): Buffer {
  const key = Buffer.alloc(16);
  key.writeUInt32BE(seed >>> 0, 0);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  return Buffer.concat([cipher.update(Buffer.alloc(length)), cipher.final()]);
}

export function memoryTorrent(totalLength: number, pieceLength: number, seed?: number): MemoryTorrent {
  const data = pseudoRandomBytes(totalLength, seed);
  const count = Math.ceil(totalLength / pieceLength);
  const pieces = Buffer.alloc(count * 20);
  for (let i = 0; i < count; i++) {
    createHash('sha1')
      .update(data.subarray(i * pieceLength, (i + 1) * pieceLength))
      .digest()
      .copy(pieces, i * 20);
  }
  const torrent = buildMetainfo({
    name: 'hostile.bin',
    pieceLength,
    pieces,
    files: [{ path: ['hostile.bin'], length: totalLength }],
  });
  return { data, metainfo: parseMetainfo(torrent) };
}

/** The same as memoryTorrent, as a v2-only torrent (BEP 52: merkle piece hashes, SHA-256). */
export function memoryTorrentV2(totalLength: number, pieceLength: number, seed?: number): MemoryTorrent {
  const data = pseudoRandomBytes(totalLength, seed);
  const tree = fileTree(leafHashes(data), pieceLength);
  const torrent = buildMetainfo({
    name: 'hostile.bin',
    pieceLength,
    pieces: new Uint8Array(0),
    files: [{ path: ['hostile.bin'], length: totalLength }],
    version: 'v2',
    v2Files: [{ root: tree.root, layer: tree.layer }],
  });
  return { data, metainfo: parseMetainfo(torrent) };
}

/**
 * A session bound to one loopback address (each peer gets its own, so bans by address are per peer).
 * It dials in plaintext: the scripted peers speak the plain wire (encryption has its own tests). Its
 * seeders announce every piece at once (initial seeding has its own tests).
 */
export async function startSession(host: string): Promise<Session> {
  const s = new Session({ port: 0, bind: host, hasherThreads: 0, encryption: 'off', superSeed: false });
  await s.start();
  return s;
}

export async function addSeeder(
  session: Session,
  t: MemoryTorrent,
  torrentOptions: AddOptions['torrentOptions'] = {},
): Promise<Torrent> {
  const storage = await MemoryStorage.withData(t.metainfo, t.data);
  return session.add(t.metainfo, { dir: '', storage, torrentOptions });
}

export async function addLeecher(
  session: Session,
  t: MemoryTorrent,
  peers: PeerAddress[],
  options: { torrentOptions?: AddOptions['torrentOptions']; onTorrent?: (torrent: Torrent) => void } = {},
): Promise<{ torrent: Torrent; storage: MemoryStorage }> {
  const storage = new MemoryStorage(t.metainfo);
  const torrent = await session.add(t.metainfo, {
    dir: '',
    storage,
    skipCheck: true,
    peers,
    ...(options.torrentOptions ? { torrentOptions: options.torrentOptions } : {}),
    ...(options.onTorrent ? { onTorrent: options.onTorrent } : {}),
  });
  return { torrent, storage };
}

/** Resolves when the torrent has every piece; rejects after timeoutMs. */
export function completed(t: Torrent, timeoutMs = 10_000): Promise<void> {
  if (t.complete) return Promise.resolve();
  return eventOf(t, 'torrent:complete', () => true, timeoutMs).then(() => undefined);
}

/** The first `name` event whose arguments satisfy `pred`. */
export function eventOf<K extends keyof TorrentEvents & string>(
  t: Torrent,
  name: K,
  pred: (...args: TorrentEvents[K]) => boolean,
  timeoutMs = 5000,
): Promise<TorrentEvents[K]> {
  return new Promise((resolve, reject) => {
    const listener = (...args: TorrentEvents[K]): void => {
      if (!pred(...args)) return;
      clearTimeout(timer);
      t.off(name, listener);
      resolve(args);
    };
    const timer = setTimeout(() => {
      t.off(name, listener);
      reject(new Error(`timed out waiting for ${name}`));
    }, timeoutMs);
    t.on(name, listener);
  });
}

/** Records every `peer:disconnect` of a torrent from now on. */
export function recordDisconnects(t: Torrent): { address: string; reason: string }[] {
  const out: { address: string; reason: string }[] = [];
  t.on('peer:disconnect', (address, reason) => out.push({ address, reason }));
  return out;
}

/** Every byte the leecher stored equals the torrent's bytes. */
export async function assertSameBytes(storage: MemoryStorage, t: MemoryTorrent): Promise<void> {
  for (let i = 0; i < t.metainfo.pieceCount; i++) {
    const got = await storage.readPiece(i);
    const want = t.data.subarray(i * t.metainfo.pieceLength, (i + 1) * t.metainfo.pieceLength);
    if (!got.equals(want)) throw new Error(`piece ${i} differs from the source`);
  }
}

/** Live TCP handles of this process (sockets and listeners). */
export function tcpHandles(): { sockets: number; servers: number } {
  const info = process.getActiveResourcesInfo();
  return {
    sockets: info.filter((r) => r === 'TCPSocketWrap').length,
    servers: info.filter((r) => r === 'TCPServerWrap').length,
  };
}

/**
 * Registers hooks on the calling test file: after each test, what it put in the returned lists is
 * destroyed, closed and stopped, and no TCP socket or listener may outlive it.
 */
export function stopAfterEachTest(): {
  sessions: Session[];
  scripted: { destroy(): void }[];
  servers: ScriptedServer[];
} {
  let baseline: { sockets: number; servers: number };
  const live = {
    sessions: [] as Session[],
    scripted: [] as { destroy(): void }[],
    servers: [] as ScriptedServer[],
  };
  before(() => {
    baseline = tcpHandles();
  });
  afterEach(async () => {
    for (const p of live.scripted.splice(0)) p.destroy();
    await Promise.all(live.servers.splice(0).map((s) => s.close()));
    await Promise.all(live.sessions.splice(0).map((s) => s.stop()));
    const left = await settleHandles(baseline);
    assert.deepEqual(left, baseline, 'TCP sockets or listeners left alive after the test');
  });
  after(() => {
    assert.deepEqual(tcpHandles(), baseline);
  });
  return live;
}

/** Waits (up to timeoutMs) until the TCP handles are back to `baseline`; returns what is left. */
export async function settleHandles(
  baseline: { sockets: number; servers: number },
  timeoutMs = 2000,
): Promise<{ sockets: number; servers: number }> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const now = tcpHandles();
    if ((now.sockets <= baseline.sockets && now.servers <= baseline.servers) || Date.now() > until)
      return now;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
