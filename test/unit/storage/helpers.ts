// Test helpers for the storage layer: real torrents (built, encoded and parsed like any .torrent)
// with known data, and temporary download directories.

import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encode } from '../../../src/protocol/bencode.js';
import { buildMetainfo, type Metainfo, parseMetainfo } from '../../../src/protocol/metainfo.js';

export interface FileSpec {
  /** Path inside the torrent's folder (multi-file) or the file's name (single file). */
  path: string[];
  length: number;
  /** BEP 47 padding file (`attr: p`): its bytes are zeros. */
  padding?: boolean;
}

export interface TorrentSpec {
  name?: string;
  pieceLength: number;
  files: FileSpec[];
  /** Force the multi-file layout for one file. */
  multiFile?: boolean;
  /** Seed of the data's bytes (same seed, same data). */
  seed?: number;
}

export interface TestTorrent {
  metainfo: Metainfo;
  /** The torrent's bytes in order, zeros where padding files are. */
  data: Buffer;
  torrent: Buffer;
  /** The bytes of `piece` (a view into `data`). */
  piece(piece: number): Buffer;
}

/** Deterministic bytes (xorshift32), so a failure reproduces. */
export function seededBytes(length: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  let x = seed >>> 0 || 0x9e3779b9;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

export function makeTorrent(spec: TorrentSpec): TestTorrent {
  const name = spec.name ?? 'content';
  const totalLength = spec.files.reduce((n, f) => n + f.length, 0);
  const data = seededBytes(totalLength, spec.seed ?? 1);
  let offset = 0;
  for (const f of spec.files) {
    if (f.padding) data.fill(0, offset, offset + f.length);
    offset += f.length;
  }
  const pieceCount = Math.ceil(totalLength / spec.pieceLength);
  const pieces = Buffer.alloc(pieceCount * 20);
  for (let i = 0; i < pieceCount; i++) {
    const piece = data.subarray(i * spec.pieceLength, Math.min((i + 1) * spec.pieceLength, totalLength));
    createHash('sha1')
      .update(piece)
      .digest()
      .copy(pieces, i * 20);
  }
  let torrent: Buffer;
  if (spec.files.some((f) => f.padding)) {
    // buildMetainfo does not write BEP 47 attributes; encode the same shape by hand.
    torrent = encode({
      info: {
        files: spec.files.map((f) =>
          f.padding ? { attr: 'p', length: f.length, path: f.path } : { length: f.length, path: f.path },
        ),
        name,
        'piece length': spec.pieceLength,
        pieces,
      },
    });
  } else {
    torrent = buildMetainfo({
      name,
      pieceLength: spec.pieceLength,
      pieces,
      files: spec.files.map((f) => ({ path: f.path, length: f.length })),
      multiFile: spec.multiFile ?? spec.files.length > 1,
    });
  }
  const metainfo = parseMetainfo(torrent);
  return {
    metainfo,
    data,
    torrent,
    piece: (i) => data.subarray(i * spec.pieceLength, Math.min((i + 1) * spec.pieceLength, totalLength)),
  };
}

/** A fresh folder under the OS temp dir; remove it with `removeTempDir`. */
export function makeTempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'bitswarm-storage-'));
}

export function removeTempDir(dir: string): Promise<void> {
  return rm(dir, { recursive: true, force: true });
}

/** Fisher–Yates with a seeded generator. */
export function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = items.slice();
  const rnd = seededBytes(out.length * 4, seed);
  for (let i = out.length - 1; i > 0; i--) {
    const j = rnd.readUInt32LE(i * 4) % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** Asserts that `promise` rejects with a StorageError of `code`; returns the error. */
export async function rejectsWithCode(promise: Promise<unknown>, code: string): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    if (!(err instanceof Error) || (err as { code?: unknown }).code !== code) {
      throw new Error(`expected a rejection with ${code}, got ${String(err)}`, { cause: err });
    }
    return err;
  }
  throw new Error(`expected a rejection with ${code}, but it resolved`);
}
