// SHA-1 off the event loop: a small pool of worker threads. Buffers are transferred, not copied,
// and handed back with the result so callers can reuse them (constant memory when streaming).

import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { HashJob, HashResult } from './hash-worker.js';

interface Pending {
  resolve: (r: { hashes: Uint8Array; buffer: ArrayBuffer }) => void;
  reject: (e: Error) => void;
}

export interface HasherPoolOptions {
  /** Worker threads; default: the machine's parallelism, at most 4. 0 hashes on the calling thread. */
  threads?: number;
}

export class HasherPool {
  readonly #workers: { worker: Worker; busy: number }[] = [];
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #stopped = false;

  constructor(options: HasherPoolOptions = {}) {
    const n = options.threads ?? Math.min(4, availableParallelism());
    for (let i = 0; i < n; i++) this.#spawn();
  }

  get threads(): number {
    return this.#workers.length;
  }

  #spawn(): void {
    const worker = new Worker(new URL('./hash-worker.js', import.meta.url));
    const slot = { worker, busy: 0 };
    worker.on('message', (r: HashResult) => {
      slot.busy--;
      const p = this.#pending.get(r.id);
      this.#pending.delete(r.id);
      p?.resolve({ hashes: r.hashes, buffer: r.buffer });
    });
    worker.on('error', (err) => {
      for (const p of this.#pending.values()) p.reject(err);
      this.#pending.clear();
    });
    worker.unref();
    this.#workers.push(slot);
  }

  /**
   * Hashes `length` bytes of `buffer` as consecutive pieces of `pieceLength` (the last may be short).
   * The buffer is transferred to a worker and returned in the result; do not touch it meanwhile.
   */
  hash(
    buffer: ArrayBuffer,
    length: number,
    pieceLength: number,
  ): Promise<{ hashes: Uint8Array; buffer: ArrayBuffer }> {
    if (this.#stopped) return Promise.reject(new Error('hasher pool is stopped'));
    if (this.#workers.length === 0) {
      const data = new Uint8Array(buffer, 0, length);
      const count = Math.ceil(length / pieceLength);
      const hashes = new Uint8Array(count * 20);
      for (let i = 0; i < count; i++) {
        const s = i * pieceLength;
        hashes.set(
          createHash('sha1')
            .update(data.subarray(s, Math.min(s + pieceLength, length)))
            .digest(),
          i * 20,
        );
      }
      return Promise.resolve({ hashes, buffer });
    }
    let slot = this.#workers[0]!;
    for (const w of this.#workers) if (w.busy < slot.busy) slot = w;
    slot.busy++;
    const id = this.#nextId++;
    const job: HashJob = { id, buffer, length, pieceLength };
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      slot.worker.postMessage(job, [buffer]);
    });
  }

  /** Hashes one piece that lives in a Buffer that must not be transferred (copies it). */
  async hashPiece(data: Uint8Array): Promise<Buffer> {
    if (this.#workers.length === 0 || data.length < 64 * 1024) {
      return createHash('sha1').update(data).digest();
    }
    const copy = new ArrayBuffer(data.length);
    new Uint8Array(copy).set(data);
    const { hashes } = await this.hash(copy, data.length, data.length);
    return Buffer.from(hashes.buffer, hashes.byteOffset, 20);
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    const err = new Error('hasher pool stopped');
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
    await Promise.all(this.#workers.map((w) => w.worker.terminate()));
    this.#workers.length = 0;
  }
}
