// Hashing for v2 and hybrid torrents (BEP 52): per file, SHA-256 of each 16 KiB block → the file's
// merkle root and piece layer; for a hybrid also the v1 SHA-1 of each piece, where every file starts
// on a piece boundary and its last piece is filled with the pad file's zeros (as libtorrent 2.0.8
// pads: after every non-empty file of a multi-file torrent, the last one included).
//
// One pass over each file, read a piece at a time; the hashing runs on the calling thread with a
// turn of the event loop between reads.

import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { fileTree, HASH_BYTES, leafHashes } from '../protocol/merkle.js';

export interface V2SourceFile {
  absolute: string;
  length: number;
}

export interface V2Hashes {
  /** Per file: its pieces root (undefined when empty) and piece layer (empty when one piece or less). */
  files: { root: Buffer | undefined; layer: Buffer }[];
  /** Hybrid only: the v1 SHA-1 piece hashes over the padded layout. */
  v1Pieces?: Uint8Array;
}

export class V2FileShrankError extends Error {
  override readonly name = 'V2FileShrankError';
}

export async function hashFilesV2(
  files: readonly V2SourceFile[],
  pieceLength: number,
  o: {
    hybrid: boolean;
    /** A multi-file torrent: pieces of a hybrid are padded with zeros to the boundary. */
    padded: boolean;
    onProgress?: (hashedBytes: number, totalBytes: number) => void;
    signal?: AbortSignal;
  },
): Promise<V2Hashes> {
  const total = files.reduce((s, f) => s + f.length, 0);
  const out: V2Hashes['files'] = [];
  const v1: Buffer[] = [];
  const buf = Buffer.allocUnsafe(pieceLength);
  let done = 0;
  for (const f of files) {
    o.signal?.throwIfAborted();
    if (f.length === 0) {
      out.push({ root: undefined, layer: Buffer.alloc(0) });
      continue;
    }
    const pieces = Math.ceil(f.length / pieceLength);
    const leaves = Buffer.allocUnsafe(Math.ceil(f.length / 16384) * HASH_BYTES);
    const fh = await open(f.absolute, 'r');
    try {
      for (let p = 0; p < pieces; p++) {
        o.signal?.throwIfAborted();
        const want = Math.min(pieceLength, f.length - p * pieceLength);
        let got = 0;
        while (got < want) {
          const { bytesRead } = await fh.read(buf, got, want - got, p * pieceLength + got);
          if (bytesRead === 0) throw new V2FileShrankError(`${f.absolute}: shorter than when it was listed`);
          got += bytesRead;
        }
        const data = buf.subarray(0, want);
        leafHashes(data).copy(leaves, ((p * pieceLength) / 16384) * HASH_BYTES);
        if (o.hybrid) {
          const h = createHash('sha1').update(data);
          if (o.padded && want < pieceLength) h.update(Buffer.alloc(pieceLength - want));
          v1.push(h.digest());
        }
        done += want;
        o.onProgress?.(done, total);
      }
    } finally {
      await fh.close();
    }
    const t = fileTree(leaves, pieceLength);
    out.push({ root: t.root, layer: t.layer });
  }
  return o.hybrid ? { files: out, v1Pieces: Buffer.concat(v1) } : { files: out };
}

/** BEP 52 file order (as libtorrent sorts): by path, element by element, bytewise. */
export function comparePaths(a: readonly string[], b: readonly string[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const c = Buffer.compare(Buffer.from(a[i]!), Buffer.from(b[i]!));
    if (c !== 0) return c;
  }
  return a.length - b.length;
}
