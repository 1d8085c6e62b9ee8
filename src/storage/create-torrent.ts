// Builds a .torrent from a file or a folder: lists the files in a deterministic order (sorted by
// path bytes, as mktorrent does), hashes them in the hasher pool's workers in constant memory, and
// hands the hashes to the protocol layer's builder.

import { readdir, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { autoPieceLength, buildMetainfo, expandAnnounce } from '../protocol/metainfo.js';
import { type FileSegment, FileShrankError, HasherPool, hashSegmentsHere } from './hasher-pool.js';

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
  /** Hashing threads, the calling thread included (0 or 1: it alone); default: all cores for large inputs. */
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

/** Bytes per hashing job: enough to make a worker round trip negligible, small enough to balance. */
const JOB_BYTES = 4 * 1024 * 1024;
/** Below this many bytes, a worker's start-up costs more than it saves. */
const WORKER_THRESHOLD_BYTES = 16 * 1024 * 1024;
/** Jobs queued per worker, so a worker never waits for its next job. */
const JOBS_PER_WORKER = 2;

/**
 * Hashes `files` as one byte sequence and returns the SHA-1 of each piece. The sequence is cut into
 * jobs of whole pieces (about 4 MiB) that several lanes take in turn: the calling thread (reads
 * overlapped with hashing, at most 1 MiB hashed per event-loop turn) and the hasher pool's workers,
 * which read the files themselves. `threads` counts all of them, the calling thread included; the
 * default is one per core, and the calling thread alone for small inputs. The calling thread starts
 * at once, while the workers boot. Memory stays constant whatever the size.
 */
export async function hashFiles(
  files: readonly SourceFile[],
  pieceLength: number,
  options: Pick<CreateOptions, 'threads' | 'onProgress' | 'signal'> = {},
): Promise<Uint8Array> {
  const total = files.reduce((s, f) => s + f.length, 0);
  const pieceCount = Math.ceil(total / pieceLength);
  const out = new Uint8Array(pieceCount * 20);
  if (pieceCount === 0) return out;
  const piecesPerJob = Math.max(1, Math.floor(JOB_BYTES / pieceLength));
  const jobCount = Math.ceil(pieceCount / piecesPerJob);
  const threads = options.threads ?? (total > WORKER_THRESHOLD_BYTES ? availableParallelism() : 1);
  // no more workers than there are jobs left after the calling thread takes its first
  const workers = Math.max(0, Math.min(threads - 1, jobCount - 1));
  const pool = workers > 0 ? new HasherPool({ threads: workers }) : undefined;

  // Walks the files once, cutting the byte sequence into jobs of `piecesPerJob` pieces.
  let fileIndex = 0;
  let fileOffset = 0;
  let nextPiece = 0;
  let failed = false;
  const nextJob = (): { first: number; bytes: number; segments: FileSegment[] } | undefined => {
    if (failed || nextPiece >= pieceCount) return undefined;
    options.signal?.throwIfAborted();
    const first = nextPiece;
    nextPiece += piecesPerJob;
    const bytes = Math.min(piecesPerJob * pieceLength, total - first * pieceLength);
    const segments: FileSegment[] = [];
    for (let left = bytes; left > 0; ) {
      const f = files[fileIndex]!;
      const take = Math.min(left, f.length - fileOffset);
      if (take > 0) segments.push({ path: f.absolute, offset: fileOffset, length: take });
      left -= take;
      fileOffset += take;
      if (fileOffset === f.length) {
        fileIndex++;
        fileOffset = 0;
      }
    }
    return { first, bytes, segments };
  };

  let hashed = 0;
  const lane = async (hash: (segments: FileSegment[]) => Promise<Uint8Array>): Promise<void> => {
    try {
      for (let job = nextJob(); job; job = nextJob()) {
        out.set(await hash(job.segments), job.first * 20);
        hashed += job.bytes;
        options.onProgress?.(hashed, total);
      }
    } catch (err) {
      failed = true; // the other lanes stop after their current job
      throw err;
    }
  };
  const lanes = [lane((segments) => hashSegmentsHere(segments, pieceLength))];
  for (let i = 0; pool && i < workers * JOBS_PER_WORKER; i++) {
    lanes.push(lane((segments) => pool.hashSegments(segments, pieceLength)));
  }
  try {
    const results = await Promise.allSettled(lanes);
    const rejected = results.find((r) => r.status === 'rejected');
    if (rejected) {
      const err: unknown = rejected.reason;
      if (err instanceof FileShrankError) throw new CreateError(err.message, { cause: err });
      throw err;
    }
  } finally {
    await pool?.stop();
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
