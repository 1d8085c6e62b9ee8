// The simulator's network: hosts with a link each (upload and download rate, one-way latency to the
// core, loss, send queue), TCP-like connections whose sockets are Duplex streams, NATs that drop
// unsolicited inbound connections, partitions, and hosts that go offline. Everything happens in the
// SimClock's virtual time. Connections are reliable and in order, as TCP is: a lost segment is
// modelled as a retransmission delay, never as missing bytes.
//
// A chunk written on a socket waits for its host's uplink (one FIFO for all its connections), crosses
// the core (both hosts' latencies), then waits for the receiving host's downlink. The write callback
// runs at once while the host's send queue holds less than `queueBytes`, else once it has drained that
// far: the sender sees backpressure as from a kernel socket buffer.
//
// Limits of the model: the uplink is one FIFO for all of a host's connections, and a chunk takes its
// place in it when written. A real kernel queues per socket and throws away what a connection had not
// yet sent when the other end resets it; here those bytes still use the uplink, and arrive to a closed
// socket (`bytesDropped`), so that figure is an upper bound. Connections are set up in one round trip
// with no SYN loss, and UDP (the DHT scenario) is delivered after the two latencies, without rates.

import { Duplex } from 'node:stream';
import { DialError, type DialOptions } from '../../src/peer/dial.js';
import type { Transport, TransportSocket } from '../../src/peer/transport.js';
import { formatAddress, type PeerAddress } from '../../src/protocol/address.js';
import type { SimClock } from './sim-clock.js';

export interface LinkSpec {
  upBytesPerSec: number;
  downBytesPerSec: number;
  /** One way, from the host to the core of the network. */
  latencyMs: number;
  /** Share of 1460-byte segments lost (each loss delays its chunk by a retransmission timeout). */
  loss?: number;
  /** Bytes the uplink queues before writes wait (a socket send buffer). Default 64 KiB. */
  queueBytes?: number;
}

const SEGMENT_BYTES = 1460;
const MIN_RTO_MS = 200;
/** A delivery due sooner than this after its arrival happens at the arrival (see send). */
const DELIVER_NOW_MS = 1;

export class SimHost {
  readonly listeners = new Map<number, (socket: SimSocket) => void>();
  readonly sockets = new Set<SimSocket>();
  online = true;
  /** Inbound connections are dropped unless the host dialed out (a NAT without port mapping). */
  nat: boolean;
  group = 0;
  upFreeAtMs = 0;
  downFreeAtMs = 0;
  nextPort = 40_000;
  sentBytes = 0;
  receivedBytes = 0;
  constructor(
    readonly ip: string,
    public link: LinkSpec,
    nat: boolean,
  ) {
    this.nat = nat;
  }
}

export class SimSocket extends Duplex implements TransportSocket {
  peer: SimSocket | undefined;
  /** Sending across a partition broke this connection: nothing more gets through, either way. */
  broken = false;
  #lastArrivalMs = 0;
  /** Chunks sent this way that arrived and wait for the receiving downlink, and when the last is due. */
  waiting = 0;
  lastDeliveryMs = 0;
  #finSent = false;
  constructor(
    readonly net: SimNetwork,
    readonly host: SimHost,
    readonly localPort: number,
    readonly remoteAddress: string,
    readonly remotePort: number,
  ) {
    super({ allowHalfOpen: false });
    host.sockets.add(this);
  }

  get localAddress(): string {
    return this.host.ip;
  }

  override _read(): void {}

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.net.send(this, chunk, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#sendFin();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.host.sockets.delete(this);
    this.#sendFin();
    callback(error);
  }

  #sendFin(): void {
    if (this.#finSent) return;
    this.#finSent = true;
    this.net.send(this, undefined, () => undefined);
  }

  /** When the last chunk sent this way arrives at the other host: later ones arrive after it. */
  inOrder(arrivalMs: number): number {
    this.#lastArrivalMs = Math.max(this.#lastArrivalMs, arrivalMs);
    return this.#lastArrivalMs;
  }
}

export class SimNetwork {
  readonly #clock: SimClock;
  readonly #random: () => number;
  readonly #hosts = new Map<string, SimHost>();
  /** Bytes written on sockets and sent into the network. */
  bytesCarried = 0;
  /**
   * Of those, bytes that never arrived: the receiving socket had closed, or the connection broke
   * (a partition, a host that left) while they were on their way.
   */
  bytesDropped = 0;

  constructor(clock: SimClock, random: () => number) {
    this.#clock = clock;
    this.#random = random;
  }

  addHost(ip: string, link: LinkSpec, options: { nat?: boolean } = {}): SimHost {
    if (this.#hosts.has(ip)) throw new Error(`host ${ip} exists`);
    const h = new SimHost(ip, link, options.nat ?? false);
    this.#hosts.set(ip, h);
    return h;
  }

  host(ip: string): SimHost | undefined {
    return this.#hosts.get(ip);
  }

  /** Hosts in different groups cannot reach each other; group 0 for everyone heals it. */
  setGroup(host: SimHost, group: number): void {
    host.group = group;
  }

  /**
   * A host leaving: its sockets vanish without a word (the other ends find out by their timeouts),
   * and nothing reaches it until it comes back.
   */
  setOnline(host: SimHost, online: boolean): void {
    host.online = online;
    if (online) return;
    for (const s of [...host.sockets]) {
      s.broken = true;
      if (s.peer) s.peer.broken = true;
      s.destroy();
    }
  }

  /** Accepts connections on `port` of `host`. */
  listen(host: SimHost, port: number, onConnection: (socket: SimSocket) => void): void {
    host.listeners.set(port, onConnection);
  }

  #reachable(a: SimHost, b: SimHost): boolean {
    return a.online && b.online && a.group === b.group;
  }

  #rttMs(a: SimHost, b: SimHost): number {
    return 2 * (a.link.latencyMs + b.link.latencyMs);
  }

  /** Connections that `host` dials. */
  transport(host: SimHost): Transport {
    return { connect: (addr, options) => this.#connect(host, addr, options) };
  }

  #connect(from: SimHost, addr: PeerAddress, options: DialOptions): Promise<TransportSocket> {
    const clock = this.#clock;
    const name = formatAddress(addr);
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (code: string, message: string): void => {
        if (settled) return;
        settled = true;
        clock.clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        const cause = Object.assign(new Error(message), { code });
        reject(new DialError(`${name}: ${message}`, { cause }));
      };
      const onAbort = (): void => fail('ABORT_ERR', 'aborted');
      const timer = clock.setTimeout(
        () => fail('ETIMEDOUT', 'connect timed out'),
        options.timeoutMs ?? 10_000,
      );
      if (options.signal?.aborted) return onAbort();
      options.signal?.addEventListener('abort', onAbort, { once: true });
      const to = this.#hosts.get(addr.host);
      // A SYN to nobody, to a host that left, across a partition or into a NAT is dropped: time out.
      if (to === undefined || to === from || !this.#reachable(from, to) || to.nat) return;
      const oneWay = from.link.latencyMs + to.link.latencyMs;
      clock.at(oneWay, () => {
        if (settled || !this.#reachable(from, to)) return;
        const accept = to.listeners.get(addr.port);
        if (accept === undefined) {
          clock.at(oneWay, () => fail('ECONNREFUSED', 'connection refused'));
          return;
        }
        const port = from.nextPort++;
        const client = new SimSocket(this, from, port, to.ip, addr.port);
        const server = new SimSocket(this, to, addr.port, from.ip, port);
        client.peer = server;
        server.peer = client;
        accept(server);
        clock.at(oneWay, () => {
          if (settled) {
            client.destroy();
            return;
          }
          settled = true;
          clock.clearTimeout(timer);
          options.signal?.removeEventListener('abort', onAbort);
          resolve(client);
        });
      });
    });
  }

  /** Carries `chunk` (undefined: the end of the stream) from `from` to its peer. */
  send(from: SimSocket, chunk: Buffer | undefined, callback: () => void): void {
    const clock = this.#clock;
    const to = from.peer;
    const a = from.host;
    if (to === undefined || from.broken) {
      callback();
      return;
    }
    const b = to.host;
    if (!this.#reachable(a, b)) {
      from.broken = true;
      to.broken = true;
      callback();
      return;
    }
    const now = clock.now();
    const size = chunk?.length ?? 0;
    const start = Math.max(now, a.upFreeAtMs);
    a.upFreeAtMs = start + (size * 1000) / a.link.upBytesPerSec;
    a.sentBytes += size;
    let arrival = a.upFreeAtMs + a.link.latencyMs + b.link.latencyMs;
    const loss = a.link.loss ?? 0;
    if (loss > 0 && size > 0) {
      const segments = Math.ceil(size / SEGMENT_BYTES);
      if (this.#random() < 1 - (1 - loss) ** segments) arrival += Math.max(MIN_RTO_MS, 2 * this.#rttMs(a, b));
    }
    arrival = from.inOrder(arrival);
    // A copy: the writer may reuse its buffer once the callback ran (sendPiece lends cache buffers).
    const data = chunk === undefined ? undefined : Buffer.from(chunk);
    if (chunk !== undefined) this.bytesCarried += size;
    clock.at(arrival - now, () => {
      if (from.broken || to.destroyed) {
        this.bytesDropped += size;
        return;
      }
      // The receiving downlink, in order of arrival (the end of the stream after the data before it).
      const dstart = Math.max(clock.now(), b.downFreeAtMs);
      b.downFreeAtMs = dstart + (size * 1000) / b.link.downBytesPerSec;
      const deliver = (): void => {
        if (from.broken || to.destroyed) {
          this.bytesDropped += size;
          return;
        }
        b.receivedBytes += size;
        to.push(data ?? null);
      };
      // Within a millisecond (a small message on an idle link) it is delivered now, one event less,
      // unless an earlier chunk of this connection still waits: bytes never overtake each other.
      const t = clock.now();
      if (from.waiting === 0 && b.downFreeAtMs - t < DELIVER_NOW_MS) {
        deliver();
        return;
      }
      from.waiting++;
      from.lastDeliveryMs = Math.max(from.lastDeliveryMs, b.downFreeAtMs);
      clock.at(from.lastDeliveryMs - t, () => {
        from.waiting--;
        deliver();
      });
    });
    const queued = ((start - now) * a.link.upBytesPerSec) / 1000;
    const queueBytes = a.link.queueBytes ?? 64 * 1024;
    if (queued < queueBytes) callback();
    else clock.at(start - now - (queueBytes * 1000) / a.link.upBytesPerSec, callback);
  }
}
