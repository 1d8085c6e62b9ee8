// The peers a torrent knows, one record per endpoint (libtorrent's peer_list, rqbit's PeerState):
// where each came from, how often dialling it failed and when to try it again, what wire worked,
// whether it is connected; the connections per IP address; the bans (endpoints, peer ids, hosts)
// with the strikes that lead to them; and the peers that hung up on a plaintext handshake. No
// sockets and no clock of its own: the torrent passes `now` in, dials, and reports what happened.

import { retryDelayMs } from '../peer/dial.js';
import { formatAddress, type PeerAddress, parseAddress } from '../protocol/address.js';

/**
 * Where an address to dial came from. Manual ones (the user's `--peer`, saved peers) are kept;
 * `magnet`: found while fetching a magnet's metadata (its x.pe, trackers, the DHT, LSD).
 */
export type PeerSource = 'manual' | 'tracker' | 'dht' | 'lsd' | 'pex' | 'magnet';

/** One known endpoint. */
export interface KnownPeer {
  readonly addr: PeerAddress;
  /** `host:port` or `[v6]:port` (formatAddress): the record's key. */
  readonly key: string;
  source: PeerSource;
  /** Found in a hybrid's v2 swarm (BEP 52): dialled with the truncated v2 info hash. */
  readonly v2?: boolean;
  failures: number;
  nextTryMs: number;
  /** Connected, or a dial to it is in progress. */
  connected: boolean;
  /** What to dial it with next: what worked last, or what a failure suggested. */
  wire?: 'encrypted' | 'plaintext';
  /** The next dial goes over uTP whatever the transport policy (a BEP 55 hole punch); once. */
  via?: 'utp';
  /**
   * A hint already sent it back to encrypted once: the next hint waits for the usual backoff (a peer
   * that hangs up on everything costs four tries: encrypted, plaintext, encrypted, plaintext).
   */
  switched?: boolean;
}

/**
 * Bounds on the addresses kept to dial (manual ones are not counted and never dropped): per source,
 * so one chatty source (a PEX peer that reconnects with fresh addresses each time) cannot push out
 * the others, and over all sources. Past a bound, the candidate that failed most, else the oldest,
 * makes room; one we are connected to never does.
 */
export const MAX_CANDIDATES_PER_SOURCE = 500;
export const MAX_CANDIDATES = 1000;
/** Candidates looked at (oldest first) to choose the one to drop. */
const DROP_SCAN = 64;

/** Banned endpoints of one host after which the host itself is banned (see PeerList.ban). */
export const HOST_BAN_ENDPOINTS = 2;

/** Peers kept as "may require encryption" hints (the latest). */
const MAX_ENCRYPTION_HINTS = 10;

/** A peer that closed the connection because both sides are seeds is left alone this long. */
const BOTH_SEEDERS_RETRY_MS = 3_600_000;
/** A peer that closed after its handshake is dialled again after this long. */
const AFTER_SESSION_RETRY_MS = 30_000;

/** The per-IP limit's key: a dual-stack socket's `::ffff:a.b.c.d` is the IPv4 address. */
export function ipKey(host: string): string {
  return /^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(host) ? host.slice(7) : host;
}

export class PeerList {
  readonly #known = new Map<string, KnownPeer>();
  /** The candidates of each source but manual, oldest first. */
  readonly #bySource = new Map<PeerSource, Map<string, KnownPeer>>();
  #sourcedCount = 0;
  /** Connections and dials in progress per IP address (see ipKey). */
  readonly #perIp = new Map<string, number>();
  #dialing = 0;
  /** Strikes by endpoint (host:port). */
  readonly #strikes = new Map<string, number>();
  /**
   * Bans are scoped to the offender: its endpoint and its peer id. Several peers share an address on
   * one machine or behind one NAT; the address itself (#bannedHosts) goes only when
   * HOST_BAN_ENDPOINTS of its endpoints have lied.
   */
  readonly #bannedEndpoints = new Set<string>();
  readonly #bannedIds = new Set<string>();
  readonly #bannedHosts = new Set<string>();
  readonly #encryptionHints = new Set<string>();
  readonly #maxPerIp: number;

  constructor(o: { maxPerIp: number }) {
    this.#maxPerIp = o.maxPerIp;
  }

  get maxPerIp(): number {
    return this.#maxPerIp;
  }

  /**
   * Adds addresses to dial. Those of a discovery source are bounded (MAX_CANDIDATES_PER_SOURCE,
   * MAX_CANDIDATES); manual ones are always kept, and one the user names that a source had found is
   * theirs from then on.
   */
  add(addrs: readonly PeerAddress[], source: PeerSource, v2 = false): void {
    for (const a of addrs) {
      const key = formatAddress(a);
      const known = this.#known.get(key);
      if (known) {
        if (source === 'manual' && known.source !== 'manual') {
          this.#unlist(known);
          known.source = 'manual';
        }
        continue;
      }
      if (source !== 'manual' && !this.#makeRoom(source)) continue;
      const p: KnownPeer = {
        addr: a,
        key,
        source,
        failures: 0,
        nextTryMs: 0,
        connected: false,
        ...(v2 ? { v2 } : {}),
      };
      this.#known.set(key, p);
      if (source !== 'manual') {
        let list = this.#bySource.get(source);
        if (!list) {
          list = new Map();
          this.#bySource.set(source, list);
        }
        list.set(key, p);
        this.#sourcedCount++;
      }
    }
  }

  get(key: string): KnownPeer | undefined {
    return this.#known.get(key);
  }

  /** Addresses of the peers we know (connected or not), oldest first. */
  knownAddresses(): string[] {
    return [...this.#known.keys()];
  }

  /** Known peers by source (manual included). */
  counts(): Record<PeerSource, number> {
    const out: Record<PeerSource, number> = { manual: 0, tracker: 0, dht: 0, lsd: 0, pex: 0, magnet: 0 };
    for (const p of this.#known.values()) out[p.source]++;
    return out;
  }

  /**
   * A relay told us (BEP 55 `connect`) that this peer is dialling us over uTP right now: dial it
   * over uTP at once too, whatever its back-off, so that both NATs open. Known peers keep their
   * record; a new one is listed as found by PEX (a peer told us of it). False when it is connected
   * or being dialled, banned, or there is no room.
   */
  punch(addr: PeerAddress, now: number): boolean {
    this.add([addr], 'pex');
    const p = this.#known.get(formatAddress(addr));
    if (!p || p.connected) return false;
    p.nextTryMs = 0;
    p.via = 'utp';
    return this.dialable(p, now);
  }

  /** Every peer not connected may be dialled at once (we want data again: the seeders we dropped can give it). */
  retryAll(): void {
    for (const p of this.#known.values()) if (!p.connected) p.nextTryMs = 0;
  }

  /** A peer to dial now: not connected, due, not banned, its IP under the per-IP limit. */
  dialable(p: KnownPeer, now: number): boolean {
    return (
      !p.connected &&
      p.nextTryMs <= now &&
      !this.#bannedHosts.has(p.addr.host) &&
      !this.#bannedEndpoints.has(p.key) &&
      this.ipCount(p.addr.host) < this.#maxPerIp
    );
  }

  /** The peers to dial now, oldest first (see dialable). */
  *dialCandidates(now: number): Generator<KnownPeer> {
    for (const p of this.#known.values()) if (this.dialable(p, now)) yield p;
  }

  hasDialCandidate(now: number): boolean {
    return !this.dialCandidates(now).next().done;
  }

  /** Dials in progress. */
  get dialing(): number {
    return this.#dialing;
  }

  /** A dial to `p` begins: it counts against its IP until the connection closes or the dial fails. */
  dialStarted(p: KnownPeer): void {
    p.connected = true;
    delete p.via;
    this.#dialing++;
    this.countIp(p.addr.host, 1);
  }

  /** The dial gave a connection (it keeps its IP count until `closed`). */
  dialSucceeded(): void {
    this.#dialing--;
  }

  /**
   * The dial failed. `plaintextNow`: a peer that seems not to speak MSE is tried in plaintext at once
   * (and remembered so); otherwise it backs off by its failures.
   */
  dialFailed(p: KnownPeer, now: number, o: { plaintextNow?: boolean; aborted?: boolean } = {}): void {
    this.#dialing--;
    this.countIp(p.addr.host, -1);
    p.connected = false;
    if (o.aborted) return;
    if (o.plaintextNow) {
      p.wire = 'plaintext';
      p.nextTryMs = 0;
      return;
    }
    p.failures++;
    p.nextTryMs = now + retryDelayMs(p.failures, p.source === 'manual');
  }

  /** A connection that did not come from a dial of ours (incoming, or adopted) joins: it counts against its IP. */
  joinedUnlisted(host: string): void {
    this.countIp(host, 1);
  }

  /** A connection to a known peer joins without a dial of ours (adopted): it counts as connected. */
  joinedListed(p: KnownPeer): void {
    p.connected = true;
    this.countIp(p.addr.host, 1);
  }

  /**
   * A peer that dialled us listens at `p` (its BEP 10 `p`): it counts as connected, so we do not dial
   * it too (a second connection to one peer is closed as a twin, and with it what the first had).
   * Its IP was counted when it joined; `leftIncoming` undoes this when that connection closes.
   */
  joinedIncoming(p: KnownPeer): void {
    p.connected = true;
  }

  /** The incoming connection of `joinedIncoming` closed. */
  leftIncoming(p: KnownPeer): void {
    p.connected = false;
  }

  /** The BitTorrent handshake with `p` is done over `wire`: its failures are forgiven. */
  handshaken(p: KnownPeer, wire: 'encrypted' | 'plaintext' | undefined): void {
    p.failures = 0;
    p.switched = false;
    if (wire) p.wire = wire;
  }

  /**
   * The connection to a known peer closed (its IP count is the caller's): when to dial it again. `hungUpOnPlaintext`: it closed
   * right after our plaintext handshake (it may require encryption) — noted as a hint, and under
   * `prefer` (`retryEncrypted`) tried encrypted at once, once. True when the caller should dial now.
   */
  closed(
    p: KnownPeer,
    now: number,
    o: {
      handshaken: boolean;
      bothSeeders: boolean;
      hungUpOnPlaintext: boolean;
      retryEncrypted: boolean;
    },
  ): boolean {
    p.connected = false;
    if (o.bothSeeders) p.nextTryMs = now + BOTH_SEEDERS_RETRY_MS;
    else if (!o.handshaken) {
      // Reset before the handshake: a failed dial, retried after about 1 s, then less often.
      p.failures++;
      p.nextTryMs = now + retryDelayMs(p.failures, p.source === 'manual');
    } else p.nextTryMs = now + AFTER_SESSION_RETRY_MS;
    if (!o.hungUpOnPlaintext) return false;
    this.#noteEncryptionHint(p.key);
    if (!o.retryEncrypted || p.switched) return false;
    p.wire = 'encrypted';
    p.switched = true;
    p.nextTryMs = 0;
    return true;
  }

  /** The torrent stopped: no connection counts against any IP any more. */
  forgetConnections(): void {
    this.#perIp.clear();
  }

  /** Connections and dials in progress to `host`'s IP. */
  ipCount(host: string): number {
    return this.#perIp.get(ipKey(host)) ?? 0;
  }

  countIp(host: string, delta: number): void {
    const ip = ipKey(host);
    const n = (this.#perIp.get(ip) ?? 0) + delta;
    if (n > 0) this.#perIp.set(ip, n);
    else this.#perIp.delete(ip);
  }

  /** Peers that closed right after our plaintext handshake (the latest 10): they may require encryption. */
  encryptionHints(): string[] {
    return [...this.#encryptionHints];
  }

  #noteEncryptionHint(address: string): void {
    this.#encryptionHints.delete(address);
    this.#encryptionHints.add(address);
    if (this.#encryptionHints.size > MAX_ENCRYPTION_HINTS)
      this.#encryptionHints.delete(this.#encryptionHints.values().next().value!);
  }

  // --- bans ---

  isBannedHost(host: string): boolean {
    return this.#bannedHosts.has(host);
  }

  isBannedEndpoint(endpoint: string): boolean {
    return this.#bannedEndpoints.has(endpoint);
  }

  isBannedId(peerIdHex: string): boolean {
    return this.#bannedIds.has(peerIdHex);
  }

  /** The endpoints banned (web seeds' ids among them). */
  bannedEndpoints(): string[] {
    return [...this.#bannedEndpoints];
  }

  /** Adds `n` strikes to an endpoint; true when it reaches `limit` (the caller bans it). */
  strike(endpoint: string, n: number, limit: number): boolean {
    const strikes = (this.#strikes.get(endpoint) ?? 0) + n;
    this.#strikes.set(endpoint, strikes);
    return strikes >= limit;
  }

  /**
   * Bans an endpoint and the peer ids seen on it. With `hostToo` (peers, not web seeds) its host is
   * banned as well once HOST_BAN_ENDPOINTS of its endpoints are. Returns whether the endpoint was
   * new to the list, and the host when this ban took it too.
   */
  ban(endpoint: string, peerIds: Iterable<string>, hostToo = true): { added: boolean; host?: string } {
    if (this.#bannedEndpoints.has(endpoint)) return { added: false };
    this.#bannedEndpoints.add(endpoint);
    for (const id of peerIds) this.#bannedIds.add(id);
    if (!hostToo) return { added: true };
    const host = parseAddress(endpoint)?.host ?? endpoint;
    let sameHost = 0;
    for (const b of this.#bannedEndpoints) if ((parseAddress(b)?.host ?? b) === host) sameHost++;
    if (sameHost < HOST_BAN_ENDPOINTS || this.#bannedHosts.has(host)) return { added: true };
    this.#bannedHosts.add(host);
    return { added: true, host };
  }

  // --- the bounds ---

  /** Room for one more candidate of `source` within both bounds; false when all are connected. */
  #makeRoom(source: PeerSource): boolean {
    const own = this.#bySource.get(source);
    if (own && own.size >= MAX_CANDIDATES_PER_SOURCE && !this.#dropOne(own)) return false;
    if (this.#sourcedCount < MAX_CANDIDATES) return true;
    // Over all sources: the largest list gives one up.
    let largest: Map<string, KnownPeer> | undefined;
    for (const list of this.#bySource.values()) if (!largest || list.size > largest.size) largest = list;
    return largest !== undefined && this.#dropOne(largest);
  }

  /** Drops the candidate of `list` that failed most among its oldest, else the oldest; not a connected one. */
  #dropOne(list: Map<string, KnownPeer>): boolean {
    let victim: KnownPeer | undefined;
    let seen = 0;
    for (const p of list.values()) {
      if (p.connected) continue;
      if (!victim || p.failures > victim.failures) victim = p;
      if (++seen >= DROP_SCAN) break;
    }
    if (!victim) return false;
    this.#known.delete(victim.key);
    this.#unlist(victim);
    return true;
  }

  #unlist(p: KnownPeer): void {
    if (this.#bySource.get(p.source)?.delete(p.key)) this.#sourcedCount--;
  }
}
