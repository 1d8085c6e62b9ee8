// Writing a file the user named (a .torrent from `create` or `share`) without clobbering one that is
// there, and without ever leaving half a file: the bytes go to a temporary file in the same folder,
// are synced, and take the final name in one step — a hard link (fails if the name exists) without
// --force, a rename (replaces it) with it. An interrupted write leaves at most the temporary file,
// never a truncated .torrent under the final name.
import { randomBytes } from 'node:crypto';
import { link, lstat, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { UsageError } from '../util/errors.js';

/** Thrown (exit 2) up front, before work that would be wasted, when `path` exists and not `force`. */
export async function refuseExisting(command: string, path: string, force: boolean): Promise<void> {
  if (force) return;
  const st = await lstat(path).catch(() => undefined);
  if (st !== undefined) throw existsError(command, path);
}

function existsError(command: string, path: string): UsageError {
  return new UsageError(`${command}: ${path} exists; --force to overwrite (or -o FILE)`);
}

/** Writes `data` to `path` atomically; refuses (UsageError) when `path` exists and not `force`. */
export async function writeNewFile(
  command: string,
  path: string,
  data: Uint8Array,
  force: boolean,
): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', 0o666);
  /** The temporary file still has its own name (to remove unless it was renamed). */
  let tmpLeft = true;
  try {
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    if (force) {
      await rename(tmp, path);
      tmpLeft = false;
      return;
    }
    try {
      await link(tmp, path); // the temporary name is removed below
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') throw existsError(command, path);
      // File systems without hard links (FAT, some network ones): look, then rename. A file made
      // between the two would be replaced; there is no portable no-clobber rename.
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw err;
      await refuseExisting(command, path, false);
      await rename(tmp, path);
      tmpLeft = false;
    }
  } finally {
    // The write's own error is being thrown; a temp file that will not go is only left behind.
    if (tmpLeft) await unlink(tmp).catch(() => undefined);
  }
}
