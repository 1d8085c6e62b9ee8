// Strict bencode codec (BEP 3). Sans-I/O: bytes in, values out.
//
// Values: byte strings stay `Uint8Array` (views into the input, no copy); integers are `number` when
// they are safe integers and `bigint` past 2^53; lists are arrays; dictionaries are `Map`s whose keys
// are "binary strings" (one char per byte, latin1), so any key bytes round-trip exactly.
//
// The decoder checks every declared length against the remaining input and the configured limits
// before it slices anything, never recurses deeper than `maxDepth`, and reports the byte offset of
// every problem through a `BencodeError`. It records the exact byte span of every list and dict, so
// hashes can be taken over the original bytes even when they are not canonical.

import { BencodeError } from './errors.js';

export type BDict = Map<string, BValue>;
export type BValue = number | bigint | Uint8Array | BValue[] | BDict;

/** What the encoder accepts: decoded values plus JS conveniences (strings as UTF-8, plain objects). */
export type BEncodable =
  | number
  | bigint
  | string
  | Uint8Array
  | readonly BEncodable[]
  | ReadonlyMap<string, BEncodable>
  | { readonly [key: string]: BEncodable | undefined };

export interface DecodeLimits {
  /** Largest input accepted, in bytes. */
  maxBytes?: number;
  /** Deepest nesting of lists and dicts. */
  maxDepth?: number;
  /** Most values (of any kind) in one input. */
  maxItems?: number;
}

export interface DecodeOptions extends DecodeLimits {
  /** Accept dict keys out of order (recorded as a warning). Duplicate keys are always rejected. */
  lenient?: boolean;
  /** Accept bytes after the first value (for messages followed by a payload, e.g. ut_metadata). */
  allowTrailing?: boolean;
}

export interface Span {
  readonly start: number;
  readonly end: number;
}

export interface DecodeResult {
  value: BValue;
  /** Bytes consumed by the value. Equals the input length unless `allowTrailing`. */
  end: number;
  /** Human-readable notes about non-canonical input accepted in lenient mode. */
  warnings: string[];
  /** Byte span in the input of a list or dict that this decode produced. */
  spanOf(value: BValue): Span | undefined;
}

export const DEFAULT_LIMITS = {
  maxBytes: 64 * 1024 * 1024,
  maxDepth: 200,
  maxItems: 4_000_000,
} as const satisfies Required<DecodeLimits>;

const E = 0x65; // 'e'
const I = 0x69; // 'i'
const L = 0x6c; // 'l'
const D = 0x64; // 'd'
const COLON = 0x3a;
const MINUS = 0x2d;
const ZERO = 0x30;
const NINE = 0x39;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** Key bytes as a binary string (one char per byte; Buffer's latin1 maps every byte exactly). */
export function keyString(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1');
}

export function decode(input: Uint8Array, options: DecodeOptions = {}): DecodeResult {
  const maxBytes = options.maxBytes ?? DEFAULT_LIMITS.maxBytes;
  const maxDepth = options.maxDepth ?? DEFAULT_LIMITS.maxDepth;
  const maxItems = options.maxItems ?? DEFAULT_LIMITS.maxItems;
  const lenient = options.lenient ?? false;
  if (input.length > maxBytes) {
    throw new BencodeError(`input of ${input.length} bytes exceeds the limit of ${maxBytes}`, 0);
  }
  if (input.length === 0) throw new BencodeError('empty input', 0);

  const spans = new WeakMap<object, Span>();
  const warnings: string[] = [];
  let pos = 0;
  let items = 0;

  const countItem = (): void => {
    if (++items > maxItems) throw new BencodeError(`more than ${maxItems} values`, pos);
  };

  const readInt = (terminator: number, what: string): number | bigint => {
    const start = pos;
    let negative = false;
    if (input[pos] === MINUS) {
      negative = true;
      pos++;
    }
    const digitsStart = pos;
    while (pos < input.length) {
      const c = input[pos]!;
      if (c < ZERO || c > NINE) break;
      pos++;
    }
    const digits = pos - digitsStart;
    if (pos >= input.length) throw new BencodeError(`truncated ${what}`, pos);
    if (input[pos] !== terminator) {
      throw new BencodeError(
        `unexpected byte 0x${input[pos]!.toString(16).padStart(2, '0')} in ${what}`,
        pos,
      );
    }
    if (digits === 0) throw new BencodeError(`empty ${what}`, start);
    if (input[digitsStart] === ZERO && digits > 1) throw new BencodeError(`leading zero in ${what}`, start);
    if (negative && input[digitsStart] === ZERO) throw new BencodeError(`negative zero in ${what}`, start);
    if (digits > 4096) throw new BencodeError(`${what} has too many digits`, start);
    pos++; // terminator
    if (digits <= 15) {
      let n = 0;
      for (let i = digitsStart; i < digitsStart + digits; i++) n = n * 10 + (input[i]! - ZERO);
      return negative ? -n : n;
    }
    // BigInt of the digit string is native; a digit-by-digit loop is quadratic in JS bigint steps.
    let big = BigInt(Buffer.from(input.buffer, input.byteOffset + digitsStart, digits).toString('latin1'));
    if (negative) big = -big;
    if (big <= MAX_SAFE && big >= -MAX_SAFE) return Number(big);
    return big;
  };

  const readBytes = (): Uint8Array => {
    const start = pos;
    const len = readInt(COLON, 'string length');
    if (typeof len === 'bigint' || len < 0) {
      throw new BencodeError('string length out of range', start);
    }
    if (len > input.length - pos) {
      throw new BencodeError(`string length ${len} exceeds the ${input.length - pos} bytes left`, start);
    }
    const out = input.subarray(pos, pos + len);
    pos += len;
    return out;
  };

  const readValue = (depth: number): BValue => {
    if (pos >= input.length) throw new BencodeError('truncated input', pos);
    countItem();
    const c = input[pos]!;
    if (c === I) {
      pos++;
      return readInt(E, 'integer');
    }
    if (c >= ZERO && c <= NINE) return readBytes();
    if (c === L || c === D) {
      if (depth >= maxDepth) throw new BencodeError(`nesting deeper than ${maxDepth}`, pos);
      const start = pos++;
      if (c === L) {
        const list: BValue[] = [];
        while (true) {
          if (pos >= input.length) throw new BencodeError('truncated list', pos);
          if (input[pos] === E) break;
          list.push(readValue(depth + 1));
        }
        pos++;
        spans.set(list, { start, end: pos });
        return list;
      }
      const dict: BDict = new Map();
      let prev: Uint8Array | undefined;
      while (true) {
        if (pos >= input.length) throw new BencodeError('truncated dict', pos);
        if (input[pos] === E) break;
        const keyStart = pos;
        const c2 = input[pos]!;
        if (c2 < ZERO || c2 > NINE) throw new BencodeError('dict key is not a byte string', pos);
        countItem();
        const keyBytes = readBytes();
        if (prev !== undefined) {
          const cmp = Buffer.compare(prev, keyBytes);
          if (cmp === 0) throw new BencodeError(`duplicate dict key "${printable(keyBytes)}"`, keyStart);
          if (cmp > 0) {
            if (!lenient) throw new BencodeError(`dict key "${printable(keyBytes)}" out of order`, keyStart);
            warnings.push(`dict key "${printable(keyBytes)}" out of order at byte ${keyStart}`);
          }
        }
        const key = keyString(keyBytes);
        if (dict.has(key)) throw new BencodeError(`duplicate dict key "${printable(keyBytes)}"`, keyStart);
        prev = keyBytes;
        if (pos >= input.length) throw new BencodeError('truncated dict (key without value)', pos);
        dict.set(key, readValue(depth + 1));
      }
      pos++;
      spans.set(dict, { start, end: pos });
      return dict;
    }
    throw new BencodeError(`unexpected byte 0x${c.toString(16).padStart(2, '0')}`, pos);
  };

  let value: BValue;
  try {
    value = readValue(0);
  } catch (err) {
    // A caller may raise maxDepth past what the stack holds; that must still be a typed error.
    if (err instanceof RangeError)
      throw new BencodeError('nesting too deep for the stack', pos, { cause: err });
    throw err;
  }
  if (pos !== input.length && !options.allowTrailing) {
    throw new BencodeError(`${input.length - pos} trailing bytes after the value`, pos);
  }
  return {
    value,
    end: pos,
    warnings,
    spanOf: (v) => (typeof v === 'object' && !(v instanceof Uint8Array) ? spans.get(v) : undefined),
  };
}

/** Shorthand: decode and return the value only. */
export function bdecode(input: Uint8Array, options?: DecodeOptions): BValue {
  return decode(input, options).value;
}

function printable(bytes: Uint8Array): string {
  const s = Buffer.from(bytes.subarray(0, 40)).toString('latin1');
  return s.replace(/[^\x20-\x7e]/g, '?') + (bytes.length > 40 ? '…' : '');
}

// ---------------------------------------------------------------------------------------------------
// Encoder

const textEncoder = new TextEncoder();
const ASCII = /^[\x00-\x7f]*$/;
const BINARY = /^[\x00-\xff]*$/;

/** A binary string (one char per byte, as decode makes Map keys) of a JS string's UTF-8 bytes. */
function utf8Binary(s: string): string {
  return ASCII.test(s) ? s : Buffer.from(textEncoder.encode(s)).toString('latin1');
}

/**
 * Canonical encoding: dict keys sorted by raw bytes. Keys are handled as binary strings (JS string
 * order is byte order for them) and text runs are written straight into one buffer, so a message
 * costs one allocation rather than one per token.
 */
export function encode(value: BEncodable): Buffer {
  // Text runs (binary strings: one char per byte) and byte strings, in order.
  const parts: (string | Uint8Array)[] = [];
  let run = '';
  let size = 0;
  const ascii = (s: string): void => {
    run += s;
  };
  const bytes = (b: Uint8Array): void => {
    run += `${b.length}:`;
    parts.push(run, b);
    size += run.length + b.length;
    run = '';
  };
  const dict = (entries: [string, BEncodable][]): void => {
    entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    ascii('d');
    for (let i = 0; i < entries.length; i++) {
      const [k, v] = entries[i]!;
      if (i > 0 && entries[i - 1]![0] === k) {
        throw new TypeError(`duplicate dict key "${printable(Buffer.from(k, 'latin1'))}"`);
      }
      ascii(`${k.length}:${k}`);
      walk(v);
    }
    ascii('e');
  };
  const walk = (v: BEncodable): void => {
    if (typeof v === 'number') {
      if (!Number.isSafeInteger(v)) throw new TypeError(`cannot bencode non-integer number ${v}`);
      ascii(`i${v === 0 ? 0 : v}e`);
    } else if (typeof v === 'bigint') {
      ascii(`i${v}e`);
    } else if (typeof v === 'string') {
      if (ASCII.test(v)) ascii(`${v.length}:${v}`);
      else bytes(textEncoder.encode(v));
    } else if (v instanceof Uint8Array) {
      bytes(v);
    } else if (Array.isArray(v)) {
      ascii('l');
      for (const item of v as readonly BEncodable[]) walk(item);
      ascii('e');
    } else if (v instanceof Map) {
      const entries: [string, BEncodable][] = [];
      for (const [k, item] of v as ReadonlyMap<string, BEncodable>) {
        // Map keys are binary strings (as decode makes them); latin1 would silently drop high bits.
        if (!BINARY.test(k)) throw new TypeError(`dict key "${k}" is not a binary string`);
        entries.push([k, item]);
      }
      dict(entries);
    } else {
      const entries: [string, BEncodable][] = [];
      for (const [k, item] of Object.entries(v as { [key: string]: BEncodable | undefined })) {
        if (item !== undefined) entries.push([utf8Binary(k), item]);
      }
      dict(entries);
    }
  };
  walk(value);
  parts.push(run);
  size += run.length;
  const out = Buffer.allocUnsafe(size);
  let off = 0;
  for (const p of parts) {
    if (typeof p === 'string') off += out.write(p, off, 'latin1');
    else {
      out.set(p, off);
      off += p.length;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Typed accessors for decoded values

export function isDict(v: BValue | undefined): v is BDict {
  return v instanceof Map;
}
export function isList(v: BValue | undefined): v is BValue[] {
  return Array.isArray(v);
}
export function isBytes(v: BValue | undefined): v is Uint8Array {
  return v instanceof Uint8Array;
}
export function isInt(v: BValue | undefined): v is number | bigint {
  return typeof v === 'number' || typeof v === 'bigint';
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
/** UTF-8 text of a byte string, or undefined when it is not valid UTF-8. */
export function text(b: Uint8Array): string | undefined {
  try {
    return utf8.decode(b);
  } catch {
    return undefined;
  }
}
