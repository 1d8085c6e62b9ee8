// Tracker client of one torrent: announces (started, then on the tracker's interval; completed once;
// stopped on stop) and scrapes over HTTP(S) (BEP 3/23/7/48) and UDP (BEP 15), across BEP 12 tiers.
//
// Tiers: trackers are shuffled within their tier once; an announce tries them in order, tier by
// tier, and stops at the first that answers, which moves to the front of its tier. When none
// answers, the next attempt waits retryMinMs × 2^failures (capped at retryMaxMs). A tracker that
// has not yet been told `started` gets `started` first, whichever tier it is in, so that `stopped`
// is later sent exactly to the trackers that know about us.
//
// Hostile trackers: a reply is read up to maxReplyBytes (1 MiB) after decompression (gzip is
// decompressed with a hard output cap, so a gzip bomb costs a bounded amount of memory), peers are
// taken only as IP literals, and only http:, https: and udp: URLs are used at all.

import { randomBytes, randomInt } from 'node:crypto';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { promisify } from 'node:util';
import { gunzip, inflate } from 'node:zlib';
import {
  AnnounceEvent,
  type AnnounceReply,
  buildAnnounceQuery,
  buildScrapeQuery,
  type PeerAddress,
  parseAnnounceReply,
  parseScrapeReply,
  type ScrapeCounts,
  scrapeUrlOf,
} from '../protocol/tracker-http.js';
import {
  decodeUdpReply,
  encodeAnnounceRequest,
  encodeConnectRequest,
  encodeScrapeRequest,
  UdpAction,
  type UdpReply,
} from '../protocol/tracker-udp.js';
import { type Clock, realClock, type TimerHandle } from '../util/clock.js';
import { TypedEmitter } from '../util/typed-events.js';

const gunzipAsync = promisify(gunzip);
const inflateAsync = promisify(inflate);

export class TrackerError extends Error {
  override readonly name = 'TrackerError';
  readonly code = 'ERR_TRACKER';
  readonly url: string;
  constructor(url: string, message: string, options?: ErrorOptions) {
    super(`${url}: ${message}`, options);
    this.url = url;
  }
}

export interface TransferStats {
  uploaded: number;
  downloaded: number;
  left: number;
}

export interface TrackerClientOptions {
  infoHash: Uint8Array;
  peerId: Uint8Array;
  /** Our listening port, announced to the trackers. */
  port: number;
  /** The port to announce when it may change (a router's mapping); default `port`. */
  announcePort?: () => number;
  /** Announce URLs by tier (BEP 12); a single `announce` is one tier of one. */
  tiers: readonly (readonly string[])[];
  getStats: () => TransferStats;
  /** Random per session; default 8 random hex digits. */
  key?: string;
  numwant?: number;
  /** Time allowed for one announce or scrape to one tracker. */
  timeoutMs?: number;
  /** First UDP retransmission delay; it doubles on each retry until timeoutMs runs out. */
  udpRetransmitMs?: number;
  /** Bound on sending `stopped` to all trackers at stop(). */
  stopTimeoutMs?: number;
  /** Shortest wait between regular announces, whatever a tracker asks for. */
  intervalFloorMs?: number;
  /** Wait after the first round in which no tracker answered; doubles per failed round. */
  retryMinMs?: number;
  retryMaxMs?: number;
  maxReplyBytes?: number;
  /** Stops the client (sending `stopped`) when aborted. */
  signal?: AbortSignal;
  random?: () => number;
  userAgent?: string;
  /** Local address every request leaves from (`--bind`): the tracker then records where we listen. */
  localAddress?: string;
  /** Time and timers of the announce schedule and the UDP connection ids; default the real clock. */
  clock?: Clock;
}

export interface TrackerReplyInfo {
  intervalSec: number;
  minIntervalSec: number | undefined;
  complete: number | undefined;
  incomplete: number | undefined;
  peers: number;
}

export type TrackerClientEvents = {
  'peers:found': [peers: PeerAddress[]];
  'tracker:error': [url: string, error: Error];
  'tracker:reply': [url: string, info: TrackerReplyInfo];
};

export interface ScrapeResult extends ScrapeCounts {
  url: string;
}

interface TrackerEntry {
  readonly url: string;
  readonly parsed: URL;
  trackerId: Buffer | undefined;
  /** Told `started` and not yet `stopped`. */
  announced: boolean;
  /** A `started` is on its way: the tracker may count us before its reply is read. */
  starting: boolean;
  udpConnection: { id: Buffer; expiresAtMs: number } | undefined;
}

/** Only these schemes are ever contacted. */
export function isSupportedTrackerUrl(url: string): boolean {
  try {
    const u = new URL(url);
    if (u.protocol === 'udp:') return u.hostname !== '' && u.port !== '';
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
  } catch {
    return false;
  }
}

const UDP_CONNECTION_TTL_MS = 60_000; // BEP 15: a client may use a connection id for one minute

export class TrackerClient extends TypedEmitter<TrackerClientEvents> {
  /** URLs left out because their scheme is not http, https or udp (or they do not parse). */
  readonly rejectedUrls: readonly string[];
  readonly #o: TrackerClientOptions;
  readonly #tiers: TrackerEntry[][];
  readonly #key: string;
  readonly #udpKey: number;
  readonly #timeoutMs: number;
  readonly #ac = new AbortController();
  readonly #clock: Clock;
  #timer: TimerHandle | undefined;
  #cycle: Promise<void> | undefined;
  #again = false;
  #started = false;
  #stopping: Promise<void> | undefined;
  #completedPending = false;
  #failures = 0;
  #minIntervalMs = 0;
  #lastSuccessMs = 0;
  #nextAnnounceAtMs: number | undefined;

  constructor(options: TrackerClientOptions) {
    super();
    this.#o = options;
    this.#clock = options.clock ?? realClock;
    this.#timeoutMs = options.timeoutMs ?? 15_000;
    const random = options.random ?? Math.random;
    const rejected: string[] = [];
    const seen = new Set<string>();
    this.#tiers = [];
    for (const tier of options.tiers) {
      const entries: TrackerEntry[] = [];
      for (const url of tier) {
        if (seen.has(url)) continue;
        seen.add(url);
        if (!isSupportedTrackerUrl(url)) {
          rejected.push(url);
          continue;
        }
        entries.push({
          url,
          parsed: new URL(url),
          trackerId: undefined,
          announced: false,
          starting: false,
          udpConnection: undefined,
        });
      }
      // BEP 12: shuffle each tier once.
      for (let i = entries.length - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        [entries[i], entries[j]] = [entries[j]!, entries[i]!];
      }
      if (entries.length > 0) this.#tiers.push(entries);
    }
    this.rejectedUrls = rejected;
    this.#key = options.key ?? randomBytes(4).toString('hex');
    this.#udpKey = /^[0-9a-f]{8}$/i.test(this.#key)
      ? Number.parseInt(this.#key, 16)
      : [...this.#key].reduce((h, c) => (Math.imul(h, 31) + c.charCodeAt(0)) >>> 0, 7);
    options.signal?.addEventListener('abort', () => void this.stop(), { once: true });
  }

  /** The trackers in the order they will be tried, tier by tier. */
  get tiers(): string[][] {
    return this.#tiers.map((t) => t.map((e) => e.url));
  }

  /** When the next regular announce is due (ms since the epoch); undefined while one runs or after stop. */
  get nextAnnounceAtMs(): number | undefined {
    return this.#nextAnnounceAtMs;
  }

  /** Announces `started`, then again on each interval. Idempotent. */
  start(): void {
    if (this.#started || this.#stopping !== undefined || this.#o.signal?.aborted) return;
    this.#started = true;
    this.#schedule(0);
  }

  /** Sends `completed` once, now. */
  completed(): void {
    if (this.#completedPending || this.#stopping !== undefined) return;
    this.#completedPending = true;
    if (this.#started) void this.announceNow();
  }

  /** Announces now (or as soon as the tracker's min interval allows); resolves when that round ends. */
  announceNow(): Promise<void> {
    if (!this.#started || this.#stopping !== undefined) return Promise.resolve();
    const wait = this.#lastSuccessMs + this.#minIntervalMs - this.#clock.now();
    if (wait > 0 && !this.#completedPending) {
      this.#schedule(wait);
      return Promise.resolve();
    }
    return this.#runCycle();
  }

  /** Stops announcing and sends `stopped` to every tracker told `started`, within stopTimeoutMs. */
  stop(): Promise<void> {
    if (this.#stopping !== undefined) return this.#stopping;
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#nextAnnounceAtMs = undefined;
    // A `started` cut short by this stop may have been counted: that tracker is told `stopped` too.
    const starting = this.#tiers.flat().filter((e) => e.starting);
    this.#ac.abort();
    this.#stopping = (async () => {
      // Only waits for the announce in progress: its errors were emitted as tracker:error.
      await this.#cycle?.catch(() => undefined);
      const stopTimeoutMs = this.#o.stopTimeoutMs ?? 2000;
      const told = this.#tiers.flat().filter((e) => e.announced || starting.includes(e));
      // A download that completes and stops at once (`bitswarm download` without --seed) has just
      // aborted its `completed` announce: send it first, or trackers never count the download.
      const completed = this.#completedPending;
      this.#completedPending = false;
      await Promise.all(
        told.map(async (entry) => {
          try {
            const signal = AbortSignal.timeout(stopTimeoutMs);
            if (completed) await this.#announceTo(entry, AnnounceEvent.completed, signal, 0);
            await this.#announceTo(entry, AnnounceEvent.stopped, signal, 0);
            entry.announced = false;
          } catch (err) {
            this.emit('tracker:error', entry.url, err as Error);
          }
        }),
      );
    })();
    return this.#stopping;
  }

  /** Scrape counts from the first tracker (in tier order) that answers, or undefined. */
  async scrape(): Promise<ScrapeResult | undefined> {
    const hex = Buffer.from(this.#o.infoHash).toString('hex');
    for (const tier of this.#tiers) {
      for (const entry of tier) {
        if (this.#ac.signal.aborted) return undefined;
        const signal = AbortSignal.any([this.#ac.signal, AbortSignal.timeout(this.#timeoutMs)]);
        try {
          let counts: ScrapeCounts | undefined;
          if (entry.parsed.protocol === 'udp:') {
            counts = await this.#udpScrape(entry, signal);
          } else {
            const url = scrapeUrlOf(entry.url);
            if (url === undefined) continue;
            const sep = url.includes('?') ? '&' : '?';
            const body = await this.#httpGet(`${url}${sep}${buildScrapeQuery([this.#o.infoHash])}`, signal);
            counts = parseScrapeReply(body).get(hex) ?? { complete: 0, incomplete: 0, downloaded: 0 };
          }
          return { url: entry.url, ...counts };
        } catch (err) {
          this.emit('tracker:error', entry.url, asTrackerError(entry.url, err));
        }
      }
    }
    return undefined;
  }

  // -------------------------------------------------------------------------------------------------

  #schedule(delayMs: number): void {
    if (this.#stopping !== undefined) return;
    this.#clock.clearTimeout(this.#timer);
    this.#nextAnnounceAtMs = this.#clock.now() + delayMs;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.#nextAnnounceAtMs = undefined;
      void this.#runCycle();
    }, delayMs);
  }

  #runCycle(): Promise<void> {
    if (this.#cycle !== undefined) {
      this.#again = true;
      return this.#cycle;
    }
    const run = async (): Promise<void> => {
      do {
        this.#again = false;
        const ok = await this.#announceRound();
        if (this.#stopping !== undefined) return;
        if (ok !== undefined) {
          this.#failures = 0;
          this.#lastSuccessMs = this.#clock.now();
          this.#minIntervalMs = (ok.minIntervalSec ?? 0) * 1000;
          const floor = this.#o.intervalFloorMs ?? 30_000;
          this.#schedule(Math.max(ok.intervalSec * 1000, this.#minIntervalMs, floor));
        } else {
          const min = this.#o.retryMinMs ?? 15_000;
          const max = this.#o.retryMaxMs ?? 30 * 60_000;
          this.#schedule(Math.min(max, min * 2 ** Math.min(this.#failures, 30)));
          this.#failures++;
        }
      } while (this.#again && this.#stopping === undefined);
    };
    this.#cycle = run().finally(() => {
      this.#cycle = undefined;
    });
    return this.#cycle;
  }

  /** One round through the tiers; the reply of the tracker that answered, or undefined. */
  async #announceRound(): Promise<AnnounceReply | undefined> {
    for (const tier of this.#tiers) {
      for (let i = 0; i < tier.length; i++) {
        if (this.#ac.signal.aborted) return undefined;
        const entry = tier[i]!;
        const left = this.#o.getStats().left;
        const event = !entry.announced
          ? AnnounceEvent.started
          : this.#completedPending
            ? AnnounceEvent.completed
            : AnnounceEvent.none;
        const signal = AbortSignal.any([this.#ac.signal, AbortSignal.timeout(this.#timeoutMs)]);
        try {
          entry.starting = event === AnnounceEvent.started;
          const reply = await this.#announceTo(entry, event, signal, this.#o.numwant ?? 50).finally(() => {
            entry.starting = false;
          });
          if (event === AnnounceEvent.started) entry.announced = true;
          if (event === AnnounceEvent.completed || (event === AnnounceEvent.started && left === 0)) {
            this.#completedPending = false;
          }
          // BEP 12: the tracker that answered goes to the front of its tier.
          tier.splice(i, 1);
          tier.unshift(entry);
          this.emit('tracker:reply', entry.url, {
            intervalSec: reply.intervalSec,
            minIntervalSec: reply.minIntervalSec,
            complete: reply.complete,
            incomplete: reply.incomplete,
            peers: reply.peers.length,
          });
          if (reply.peers.length > 0) this.emit('peers:found', reply.peers);
          return reply;
        } catch (err) {
          this.emit('tracker:error', entry.url, asTrackerError(entry.url, err));
        }
      }
    }
    return undefined;
  }

  async #announceTo(
    entry: TrackerEntry,
    event: AnnounceEvent,
    signal: AbortSignal,
    numwant: number,
  ): Promise<AnnounceReply> {
    const stats = this.#o.getStats();
    if (entry.parsed.protocol === 'udp:') return this.#udpAnnounce(entry, event, stats, signal, numwant);
    const query = buildAnnounceQuery({
      infoHash: this.#o.infoHash,
      peerId: this.#o.peerId,
      port: this.#o.announcePort?.() ?? this.#o.port,
      uploaded: stats.uploaded,
      downloaded: stats.downloaded,
      left: stats.left,
      event,
      numwant,
      key: this.#key,
      ...(entry.trackerId !== undefined ? { trackerId: entry.trackerId } : {}),
    });
    const sep = entry.url.includes('?') ? '&' : '?';
    const body = await this.#httpGet(`${entry.url}${sep}${query}`, signal);
    const reply = parseAnnounceReply(body);
    if (reply.trackerId !== undefined) entry.trackerId = reply.trackerId;
    return reply;
  }

  // -------------------------------------------------------------------------------------------------
  // HTTP

  /** The bound address and its family (names resolve to that family only), or nothing. */
  #localAddressOptions(): { localAddress: string; family: 4 | 6 } | Record<string, never> {
    const local = this.#o.localAddress;
    const family = local === undefined ? 0 : isIP(local);
    return local !== undefined && (family === 4 || family === 6) ? { localAddress: local, family } : {};
  }

  #httpGet(url: string, signal: AbortSignal): Promise<Buffer> {
    const maxBytes = this.#o.maxReplyBytes ?? 1024 * 1024;
    return new Promise<Buffer>((resolve, reject) => {
      if (signal.aborted) {
        reject(new TrackerError(url, 'aborted', { cause: signal.reason }));
        return;
      }
      const u = new URL(url);
      const requestFn = u.protocol === 'https:' ? httpsRequest : httpRequest;
      const req = requestFn(u, {
        method: 'GET',
        signal,
        agent: false,
        ...this.#localAddressOptions(),
        headers: {
          'Accept-Encoding': 'gzip',
          'User-Agent': this.#o.userAgent ?? 'bitswarm',
          Connection: 'close',
        },
      });
      const fail = (message: string, cause?: unknown): void => {
        req.destroy();
        reject(new TrackerError(url, message, cause !== undefined ? { cause } : undefined));
      };
      req.on('error', (err) => fail(signal.aborted ? 'timed out or aborted' : err.message, err));
      req.on('response', (res: IncomingMessage) => {
        const declared = Number(res.headers['content-length']);
        if (Number.isFinite(declared) && declared > maxBytes) {
          fail(`reply of ${declared} bytes exceeds ${maxBytes}`);
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBytes) {
            res.destroy();
            fail(`reply exceeds ${maxBytes} bytes`);
            return;
          }
          chunks.push(chunk);
        });
        res.on('error', (err) => fail(err.message, err));
        res.on('end', () => {
          const raw = Buffer.concat(chunks, size);
          const encoding = (res.headers['content-encoding'] ?? 'identity').toLowerCase();
          const decoded =
            encoding === 'gzip' || encoding === 'x-gzip'
              ? gunzipAsync(raw, { maxOutputLength: maxBytes })
              : encoding === 'deflate'
                ? inflateAsync(raw, { maxOutputLength: maxBytes })
                : encoding === 'identity'
                  ? Promise.resolve(raw)
                  : Promise.reject(new Error(`unknown content-encoding ${encoding}`));
          decoded.then(
            (body) => {
              if (res.statusCode !== 200) {
                // Some trackers send their failure reason with an error status.
                try {
                  parseAnnounceReply(body);
                } catch (err) {
                  fail(`HTTP ${res.statusCode}: ${(err as Error).message}`, err);
                  return;
                }
                fail(`HTTP ${res.statusCode}`);
                return;
              }
              resolve(body);
            },
            (err: unknown) => {
              const tooLarge = (err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE';
              fail(tooLarge ? `decompressed reply exceeds ${maxBytes} bytes` : 'bad compressed reply', err);
            },
          );
        });
      });
      req.end();
    });
  }

  // -------------------------------------------------------------------------------------------------
  // UDP

  async #udpAnnounce(
    entry: TrackerEntry,
    event: AnnounceEvent,
    stats: TransferStats,
    signal: AbortSignal,
    numwant: number,
  ): Promise<AnnounceReply> {
    return this.#withUdp(entry, signal, async (exchange, connectionId, peerBytes) => {
      const tid = randomInt(2 ** 32);
      const reply = await exchange(
        encodeAnnounceRequest({
          connectionId,
          transactionId: tid,
          infoHash: this.#o.infoHash,
          peerId: this.#o.peerId,
          downloaded: stats.downloaded,
          left: stats.left,
          uploaded: stats.uploaded,
          event,
          key: this.#udpKey,
          numwant,
          port: this.#o.announcePort?.() ?? this.#o.port,
        }),
        tid,
        peerBytes,
      );
      if (reply.action !== UdpAction.announce) throw new TrackerError(entry.url, 'unexpected reply action');
      return {
        intervalSec: reply.intervalSec,
        minIntervalSec: undefined,
        complete: reply.seeders,
        incomplete: reply.leechers,
        trackerId: undefined,
        warning: undefined,
        peers: reply.peers,
      };
    });
  }

  async #udpScrape(entry: TrackerEntry, signal: AbortSignal): Promise<ScrapeCounts> {
    return this.#withUdp(entry, signal, async (exchange, connectionId) => {
      const tid = randomInt(2 ** 32);
      const reply = await exchange(encodeScrapeRequest(connectionId, tid, [this.#o.infoHash]), tid, 6);
      if (reply.action !== UdpAction.scrape || reply.counts.length < 1) {
        throw new TrackerError(entry.url, 'unexpected reply to scrape');
      }
      const c = reply.counts[0]!;
      return { complete: c.seeders, incomplete: c.leechers, downloaded: c.completed };
    });
  }

  /**
   * Opens a UDP socket to the tracker, gets a connection id (cached for a minute), runs `body`,
   * closes the socket. Requests are retransmitted after udpRetransmitMs, doubling, until `signal`.
   */
  async #withUdp<T>(
    entry: TrackerEntry,
    signal: AbortSignal,
    body: (
      exchange: (packet: Buffer, tid: number, peerBytes: 6 | 18) => Promise<UdpReply>,
      connectionId: Buffer,
      peerBytes: 6 | 18,
    ) => Promise<T>,
  ): Promise<T> {
    const host = entry.parsed.hostname.replace(/^\[(.*)\]$/, '$1');
    const port = Number(entry.parsed.port);
    const { address, family } = await lookup(host, this.#localAddressOptions());
    if (signal.aborted) throw new TrackerError(entry.url, 'timed out or aborted');
    const socket: UdpSocket = createSocket(family === 6 ? 'udp6' : 'udp4');
    const peerBytes = family === 6 ? 18 : 6;
    const retransmitMs = this.#o.udpRetransmitMs ?? 2000;
    const local = this.#o.localAddress;
    try {
      if (local !== undefined && isIP(local) === family) {
        await new Promise<void>((resolve, reject) => {
          socket.once('error', reject);
          socket.bind({ address: local, port: 0 }, () => {
            socket.off('error', reject);
            resolve();
          });
        });
      }
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.connect(port, address, () => {
          socket.off('error', reject);
          resolve();
        });
      });
      const exchange = (packet: Buffer, tid: number, bytes: 6 | 18): Promise<UdpReply> =>
        new Promise<UdpReply>((resolve, reject) => {
          let delay = retransmitMs;
          let timer: NodeJS.Timeout | undefined;
          const done = (): void => {
            if (timer !== undefined) clearTimeout(timer);
            socket.off('message', onMessage);
            socket.off('error', onError);
            signal.removeEventListener('abort', onAbort);
          };
          const onMessage = (msg: Buffer): void => {
            let reply: UdpReply;
            try {
              reply = decodeUdpReply(msg, bytes);
            } catch {
              return; // not ours or garbage: keep waiting
            }
            if (reply.transactionId !== tid) return;
            done();
            if (reply.action === UdpAction.error) {
              reject(new TrackerError(entry.url, `tracker failure: ${reply.message.slice(0, 200)}`));
            } else resolve(reply);
          };
          const onError = (err: Error): void => {
            done();
            reject(new TrackerError(entry.url, err.message, { cause: err }));
          };
          const onAbort = (): void => {
            done();
            reject(new TrackerError(entry.url, 'timed out or aborted'));
          };
          const send = (): void => {
            socket.send(packet);
            timer = setTimeout(send, delay);
            delay *= 2;
          };
          socket.on('message', onMessage);
          socket.on('error', onError);
          signal.addEventListener('abort', onAbort, { once: true });
          send();
        });
      let conn = entry.udpConnection;
      if (conn === undefined || conn.expiresAtMs <= this.#clock.now()) {
        const tid = randomInt(2 ** 32);
        const reply = await exchange(encodeConnectRequest(tid), tid, peerBytes);
        if (reply.action !== UdpAction.connect)
          throw new TrackerError(entry.url, 'unexpected reply to connect');
        conn = { id: reply.connectionId, expiresAtMs: this.#clock.now() + UDP_CONNECTION_TTL_MS };
        entry.udpConnection = conn;
      }
      try {
        return await body(exchange, conn.id, peerBytes);
      } catch (err) {
        // The id may have been refused (tracker restarted): get a fresh one next time.
        entry.udpConnection = undefined;
        throw err;
      }
    } finally {
      socket.close();
    }
  }
}

function asTrackerError(url: string, err: unknown): Error {
  if (err instanceof TrackerError) return err;
  if (err instanceof Error) return new TrackerError(url, err.message, { cause: err });
  return new TrackerError(url, String(err));
}
