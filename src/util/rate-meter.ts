// Sliding-window rate meter: bytes per second over the last few seconds. Takes `now` (ms) as an
// argument so it runs on any clock (Date.now, a test's virtual time) and has no timers.

export interface RateMeterOptions {
  /** Length of the window the rate is averaged over. Default 5 s. */
  windowMs?: number;
  /** Resolution of the window. Default 250 ms. */
  bucketMs?: number;
}

export class RateMeter {
  readonly windowMs: number;
  readonly bucketMs: number;
  /** A plain array: a small Float64Array costs an off-heap allocation per meter, and peers make many. */
  readonly #buckets: number[];
  /** Index (time / bucketMs) of the newest bucket written, or -1 before the first sample. */
  #head = -1;
  #firstMs = Number.NaN;
  /** Sum of the buckets, kept as they change: rate() is asked per block received, so O(1). */
  #sum = 0;
  /** All bytes ever added. */
  total = 0;

  /** When the first bytes were added (NaN before): the rate covers a whole window from then on. */
  get firstMs(): number {
    return this.#firstMs;
  }

  constructor(options: RateMeterOptions = {}) {
    this.bucketMs = options.bucketMs ?? 250;
    this.windowMs = options.windowMs ?? 5000;
    if (!(this.bucketMs > 0) || !(this.windowMs >= this.bucketMs)) {
      throw new RangeError('rate meter needs bucketMs > 0 and windowMs >= bucketMs');
    }
    this.#buckets = new Array<number>(Math.ceil(this.windowMs / this.bucketMs)).fill(0);
  }

  add(bytes: number, nowMs: number): void {
    this.#advance(nowMs);
    if (Number.isNaN(this.#firstMs)) this.#firstMs = nowMs;
    this.#buckets[this.#head % this.#buckets.length]! += bytes;
    this.#sum += bytes;
    this.total += bytes;
  }

  /** Bytes per second over the window (over the time since the first sample while that is shorter). */
  rate(nowMs: number): number {
    if (this.#head < 0) return 0;
    this.#advance(nowMs);
    const sum = this.#sum;
    if (sum === 0) return 0;
    // The window holds the full buckets before the newest and the part of the newest that has
    // passed: dividing by the whole window read ~5% low (a steady 40 MiB/s showed as 38).
    const intoHead = nowMs - this.#head * this.bucketMs;
    const covered = (this.#buckets.length - 1) * this.bucketMs + Math.max(1, intoHead);
    const elapsedMs = Math.min(covered, Math.max(this.bucketMs, nowMs - this.#firstMs + this.bucketMs));
    return (sum * 1000) / elapsedMs;
  }

  /** Zeroes the buckets that fell out of the window since the last call. */
  #advance(nowMs: number): void {
    const index = Math.floor(nowMs / this.bucketMs);
    if (this.#head < 0) {
      this.#head = index;
      return;
    }
    if (index <= this.#head) return; // same bucket, or a clock that stepped back: keep counting here
    const n = this.#buckets.length;
    const steps = Math.min(index - this.#head, n);
    if (steps === n) {
      this.#buckets.fill(0);
      this.#sum = 0;
    } else {
      for (let i = 1; i <= steps; i++) {
        const k = (this.#head + i) % n;
        this.#sum -= this.#buckets[k]!;
        this.#buckets[k] = 0;
      }
    }
    this.#head = index;
  }
}
