// One process per state directory: the daemon, a `download --state` and the library's Client take
// this lock before they read or write anything there, so that two of them never run the same
// torrents into the same files, rewrite each other's settings, or delete each other's api.json.
//
// The lock is `<state>/lock`, created with O_EXCL, holding what the refusal tells the user: the
// holder's kind, pid and (once it listens) its control API address. It is stale, and taken over,
// when that pid no longer runs (a crash, a kill -9). A lock file still empty (its holder is writing
// it) counts as held for a few seconds, then as stale.

import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { formatAddress } from '../protocol/address.js';

export type LockHolderKind = 'daemon' | 'download' | 'client';

interface LockContent {
  kind: LockHolderKind;
  pid: number;
  api?: { host: string; port: number };
}

/** The state directory is held by another live process. */
export class StateLockError extends Error {
  override readonly name = 'StateLockError';
  readonly code = 'ERR_STATE_LOCKED';
  readonly pid: number | undefined;
  constructor(dir: string, holder: Partial<LockContent>) {
    const details = [
      ...(holder.pid !== undefined ? [`pid ${holder.pid}`] : []),
      ...(holder.api ? [`api ${formatAddress(holder.api)}`] : []),
    ];
    super(
      `a ${holder.kind ?? 'bitswarm process'} already runs on ${dir}${details.length ? ` (${details.join(', ')})` : ''}`,
    );
    this.pid = holder.pid;
  }
}

/** An empty or unreadable lock younger than this is being written: held. */
const WRITING_GRACE_MS = 5_000;

export class StateLock {
  readonly dir: string;
  readonly path: string;
  readonly #content: LockContent;
  #released = false;

  private constructor(dir: string, content: LockContent) {
    this.dir = dir;
    this.path = join(dir, 'lock');
    this.#content = content;
  }

  /**
   * Takes the lock of `dir` (created if missing) for this process, or throws a StateLockError that
   * names the live holder.
   */
  static async acquire(dir: string, kind: LockHolderKind): Promise<StateLock> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const lock = new StateLock(dir, { kind, pid: process.pid });
    for (let attempt = 0; ; attempt++) {
      try {
        const fh = await open(lock.path, 'wx', 0o600);
        try {
          await fh.writeFile(JSON.stringify(lock.#content));
        } finally {
          await fh.close();
        }
        return lock;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 3) throw err;
      }
      const holder = await readHolder(lock.path);
      if (holder === 'gone') continue;
      if (holder !== 'stale') throw new StateLockError(dir, holder);
      // Its holder is dead: take it over (the O_EXCL create above decides between two takers).
      await rm(lock.path, { force: true });
    }
  }

  /** Records where the holder's control API listens (for the refusal a second process prints). */
  async setApi(api: { host: string; port: number }): Promise<void> {
    if (this.#released) return;
    this.#content.api = { host: api.host, port: api.port };
    const tmp = `${this.path}.${randomBytes(4).toString('hex')}.tmp`;
    await open(tmp, 'w', 0o600).then(async (fh) => {
      try {
        await fh.writeFile(JSON.stringify(this.#content));
      } finally {
        await fh.close();
      }
    });
    await rename(tmp, this.path);
  }

  /** Removes the lock. Idempotent. */
  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    await rm(this.path, { force: true });
  }
}

/** The holder of an existing lock: its content, 'stale' (dead or never written), or 'gone'. */
async function readHolder(path: string): Promise<Partial<LockContent> | 'stale' | 'gone'> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
    throw err;
  }
  let content: Partial<LockContent> | undefined;
  try {
    const v = JSON.parse(text) as Partial<LockContent>;
    if (typeof v === 'object' && v !== null && Number.isInteger(v.pid) && (v.pid ?? 0) > 0) content = v;
  } catch {
    content = undefined;
  }
  if (content === undefined) {
    const st = await stat(path).catch(() => undefined);
    if (st === undefined) return 'gone';
    return Date.now() - st.mtimeMs > WRITING_GRACE_MS ? 'stale' : {};
  }
  return isAlive(content.pid!) ? content : 'stale';
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it runs, as another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
