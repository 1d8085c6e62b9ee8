// Many uTP connections on one UDP socket: packets are routed by (address, port, connection id).
// The session owns the socket and hands every uTP-looking datagram to handlePacket; packets leave
// through the `send` callback. Outgoing connections come from connect() (a Transport); incoming
// ones are accepted from a SYN, up to `maxConnections`, and handed to `onIncoming`.
//
// What a stranger can cost: a packet that is not a valid uTP packet, or that names no connection,
// is counted and dropped (no reply, no state). A SYN creates a connection only while fewer than
// `maxConnections` exist; each connection's receive buffer is bounded, and so is their sum.

import { formatAddress, type PeerAddress } from '../protocol/address.js';
import { decodeUtpPacket, UtpPacketError, UtpType } from '../protocol/utp.js';
import { setNewest } from '../util/bounded.js';
import { type Clock, realClock, type TimerHandle } from '../util/clock.js';
import { DialError, type DialOptions } from './dial.js';
import type { Transport } from './transport.js';
import {
  DEFAULT_UTP_LIMITS,
  type UtpBudget,
  type UtpCounter,
  UtpError,
  type UtpLimits,
  UtpSocket,
} from './utp-socket.js';

export interface UtpManagerOptions {
  /** Sends one datagram made of `chunks` to host:port. */
  send: (chunks: readonly Uint8Array[], host: string, port: number) => void;
  clock?: Clock;
  /** Microseconds for packet timestamps (default: a monotonic clock, or the Clock's ms × 1000 when one is given). */
  nowUs?: () => number;
  /** Runs a function after the packets already received (default setImmediate). */
  defer?: (fn: () => void) => void;
  /** 16 random bits (connection ids, sequence numbers). */
  random16?: () => number;
  /** Incoming connections; none are accepted without it. */
  onIncoming?: (socket: UtpSocket) => void;
  /** Most connections, in and out (default 500). */
  maxConnections?: number;
  /** Sum of all receive buffers (default 64 MiB). */
  maxBufferedBytes?: number;
  limits?: Partial<UtpLimits>;
  /** Tick period of the timers (default 100 ms). */
  tickMs?: number;
  /**
   * Largest datagram path MTU discovery tries (default: a 1,500-byte Ethernet MTU less the IP and
   * UDP headers, as libtorrent assumes); MTU_FLOOR_BYTES turns discovery off.
   */
  maxPacketBytes?: number;
}

/** Path MTU discovery's default ceiling: 1,500 less the IPv4 (20) or IPv6 (40) and UDP (8) headers. */
const MAX_PACKET_V4 = 1472;
const MAX_PACKET_V6 = 1452;
/** Hosts remembered whose path dropped a probe. */
const MAX_PATH_MTU_HOSTS = 1024;

export type UtpStats = Record<
  UtpCounter | 'notUtp' | 'unknownConnection' | 'synRefused' | 'accepted' | 'dialed',
  number
>;

export class UtpManager implements Transport {
  readonly #o: UtpManagerOptions;
  readonly #clock: Clock;
  readonly #nowUs: () => number;
  readonly #defer: (fn: () => void) => void;
  readonly #random16: () => number;
  readonly #limits: UtpLimits;
  readonly #conns = new Map<string, UtpSocket>();
  readonly #budget: UtpBudget;
  /** Hosts whose path dropped a probe: their connections send no probes (a bounded, recent record). */
  readonly #pathMtu = new Map<string, number>();
  readonly stats: UtpStats = {
    notUtp: 0,
    invalid: 0,
    unknownConnection: 0,
    synRefused: 0,
    accepted: 0,
    dialed: 0,
    ackUnsent: 0,
    dropped: 0,
    timeout: 0,
    reset: 0,
    retransmit: 0,
  };
  #timer: TimerHandle | undefined;
  #stopped = false;

  constructor(o: UtpManagerOptions) {
    this.#o = o;
    this.#clock = o.clock ?? realClock;
    const clock = this.#clock;
    this.#nowUs = o.nowUs ?? (clock.nowUs ? () => clock.nowUs!() : () => clock.now() * 1000);
    this.#defer = o.defer ?? ((fn) => setImmediate(fn));
    this.#random16 = o.random16 ?? (() => Math.floor(Math.random() * 0x10000));
    this.#limits = { ...DEFAULT_UTP_LIMITS, ...o.limits };
    this.#budget = { used: 0, max: o.maxBufferedBytes ?? 64 * 1024 * 1024 };
  }

  get connectionCount(): number {
    return this.#conns.size;
  }

  /** Bytes held in receive buffers over all connections. */
  get bufferedBytes(): number {
    return this.#budget.used;
  }

  start(): void {
    if (this.#timer !== undefined || this.#stopped) return;
    this.#timer = this.#clock.setInterval(() => this.#tick(), this.#o.tickMs ?? 100);
    this.#timer.unref();
  }

  /** Closes every connection at once (no linger) and stops the timer. Idempotent. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#clock.clearInterval(this.#timer);
    this.#timer = undefined;
    for (const c of [...this.#conns.values()]) {
      c.sendReset();
      c.destroy();
    }
    this.#conns.clear();
  }

  #tick(): void {
    const now = this.#clock.now();
    for (const c of [...this.#conns.values()]) c.tick(now);
  }

  /** A datagram from host:port (IPv4 addresses unmapped) that looked like uTP. */
  handlePacket(msg: Uint8Array, from: { address: string; port: number }): void {
    if (this.#stopped) return;
    let p: ReturnType<typeof decodeUtpPacket>;
    try {
      p = decodeUtpPacket(msg);
    } catch (err) {
      if (!(err instanceof UtpPacketError)) throw err;
      this.stats.notUtp++;
      return;
    }
    if (p.type === UtpType.syn) {
      const key = keyOf(from.address, from.port, (p.connectionId + 1) & 0xffff);
      const existing = this.#conns.get(key);
      if (existing) {
        existing.onPacket(p);
        return;
      }
      const onIncoming = this.#o.onIncoming;
      if (onIncoming === undefined || this.#conns.size >= (this.#o.maxConnections ?? 500)) {
        this.stats.synRefused++;
        return;
      }
      const socket = this.#make(from.address, from.port, (p.connectionId + 1) & 0xffff, p.connectionId, key);
      this.stats.accepted++;
      socket.acceptSyn(p);
      onIncoming(socket);
      return;
    }
    const c = this.#conns.get(keyOf(from.address, from.port, p.connectionId));
    if (c === undefined) {
      this.stats.unknownConnection++;
      return;
    }
    c.onPacket(p);
  }

  #make(host: string, port: number, recvId: number, sendId: number, key: string): UtpSocket {
    const socket: UtpSocket = new UtpSocket({
      clock: this.#clock,
      nowUs: this.#nowUs,
      send: (chunks) => this.#o.send(chunks, host, port),
      defer: this.#defer,
      remoteAddress: host,
      remotePort: port,
      recvId,
      sendId,
      seqNr: this.#random16(),
      limits: this.#limits,
      budget: this.#budget,
      onGone: () => {
        if (this.#conns.get(key) === socket) this.#conns.delete(key);
      },
      count: (what) => this.stats[what]++,
      maxPacketBytes:
        this.#pathMtu.get(host) ??
        this.#o.maxPacketBytes ??
        (host.includes(':') ? MAX_PACKET_V6 : MAX_PACKET_V4),
      onPathMtu: (bytes) => setNewest(this.#pathMtu, host, bytes, MAX_PATH_MTU_HOSTS),
    });
    socket.on('error', () => undefined);
    this.#conns.set(key, socket);
    this.start();
    return socket;
  }

  /** Dials addr over uTP; resolves once the peer acked our SYN. Rejects with a DialError. */
  connect(addr: PeerAddress, options: DialOptions = {}): Promise<UtpSocket> {
    const what = formatAddress(addr);
    if (this.#stopped) return Promise.reject(new DialError(`${what}: uTP is stopped`));
    if (this.#conns.size >= (this.#o.maxConnections ?? 500))
      return Promise.reject(new DialError(`${what}: too many uTP connections`));
    let recvId = this.#random16();
    for (let i = 0; this.#conns.has(keyOf(addr.host, addr.port, recvId)); i++) {
      if (i > 64) return Promise.reject(new DialError(`${what}: no free uTP connection id`));
      recvId = this.#random16();
    }
    this.stats.dialed++;
    const socket = this.#make(
      addr.host,
      addr.port,
      recvId,
      (recvId + 1) & 0xffff,
      keyOf(addr.host, addr.port, recvId),
    );
    return new Promise((resolve, reject) => {
      let settled = false;
      const timer = this.#clock.setTimeout(
        () => finish(new UtpError('uTP connect timed out', 'ETIMEDOUT')),
        options.timeoutMs ?? 10_000,
      );
      const onAbort = (): void => finish(new UtpError('aborted', 'ECONNABORTED'));
      const finish = (err?: UtpError): void => {
        if (settled) return;
        settled = true;
        this.#clock.clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        if (err === undefined) resolve(socket);
        else {
          socket.destroy();
          reject(new DialError(`${what}: ${err.message}`, { cause: err }));
        }
      };
      if (options.signal?.aborted) return onAbort();
      options.signal?.addEventListener('abort', onAbort, { once: true });
      socket.startConnect((err) => finish(err));
    });
  }
}

function keyOf(host: string, port: number, id: number): string {
  return `${host}|${port}|${id}`;
}
