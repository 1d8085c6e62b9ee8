// Storage on disk: pieces mapped onto the torrent's files under one download directory.
//
// - Files are created sparse, when a piece touching them is first written: opened with O_CREAT and
//   truncated up to their length (no zeros written). Zero-length files are created by `open()`.
//   BEP 47 padding files are never created; their bytes read as zeros.
// - Reading bytes that are not on disk (file absent or shorter) rejects with ERR_STORAGE_MISSING, as
//   the Storage contract says; `mayHave` is false only when no byte of the piece is on disk.
// - Open handles live in a bounded LRU (`maxOpenFiles`, handles being closed count too). An
//   operation holds at most one handle at a time, so waiting for a free slot cannot deadlock.
//   Handles open read-write when the file allows it (read-only otherwise), so a leecher that uploads
//   from the file it is writing does not reopen it.
// - Path safety: every torrent path is checked when the storage is constructed (safe elements, the
//   resolved path inside the download directory; ERR_STORAGE_PATH_ESCAPE otherwise). On disk, each
//   existing component is checked with lstat before use: a symlink is followed only when its real
//   path stays inside the download directory (ERR_STORAGE_SYMLINK otherwise), and the final open
//   uses O_NOFOLLOW where the platform has it, so a symlink swapped in after the check is refused.
//   A symlink that is not followed is never read through either: seeding reads the same paths.
//   The download directory itself is trusted: it is used through its real path.
// - Incomplete files (`partSuffix`): a file the storage creates is named `<name>.part` until every
//   piece touching it is verified (`pieceVerified`), then renamed to its own name, as Transmission
//   does; so a stopped download never looks complete in a listing. A file is looked up under its own
//   name first, then with `.part`, whatever the option says: a restart, a check or a seeder finds data
//   under either name (a user may rename it back), and a file found under its own name keeps it.
//   The rename never replaces an entry of that name; it renames the entry (a symlink stays one), in
//   the folder the walk checked; the inode and birth time stay, so `onCreate`'s record still holds.
//   Opening a file and renaming it are serialized per file; open handles stay valid across it.
// - What the storage creates is told (`onCreate`): files are created with O_EXCL, folders by mkdir,
//   so a file or folder that was there before (the user's own) is never reported as ours. The owner
//   keeps the list, so that deleting a torrent's data deletes only what it created.
// - Reads and writes of up to `inlineBytes` are made on the calling thread: a pread or pwrite served
//   by the page cache costs less than handing it to libuv's pool (no thread wakes up and preempts
//   the event loop, no writers contend for the file's lock). When INLINE_SLOW_COUNT of one kind
//   within a second take longer than its threshold (INLINE_WRITE_SLOW_MS, INLINE_READ_SLOW_MS: the
//   disk pushes back, dirty pages are throttled, data comes from a spinning disk or the network),
//   that kind goes to the pool for INLINE_PAUSE_MS, so a slow disk never stalls the event loop for
//   long. One slow call alone is taken as a hiccup of the machine.

import { constants, readSync, writeSync } from 'node:fs';
import { type FileHandle, lstat, mkdir, open, realpath, rename, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { Metainfo } from '../protocol/metainfo.js';
import { Bitfield } from '../util/bitfield.js';
import { errorText, type Logger, silentLogger } from '../util/logger.js';
import { fromOsError, StorageError, StorageErrorCode } from './errors.js';
import { type FileSlice, OpenGate, PieceMap, type Storage } from './storage.js';

const O_NOFOLLOW = constants.O_NOFOLLOW ?? 0;
const READ_WRITE = constants.O_RDWR | O_NOFOLLOW;
const READ_ONLY = constants.O_RDONLY | O_NOFOLLOW;
/** Exclusive: fails with EEXIST when anything (a symlink too) is there, so a success proves we made it. */
const CREATE = constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | O_NOFOLLOW;
const FILE_MODE = 0o666;
const FLUSH_LANES = 4;
/** Files whose size mayHaveAny looks up at once. */
const STAT_BATCH = 64;
/** How long a file's size on disk, once looked up, answers mayHave (see #sizeOnDisk). */
const SIZE_HINT_MS = 1000;
/** An inline write that took longer than this means the disk pushes back (see the header). */
export const INLINE_WRITE_SLOW_MS = 20;
/** An inline read that took longer than this did not come from the page cache. */
export const INLINE_READ_SLOW_MS = 5;
/** Slow inline calls of one kind within a second that send that kind to the thread pool. */
export const INLINE_SLOW_COUNT = 3;
/** How long they then go through the thread pool before inline calls are tried again. */
export const INLINE_PAUSE_MS = 5000;

/**
 * Whether reads (or writes) run inline, on the calling thread: while they are at most `maxBytes`
 * and not paused; INLINE_SLOW_COUNT slow ones within a second pause them for INLINE_PAUSE_MS.
 */
class InlineIo {
  #pausedUntil = 0;
  #slow = 0;
  #slowSince = 0;

  constructor(
    readonly maxBytes: number,
    readonly slowMs: number,
  ) {}

  get paused(): boolean {
    return performance.now() < this.#pausedUntil;
  }

  allows(length: number): boolean {
    return length <= this.maxBytes && !this.paused;
  }

  /** Counts a call that ran inline from t0 to t1 (performance.now()). */
  timed(t0: number, t1: number): void {
    if (t1 - t0 <= this.slowMs) return;
    if (t1 - this.#slowSince > 1000) {
      this.#slowSince = t1;
      this.#slow = 0;
    }
    if (++this.#slow < INLINE_SLOW_COUNT) return;
    this.#slow = 0;
    this.#pausedUntil = t1 + INLINE_PAUSE_MS;
  }
}

export interface FileStorageOptions {
  /** Most file handles kept open at once (least recently used ones are closed). Default 64. */
  maxOpenFiles?: number;
  /**
   * After this many bytes written to a file, a datasync starts in the background, so the disk
   * writes back while the download goes on and the final flush has little left to wait for.
   * Default 32 MiB; 0 leaves all writeback to flush() and the kernel.
   */
  writebackBytes?: number;
  /**
   * Reads and writes of up to this many bytes are made inline, on the calling thread, while they
   * stay fast (see the header). Default 4 MiB; 0 sends every read and write through the thread pool.
   */
  inlineBytes?: number;
  /** Overrides both thresholds above which an inline call counts as slow (tests). */
  inlineSlowMs?: number;
  /** Told of each file and folder the storage creates (never of one that was there already). */
  onCreate?: (created: CreatedEntry) => void;
  /**
   * Create incomplete files as `<name>.part` (renamed when their pieces are all verified; see the
   * header). Default false here; the session turns it on. Either way, data is found under both names
   * and a complete `.part` file is renamed.
   */
  partSuffix?: boolean;
  /** Where failures the storage goes on from are logged (a background sync, a rename). */
  log?: Logger;
}

/** What an incomplete file's name ends with while it is incomplete. */
export const PART_SUFFIX = '.part';

/**
 * A file (by index) or a folder (by its path elements under the download directory) that the
 * storage created, with its inode number and birth time then. Both, because a file system reuses a
 * freed inode number at once (ext4 does): a file the user put in its place has the same number but
 * another birth time. `born` is 0 where the file system keeps no birth time.
 */
export type CreatedEntry =
  | { kind: 'file'; file: number; ino: number; born: number }
  | { kind: 'folder'; path: string[]; ino: number; born: number };

export type FileLayout = Pick<Metainfo, 'files' | 'pieceLength' | 'pieceCount' | 'totalLength'>;

interface HandleEntry {
  file: number;
  writable: boolean;
  /** The open finished (either way); `writable` is final then. */
  settled: boolean;
  ready: Promise<FileHandle>;
  /** Operations holding the handle right now; only idle handles are closed. */
  users: number;
  /** Written since its last fsync. */
  dirty: boolean;
  /** Checked to be a regular file at least as long as the torrent's file (extended if needed). */
  sized: boolean;
  /** Bytes written since the last background writeback started. */
  unsyncedBytes: number;
  /** A background writeback holds the handle. */
  syncing: boolean;
}

/** True when `child` is strictly inside `parent` (both absolute, normalized). */
export function isInside(parent: string, child: string): boolean {
  const rel = relative(parent, child);
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel);
}

const BAD_ELEMENT = /[/\\\0]/;

export class FileStorage implements Storage {
  readonly #meta: FileLayout;
  readonly #map: PieceMap;
  readonly #root: string;
  readonly #maxOpen: number;
  readonly #writebackBytes: number;
  readonly #inlineReads: InlineIo;
  readonly #inlineWrites: InlineIo;
  readonly #gate = new OpenGate();
  readonly #onCreate: ((created: CreatedEntry) => void) | undefined;
  readonly #partSuffix: boolean;
  /** 1 where `<name>.part` is another file of the torrent: that file never takes or looks for it. */
  readonly #noPartName: Uint8Array;
  /** Pieces touching each file (0 for padding and empty files): a file is complete when all are verified. */
  readonly #piecesOfFile: Int32Array;
  /** Of those, the ones not yet told verified since open(). */
  #unverifiedOfFile: Int32Array;
  /** Pieces told verified since open(). */
  #told: Bitfield;
  /** 1 where the file was opened under its own name since open() (nothing to rename then). */
  #ownName: Uint8Array;
  /** Renames of completed files in progress (flush waits for them). */
  readonly #renames = new Set<Promise<void>>();
  /** The last open or rename of each file in progress: they run one at a time per file. */
  readonly #fileLocks = new Map<number, Promise<unknown>>();
  #realRoot = '';
  #opening: Promise<void> | undefined;
  #closing: Promise<void> | undefined;

  /** Open handles by file index, least recently used first. */
  readonly #handles = new Map<number, HandleEntry>();
  /** Recent answers of #sizeOnDisk, by file index. */
  readonly #sizeHints = new Map<number, { size: Promise<number | undefined>; atMs: number }>();
  #closingCount = 0;
  /** Descriptors opened outside the map (folders being synced), counted against the bound. */
  #borrowed = 0;
  /** Operations waiting for room under the bound, first come first served; one is woken per event. */
  #roomWaiters: (() => void)[] = [];
  /** Operations waiting for a read-only handle to go idle so they can replace it (rare). */
  #idleWaiters: (() => void)[] = [];
  /** Files written through a handle that was closed before the next flush. */
  readonly #dirtyClosed = new Set<number>();
  /** Folders in which we created an entry since the last flush (their own fsync makes it durable). */
  readonly #newEntriesIn = new Set<string>();

  readonly #log: Logger;

  constructor(metainfo: FileLayout, downloadDir: string, options: FileStorageOptions = {}) {
    const maxOpen = options.maxOpenFiles ?? 64;
    if (!Number.isInteger(maxOpen) || maxOpen < 1) {
      throw new RangeError(`maxOpenFiles must be a positive integer, got ${maxOpen}`);
    }
    this.#meta = metainfo;
    this.#map = new PieceMap(metainfo);
    this.#root = resolve(downloadDir);
    this.#maxOpen = maxOpen;
    this.#onCreate = options.onCreate;
    this.#log = options.log ?? silentLogger;
    this.#partSuffix = options.partSuffix ?? false;
    const paths = new Set(metainfo.files.map((f) => f.path.join('/')));
    this.#noPartName = Uint8Array.from(metainfo.files, (f) =>
      paths.has(`${f.path.join('/')}${PART_SUFFIX}`) ? 1 : 0,
    );
    this.#piecesOfFile = new Int32Array(metainfo.files.length);
    metainfo.files.forEach((f, i) => {
      if (f.padding || f.length === 0) return;
      const first = Math.floor(f.offset / metainfo.pieceLength);
      const last = Math.floor((f.offset + f.length - 1) / metainfo.pieceLength);
      this.#piecesOfFile[i] = last - first + 1;
    });
    this.#unverifiedOfFile = this.#piecesOfFile.slice();
    this.#told = new Bitfield(metainfo.pieceCount);
    this.#ownName = new Uint8Array(metainfo.files.length);
    this.#writebackBytes = options.writebackBytes ?? 32 * 1024 * 1024;
    const inline = options.inlineBytes ?? 4 * 1024 * 1024;
    if (!(inline >= 0)) throw new RangeError(`inlineBytes must be 0 or more, got ${inline}`);
    this.#inlineReads = new InlineIo(inline, options.inlineSlowMs ?? INLINE_READ_SLOW_MS);
    this.#inlineWrites = new InlineIo(inline, options.inlineSlowMs ?? INLINE_WRITE_SLOW_MS);
    // The metainfo's paths are sanitized already; this second check costs nothing and does not
    // depend on every producer of a Metainfo having used the path policy.
    metainfo.files.forEach((f, i) => {
      if (f.padding) return;
      const shown = join(this.#root, ...f.path.map((e) => e.replace(/\0/g, '\\0')));
      const bad =
        f.path.length === 0 || f.path.some((e) => e === '' || e === '.' || e === '..' || BAD_ELEMENT.test(e));
      if (bad || !isInside(this.#root, resolve(this.#root, ...f.path))) {
        throw new StorageError(
          StorageErrorCode.PathEscape,
          shown,
          `file ${i} has the unsafe path ${JSON.stringify(f.path)}: it would not stay inside the download directory`,
        );
      }
    });
  }

  /** True while writes go through the thread pool because inline ones were slow. */
  get inlineWritesPaused(): boolean {
    return this.#inlineWrites.paused;
  }

  /** True while reads go through the thread pool because inline ones were slow. */
  get inlineReadsPaused(): boolean {
    return this.#inlineReads.paused;
  }

  /** The download directory (absolute). */
  get root(): string {
    return this.#root;
  }

  /** Absolute path of file `index` as the torrent names it (display; may differ from the real path). */
  pathOf(index: number): string {
    return join(this.#root, ...this.#meta.files[index]!.path);
  }

  /** Handles open now, including those being closed (never more than `maxOpenFiles`). */
  get openFileCount(): number {
    return this.#handles.size + this.#closingCount + this.#borrowed;
  }

  open(): Promise<void> {
    if (this.#gate.isOpen) return Promise.resolve();
    this.#opening ??= this.#doOpen().finally(() => {
      this.#opening = undefined;
    });
    return this.#opening;
  }

  async #doOpen(): Promise<void> {
    // Reopening while a close is in progress: let it finish closing the old handles first.
    if (this.#closing !== undefined) await this.#closing;
    try {
      await mkdir(this.#root, { recursive: true });
      this.#realRoot = await realpath(this.#root);
    } catch (err) {
      throw fromOsError(err, this.#root, 'opening the download directory');
    }
    this.#unverifiedOfFile = this.#piecesOfFile.slice();
    this.#told = new Bitfield(this.#meta.pieceCount);
    this.#ownName.fill(0);
    const files = this.#meta.files;
    for (let i = 0; i < files.length; i++) {
      const f = files[i]!;
      if (f.length !== 0 || f.padding) continue;
      const found = await this.#resolve(i, true);
      if (found.exists) continue;
      try {
        const fh = await open(found.path, CREATE, FILE_MODE);
        try {
          this.#created(i, fh);
        } finally {
          await fh.close();
        }
        this.#newEntriesIn.add(found.dir);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue; // made by someone else meanwhile
        throw fromOsError(err, this.pathOf(i), 'creating');
      }
    }
    this.#gate.markOpen();
  }

  read(piece: number, offset: number, length: number, into?: Buffer): Promise<Buffer> {
    return this.#gate.run('read', async () => {
      this.#map.check(piece, offset, length); // before allocating by the caller's length
      const out =
        into !== undefined && into.length >= length ? into.subarray(0, length) : Buffer.allocUnsafe(length);
      return this.#read(piece, offset, length, out);
    });
  }

  readPiece(piece: number, into?: Buffer): Promise<Buffer> {
    return this.#gate.run('readPiece', async () => {
      const length = this.#map.pieceLength(piece);
      // Not from the shared pool: the buffer owns its memory, so the hasher can transfer it.
      const out = into?.length === length ? into : Buffer.allocUnsafeSlow(length);
      return this.#read(piece, 0, length, out);
    });
  }

  async #read(piece: number, offset: number, length: number, out: Buffer): Promise<Buffer> {
    for (const s of this.#map.slices(piece, offset, length)) {
      if (s.padding) out.fill(0, s.bufferOffset, s.bufferOffset + s.length);
      else await this.#readSlice(s, out);
    }
    return out;
  }

  async #readSlice(s: FileSlice, out: Buffer): Promise<void> {
    const entry = await this.#acquire(s.file, false);
    try {
      const fh = await entry.ready;
      const inline = this.#inlineReads.allows(s.length);
      const t0 = performance.now();
      let done = 0;
      while (done < s.length) {
        const bytesRead = inline
          ? readSync(fh.fd, out, s.bufferOffset + done, s.length - done, s.fileOffset + done)
          : (await fh.read(out, s.bufferOffset + done, s.length - done, s.fileOffset + done)).bytesRead;
        if (bytesRead === 0) {
          throw new StorageError(
            StorageErrorCode.Missing,
            this.pathOf(s.file),
            `bytes ${s.fileOffset + done}+${s.length - done} are not stored: the file is shorter`,
          );
        }
        done += bytesRead;
      }
      if (inline) this.#inlineReads.timed(t0, performance.now());
    } catch (err) {
      throw fromOsError(err, this.pathOf(s.file), 'reading');
    } finally {
      this.#release(entry);
    }
  }

  writePiece(piece: number, data: Uint8Array): Promise<void> {
    return this.#gate.run('writePiece', async () => {
      this.#map.checkWhole(piece, data);
      for (const s of this.#map.pieceSlices(piece)) {
        if (!s.padding) await this.#writeSlice(s, data);
      }
    });
  }

  write(piece: number, offset: number, data: Uint8Array): Promise<void> {
    return this.#gate.run('write', async () => {
      this.#map.check(piece, offset, data.length);
      for (const s of this.#map.slices(piece, offset, data.length)) {
        if (!s.padding) await this.#writeSlice(s, data);
      }
    });
  }

  async #writeSlice(s: FileSlice, data: Uint8Array): Promise<void> {
    const entry = await this.#acquire(s.file, true);
    try {
      const fh = await entry.ready;
      const inline = this.#inlineWrites.allows(s.length);
      const t0 = performance.now();
      for (let done = 0; done < s.length; ) {
        done += inline
          ? writeSync(fh.fd, data, s.bufferOffset + done, s.length - done, s.fileOffset + done)
          : (await fh.write(data, s.bufferOffset + done, s.length - done, s.fileOffset + done)).bytesWritten;
      }
      if (inline) this.#inlineWrites.timed(t0, performance.now());
      entry.dirty = true;
      entry.unsyncedBytes += s.length;
      if (this.#writebackBytes > 0 && entry.unsyncedBytes >= this.#writebackBytes && !entry.syncing) {
        this.#writeback(entry, fh);
      }
    } catch (err) {
      throw fromOsError(err, this.pathOf(s.file), 'writing');
    } finally {
      this.#release(entry);
    }
  }

  /**
   * Starts a datasync of a handle we hold, without waiting for it: it keeps the handle (and the
   * gate, so close() waits for it). It leaves `dirty` set: only flush() promises durability, and it
   * reports the errors; this one only gets the disk going early.
   */
  #writeback(entry: HandleEntry, fh: FileHandle): void {
    entry.syncing = true;
    entry.unsyncedBytes = 0;
    entry.users++;
    void this.#gate
      .run('writeback', () => fh.datasync())
      // flush() syncs again and reports; this only says the early writeback did not happen.
      .catch((err: unknown) =>
        this.#log.debug('background sync failed', {
          file: this.#meta.files[entry.file]?.path.join('/'),
          error: errorText(err),
        }),
      )
      .finally(() => {
        entry.syncing = false;
        this.#release(entry);
      });
  }

  pieceVerified(piece: number): void {
    if (!this.#gate.isOpen || !Number.isInteger(piece) || piece < 0 || piece >= this.#meta.pieceCount) return;
    if (this.#told.get(piece)) return;
    this.#told.set(piece);
    for (const s of this.#map.pieceSlices(piece)) {
      if (s.padding || --this.#unverifiedOfFile[s.file]! !== 0) continue;
      const renamed = this.#gate
        .run('rename', () => this.#serial(s.file, () => this.#completeFile(s.file)))
        // A rename that fails leaves the data under `.part`, where it is found; the next open tries again.
        .catch((err: unknown) =>
          this.#log.warn('complete file not renamed from .part (tried again at the next start)', {
            file: this.#meta.files[s.file]?.path.join('/'),
            error: errorText(err),
          }),
        );
      this.#renames.add(renamed);
      void renamed.finally(() => this.#renames.delete(renamed));
    }
  }

  /** Gives file `index` its own name when it is under `.part` and nothing has its own name. */
  async #completeFile(index: number): Promise<void> {
    if (this.#ownName[index] === 1) return;
    const found = await this.#resolve(index, false);
    if (!found.exists || !found.part) return;
    const name = this.#meta.files[index]!.path.at(-1)!;
    const to = join(found.dir, name);
    if ((await lstatOrUndefined(to)) !== undefined) return; // never replace what is there
    await rename(join(found.dir, name + PART_SUFFIX), to);
    this.#newEntriesIn.add(found.dir);
    this.#sizeHints.delete(index);
  }

  /** Runs `op` on file `index` after the open or rename of it in progress (they race otherwise). */
  #serial<T>(index: number, op: () => Promise<T>): Promise<T> {
    const before = this.#fileLocks.get(index);
    const result = before === undefined ? op() : before.then(op, op);
    const settled = result.catch(() => undefined); // the error is the caller's (result); the chain goes on
    this.#fileLocks.set(index, settled);
    void settled.then(() => {
      if (this.#fileLocks.get(index) === settled) this.#fileLocks.delete(index);
    });
    return result;
  }

  mayHave(piece: number): Promise<boolean> {
    return this.#gate.run('mayHave', async () => {
      const slices = this.#map.pieceSlices(piece);
      if (slices.every((s) => s.padding)) return true;
      for (const s of slices) {
        if (!s.padding && (await this.#holdsBytesFrom(s.file, s.fileOffset))) return true;
      }
      return false;
    });
  }

  mayHaveAny(): Promise<boolean> {
    return this.#gate.run('mayHaveAny', async () => {
      // A piece made only of padding always "may have": torrents with padding take the long way.
      if (this.#meta.files.some((f) => f.padding)) return true;
      const files = this.#meta.files.map((f, i) => (f.length > 0 ? i : -1)).filter((i) => i >= 0);
      for (let at = 0; at < files.length; at += STAT_BATCH) {
        const held = await Promise.all(
          files.slice(at, at + STAT_BATCH).map((i) => this.#holdsBytesFrom(i, 0)),
        );
        if (held.includes(true)) return true;
      }
      return false;
    });
  }

  /** True when file `index` may hold bytes at `offset` or later: it is on disk and longer than that. */
  async #holdsBytesFrom(index: number, offset: number): Promise<boolean> {
    // A handle sized for writing means the file exists at its full length.
    if (this.#handles.get(index)?.sized) return true;
    const size = await this.#sizeOnDisk(index);
    return size !== undefined && size > offset;
  }

  /**
   * Size of the file, or undefined when it does not exist. Follows symlinks: it is only a hint. A
   * check asks this for every piece, so one answer serves a file's pieces for SIZE_HINT_MS (a fresh
   * download of 4,096 pieces made 4,096 failed stat calls, about 0.1 s).
   */
  #sizeOnDisk(index: number): Promise<number | undefined> {
    const now = Date.now();
    const hint = this.#sizeHints.get(index);
    if (hint !== undefined && now - hint.atMs < SIZE_HINT_MS) return hint.size;
    const size = this.#statSize(index);
    this.#sizeHints.set(index, { size, atMs: now });
    size.catch(() => this.#sizeHints.delete(index));
    return size;
  }

  async #statSize(index: number): Promise<number | undefined> {
    const path = join(this.#realRoot, ...this.#meta.files[index]!.path);
    // Not while the file is being renamed: it could be under neither name for a moment.
    await this.#fileLocks.get(index);
    for (const p of this.#noPartName[index] ? [path] : [path, path + PART_SUFFIX]) {
      try {
        return (await stat(p)).size;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT' && code !== 'ENOTDIR' && code !== 'ENAMETOOLONG')
          throw fromOsError(err, this.pathOf(index), 'looking up');
      }
    }
    return undefined;
  }

  flush(): Promise<void> {
    return this.#gate.run('flush', async () => {
      // A completed file's new name is made durable with the folder's fsync below.
      while (this.#renames.size > 0) await Promise.all([...this.#renames]);
      const files = new Set(this.#dirtyClosed);
      for (const e of this.#handles.values()) if (e.dirty) files.add(e.file);
      // A few syncs at once: the disk can overlap them, and each lane holds one handle at a time.
      await inLanes([...files], Math.min(FLUSH_LANES, this.#maxOpen), (file) => this.#syncFile(file));
      const dirs = [...this.#newEntriesIn];
      this.#newEntriesIn.clear();
      for (const dir of dirs) await this.#withSpareSlot(() => syncDir(dir));
    });
  }

  async #syncFile(file: number): Promise<void> {
    let entry: HandleEntry;
    try {
      entry = await this.#acquire(file, false);
    } catch (err) {
      // Deleted behind our back: there is nothing left to make durable.
      if (StorageError.isCode(err, StorageErrorCode.Missing)) {
        this.#dirtyClosed.delete(file);
        return;
      }
      throw err;
    }
    try {
      const fh = await entry.ready;
      // Cleared first: a write landing during the sync marks it dirty again.
      entry.dirty = false;
      this.#dirtyClosed.delete(file);
      await fh.datasync();
    } catch (err) {
      entry.dirty = true;
      throw fromOsError(err, this.pathOf(file), 'syncing');
    } finally {
      this.#release(entry);
    }
  }

  close(): Promise<void> {
    this.#sizeHints.clear();
    this.#closing ??= this.#doClose().finally(() => {
      this.#closing = undefined;
    });
    return this.#closing;
  }

  async #doClose(): Promise<void> {
    if (this.#opening !== undefined) await this.#opening.catch(() => undefined); // its caller saw the error
    await this.#gate.shut();
    const all = [...this.#handles.values()];
    this.#handles.clear();
    await Promise.all(all.map((e) => this.#retire(e)));
  }

  // ----- path safety --------------------------------------------------------------------------------

  /**
   * Walks file `index`'s path from the real download directory, checking every component that
   * exists: folders must be folders (or symlinks whose real path stays inside), the file a file.
   * With `create`, missing folders are made one by one (never through a symlink).
   * The file is looked for under its own name, then with `.part`; when neither exists, the name to
   * create is `.part` while the file is incomplete and the option is on.
   * Returns the path to open, whether the file exists and whether that path is the `.part` name;
   * rejects with a StorageError when a component is unsafe, and with ERR_STORAGE_MISSING when a
   * folder is missing and not `create`.
   */
  async #resolve(
    index: number,
    create: boolean,
  ): Promise<{ path: string; dir: string; exists: boolean; part: boolean }> {
    const elements = this.#meta.files[index]!.path;
    const shown = this.pathOf(index);
    let dir = this.#realRoot;
    try {
      for (let i = 0; i < elements.length - 1; i++) {
        const next = join(dir, elements[i]!);
        let st = await lstatOrUndefined(next);
        if (st === undefined) {
          if (!create) {
            throw new StorageError(StorageErrorCode.Missing, shown, 'not stored: its folder does not exist');
          }
          let made = false;
          try {
            await mkdir(next);
            this.#newEntriesIn.add(dir);
            made = true;
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
          }
          st = await lstat(next); // whatever is there now (a racing symlink is checked below)
          if (made && st.isDirectory()) {
            this.#onCreate?.({
              kind: 'folder',
              path: elements.slice(0, i + 1),
              ino: st.ino,
              born: st.birthtimeMs,
            });
          }
        }
        if (st.isSymbolicLink()) {
          dir = await this.#followInside(next, shown, true);
          continue;
        }
        if (!st.isDirectory()) {
          throw new StorageError(StorageErrorCode.WrongType, next, `is not a folder (needed for ${shown})`);
        }
        dir = next;
      }
      const name = elements[elements.length - 1]!;
      for (const part of this.#noPartName[index] ? [false] : [false, true]) {
        const path = join(dir, part ? name + PART_SUFFIX : name);
        const st = await lstatOrUndefined(path);
        if (st === undefined) continue;
        if (st.isSymbolicLink())
          return { path: await this.#followInside(path, shown, false), dir, exists: true, part };
        if (!st.isFile()) throw new StorageError(StorageErrorCode.WrongType, path, 'is not a regular file');
        return { path, dir, exists: true, part };
      }
      const part = this.#partSuffix && this.#unverifiedOfFile[index]! > 0 && !this.#noPartName[index];
      return { path: join(dir, part ? name + PART_SUFFIX : name), dir, exists: false, part };
    } catch (err) {
      throw fromOsError(err, shown, 'resolving');
    }
  }

  /** The real path of symlink `link` when it stays inside the download directory; throws otherwise. */
  async #followInside(link: string, shown: string, wantDir: boolean): Promise<string> {
    let real: string;
    try {
      real = await realpath(link);
    } catch (err) {
      // A dangling link may point anywhere: creating its target would write there.
      throw new StorageError(
        StorageErrorCode.Symlink,
        link,
        `is a symlink that leads nowhere (for ${shown})`,
        {
          cause: err,
        },
      );
    }
    if (!isInside(this.#realRoot, real)) {
      throw new StorageError(
        StorageErrorCode.Symlink,
        link,
        `is a symlink to ${real}, outside the download directory ${this.#realRoot}`,
      );
    }
    const st = await stat(real);
    if (wantDir ? !st.isDirectory() : !st.isFile()) {
      throw new StorageError(
        StorageErrorCode.WrongType,
        link,
        `is a symlink to ${real}, which is not a ${wantDir ? 'folder' : 'regular file'}`,
      );
    }
    return real;
  }

  async #openFile(index: number, write: boolean): Promise<{ fh: FileHandle; writable: boolean }> {
    const found = await this.#resolve(index, write);
    if (!found.exists && !write) {
      throw new StorageError(
        StorageErrorCode.Missing,
        this.pathOf(index),
        'not stored: the file does not exist',
      );
    }
    let fh: FileHandle;
    let writable = true;
    try {
      let created: FileHandle | undefined;
      if (!found.exists) {
        try {
          created = await open(found.path, CREATE, FILE_MODE).catch((err: unknown) => {
            // A name at the file system's length limit has no room for `.part`: its own name then.
            if (!found.part || (err as NodeJS.ErrnoException).code !== 'ENAMETOOLONG') throw err;
            found.path = found.path.slice(0, -PART_SUFFIX.length);
            found.part = false;
            return open(found.path, CREATE, FILE_MODE);
          });
          this.#newEntriesIn.add(found.dir);
          this.#created(index, created);
        } catch (err) {
          // Someone made it between the look-up and the open: it is theirs; open it as it is.
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        }
      }
      if (created !== undefined) fh = created;
      else {
        try {
          fh = await open(found.path, READ_WRITE);
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (write || (code !== 'EACCES' && code !== 'EPERM' && code !== 'EROFS')) throw err;
          fh = await open(found.path, READ_ONLY);
          writable = false;
        }
      }
      if (!found.part) this.#ownName[index] = 1;
    } catch (err) {
      if (!write && (err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new StorageError(
          StorageErrorCode.Missing,
          this.pathOf(index),
          'not stored: the file does not exist',
          {
            cause: err,
          },
        );
      }
      throw fromOsError(err, this.pathOf(index), 'opening');
    }
    return { fh, writable };
  }

  /** Tells the owner that file `index` was just created (O_EXCL) through `fh`. */
  #created(index: number, fh: FileHandle): void {
    const onCreate = this.#onCreate;
    if (onCreate === undefined) return;
    // fstat of a handle we hold cannot fail in practice; the inode is what tells it from a later file.
    void fh.stat().then(
      (st) => onCreate({ kind: 'file', file: index, ino: st.ino, born: st.birthtimeMs }),
      () => onCreate({ kind: 'file', file: index, ino: -1, born: 0 }),
    );
  }

  // ----- handle LRU ---------------------------------------------------------------------------------

  /** A handle for `file` (read-write when `write`), counted as in use until `#release`. */
  async #acquire(file: number, write: boolean): Promise<HandleEntry> {
    // Woken for room we did not take: pass the wake-up on, so no waiter sleeps while there is room.
    let woken = false;
    const passOn = (): void => {
      if (woken) this.#roomEvent();
      woken = false;
    };
    for (;;) {
      const e = this.#handles.get(file);
      if (e !== undefined) {
        passOn();
        if (write && !e.writable && !e.settled) {
          // Still opening: it may turn out read-write. Look again once it has.
          await e.ready.catch(() => undefined);
          continue;
        }
        if (e.writable || !write) {
          this.#handles.delete(file);
          this.#handles.set(file, e); // now the most recently used
          e.users++;
          try {
            const fh = await e.ready;
            if (write && !e.sized) await this.#size(e, fh);
          } catch (err) {
            this.#release(e);
            throw err;
          }
          return e;
        }
        // Opened read-only, but a write needs read-write: replace it once nobody uses it.
        if (e.users === 0) {
          this.#handles.delete(file);
          await this.#retire(e);
        } else {
          await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
        }
        continue;
      }
      const room = this.#makeRoom();
      if (room !== undefined) {
        woken = room.waited;
        await room.wait;
        continue;
      }
      woken = false; // the room is taken
      const entry: HandleEntry = {
        file,
        writable: write,
        settled: false,
        ready: this.#serial(file, () => this.#openFile(file, write)).then(
          (r) => {
            // A read may get a read-write handle; record it so writes reuse it.
            entry.writable = r.writable;
            entry.settled = true;
            return r.fh;
          },
          (err: unknown) => {
            entry.settled = true;
            throw err;
          },
        ),
        users: 1,
        dirty: false,
        sized: false,
        unsyncedBytes: 0,
        syncing: false,
      };
      this.#handles.set(file, entry);
      this.#sizeHints.delete(file); // opening may create it
      try {
        const fh = await entry.ready;
        if (write) await this.#size(entry, fh);
        this.#sizeHints.delete(file); // a lookup during the open may have found it absent
      } catch (err) {
        if (this.#handles.get(file) === entry) this.#handles.delete(file);
        this.#release(entry);
        throw err;
      }
      return entry;
    }
  }

  /**
   * Makes sure the file is a regular file of at least its torrent length before the first write
   * through this handle: sparse, the length is set and no zeros are written. Extending never loses
   * data, so writes racing with it are safe.
   */
  async #size(entry: HandleEntry, fh: FileHandle): Promise<void> {
    if (entry.sized) return;
    entry.sized = true;
    const file = this.#meta.files[entry.file]!;
    try {
      const st = await fh.stat();
      if (!st.isFile()) {
        throw new StorageError(StorageErrorCode.WrongType, this.pathOf(entry.file), 'is not a regular file');
      }
      if (st.size < file.length) await fh.truncate(file.length);
    } catch (err) {
      entry.sized = false;
      throw fromOsError(err, this.pathOf(entry.file), 'sizing');
    }
  }

  /**
   * Undefined when one more handle may be opened right now (the caller opens it before any await);
   * otherwise a promise to wait on before looking again: an idle handle being closed, or a release.
   */
  #makeRoom(): { wait: Promise<void>; waited: boolean } | undefined {
    if (this.#handles.size + this.#closingCount + this.#borrowed < this.#maxOpen) return undefined;
    for (const c of this.#handles.values()) {
      if (c.users === 0) {
        this.#handles.delete(c.file);
        return { wait: this.#retire(c), waited: false };
      }
    }
    return { wait: new Promise((resolve) => this.#roomWaiters.push(resolve)), waited: true };
  }

  /** Runs `fn`, which opens one descriptor of its own (a folder to fsync), within the bound. */
  async #withSpareSlot<T>(fn: () => Promise<T>): Promise<T> {
    for (let room = this.#makeRoom(); room !== undefined; room = this.#makeRoom()) await room.wait;
    this.#borrowed++;
    try {
      return await fn();
    } finally {
      this.#borrowed--;
      this.#roomEvent();
    }
  }

  #release(entry: HandleEntry): void {
    entry.users--;
    if (entry.users > 0) return;
    // An idle handle can be closed to make room, or replaced by a read-write one.
    this.#roomEvent();
    const idle = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const w of idle) w();
  }

  /** Closes a handle already removed from the map. Never throws. */
  async #retire(entry: HandleEntry): Promise<void> {
    this.#closingCount++;
    try {
      const fh = await entry.ready;
      if (entry.dirty) this.#dirtyClosed.add(entry.file);
      await fh.close();
    } catch {
      // It never opened (its opener saw the error), or close failed: the fd is gone either way.
    } finally {
      this.#closingCount--;
      this.#roomEvent();
    }
  }

  /** Room may have appeared: wake the longest waiter (it passes the wake-up on if it does not use it). */
  #roomEvent(): void {
    this.#roomWaiters.shift()?.();
  }
}

/** Runs `work` over `items` with at most `lanes` at once; every lane settles before it rejects. */
async function inLanes<T>(items: T[], lanes: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const lane = async (): Promise<void> => {
    while (next < items.length && !failed) {
      try {
        await work(items[next++]!);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  const results = await Promise.allSettled(Array.from({ length: Math.max(1, lanes) }, lane));
  for (const r of results) if (r.status === 'rejected') throw r.reason;
}

async function lstatOrUndefined(path: string): Promise<Awaited<ReturnType<typeof lstat>> | undefined> {
  try {
    return await lstat(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // A name too long to exist (`<name>.part` at the length limit) is not there either.
    if (code === 'ENOENT' || code === 'ENAMETOOLONG') return undefined;
    throw err;
  }
}

/** fsync a folder so the entries created in it survive a crash; not every platform allows it. */
async function syncDir(dir: string): Promise<void> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(dir, constants.O_RDONLY);
    await fh.sync();
  } catch {
    // Windows cannot open folders; some file systems refuse fsync on them (EINVAL). Best effort.
  } finally {
    await fh?.close().catch(() => undefined); // best effort, as above
  }
}
