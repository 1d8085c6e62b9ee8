// Worker thread body of the hasher pool: SHA-1 of consecutive pieces, either of a transferred buffer
// or read by the worker itself from file ranges. Reading here (synchronously: it blocks only this
// worker) saves the main thread a read and a transfer per chunk, and each piece is hashed while its
// bytes are still in the CPU cache.

import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';

/** A byte range of one file; a job's segments, in order, are consecutive bytes of the torrent. */
export interface FileSegment {
  path: string;
  offset: number;
  length: number;
}

export type HashJob =
  | { kind: 'buffer'; id: number; buffer: ArrayBuffer; length: number; pieceLength: number }
  | { kind: 'segments'; id: number; segments: FileSegment[]; pieceLength: number };

export type HashResult =
  | { id: number; hashes: Uint8Array; buffer?: ArrayBuffer }
  | { id: number; error: string; shrank: boolean };

/** Bytes read per call: large enough for few calls, small enough to stay in the CPU cache. */
const READ_BYTES = 1024 * 1024;

/** Thrown when a file ends before the length it had when it was listed. */
class ShrankError extends Error {}

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

let readBuffer: Buffer | undefined;

function hashSegments(segments: readonly FileSegment[], pieceLength: number): Uint8Array<ArrayBuffer> {
  const total = segments.reduce((s, g) => s + g.length, 0);
  const hashes = new Uint8Array(Math.ceil(total / pieceLength) * 20);
  if (readBuffer === undefined) readBuffer = Buffer.allocUnsafe(READ_BYTES);
  const buf = readBuffer;
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
        if (got === 0) throw new ShrankError(`${seg.path}: file shrank while it was being read`);
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

parentPort?.on('message', (job: HashJob) => {
  try {
    if (job.kind === 'buffer') {
      const hashes = hashBuffer(new Uint8Array(job.buffer, 0, job.length), job.pieceLength);
      const result: HashResult = { id: job.id, buffer: job.buffer, hashes };
      parentPort!.postMessage(result, [job.buffer, hashes.buffer]);
    } else {
      const hashes = hashSegments(job.segments, job.pieceLength);
      const result: HashResult = { id: job.id, hashes };
      parentPort!.postMessage(result, [hashes.buffer]);
    }
  } catch (err) {
    const result: HashResult = {
      id: job.id,
      error: err instanceof Error ? err.message : String(err),
      shrank: err instanceof ShrankError,
    };
    parentPort!.postMessage(result);
  }
});
