// Builds a .torrent from a file or a folder: lists the files in a deterministic order (sorted by
// path bytes, as mktorrent does), hashes them in the hasher pool's workers in constant memory, and
// hands the hashes to the protocol layer's builder.

import { readdir, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { autoPieceLength, buildMetainfo, expandAnnounce } from '../protocol/metainfo.js';
import { comparePaths, hashFilesV2, V2FileShrankError, type V2Hashes } from './create-v2.js';
import {
  CLAIM,
  type ClaimTask,
  dropPrestartedHashWorker,
  FileShrankError,
  HasherPool,
  RangeHasher,
  READ_BYTES,
} from './hasher-pool.js';

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
  /** BEP 52: 'v2' or 'hybrid' (files sorted and padded as libtorrent 2.0.8 does). Default 'v1'. */
  version?: 'v1' | 'v2' | 'hybrid';
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
        const t = await stat(p).catch(() => undefined); // a dangling link is no file to share
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

/**
 * Bytes per job that a thread takes from the shared counter: at the end, the threads finish at most
 * one job apart (a few ms), and taking a job costs one atomic add.
 */
const JOB_BYTES = 4 * 1024 * 1024;
/** Bytes the calling thread hashes between two turns of its event loop (about 4 ms of SHA-1). */
const SLICE_BYTES = 4 * 1024 * 1024;
/** Below this many bytes, a worker's start-up costs more than it saves. */
const WORKER_THRESHOLD_BYTES = 16 * 1024 * 1024;

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Hashes `files` as one byte sequence and returns the SHA-1 of each piece. The sequence is cut into
 * jobs of whole pieces (about 4 MiB); the calling thread and the hasher pool's workers each take
 * the next job from a shared atomic counter, read its bytes themselves with positional reads into
 * one reused buffer, and write the hashes into shared memory: no message per job, no copy, and no
 * thread waits for another until the last job. `threads` counts all of them, the calling thread
 * included; the default is one per core, and the calling thread alone for small inputs. The calling
 * thread starts at once, while the workers boot, and gives its event loop a turn every 4 MiB.
 * Memory stays constant whatever the size.
 */
export async function hashFiles(
  files: readonly SourceFile[],
  pieceLength: number,
  options: Pick<CreateOptions, 'threads' | 'onProgress' | 'signal'> = {},
): Promise<Uint8Array> {
  const total = files.reduce((s, f) => s + f.length, 0);
  const pieceCount = Math.ceil(total / pieceLength);
  if (pieceCount === 0) return new Uint8Array(0);
  const piecesPerJob = Math.max(1, Math.floor(JOB_BYTES / pieceLength));
  const jobCount = Math.ceil(pieceCount / piecesPerJob);
  const threads = options.threads ?? (total > WORKER_THRESHOLD_BYTES ? availableParallelism() : 1);
  // no more workers than there are jobs left after the calling thread takes its first
  const workers = Math.max(0, Math.min(threads - 1, jobCount - 1));
  const pool = workers > 0 ? new HasherPool({ threads: workers }) : undefined;
  // a worker started ahead (bitswarm create) that turns out not to be needed need not finish booting
  if (!pool) void dropPrestartedHashWorker().catch(() => undefined);

  const control = new Int32Array(new SharedArrayBuffer(CLAIM.length * 4));
  const out = new Uint8Array(new SharedArrayBuffer(pieceCount * 20));
  const task: ClaimTask = {
    files: files.map((f) => ({ path: f.absolute, length: f.length })),
    pieceLength,
    pieceCount,
    piecesPerJob,
    control: control.buffer as SharedArrayBuffer,
    out: out.buffer,
  };
  const others = pool?.hashClaimed(task);
  // settled below, or abandoned when the calling thread did every job before a worker started
  void others?.catch(() => undefined);
  const jobBytes = piecesPerJob * pieceLength;
  const progress = (done: number): void => options.onProgress?.(Math.min(total, done * jobBytes), total);

  const hasher = new RangeHasher(task.files, pieceLength, out, Buffer.allocUnsafeSlow(READ_BYTES));
  let failure: { error: unknown } | undefined;
  try {
    while (Atomics.load(control, CLAIM.stop) === 0) {
      options.signal?.throwIfAborted();
      const job = Atomics.add(control, CLAIM.next, 1);
      if (job >= jobCount) break;
      const first = job * piecesPerJob;
      hasher.begin(first, Math.min(first + piecesPerJob, pieceCount));
      while (!hasher.step(SLICE_BYTES)) await nextTurn();
      progress(Atomics.add(control, CLAIM.done, 1) + 1);
      await nextTurn();
    }
  } catch (error) {
    Atomics.store(control, CLAIM.stop, 1); // the workers stop after their current job
    failure = { error };
  } finally {
    hasher.close();
  }
  try {
    // Every job done (a worker that is still booting has nothing left to do): no need to wait for
    // the workers' answers. Otherwise a worker is on the last jobs, or failed.
    if (failure === undefined && Atomics.load(control, CLAIM.done) < jobCount) {
      Atomics.store(control, CLAIM.stop, 1);
      await others?.catch((error: unknown) => {
        failure = { error };
      });
      if (failure === undefined && Atomics.load(control, CLAIM.done) < jobCount) {
        failure = { error: new Error('hashing stopped before every piece was hashed') };
      }
    } else {
      Atomics.store(control, CLAIM.stop, 1);
      if (failure !== undefined) await others?.catch(() => undefined);
    }
  } finally {
    await pool?.stop();
  }
  if (failure !== undefined) {
    const err = failure.error;
    if (err instanceof FileShrankError) throw new CreateError(err.message, { cause: err });
    throw err;
  }
  progress(jobCount);
  return new Uint8Array(out); // a plain copy: callers need not know about shared memory
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
  const version = options.version ?? 'v1';
  let pieces: Uint8Array;
  let v2: V2Hashes | undefined;
  if (version === 'v1') pieces = await hashFiles(files, pieceLength, hashOptions);
  else {
    files.sort((a, b) => comparePaths(a.path, b.path));
    try {
      v2 = await hashFilesV2(files, pieceLength, {
        hybrid: version === 'hybrid',
        padded: isDir && files.length > 1,
        ...(options.onProgress ? { onProgress: options.onProgress } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } catch (err) {
      if (err instanceof V2FileShrankError) throw new CreateError(err.message, { cause: err });
      throw err;
    }
    pieces = v2.v1Pieces ?? new Uint8Array(0);
  }
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
    ...(v2 ? { version, v2Files: v2.files } : {}),
    announceList: (options.announce ?? []).map((tier) => tier.map(expandAnnounce)),
    urlList: options.webSeeds ?? [],
    ...(options.private ? { private: true } : {}),
    ...(options.comment !== undefined ? { comment: options.comment } : {}),
    ...(options.createdBy !== undefined ? { createdBy: options.createdBy } : {}),
    ...(creationDate !== undefined ? { creationDate } : {}),
  });
  return { torrent, name, files, totalLength, pieceLength };
}
