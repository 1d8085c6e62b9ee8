// Web seed URLs (BEP 19, GetRight style): which URL serves which file of a torrent, and which byte
// ranges of which files make up a range of the torrent's data. Pure: no I/O.

import type { Metainfo } from '../protocol/metainfo.js';

/** Why a url-list entry is not used (undefined: it is usable). Only http and https are spoken. */
export function refuseWebSeedUrl(url: string): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'not a URL';
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return `scheme ${u.protocol} is not supported`;
  if (u.username !== '' || u.password !== '') return 'credentials in the URL are not used';
  return undefined;
}

/**
 * The URL of one file: for a single-file torrent the URL itself (with the torrent's name appended
 * when it ends in '/'), for a multi-file torrent the URL, '/', then the name and the path elements,
 * each percent-encoded. `rawPath` is the path as the torrent spells it, the name first. Throws a
 * RangeError for an element that is empty, `.` or `..`.
 */
export function webSeedFileUrl(base: string, multiFile: boolean, rawPath: readonly string[]): URL {
  // `.` and `..` (even percent-encoded) are dot segments to a URL parser: the URL would name another file.
  for (const e of multiFile ? rawPath : rawPath.slice(-1))
    if (e === '' || e === '.' || e === '..')
      throw new RangeError(`path element "${e}" cannot be asked of a web seed`);
  const u = new URL(base);
  const enc = rawPath.map((e) => encodeURIComponent(e));
  if (!multiFile) {
    if (u.pathname.endsWith('/')) u.pathname += enc[enc.length - 1] ?? '';
    return u;
  }
  u.pathname = `${u.pathname.endsWith('/') ? u.pathname : `${u.pathname}/`}${enc.join('/')}`;
  return u;
}

/** A part of a byte range of the torrent that lies in one file. */
export interface FileSegment {
  file: number;
  /** Offset in the file. */
  offset: number;
  length: number;
  /** A BEP 47 padding file: zeros, never requested. */
  padding: boolean;
}

/** The files' parts that make up bytes [start, start + length) of the torrent's data, in order. */
export function fileSegments(m: Pick<Metainfo, 'files'>, start: number, length: number): FileSegment[] {
  const out: FileSegment[] = [];
  const end = start + length;
  const files = m.files;
  // Binary search for the first file that ends after `start`.
  let lo = 0;
  let hi = files.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const f = files[mid]!;
    if (f.offset + f.length <= start) lo = mid + 1;
    else hi = mid;
  }
  for (let i = lo; i < files.length; i++) {
    const f = files[i]!;
    if (f.offset >= end) break;
    if (f.length === 0) continue;
    const from = Math.max(start, f.offset);
    const to = Math.min(end, f.offset + f.length);
    if (to > from) out.push({ file: i, offset: from - f.offset, length: to - from, padding: f.padding });
  }
  return out;
}
