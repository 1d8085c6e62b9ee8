// The HTTP `Range` header (RFC 9110 §14) for one resource of `size` bytes: what a stream server sends
// back. Pure: no I/O. One range is served as 206; several ranges are answered with the whole resource
// (200), which RFC 9110 allows (a server may ignore Range); a syntax the server does not understand is
// ignored the same way. A range that starts past the end (or any range of an empty resource) is 416.

export type RangeAnswer =
  | { kind: 'whole' }
  | { kind: 'partial'; start: number; end: number }
  | { kind: 'unsatisfiable' };

const BYTES = /^bytes\s*=\s*(.*)$/i;
const SPEC = /^(\d*)\s*-\s*(\d*)$/;

/** `end` is inclusive, as in `Content-Range`. */
export function parseRange(header: string | undefined, size: number): RangeAnswer {
  if (header === undefined) return { kind: 'whole' };
  const m = BYTES.exec(header.trim());
  if (!m) return { kind: 'whole' };
  const specs = m[1]!
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (specs.length !== 1) return { kind: 'whole' };
  const r = SPEC.exec(specs[0]!);
  if (!r) return { kind: 'whole' };
  const [, a, b] = r as unknown as [string, string, string];
  if (a === '' && b === '') return { kind: 'whole' };
  if (a === '') {
    // Suffix: the last b bytes.
    const n = Number(b);
    if (!Number.isSafeInteger(n)) return { kind: 'whole' };
    if (n === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'partial', start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(a);
  if (!Number.isSafeInteger(start)) return { kind: 'whole' };
  let end = b === '' ? Number.MAX_SAFE_INTEGER : Number(b);
  if (!Number.isSafeInteger(end)) end = Number.MAX_SAFE_INTEGER;
  if (end < start) return { kind: 'whole' }; // invalid: ignored
  if (start >= size) return { kind: 'unsatisfiable' };
  return { kind: 'partial', start, end: Math.min(end, size - 1) };
}
