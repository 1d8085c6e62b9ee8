// Bencode property tests (fast-check): round trips both ways, and on random or mutated bytes the
// decoder either returns a value or throws a BencodeError — never another error, never a crash.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type BDict, type BValue, decode, encode, keyString } from '../../../src/protocol/bencode.js';
import { BencodeError } from '../../../src/protocol/errors.js';

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** Integers as the decoder returns them: numbers when safe, bigints only past 2^53. */
const bInt: fc.Arbitrary<BValue> = fc.oneof(
  fc.maxSafeInteger(),
  fc.integer({ min: -1000, max: 1000 }),
  fc.bigInt({ min: -(2n ** 200n), max: 2n ** 200n }).filter((n) => n > MAX_SAFE || n < -MAX_SAFE),
);

const bValue: fc.Arbitrary<BValue> = fc.letrec<{ value: BValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    bInt,
    fc.uint8Array({ maxLength: 24 }),
    fc.array(tie('value'), { maxLength: 5 }),
    fc
      .array(fc.tuple(fc.uint8Array({ maxLength: 6 }), tie('value')), { maxLength: 5 })
      .map((entries) => new Map(entries.map(([k, v]) => [keyString(k), v])) as BDict),
  ),
})).value;

/** Structural equality of decoded values (bytes by content, whatever their backing buffer). */
function same(a: BValue, b: BValue): boolean {
  if (typeof a === 'number' || typeof a === 'bigint') return a === b;
  if (a instanceof Uint8Array) return b instanceof Uint8Array && Buffer.from(a).equals(Buffer.from(b));
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => same(x, b[i]!));
  if (!(b instanceof Map) || a.size !== b.size) return false;
  for (const [k, v] of a) {
    const w = b.get(k);
    if (w === undefined || !same(v, w)) return false;
  }
  return true;
}

/** Decodes and returns the value, or undefined when a BencodeError was thrown; any other throw fails. */
function decodeOrTypedError(input: Uint8Array, options = {}): BValue | undefined {
  try {
    return decode(input, options).value;
  } catch (err) {
    if (!(err instanceof BencodeError)) throw new Error(`not a BencodeError: ${String(err)}`, { cause: err });
    assert.ok(Number.isInteger(err.offset) && err.offset >= 0 && err.offset <= input.length, err.message);
    assert.ok(err.message.endsWith(`at byte ${err.offset}`), err.message);
    return undefined;
  }
}

const options = fc.record(
  {
    lenient: fc.boolean(),
    allowTrailing: fc.boolean(),
    maxDepth: fc.integer({ min: 0, max: 8 }),
    maxItems: fc.integer({ min: 0, max: 50 }),
    maxBytes: fc.integer({ min: 0, max: 300 }),
  },
  { requiredKeys: [] },
);

/** Bytes drawn mostly from bencode's own alphabet, so random input gets deep into the decoder. */
const bencodeish = fc
  .array(fc.oneof(fc.constantFrom(...Buffer.from('ilde0123456789:-')), fc.integer({ min: 0, max: 255 })), {
    maxLength: 120,
  })
  .map((a) => Uint8Array.from(a));

type Mutation = { kind: 'flip' | 'insert' | 'delete' | 'truncate'; at: number; byte: number };
const mutation: fc.Arbitrary<Mutation> = fc.record({
  kind: fc.constantFrom('flip', 'insert', 'delete', 'truncate'),
  at: fc.nat(),
  byte: fc.oneof(fc.constantFrom(...Buffer.from('ilde0:-9')), fc.integer({ min: 0, max: 255 })),
});

function mutate(input: Uint8Array, ms: Mutation[]): Uint8Array {
  let out = Buffer.from(input);
  for (const m of ms) {
    const at = out.length === 0 ? 0 : m.at % (out.length + 1);
    if (m.kind === 'flip' && at < out.length) out[at] = m.byte;
    else if (m.kind === 'insert')
      out = Buffer.concat([out.subarray(0, at), Buffer.from([m.byte]), out.subarray(at)]);
    else if (m.kind === 'delete') out = Buffer.concat([out.subarray(0, at), out.subarray(at + 1)]);
    else if (m.kind === 'truncate') out = out.subarray(0, at);
  }
  return out;
}

describe('bencode properties', () => {
  it('decode(encode(x)) = x', () => {
    fc.assert(
      fc.property(bValue, (x) => {
        assert.ok(same(decode(encode(x)).value, x));
      }),
      { numRuns: 300 },
    );
  });

  it('encode(decode(b)) = b for canonical b', () => {
    fc.assert(
      fc.property(bValue, (x) => {
        const canonical = encode(x);
        assert.ok(encode(decode(canonical).value).equals(canonical));
      }),
      { numRuns: 300 },
    );
  });

  it('the strict decoder accepts only canonical input: whatever it accepts re-encodes to the same bytes', () => {
    fc.assert(
      fc.property(bencodeish, (input) => {
        const v = decodeOrTypedError(input);
        if (v !== undefined)
          assert.ok(encode(v).equals(Buffer.from(input)), Buffer.from(input).toString('latin1'));
      }),
      { numRuns: 1500 },
    );
  });

  it('random bytes only ever give a value or a BencodeError, whatever the options', () => {
    fc.assert(
      fc.property(fc.oneof(bencodeish, fc.uint8Array({ maxLength: 200 })), options, (input, opts) => {
        decodeOrTypedError(input, opts);
      }),
      { numRuns: 1500 },
    );
  });

  it('mutated encodings only ever give a value or a BencodeError; strict acceptance stays canonical', () => {
    fc.assert(
      fc.property(
        bValue,
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        fc.boolean(),
        (x, ms, lenient) => {
          const input = mutate(encode(x), ms);
          const v = decodeOrTypedError(input, { lenient });
          if (v !== undefined && !lenient) assert.ok(encode(v).equals(Buffer.from(input)));
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('nesting of any depth up to 10,000 is a value or a typed error', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10_000 }),
        fc.constantFrom('l', 'd1:a'),
        fc.boolean(),
        (n, open, close) => {
          // n containers, each holding the next; the innermost dict's value is an empty string.
          const input = Buffer.from(
            open.repeat(n) + (open === 'l' ? '' : '0:') + (close ? 'e'.repeat(n) : ''),
          );
          const v = decodeOrTypedError(input);
          if (n > 200 || !close) assert.equal(v, undefined);
          else assert.notEqual(v, undefined);
        },
      ),
      { numRuns: 200 },
    );
  });
});
