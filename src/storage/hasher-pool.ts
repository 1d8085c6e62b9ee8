// SHA-1 off the event loop: a small pool of worker threads. Buffers are transferred, not copied,
// and handed back with the result so callers can reuse them (constant memory when streaming).
// For whole files (creating a torrent) workers read the bytes themselves: no transfer, no copy
// through the main thread, and one small read buffer per worker; with hashClaimed they take their
// jobs from a shared atomic counter and write the hashes into shared memory, one message per task.

import { createHash } from 'node:crypto';
import { type FileHandle, open } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { pieceRoot } from '../protocol/merkle.js';
import {
  CLAIM,
  type ClaimTask,
  type FileSegment,
  FileShrankError,
  HASH_WORKER_MARK,
  type HashJob,
  type HashResult,
} from './hash-worker.js';

export type { ClaimTask, FileSegment, SequenceFile } from './hash-worker.js';
export { CLAIM, FileShrankError, RangeHasher, READ_BYTES } from './hash-worker.js';

interface Slot {
  worker: Worker;
  /** Jobs sent and not yet answered: the worker is ref'd while this is above zero. */
  busy: number;
  /** Set once the worker has started running its script. */
  online: boolean;
  /** True once it is online; false when it died before. */
  ready: Promise<boolean>;
}

interface Pending {
  slot: Slot;
  resolve: (r: { hashes: Uint8Array; buffer?: ArrayBuffer }) => void;
  reject: (e: Error) => void;
}

/**
 * SHA-1 of one piece fed chunk by chunk, for pieces too large to hold whole (see HasherPool.stream).
 * Chunks may be fed without waiting for the previous ones: they are hashed in the order given.
 */
export interface HashStream {
  /** Adds `length` bytes of `buffer`, which is transferred to a worker and given back when hashed. */
  update(buffer: ArrayBuffer, length: number): Promise<ArrayBuffer>;
  /** The digest of everything fed. Call it once, also to give up a stream (its state is then freed). */
  digest(): Promise<Buffer>;
}

/** Pieces larger than this are hashed in chunks of STREAM_CHUNK_BYTES (hashChunked), never held or copied whole. */
export const STREAM_PIECE_BYTES = 16 * 1024 * 1024;
/**
 * 1 MiB: a read and a transfer of 1 MiB cost little beside the 1.5 ms its SHA-1 takes, and the
 * chunks of pieces verified at once add up (with 4 MiB chunks, three 32 MiB pieces finishing
 * together on a busy disk held 24 MiB).
 */
export const STREAM_CHUNK_BYTES = 1024 * 1024;
/** Chunk buffers kept for reuse: two per piece being hashed, for a few at once. */
const MAX_SPARE_CHUNKS = 8;

export interface HasherPoolOptions {
  /** Worker threads; default: the machine's parallelism, at most 4. 0 hashes on the calling thread. */
  threads?: number;
  /**
   * hashPiece hashes pieces up to this many bytes on the calling thread. Default 256 KiB: SHA-1 of
   * 256 KiB takes about 0.3 ms, while the copy, the transfer and the wake-up of a worker cost half as
   * much CPU again (measured with bench:transfer: 0.7 s more CPU per GiB downloaded), which on a
   * machine with few cores also slows the transfer down. Larger pieces go to the workers.
   */
  inlineMaxBytes?: number;
}

const startWorker = (): Worker =>
  new Worker(new URL('./hash-worker.js', import.meta.url), { workerData: HASH_WORKER_MARK });

/** A worker started by prestartHashWorker that no pool has taken yet. */
let prestarted: { worker: Worker; online: boolean; forget: (err?: unknown) => void } | undefined;

/**
 * Starts one hash worker now, for the next HasherPool to take. A worker needs tens of milliseconds
 * to boot, which a command that is about to hash (bitswarm create) can overlap with loading its own
 * modules and listing its files. Until a pool takes it, it does not keep the process alive; a
 * worker that fails is dropped (the pool starts its own).
 */
export function prestartHashWorker(): void {
  if (prestarted) return;
  const worker = startWorker();
  worker.unref();
  const early = {
    worker,
    online: false,
    forget: (): void => {
      if (prestarted === early) prestarted = undefined;
    },
  };
  worker.once('online', () => {
    early.online = true;
  });
  worker.once('error', early.forget);
  worker.once('exit', early.forget);
  prestarted = early;
}

/** Ends the prestarted worker, if no pool took it: the caller found it has nothing to hash. */
export async function dropPrestartedHashWorker(): Promise<void> {
  const early = takePrestarted();
  await early?.worker.terminate();
}

function takePrestarted(): { worker: Worker; online: boolean } | undefined {
  const early = prestarted;
  if (!early) return undefined;
  prestarted = undefined;
  early.worker.off('error', early.forget);
  early.worker.off('exit', early.forget);
  return early;
}

/** Bytes per read when hashing files on the calling thread. */
const LOCAL_READ_BYTES = 1024 * 1024;
const DEFAULT_INLINE_MAX_BYTES = 256 * 1024;
/** Bound on the spare transfer buffers hashPiece keeps for reuse. */
const SPARE_MAX_BYTES = 16 * 1024 * 1024;

export class HasherPool {
  readonly #workers: Slot[] = [];
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #stopped = false;
  readonly #inlineMaxBytes: number;
  /**
   * Transfer buffers of hashPiece that came back from a worker, for the next piece of the same
   * length: without them every piece costs a fresh zero-filled allocation, and the garbage that
   * goes with it (a download hashes its whole size).
   */
  #spare: ArrayBuffer[] = [];
  #spareLength = 0;
  /** Chunk buffers of hashChunked, for the next piece (a check of large pieces allocates them once). */
  #chunkSpare: ArrayBuffer[] = [];
  /**
   * Workers not started yet: they start with the first job that needs them. A download of small
   * pieces hashes them all inline and never does; booting two workers costs about 0.2 s of CPU.
   */
  #unstarted: number;

  constructor(options: HasherPoolOptions = {}) {
    this.#unstarted = options.threads ?? Math.min(4, availableParallelism());
    this.#inlineMaxBytes = options.inlineMaxBytes ?? DEFAULT_INLINE_MAX_BYTES;
  }

  /** Worker threads: those running and those that start with the first job. */
  get threads(): number {
    return this.#workers.length + this.#unstarted;
  }

  /** The running workers, started now if this is the first job that needs them. */
  #started(): Slot[] {
    if (this.#unstarted > 0 && !this.#stopped) {
      const n = this.#unstarted;
      this.#unstarted = 0;
      for (let i = 0; i < n; i++) this.#spawn();
    }
    return this.#workers;
  }

  #spawn(): void {
    const early = takePrestarted();
    const worker = early?.worker ?? startWorker();
    const online = early?.online ?? false;
    const slot: Slot = {
      worker,
      busy: 0,
      online,
      ready: online
        ? Promise.resolve(true)
        : new Promise<boolean>((resolve) => {
            worker.once('online', () => {
              slot.online = true;
              resolve(true);
            });
            worker.once('error', () => resolve(false));
            worker.once('exit', () => resolve(false));
          }),
    };
    worker.on('message', (r: HashResult) => {
      const p = this.#pending.get(r.id);
      this.#pending.delete(r.id);
      this.#release(slot);
      if (!p) return;
      if ('error' in r) p.reject(r.shrank ? new FileShrankError(r.error) : new Error(r.error));
      else p.resolve(r.buffer ? { hashes: r.hashes, buffer: r.buffer } : { hashes: r.hashes });
    });
    // A dead worker fails only its own jobs; a fresh one takes its place for later jobs, unless it
    // died before it started (a broken environment would only fail again, forever). With no workers
    // left, hashing falls back to the calling thread.
    const die = (err: Error): void => {
      const i = this.#workers.indexOf(slot);
      if (i < 0) return;
      this.#workers.splice(i, 1);
      for (const [id, p] of this.#pending) {
        if (p.slot !== slot) continue;
        this.#pending.delete(id);
        p.reject(err);
      }
      if (!this.#stopped && slot.online) this.#spawn();
    };
    worker.on('error', die);
    worker.on('exit', (code) => die(new Error(`hash worker exited with code ${code}`)));
    // Idle workers must not keep the process alive; busy ones must, or an awaited hash whose only
    // pending work is in a worker would let the event loop end with the promise unsettled.
    worker.unref();
    this.#workers.push(slot);
  }

  #release(slot: Slot): void {
    // After stop(), terminate() holds a ref until the worker's 'exit': an answer that was already
    // on its way must not drop it, or the process could end with an awaited stop() unsettled.
    if (this.#stopped) return;
    slot.busy--;
    if (slot.busy === 0) slot.worker.unref();
  }

  /**
   * Sends a job to the least busy worker once it is online (a worker starts with the first job that
   * needs it). Undefined, before anything is transferred, when no worker can take it (none are
   * configured, or the one chosen died while starting): the caller hashes the job itself.
   */
  async #post(
    job: HashJob,
    transfer: ArrayBuffer[],
  ): Promise<{ hashes: Uint8Array; buffer?: ArrayBuffer } | undefined> {
    const slot = this.#leastBusy();
    return slot === undefined ? undefined : this.#postTo(slot, job, transfer);
  }

  #leastBusy(): Slot | undefined {
    const workers = this.#started();
    let slot = workers[0];
    for (const w of workers) if (slot !== undefined && w.busy < slot.busy) slot = w;
    return slot;
  }

  async #postTo(
    slot: Slot,
    job: HashJob,
    transfer: ArrayBuffer[],
  ): Promise<{ hashes: Uint8Array; buffer?: ArrayBuffer } | undefined> {
    if (slot.busy++ === 0) slot.worker.ref();
    // died while booting (#spawn's handler dropped it): the job stays with the caller
    if (!slot.online && !(await slot.ready)) return undefined;
    if (!this.#workers.includes(slot)) throw new Error('hash worker exited');
    return new Promise((resolve, reject) => {
      this.#pending.set(job.id, { slot, resolve, reject });
      slot.worker.postMessage(job, transfer);
    });
  }

  /**
   * An incremental SHA-1 for one large piece, fed in chunks, so the piece is never held whole: all
   * its chunks go to one worker (hashed in order while the caller reads the next), or are hashed
   * here when there are no workers.
   */
  stream(): HashStream {
    if (this.#stopped) throw new Error('hasher pool is stopped');
    const slot = this.#leastBusy();
    if (slot === undefined) {
      const hash = createHash('sha1');
      return {
        update: async (buffer, length) => {
          hash.update(new Uint8Array(buffer, 0, length));
          return buffer;
        },
        digest: async () => hash.digest(),
      };
    }
    const stream = this.#nextId++;
    const send = async (
      job: Omit<Extract<HashJob, { kind: 'stream' }>, 'id' | 'kind' | 'stream'>,
    ): Promise<{ hashes: Uint8Array; buffer?: ArrayBuffer }> => {
      const r = await this.#postTo(
        slot,
        { kind: 'stream', id: this.#nextId++, stream, ...job },
        job.buffer ? [job.buffer] : [],
      );
      if (r === undefined) throw new Error('hash worker did not start');
      return r;
    };
    return {
      update: async (buffer, length) => (await send({ buffer, length, final: false })).buffer!,
      digest: async () => {
        const { hashes } = await send({ length: 0, final: true });
        return Buffer.from(hashes.buffer, hashes.byteOffset, 20);
      },
    };
  }

  /**
   * Hashes `length` bytes of `buffer` as consecutive pieces of `pieceLength` (the last may be short).
   * The buffer is transferred to a worker and returned in the result; do not touch it meanwhile.
   */
  async hash(
    buffer: ArrayBuffer,
    length: number,
    pieceLength: number,
  ): Promise<{ hashes: Uint8Array; buffer: ArrayBuffer }> {
    if (this.#stopped) throw new Error('hasher pool is stopped');
    const id = this.#nextId++;
    const r = await this.#post({ kind: 'buffer', id, buffer, length, pieceLength }, [buffer]);
    if (r !== undefined) return { hashes: r.hashes, buffer: r.buffer! };
    // no worker took it (none configured, or it died while starting): the buffer is still ours
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
    return { hashes, buffer };
  }

  /**
   * Hashes the bytes of `segments`, taken in order as one sequence, as consecutive pieces of
   * `pieceLength` (the last may be short). A worker reads the files itself. Rejects with
   * FileShrankError when a file holds fewer bytes than its segment asks for.
   */
  async hashSegments(segments: readonly FileSegment[], pieceLength: number): Promise<Uint8Array> {
    if (this.#stopped) throw new Error('hasher pool is stopped');
    const id = this.#nextId++;
    const r = await this.#post({ kind: 'segments', id, segments: [...segments], pieceLength }, []);
    return r !== undefined ? r.hashes : hashSegmentsHere(segments, pieceLength);
  }

  /**
   * Puts every worker on `task`: each takes jobs from its shared counter until none is left (or
   * its stop flag is up) and writes the hashes into its shared output. Resolves when all workers
   * are done; rejects with the first failure (FileShrankError when a file was too short), after
   * raising the stop flag. With no workers it resolves at once: the caller's own share is all.
   */
  async hashClaimed(task: ClaimTask): Promise<void> {
    if (this.#stopped) throw new Error('hasher pool is stopped');
    const control = new Int32Array(task.control);
    const runs = this.#started().map(() => {
      const id = this.#nextId++;
      // a worker that did not start leaves its share to the other threads
      return this.#post({ kind: 'claim', id, task }, []).catch((err: unknown) => {
        Atomics.store(control, CLAIM.stop, 1);
        throw err;
      });
    });
    const results = await Promise.allSettled(runs);
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** Hashes one piece that lives in a Buffer that must not be transferred (copies it). */
  async hashPiece(data: Uint8Array): Promise<Buffer> {
    if (data.length <= this.#inlineMaxBytes || this.#started().length === 0) {
      return createHash('sha1').update(data).digest();
    }
    // A large piece goes to a worker a chunk at a time, not copied whole.
    if (data.length > STREAM_PIECE_BYTES)
      return this.hashChunked(data.length, (into, at) => {
        into.set(data.subarray(at, at + into.length));
      });
    const copy = this.#takeSpare(data.length);
    new Uint8Array(copy, 0, data.length).set(data);
    const { hashes, buffer } = await this.hash(copy, data.length, data.length);
    this.#putSpare(buffer);
    return Buffer.from(hashes.buffer, hashes.byteOffset, 20);
  }

  /**
   * BEP 52: the merkle root (SHA-256 of 16 KiB leaves) of `data` as a subtree `widthLeaves` wide —
   * a v2 piece's hash. Off the calling thread as hashPiece is (a copy goes to a worker), inline for
   * small data or without workers.
   */
  async merkleRoot(data: Uint8Array, widthLeaves: number): Promise<Buffer> {
    if (data.length <= this.#inlineMaxBytes || this.#started().length === 0 || this.#stopped)
      return pieceRoot(data, widthLeaves);
    const buffer = this.#takeSpare(data.length);
    new Uint8Array(buffer, 0, data.length).set(data);
    const r = await this.#post(
      { kind: 'merkle', id: this.#nextId++, buffer, length: data.length, widthLeaves },
      [buffer],
    );
    if (r === undefined) {
      // No worker took it: the buffer is still ours.
      const root = pieceRoot(new Uint8Array(buffer, 0, data.length), widthLeaves);
      this.#putSpare(buffer);
      return root;
    }
    this.#putSpare(r.buffer!);
    return Buffer.from(r.hashes.buffer, r.hashes.byteOffset, r.hashes.length);
  }

  /**
   * SHA-1 of `length` bytes that `fill` writes a chunk at a time (each chunk at most
   * STREAM_CHUNK_BYTES, into a buffer of exactly its length), so they are never held whole: a piece
   * of 512 MiB costs two chunks of memory. Two chunks are in flight: a worker hashes one while
   * `fill` writes the next. A failure of `fill` rejects, after the stream is ended.
   */
  async hashChunked(
    length: number,
    fill: (into: Buffer, offset: number) => Promise<void> | void,
  ): Promise<Buffer> {
    const stream = this.stream();
    const free = [this.#takeChunk(), this.#takeChunk()];
    const inFlight: Promise<ArrayBuffer>[] = [];
    try {
      for (let at = 0; at < length; at += STREAM_CHUNK_BYTES) {
        const buffer = free.pop() ?? (await inFlight.shift()!);
        const n = Math.min(STREAM_CHUNK_BYTES, length - at);
        await fill(Buffer.from(buffer, 0, n), at);
        const hashed = stream.update(buffer, n);
        hashed.catch(() => undefined); // seen when awaited; a failure meanwhile is not unhandled
        inFlight.push(hashed);
      }
      free.push(...(await Promise.all(inFlight)));
    } catch (err) {
      // The stream is ended all the same, so the worker forgets it.
      await Promise.allSettled([...inFlight, stream.digest()]);
      throw err;
    }
    for (const b of free) if (this.#chunkSpare.length < MAX_SPARE_CHUNKS) this.#chunkSpare.push(b);
    return stream.digest();
  }

  #takeChunk(): ArrayBuffer {
    return this.#chunkSpare.pop() ?? (Buffer.allocUnsafeSlow(STREAM_CHUNK_BYTES).buffer as ArrayBuffer);
  }

  #takeSpare(length: number): ArrayBuffer {
    if (length === this.#spareLength) {
      const b = this.#spare.pop();
      if (b !== undefined) return b;
    }
    // Uninitialized and not from Buffer's shared pool: every byte is overwritten before use, and
    // the ArrayBuffer is ours alone to transfer.
    return Buffer.allocUnsafeSlow(length).buffer as ArrayBuffer;
  }

  #putSpare(buffer: ArrayBuffer): void {
    if (this.#stopped) return;
    if (buffer.byteLength !== this.#spareLength) {
      // Pieces of one torrent share a length (but the last): keep the newest length only.
      this.#spare = [];
      this.#spareLength = buffer.byteLength;
    }
    if ((this.#spare.length + 1) * buffer.byteLength <= SPARE_MAX_BYTES) this.#spare.push(buffer);
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#spare = [];
    this.#chunkSpare = [];
    const err = new Error('hasher pool stopped');
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
    const workers = this.#workers.splice(0);
    await Promise.all(workers.map((w) => w.worker.terminate()));
  }
}

/**
 * The calling thread's version of the worker's segment hashing: asynchronous reads, one read ahead
 * of the hashing so the disk (or page cache copy) and SHA-1 overlap, and no more than 1 MiB hashed
 * between two turns of the event loop.
 */
export async function hashSegmentsHere(
  segments: readonly FileSegment[],
  pieceLength: number,
): Promise<Uint8Array> {
  const total = segments.reduce((s, g) => s + g.length, 0);
  const hashes = new Uint8Array(Math.ceil(total / pieceLength) * 20);
  if (total === 0) return hashes;
  // Reads never cross a piece boundary, so a read ends at most one piece.
  const readBytes = Math.min(LOCAL_READ_BYTES, pieceLength);
  const ops: { seg: number; pos: number; len: number }[] = [];
  const lastOp: number[] = [];
  let inPiece = 0;
  segments.forEach((g, seg) => {
    for (let done = 0; done < g.length; ) {
      const len = Math.min(readBytes, g.length - done, pieceLength - inPiece);
      ops.push({ seg, pos: g.offset + done, len });
      done += len;
      inPiece = (inPiece + len) % pieceLength;
    }
    lastOp[seg] = ops.length - 1;
  });
  const buffers = takeReadBuffers();
  const handles = new Map<number, FileHandle>();
  const read = async (i: number): Promise<Buffer> => {
    const op = ops[i]!;
    const seg = segments[op.seg]!;
    let fh = handles.get(op.seg);
    if (!fh) {
      fh = await open(seg.path, 'r');
      handles.set(op.seg, fh);
    }
    const buf = buffers[i % 2]!;
    for (let got = 0; got < op.len; ) {
      const { bytesRead } = await fh.read(buf, got, op.len - got, op.pos + got);
      if (bytesRead === 0) throw new FileShrankError(`${seg.path}: file shrank while it was being read`);
      got += bytesRead;
    }
    return buf.subarray(0, op.len);
  };

  let hash = createHash('sha1');
  let filled = 0;
  let piece = 0;
  // Marked as handled at once: a read may fail while the loop awaits something else; the loop
  // still sees the failure when it awaits that read.
  const start = (i: number): Promise<Buffer> => {
    const p = read(i);
    void p.catch(() => undefined);
    return p;
  };
  let ahead: Promise<Buffer> | undefined = start(0);
  try {
    for (let i = 0; i < ops.length; i++) {
      const data = await ahead!;
      ahead = i + 1 < ops.length ? start(i + 1) : undefined;
      hash.update(data);
      filled += data.length;
      if (filled === pieceLength) {
        hashes.set(hash.digest(), piece++ * 20);
        hash = createHash('sha1');
        filled = 0;
      }
      const seg = ops[i]!.seg;
      if (lastOp[seg] === i) {
        const fh = handles.get(seg);
        handles.delete(seg);
        await fh?.close();
      }
    }
    if (filled > 0) hashes.set(hash.digest(), piece * 20);
  } finally {
    // a read still in flight after a failure must settle before its file is closed
    await ahead?.catch(() => undefined);
    await Promise.all([...handles.values()].map((fh) => fh.close()));
    spareReadBuffers.push(buffers);
  }
  return hashes;
}

/**
 * Read buffers of hashSegmentsHere, reused from call to call: a fresh pair per 4 MiB job would
 * leave hundreds of MiB of garbage behind on a large torrent, and the peak RSS with it.
 */
const spareReadBuffers: (readonly [Buffer, Buffer])[] = [];

/** A pair of LOCAL_READ_BYTES buffers (every read is at most that long), spare or new. */
function takeReadBuffers(): readonly [Buffer, Buffer] {
  return (
    spareReadBuffers.pop() ?? [Buffer.allocUnsafe(LOCAL_READ_BYTES), Buffer.allocUnsafe(LOCAL_READ_BYTES)]
  );
}
