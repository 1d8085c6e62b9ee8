// Shared pieces of the benchmarks: generated data, a warm page cache, medians.
import { createCipheriv } from 'node:crypto';
import { open } from 'node:fs/promises';

const MIB = 1024 * 1024;

/** Deterministic pseudo-random content, generated fast: AES-128-CTR over zeros with a fixed key. */
export async function generate(path: string, bytes: number, keyByte = 7): Promise<void> {
  const cipher = createCipheriv('aes-128-ctr', Buffer.alloc(16, keyByte), Buffer.alloc(16, 0));
  const zeros = Buffer.alloc(16 * MIB);
  const fh = await open(path, 'w');
  try {
    for (let pos = 0; pos < bytes; pos += zeros.length) {
      const chunk = cipher.update(zeros.subarray(0, Math.min(zeros.length, bytes - pos)));
      await fh.write(chunk, 0, chunk.length, pos);
    }
  } finally {
    await fh.close();
  }
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

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
