// Fuzz target: the bencode decoder. Strict decoding accepts only canonical input (it re-encodes to
// the same bytes); lenient decoding of anything gives a value that survives encode∘decode; every
// failure is a BencodeError whose offset lies in the input.

import { type BValue, decode, encode } from '../../../src/protocol/bencode.js';
import { BencodeError } from '../../../src/protocol/errors.js';
import { check, same, selector, typedOnly } from '../contract.js';

export const dictionary = ['d', 'e', 'l', 'i', 'i0e', 'i-1e', '0:', '1:a', '4:info', 'le', 'de', ':'];

export function seeds(): Uint8Array[] {
  const s = [
    'i42e',
    'i-7e',
    '4:spam',
    'l4:spami3ee',
    'd3:bar4:spam3:fooi42ee',
    'd1:ad1:bl1:ceee',
    'le',
    'de',
  ];
  return s.map((x) => Buffer.from(`\x00${x}`));
}

export function fuzz(data: Buffer): void {
  const [sel, input] = selector(data);
  const lenient = (sel & 1) !== 0;
  const allowTrailing = (sel & 2) !== 0;
  // Small limits now and then, so that the limit checks themselves are reached.
  const limits = (sel & 4) !== 0 ? { maxDepth: sel >> 5, maxItems: sel >> 3, maxBytes: sel * 2 } : {};
  const r = typedOnly(
    'decode',
    [BencodeError],
    () => decode(input, { lenient, allowTrailing, ...limits }),
    (err) => {
      const offset = (err as BencodeError).offset;
      check(
        Number.isInteger(offset) && offset >= 0 && offset <= input.length,
        `offset ${offset} out of input`,
      );
    },
  );
  if (r === undefined) return;
  check(
    r.end <= input.length && (allowTrailing || r.end === input.length),
    `end ${r.end} of ${input.length}`,
  );
  const bytes = encode(r.value);
  if (!lenient) check(bytes.equals(input.subarray(0, r.end)), 'strict decode accepted non-canonical bytes');
  const again = decode(bytes).value;
  same(plain(again), plain(r.value), 'decode(encode(v)) != v');
}

/**
 * Values with bytes as Buffers, so that deep equality ignores which ArrayBuffer backs them, and
 * dictionaries in key order: lenient decoding keeps a dictionary's keys in the order they came,
 * encoding sorts them (a dictionary is the same whatever the order of its keys).
 */
function plain(v: BValue): unknown {
  if (v instanceof Uint8Array) return Buffer.from(v).toString('latin1');
  if (Array.isArray(v)) return v.map(plain);
  if (v instanceof Map) {
    return [...v].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, x]) => [k, plain(x)]);
  }
  return v;
}
