// The embedded tracker: a swarm table (who announced which torrent, from where, seed or not) and the
// handlers of HTTP (BEP 3/7/23/48) and UDP (BEP 15) requests that read and update it. It owns no
// socket: the session hands it each HTTP request already read (see http-tracker-conn.ts) and each
// UDP datagram, and sends what it returns. That keeps one port for everything and makes the handlers
// testable without a network.
//
// Memory and speed: a peer is one small record keyed by its compact address (6 or 18 bytes as a
// latin1 string) in one Map per torrent. Each torrent also keeps four packed lists (IPv4/IPv6 ×
// seed/leecher): the compact bytes of their peers back to back in one Buffer, with swap-remove on
// delete. A reply lists a random contiguous run of those lists (wrapping), so building it is a few
// Buffer copies whatever numwant is, and a seed is given leechers only without scanning anyone.
// Peers expire after 2 × interval + 60 s without an announce.
//
// UDP connection ids are the first 8 bytes of HMAC-SHA256(secret, window ‖ source IP), where the
// window is a 2-minute slot: unguessable, bound to the source address, stateless, and accepted for
// the current and the previous window (so 2 to 4 minutes, as BEP 15 asks for at least 2). Until a
// request carries a valid id nothing is answered except a connect (16 bytes for 16 bytes), so the
// tracker cannot be used to amplify traffic toward a forged source address.

import { createHmac, randomBytes } from 'node:crypto';
import {
  AnnounceEvent,
  bytesToIp,
  encodeCompactAnnounceReply,
  encodeDictAnnounceReply,
  encodeFailure,
  encodeScrapeReply,
  ipToBytes,
  type ListedPeer,
  parseAnnounceQuery,
  parseScrapeQuery,
  TrackerRequestError,
} from '../protocol/tracker-http.js';
import {
  decodeUdpRequest,
  encodeConnectReply,
  encodeErrorReply,
  encodeScrapeReply as encodeUdpScrapeReply,
  MAX_SCRAPE_HASHES,
  UDP_PROTOCOL_ID,
  UdpAction,
  UdpTrackerError,
  writeAnnounceReplyHeader,
} from '../protocol/tracker-udp.js';
import { errorText, type Logger, silentLogger } from '../util/logger.js';
import { TypedEmitter } from '../util/typed-events.js';

export interface TrackerServerOptions {
  /** Where a request that fails inside the tracker (not the announcer's mistake) is logged. */
  log?: Logger;
  /** Which info hashes (lowercase hex) are tracked; by default only the session's torrents. */
  isTracked: (infoHashHex: string) => boolean;
  /** Track any info hash announced (a public tracker), within `maxTorrents`. */
  open?: boolean;
  intervalSec?: number;
  minIntervalSec?: number;
  /** Peers given when an announce does not say how many it wants. */
  defaultNumwant?: number;
  /** Most peers in one reply, whatever the announce asks for. */
  maxNumwant?: number;
  maxPeersPerTorrent?: number;
  maxTorrents?: number;
  /** Most info hashes answered by one scrape (and by a scrape of everything). */
  maxScrapeHashes?: number;
  /** Use the `ip` parameter (HTTP) or field (UDP) instead of the source address: only behind a proxy. */
  trustIpParam?: boolean;
  now?: () => number;
  /** Uniform in [0, 1): chooses which peers a reply lists. */
  random?: () => number;
}

export interface KnownPeer {
  host: string;
  port: number;
  seed: boolean;
}

export interface PeerAnnounce extends KnownPeer {
  event: AnnounceEvent;
}

export type TrackerServerEvents = {
  /** Someone announced a torrent: the session may connect to them. */
  'peer:announce': [infoHashHex: string, peer: PeerAnnounce];
};

export interface HttpTrackerRequest {
  method: string;
  /** Path and query as on the request line, e.g. `/announce?info_hash=...`. */
  target: string;
  remoteAddress: string;
}

export interface HttpTrackerResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

export interface UdpSource {
  address: string;
  port: number;
  family: 'IPv4' | 'IPv6';
}

interface PeerRecord {
  /** Compact address: IP bytes then big-endian port, one char per byte. */
  readonly key: string;
  /** 20 bytes as latin1; empty for peers the session added. */
  peerId: string;
  /** Counted once in `downloaded`. */
  completed: boolean;
  expiresAtMs: number;
  /** The list it is in (which says its family and whether it is a seed), and its slot there. */
  list: PackedList;
  idx: number;
}

/** Peers of one family and role: records, and their compact bytes back to back. */
class PackedList {
  readonly recs: PeerRecord[] = [];
  bytes: Buffer;
  constructor(
    readonly entryBytes: 6 | 18,
    readonly seed: boolean,
  ) {
    this.bytes = Buffer.allocUnsafe(entryBytes * 4);
  }

  get length(): number {
    return this.recs.length;
  }

  push(rec: PeerRecord): void {
    const e = this.entryBytes;
    if ((this.recs.length + 1) * e > this.bytes.length) {
      const grown = Buffer.allocUnsafe(this.bytes.length * 2);
      this.bytes.copy(grown, 0, 0, this.recs.length * e);
      this.bytes = grown;
    }
    rec.list = this;
    rec.idx = this.recs.length;
    this.bytes.write(rec.key, rec.idx * e, 'latin1');
    this.recs.push(rec);
  }

  remove(rec: PeerRecord): void {
    const e = this.entryBytes;
    const last = this.recs.pop()!;
    if (last !== rec) {
      this.recs[rec.idx] = last;
      this.bytes.copy(this.bytes, rec.idx * e, last.idx * e, last.idx * e + e);
      last.idx = rec.idx;
    }
    // Give memory back when a swarm shrinks a lot.
    if (this.bytes.length > 64 * e && this.recs.length * e * 4 < this.bytes.length) {
      const shrunk = Buffer.allocUnsafe(this.bytes.length / 2);
      this.bytes.copy(shrunk, 0, 0, this.recs.length * e);
      this.bytes = shrunk;
    }
  }
}

/** A run of entries [from, to) of one list. */
type Run = [list: PackedList, from: number, to: number];

class Swarm {
  readonly byKey = new Map<string, PeerRecord>();
  readonly seeds4 = new PackedList(6, true);
  readonly leechers4 = new PackedList(6, false);
  readonly seeds6 = new PackedList(18, true);
  readonly leechers6 = new PackedList(18, false);
  downloaded = 0;

  get size(): number {
    return this.byKey.size;
  }

  get seeds(): number {
    return this.seeds4.length + this.seeds6.length;
  }

  lists(): PackedList[] {
    return [this.seeds4, this.leechers4, this.seeds6, this.leechers6];
  }

  listFor(key: string, seed: boolean): PackedList {
    if (key.length === 6) return seed ? this.seeds4 : this.leechers4;
    return seed ? this.seeds6 : this.leechers6;
  }

  add(rec: PeerRecord, seed: boolean): void {
    this.listFor(rec.key, seed).push(rec);
    this.byKey.set(rec.key, rec);
  }

  remove(rec: PeerRecord): void {
    rec.list.remove(rec);
    this.byKey.delete(rec.key);
  }

  setSeed(rec: PeerRecord, seed: boolean): void {
    if (rec.list.seed === seed) return;
    rec.list.remove(rec);
    this.listFor(rec.key, seed).push(rec);
  }
}

/**
 * Up to `want` entries of `lists` (seen as one ring) from a random start, leaving out `self`.
 * Returns runs of consecutive entries.
 */
function pickRuns(
  lists: readonly PackedList[],
  want: number,
  self: PeerRecord | undefined,
  random: number,
): Run[] {
  let total = 0;
  let selfIn = false;
  for (const l of lists) {
    total += l.length;
    if (self !== undefined && self.list === l) selfIn = true;
  }
  const available = total - (selfIn ? 1 : 0);
  const count = Math.min(want, available);
  if (count <= 0) return [];
  let take = Math.min(total, count + (selfIn ? 1 : 0));
  let pos = take === total ? 0 : Math.floor(random * total) % total;
  const runs: Run[] = [];
  while (take > 0) {
    // Find the list holding ring position `pos`.
    let li = 0;
    let off = pos;
    while (off >= lists[li]!.length) off -= lists[li++]!.length;
    const list = lists[li]!;
    const n = Math.min(take, list.length - off);
    if (selfIn && self!.list === list && self!.idx >= off && self!.idx < off + n) {
      if (self!.idx > off) runs.push([list, off, self!.idx]);
      if (self!.idx + 1 < off + n) runs.push([list, self!.idx + 1, off + n]);
    } else runs.push([list, off, off + n]);
    take -= n;
    pos = (pos + n) % total;
  }
  // When self was not in the window, one entry too many was taken.
  let got = 0;
  for (const r of runs) got += r[2] - r[1];
  if (got > count) runs[runs.length - 1]![2]--;
  return runs.filter((r) => r[2] > r[1]);
}

function runsLength(runs: readonly Run[]): number {
  let n = 0;
  for (const r of runs) n += r[2] - r[1];
  return n;
}

function copyRuns(runs: readonly Run[], out: Buffer, offset: number): number {
  let off = offset;
  for (const [list, from, to] of runs) {
    off += list.bytes.copy(out, off, from * list.entryBytes, to * list.entryBytes);
  }
  return off;
}

function packRuns(runs: readonly Run[], entryBytes: number): Buffer {
  const out = Buffer.allocUnsafe(runsLength(runs) * entryBytes);
  copyRuns(runs, out, 0);
  return out;
}

const UDP_WINDOW_MS = 120_000;
/** Bound of the small caches (source address bytes, connection ids). */
const CACHE_ENTRIES = 10_000;
const EXPIRY_SLACK_SEC = 60;

function compactKey(ip: Uint8Array, port: number): string {
  if (ip.length === 4) return String.fromCharCode(ip[0]!, ip[1]!, ip[2]!, ip[3]!, port >> 8, port & 255);
  let s = '';
  for (const b of ip) s += String.fromCharCode(b);
  return s + String.fromCharCode(port >> 8, port & 255);
}

function keyHost(key: string): string {
  return bytesToIp(Buffer.from(key.slice(0, key.length - 2), 'latin1'));
}

function keyPort(key: string): number {
  return (key.charCodeAt(key.length - 2) << 8) | key.charCodeAt(key.length - 1);
}

const TEXT_HEADERS = { 'Content-Type': 'text/plain; charset=utf-8' } as const;

export class TrackerServer extends TypedEmitter<TrackerServerEvents> {
  readonly #isTracked: (infoHashHex: string) => boolean;
  readonly #open: boolean;
  readonly #intervalSec: number;
  readonly #minIntervalSec: number;
  readonly #defaultNumwant: number;
  readonly #maxNumwant: number;
  readonly #maxPeersPerTorrent: number;
  readonly #maxTorrents: number;
  readonly #maxScrapeHashes: number;
  readonly #trustIp: boolean;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #ttlMs: number;
  readonly #sweepEveryMs: number;
  readonly #swarms = new Map<string, Swarm>();
  readonly #trackerId = randomBytes(4).toString('hex');
  #secret = randomBytes(32);
  #nextSweepMs = 0;
  #timer: NodeJS.Timeout | undefined;
  #peerCount = 0;
  readonly #ipCache = new Map<string, Buffer>();
  #cidWindow = -1;
  #cidCurrent = new Map<string, Buffer>();
  #cidPrevious = new Map<string, Buffer>();

  readonly #log: Logger;

  constructor(options: TrackerServerOptions) {
    super();
    this.#log = options.log ?? silentLogger;
    this.#isTracked = options.isTracked;
    this.#open = options.open ?? false;
    this.#intervalSec = options.intervalSec ?? 300;
    this.#minIntervalSec = Math.min(options.minIntervalSec ?? 60, this.#intervalSec);
    this.#maxNumwant = options.maxNumwant ?? 200;
    this.#defaultNumwant = Math.min(options.defaultNumwant ?? 50, this.#maxNumwant);
    this.#maxPeersPerTorrent = options.maxPeersPerTorrent ?? 20_000;
    this.#maxTorrents = options.maxTorrents ?? 10_000;
    this.#maxScrapeHashes = options.maxScrapeHashes ?? 100;
    this.#trustIp = options.trustIpParam ?? false;
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
    this.#ttlMs = (2 * this.#intervalSec + EXPIRY_SLACK_SEC) * 1000;
    this.#sweepEveryMs = Math.max(1000, Math.min(60_000, (this.#intervalSec * 1000) / 4));
  }

  /** Starts the periodic expiry sweep (expiry also happens lazily on requests). Idempotent. */
  start(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => this.expire(this.#now()), this.#sweepEveryMs);
    this.#timer.unref();
  }

  /** Stops the sweep and forgets every peer; UDP connection ids issued so far become invalid. Idempotent. */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#swarms.clear();
    this.#peerCount = 0;
    this.#secret = randomBytes(32);
    this.#cidCurrent.clear();
    this.#cidPrevious.clear();
  }

  /** Torrents and peers in the table (for stats and tests). */
  get stats(): { torrents: number; peers: number } {
    return { torrents: this.#swarms.size, peers: this.#peerCount };
  }

  /** Removes peers whose last announce is older than their time to live. */
  expire(nowMs: number): void {
    this.#nextSweepMs = nowMs + this.#sweepEveryMs;
    for (const [hex, swarm] of this.#swarms) {
      for (const list of swarm.lists()) {
        // Backwards: swap-remove moves the last element into the slot being removed.
        for (let i = list.length - 1; i >= 0; i--) {
          const rec = list.recs[i]!;
          if (rec.expiresAtMs <= nowMs) {
            swarm.remove(rec);
            this.#peerCount--;
          }
        }
      }
      if (swarm.size === 0) this.#swarms.delete(hex);
    }
  }

  /** The session's own connections: announces from anyone then return the whole swarm. */
  addKnownPeer(infoHashHex: string, peer: KnownPeer): void {
    const ip = ipToBytes(peer.host);
    if (ip === undefined || !Number.isInteger(peer.port) || peer.port < 1 || peer.port > 65535) return;
    const hex = infoHashHex.toLowerCase();
    if (!this.#open && !this.#isTracked(hex)) return;
    const swarm = this.#swarmFor(hex);
    if (swarm === undefined) return;
    this.#upsert(swarm, compactKey(ip, peer.port), '', peer.seed, this.#now());
  }

  removePeer(infoHashHex: string, peer: { host: string; port: number }): void {
    const ip = ipToBytes(peer.host);
    const swarm = this.#swarms.get(infoHashHex.toLowerCase());
    if (ip === undefined || swarm === undefined) return;
    const rec = swarm.byKey.get(compactKey(ip, peer.port));
    if (rec !== undefined) {
      swarm.remove(rec);
      this.#peerCount--;
    }
  }

  /** Every live peer of a torrent. */
  peersOf(infoHashHex: string): KnownPeer[] {
    const swarm = this.#swarms.get(infoHashHex.toLowerCase());
    if (swarm === undefined) return [];
    const now = this.#now();
    const out: KnownPeer[] = [];
    for (const rec of swarm.byKey.values()) {
      if (rec.expiresAtMs > now) {
        out.push({ host: keyHost(rec.key), port: keyPort(rec.key), seed: rec.list.seed });
      }
    }
    return out;
  }

  // -------------------------------------------------------------------------------------------------
  // HTTP

  /** Handles one HTTP request already read. Never throws: bad requests get a bencoded failure. */
  handleHttp(req: HttpTrackerRequest): HttpTrackerResponse {
    const now = this.#now();
    if (now >= this.#nextSweepMs) this.expire(now);
    if (req.method !== 'GET') return this.#text(405, 'only GET is served here\n');
    const q = req.target.indexOf('?');
    const path = q === -1 ? req.target : req.target.slice(0, q);
    const query = q === -1 ? '' : req.target.slice(q + 1);
    try {
      if (path === '/announce') return this.#ok(this.#httpAnnounce(query, req.remoteAddress, now));
      if (path === '/scrape') return this.#ok(this.#httpScrape(query));
      return this.#text(404, 'not found: this tracker serves /announce and /scrape\n');
    } catch (err) {
      if (err instanceof TrackerRequestError) return this.#ok(encodeFailure(err.message));
      this.#log.error('tracker request failed', { path, peer: req.remoteAddress, error: errorText(err) });
      return this.#ok(encodeFailure('internal error'));
    }
  }

  #ok(body: Buffer): HttpTrackerResponse {
    return { status: 200, headers: { 'Content-Type': 'text/plain' }, body };
  }

  #text(status: number, message: string): HttpTrackerResponse {
    return { status, headers: { ...TEXT_HEADERS }, body: Buffer.from(message) };
  }

  #httpAnnounce(query: string, remoteAddress: string, now: number): Buffer {
    const a = parseAnnounceQuery(query);
    let ip = this.#sourceIp(remoteAddress);
    if (this.#trustIp && a.ip !== undefined) {
      ip = ipToBytes(a.ip);
      if (ip === undefined) throw new TrackerRequestError('ip is not an IP address');
    }
    if (ip === undefined) throw new TrackerRequestError('unknown source address');
    const hex = a.infoHash.toString('hex');
    const isSeed = a.left === 0;
    const key = compactKey(ip, a.port);
    const swarm = this.#announce(hex, ip, key, a.port, a.peerId.toString('latin1'), isSeed, a.event, now);
    const want = Math.min(a.numwant ?? this.#defaultNumwant, this.#maxNumwant);
    const fields = {
      intervalSec: this.#intervalSec,
      minIntervalSec: this.#minIntervalSec,
      complete: swarm?.seeds ?? 0,
      incomplete: swarm === undefined ? 0 : swarm.size - swarm.seeds,
      trackerId: this.#trackerId,
    };
    if (swarm === undefined || a.event === AnnounceEvent.stopped || want === 0) {
      return a.compact
        ? encodeCompactAnnounceReply(fields, EMPTY, EMPTY)
        : encodeDictAnnounceReply(fields, [], a.noPeerId);
    }
    // Both families are listed over HTTP (BEP 7): a dual-stack client can use either.
    const self = swarm.byKey.get(key);
    const r = this.#random();
    const runs4 = pickRuns(isSeed ? [swarm.leechers4] : [swarm.seeds4, swarm.leechers4], want, self, r);
    const want6 = want - runsLength(runs4);
    const runs6 =
      want6 > 0 ? pickRuns(isSeed ? [swarm.leechers6] : [swarm.seeds6, swarm.leechers6], want6, self, r) : [];
    if (a.compact) return encodeCompactAnnounceReply(fields, packRuns(runs4, 6), packRuns(runs6, 18));
    const listed: ListedPeer[] = [];
    for (const [list, from, to] of [...runs4, ...runs6]) {
      for (let i = from; i < to; i++) {
        const rec = list.recs[i]!;
        listed.push({
          ip: Buffer.from(rec.key.slice(0, rec.key.length - 2), 'latin1'),
          port: keyPort(rec.key),
          peerId: rec.peerId.length === 20 ? Buffer.from(rec.peerId, 'latin1') : undefined,
        });
      }
    }
    return encodeDictAnnounceReply(fields, listed, a.noPeerId);
  }

  #httpScrape(query: string): Buffer {
    let hashes: Buffer[] = parseScrapeQuery(query, this.#maxScrapeHashes);
    if (hashes.length === 0) {
      // A scrape of everything: the tracked torrents, capped like any scrape.
      hashes = [];
      for (const hex of this.#swarms.keys()) {
        if (hashes.length >= this.#maxScrapeHashes) break;
        hashes.push(Buffer.from(hex, 'hex'));
      }
    }
    return encodeScrapeReply(
      hashes.map((h) => {
        const s = this.#swarms.get(h.toString('hex'));
        return {
          infoHash: h,
          complete: s?.seeds ?? 0,
          incomplete: s === undefined ? 0 : s.size - s.seeds,
          downloaded: s?.downloaded ?? 0,
        };
      }),
    );
  }

  /** Bytes of a source address, cached: a busy tracker sees the same addresses again and again. */
  #sourceIp(address: string): Buffer | undefined {
    let ip = this.#ipCache.get(address);
    if (ip === undefined) {
      ip = ipToBytes(address);
      if (ip === undefined) return undefined;
      if (this.#ipCache.size >= CACHE_ENTRIES) this.#ipCache.clear();
      this.#ipCache.set(address, ip);
    }
    return ip;
  }

  // -------------------------------------------------------------------------------------------------
  // UDP

  /** Handles one datagram; returns the reply to send back to `from`, or undefined to ignore it. */
  handleUdp(msg: Buffer, from: UdpSource): Buffer | undefined {
    if (msg.length < 16) return undefined;
    const ip = this.#sourceIp(from.address);
    if (ip === undefined) return undefined;
    const now = this.#now();
    if (now >= this.#nextSweepMs) this.expire(now);
    const action = msg.readUInt32BE(8);
    const transactionId = msg.readUInt32BE(12);
    if (action === UdpAction.connect) {
      if (msg.readBigUInt64BE(0) !== UDP_PROTOCOL_ID) return undefined;
      return encodeConnectReply(transactionId, this.#connectionId(ip, Math.floor(now / UDP_WINDOW_MS)));
    }
    // Forged, stale or absent connection id: no reply of any size.
    if (!this.#validConnectionId(msg.subarray(0, 8), ip, now)) return undefined;
    try {
      // 74 hashes at most (one MTU): the reply (8 + 12 per hash) is then smaller than the request.
      const req = decodeUdpRequest(msg, Math.min(MAX_SCRAPE_HASHES, this.#maxScrapeHashes));
      if (req === undefined || req.action === UdpAction.connect) return undefined;
      if (req.action === UdpAction.scrape) {
        return encodeUdpScrapeReply(
          transactionId,
          req.infoHashes.map((h) => {
            const s = this.#swarms.get(h.toString('hex'));
            return {
              seeders: s?.seeds ?? 0,
              completed: s?.downloaded ?? 0,
              leechers: s === undefined ? 0 : s.size - s.seeds,
            };
          }),
        );
      }
      if (req.port === 0) throw new UdpTrackerError('port out of range');
      let peerIp: Uint8Array = ip;
      if (this.#trustIp && req.ip !== 0) {
        peerIp = Buffer.from([req.ip >>> 24, (req.ip >>> 16) & 255, (req.ip >>> 8) & 255, req.ip & 255]);
      }
      const hex = req.infoHash.toString('hex');
      const isSeed = req.left === 0;
      const key = compactKey(peerIp, req.port);
      const swarm = this.#announce(
        hex,
        peerIp,
        key,
        req.port,
        req.peerId.toString('latin1'),
        isSeed,
        req.event,
        now,
      );
      const fields = {
        transactionId,
        intervalSec: this.#intervalSec,
        seeders: swarm?.seeds ?? 0,
        leechers: swarm === undefined ? 0 : swarm.size - swarm.seeds,
      };
      const want = Math.min(req.numwant < 0 ? this.#defaultNumwant : req.numwant, this.#maxNumwant);
      // BEP 15: the reply's address family is the request's (IPv4-mapped sources count as IPv4).
      const entry = ip.length === 4 ? 6 : 18;
      let runs: Run[] = [];
      if (swarm !== undefined && req.event !== AnnounceEvent.stopped && want > 0) {
        const lists =
          entry === 6
            ? isSeed
              ? [swarm.leechers4]
              : [swarm.seeds4, swarm.leechers4]
            : isSeed
              ? [swarm.leechers6]
              : [swarm.seeds6, swarm.leechers6];
        runs = pickRuns(lists, want, swarm.byKey.get(key), this.#random());
      }
      const out = Buffer.allocUnsafe(20 + runsLength(runs) * entry);
      writeAnnounceReplyHeader(out, fields);
      copyRuns(runs, out, 20);
      return out;
    } catch (err) {
      if (err instanceof UdpTrackerError || err instanceof TrackerRequestError) {
        return encodeErrorReply(transactionId, err.message, 256);
      }
      this.#log.error('UDP tracker request failed', { error: errorText(err) });
      return encodeErrorReply(transactionId, 'internal error', 256);
    }
  }

  #connectionId(ip: Uint8Array, window: number): Buffer {
    // HMAC once per address and window; the cache is dropped when the window moves on.
    if (window > this.#cidWindow) {
      // Entries of the window just ended serve as "previous"; anything older is dropped.
      this.#cidPrevious = window === this.#cidWindow + 1 ? this.#cidCurrent : new Map();
      this.#cidCurrent = new Map();
      this.#cidWindow = window;
    }
    const cache =
      window === this.#cidWindow
        ? this.#cidCurrent
        : window === this.#cidWindow - 1
          ? this.#cidPrevious
          : undefined;
    const k = Buffer.from(ip).toString('latin1');
    let id = cache?.get(k);
    if (id === undefined) {
      const w = Buffer.allocUnsafe(8);
      w.writeDoubleBE(window, 0);
      id = createHmac('sha256', this.#secret).update(w).update(ip).digest().subarray(0, 8);
      // Never a uTP packet's first byte (version 1 in the low nibble): the session's UDP port tells
      // a uTP packet from a tracker request by that byte.
      if ((id[0]! & 0x0f) === 1) id[0]! ^= 0x02;
      if (cache !== undefined) {
        if (cache.size >= CACHE_ENTRIES) cache.clear();
        cache.set(k, id);
      }
    }
    return id;
  }

  #validConnectionId(id: Buffer, ip: Uint8Array, now: number): boolean {
    const window = Math.floor(now / UDP_WINDOW_MS);
    return id.equals(this.#connectionId(ip, window)) || id.equals(this.#connectionId(ip, window - 1));
  }

  // -------------------------------------------------------------------------------------------------
  // The table

  #swarmFor(hex: string): Swarm | undefined {
    let swarm = this.#swarms.get(hex);
    if (swarm === undefined) {
      if (this.#swarms.size >= this.#maxTorrents) return undefined;
      swarm = new Swarm();
      this.#swarms.set(hex, swarm);
    }
    return swarm;
  }

  /** Records an announce; returns the swarm (undefined when the tracker is full). */
  #announce(
    hex: string,
    ip: Uint8Array,
    key: string,
    port: number,
    peerId: string,
    seed: boolean,
    event: AnnounceEvent,
    now: number,
  ): Swarm | undefined {
    if (!this.#open && !this.#isTracked(hex)) throw new TrackerRequestError('torrent not tracked here');
    if (event === AnnounceEvent.stopped) {
      const swarm = this.#swarms.get(hex);
      const rec = swarm?.byKey.get(key);
      if (swarm !== undefined && rec !== undefined) {
        swarm.remove(rec);
        this.#peerCount--;
        if (swarm.size === 0) this.#swarms.delete(hex);
      }
      this.emit('peer:announce', hex, { host: bytesToIp(ip), port, seed, event });
      return swarm;
    }
    const swarm = this.#swarmFor(hex);
    if (swarm === undefined) throw new TrackerRequestError('tracker full');
    const rec = this.#upsert(swarm, key, peerId, seed, now);
    if (event === AnnounceEvent.completed && rec !== undefined && !rec.completed) {
      rec.completed = true;
      swarm.downloaded++;
    }
    this.emit('peer:announce', hex, { host: bytesToIp(ip), port, seed, event });
    return swarm;
  }

  #upsert(swarm: Swarm, key: string, peerId: string, seed: boolean, now: number): PeerRecord | undefined {
    let rec = swarm.byKey.get(key);
    if (rec === undefined) {
      // A full swarm still answers, it just does not list the newcomer.
      if (swarm.size >= this.#maxPeersPerTorrent) return undefined;
      rec = { key, peerId, completed: false, expiresAtMs: now + this.#ttlMs, list: swarm.seeds4, idx: 0 };
      swarm.add(rec, seed);
      this.#peerCount++;
      return rec;
    }
    swarm.setSeed(rec, seed);
    if (peerId !== '' && peerId !== rec.peerId) rec.peerId = peerId;
    rec.expiresAtMs = now + this.#ttlMs;
    return rec;
  }
}

const EMPTY = Buffer.alloc(0);
