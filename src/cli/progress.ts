// A one-line progress bar on a terminal; silent elsewhere.

import { formatBytes, formatDuration, formatRate } from '../util/format.js';

export class ProgressBar {
  readonly #stream: NodeJS.WriteStream;
  readonly #label: string;
  readonly #enabled: boolean;
  readonly #started = Date.now();
  #lastDraw = 0;

  constructor(label: string, stream: NodeJS.WriteStream = process.stderr, enabled = true) {
    this.#stream = stream;
    this.#label = label;
    this.#enabled = enabled && stream.isTTY === true;
  }

  update(done: number, total: number, force = false): void {
    if (!this.#enabled) return;
    const now = Date.now();
    if (!force && now - this.#lastDraw < 100) return;
    this.#lastDraw = now;
    const frac = total > 0 ? Math.min(1, done / total) : 1;
    const width = Math.max(10, Math.min(40, (this.#stream.columns ?? 80) - 60));
    const filled = Math.round(frac * width);
    const elapsed = (now - this.#started) / 1000;
    const rate = elapsed > 0 ? done / elapsed : 0;
    const eta = rate > 0 ? (total - done) / rate : Number.NaN;
    const line = `${this.#label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${(frac * 100).toFixed(1)}% ${formatBytes(done)} ${formatRate(rate)} ETA ${formatDuration(eta)}`;
    this.#stream.write(`\r${line}\x1b[K`);
  }

  done(): void {
    if (this.#enabled) this.#stream.write('\r\x1b[K');
  }
}
