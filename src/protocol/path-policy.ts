// The path policy: every path a torrent names becomes a safe relative path under the download
// directory. Policy (also in the README): we sanitize, never reject, the way libtorrent does —
//
//  1. Elements that are empty, `.` or `..` are dropped.
//  2. Inside an element, `/`, `\`, NUL and other control characters, and the characters Windows
//     forbids (`< > : " | ? *`) become `_` (so absolute, drive-letter and UNC paths lose their power).
//  3. Trailing dots and spaces are removed (Windows ignores them, which would merge names).
//  4. Windows device names (CON, PRN, AUX, NUL, COM1–9, LPT1–9, with or without extension, any case)
//     get a leading `_`.
//  5. An element longer than 255 UTF-8 bytes is shortened to 255, keeping a short extension (and
//     rule 3 applied again to the cut).
//  6. Invalid UTF-8 becomes U+FFFD. A file left with no elements is called `_`.
//  7. Paths that collide after this (the same path — compared without regard to case or Unicode
//     normalisation — or a file where another needs a folder) are told
//     apart by a suffix on the last element: `name.1`, `name.2`, …; never merged into one file. The
//     element is shortened first when the suffix would take it past 255 bytes.
// Every change is reported as a warning, so `bitswarm info` can show it.

export const MAX_ELEMENT_BYTES = 255;

const DEVICE = /^(con|prn|aux|nul|com[1-9]|lpt[1-9]|conin\$|conout\$)(\..*)?$/i;
const FORBIDDEN = /[\u0000-\u001f\u007f/\\<>:"|?*]/g;

/** Sanitizes one path element. Returns '' when the element must be dropped. */
export function sanitizeElement(raw: string): string {
  if (raw === '' || raw === '.' || raw === '..') return '';
  let s = raw.replace(FORBIDDEN, '_');
  s = s.replace(/[. ]+$/, '');
  if (s === '') return '';
  if (DEVICE.test(s)) s = `_${s}`;
  return truncateUtf8(s, MAX_ELEMENT_BYTES);
}

/** Strips what rule 3 strips; shortening can leave a dot or space at the end again. */
function trimEnd(s: string): string {
  return s.replace(/[. ]+$/, '');
}

function truncateUtf8(s: string, maxBytes: number): string {
  if (Buffer.byteLength(s) <= maxBytes) return s;
  const dot = s.lastIndexOf('.');
  const ext = dot > 0 && s.length - dot <= 16 ? s.slice(dot) : '';
  const stem = ext ? s.slice(0, dot) : s;
  const budget = maxBytes - Buffer.byteLength(ext);
  let out = '';
  let used = 0;
  for (const ch of stem) {
    const n = Buffer.byteLength(ch);
    if (used + n > budget) break;
    out += ch;
    used += n;
  }
  // With an extension the cut is mid-name, so only a name without one can end in a dot or space.
  return ext ? out + ext : trimEnd(out) || '_';
}

/** `name.N` for disambiguation, shortened first so the result still fits MAX_ELEMENT_BYTES. */
function withSuffix(el: string, n: number): string {
  const suffix = `.${n}`;
  return truncateUtf8(el, MAX_ELEMENT_BYTES - suffix.length) + suffix;
}

export interface SanitizedPath {
  path: string[];
  changed: boolean;
}

export function sanitizePath(raw: readonly string[]): SanitizedPath {
  const path: string[] = [];
  for (const el of raw) {
    const s = sanitizeElement(el);
    if (s !== '') path.push(s);
  }
  if (path.length === 0) path.push('_');
  const changed = path.length !== raw.length || path.some((p, i) => p !== raw[i]);
  return { path, changed };
}

/**
 * Makes a list of paths unique: a path equal to an earlier one, or one that is a file where an
 * earlier path needs a folder (or the other way round), gets `.N` on its last element.
 * Returns the indices that were renamed.
 */
export function disambiguate(paths: string[][]): number[] {
  const files = new Set<string>();
  const dirs = new Set<string>();
  const renamed: number[] = [];
  // Case and Unicode normalisation are folded: on macOS and Windows `README` and `readme` (or NFC
  // and NFD spellings) would be one file.
  const key = (p: readonly string[]): string => p.join('/').normalize('NFC').toLowerCase();
  const prefixes = (p: readonly string[]): string[] => {
    const out: string[] = [];
    for (let i = 1; i < p.length; i++) out.push(key(p.slice(0, i)));
    return out;
  };
  const clashes = (p: readonly string[]): boolean => {
    const k = key(p);
    if (files.has(k) || dirs.has(k)) return true;
    return prefixes(p).some((d) => files.has(d));
  };
  for (let i = 0; i < paths.length; i++) {
    let p = paths[i]!;
    if (clashes(p)) {
      // A folder this path needs may itself be a file: rename the whole clash at its first element.
      const base = p.slice();
      for (let n = 1; ; n++) {
        const idx = prefixes(base).findIndex((d) => files.has(d));
        const at = idx >= 0 ? idx : base.length - 1;
        const candidate = base.slice();
        candidate[at] = withSuffix(base[at]!, n);
        if (!clashes(candidate)) {
          p = candidate;
          break;
        }
      }
      paths[i] = p;
      renamed.push(i);
    }
    files.add(key(p));
    for (const d of prefixes(p)) dirs.add(d);
  }
  return renamed;
}
