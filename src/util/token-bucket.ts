// A token bucket for rate limits on payload bytes: `rateBytesPerSec` tokens arrive per second, at
// most `burstBytes` wait in the bucket. Pure: `now` is passed in. A rate of 0 means unlimited.
//
// The default burst is an eighth of a second of the rate (at least 64 KiB): a whole second of it let a
// download limited to 40 MiB/s take 80 MiB in its first second, and every rate shown for the next
// few seconds read ~50 MiB/s.

function defaultBurst(rateBytesPerSec: number): number {
  return Math.max(rateBytesPerSec / 8, 64 * 1024);
}

export class TokenBucket {
  #rate: number;
  #burst: number;
  #tokens: number;
  #lastMs: number;

  constructor(rateBytesPerSec: number, burstBytes?: number, nowMs = 0) {
    this.#rate = rateBytesPerSec;
    this.#burst = burstBytes ?? defaultBurst(rateBytesPerSec);
    this.#tokens = this.#burst;
    this.#lastMs = nowMs;
  }

  get rateBytesPerSec(): number {
    return this.#rate;
  }

  get unlimited(): boolean {
    return this.#rate <= 0;
  }

  setRate(rateBytesPerSec: number, burstBytes?: number): void {
    this.#rate = rateBytesPerSec;
    this.#burst = burstBytes ?? defaultBurst(rateBytesPerSec);
    this.#tokens = Math.min(this.#tokens, this.#burst);
  }

  #refill(nowMs: number): void {
    if (nowMs > this.#lastMs) {
      this.#tokens = Math.min(this.#burst, this.#tokens + ((nowMs - this.#lastMs) * this.#rate) / 1000);
      this.#lastMs = nowMs;
    }
  }

  /** Tokens available now (may be negative after a forced take). */
  available(nowMs: number): number {
    if (this.unlimited) return Number.POSITIVE_INFINITY;
    this.#refill(nowMs);
    return this.#tokens;
  }

  /** Takes `bytes` if they are there; returns whether it did. */
  tryTake(bytes: number, nowMs: number): boolean {
    if (this.unlimited) return true;
    this.#refill(nowMs);
    if (this.#tokens < bytes) return false;
    this.#tokens -= bytes;
    return true;
  }

  /** Takes `bytes` even when that leaves the bucket in debt (for data that already arrived). */
  take(bytes: number, nowMs: number): void {
    if (this.unlimited) return;
    this.#refill(nowMs);
    this.#tokens -= bytes;
  }

  /** Milliseconds until `bytes` tokens will be there (0 when they are). */
  waitMs(bytes: number, nowMs: number): number {
    if (this.unlimited) return 0;
    this.#refill(nowMs);
    if (this.#tokens >= bytes) return 0;
    return Math.ceil(((bytes - this.#tokens) * 1000) / this.#rate);
  }
}
