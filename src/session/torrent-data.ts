// A torrent's data on disk, as the manager moves and deletes it: a move renames (or copies and
// deletes across file systems) only the torrent's own files and rolls back on failure; a delete
// removes only what the torrent created (its record says which files and folders, with their inodes),
// never through a symlink nor outside the download folder.

import { constants as fsConstants, type Stats } from 'node:fs';
import { copyFile, lstat, mkdir, rename, rm, rmdir, stat, unlink, utimes } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import type { Metainfo } from '../protocol/metainfo.js';
import { isInside } from '../storage/file-storage.js';
import { errorText, type Logger, silentLogger } from '../util/logger.js';
import type { TorrentRecord } from './state-store.js';

/** Moves one file: a rename, or a copy and delete across file systems (mtime kept). */
async function moveFile(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    await copyFile(from, to, fsConstants.COPYFILE_EXCL);
    const st = await stat(from);
    // Seconds as a fraction: the mtime comes through to the millisecond (±1 for rounding).
    await utimes(to, st.atimeMs / 1000, st.mtimeMs / 1000);
    await rm(from);
  }
}

/** A path of `rel` under `root` that stays under it, or undefined. */
function inside(root: string, parts: readonly string[]): string | undefined {
  const p = resolve(root, ...parts);
  const rel = relative(root, p);
  return rel.startsWith('..') || rel === '' || resolve(root, rel) !== p ? undefined : p;
}

/**
 * Moves the torrent's own files from `fromDir` to `toDir` (an incomplete file may carry a `.part`
 * suffix: it moves as it is). Refuses to overwrite; on any failure moves back what it moved.
 */
export async function moveTorrentData(
  m: Metainfo,
  fromDir: string,
  toDir: string,
  log: Logger = silentLogger,
): Promise<void> {
  const fromRoot = resolve(fromDir);
  const toRoot = resolve(toDir);
  const plan: [string, string][] = [];
  for (const f of m.files) {
    if (f.padding) continue;
    const a = inside(fromRoot, f.path);
    const b = inside(toRoot, f.path);
    if (!a || !b) continue;
    for (const suffix of ['', '.part']) {
      const exists = await stat(a + suffix).then(
        (s) => s.isFile(),
        () => false,
      );
      if (!exists) continue;
      if (
        await stat(b + suffix).then(
          () => true,
          () => false,
        )
      )
        throw new Error(`${b + suffix} exists already`);
      plan.push([a + suffix, b + suffix]);
    }
  }
  const done: [string, string][] = [];
  try {
    for (const [a, b] of plan) {
      await mkdir(dirname(b), { recursive: true });
      await moveFile(a, b);
      done.push([a, b]);
    }
  } catch (err) {
    for (const [a, b] of done.reverse()) {
      // The move's own error is thrown below; a file that cannot go back is left where it is, logged.
      await moveFile(b, a).catch((undo: unknown) =>
        log.error('move rolled back in part: a file stays at the new place', {
          from: b,
          to: a,
          error: errorText(undo),
        }),
      );
    }
    throw err;
  }
  await removeEmptyFolders(
    fromRoot,
    plan.map(([a]) => a),
  );
}

/** Removes the folders under `root` that held `paths` and are now empty, deepest first. */
async function removeEmptyFolders(root: string, paths: readonly string[]): Promise<void> {
  const folders = new Set<string>();
  for (const p of paths) for (let d = dirname(p); d.startsWith(root + sep); d = dirname(d)) folders.add(d);
  // rmdir fails (and is ignored: nothing is lost, the folder only stays) on folders that hold anything else.
  for (const d of [...folders].sort((a, b) => b.length - a.length)) await rmdir(d).catch(() => undefined);
}

/**
 * Whether `st` is the entry created as `made`: the same inode, and the same birth time where both
 * are known (an inode number freed by a delete is handed out again at once).
 */
function sameEntry(st: Stats, made: { ino: number; born?: number }): boolean {
  if (st.ino !== made.ino) return false;
  if (!made.born || !st.birthtimeMs) return true;
  return Math.abs(st.birthtimeMs - made.born) < 0.001;
}

/** What `remove` with `deleteData` did: paths relative to the download folder ('/' between elements). */
export interface DeleteReport {
  deleted: string[];
  kept: { path: string; reason: string }[];
}

/**
 * Deletes what the torrent created (`created`, from its record) and nothing else: a file that was
 * there before the torrent first opened it, or was replaced since (another inode), is kept. Never
 * through a symlink: each component is lstat'ed from the download folder down (the download folder
 * itself is trusted, as the storage trusts it); never outside the download folder. Then the folders
 * the torrent created, deepest first, when they are empty. Without a `created` list (a record of an
 * older version) nothing can be proven to be the torrent's own: nothing is deleted, and it says so.
 */
export async function deleteTorrentData(
  m: Metainfo,
  dir: string,
  created: TorrentRecord['created'],
): Promise<DeleteReport> {
  const root = resolve(dir);
  const report: DeleteReport = { deleted: [], kept: [] };
  const keep = (path: string, reason: string): void => {
    report.kept.push({ path, reason });
  };
  const ours = new Map((created?.files ?? []).map((f) => [f.file, f]));
  const paths = new Set(m.files.map((f) => f.path.join('/')));
  for (const [i, f] of m.files.entries()) {
    if (f.padding) continue;
    // Under its own name, or `.part` while incomplete (file-storage.ts): a rename keeps the inode and
    // birth time the record holds, so the record covers whichever name it has now.
    for (const suffix of ['', '.part']) {
      if (suffix !== '' && paths.has(`${f.path.join('/')}${suffix}`)) continue; // another file's own name
      const elements = suffix === '' ? f.path : [...f.path.slice(0, -1), f.path.at(-1)! + suffix];
      // A folder on the way that is kept is said once, for the file's own name.
      await deleteIfOurs(root, elements, created, ours.get(i), report, suffix === '');
    }
  }
  // The folders it created, deepest first; one that holds anything else stays.
  const folders = [...(created?.folders ?? [])].sort(
    (a, b) => b.path.split('/').length - a.path.split('/').length,
  );
  for (const d of folders) {
    const elements = d.path.split('/');
    if (!isInside(root, resolve(root, ...elements))) continue;
    const at = await walkNoSymlink(root, elements);
    if (at.kind !== 'found') {
      if (at.kind !== 'missing') keep(`${d.path}/`, `path goes through a symlink (${at.where})`);
      continue;
    }
    if (at.st.isSymbolicLink()) {
      keep(`${d.path}/`, 'is a symlink now');
      continue;
    }
    if (!at.st.isDirectory() || !sameEntry(at.st, d)) {
      keep(`${d.path}/`, 'not the folder this torrent created');
      continue;
    }
    try {
      await rmdir(join(root, ...elements));
      report.deleted.push(`${d.path}/`);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      keep(
        `${d.path}/`,
        code === 'ENOTEMPTY' || code === 'EEXIST' ? 'not empty' : `cannot delete: ${code ?? 'error'}`,
      );
    }
  }
  return report;
}

/** Deletes the file at `elements` under `root` when it is the one `made` records; else says why not. */
async function deleteIfOurs(
  root: string,
  elements: string[],
  created: TorrentRecord['created'],
  made: { ino: number; born?: number } | undefined,
  report: DeleteReport,
  sayPath: boolean,
): Promise<void> {
  const keep = (path: string, reason: string): void => {
    report.kept.push({ path, reason });
  };
  const shown = elements.join('/');
  const p = resolve(root, ...elements);
  if (!isInside(root, p)) {
    if (sayPath) keep(shown, 'outside the download folder');
    return;
  }
  const at = await walkNoSymlink(root, elements);
  if (at.kind === 'missing') return;
  if (at.kind === 'symlink') {
    if (sayPath) keep(shown, `path goes through a symlink (${at.where})`);
    return;
  }
  if (at.kind === 'not-folder') {
    if (sayPath) keep(shown, `${at.where} is not a folder`);
    return;
  }
  if (at.st.isSymbolicLink()) {
    keep(shown, 'is a symlink');
    return;
  }
  if (!created) {
    keep(shown, 'no record of which files this torrent created (resume data of an older version)');
    return;
  }
  if (made === undefined) {
    keep(shown, 'not created by this torrent');
    return;
  }
  if (!at.st.isFile()) {
    keep(shown, 'not a regular file');
    return;
  }
  if (!sameEntry(at.st, made)) {
    keep(shown, 'replaced since this torrent created it');
    return;
  }
  try {
    await unlink(p);
    report.deleted.push(shown);
  } catch (err) {
    keep(shown, `cannot delete: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

type Walked =
  | { kind: 'found'; st: Stats }
  | { kind: 'missing' }
  | { kind: 'symlink'; where: string }
  | { kind: 'not-folder'; where: string };

/** lstat of `root/elements…`, each folder on the way checked to be a real folder (no symlink). */
async function walkNoSymlink(root: string, elements: readonly string[]): Promise<Walked> {
  let path = root;
  for (let j = 0; j < elements.length; j++) {
    path = join(path, elements[j]!);
    let st: Stats;
    try {
      st = await lstat(path);
    } catch {
      return { kind: 'missing' };
    }
    if (j === elements.length - 1) return { kind: 'found', st };
    const where = elements.slice(0, j + 1).join('/');
    if (st.isSymbolicLink()) return { kind: 'symlink', where };
    if (!st.isDirectory()) return { kind: 'not-folder', where };
  }
  return { kind: 'missing' };
}
