// Worker thread body of the hasher pool: SHA-1 of consecutive pieces in a transferred buffer.

import { createHash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';

export interface HashJob {
  id: number;
  buffer: ArrayBuffer;
  length: number;
  pieceLength: number;
}

export interface HashResult {
  id: number;
  buffer: ArrayBuffer;
  hashes: Uint8Array;
}

parentPort?.on('message', (job: HashJob) => {
  const data = new Uint8Array(job.buffer, 0, job.length);
  const count = Math.ceil(job.length / job.pieceLength);
  const hashes = new Uint8Array(count * 20);
  for (let i = 0; i < count; i++) {
    const start = i * job.pieceLength;
    const digest = createHash('sha1')
      .update(data.subarray(start, Math.min(start + job.pieceLength, job.length)))
      .digest();
    hashes.set(digest, i * 20);
  }
  const result: HashResult = { id: job.id, buffer: job.buffer, hashes };
  parentPort!.postMessage(result, [job.buffer, hashes.buffer]);
});
