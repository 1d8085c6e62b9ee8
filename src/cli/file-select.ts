// `download --only 1,3-5` and `--skip GLOB`: which files of a torrent to download, as priorities
// (0 skip, 4 normal) by file index — the indexes `show` and `info --json` list, from 0.
import type { Metainfo } from '../protocol/metainfo.js';
import { UsageError } from '../util/errors.js';

/** Parses "1,3-5" into indexes; every one must name a file of the torrent. */
export function parseIndexList(command: string, flag: string, list: string, fileCount: number): number[] {
  const out = new Set<number>();
  for (const part of list.split(',')) {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
    if (!m) throw new UsageError(`${command}: ${flag}: "${part}" is not an index or a range (e.g. 1,3-5)`);
    const a = Number(m[1]);
    const b = m[2] !== undefined ? Number(m[2]) : a;
    if (b < a) throw new UsageError(`${command}: ${flag}: "${part}" is a range that goes backwards`);
    if (b >= fileCount)
      throw new UsageError(
        `${command}: ${flag}: no file ${b} (the torrent has files 0–${fileCount - 1}; see bitswarm info --json)`,
      );
    for (let i = a; i <= b; i++) out.add(i);
  }
  return [...out].sort((x, y) => x - y);
}

/** A glob as a RegExp: `**` crosses folders, `*` and `?` do not. A glob without `/` matches a name anywhere. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      re += '.*';
      i++;
      if (glob[i + 1] === '/') i++;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(glob.includes('/') ? `^${re}$` : `(^|/)${re}$`);
}

export interface FileSelection {
  priorities: number[];
  chosen: number;
  chosenBytes: number;
  total: number;
}

/** The priorities for `--only` and `--skip` (undefined when neither is given). */
export function selectFiles(
  command: string,
  m: Metainfo,
  only: string | undefined,
  skip: readonly string[] | undefined,
): FileSelection | undefined {
  if (only === undefined && !skip?.length) return undefined;
  const wanted = new Set(
    only !== undefined ? parseIndexList(command, '--only', only, m.files.length) : m.files.map((_, i) => i),
  );
  const globs = (skip ?? []).map(globToRegExp);
  const priorities = m.files.map((f, i) => {
    if (f.padding) return 4;
    if (!wanted.has(i)) return 0;
    return globs.some((g) => g.test(f.path.join('/'))) ? 0 : 4;
  });
  let chosen = 0;
  let chosenBytes = 0;
  let total = 0;
  m.files.forEach((f, i) => {
    if (f.padding) return;
    total++;
    if (priorities[i]! > 0) {
      chosen++;
      chosenBytes += f.length;
    }
  });
  if (chosen === 0) throw new UsageError(`${command}: --only/--skip leave no file to download`);
  return { priorities, chosen, chosenBytes, total };
}
