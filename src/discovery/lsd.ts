// Local service discovery node (BEP 14): announces our torrents to the LAN's multicast group and
// reports peers that announce torrents we registered.
//
// Safety rule: the node never multicasts through a loopback address, and the session enables it only
// on real LANs (and tests only inside network namespaces). start() refuses (returns false and emits
// `lsd:disabled`) when the bind or interface address is loopback or the group is not multicast.
//
// Rates: one announce per torrent per `minIntervalMs` (a minute), re-announce of registered torrents
// every `reannounceIntervalMs` (five minutes), and a token bucket over all packets we send. Received
// packets are capped per second and deduplicated per (torrent, peer) for `minIntervalMs`, so a noisy
// LAN costs little. Unit tests inject a transport; the default one is a pair of UDP sockets.

import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import {
  formatLsdAnnounce,
  LSD_IPV4_GROUP,
  LSD_IPV6_GROUP,
  LSD_PORT,
  LsdError,
  lsdInfoHashesPerPacket,
  parseLsdAnnounce,
} from '../protocol/lsd.js';
import { parseIp } from '../protocol/pex.js';
import { TypedEmitter } from '../util/typed-events.js';

export interface LsdPeer {
  host: string;
  port: number;
}

export interface LsdEvents {
  [key: string]: unknown[];
  /** A peer on the LAN announced a torrent we registered. */
  'peer:found': [infoHashHex: string, peer: LsdPeer];
  /** start() refused to run (see the safety rule above). */
  'lsd:disabled': [reason: string];
  /** A socket failed after start (sending or receiving); the node keeps running. */
  'lsd:error': [error: LsdSocketError];
}

/** A socket could not be opened or failed. */
export class LsdSocketError extends Error {
  override readonly name = 'LsdSocketError';
  readonly code = 'ERR_LSD_SOCKET';
}

export interface LsdRemote {
  address: string;
  port: number;
}

/** One way of sending announces to the group and hearing others' (one address family). */
export interface LsdTransport {
  /** True when the packets go to an IPv6 group (the Host header then names it). */
  readonly ipv6: boolean;
  send(packet: Buffer): void;
  close(): Promise<void>;
}

export interface LsdTransportContext {
  onPacket: (data: Buffer, from: LsdRemote) => void;
  onError: (error: LsdSocketError) => void;
}

export type LsdTransportFactory = (context: LsdTransportContext) => Promise<LsdTransport[]>;

export interface LsdNodeOptions {
  /** Our BitTorrent listen port, the one we announce. */
  port: number;
  /** Local address the sending socket binds to; also the multicast interface unless given below. */
  bindAddress?: string;
  /** Address of the interface that sends and joins the group. */
  interfaceAddress?: string;
  /** IPv4 group (default 239.192.152.143). */
  multicastAddress?: string;
  /** Group port (default 6771). */
  lsdPort?: number;
  /** Also run IPv6 on this interface name (group ff15::efc0:988f). */
  ipv6Interface?: string;
  /** Our token; packets carrying it are our own. Random by default. */
  cookie?: string;
  /** Least time between two announces of one torrent, and the dedup window of received ones. */
  minIntervalMs?: number;
  /** Re-announce period of registered torrents (default five minutes). */
  reannounceIntervalMs?: number;
  /** How often the node checks for due re-announces (default 5 s). */
  tickMs?: number;
  /** Token bucket over all packets sent: burst size and refill rate. */
  maxBurstPackets?: number;
  packetsPerSec?: number;
  /** Received packets processed per second; the rest are dropped. */
  maxReceivedPerSec?: number;
  /** Monotonic clock in ms (tests pass their own). */
  now?: () => number;
  /** Replaces the UDP sockets (tests). The loopback rule then does not apply: no multicast is sent. */
  transport?: LsdTransportFactory;
  signal?: AbortSignal;
}

export interface LsdStats {
  packetsSent: number;
  packetsReceived: number;
  malformed: number;
  ownIgnored: number;
  rateDropped: number;
}

const DEFAULTS = {
  minIntervalMs: 60_000,
  reannounceIntervalMs: 5 * 60_000,
  tickMs: 5_000,
  maxBurstPackets: 10,
  packetsPerSec: 1,
  maxReceivedPerSec: 50,
} as const;
const MAX_DEDUP_ENTRIES = 10_000;

function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  const ip = parseIp(host.replace(/^\[|\]$/g, '').replace(/%.*$/, ''));
  if (ip === undefined) return false;
  if (ip.length === 4) return ip[0] === 127;
  const mapped = ip.subarray(0, 10).every((b) => b === 0) && ip[10] === 0xff && ip[11] === 0xff;
  if (mapped) return ip[12] === 127;
  return ip.subarray(0, 15).every((b) => b === 0) && ip[15] === 1;
}

function isMulticast(host: string): boolean {
  const ip = parseIp(host);
  if (ip === undefined) return false;
  return ip.length === 4 ? (ip[0]! & 0xf0) === 0xe0 : ip[0] === 0xff;
}

/** Why the default transport may not run with these options, or undefined when it may. */
export function lsdRefusal(o: LsdNodeOptions): string | undefined {
  for (const [name, addr] of [
    ['bindAddress', o.bindAddress],
    ['interfaceAddress', o.interfaceAddress],
  ] as const) {
    if (addr !== undefined && isLoopback(addr)) return `${name} ${addr} is loopback: LSD stays off`;
  }
  if (o.ipv6Interface === 'lo') return 'ipv6Interface lo is loopback: LSD stays off';
  const group = o.multicastAddress ?? LSD_IPV4_GROUP;
  if (!isMulticast(group) || group.includes(':')) return `${group} is not an IPv4 multicast group`;
  return undefined;
}

export class LsdNode extends TypedEmitter<LsdEvents> {
  readonly cookie: string;
  readonly #o: LsdNodeOptions;
  readonly #now: () => number;
  readonly #registered = new Map<string, Buffer>();
  /** Last time each info hash (hex) was announced. */
  readonly #lastAnnounced = new Map<string, number>();
  /** Last time each `hex peer` pair was reported. */
  readonly #lastFound = new Map<string, number>();
  readonly #stats: LsdStats = {
    packetsSent: 0,
    packetsReceived: 0,
    malformed: 0,
    ownIgnored: 0,
    rateDropped: 0,
  };
  #tokens: number;
  #tokensAtMs: number;
  #receiveWindowMs = 0;
  #receivedInWindow = 0;
  #controller: AbortController | undefined;
  #starting: Promise<boolean> | undefined;
  #transports: LsdTransport[] = [];
  #timer: NodeJS.Timeout | undefined;

  constructor(options: LsdNodeOptions) {
    super();
    if (!Number.isInteger(options.port) || options.port < 1 || options.port > 0xffff) {
      throw new RangeError(`port ${options.port} out of range`);
    }
    this.#o = options;
    this.#now = options.now ?? (() => performance.now());
    this.cookie = options.cookie ?? randomBytes(8).toString('hex');
    this.#tokens = options.maxBurstPackets ?? DEFAULTS.maxBurstPackets;
    this.#tokensAtMs = this.#now();
  }

  get running(): boolean {
    return this.#transports.length > 0;
  }

  get stats(): Readonly<LsdStats> {
    return { ...this.#stats };
  }

  /** Opens the sockets and starts re-announcing. False when refused (see lsdRefusal). Idempotent. */
  start(): Promise<boolean> {
    if (this.#starting === undefined) this.#starting = this.#start();
    return this.#starting;
  }

  async #start(): Promise<boolean> {
    const refusal = this.#o.transport === undefined ? lsdRefusal(this.#o) : undefined;
    if (refusal !== undefined) {
      this.emit('lsd:disabled', refusal);
      return false;
    }
    if (this.#o.signal?.aborted) return false;
    const controller = new AbortController();
    this.#controller = controller;
    const factory = this.#o.transport ?? defaultTransport(this.#o);
    let transports: LsdTransport[];
    try {
      transports = await factory({
        onPacket: (data, from) => this.#onPacket(data, from),
        onError: (e) => this.emit('lsd:error', e),
      });
    } catch (err) {
      // Leave the node stopped, so that a later start() tries again.
      if (this.#controller === controller) this.#controller = undefined;
      this.#starting = undefined;
      throw err;
    }
    if (controller.signal.aborted) {
      // stop() ran while the sockets were opening.
      await Promise.all(transports.map((t) => t.close()));
      return false;
    }
    this.#transports = transports;
    this.#o.signal?.addEventListener('abort', () => void this.stop(), {
      once: true,
      signal: controller.signal,
    });
    this.#timer = setInterval(() => this.#tick(), this.#o.tickMs ?? DEFAULTS.tickMs);
    this.#timer.unref();
    this.#tick();
    return true;
  }

  /** Closes the sockets and the timer. Idempotent; the node can start again afterwards. */
  async stop(): Promise<void> {
    const controller = this.#controller;
    if (controller === undefined) {
      this.#starting = undefined;
      return;
    }
    this.#controller = undefined;
    controller.abort();
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    const transports = this.#transports;
    this.#transports = [];
    await Promise.all(transports.map((t) => t.close()));
    this.#starting = undefined;
  }

  /** Registers a torrent: announced now and every re-announce period; its peers are reported. */
  add(infoHash: Uint8Array): void {
    const hex = checkHash(infoHash);
    if (this.#registered.has(hex)) return;
    this.#registered.set(hex, Buffer.from(infoHash));
    this.announce([infoHash]);
  }

  remove(infoHash: Uint8Array): void {
    const hex = checkHash(infoHash);
    this.#registered.delete(hex);
    this.#lastAnnounced.delete(hex);
  }

  /**
   * Announces these torrents now, except those announced less than `minIntervalMs` ago and those the
   * packet budget cannot take (registered ones are retried on the next tick). Returns the number of
   * info hashes sent. Does nothing before start().
   */
  announce(infoHashes: readonly Uint8Array[]): number {
    if (!this.running) return 0;
    const nowMs = this.#now();
    const minIntervalMs = this.#o.minIntervalMs ?? DEFAULTS.minIntervalMs;
    const due = new Map<string, Buffer>();
    for (const h of infoHashes) {
      const hex = checkHash(h);
      const last = this.#lastAnnounced.get(hex);
      if (last !== undefined && nowMs - last < minIntervalMs) continue;
      due.set(hex, Buffer.from(h));
    }
    if (due.size === 0) return 0;
    const hashes = [...due.values()];
    // One grouping for every transport: the IPv6 Host header is longer, so it sets the packet size.
    const perPacket = Math.min(
      ...this.#transports.map((t) => lsdInfoHashesPerPacket(this.#packetOptions(t.ipv6))),
    );
    let sentHashes = 0;
    for (let i = 0; i < hashes.length; i += perPacket) {
      const chunk = hashes.slice(i, i + perPacket);
      if (!this.#takeTokens(this.#transports.length, nowMs)) break;
      for (const t of this.#transports) {
        t.send(formatLsdAnnounce({ ...this.#packetOptions(t.ipv6), infoHashes: chunk }));
        this.#stats.packetsSent++;
      }
      for (const h of chunk) this.#lastAnnounced.set(h.toString('hex'), nowMs);
      sentHashes += chunk.length;
    }
    return sentHashes;
  }

  #packetOptions(ipv6: boolean): {
    port: number;
    cookie: string;
    ipv6: boolean;
    groupAddress: string;
    lsdPort: number;
  } {
    return {
      port: this.#o.port,
      cookie: this.cookie,
      ipv6,
      groupAddress: ipv6 ? LSD_IPV6_GROUP : (this.#o.multicastAddress ?? LSD_IPV4_GROUP),
      lsdPort: this.#o.lsdPort ?? LSD_PORT,
    };
  }

  #takeTokens(n: number, nowMs: number): boolean {
    const burst = this.#o.maxBurstPackets ?? DEFAULTS.maxBurstPackets;
    const rate = this.#o.packetsPerSec ?? DEFAULTS.packetsPerSec;
    this.#tokens = Math.min(burst, this.#tokens + ((nowMs - this.#tokensAtMs) / 1000) * rate);
    this.#tokensAtMs = nowMs;
    if (this.#tokens < n) return false;
    this.#tokens -= n;
    return true;
  }

  #tick(): void {
    const nowMs = this.#now();
    const period = this.#o.reannounceIntervalMs ?? DEFAULTS.reannounceIntervalMs;
    const due: Buffer[] = [];
    for (const [hex, h] of this.#registered) {
      const last = this.#lastAnnounced.get(hex);
      if (last === undefined || nowMs - last >= period) due.push(h);
    }
    if (due.length > 0) this.announce(due);
    const windowMs = this.#o.minIntervalMs ?? DEFAULTS.minIntervalMs;
    for (const [key, at] of this.#lastFound) if (nowMs - at >= windowMs) this.#lastFound.delete(key);
  }

  #onPacket(data: Buffer, from: LsdRemote): void {
    if (!this.running) return;
    const nowMs = this.#now();
    if (nowMs - this.#receiveWindowMs >= 1000) {
      this.#receiveWindowMs = nowMs;
      this.#receivedInWindow = 0;
    }
    if (++this.#receivedInWindow > (this.#o.maxReceivedPerSec ?? DEFAULTS.maxReceivedPerSec)) {
      this.#stats.rateDropped++;
      return;
    }
    this.#stats.packetsReceived++;
    let announce: ReturnType<typeof parseLsdAnnounce>;
    try {
      announce = parseLsdAnnounce(data);
    } catch (err) {
      if (!(err instanceof LsdError)) throw err;
      this.#stats.malformed++;
      return;
    }
    if (announce.cookie === this.cookie) {
      this.#stats.ownIgnored++;
      return;
    }
    const windowMs = this.#o.minIntervalMs ?? DEFAULTS.minIntervalMs;
    const peer: LsdPeer = { host: from.address, port: announce.port };
    for (const h of announce.infoHashes) {
      const hex = h.toString('hex');
      if (!this.#registered.has(hex)) continue;
      const key = `${hex} ${peer.host} ${peer.port}`;
      const last = this.#lastFound.get(key);
      if (last !== undefined && nowMs - last < windowMs) continue;
      if (this.#lastFound.size >= MAX_DEDUP_ENTRIES) this.#lastFound.clear();
      this.#lastFound.set(key, nowMs);
      this.emit('peer:found', hex, { ...peer });
    }
  }
}

function checkHash(h: Uint8Array): string {
  if (h.length !== 20) throw new RangeError(`an info hash has 20 bytes, not ${h.length}`);
  return Buffer.from(h.buffer, h.byteOffset, h.length).toString('hex');
}

// ---------------------------------------------------------------------------------------------------
// The default transport: per family, a receiving socket on the group port and a sending socket on
// the interface. Only reached after lsdRefusal() passed.

function bind(socket: Socket, port: number, address: string | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error): void => reject(e);
    socket.once('error', onError);
    socket.bind({ port, ...(address === undefined ? {} : { address }), exclusive: false }, () => {
      socket.off('error', onError);
      resolve();
    });
  });
}

function closeSocket(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      socket.close(() => resolve());
    } catch {
      resolve(); // already closed
    }
  });
}

function defaultTransport(o: LsdNodeOptions): LsdTransportFactory {
  return async (ctx) => {
    const out: LsdTransport[] = [];
    try {
      out.push(await openFamily(o, ctx, false));
      if (o.ipv6Interface !== undefined) out.push(await openFamily(o, ctx, true));
    } catch (err) {
      await Promise.all(out.map((t) => t.close()));
      throw err;
    }
    return out;
  };
}

async function openFamily(o: LsdNodeOptions, ctx: LsdTransportContext, ipv6: boolean): Promise<LsdTransport> {
  const type = ipv6 ? 'udp6' : 'udp4';
  const group = ipv6 ? LSD_IPV6_GROUP : (o.multicastAddress ?? LSD_IPV4_GROUP);
  const lsdPort = o.lsdPort ?? LSD_PORT;
  const iface = ipv6 ? `::%${o.ipv6Interface}` : (o.interfaceAddress ?? o.bindAddress);
  const receiver = createSocket({ type, reuseAddr: true });
  const sender = createSocket({ type });
  const fail = (what: string, err: unknown): LsdSocketError =>
    new LsdSocketError(`LSD ${type} ${what}: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  try {
    // Bound to the group itself the socket hears only that group (Linux); elsewhere, the wildcard.
    try {
      await bind(receiver, lsdPort, group);
    } catch {
      // Some systems cannot bind the group address: the wildcard with the membership works as well.
      await bind(receiver, lsdPort, ipv6 ? '::' : '0.0.0.0');
    }
    receiver.addMembership(group, iface);
    await bind(sender, 0, ipv6 ? undefined : o.bindAddress);
    if (iface !== undefined) sender.setMulticastInterface(iface);
    sender.setMulticastTTL(1); // the LAN only
    sender.setMulticastLoopback(true); // other clients on this host hear us; our cookie filters us
  } catch (err) {
    await Promise.all([closeSocket(receiver), closeSocket(sender)]);
    throw fail('setup failed', err);
  }
  receiver.on('message', (data, rinfo) => ctx.onPacket(data, { address: rinfo.address, port: rinfo.port }));
  receiver.on('error', (err) => ctx.onError(fail('receive failed', err)));
  sender.on('error', (err) => ctx.onError(fail('send failed', err)));
  return {
    ipv6,
    send(packet) {
      sender.send(packet, lsdPort, group, (err) => {
        if (err) ctx.onError(fail('send failed', err));
      });
    },
    async close() {
      await Promise.all([closeSocket(receiver), closeSocket(sender)]);
    },
  };
}
