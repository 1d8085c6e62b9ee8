// Web seeds of one torrent (BEP 19), as piece sources beside the peers: each web seed has a few
// lanes (connections); an idle lane takes a run of whole needed pieces from the one picker
// (pickRun: in index order from where the lane left off, while peers take the rarest), asks its
// source for those bytes and hands them to the torrent as they come. The torrent keeps bytes only
// while the lane still has their block outstanding, verifies pieces as for peers, and bans a web seed
// that sent a piece that failed. A failed request (an error status, a wrong length, a stall, a
// refused connection) backs the web seed off, longer after each failure; `Retry-After` is obeyed.
//
// The source (src/webseed/web-seed.ts) is given by the session: the swarm does no HTTP itself.

import { type Clock, realClock } from '../util/clock.js';
import { RateMeter } from '../util/rate-meter.js';
import { BLOCK_SIZE, type PiecePicker } from './piece-picker.js';

/** Byte ranges of the torrent's data from one server. */
export interface RangeSource {
  readonly url: string;
  /** Requests it can have in flight at once. */
  readonly lanes: number;
  fetch(req: {
    lane: number;
    start: number;
    length: number;
    signal: AbortSignal;
    /** The bytes in order; a positive result pauses reading that many ms. */
    onData(chunk: Uint8Array): number;
  }): Promise<void>;
  stop(): void;
}

/** What a failed fetch may say beyond its message (WebSeedError has these). */
interface RangeFailure {
  message?: unknown;
  retryAfterMs?: unknown;
  permanent?: unknown;
  code?: unknown;
}

export const WebSeedState = {
  /** Requests in flight. */
  active: 'active',
  /** Usable; nothing to ask of it right now. */
  idle: 'idle',
  backoff: 'backoff',
  banned: 'banned',
} as const;
export type WebSeedState = (typeof WebSeedState)[keyof typeof WebSeedState];

export interface WebSeedStatus {
  url: string;
  state: WebSeedState;
  /** Why it backs off or is banned (the last failure). */
  reason: string | null;
  /** When a web seed backing off is asked again. */
  retryAtMs: number | null;
  downloadedBytes: number;
  downloadRate: number;
  failures: number;
}

/** What the torrent lends the web seeds. */
export interface WebSeedHost {
  readonly picker: PiecePicker;
  readonly pieceLength: number;
  /** May a new run start: 'no' (not downloading, no tokens), 'partial' (only pieces in flight), 'yes'. */
  mayStart(nowMs: number): 'yes' | 'partial' | 'no';
  /** Bytes of one block (a part of it, in order) from lane `key` of web seed `host`; valid only until it returns. */
  bytes(key: string, host: string, piece: number, offset: number, data: Uint8Array): void;
  /** Takes download tokens for `n` bytes; the ms to wait before reading more. */
  take(n: number, nowMs: number): number;
  /** Blocks were given back to the picker: peers may take them. */
  released(): void;
  /** A web seed changed state (for diagnostics). */
  changed(url: string, state: WebSeedState, reason: string | null): void;
}

export interface WebSeedTuning {
  /** First backoff after a failure; doubles per failure in a row (default 2 s). */
  retryMinMs?: number;
  retryMaxMs?: number;
  /** Bytes per request at most (default 16 MiB) and at least (default 1 MiB; a piece anyway). */
  maxRunBytes?: number;
  minRunBytes?: number;
}

interface Lane {
  readonly key: string;
  busy: boolean;
  cursor: number;
}

interface Seed {
  readonly id: string;
  readonly url: string;
  readonly source: RangeSource | undefined;
  state: WebSeedState;
  reason: string | null;
  failures: number;
  retryAtMs: number;
  downloaded: number;
  readonly meter: RateMeter;
  readonly lanes: Lane[];
  /** Aborts this seed's requests in flight (a failure, a ban, stop). */
  ac: AbortController;
}

/** Host names of web seeds in the torrent's bookkeeping (piece senders, bans) start with this. */
export const WEB_SEED_HOST_PREFIX = 'web:';

export class WebSeeds {
  readonly #host: WebSeedHost;
  readonly #t: Required<WebSeedTuning>;
  readonly #seeds: Seed[] = [];
  readonly #signal: AbortSignal;
  /** The torrent's: the time of every back-off and status. */
  readonly #clock: Clock;

  constructor(host: WebSeedHost, signal: AbortSignal, tuning: WebSeedTuning = {}, clock: Clock = realClock) {
    this.#host = host;
    this.#signal = signal;
    this.#clock = clock;
    this.#t = {
      retryMinMs: tuning.retryMinMs ?? 2_000,
      retryMaxMs: tuning.retryMaxMs ?? 600_000,
      maxRunBytes: tuning.maxRunBytes ?? 16 * 1024 * 1024,
      minRunBytes: tuning.minRunBytes ?? 1024 * 1024,
    };
    signal.addEventListener('abort', () => this.#stopAll(), { once: true });
  }

  get size(): number {
    return this.#seeds.length;
  }

  /** Adds a web seed; with `refused` it is listed as banned for that reason and never asked. */
  add(url: string, source: RangeSource | undefined, refused?: string): void {
    if (this.#seeds.some((s) => s.url === url)) {
      source?.stop();
      return;
    }
    const index = this.#seeds.length;
    const lanes = source ? Math.max(1, source.lanes) : 0;
    const seed: Seed = {
      id: `${WEB_SEED_HOST_PREFIX}${url}`,
      url,
      source: refused === undefined ? source : undefined,
      state: refused === undefined && source ? WebSeedState.idle : WebSeedState.banned,
      reason: refused ?? (source ? null : 'no source'),
      failures: 0,
      retryAtMs: 0,
      downloaded: 0,
      meter: new RateMeter(),
      lanes: Array.from({ length: lanes }, (_, i) => ({ key: `w${index}.${i}`, busy: false, cursor: 0 })),
      ac: new AbortController(),
    };
    if (refused !== undefined) source?.stop();
    this.#seeds.push(seed);
  }

  status(nowMs = this.#clock.now()): WebSeedStatus[] {
    return this.#seeds.map((s) => ({
      url: s.url,
      state: s.state,
      reason: s.reason,
      retryAtMs: s.state === WebSeedState.backoff ? s.retryAtMs : null,
      downloadedBytes: s.downloaded,
      downloadRate: s.meter.rate(nowMs),
      failures: s.failures,
    }));
  }

  /** Starts requests on idle lanes of usable web seeds (on each tick, and when something changed). */
  pump(nowMs = this.#clock.now()): void {
    if (this.#signal.aborted) return;
    for (const seed of this.#seeds) {
      if (seed.state === WebSeedState.banned || !seed.source) continue;
      if (seed.state === WebSeedState.backoff) {
        if (nowMs < seed.retryAtMs) continue;
        this.#setState(seed, WebSeedState.idle, seed.reason);
      }
      for (const lane of seed.lanes) {
        if (lane.busy) continue;
        if (!this.#startRun(seed, lane, nowMs)) break;
      }
      if (seed.state === WebSeedState.active && !seed.lanes.some((l) => l.busy))
        this.#setState(seed, WebSeedState.idle, null);
    }
  }

  /** Whether `host` names a web seed (a piece sender in the torrent's bookkeeping). */
  static isWebSeedHost(host: string): boolean {
    return host.startsWith(WEB_SEED_HOST_PREFIX);
  }

  /** A web seed sent bad data: never asked again. */
  ban(host: string, reason: string): boolean {
    const seed = this.#seeds.find((s) => s.id === host);
    if (!seed || seed.state === WebSeedState.banned) return false;
    this.#setState(seed, WebSeedState.banned, reason);
    this.#abortSeed(seed);
    seed.source?.stop();
    return true;
  }

  #setState(seed: Seed, state: WebSeedState, reason: string | null): void {
    if (seed.state === state && seed.reason === reason) return;
    seed.state = state;
    seed.reason = reason;
    this.#host.changed(seed.url, state, reason);
  }

  #runBytes(seed: Seed, nowMs: number): number {
    // About a second of what this server gives per lane: short runs while its rate is unknown or low
    // (peers can take the rest), long ones when it is fast (fewer requests).
    const perLane = seed.meter.rate(nowMs) / Math.max(1, seed.lanes.length);
    // Near the end, at most half of what nobody was asked for yet: a last long run would keep the
    // peers waiting on this server (they duplicate a block at a time in the endgame).
    const tail = (this.#host.picker.freeWantedBlocks * BLOCK_SIZE) / 2;
    return Math.max(this.#t.minRunBytes, Math.min(this.#t.maxRunBytes, perLane, tail));
  }

  /** Starts one request on `lane`; false when there is nothing to start now. */
  #startRun(seed: Seed, lane: Lane, nowMs: number): boolean {
    const host = this.#host;
    const may = host.mayStart(nowMs);
    if (may === 'no') return false;
    const picker = host.picker;
    // In the endgame a lane asks again what a peer holds, never what this server's lanes do.
    const own = lane.key.slice(0, lane.key.indexOf('.') + 1);
    const run = picker.pickRun(lane.key, lane.cursor, this.#runBytes(seed, nowMs), {
      partialOnly: may === 'partial',
      mayDuplicate: (holder) => !holder.startsWith(own),
    });
    if (run.length === 0) return false;
    const first = run[0]!;
    const last = run[run.length - 1]!;
    const pl = host.pieceLength;
    const start = first.piece * pl + first.offset;
    const end = last.piece * pl + last.offset + last.length;
    lane.busy = true;
    lane.cursor = last.piece + 1 < picker.pieceCount ? last.piece + 1 : 0;
    if (seed.state !== WebSeedState.active) this.#setState(seed, WebSeedState.active, null);
    const signal = seed.ac.signal;
    let pos = start;
    const onData = (chunk: Uint8Array): number => {
      const now = this.#clock.now();
      seed.downloaded += chunk.length;
      seed.meter.add(chunk.length, now);
      // Split at block boundaries: each part goes to its block.
      for (let i = 0; i < chunk.length; ) {
        const piece = Math.floor(pos / pl);
        const offset = pos - piece * pl;
        const blockEnd = (Math.floor(offset / 16384) + 1) * 16384;
        const n = Math.min(chunk.length - i, blockEnd - offset, pl - offset);
        host.bytes(lane.key, seed.id, piece, offset, chunk.subarray(i, i + n));
        i += n;
        pos += n;
      }
      return host.take(chunk.length, now);
    };
    const lanes = seed.lanes.indexOf(lane);
    seed.source!.fetch({ lane: lanes, start, length: end - start, signal, onData }).then(
      () => this.#runEnded(seed, lane, signal, undefined),
      (err: unknown) => this.#runEnded(seed, lane, signal, err ?? new Error('failed')),
    );
    return true;
  }

  #runEnded(seed: Seed, lane: Lane, signal: AbortSignal, err: unknown): void {
    lane.busy = false;
    // Whatever the run did not deliver goes back to the picker (normally nothing).
    const left = this.#host.picker.releaseAll(lane.key);
    if (this.#signal.aborted) return;
    if (err === undefined) {
      seed.failures = 0;
    } else if (seed.state !== WebSeedState.banned && !signal.aborted) {
      // (A run aborted because another lane failed, or by a ban, is not a failure of its own.)
      this.#failed(seed, err as RangeFailure);
    }
    if (left.length > 0 || err !== undefined) this.#host.released();
    this.pump();
  }

  #failed(seed: Seed, err: RangeFailure): void {
    const reason = typeof err.message === 'string' ? err.message : String(err);
    if (err.permanent === true) {
      this.#setState(seed, WebSeedState.banned, reason);
      this.#abortSeed(seed);
      seed.source?.stop();
      return;
    }
    seed.failures++;
    const backoff = Math.min(this.#t.retryMaxMs, this.#t.retryMinMs * 2 ** Math.min(20, seed.failures - 1));
    const wait =
      typeof err.retryAfterMs === 'number' ? Math.max(err.retryAfterMs, this.#t.retryMinMs) : backoff;
    seed.retryAtMs = this.#clock.now() + wait;
    this.#setState(seed, WebSeedState.backoff, reason);
    // The other lanes of this server stop too: what they hold goes back to the picker.
    this.#abortSeed(seed);
  }

  #abortSeed(seed: Seed): void {
    seed.ac.abort();
    seed.ac = new AbortController();
    for (const lane of seed.lanes) this.#host.picker.releaseAll(lane.key);
  }

  #stopAll(): void {
    for (const seed of this.#seeds) {
      seed.ac.abort();
      seed.source?.stop();
    }
  }
}
