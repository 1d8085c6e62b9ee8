// Shared pieces of the benchmarks: generated data, a warm page cache, medians.
import { createCipheriv } from 'node:crypto';
import { open, rm } from 'node:fs/promises';

const MIB = 1024 * 1024;

/** Writes `bytes` to a new file at `path`, 16 MiB at a time: `chunk(zeros)` gives each chunk's bytes. */
async function writeChunks(path: string, bytes: number, chunk: (zeros: Buffer) => Uint8Array): Promise<void> {
  const zeros = Buffer.alloc(16 * MIB);
  const fh = await open(path, 'w');
  try {
    for (let pos = 0; pos < bytes; pos += zeros.length) {
      const c = chunk(zeros.subarray(0, Math.min(zeros.length, bytes - pos)));
      await fh.write(c, 0, c.length, pos);
    }
  } finally {
    await fh.close();
  }
}

/** Deterministic pseudo-random content, generated fast: AES-128-CTR over zeros with a fixed key. */
export async function generate(path: string, bytes: number, keyByte = 7): Promise<void> {
  const cipher = createCipheriv('aes-128-ctr', Buffer.alloc(16, keyByte), Buffer.alloc(16, 0));
  await writeChunks(path, bytes, (zeros) => cipher.update(zeros));
}

/** Reads the whole file once, so what follows starts from the page cache. */
export async function warm(path: string): Promise<void> {
  const buf = Buffer.allocUnsafe(16 * MIB);
  const fh = await open(path, 'r');
  try {
    while ((await fh.read(buf, 0, buf.length, null)).bytesRead > 0) {
      // reading is the point
    }
  } finally {
    await fh.close();
  }
}

/**
 * Writes `bytes` of zeros to `path` and deletes it, so that as much memory as the next download
 * writes lies free and recently used. On a virtual machine the host takes back guest memory freed a
 * few seconds ago, and a write into the page cache that lands on such memory costs about ten times
 * as much kernel time (seen here: 1 GiB with dd took 0.2 s of system time right after a delete, 2.4 s
 * five seconds later). Without this, whichever client starts writing later or more slowly after
 * the last delete pays for the host, not for its own work.
 */
export async function recyclePageCache(path: string, bytes: number): Promise<void> {
  await writeChunks(path, bytes, (zeros) => zeros);
  await rm(path, { force: true });
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
