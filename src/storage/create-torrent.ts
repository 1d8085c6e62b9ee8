// Builds a .torrent from a file or a folder: lists the files in a deterministic order (sorted by
// path bytes, as mktorrent does), streams them through the hasher pool in constant memory, and
// hands the hashes to the protocol layer's builder.

import { open, readdir, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { autoPieceLength, buildMetainfo, expandAnnounce } from '../protocol/metainfo.js';
import { HasherPool } from './hasher-pool.js';

export interface SourceFile {
  /** Path relative to the root folder, as elements. */
  path: string[];
  absolute: string;
  length: number;
}

export interface CreateOptions {
  /** Tracker tiers; `host:port` shorthand allowed. Each inner list is one tier. */
  announce?: string[][];
  pieceLength?: number;
  private?: boolean;
  comment?: string;
  webSeeds?: string[];
  createdBy?: string;
  /** Seconds since the epoch, or null to omit (reproducible output). Default: now. */
  creationDate?: number | null;
  /** Leave out files and folders whose names start with a dot. */
  excludeHidden?: boolean;
  /** Worker threads for hashing; default: all cores for large inputs. */
  threads?: number;
  onProgress?: (hashedBytes: number, totalBytes: number) => void;
  signal?: AbortSignal;
}

export interface CreatedTorrent {
  torrent: Buffer;
  name: string;
  files: SourceFile[];
  totalLength: number;
  pieceLength: number;
}

export class CreateError extends Error {
  override readonly name = 'CreateError';
  readonly code = 'ERR_CREATE';
}

/** Lists the files under `root` (or `root` itself), sorted by path bytes. */
export async function listFiles(
  root: string,
  excludeHidden = false,
): Promise<{ files: SourceFile[]; isDir: boolean }> {
  const abs = resolve(root);
  let st: Awaited<ReturnType<typeof stat>>;
  try {
    st = await stat(abs);
  } catch (err) {
    throw new CreateError(
      `${root}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message}`,
      { cause: err },
    );
  }
  if (st.isFile())
    return { files: [{ path: [basename(abs)], absolute: abs, length: st.size }], isDir: false };
  if (!st.isDirectory()) throw new CreateError(`${root}: not a file or a directory`);
  const files: SourceFile[] = [];
  const walk = async (dir: string, rel: string[]): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true });
    for (const e of entries) {
      if (excludeHidden && e.name.startsWith('.')) continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p, [...rel, e.name]);
      else if (e.isFile()) files.push({ path: [...rel, e.name], absolute: p, length: (await stat(p)).size });
      else if (e.isSymbolicLink()) {
        const t = await stat(p).catch(() => undefined);
        if (t?.isFile()) files.push({ path: [...rel, e.name], absolute: p, length: t.size });
      }
    }
  };
  await walk(abs, []);
  const key = (f: SourceFile): Buffer => Buffer.from(f.path.join('/'));
  files.sort((a, b) => Buffer.compare(key(a), key(b)));
  if (files.length === 0) throw new CreateError(`${root}: no files to share`);
  return { files, isDir: true };
}

/** Streams `files` as one byte sequence and returns the SHA-1 of each piece. */
export async function hashFiles(
  files: readonly SourceFile[],
  pieceLength: number,
  options: Pick<CreateOptions, 'threads' | 'onProgress' | 'signal'> = {},
): Promise<Uint8Array> {
  const total = files.reduce((s, f) => s + f.length, 0);
  const pieceCount = Math.ceil(total / pieceLength);
  const out = new Uint8Array(pieceCount * 20);
  if (pieceCount === 0) return out;
  const piecesPerChunk = Math.max(1, Math.floor((4 * 1024 * 1024) / pieceLength));
  const chunkBytes = piecesPerChunk * pieceLength;
  const large = total > 16 * 1024 * 1024;
  const pool = new HasherPool(
    options.threads !== undefined ? { threads: options.threads } : large ? {} : { threads: 0 },
  );
  const maxInFlight = Math.max(2, pool.threads * 2);
  const free: ArrayBuffer[] = [];
  const inFlight = new Set<Promise<void>>();
  let hashed = 0;
  let chunkIndex = 0;
  let buf = new ArrayBuffer(Math.min(chunkBytes, total));
  let fill = 0;

  const submit = async (): Promise<void> => {
    const index = chunkIndex++;
    const length = fill;
    const job = pool.hash(buf, length, pieceLength).then(({ hashes, buffer }) => {
      out.set(hashes, index * piecesPerChunk * 20);
      hashed += length;
      options.onProgress?.(hashed, total);
      free.push(buffer);
    });
    const tracked = job.finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
    fill = 0;
    if (inFlight.size >= maxInFlight) await Promise.race(inFlight);
    buf = free.pop() ?? new ArrayBuffer(chunkBytes);
  };

  try {
    for (const f of files) {
      options.signal?.throwIfAborted();
      if (f.length === 0) continue;
      const fh = await open(f.absolute, 'r');
      try {
        let pos = 0;
        while (pos < f.length) {
          const want = Math.min(buf.byteLength - fill, f.length - pos);
          const { bytesRead } = await fh.read(new Uint8Array(buf), fill, want, pos);
          if (bytesRead === 0) throw new CreateError(`${f.absolute}: file shrank while it was being read`);
          pos += bytesRead;
          fill += bytesRead;
          if (fill === buf.byteLength) await submit();
        }
      } finally {
        await fh.close();
      }
    }
    if (fill > 0) await submit();
    await Promise.all(inFlight);
  } finally {
    await pool.stop();
  }
  return out;
}

export async function createTorrent(path: string, options: CreateOptions = {}): Promise<CreatedTorrent> {
  const { files, isDir } = await listFiles(path, options.excludeHidden);
  const totalLength = files.reduce((s, f) => s + f.length, 0);
  const pieceLength = options.pieceLength ?? autoPieceLength(totalLength);
  if (!Number.isInteger(pieceLength) || pieceLength < 16 * 1024 || (pieceLength & (pieceLength - 1)) !== 0) {
    throw new CreateError(`--piece-length: ${pieceLength} is not a power of two of at least 16384`);
  }
  const hashOptions: Pick<CreateOptions, 'threads' | 'onProgress' | 'signal'> = {};
  if (options.threads !== undefined) hashOptions.threads = options.threads;
  if (options.onProgress) hashOptions.onProgress = options.onProgress;
  if (options.signal) hashOptions.signal = options.signal;
  const pieces = await hashFiles(files, pieceLength, hashOptions);
  const name = basename(resolve(path));
  const creationDate =
    options.creationDate === null ? undefined : (options.creationDate ?? Math.floor(Date.now() / 1000));
  const torrent = buildMetainfo({
    name,
    pieceLength,
    pieces,
    files: isDir
      ? files.map((f) => ({ path: f.path, length: f.length }))
      : [{ path: [name], length: totalLength }],
    multiFile: isDir,
    announceList: (options.announce ?? []).map((tier) => tier.map(expandAnnounce)),
    urlList: options.webSeeds ?? [],
    ...(options.private ? { private: true } : {}),
    ...(options.comment !== undefined ? { comment: options.comment } : {}),
    ...(options.createdBy !== undefined ? { createdBy: options.createdBy } : {}),
    ...(creationDate !== undefined ? { creationDate } : {}),
  });
  return { torrent, name, files, totalLength, pieceLength };
}
