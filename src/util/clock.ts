// Time as a value passed in: what the layers below the session read the time from and set their
// timers with. The real clock (Date.now and Node's timers) is the default everywhere; the swarm
// simulator (test/sim) passes a virtual one, so whole swarms run in virtual time, bit for bit the
// same for the same seed.

/** A pending timer. `unref` lets the process exit while it waits (a no-op on a virtual clock). */
export interface TimerHandle {
  unref(): unknown;
}

export interface Clock {
  /** Milliseconds since the epoch (real) or since the simulation's start (virtual). */
  now(): number;
  /**
   * Microseconds on a monotonic scale, for delay measurements finer than a millisecond (uTP's
   * timestamps). A clock without it is read as now() × 1000.
   */
  nowUs?(): number;
  setTimeout(fn: () => void, delayMs: number): TimerHandle;
  clearTimeout(handle: TimerHandle | undefined): void;
  setInterval(fn: () => void, intervalMs: number): TimerHandle;
  clearInterval(handle: TimerHandle | undefined): void;
}

/** Date.now and Node's timers. */
export const realClock: Clock = {
  now: () => Date.now(),
  nowUs: () => Math.floor(performance.now() * 1000),
  setTimeout: (fn, delayMs) => setTimeout(fn, delayMs),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout | undefined),
  setInterval: (fn, intervalMs) => setInterval(fn, intervalMs),
  clearInterval: (handle) => clearInterval(handle as NodeJS.Timeout | undefined),
};
