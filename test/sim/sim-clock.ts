// Virtual time for the swarm simulator: a Clock (src/util/clock.ts) whose timers wait in one event
// queue, ordered by due time and then by the order they were set. run() takes the earliest event,
// moves the time to it, runs it, and lets Node's own queues (promises, nextTick, setImmediate) settle
// before the next one, so the code under test sees the event loop it expects. Nothing real (no
// socket, no real timer, no worker) feeds the run: the same events in the same order, bit for bit.

import type { Clock, TimerHandle } from '../../src/util/clock.js';
import { mulberry32 } from '../unit/prng.js';

/** Where the virtual clock starts: a plausible epoch, so code that treats 0 as "never" is not fooled. */
export const SIM_EPOCH_MS = 1_700_000_000_000;

const noop = (): void => undefined;

class SimTimer implements TimerHandle {
  cancelled = false;
  /** Set while the timer waits in the queue. */
  queued = false;
  constructor(
    public atMs: number,
    public seq: number,
    /** Dropped when cancelled, so what it holds (a closed connection) can be collected at once. */
    public fn: () => void,
    readonly intervalMs: number | undefined,
  ) {}
  unref(): this {
    return this;
  }
}

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export interface RunOptions {
  /** Stop once this is true (checked before each event). */
  until?: () => boolean;
  /** Stop before the first event due after this virtual time (ms since SIM_EPOCH_MS). */
  maxMs?: number;
}

export class SimClock implements Clock {
  #nowMs = SIM_EPOCH_MS;
  #seq = 0;
  readonly #heap: SimTimer[] = [];
  /** Cancelled timers still in the queue. */
  #cancelledQueued = 0;
  /** Events run so far. */
  events = 0;

  now(): number {
    return this.#nowMs;
  }

  /** Virtual milliseconds since the simulation started. */
  get elapsedMs(): number {
    return this.#nowMs - SIM_EPOCH_MS;
  }

  setTimeout(fn: () => void, delayMs: number): TimerHandle {
    // As Node: a delay below 1 ms (or not a number) is 1 ms.
    return this.#push(fn, Number.isFinite(delayMs) && delayMs >= 1 ? delayMs : 1, undefined);
  }

  clearTimeout(handle: TimerHandle | undefined): void {
    if (!(handle instanceof SimTimer) || handle.cancelled) return;
    handle.cancelled = true;
    handle.fn = noop;
    if (handle.queued && ++this.#cancelledQueued > 1024 && this.#cancelledQueued * 2 > this.#heap.length)
      this.#compact();
  }

  /** Drops the cancelled timers from the queue (timers re-armed often leave many behind). */
  #compact(): void {
    const live = this.#heap.filter((t) => !t.cancelled);
    for (const t of this.#heap) if (t.cancelled) t.queued = false;
    this.#heap.length = 0;
    this.#cancelledQueued = 0;
    for (const t of live) this.#insert(t);
  }

  setInterval(fn: () => void, intervalMs: number): TimerHandle {
    const ms = Number.isFinite(intervalMs) && intervalMs >= 1 ? intervalMs : 1;
    return this.#push(fn, ms, ms);
  }

  clearInterval(handle: TimerHandle | undefined): void {
    this.clearTimeout(handle);
  }

  /** An event of the simulated world (a packet, a churn step) `delayMs` from now; 0 is allowed. */
  at(delayMs: number, fn: () => void): TimerHandle {
    return this.#push(fn, Math.max(0, delayMs), undefined);
  }

  /** Runs events in time order until `until()` holds, `maxMs` is reached or nothing is left. */
  async run(options: RunOptions = {}): Promise<void> {
    const maxAt = SIM_EPOCH_MS + (options.maxMs ?? Number.POSITIVE_INFINITY);
    await settle();
    for (;;) {
      if (options.until?.()) return;
      const t = this.#pop();
      if (t === undefined) {
        await settle();
        if (this.#heap.length === 0) return;
        continue;
      }
      if (t.atMs > maxAt) {
        this.#insert(t);
        this.#nowMs = Math.max(this.#nowMs, maxAt);
        return;
      }
      this.#nowMs = Math.max(this.#nowMs, t.atMs);
      if (t.intervalMs !== undefined) {
        t.atMs = this.#nowMs + t.intervalMs;
        t.seq = this.#seq++;
        this.#insert(t);
      }
      this.events++;
      t.fn();
      await settle();
    }
  }

  #push(fn: () => void, delayMs: number, intervalMs: number | undefined): SimTimer {
    const t = new SimTimer(this.#nowMs + delayMs, this.#seq++, fn, intervalMs);
    this.#insert(t);
    return t;
  }

  /** The earliest live event, removed from the queue (cancelled ones are dropped on the way). */
  #pop(): SimTimer | undefined {
    const h = this.#heap;
    while (h.length > 0) {
      const top = h[0]!;
      const last = h.pop()!;
      if (h.length > 0) {
        h[0] = last;
        this.#down(0);
      }
      top.queued = false;
      if (!top.cancelled) return top;
      this.#cancelledQueued--;
    }
    return undefined;
  }

  #insert(t: SimTimer): void {
    const h = this.#heap;
    t.queued = true;
    h.push(t);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(h[i]!, h[parent]!)) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }

  #down(i: number): void {
    const h = this.#heap;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && before(h[l]!, h[m]!)) m = l;
      if (r < h.length && before(h[r]!, h[m]!)) m = r;
      if (m === i) return;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
  }
}

function before(a: SimTimer, b: SimTimer): boolean {
  return a.atMs < b.atMs || (a.atMs === b.atMs && a.seq < b.seq);
}

/** mulberry32, the tests' seeded PRNG (uniform in [0, 1)): one generator for every simulated run. */
export const prng = mulberry32;
