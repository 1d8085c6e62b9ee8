// A Mainline DHT node (BEP 5): answers ping, find_node, get_peers and announce_peer, and runs
// iterative lookups to find peers of our torrents and announce them. It owns no socket: the session
// owns the one UDP port, hands in every packet that starts with `d` (handlePacket) and gives us a
// `send` function. Timers (query timeouts, the maintenance tick) hang off the node's AbortController.
//
// Hostile-network rules: queries are rate-limited per source IP (token bucket, excess dropped);
// replies are bounded (at most `maxValues` peers, k nodes per family) so we never amplify; packets
// carrying our own id are dropped; malformed queries get a 203 when a transaction id can be read,
// unknown methods a 204; a node enters the routing table only by answering a query of ours, from the
// address we sent it to.

import { randomBytes } from 'node:crypto';
import { lookup as dnsLookup } from 'node:dns/promises';
import {
  decodeKrpc,
  encodeKrpc,
  isIpv6,
  KRPC_MAX_PACKET_BYTES,
  KrpcError,
  KrpcErrorCode,
  type KrpcErrorMessage,
  type KrpcQuery,
  type KrpcResponse,
  type NodeInfo,
  type Peer,
  parseIp,
  type Want,
} from '../../protocol/krpc.js';
import { type Clock, realClock, type TimerHandle } from '../../util/clock.js';
import { errorText, type Logger, silentLogger } from '../../util/logger.js';
import { TypedEmitter } from '../../util/typed-events.js';
import { iterativeLookup, type LookupReply, type LookupResult } from './lookup.js';
import { PeerStore } from './peer-store.js';
import { type Contact, K, RoutingTable } from './routing-table.js';
import { TokenManager } from './token.js';

/** The public bootstrap routers for real use (host names, resolved at start). Never used in tests. */
export const DHT_BOOTSTRAP_NODES: readonly { readonly host: string; readonly port: number }[] = [
  { host: 'router.bittorrent.com', port: 6881 },
  { host: 'dht.transmissionbt.com', port: 6881 },
  { host: 'router.utorrent.com', port: 6881 },
];

export const ANNOUNCE_INTERVAL_MS = 15 * 60 * 1000;
export const REFRESH_INTERVAL_MS = 15 * 60 * 1000;
const MAINTENANCE_INTERVAL_MS = 60 * 1000;
const DEFAULT_QUERY_TIMEOUT_MS = 2000;
const DEFAULT_RATE_PER_SEC = 20;
const DEFAULT_MAX_VALUES = 50;
const MAX_PENDING_QUERIES = 2048;
const MAX_SAVED_NODES = 256;
/** Per maintenance tick: enough to keep the table fresh, never a burst. */
const MAX_PINGS_PER_TICK = 8;
const MAX_REFRESHES_PER_TICK = 4;

/** Why a packet was dropped without an answer (for tests and diagnostics). */
export const DhtDropReason = {
  rateLimited: 'rate-limited',
  ownId: 'own-id',
  malformed: 'malformed',
  tooLarge: 'too-large',
  unexpected: 'unexpected-response',
} as const;
export type DhtDropReason = (typeof DhtDropReason)[keyof typeof DhtDropReason];

export interface DhtNodeOptions {
  /** Where what the node goes on from is logged (an unresolvable bootstrap host). */
  log?: Logger;
  /** 20 bytes; random when absent (or taken from importState before start). */
  nodeId?: Buffer;
  /** Sends one UDP datagram. May throw (closed socket); the node treats that as no answer. */
  send: (msg: Buffer, host: string, port: number) => void;
  /** Nodes to start from. Default none: pass DHT_BOOTSTRAP_NODES for the public network. */
  bootstrap?: readonly { host: string; port: number }[];
  /** Resolves a bootstrap host name to addresses. Default dns.lookup (IPv4 and IPv6). */
  resolve?: (host: string) => Promise<string[]>;
  now?: () => number;
  /** Timers (query timeouts, maintenance) and, unless `now` is given, the time. Default the real clock. */
  clock?: Clock;
  random?: (n: number) => Buffer;
  maxTorrents?: number;
  maxPeersPerTorrent?: number;
  /** Queries accepted per second from one IP (burst: twice that). */
  rateLimitPerSec?: number;
  queryTimeoutMs?: number;
  /** Peers in one get_peers answer. */
  maxValues?: number;
  announceIntervalMs?: number;
  refreshIntervalMs?: number;
  maintenanceIntervalMs?: number;
  /** Client version sent as `v` (opaque, up to 16 bytes). */
  version?: Buffer;
  signal?: AbortSignal;
}

export interface DhtNodeSummary {
  id: string;
  host: string;
  port: number;
}

export interface DhtState {
  id: string;
  nodes: { host: string; port: number; id?: string }[];
}

export interface DhtNodeEvents {
  [key: string]: unknown[];
  'peers:found': [infoHashHex: string, peers: Peer[]];
  'node:added': [node: DhtNodeSummary];
  'node:removed': [node: DhtNodeSummary];
  /** Another node announced a peer to us. */
  'peer:announced': [infoHashHex: string, peer: Peer];
  /** Our announce of a torrent reached this many nodes. */
  'announce:done': [infoHashHex: string, nodes: number];
  'packet:dropped': [reason: DhtDropReason, from: Peer];
}

export interface LookupOpts {
  /** Also announce to the closest nodes that gave tokens. */
  announce?: boolean;
  /** Port to announce; without it, implied_port (the port our packets come from). */
  port?: number;
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
type QuerySpec = DistributiveOmit<KrpcQuery, 't' | 'id' | 'kind' | 'v' | 'ro'>;

interface Pending {
  host: string;
  port: number;
  /** The id we expect to answer, so a silence can count against it. */
  nodeId: Buffer | undefined;
  timer: TimerHandle;
  resolve: (reply: KrpcResponse | KrpcErrorMessage | undefined) => void;
}

/** Token bucket per source address; the map is bounded (oldest address forgotten first). */
export class AddressRateLimiter {
  readonly #buckets = new Map<string, { tokens: number; atMs: number }>();
  constructor(
    readonly ratePerSec: number,
    readonly burst: number,
    readonly now: () => number,
    readonly maxAddresses = 4096,
  ) {}

  allow(address: string): boolean {
    const nowMs = this.now();
    let b = this.#buckets.get(address);
    if (!b) {
      if (this.#buckets.size >= this.maxAddresses) {
        const oldest = this.#buckets.keys().next().value;
        if (oldest !== undefined) this.#buckets.delete(oldest);
      }
      b = { tokens: this.burst, atMs: nowMs };
      this.#buckets.set(address, b);
    } else {
      b.tokens = Math.min(this.burst, b.tokens + (Math.max(0, nowMs - b.atMs) / 1000) * this.ratePerSec);
      b.atMs = nowMs;
    }
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }
}

/** `::ffff:a.b.c.d` (a dual-stack socket's view of an IPv4 sender) → `a.b.c.d`. */
function normalizeHost(address: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return m ? m[1]! : address;
}

function summary(c: Contact): DhtNodeSummary {
  return { id: c.id.toString('hex'), host: c.host, port: c.port };
}

const ignore = (): void => {};

export class DhtNode extends TypedEmitter<DhtNodeEvents> {
  readonly #ac = new AbortController();
  readonly #send: DhtNodeOptions['send'];
  readonly #now: () => number;
  readonly #clock: Clock;
  readonly #random: (n: number) => Buffer;
  readonly #resolve: (host: string) => Promise<string[]>;
  readonly #bootstrap: readonly { host: string; port: number }[];
  readonly #queryTimeoutMs: number;
  readonly #maxValues: number;
  readonly #announceIntervalMs: number;
  readonly #refreshIntervalMs: number;
  readonly #maintenanceIntervalMs: number;
  readonly #version: Buffer | undefined;
  readonly #idGiven: boolean;
  readonly #limiter: AddressRateLimiter;
  readonly #tokens: TokenManager;
  readonly #store: PeerStore;
  #table: RoutingTable;
  readonly #pending = new Map<string, Pending>();
  #nextTid: number;
  #started = false;
  /** Nodes from importState, tried at start alongside the bootstrap list. */
  #saved: { host: string; port: number }[] = [];
  /** Addresses with a ping in flight (strangers and questionable nodes), so we ping each once. */
  readonly #pinging = new Set<string>();
  readonly #announced = new Map<string, { infoHash: Buffer; port: number | undefined; nextMs: number }>();

  readonly #log: Logger;

  constructor(options: DhtNodeOptions) {
    super();
    this.#log = options.log ?? silentLogger;
    this.#send = options.send;
    const clock = options.clock ?? realClock;
    this.#clock = clock;
    this.#now = options.now ?? (options.clock ? () => clock.now() : Date.now);
    this.#random = options.random ?? randomBytes;
    this.#resolve =
      options.resolve ?? (async (host) => (await dnsLookup(host, { all: true })).map((a) => a.address));
    this.#bootstrap = options.bootstrap ?? [];
    this.#queryTimeoutMs = options.queryTimeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS;
    this.#maxValues = options.maxValues ?? DEFAULT_MAX_VALUES;
    this.#announceIntervalMs = options.announceIntervalMs ?? ANNOUNCE_INTERVAL_MS;
    this.#refreshIntervalMs = options.refreshIntervalMs ?? REFRESH_INTERVAL_MS;
    this.#maintenanceIntervalMs = options.maintenanceIntervalMs ?? MAINTENANCE_INTERVAL_MS;
    this.#version = options.version;
    if (options.nodeId !== undefined && options.nodeId.length !== 20)
      throw new RangeError('a node id has 20 bytes');
    this.#idGiven = options.nodeId !== undefined;
    const id = options.nodeId ?? this.#random(20);
    this.#table = new RoutingTable(id, this.#now());
    const rate = options.rateLimitPerSec ?? DEFAULT_RATE_PER_SEC;
    this.#limiter = new AddressRateLimiter(rate, rate * 2, this.#now);
    this.#tokens = new TokenManager({ now: this.#now, random: this.#random });
    this.#store = new PeerStore({
      ...(options.maxTorrents !== undefined ? { maxTorrents: options.maxTorrents } : {}),
      ...(options.maxPeersPerTorrent !== undefined ? { maxPeersPerTorrent: options.maxPeersPerTorrent } : {}),
    });
    this.#nextTid = this.#random(2).readUInt16BE(0);
    if (options.signal) {
      if (options.signal.aborted) this.stop();
      else
        options.signal.addEventListener('abort', () => this.stop(), { once: true, signal: this.#ac.signal });
    }
  }

  get nodeId(): Buffer {
    return this.#table.selfId;
  }

  /**
   * Before start(), with an empty table: take this id instead (a BEP 42 id for the external address
   * the session learned from its router). False when too late or when an id was given.
   */
  useNodeId(id: Buffer): boolean {
    if (this.#started || this.#idGiven || this.#table.size !== 0 || id.length !== 20) return false;
    this.#table = new RoutingTable(id, this.#now());
    return true;
  }

  get nodeCount(): number {
    return this.#table.size;
  }

  /** The routing table, read-only use (tests, diagnostics). */
  get table(): RoutingTable {
    return this.#table;
  }

  /** Peers stored for other nodes' announces. */
  get peerStore(): PeerStore {
    return this.#store;
  }

  /** Bootstraps (find_node for our own id through the bootstrap and saved nodes) and starts the timers. */
  async start(): Promise<void> {
    if (this.#started || this.#ac.signal.aborted) return;
    this.#started = true;
    const timer = this.#clock.setInterval(() => this.tick(), this.#maintenanceIntervalMs);
    timer.unref();
    this.#ac.signal.addEventListener('abort', () => this.#clock.clearInterval(timer), { once: true });
    await this.#bootstrapNow();
  }

  /** Idempotent: cancels timers, answers every pending query with "no answer", ends lookups. */
  stop(): void {
    if (this.#ac.signal.aborted) return;
    this.#ac.abort();
    for (const [tid, p] of this.#pending) {
      this.#clock.clearTimeout(p.timer);
      this.#pending.delete(tid);
      p.resolve(undefined);
    }
  }

  async #bootstrapNow(): Promise<void> {
    const targets: { host: string; port: number }[] = [...this.#saved];
    for (const b of this.#bootstrap) {
      if (parseIp(b.host)) {
        targets.push(b);
        continue;
      }
      try {
        for (const address of await this.#resolve(b.host)) targets.push({ host: address, port: b.port });
      } catch (err) {
        // An unresolvable bootstrap host is skipped; the others may do.
        this.#log.info('DHT bootstrap host not resolved', { host: b.host, error: errorText(err) });
      }
    }
    const seeds: Contact[] = [];
    await Promise.all(
      targets.map(async (t) => {
        const reply = await this.#query(
          t.host,
          t.port,
          { method: 'find_node', target: this.nodeId },
          undefined,
        );
        if (reply?.kind === 'response') seeds.push(...(reply.nodes ?? []), ...(reply.nodes6 ?? []));
      }),
    );
    await this.#runLookup(this.nodeId, 'find_node', seeds);
  }

  /** Maintenance, run by the timer every minute (tests with a virtual clock call it directly). */
  tick(): void {
    if (this.#ac.signal.aborted) return;
    const nowMs = this.#now();
    this.#store.expire(nowMs);
    for (const n of this.#table.questionable(nowMs).slice(0, MAX_PINGS_PER_TICK)) this.#pingKnown(n);
    const targets = this.#table.refreshTargets(nowMs, this.#random, this.#refreshIntervalMs);
    for (const target of targets.slice(0, MAX_REFRESHES_PER_TICK)) {
      this.#runLookup(target, 'find_node').then(ignore, ignore);
    }
    for (const [, a] of this.#announced) {
      if (nowMs < a.nextMs) continue;
      a.nextMs = nowMs + this.#announceIntervalMs;
      this.lookup(a.infoHash, { announce: true, ...(a.port !== undefined ? { port: a.port } : {}) }).then(
        ignore,
        ignore,
      );
    }
    if (this.#table.size === 0 && (this.#bootstrap.length > 0 || this.#saved.length > 0)) {
      this.#bootstrapNow().then(ignore, ignore);
    }
  }

  // -------------------------------------------------------------------------------------------------
  // Incoming packets

  handlePacket(msg: Buffer, from: { address: string; port: number }): void {
    if (this.#ac.signal.aborted) return;
    const host = normalizeHost(from.address);
    const port = from.port;
    if (msg.length > KRPC_MAX_PACKET_BYTES) {
      this.#drop(DhtDropReason.tooLarge, host, port);
      return;
    }
    let m: ReturnType<typeof decodeKrpc>;
    try {
      m = decodeKrpc(msg);
    } catch (err) {
      if (!(err instanceof KrpcError)) throw err;
      // Only what looks like a query deserves an answer; answering a bad reply or error could loop.
      const t = err.transactionId;
      const answerable = t !== undefined && err.messageType !== 'r' && err.messageType !== 'e';
      if (answerable && this.#limiter.allow(host)) {
        this.#sendError(t, host, port, err.krpcCode, err.message.slice(0, 64));
      }
      this.#drop(DhtDropReason.malformed, host, port);
      return;
    }
    if (m.kind === 'query') {
      if (m.id.equals(this.nodeId)) {
        this.#drop(DhtDropReason.ownId, host, port);
        return;
      }
      if (!this.#limiter.allow(host)) {
        this.#drop(DhtDropReason.rateLimited, host, port);
        return;
      }
      this.#handleQuery(m, host, port);
      return;
    }
    if (m.kind === 'response' && m.id.equals(this.nodeId)) {
      this.#drop(DhtDropReason.ownId, host, port);
      return;
    }
    const key = m.t.toString('hex');
    const p = this.#pending.get(key);
    // A reply must come from where the query went: otherwise anyone could answer for anyone.
    if (!p || p.host !== host || p.port !== port) {
      this.#drop(DhtDropReason.unexpected, host, port);
      return;
    }
    this.#pending.delete(key);
    this.#clock.clearTimeout(p.timer);
    if (m.kind === 'response') this.#learn({ id: m.id, host, port });
    p.resolve(m);
  }

  #drop(reason: DhtDropReason, host: string, port: number): void {
    this.emit('packet:dropped', reason, { host, port });
  }

  /** A node answered us: into the routing table (if there is room). */
  #learn(c: Contact): void {
    if (!parseIp(c.host) || c.port <= 0) return;
    const r = this.#table.insert(c, this.#now());
    if (r.status === 'added') this.emit('node:added', summary(c));
    else if (r.status === 'replaced') {
      this.emit('node:removed', summary(r.removed));
      this.emit('node:added', summary(c));
    } else if (r.status === 'full' && r.ping) this.#pingKnown(r.ping);
  }

  #handleQuery(q: KrpcQuery, host: string, port: number): void {
    const nowMs = this.#now();
    this.#table.noteQuery(q.id, host, port, nowMs);
    if (!q.ro && parseIp(host) && this.#table.hasRoomFor(q.id, nowMs)) {
      // A stranger queried us: its address is not proven, so ask it to answer before it enters.
      this.ping(host, port).then(ignore, ignore);
    }
    const family = isIpv6(host) ? 6 : 4;
    switch (q.method) {
      case 'ping': {
        this.#respond(q.t, host, port, {});
        return;
      }
      case 'find_node': {
        this.#respond(q.t, host, port, this.#nodesFor(q.target, family, q.want, { id: q.id, host, port }));
        return;
      }
      case 'get_peers': {
        const hex = q.infoHash.toString('hex');
        const token = this.#tokens.issue(host, q.infoHash);
        const values = this.#store
          .get(hex, this.#maxValues * 2, nowMs)
          .filter((p) => isIpv6(p.host) === (family === 6))
          .slice(0, this.#maxValues);
        if (values.length > 0) {
          this.#respond(q.t, host, port, { token, values });
          return;
        }
        this.#respond(q.t, host, port, {
          token,
          ...this.#nodesFor(q.infoHash, family, q.want, { id: q.id, host, port }),
        });
        return;
      }
      case 'announce_peer': {
        if (!this.#tokens.verify(q.token, host, q.infoHash)) {
          this.#sendError(q.t, host, port, KrpcErrorCode.protocol, 'bad token');
          return;
        }
        const peerPort = q.impliedPort ? port : q.port;
        if (peerPort <= 0) {
          this.#sendError(q.t, host, port, KrpcErrorCode.protocol, 'bad port');
          return;
        }
        const hex = q.infoHash.toString('hex');
        const peer = { host, port: peerPort };
        this.#store.add(hex, peer, nowMs);
        this.emit('peer:announced', hex, peer);
        this.#respond(q.t, host, port, {});
        return;
      }
      case 'unknown': {
        this.#sendError(q.t, host, port, KrpcErrorCode.methodUnknown, 'Method Unknown');
        return;
      }
    }
  }

  /**
   * k closest nodes of the requester's family, or of the families it asked for (BEP 32 `want`);
   * never the requester itself (libtorrent takes a reply naming the asker as a sign of a bad node).
   */
  #nodesFor(
    target: Buffer,
    family: 4 | 6,
    want: Want[] | undefined,
    requester: NodeInfo,
  ): { nodes?: NodeInfo[]; nodes6?: NodeInfo[] } {
    const w4 = want && want.length > 0 ? want.includes('n4') : family === 4;
    const w6 = want && want.length > 0 ? want.includes('n6') : family === 6;
    const pick = (f: 4 | 6): NodeInfo[] =>
      this.#table
        .closest(target, K + 1, f)
        .filter(
          (n) => !n.id.equals(requester.id) && !(n.host === requester.host && n.port === requester.port),
        )
        .slice(0, K)
        .map((n) => ({ id: n.id, host: n.host, port: n.port }));
    const out: { nodes?: NodeInfo[]; nodes6?: NodeInfo[] } = {};
    if (w4) out.nodes = pick(4);
    if (w6) out.nodes6 = pick(6);
    return out;
  }

  #respond(
    t: Buffer,
    host: string,
    port: number,
    r: { nodes?: NodeInfo[]; nodes6?: NodeInfo[]; values?: Peer[]; token?: Buffer },
  ): void {
    const msg: KrpcResponse = { kind: 'response', t, id: this.nodeId, ...r, ...this.#seenAs(host, port) };
    if (this.#version) msg.v = this.#version;
    this.#sendRaw(encodeKrpc(msg), host, port);
  }

  #sendError(t: Buffer, host: string, port: number, errorCode: number, message: string): void {
    const msg: KrpcErrorMessage = { kind: 'error', t, errorCode, message, ...this.#seenAs(host, port) };
    if (this.#version) msg.v = this.#version;
    this.#sendRaw(encodeKrpc(msg), host, port);
  }

  /** BEP 42's `ip` of a reply: where the request came from, so the asker learns its outside address. */
  #seenAs(host: string, port: number): { ip?: Peer } {
    return parseIp(host) ? { ip: { host, port } } : {};
  }

  #sendRaw(msg: Buffer, host: string, port: number): boolean {
    try {
      this.#send(msg, host, port);
      return true;
    } catch {
      // A closed socket (the node is stopping): the caller counts the query as unanswered.
      return false;
    }
  }

  // -------------------------------------------------------------------------------------------------
  // Outgoing queries

  #query(
    host: string,
    port: number,
    spec: QuerySpec,
    nodeId: Buffer | undefined,
  ): Promise<KrpcResponse | KrpcErrorMessage | undefined> {
    if (this.#ac.signal.aborted || this.#pending.size >= MAX_PENDING_QUERIES)
      return Promise.resolve(undefined);
    let tid: Buffer;
    do {
      this.#nextTid = (this.#nextTid + 1) & 0xffff;
      tid = Buffer.from([this.#nextTid >> 8, this.#nextTid & 0xff]);
    } while (this.#pending.has(tid.toString('hex')));
    const msg = { ...spec, kind: 'query', t: tid, id: this.nodeId } as KrpcQuery;
    if (this.#version) msg.v = this.#version;
    const packet = encodeKrpc(msg);
    const key = tid.toString('hex');
    return new Promise((resolve) => {
      const timer = this.#clock.setTimeout(() => {
        this.#pending.delete(key);
        if (nodeId) this.#failed(nodeId);
        resolve(undefined);
      }, this.#queryTimeoutMs);
      this.#pending.set(key, { host, port, nodeId, timer, resolve });
      if (!this.#sendRaw(packet, host, port)) {
        this.#clock.clearTimeout(timer);
        this.#pending.delete(key);
        resolve(undefined);
      }
    });
  }

  #failed(id: Buffer): void {
    const r = this.#table.markFailed(id, this.#now());
    if (r.removed) this.emit('node:removed', summary(r.removed));
    if (r.promoted) this.emit('node:added', summary(r.promoted));
  }

  #pingKnown(node: Contact): void {
    const key = `${node.host}|${node.port}`;
    if (this.#pinging.has(key)) return;
    this.#pinging.add(key);
    this.#query(node.host, node.port, { method: 'ping' }, node.id).then(
      () => this.#pinging.delete(key),
      () => this.#pinging.delete(key),
    );
  }

  /** Pings an address; resolves whether it answered (an answering node enters the routing table). */
  async ping(host: string, port: number): Promise<boolean> {
    const key = `${host}|${port}`;
    if (this.#pinging.has(key) || this.#pinging.size >= 256) return false;
    this.#pinging.add(key);
    try {
      const r = await this.#query(normalizeHost(host), port, { method: 'ping' }, undefined);
      return r?.kind === 'response';
    } finally {
      this.#pinging.delete(key);
    }
  }

  /** A peer told us its DHT port (BEP 5 PORT message): ping it; if it answers it joins the table. */
  addNode(host: string, port: number): void {
    if (!Number.isInteger(port) || port <= 0 || port > 65535) return;
    this.ping(host, port).then(ignore, ignore);
  }

  async #runLookup(
    target: Buffer,
    method: 'find_node' | 'get_peers',
    extraSeeds: Contact[] = [],
    onPeers?: (p: Peer[]) => void,
  ): Promise<LookupResult> {
    const seeds = [...this.#table.closest(target, K * 2), ...extraSeeds];
    const result = await iterativeLookup({
      target,
      seeds,
      exclude: this.nodeId,
      signal: this.#ac.signal,
      ...(onPeers ? { onPeers } : {}),
      query: async (c): Promise<LookupReply | undefined> => {
        const spec: QuerySpec =
          method === 'get_peers' ? { method, infoHash: target } : { method: 'find_node', target };
        const r = await this.#query(c.host, c.port, spec, this.#table.get(c.id) ? c.id : undefined);
        if (r?.kind !== 'response') return undefined;
        const reply: LookupReply = { nodes: [...(r.nodes ?? []), ...(r.nodes6 ?? [])] };
        if (r.values) reply.values = r.values;
        if (r.token) reply.token = r.token;
        return reply;
      },
    });
    this.#table.touch(target, this.#now());
    return result;
  }

  /**
   * get_peers lookup for an info hash: resolves with every peer found (also emitted as `peers:found`
   * as they arrive). With `announce`, then announces to the closest nodes that gave a token.
   */
  async lookup(infoHash: Buffer, opts: LookupOpts = {}): Promise<Peer[]> {
    if (infoHash.length !== 20) throw new RangeError('an info hash has 20 bytes');
    const hex = infoHash.toString('hex');
    const result = await this.#runLookup(infoHash, 'get_peers', [], (peers) =>
      this.emit('peers:found', hex, peers),
    );
    if (opts.announce) {
      const port = opts.port ?? 0;
      const implied = opts.port === undefined;
      const acks = await Promise.all(
        result.closest
          .filter((c) => c.token !== undefined)
          .map((c) =>
            this.#query(
              c.contact.host,
              c.contact.port,
              { method: 'announce_peer', infoHash, port, token: c.token!, impliedPort: implied },
              undefined,
            ),
          ),
      );
      if (!this.#ac.signal.aborted) {
        this.emit('announce:done', hex, acks.filter((a) => a?.kind === 'response').length);
      }
    }
    return result.peers;
  }

  /**
   * Announces a torrent now and every 15 minutes until `unannounce`. Without a port, implied_port:
   * the session shares one port between peers and DHT, so the source port of our packets is right.
   */
  announce(infoHash: Buffer, port?: number): void {
    if (infoHash.length !== 20) throw new RangeError('an info hash has 20 bytes');
    this.#announced.set(infoHash.toString('hex'), {
      infoHash: Buffer.from(infoHash),
      port,
      nextMs: this.#now() + this.#announceIntervalMs,
    });
    this.lookup(infoHash, { announce: true, ...(port !== undefined ? { port } : {}) }).then(ignore, ignore);
  }

  unannounce(infoHash: Buffer): void {
    this.#announced.delete(infoHash.toString('hex'));
  }

  // -------------------------------------------------------------------------------------------------
  // State

  /** Our id and the routing table's nodes (good first), JSON-able, for the state directory. */
  exportState(): DhtState {
    const nowMs = this.#now();
    const rank = { good: 0, questionable: 1, bad: 2 } as const;
    const nodes = this.#table
      .all()
      .map((n) => ({ n, r: rank[this.#table.stateOf(n, nowMs)] }))
      .filter((e) => e.r < 2)
      .sort((a, b) => a.r - b.r)
      .slice(0, MAX_SAVED_NODES)
      .map(({ n }) => ({ host: n.host, port: n.port, id: n.id.toString('hex') }));
    return { id: this.nodeId.toString('hex'), nodes };
  }

  /**
   * Takes a saved state. Before start(): adopts the saved id (one identity across restarts) unless
   * `nodeId` was given, and start() queries the saved nodes with the bootstrap list. After start():
   * pings the saved nodes. Entries that do not validate are skipped.
   */
  importState(state: unknown): void {
    if (typeof state !== 'object' || state === null) return;
    const s = state as { id?: unknown; nodes?: unknown };
    if (
      !this.#started &&
      !this.#idGiven &&
      this.#table.size === 0 &&
      typeof s.id === 'string' &&
      /^[0-9a-fA-F]{40}$/.test(s.id)
    ) {
      this.#table = new RoutingTable(Buffer.from(s.id, 'hex'), this.#now());
    }
    if (!Array.isArray(s.nodes)) return;
    const nodes: { host: string; port: number }[] = [];
    for (const n of s.nodes.slice(0, MAX_SAVED_NODES) as unknown[]) {
      if (typeof n !== 'object' || n === null) continue;
      const { host, port } = n as { host?: unknown; port?: unknown };
      if (typeof host !== 'string' || !parseIp(host)) continue;
      if (typeof port !== 'number' || !Number.isInteger(port) || port <= 0 || port > 65535) continue;
      nodes.push({ host, port });
    }
    if (this.#started) for (const n of nodes) this.addNode(n.host, n.port);
    else this.#saved = nodes;
  }
}
