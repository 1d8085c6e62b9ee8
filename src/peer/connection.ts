// One peer wire connection over a socket: handshake, framing, choke/interest state, the peer's
// bitfield, the request pipeline (timeouts, RTT, queue depth), serving state, keep-alives, and the
// checks that turn a misbehaving peer into a typed close instead of a crash.
//
// Lifetime: every timer and socket listener hangs off one AbortController. close() aborts it, destroys
// the socket and emits `connection:close` exactly once; after that nothing else is emitted.
// Data handed out in events are views into received bytes. `extended:message` payloads stay valid.
// `block:received` data stays valid too, except on a socket dialed with shared reads
// (DialOptions.sharedReads), where the next read overwrites it: listeners there copy what they keep.
// sendPiece's `onWritten` trusts the stream to let go of a chunk once its write callback ran, which
// net.Socket does; a hand-made Duplex that keeps chunks longer must not be given reused buffers.

import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import {
  decodeExtensionHandshake,
  EXTENDED_HANDSHAKE_ID,
  type ExtensionHandshake,
  encodeExtensionHandshake,
  mergeExtensionHandshake,
} from '../protocol/extension.js';
import { ipLiteralBytes } from '../protocol/ip.js';
import { MAX_PIECE_LENGTH } from '../protocol/metainfo.js';
import {
  BLOCK_MESSAGE_BYTES,
  BLOCK_SIZE,
  type Block,
  blockKey,
  DisconnectReason,
  encodeExtendedHeader,
  encodeHandshake,
  encodeMessage,
  encodePieceHeader,
  FrameReader,
  featuresOf,
  type Handshake,
  type HashRequest,
  type Message,
  MessageId,
  makeReserved,
  ProtocolError,
  type WireLimits,
  writeBlockMessage,
} from '../protocol/peer-wire.js';
import type { Rc4 } from '../protocol/rc4.js';
import { Bitfield } from '../util/bitfield.js';
import { type Clock, realClock, type TimerHandle } from '../util/clock.js';
import { RateMeter } from '../util/rate-meter.js';
import { type EventMap, TypedEmitter } from '../util/typed-events.js';
import { VERSION } from '../util/version.js';
import { attachReadSink } from './dial.js';
import type { PeerCipher } from './encryption.js';
import { clientFromPeerId } from './handshake.js';

export type { Block } from '../protocol/peer-wire.js';
export { clientFromPeerId, makePeerId, readHandshake } from './handshake.js';

/** What we tell peers in our extension handshake. `yourip` is filled in from the socket. */
export interface LocalExtensions {
  /** Extension name → the id we want to receive it under (1..255). */
  m?: Readonly<Record<string, number>>;
  v?: string;
  p?: number;
  /** Requests we accept outstanding from one peer. Default 250. */
  reqq?: number;
  metadataSize?: number;
}

export interface PeerConnectionOptions {
  infoHash: Uint8Array;
  /** Our 20-byte peer id. */
  peerId: Uint8Array;
  /** Unknown while a magnet's metadata is missing: call setPieceCount() once it is known. */
  pieceCount?: number;
  extensions?: LocalExtensions;
  /** Offer the Fast extension (BEP 6). Default true. */
  fast?: boolean;
  /** Set the DHT bit (BEP 5). Default false. */
  dht?: boolean;
  /** Set the v2 bit (BEP 52: a v2 or hybrid torrent; hash requests answered). Default false. */
  v2?: boolean;
  /** Outgoing only: time allowed for the TCP connect when the socket is still connecting. Default 10 s. */
  connectTimeoutMs?: number;
  /** Time allowed for the remote handshake. Default 10 s. */
  handshakeTimeoutMs?: number;
  /** Close when nothing arrived for this long. Default 120 s; keep-alives go out at half of it. */
  idleTimeoutMs?: number;
  /** A request not answered within this long is given up (`request:timeout`). Default 30 s. */
  requestTimeoutMs?: number;
  /** Blocks nobody asked for before the connection closes. Default 10. */
  maxUnrequestedBlocks?: number;
  /** Invalid requests (too large, out of range) before the connection closes. Default 10. */
  maxInvalidRequests?: number;
  /** Largest extended message accepted. Default 1 MiB. */
  maxExtendedBytes?: number;
  /** Clock for rates, RTT and timeouts. Default `clock.now`. */
  now?: () => number;
  /** Timers (timeouts, keep-alives) and, unless `now` is given, the time. Default the real clock. */
  clock?: Clock;
  signal?: AbortSignal;
  /** RC4 both ways after an MSE handshake (encryption.ts): every byte read and written goes through it. */
  cipher?: PeerCipher;
  /** Outgoing after MSE: our handshake already went out inside the encryption handshake (IA). */
  handshakeSent?: boolean;
  /** An MSE handshake came first (whichever method it chose for the stream). */
  obfuscated?: boolean;
  /** Outgoing after MSE: stream bytes (decrypted) that arrived with the encryption handshake. */
  received?: Uint8Array;
}

export type DropCause = 'choke' | 'reject';

export type PeerConnectionEvents = EventMap & {
  'handshake:done': [handshake: Handshake];
  'extended:handshake': [handshake: ExtensionHandshake];
  /** The peer's pieces are known (bitfield, have-all, have-none, or a first have); see peerBitfield. */
  'bitfield:received': [bitfield: Bitfield];
  'have:received': [piece: number];
  'choke:changed': [peerChoking: boolean];
  'interest:changed': [peerInterested: boolean];
  /**
   * `data` is valid only while the listeners run when the socket was dialed with shared reads
   * (DialOptions.sharedReads): a listener that keeps it copies it.
   */
  'block:received': [piece: number, offset: number, data: Uint8Array];
  'request:received': [block: Block];
  'cancel:received': [block: Block];
  'request:timeout': [block: Block];
  'request:dropped': [block: Block, cause: DropCause];
  /** `name` is the extension we registered under that id in our `m`, when there is one. */
  'extended:message': [name: string | undefined, id: number, payload: Uint8Array];
  'port:received': [port: number];
  /** BEP 52 `hash request`, `hashes`, `hash reject` (ids 21–23). */
  'hash-request:received': [request: HashRequest];
  'hashes:received': [request: HashRequest, hashes: Uint8Array];
  'hash-reject:received': [request: HashRequest];
  'suggest:received': [piece: number];
  'allowed-fast:received': [piece: number];
  'connection:close': [reason: DisconnectReason, error?: Error];
};

/** BEP 10's default when a peer does not say `reqq` (what libtorrent assumes of others). */
const DEFAULT_REQQ = 250;
/**
 * The queue we advertise and honour, as deep as libtorrent's (2,000): some leechers (Transmission)
 * top their queue up to our `reqq` about once a second, so 250 held them at 4 MB/s.
 */
export const OUR_REQQ = 2000;
/** Messages up to this size are staged (everything but blocks, bitfields and extension messages). */
const MAX_STAGED_BYTES = 64;
/** Size of a staged buffer: 120 requests. Pooled by Buffer.allocUnsafe (below 4 KiB). */
const STAGE_BYTES = 2040;
const MAX_QUEUE_DEPTH = 500;
/** Seconds of download the request queue should cover (rate × this ÷ block size). */
const QUEUE_SECONDS = 3;
/** Recently cancelled, timed out or choke-dropped requests whose late answers we tolerate. */
const MAX_RECENTLY_CANCELLED = 1024;
/** Haves remembered while the piece count is unknown (magnet before metadata). */
const MAX_PENDING_HAVES = 1 << 20;
const MAX_ALLOWED_FAST = 256;
/** Suggestions kept per peer (BEP 6 suggest piece). */
const MAX_SUGGESTED = 32;
/** Encrypted writes up to a block message reuse buffers of this size; larger ones get their own. */
const ENCRYPTED_OUT_BYTES = 13 + BLOCK_SIZE; // a piece message: header, then a block
const MAX_SPARE_OUT = 128;

type PendingPieces = { kind: 'bits'; bytes: Uint8Array } | { kind: 'all' } | { kind: 'none' };

interface Outstanding {
  block: Block;
  sentAtMs: number;
}

/**
 * The reason every closed connection's signal carries: made once, because `abort()` without a reason
 * builds a DOMException with a stack trace per close (a measurable cost when thousands of peers come
 * and go, as in the simulator).
 */
const CLOSED = new DOMException('connection closed', 'AbortError');

export class PeerConnection extends TypedEmitter<PeerConnectionEvents> {
  /** We dialled: send our handshake and wait for theirs. */
  static outgoing(socket: Duplex, options: PeerConnectionOptions): PeerConnection {
    const c = new PeerConnection(socket, options);
    c.start();
    return c;
  }

  /** They dialled and the demux has read their handshake (see readHandshake); `rest` came after it. */
  static incoming(
    socket: Duplex,
    handshake: Handshake,
    rest: Uint8Array,
    options: PeerConnectionOptions,
  ): PeerConnection {
    const c = new PeerConnection(socket, options, { handshake, rest });
    c.start();
    return c;
  }

  readonly socket: Duplex;
  readonly direction: 'outgoing' | 'incoming';
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  readonly downloadMeter = new RateMeter();
  readonly uploadMeter = new RateMeter();
  /** Pieces the peer lets us request while it chokes us (BEP 6). */
  readonly allowedFastSet = new Set<number>();
  /** Pieces we let the peer request while we choke it. */
  readonly allowedFastGiven = new Set<number>();
  /** Pieces the peer suggested we download from it (BEP 6), the latest MAX_SUGGESTED. */
  readonly suggested = new Set<number>();

  #amChoking = true;
  #amInterested = false;
  #peerChoking = true;
  #peerInterested = false;
  #supportsFast = false;
  #supportsExtended = false;
  #remoteDht = false;
  #remoteV2 = false;
  #remotePeerId: Buffer | undefined;
  #remoteExtensions: ExtensionHandshake | undefined;
  #peerBitfield: Bitfield | undefined;
  #pieceCount: number | undefined;
  #rttMs: number | undefined;
  #closeReason: DisconnectReason | undefined;
  #closeError: Error | undefined;

  #o: PeerConnectionOptions;
  /** Closes the connection when the owner's signal aborts (moved by handOver). */
  #onOuterAbort: (() => void) | undefined;
  readonly #encrypt: Rc4 | undefined;
  readonly #decrypt: Rc4 | undefined;
  /** Written-out buffers of encrypted blocks, for the next ones (no allocation per block). */
  readonly #spareOut: Buffer[] = [];
  readonly #now: () => number;
  readonly #ac = new AbortController();
  #reader = new FrameReader();
  readonly #limits: WireLimits;
  readonly #ourReqq: number;
  readonly #ourExtIds = new Map<number, string>();
  readonly #incomingHandshake: { handshake: Handshake; rest: Uint8Array } | undefined;
  /** Bytes that arrived before the handshake (or initial payload) handed in was read; see start(). */
  #held: Buffer[] | undefined;
  #handshakeDone = false;
  #started = false;
  #corked = false;
  /** Small messages written this tick: they leave as one buffer at its end, or before a larger write. */
  #staged: Buffer | undefined;
  #stagedBytes = 0;
  #lastReceivedMs = 0;
  #lastSentMs = 0;
  /** Last time the peer did something useful: a request we accepted, or a block we asked for.
   * Keep-alives and chatter do not count: the swarm evicts peers idle by this measure. */
  #lastActivityMs = 0;
  #requestTimer: TimerHandle | undefined;
  readonly #clock: Clock;

  readonly #outstanding = new Map<number, Outstanding>();
  readonly #recentlyCancelled = new Set<number>();
  /** Requests the peer sent that we have not yet answered (served, rejected, cancelled, choked away). */
  readonly #incoming = new Map<number, Block>();
  #piecesKnown = false;
  #pending: PendingPieces | undefined;
  readonly #pendingHaves = new Set<number>();
  #unrequestedBlocks = 0;
  #invalidRequests = 0;
  #requestsWhileChoked = 0;

  private constructor(
    socket: Duplex,
    options: PeerConnectionOptions,
    incoming?: { handshake: Handshake; rest: Uint8Array },
  ) {
    super();
    if (options.infoHash.length !== 20) throw new RangeError('infoHash must be 20 bytes');
    if (options.peerId.length !== 20) throw new RangeError('peerId must be 20 bytes');
    this.socket = socket;
    this.#o = options;
    this.#encrypt = options.cipher?.encrypt;
    this.#decrypt = options.cipher?.decrypt;
    this.#clock = options.clock ?? realClock;
    const clock = this.#clock;
    this.#now = options.now ?? (options.clock ? () => clock.now() : Date.now);
    this.direction = incoming ? 'incoming' : 'outgoing';
    this.#incomingHandshake = incoming;
    // net.Socket and the transports' sockets (TransportSocket) say who is at the other end.
    const remote = socket as { remoteAddress?: unknown; remotePort?: unknown };
    this.remoteAddress = typeof remote.remoteAddress === 'string' ? remote.remoteAddress : undefined;
    this.remotePort = typeof remote.remotePort === 'number' ? remote.remotePort : undefined;
    this.#pieceCount = options.pieceCount;
    this.#limits = {
      pieceCount: options.pieceCount,
      ...(options.maxExtendedBytes !== undefined ? { maxExtendedBytes: options.maxExtendedBytes } : {}),
    };
    this.#ourReqq = options.extensions?.reqq ?? OUR_REQQ;
    for (const [name, id] of Object.entries(options.extensions?.m ?? {})) this.#ourExtIds.set(id, name);
  }

  // ---- state -------------------------------------------------------------------------------------

  get amChoking(): boolean {
    return this.#amChoking;
  }
  get amInterested(): boolean {
    return this.#amInterested;
  }
  get peerChoking(): boolean {
    return this.#peerChoking;
  }
  get peerInterested(): boolean {
    return this.#peerInterested;
  }
  /** Both sides set the Fast extension bit. */
  get supportsFast(): boolean {
    return this.#supportsFast;
  }
  /** The peer set the extension protocol bit (we always do). */
  get supportsExtended(): boolean {
    return this.#supportsExtended;
  }
  /** The peer set the DHT bit: it may send a `port` message. */
  get remoteSupportsDht(): boolean {
    return this.#remoteDht;
  }
  /** The peer set the v2 bit (BEP 52): it answers hash requests. */
  get remoteSupportsV2(): boolean {
    return this.#remoteV2;
  }
  get remotePeerId(): Buffer | undefined {
    return this.#remotePeerId;
  }
  get remoteExtensions(): ExtensionHandshake | undefined {
    return this.#remoteExtensions;
  }
  /** Client name from the extension handshake's `v`, else guessed from the peer id. */
  get remoteClient(): string | undefined {
    return (
      this.#remoteExtensions?.v ?? (this.#remotePeerId ? clientFromPeerId(this.#remotePeerId) : undefined)
    );
  }
  /** The peer's pieces, once both its first bitfield-like message and our piece count are known. */
  get peerBitfield(): Bitfield | undefined {
    return this.#peerBitfield;
  }
  get pieceCount(): number | undefined {
    return this.#pieceCount;
  }
  get handshakeDone(): boolean {
    return this.#handshakeDone;
  }
  /** The stream is RC4-encrypted (an MSE handshake chose RC4). */
  get encrypted(): boolean {
    return this.#encrypt !== undefined;
  }
  /** What carries the connection: uTP (BEP 29) or TCP. */
  get transport(): 'tcp' | 'utp' {
    return (this.socket as { transport?: unknown }).transport === 'utp' ? 'utp' : 'tcp';
  }
  /** `rc4`: encrypted stream; `handshake`: MSE handshake, then a plaintext stream; `none`: plaintext. */
  get encryption(): 'rc4' | 'handshake' | 'none' {
    return this.#encrypt !== undefined ? 'rc4' : this.#o.obfuscated ? 'handshake' : 'none';
  }
  /** Requests we sent that are not answered yet. */
  get outstandingRequests(): number {
    return this.#outstanding.size;
  }
  outstandingBlocks(): Block[] {
    return [...this.#outstanding.values()].map((o) => o.block);
  }
  /** Requests the peer sent that we have not answered yet. */
  get pendingIncomingRequests(): number {
    return this.#incoming.size;
  }
  /**
   * When the peer last did something useful (a request we accepted, a block we asked for), or when
   * the connection started: keep-alives and other chatter leave it where it is.
   */
  get lastActivityMs(): number {
    return this.#lastActivityMs;
  }
  /** Smoothed round-trip time of our requests, once a block has arrived. */
  get rttMs(): number | undefined {
    return this.#rttMs;
  }
  /** Bytes written to the socket but not yet sent: serve no more while this is large. */
  get writeBufferBytes(): number {
    return this.socket.writableLength + this.#stagedBytes;
  }
  get closed(): boolean {
    return this.#ac.signal.aborted;
  }
  get closeReason(): DisconnectReason | undefined {
    return this.#closeReason;
  }
  /** The error behind the close, when there was one (a ProtocolError, a socket error). */
  get closeError(): Error | undefined {
    return this.#closeError;
  }
  /** Aborted when the connection closes: children (reads for uploads, …) listen to it. */
  get signal(): AbortSignal {
    return this.#ac.signal;
  }

  /**
   * How many requests to keep outstanding: about 3 s of the measured download rate, at least 2,
   * at most the peer's `reqq` (250 when unknown) and 500.
   */
  desiredQueueDepth(): number {
    const cap = Math.min(MAX_QUEUE_DEPTH, this.#remoteExtensions?.reqq ?? DEFAULT_REQQ);
    const byRate = Math.ceil((this.downloadMeter.rate(this.#now()) * QUEUE_SECONDS) / BLOCK_SIZE);
    return Math.max(1, Math.min(cap, Math.max(2, byRate)));
  }

  // ---- lifecycle ---------------------------------------------------------------------------------

  /** Sends our handshake and starts reading. Called by the factories; idempotent. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    const signal = this.#ac.signal;
    const outer = this.#o.signal;
    if (outer?.aborted) {
      this.close(DisconnectReason.aborted);
      return;
    }
    const onOuterAbort = (): void => this.close(DisconnectReason.aborted);
    this.#onOuterAbort = onOuterAbort;
    outer?.addEventListener('abort', onOuterAbort, { once: true });

    const socket = this.socket;
    const onData = (chunk: Uint8Array): void => this.#onData(chunk);
    const onEnd = (): void => this.close(DisconnectReason.remoteClosed);
    const onError = (err: Error): void => this.close(DisconnectReason.socketError, err);
    const received = this.#o.received;
    const beginReading = (): void => {
      // A socket dialed with shared reads hands over bytes valid only until #onData returns.
      if (socket instanceof Socket && attachReadSink(socket, onData)) {
        this.#reader = new FrameReader({ transient: true });
      } else {
        socket.on('data', onData);
      }
    };
    // Bytes that came with an encryption handshake go first; reads wait until they have.
    if (received === undefined || received.length === 0) beginReading();
    socket.on('end', onEnd);
    socket.on('close', onEnd);
    socket.on('error', onError);
    // A late error after close must not become an uncaught 'error' event.
    socket.on('error', noop);

    const clock = this.#clock;
    const timers: TimerHandle[] = [];
    const now = this.#now();
    this.#lastReceivedMs = now;
    this.#lastSentMs = now;
    this.#lastActivityMs = now;
    if (socket instanceof Socket && socket.connecting) {
      const t = clock.setTimeout(
        () => this.close(DisconnectReason.connectTimeout),
        this.#o.connectTimeoutMs ?? 10_000,
      );
      socket.once('connect', () => {
        clock.clearTimeout(t);
        this.#lastReceivedMs = this.#now();
      });
      timers.push(t);
    }
    if (!this.#incomingHandshake) {
      timers.push(
        clock.setTimeout(() => {
          if (!this.#handshakeDone) this.close(DisconnectReason.handshakeTimeout);
        }, this.#o.handshakeTimeoutMs ?? 10_000),
      );
    }
    const idleMs = this.#o.idleTimeoutMs ?? 120_000;
    const keepAliveMs = idleMs / 2;
    const tick = clock.setInterval(() => this.#tick(idleMs, keepAliveMs), Math.max(10, keepAliveMs / 4));
    tick.unref();
    for (const t of timers) t.unref();

    signal.addEventListener(
      'abort',
      () => {
        for (const t of timers) clock.clearTimeout(t);
        clock.clearInterval(tick);
        if (this.#requestTimer) clock.clearTimeout(this.#requestTimer);
        this.#requestTimer = undefined;
        this.#o.signal?.removeEventListener('abort', onOuterAbort);
        socket.off('data', onData);
        socket.off('end', onEnd);
        socket.off('close', onEnd);
        socket.off('error', onError);
      },
      { once: true },
    );

    if (!this.#o.handshakeSent) this.#write(handshakeBytes(this.#o));

    const incoming = this.#incomingHandshake;
    if (incoming) {
      // Listeners are attached after the factory returns, maybe after an await: wait a macrotask.
      // Bytes that arrive meanwhile (the stream may flow already: a uTP packet, a second TCP
      // segment) wait behind the handshake and `rest`.
      this.#held = [];
      const immediate = setImmediate(() => {
        const held = this.#held ?? [];
        this.#held = undefined;
        if (signal.aborted) return;
        this.#onRemoteHandshake(incoming.handshake);
        if (signal.aborted) return;
        if (incoming.rest.length > 0) this.#onBytes(incoming.rest);
        for (const h of held) this.#onBytes(h);
        socket.resume();
      });
      signal.addEventListener('abort', () => clearImmediate(immediate), { once: true });
    } else if (received !== undefined && received.length > 0) {
      // As for incoming: the listeners are attached after the factory returns.
      this.#held = [];
      const immediate = setImmediate(() => {
        const held = this.#held ?? [];
        this.#held = undefined;
        if (signal.aborted) return;
        this.#onBytes(received);
        for (const h of held) if (!signal.aborted) this.#onBytes(h);
        if (signal.aborted) return;
        beginReading();
        socket.resume();
      });
      signal.addEventListener('abort', () => clearImmediate(immediate), { once: true });
    } else {
      socket.resume();
    }
  }

  /** Same as close(): long-lived objects have start()/stop(). */
  stop(): void {
    this.close(DisconnectReason.closedLocally);
  }

  /** Ends the connection. Emits `connection:close` once; later calls do nothing. */
  close(reason: DisconnectReason = DisconnectReason.closedLocally, error?: Error): void {
    if (this.#ac.signal.aborted) return;
    this.#closeReason = reason;
    this.#closeError = error;
    this.#ac.abort(CLOSED);
    // Best effort: what was written this tick (a reject, a last have) leaves before the socket goes.
    this.#flushStaged();
    if (this.#corked) {
      this.#corked = false;
      this.socket.uncork();
    }
    this.socket.destroy();
    if (error) this.emit('connection:close', reason, error);
    else this.emit('connection:close', reason);
  }

  /**
   * Gives a live connection to a new owner (a magnet's metadata fetcher hands its connections to the
   * torrent, so no peer is dialled twice): the new owner's `signal` closes it from now on, and its
   * `extensions` go out in a second extension handshake (BEP 10 lets a peer send updates). The old
   * owner removes its listeners first; the new one calls setPieceCount() once it listens.
   */
  handOver(to: { signal: AbortSignal; extensions: LocalExtensions }): void {
    if (this.closed) return;
    if (to.signal.aborted) {
      this.close(DisconnectReason.aborted);
      return;
    }
    const onAbort = this.#onOuterAbort;
    if (onAbort) {
      this.#o.signal?.removeEventListener('abort', onAbort);
      to.signal.addEventListener('abort', onAbort, { once: true });
    }
    this.#o = { ...this.#o, signal: to.signal, extensions: to.extensions };
    this.#ourExtIds.clear();
    for (const [name, id] of Object.entries(to.extensions.m ?? {})) this.#ourExtIds.set(id, name);
    if (this.#handshakeDone && this.#supportsExtended) this.#sendExtensionHandshake();
  }

  /** Learned the piece count (metadata arrived): validates and applies what the peer sent so far. */
  setPieceCount(pieceCount: number): void {
    if (!Number.isInteger(pieceCount) || pieceCount < 0) throw new RangeError(`piece count ${pieceCount}`);
    if (this.#pieceCount !== undefined) {
      if (this.#pieceCount === pieceCount) return;
      throw new RangeError(`piece count is already ${this.#pieceCount}`);
    }
    this.#pieceCount = pieceCount;
    this.#limits.pieceCount = pieceCount;
    if (this.closed) return;
    const pending = this.#pending;
    let bf: Bitfield;
    if (pending?.kind === 'bits') {
      if (pending.bytes.length !== Math.ceil(pieceCount / 8)) {
        this.close(DisconnectReason.bitfieldSize);
        return;
      }
      if (!Bitfield.spareBitsClear(pieceCount, pending.bytes)) {
        this.close(DisconnectReason.bitfieldSpareBits);
        return;
      }
      bf = new Bitfield(pieceCount, pending.bytes);
    } else if (pending?.kind === 'all') {
      bf = Bitfield.full(pieceCount);
    } else if (pending?.kind === 'none' || this.#pendingHaves.size > 0) {
      bf = new Bitfield(pieceCount);
    } else {
      return;
    }
    for (const i of this.#pendingHaves) {
      if (i >= pieceCount) {
        this.close(DisconnectReason.haveOutOfRange);
        return;
      }
      bf.set(i);
    }
    this.#pending = undefined;
    this.#pendingHaves.clear();
    this.#peerBitfield = bf;
    this.#fire('bitfield:received', bf);
  }

  // ---- sending -----------------------------------------------------------------------------------

  interested(): void {
    if (this.#amInterested) return;
    this.#amInterested = true;
    this.#send({ type: 'interested' });
  }

  notInterested(): void {
    if (!this.#amInterested) return;
    this.#amInterested = false;
    this.#send({ type: 'not-interested' });
  }

  /** Chokes the peer. Its pending requests are rejected (Fast) or forgotten (BEP 3 semantics). */
  choke(): void {
    if (this.#amChoking) return;
    this.#amChoking = true;
    this.#requestsWhileChoked = 0;
    this.#send({ type: 'choke' });
    for (const [key, b] of this.#incoming) {
      if (this.#supportsFast) {
        if (this.allowedFastGiven.has(b.piece)) continue;
        this.#send({ type: 'reject', ...b });
      }
      this.#incoming.delete(key);
    }
  }

  unchoke(): void {
    if (!this.#amChoking) return;
    this.#amChoking = false;
    this.#requestsWhileChoked = 0;
    this.#send({ type: 'unchoke' });
  }

  have(piece: number): void {
    this.#send({ type: 'have', piece });
  }

  /** Our pieces: have-all / have-none with the Fast extension when they fit; nothing when empty without it. */
  sendBitfield(bf: Bitfield): void {
    if (this.#supportsFast && bf.complete) this.#send({ type: 'have-all' });
    else if (this.#supportsFast && bf.empty) this.#send({ type: 'have-none' });
    else if (!bf.empty) this.#send({ type: 'bitfield', bits: bf.buffer });
  }

  /**
   * Asks the peer for a block. Returns false (and sends nothing) when the peer chokes us and the
   * piece is not allowed-fast, when the same block is already outstanding, or after close.
   */
  request(block: Block): boolean {
    const { piece, offset, length } = block;
    if (!Number.isInteger(piece) || !Number.isInteger(offset)) {
      throw new RangeError(`block ${piece}:${offset} is not a piece index and offset`);
    }
    if (!Number.isInteger(length) || length < 1 || length > BLOCK_SIZE) {
      throw new RangeError(`block length ${length} is not in 1..${BLOCK_SIZE}`);
    }
    if (this.#pieceCount !== undefined && (piece < 0 || piece >= this.#pieceCount)) {
      throw new RangeError(`piece ${piece} out of range`);
    }
    if (this.closed || !this.#handshakeDone) return false;
    if (this.#peerChoking && !this.allowedFastSet.has(piece)) return false;
    const key = blockKey(piece, offset);
    if (key < 0) throw new RangeError(`block ${piece}:${offset} is past what a torrent can hold`);
    if (this.#outstanding.has(key)) return false;
    // A block cancelled and asked again (a reader's pieces moved to the front of the pipeline) may
    // come twice, once per request: the key stays among the recently cancelled for the second copy.
    const now = this.#now();
    this.#outstanding.set(key, { block, sentAtMs: now });
    this.#sendBlockMessage(MessageId.request, piece, offset, length, now);
    this.#armRequestTimer();
    return true;
  }

  /** Withdraws an outstanding request (endgame). A late answer is tolerated. */
  cancel(block: Block): boolean {
    const key = blockKey(block.piece, block.offset);
    if (this.#outstandingAt(key, block.length) === undefined) return false;
    this.#outstanding.delete(key);
    this.#rememberCancelled(key);
    this.#sendBlockMessage(MessageId.cancel, block.piece, block.offset, block.length, this.#now());
    return true;
  }

  /**
   * Answers a request the peer made. Returns false when it is no longer pending (cancelled, or
   * choked away), in which case nothing is sent. The block goes out after its header without a copy;
   * `onWritten` runs once the socket no longer needs `data` (so its buffer may be reused).
   */
  sendPiece(piece: number, offset: number, data: Uint8Array, onWritten?: () => void): boolean {
    if (this.closed || !this.#takeIncoming(piece, offset, data.length)) return false;
    this.#write(encodePieceHeader(piece, offset, data.length), data, onWritten);
    this.uploadMeter.add(data.length, this.#now());
    return true;
  }

  /** Declines a request the peer made (sends `reject` with the Fast extension). */
  reject(block: Block): boolean {
    const had = this.#takeIncoming(block.piece, block.offset, block.length);
    if (this.#supportsFast)
      this.#send({ type: 'reject', piece: block.piece, offset: block.offset, length: block.length });
    return had;
  }

  /** Lets the peer request `piece` while we choke it (BEP 6); nothing without the Fast extension. */
  allowedFast(piece: number): void {
    if (!this.#supportsFast || this.allowedFastGiven.has(piece)) return;
    this.allowedFastGiven.add(piece);
    this.#send({ type: 'allowed-fast', piece });
  }

  suggest(piece: number): void {
    if (this.#supportsFast) this.#send({ type: 'suggest', piece });
  }

  sendPort(port: number): void {
    this.#send({ type: 'port', port });
  }

  /** BEP 52: asks for merkle hashes. */
  sendHashRequest(r: HashRequest): void {
    this.#send({ type: 'hash-request', ...r });
  }

  /** BEP 52: answers a hash request with its hashes (base layer, then uncles). */
  sendHashes(r: HashRequest, hashes: Uint8Array): void {
    this.#send({ type: 'hashes', ...r, hashes });
  }

  /** BEP 52: refuses a hash request. */
  sendHashReject(r: HashRequest): void {
    this.#send({ type: 'hash-reject', ...r });
  }

  /** Sends an extension message under the id the peer chose for `name`. False when it has none. */
  sendExtended(name: string, payload: Uint8Array): boolean {
    const id = this.#remoteExtensions?.m.get(name);
    if (this.closed || !this.#supportsExtended || id === undefined || id === 0) return false;
    this.#write(encodeExtendedHeader(id, payload.length), payload);
    return true;
  }

  #send(m: Message): boolean {
    return this.#write(encodeMessage(m));
  }

  /**
   * Writes within one tick are corked together and leave as one writev; messages of up to
   * MAX_STAGED_BYTES are first copied into one buffer (a refill of hundreds of requests is one
   * buffer, not hundreds). `onWritten`: called once the socket is done with `b` (written, or
   * dropped with the socket).
   */
  #write(a: Uint8Array, b?: Uint8Array, onWritten?: () => void): boolean {
    if (this.#ac.signal.aborted) {
      onWritten?.();
      return false;
    }
    this.#lastSentMs = this.#now();
    if (b === undefined && a.length <= MAX_STAGED_BYTES) {
      const at = this.#stageRoom(a.length); // first: it may replace #staged
      this.#staged!.set(a, at);
      return !this.socket.writableNeedDrain;
    }
    this.#holdForTick();
    this.#flushStaged();
    const socket = this.socket;
    const encrypt = this.#encrypt;
    if (encrypt !== undefined) {
      // The caller's bytes may be shared (a read-cache buffer, the info dict): encrypt a copy, into
      // a buffer of the connection's own that comes back once the socket has written it.
      const n = a.length + (b?.length ?? 0);
      const spare = n <= ENCRYPTED_OUT_BYTES ? this.#spareOut.pop() : undefined;
      const buf = spare ?? Buffer.allocUnsafe(Math.max(n, ENCRYPTED_OUT_BYTES));
      const out = buf.length === n ? buf : buf.subarray(0, n);
      encrypt.processInto(a, out);
      if (b !== undefined) encrypt.processInto(b, out.subarray(a.length));
      onWritten?.();
      if (buf.length !== ENCRYPTED_OUT_BYTES) return socket.write(out);
      return socket.write(out, () => {
        if (this.#spareOut.length < MAX_SPARE_OUT) this.#spareOut.push(buf);
      });
    }
    const ok = socket.write(a);
    return b ? socket.write(b, onWritten) : ok;
  }

  /** A request, cancel or reject, written straight into the staged buffer. */
  #sendBlockMessage(id: number, piece: number, offset: number, length: number, now: number): void {
    if (this.#ac.signal.aborted) return;
    this.#lastSentMs = now;
    const at = this.#stageRoom(BLOCK_MESSAGE_BYTES); // first: it may replace #staged
    writeBlockMessage(this.#staged!, at, id, piece, offset, length);
  }

  /** Reserves `n` bytes in the staged buffer (#staged is then set) and returns where they start. */
  #stageRoom(n: number): number {
    if (this.#staged !== undefined && this.#stagedBytes + n > this.#staged.length) this.#flushStaged();
    if (this.#staged === undefined) {
      this.#holdForTick();
      this.#staged = Buffer.allocUnsafe(STAGE_BYTES);
      this.#stagedBytes = 0;
    }
    const at = this.#stagedBytes;
    this.#stagedBytes += n;
    return at;
  }

  #flushStaged(): void {
    const staged = this.#staged;
    if (staged === undefined) return;
    const bytes = this.#stagedBytes;
    this.#staged = undefined;
    this.#stagedBytes = 0;
    if (this.socket.destroyed) return;
    const chunk = staged.subarray(0, bytes);
    this.#encrypt?.process(chunk);
    this.socket.write(chunk);
  }

  /** Corks the socket until the end of this tick, when the staged messages go too. */
  #holdForTick(): void {
    if (this.#corked) return;
    this.#corked = true;
    const socket = this.socket;
    socket.cork();
    process.nextTick(() => {
      this.#flushStaged();
      this.#corked = false;
      socket.uncork();
    });
  }

  // ---- receiving ---------------------------------------------------------------------------------

  #onData(chunk: Uint8Array): void {
    // Ours to change: the shared read buffer, or a chunk the socket handed over.
    if (this.#decrypt !== undefined) this.#decrypt.process(chunk);
    this.#onBytes(chunk);
  }

  /** Stream bytes in the clear. */
  #onBytes(chunk: Uint8Array): void {
    const signal = this.#ac.signal;
    if (signal.aborted) return;
    if (this.#held !== undefined) {
      // Copied: a shared-read chunk is valid only during its callback.
      this.#held.push(Buffer.from(chunk));
      return;
    }
    this.#lastReceivedMs = this.#now();
    this.#reader.push(chunk);
    try {
      if (!this.#handshakeDone) {
        const h = this.#reader.nextHandshake();
        if (!h) return;
        this.#onRemoteHandshake(h);
      }
      while (!signal.aborted) {
        const m = this.#reader.nextMessage(this.#limits);
        if (!m) break;
        this.#onMessage(m);
      }
    } catch (err) {
      if (err instanceof ProtocolError) this.close(err.reason, err);
      else this.close(DisconnectReason.internalError, err instanceof Error ? err : new Error(String(err)));
    } finally {
      this.#reader.retain();
    }
  }

  #onRemoteHandshake(h: Handshake): void {
    if (Buffer.compare(h.infoHash, this.#o.infoHash) !== 0) {
      throw new ProtocolError(DisconnectReason.infoHashMismatch, 'the peer answered with another info hash');
    }
    const features = featuresOf(h.reserved);
    this.#remotePeerId = Buffer.from(h.peerId);
    this.#supportsFast = features.fast && (this.#o.fast ?? true);
    this.#supportsExtended = features.extended;
    this.#remoteDht = features.dht;
    this.#remoteV2 = features.v2;
    this.#handshakeDone = true;
    if (this.#remotePeerId.equals(this.#o.peerId)) {
      this.close(DisconnectReason.selfConnection);
      return;
    }
    this.#fire('handshake:done', h);
    // After the listeners ran: a bitfield they sent goes first, as BEP 3 wants.
    if (this.#supportsExtended) this.#sendExtensionHandshake();
  }

  #sendExtensionHandshake(): void {
    const e = this.#o.extensions ?? {};
    const yourip = this.remoteAddress ? ipLiteralBytes(this.remoteAddress) : undefined;
    const payload = encodeExtensionHandshake({
      m: e.m ?? {},
      v: e.v ?? `bitswarm ${VERSION}`,
      reqq: this.#ourReqq,
      ...(e.p !== undefined ? { p: e.p } : {}),
      ...(e.metadataSize !== undefined ? { metadataSize: e.metadataSize } : {}),
      ...(yourip ? { yourip } : {}),
    });
    this.#write(encodeExtendedHeader(EXTENDED_HANDSHAKE_ID, payload.length), payload);
  }

  #requireFast(type: string): void {
    if (!this.#supportsFast) {
      throw new ProtocolError(DisconnectReason.fastNotNegotiated, `${type} without the Fast extension`);
    }
  }

  #onMessage(m: Message): void {
    switch (m.type) {
      case 'keep-alive':
      case 'unknown':
        return;
      case 'choke':
        this.#onChoke();
        return;
      case 'unchoke':
        if (!this.#peerChoking) return;
        this.#peerChoking = false;
        this.#fire('choke:changed', false);
        return;
      case 'interested':
      case 'not-interested': {
        const v = m.type === 'interested';
        if (this.#peerInterested === v) return;
        this.#peerInterested = v;
        this.#fire('interest:changed', v);
        return;
      }
      case 'have':
        this.#onHave(m.piece);
        return;
      case 'bitfield':
        this.#onInitialPieces({ kind: 'bits', bytes: m.bits });
        return;
      case 'have-all':
        this.#requireFast(m.type);
        this.#onInitialPieces({ kind: 'all' });
        return;
      case 'have-none':
        this.#requireFast(m.type);
        this.#onInitialPieces({ kind: 'none' });
        return;
      case 'request':
        this.#onRequest({ piece: m.piece, offset: m.offset, length: m.length });
        return;
      case 'cancel': {
        const block = { piece: m.piece, offset: m.offset, length: m.length };
        if (this.#takeIncoming(m.piece, m.offset, m.length)) this.#fire('cancel:received', block);
        return;
      }
      case 'piece':
        this.#onBlock(m.piece, m.offset, m.data);
        return;
      case 'reject':
        this.#requireFast(m.type);
        this.#onReject({ piece: m.piece, offset: m.offset, length: m.length });
        return;
      case 'suggest':
        this.#requireFast(m.type);
        if (this.#pieceCount !== undefined && m.piece >= this.#pieceCount) return;
        // The latest suggestions count; a flood of them holds no more than MAX_SUGGESTED.
        this.suggested.delete(m.piece);
        this.suggested.add(m.piece);
        if (this.suggested.size > MAX_SUGGESTED) this.suggested.delete(this.suggested.values().next().value!);
        this.#fire('suggest:received', m.piece);
        return;
      case 'allowed-fast':
        this.#requireFast(m.type);
        if (this.#pieceCount !== undefined && m.piece >= this.#pieceCount) return;
        if (this.allowedFastSet.size >= MAX_ALLOWED_FAST && !this.allowedFastSet.has(m.piece)) return;
        this.allowedFastSet.add(m.piece);
        this.#fire('allowed-fast:received', m.piece);
        return;
      case 'port':
        if (m.port !== 0) this.#fire('port:received', m.port);
        return;
      case 'hash-request':
        this.#fire('hash-request:received', hashRequestOf(m));
        return;
      case 'hash-reject':
        this.#fire('hash-reject:received', hashRequestOf(m));
        return;
      case 'hashes':
        this.#fire('hashes:received', hashRequestOf(m), Uint8Array.from(m.hashes));
        return;
      case 'extended':
        this.#onExtended(m.id, m.payload);
        return;
    }
  }

  #onChoke(): void {
    if (this.#peerChoking) return;
    this.#peerChoking = true;
    // Without the Fast extension a choke silently discards our requests; with it, rejects follow.
    if (!this.#supportsFast) {
      const dropped = [...this.#outstanding];
      this.#outstanding.clear();
      for (const [key, o] of dropped) {
        this.#rememberCancelled(key);
        this.#fire('request:dropped', o.block, 'choke');
      }
    }
    this.#fire('choke:changed', true);
  }

  #onHave(piece: number): void {
    const n = this.#pieceCount;
    if (n !== undefined) {
      if (piece >= n)
        throw new ProtocolError(DisconnectReason.haveOutOfRange, `have ${piece} of ${n} pieces`);
      if (!this.#piecesKnown) {
        // No bitfield came: the peer started with nothing (BEP 3 lets it omit the message).
        this.#piecesKnown = true;
        this.#peerBitfield = new Bitfield(n);
        this.#fire('bitfield:received', this.#peerBitfield);
      }
      // A repeated have changes nothing; announcing it again would count the piece twice.
      if (this.#peerBitfield?.get(piece)) return;
      this.#peerBitfield?.set(piece);
    } else {
      this.#piecesKnown = true;
      if (this.#pendingHaves.size >= MAX_PENDING_HAVES && !this.#pendingHaves.has(piece)) {
        throw new ProtocolError(
          DisconnectReason.haveOutOfRange,
          'too many haves before the piece count is known',
        );
      }
      this.#pendingHaves.add(piece);
    }
    this.#fire('have:received', piece);
  }

  #onInitialPieces(p: PendingPieces): void {
    if (this.#piecesKnown) {
      // A late bitfield (aria2 sends one after have-none once it has pieces) only adds pieces:
      // it is taken as the haves it implies, so availability counts stay consistent.
      const known = this.#peerBitfield;
      if (!known || p.kind === 'none') return;
      const later = p.kind === 'bits' ? new Bitfield(known.length, p.bytes) : Bitfield.full(known.length);
      for (let i = 0; i < known.length; i++) {
        if (later.get(i) && !known.get(i)) {
          known.set(i);
          this.#fire('have:received', i);
        }
      }
      return;
    }
    this.#piecesKnown = true;
    const n = this.#pieceCount;
    if (n === undefined) {
      // Keep a copy: the stream bytes may be large to hold for the whole metadata exchange.
      this.#pending = p.kind === 'bits' ? { kind: 'bits', bytes: Uint8Array.from(p.bytes) } : p;
      return;
    }
    // The codec already checked a bitfield's size and spare bits against the piece count.
    const bf =
      p.kind === 'bits' ? new Bitfield(n, p.bytes) : p.kind === 'all' ? Bitfield.full(n) : new Bitfield(n);
    this.#peerBitfield = bf;
    this.#fire('bitfield:received', bf);
  }

  #onRequest(block: Block): void {
    const n = this.#pieceCount;
    const key = blockKey(block.piece, block.offset);
    const valid =
      block.length >= 1 &&
      block.length <= BLOCK_SIZE &&
      n !== undefined &&
      block.piece < n &&
      block.offset < MAX_PIECE_LENGTH &&
      key >= 0;
    if (!valid) {
      if (this.#supportsFast) this.#send({ type: 'reject', ...block });
      if (++this.#invalidRequests >= (this.#o.maxInvalidRequests ?? 10)) {
        this.close(DisconnectReason.invalidRequests);
      }
      return;
    }
    const floodLimit = 2 * this.#ourReqq;
    if (this.#amChoking && !this.allowedFastGiven.has(block.piece)) {
      // BEP 3: requests while choked are ignored; with Fast they are rejected. Many of them is abuse.
      if (this.#supportsFast) this.#send({ type: 'reject', ...block });
      if (++this.#requestsWhileChoked > floodLimit) this.close(DisconnectReason.requestFlood);
      return;
    }
    const pending = this.#incoming.get(key);
    if (pending !== undefined) {
      // Asked twice: nothing to do. Another length at the same place: declined (one per place).
      if (pending.length !== block.length && this.#supportsFast) this.#send({ type: 'reject', ...block });
      return;
    }
    if (this.#incoming.size >= floodLimit) {
      this.close(DisconnectReason.requestFlood);
      return;
    }
    this.#incoming.set(key, block);
    this.#lastActivityMs = this.#lastReceivedMs;
    this.#fire('request:received', block);
  }

  #onBlock(piece: number, offset: number, data: Uint8Array): void {
    const key = blockKey(piece, offset);
    const o = this.#outstandingAt(key, data.length);
    const now = this.#now();
    if (o !== undefined) {
      this.#outstanding.delete(key);
      const sample = now - o.sentAtMs;
      // TCP-style smoothing: one slow block should not swing the estimate.
      this.#rttMs = this.#rttMs === undefined ? sample : this.#rttMs * 0.875 + sample * 0.125;
    } else if (this.#recentlyCancelled.delete(key)) {
      // A late answer to something we cancelled or gave up on: still good data.
    } else {
      if (++this.#unrequestedBlocks >= (this.#o.maxUnrequestedBlocks ?? 10)) {
        this.close(DisconnectReason.unrequestedBlocks);
      }
      return;
    }
    this.#lastActivityMs = now;
    this.downloadMeter.add(data.length, now);
    this.#fire('block:received', piece, offset, data);
  }

  #onReject(block: Block): void {
    const key = blockKey(block.piece, block.offset);
    const o = this.#outstandingAt(key, block.length);
    if (o !== undefined) {
      this.#outstanding.delete(key);
      this.#fire('request:dropped', o.block, 'reject');
    } else if (!this.#recentlyCancelled.delete(key)) {
      // A reject for something never asked: as bad as an unrequested block.
      if (++this.#unrequestedBlocks >= (this.#o.maxUnrequestedBlocks ?? 10)) {
        this.close(DisconnectReason.unrequestedBlocks);
      }
    }
  }

  #onExtended(id: number, payload: Uint8Array): void {
    if (!this.#supportsExtended) {
      throw new ProtocolError(
        DisconnectReason.extendedNotNegotiated,
        'extended message without the extension bit',
      );
    }
    if (id === EXTENDED_HANDSHAKE_ID) {
      const h = decodeExtensionHandshake(payload);
      this.#remoteExtensions = mergeExtensionHandshake(this.#remoteExtensions, h);
      this.#fire('extended:handshake', this.#remoteExtensions);
      return;
    }
    this.#fire('extended:message', this.#ourExtIds.get(id), id, payload);
  }

  // ---- timers ------------------------------------------------------------------------------------

  #tick(idleMs: number, keepAliveMs: number): void {
    const now = this.#now();
    if (!this.#handshakeDone) return;
    if (now - this.#lastReceivedMs >= idleMs) {
      this.close(DisconnectReason.idleTimeout);
      return;
    }
    if (now - this.#lastSentMs >= keepAliveMs) this.#send({ type: 'keep-alive' });
  }

  /** One timer for the oldest outstanding request (the map keeps send order). */
  #armRequestTimer(): void {
    if (this.#requestTimer || this.#outstanding.size === 0 || this.closed) return;
    const oldest = this.#outstanding.values().next().value as Outstanding;
    const timeoutMs = this.#o.requestTimeoutMs ?? 30_000;
    const delayMs = Math.max(0, oldest.sentAtMs + timeoutMs - this.#now());
    this.#requestTimer = this.#clock.setTimeout(() => {
      this.#requestTimer = undefined;
      this.#expireRequests(timeoutMs);
      this.#armRequestTimer();
    }, delayMs);
    this.#requestTimer.unref();
  }

  #expireRequests(timeoutMs: number): void {
    const now = this.#now();
    const expired: Outstanding[] = [];
    for (const [key, o] of this.#outstanding) {
      if (now - o.sentAtMs < timeoutMs) break;
      this.#outstanding.delete(key);
      this.#rememberCancelled(key);
      expired.push(o);
    }
    for (const o of expired) {
      // Tell the peer so it does not spend upload on it; a late block is still tolerated.
      this.#send({ type: 'cancel', ...o.block });
      this.#fire('request:timeout', o.block);
    }
  }

  /**
   * Our request at `key`, when it asked for `length` bytes (a key names a place, not a length). A
   * key that has one may also be among the recently cancelled (asked again after a cancel): the
   * first copy answers the request, the second is a late answer.
   */
  #outstandingAt(key: number, length: number): Outstanding | undefined {
    const o = this.#outstanding.get(key);
    return o?.block.length === length ? o : undefined;
  }

  /** Forgets the peer's pending request for exactly this block; false when there is none. */
  #takeIncoming(piece: number, offset: number, length: number): boolean {
    const key = blockKey(piece, offset);
    return this.#incoming.get(key)?.length === length && this.#incoming.delete(key);
  }

  #rememberCancelled(key: number): void {
    this.#recentlyCancelled.add(key);
    if (this.#recentlyCancelled.size > MAX_RECENTLY_CANCELLED) {
      const oldest = this.#recentlyCancelled.values().next().value as number;
      this.#recentlyCancelled.delete(oldest);
    }
  }

  /** Emits unless closed: the single place that keeps late callbacks quiet. */
  #fire<K extends keyof PeerConnectionEvents & string>(name: K, ...args: PeerConnectionEvents[K]): void {
    if (this.#ac.signal.aborted) return;
    this.emit(name, ...args);
  }
}

function noop(): void {}

/** The request fields of a hash message, the root copied out of the read buffer. */
function hashRequestOf(m: HashRequest): HashRequest {
  return {
    piecesRoot: Uint8Array.from(m.piecesRoot),
    baseLayer: m.baseLayer,
    index: m.index,
    length: m.length,
    proofLayers: m.proofLayers,
  };
}

/** Our BitTorrent handshake for these options (also sent inside an MSE handshake's IA). */
export function handshakeBytes(o: PeerConnectionOptions): Buffer {
  return encodeHandshake({
    reserved: makeReserved({ extended: true, fast: o.fast ?? true, dht: o.dht ?? false, v2: o.v2 ?? false }),
    infoHash: o.infoHash,
    peerId: o.peerId,
  });
}
