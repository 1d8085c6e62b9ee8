// Worker thread body of the hasher pool: SHA-1 of consecutive pieces, either of a transferred buffer
// or read by the worker itself from file ranges. Reading here (synchronously: it blocks only this
// worker) saves the main thread a read and a transfer per chunk, and each piece is hashed while its
// bytes are still in the CPU cache. Also home of RangeHasher, the synchronous file-range hasher that
// the workers and the calling thread of hashFiles share, so both hash the same way.

import { createHash, type Hash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { pieceRoot } from '../protocol/merkle.js';

/** A byte range of one file; a job's segments, in order, are consecutive bytes of the torrent. */
export interface FileSegment {
  path: string;
  offset: number;
  length: number;
}

/** One file of a torrent's byte sequence, in order. */
export interface SequenceFile {
  path: string;
  length: number;
}

/**
 * Pieces shared out between threads without messages: every thread takes the next job (a run of
 * `piecesPerJob` pieces) from an atomic counter in `control` and writes the hashes straight into
 * `out`, so a thread never waits for anybody between two jobs.
 */
export interface ClaimTask {
  files: SequenceFile[];
  pieceLength: number;
  pieceCount: number;
  piecesPerJob: number;
  /** Int32Array view: see CLAIM. */
  control: SharedArrayBuffer;
  /** pieceCount × 20 bytes of hashes. */
  out: SharedArrayBuffer;
}

/** Slots of ClaimTask.control. */
export const CLAIM = {
  /** Index of the next job to take (Atomics.add). */
  next: 0,
  /** Jobs finished, by every thread (Atomics.add; progress). */
  done: 1,
  /** Nonzero: take no more jobs (a thread failed, or the caller aborted). */
  stop: 2,
  /** Slots in the control array. */
  length: 3,
} as const;

export type HashJob =
  | { kind: 'buffer'; id: number; buffer: ArrayBuffer; length: number; pieceLength: number }
  | { kind: 'segments'; id: number; segments: FileSegment[]; pieceLength: number }
  | { kind: 'claim'; id: number; task: ClaimTask }
  /**
   * One chunk of a piece hashed incrementally (see HasherPool.stream): `length` bytes of `buffer`
   * are added to stream `stream`'s SHA-1, the buffer comes back; `final` returns the digest.
   */
  | { kind: 'stream'; id: number; stream: number; buffer?: ArrayBuffer; length: number; final: boolean }
  /** BEP 52: the merkle root (SHA-256) of `length` bytes of `buffer` as a subtree `widthLeaves` wide; the buffer comes back. */
  | { kind: 'merkle'; id: number; buffer: ArrayBuffer; length: number; widthLeaves: number };

export type HashResult =
  | { id: number; hashes: Uint8Array; buffer?: ArrayBuffer }
  | { id: number; error: string; shrank: boolean };

/** Marks a worker started by the hasher pool: only such a thread listens for jobs. */
export const HASH_WORKER_MARK = 'bitswarm-hash-worker';

/**
 * Bytes read per call. 1 MiB: few system calls, and the bytes are hashed right after the copy,
 * while most of them are still in the core's cache.
 */
export const READ_BYTES = 1024 * 1024;

/** A file ended before the length it had when it was listed (it was changed while being hashed). */
export class FileShrankError extends Error {
  override readonly name = 'FileShrankError';
  readonly code = 'ERR_FILE_SHRANK';
}

function hashBuffer(data: Uint8Array, pieceLength: number): Uint8Array<ArrayBuffer> {
  const count = Math.ceil(data.length / pieceLength);
  const hashes = new Uint8Array(count * 20);
  for (let i = 0; i < count; i++) {
    const start = i * pieceLength;
    hashes.set(
      createHash('sha1')
        .update(data.subarray(start, Math.min(start + pieceLength, data.length)))
        .digest(),
      i * 20,
    );
  }
  return hashes;
}

/** Read buffer of this thread, allocated once without zero-filling (every byte is read over). */
let readBuffer: Buffer | undefined;
const takeReadBuffer = (): Buffer => {
  readBuffer ??= Buffer.allocUnsafeSlow(READ_BYTES);
  return readBuffer;
};

function hashSegments(segments: readonly FileSegment[], pieceLength: number): Uint8Array<ArrayBuffer> {
  const total = segments.reduce((s, g) => s + g.length, 0);
  const hashes = new Uint8Array(Math.ceil(total / pieceLength) * 20);
  const buf = takeReadBuffer();
  let hash = createHash('sha1');
  let inPiece = 0;
  let piece = 0;
  for (const seg of segments) {
    const fd = openSync(seg.path, 'r');
    try {
      let done = 0;
      while (done < seg.length) {
        // never read across a piece boundary, so each read ends at most one piece
        const want = Math.min(buf.length, seg.length - done, pieceLength - inPiece);
        const got = readSync(fd, buf, 0, want, seg.offset + done);
        if (got === 0) throw new FileShrankError(`${seg.path}: file shrank while it was being read`);
        hash.update(buf.subarray(0, got));
        done += got;
        inPiece += got;
        if (inPiece === pieceLength) {
          hashes.set(hash.digest(), piece++ * 20);
          hash = createHash('sha1');
          inPiece = 0;
        }
      }
    } finally {
      closeSync(fd);
    }
  }
  if (inPiece > 0) hashes.set(hash.digest(), piece * 20);
  return hashes;
}

/**
 * Hashes ranges of pieces of a sequence of files with synchronous positional reads into one reused
 * buffer, and writes each piece's SHA-1 into `out`. `begin` picks a range, `step` works on it for a
 * bounded number of bytes (so the calling thread can give its event loop a turn between steps).
 * Files stay open from one range to the next and are closed once the reads have passed them:
 * a thread takes ranges in increasing order.
 */
export class RangeHasher {
  readonly #files: readonly SequenceFile[];
  /** Byte offset of each file in the sequence. */
  readonly #starts: number[] = [];
  readonly #total: number;
  readonly #pieceLength: number;
  readonly #out: Uint8Array;
  readonly #buf: Buffer;
  readonly #fds = new Map<number, number>();
  #pos = 0;
  #end = 0;
  #piece = 0;
  #inPiece = 0;
  #hash: Hash | undefined;
  #file = 0;

  constructor(files: readonly SequenceFile[], pieceLength: number, out: Uint8Array, buf: Buffer) {
    this.#files = files;
    let at = 0;
    for (const f of files) {
      this.#starts.push(at);
      at += f.length;
    }
    this.#total = at;
    this.#pieceLength = pieceLength;
    this.#out = out;
    this.#buf = buf;
  }

  /** Starts on pieces [first, end). */
  begin(first: number, end: number): void {
    this.#pos = first * this.#pieceLength;
    this.#end = Math.min(end * this.#pieceLength, this.#total);
    this.#piece = first;
    this.#inPiece = 0;
    this.#hash = createHash('sha1');
    this.#file = this.#fileAt(this.#pos);
  }

  /** Hashes about `budgetBytes` more (at least one read); true when the range is done. */
  step(budgetBytes: number): boolean {
    const buf = this.#buf;
    const pieceLength = this.#pieceLength;
    let hash = this.#hash!;
    let spent = 0;
    while (this.#pos < this.#end && spent < budgetBytes) {
      let f = this.#file;
      while (this.#pos >= this.#starts[f]! + this.#files[f]!.length) f++; // empty files, file ends
      this.#file = f;
      const file = this.#files[f]!;
      const inFile = this.#pos - this.#starts[f]!;
      // never read across a piece boundary, so each read ends at most one piece
      const want = Math.min(buf.length, file.length - inFile, pieceLength - this.#inPiece);
      let got = 0;
      while (got < want) {
        const n = readSync(this.#fd(f), buf, got, want - got, inFile + got);
        if (n === 0) throw new FileShrankError(`${file.path}: file shrank while it was being read`);
        got += n;
      }
      hash.update(got === buf.length ? buf : buf.subarray(0, got));
      this.#pos += got;
      this.#inPiece += got;
      spent += got;
      if (this.#inPiece === pieceLength || this.#pos === this.#total) {
        this.#out.set(hash.digest(), this.#piece++ * 20);
        hash = createHash('sha1');
        this.#inPiece = 0;
      }
    }
    this.#hash = hash;
    return this.#pos >= this.#end;
  }

  /** Closes every file still open. */
  close(): void {
    for (const fd of this.#fds.values()) closeSync(fd);
    this.#fds.clear();
  }

  #fileAt(pos: number): number {
    let lo = 0;
    let hi = this.#files.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.#starts[mid]! <= pos) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  #fd(file: number): number {
    let fd = this.#fds.get(file);
    if (fd !== undefined) return fd;
    for (const [i, open] of this.#fds) {
      if (i < file) {
        this.#fds.delete(i);
        closeSync(open);
      }
    }
    fd = openSync(this.#files[file]!.path, 'r');
    this.#fds.set(file, fd);
    return fd;
  }
}

/** Takes jobs of `task` until none is left or the stop flag is up. Runs on a worker. */
function runClaims(task: ClaimTask): void {
  const control = new Int32Array(task.control);
  const jobCount = Math.ceil(task.pieceCount / task.piecesPerJob);
  const hasher = new RangeHasher(task.files, task.pieceLength, new Uint8Array(task.out), takeReadBuffer());
  try {
    while (Atomics.load(control, CLAIM.stop) === 0) {
      const job = Atomics.add(control, CLAIM.next, 1);
      if (job >= jobCount) break;
      const first = job * task.piecesPerJob;
      hasher.begin(first, Math.min(first + task.piecesPerJob, task.pieceCount));
      hasher.step(Number.POSITIVE_INFINITY);
      Atomics.add(control, CLAIM.done, 1);
    }
  } catch (err) {
    Atomics.store(control, CLAIM.stop, 1);
    throw err;
  } finally {
    hasher.close();
  }
}

/** Incremental hashes of this thread, by stream id: a stream's chunks all come to one thread, in order. */
const streams = new Map<number, Hash>();

const port = workerData === HASH_WORKER_MARK ? parentPort : null;
port?.on('message', (job: HashJob) => {
  try {
    if (job.kind === 'stream') {
      let hash = streams.get(job.stream);
      if (hash === undefined) {
        hash = createHash('sha1');
        streams.set(job.stream, hash);
      }
      if (job.buffer !== undefined) hash.update(new Uint8Array(job.buffer, 0, job.length));
      let hashes = new Uint8Array(0);
      if (job.final) {
        streams.delete(job.stream);
        hashes = new Uint8Array(hash.digest());
      }
      const result: HashResult = { id: job.id, hashes, ...(job.buffer ? { buffer: job.buffer } : {}) };
      port.postMessage(result, job.buffer ? [job.buffer, hashes.buffer] : [hashes.buffer]);
    } else if (job.kind === 'buffer') {
      const hashes = hashBuffer(new Uint8Array(job.buffer, 0, job.length), job.pieceLength);
      const result: HashResult = { id: job.id, buffer: job.buffer, hashes };
      port.postMessage(result, [job.buffer, hashes.buffer]);
    } else if (job.kind === 'merkle') {
      const hashes = new Uint8Array(pieceRoot(new Uint8Array(job.buffer, 0, job.length), job.widthLeaves));
      const result: HashResult = { id: job.id, buffer: job.buffer, hashes };
      port.postMessage(result, [job.buffer, hashes.buffer]);
    } else if (job.kind === 'segments') {
      const hashes = hashSegments(job.segments, job.pieceLength);
      const result: HashResult = { id: job.id, hashes };
      port.postMessage(result, [hashes.buffer]);
    } else {
      runClaims(job.task);
      const result: HashResult = { id: job.id, hashes: new Uint8Array(0) };
      port.postMessage(result);
    }
  } catch (err) {
    const result: HashResult = {
      id: job.id,
      error: err instanceof Error ? err.message : String(err),
      shrank: err instanceof FileShrankError,
    };
    port.postMessage(result);
  }
});
