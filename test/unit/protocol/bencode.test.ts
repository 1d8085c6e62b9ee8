// Bencode: known vectors for values, errors (with their byte offsets), limits, spans and the
// canonical encoder. Property tests live in bencode-property.test.ts.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type BDict,
  type BValue,
  bdecode,
  decode,
  encode,
  isBytes,
  isDict,
  isInt,
  isList,
  keyString,
  text,
} from '../../../src/protocol/bencode.js';
import { BencodeError } from '../../../src/protocol/errors.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

function expectBencodeError(input: Uint8Array, message: string, offset: number, options = {}): void {
  assert.throws(
    () => decode(input, options),
    (err: unknown) => {
      assert.ok(err instanceof BencodeError, `expected BencodeError, got ${String(err)}`);
      assert.equal(err.code, 'ERR_BENCODE');
      assert.equal(err.name, 'BencodeError');
      assert.equal(err.offset, offset, `offset of "${err.message}"`);
      assert.ok(err.message.includes(message), `"${err.message}" should include "${message}"`);
      assert.ok(err.message.endsWith(`at byte ${offset}`), err.message);
      return true;
    },
  );
}

describe('bencode decode: values', () => {
  const ints: [string, number | bigint][] = [
    ['i0e', 0],
    ['i42e', 42],
    ['i-42e', -42],
    ['i999999999999999e', 999_999_999_999_999],
    ['i9007199254740991e', Number.MAX_SAFE_INTEGER],
    ['i-9007199254740991e', -Number.MAX_SAFE_INTEGER],
    ['i9007199254740992e', 2n ** 53n],
    ['i-9007199254740993e', -(2n ** 53n) - 1n],
    ['i18446744073709551616e', 2n ** 64n],
    ['i123456789012345678901234567890e', 123456789012345678901234567890n],
  ];
  for (const [input, expected] of ints) {
    it(`decodes ${input} exactly, as ${typeof expected}`, () => {
      const v = bdecode(b(input));
      assert.equal(typeof v, typeof expected);
      assert.equal(v, expected);
    });
  }

  it('keeps byte strings as bytes, including invalid UTF-8 and NUL', () => {
    const v = bdecode(b('5:\xff\xfe\x00ab'));
    assert.ok(isBytes(v));
    assert.deepEqual([...v], [0xff, 0xfe, 0x00, 0x61, 0x62]);
    assert.equal(text(v), undefined, 'invalid UTF-8 has no text');
    assert.deepEqual([...(bdecode(b('0:')) as Uint8Array)], []);
  });

  it('returns byte strings as views into the input (no copy)', () => {
    const input = b('l4:spame');
    const [s] = bdecode(input) as BValue[];
    assert.ok(isBytes(s));
    assert.equal(s.buffer, input.buffer);
    assert.equal(s.byteOffset, input.byteOffset + 3);
  });

  it('decodes lists and dictionaries', () => {
    const v = bdecode(b('l4:spami42eli1eedee'));
    assert.ok(isList(v));
    assert.equal(v.length, 4);
    assert.equal(text(v[0] as Uint8Array), 'spam');
    assert.equal(v[1], 42);
    assert.deepEqual(v[2], [1]);
    assert.ok(isDict(v[3]) && v[3].size === 0);

    const d = bdecode(b('d3:cow3:moo4:spam4:eggse')) as BDict;
    assert.deepEqual([...d.keys()], ['cow', 'spam']);
    assert.equal(text(d.get('cow') as Uint8Array), 'moo');
  });

  it('keys are binary strings: every byte maps to one char', () => {
    const d = bdecode(b('d2:\x00\xffi1e2:\xc3\xa9i2ee')) as BDict;
    assert.deepEqual([...d.keys()], ['\x00\xff', '\xc3\xa9']);
    assert.equal(keyString(new Uint8Array([0xc3, 0xa9])), '\xc3\xa9');
  });

  it('type guards tell values apart', () => {
    assert.ok(isInt(1) && isInt(1n) && !isInt(new Uint8Array()));
    assert.ok(isBytes(new Uint8Array()) && !isBytes([]));
    assert.ok(isList([]) && !isList(new Map()));
    assert.ok(isDict(new Map()) && !isDict([]));
    assert.ok(!isDict(undefined) && !isInt(undefined));
  });
});

describe('bencode decode: every error is a BencodeError naming its byte offset', () => {
  const table: [string, string, string, number][] = [
    ['empty input', '', 'empty input', 0],
    ['leading zero', 'i01e', 'leading zero in integer', 1],
    ['leading zero, negative', 'i-01e', 'leading zero in integer', 1],
    ['negative zero', 'i-0e', 'negative zero in integer', 1],
    ['empty integer', 'ie', 'empty integer', 1],
    ['minus only', 'i-e', 'empty integer', 1],
    ['truncated integer', 'i12', 'truncated integer', 3],
    ['decimal point', 'i1.5e', 'unexpected byte 0x2e in integer', 2],
    ['plus sign', 'i+1e', 'unexpected byte 0x2b in integer', 1],
    ['space in integer', 'i 1e', 'unexpected byte 0x20 in integer', 1],
    ['too many digits', `i${'1'.repeat(5000)}e`, 'integer has too many digits', 1],
    ['string longer than input', '5:abc', 'string length 5 exceeds the 3 bytes left', 0],
    ['huge declared length', '4294967296:abc', 'string length 4294967296 exceeds the 3 bytes left', 0],
    ['length past 2^53', '99999999999999999999:abc', 'string length out of range', 0],
    ['length with leading zero', '01:a', 'leading zero in string length', 0],
    ['length without colon', '3abc', 'unexpected byte 0x61 in string length', 1],
    ['truncated length', '12', 'truncated string length', 2],
    ['negative length', '-1:a', 'unexpected byte 0x2d', 0],
    ['trailing bytes', 'i1ei2e', '3 trailing bytes after the value', 3],
    ['unterminated list', 'l', 'truncated list', 1],
    ['unterminated list after item', 'li1e', 'truncated list', 4],
    ['unterminated dict', 'd', 'truncated dict', 1],
    ['dict key without value', 'd1:a', 'truncated dict (key without value)', 4],
    ['unterminated dict after value', 'd1:ai1e', 'truncated dict', 7],
    ['integer dict key', 'di1ei2ee', 'dict key is not a byte string', 1],
    ['list dict key', 'dlei2ee', 'dict key is not a byte string', 1],
    ['unsorted keys', 'd1:b0:1:a0:e', 'dict key "a" out of order', 6],
    ['duplicate keys', 'd1:a0:1:a0:e', 'duplicate dict key "a"', 6],
    ['stray e', 'e', 'unexpected byte 0x65', 0],
    ['unknown type', 'x', 'unexpected byte 0x78', 0],
    ['unknown type in list', 'lxe', 'unexpected byte 0x78', 1],
  ];
  for (const [what, input, message, offset] of table) {
    it(`${what}: ${JSON.stringify(input.slice(0, 24))}`, () => expectBencodeError(b(input), message, offset));
  }

  it('duplicate keys are rejected in lenient mode too, even when out of order', () => {
    expectBencodeError(b('d1:a0:1:a0:e'), 'duplicate dict key', 6, { lenient: true });
    expectBencodeError(b('d1:a0:1:b0:1:a0:e'), 'duplicate dict key "a"', 11, { lenient: true });
  });

  it('non-printable key bytes are shown as ? in messages', () => {
    expectBencodeError(b('d1:\n0:1:\n0:e'), 'duplicate dict key "?"', 6);
  });
});

describe('bencode decode: options', () => {
  it('lenient mode accepts unsorted keys with a warning naming the offset', () => {
    const r = decode(b('d1:b0:1:a0:e'), { lenient: true });
    assert.deepEqual([...(r.value as BDict).keys()], ['b', 'a']);
    assert.deepEqual(r.warnings, ['dict key "a" out of order at byte 6']);
  });

  it('strict mode gives no warnings for canonical input', () => {
    assert.deepEqual(decode(b('d1:a0:1:b0:e')).warnings, []);
  });

  it('allowTrailing reports where the value ended', () => {
    const r = decode(b('d1:ai1ee<payload>'), { allowTrailing: true });
    assert.equal(r.end, 8);
    assert.equal(decode(b('i1e')).end, 3);
  });
});

describe('bencode decode: limits, checked before allocating', () => {
  it('rejects input larger than maxBytes before reading it', () => {
    // Not even valid bencode: the size check comes first.
    expectBencodeError(b('x'.repeat(100)), 'input of 100 bytes exceeds the limit of 99', 0, { maxBytes: 99 });
    assert.equal(bdecode(b('i1e'), { maxBytes: 3 }), 1);
  });

  it('rejects nesting deeper than maxDepth at the container that goes too deep', () => {
    assert.deepEqual(bdecode(b('llleee'), { maxDepth: 3 }), [[[]]]);
    expectBencodeError(b('lllleeee'), 'nesting deeper than 3', 3, { maxDepth: 3 });
    expectBencodeError(b('d1:ad1:ad1:ad1:aeeeee'), 'nesting deeper than 3', 12, { maxDepth: 3 });
  });

  it('rejects more than maxItems values (keys count) at the first one too many', () => {
    assert.deepEqual(bdecode(b('li1ei2ee'), { maxItems: 3 }), [1, 2]);
    expectBencodeError(b('li1ei2ei3ee'), 'more than 3 values', 7, { maxItems: 3 });
    expectBencodeError(b('d1:ai1e1:bi2ee'), 'more than 4 values', 10, { maxItems: 4 });
  });

  it('a declared length is checked against the input before slicing', () => {
    const input = b('d4:data2147483647:xe');
    expectBencodeError(input, 'string length 2147483647 exceeds the 2 bytes left', 7);
  });

  it('10,000-deep nesting is a typed error with the default limits', () => {
    expectBencodeError(b(`${'l'.repeat(10_000)}${'e'.repeat(10_000)}`), 'nesting deeper than 200', 200);
    expectBencodeError(b('d1:a'.repeat(10_000) + 'e'.repeat(10_000)), 'nesting deeper than 200', 800);
  });

  it('a maxDepth beyond what the stack holds still gives a BencodeError, not a RangeError', () => {
    const n = 1_000_000;
    assert.throws(
      () => decode(b(`${'l'.repeat(n)}${'e'.repeat(n)}`), { maxDepth: n + 1 }),
      (err: unknown) => err instanceof BencodeError && /at byte \d+$/.test(err.message),
    );
  });
});

describe('bencode decode: spans of the original bytes', () => {
  it('records the exact span of dicts and lists, even non-canonical ones', () => {
    const input = b('d4:infod1:bi1e1:ai2ee4:listli1eee');
    const r = decode(input, { lenient: true });
    const root = r.value as BDict;
    const info = root.get('info')!;
    const list = root.get('list')!;
    assert.deepEqual(r.spanOf(root), { start: 0, end: input.length });
    assert.deepEqual(r.spanOf(info), { start: 7, end: 21 });
    assert.equal(input.subarray(7, 21).toString('latin1'), 'd1:bi1e1:ai2ee');
    assert.deepEqual(r.spanOf(list), { start: 27, end: 32 });
    assert.notEqual(encode(info as BDict).toString('latin1'), 'd1:bi1e1:ai2ee', 're-encoding would differ');
  });

  it('has no span for byte strings and integers, nor for values of another decode', () => {
    const r = decode(b('l1:ai1ee'));
    const [s, n] = r.value as BValue[];
    assert.equal(r.spanOf(s!), undefined);
    assert.equal(r.spanOf(n!), undefined);
    assert.equal(r.spanOf(bdecode(b('le'))), undefined);
  });

  it('spans are relative to the given view, not its underlying buffer', () => {
    const whole = b('XXXXd1:ali1eee');
    const view = whole.subarray(4);
    const r = decode(view);
    assert.deepEqual(r.spanOf((r.value as BDict).get('a')!), { start: 4, end: 9 });
  });
});

describe('bencode encode: canonical', () => {
  it('encodes the basic types', () => {
    assert.equal(encode(0).toString('latin1'), 'i0e');
    assert.equal(encode(-0).toString('latin1'), 'i0e');
    assert.equal(encode(-42).toString('latin1'), 'i-42e');
    assert.equal(encode(2n ** 64n).toString('latin1'), 'i18446744073709551616e');
    assert.equal(encode('spam').toString('latin1'), '4:spam');
    assert.equal(encode('é').toString('latin1'), '2:\xc3\xa9', 'strings are UTF-8');
    assert.equal(encode(new Uint8Array([0, 255])).toString('latin1'), '2:\x00\xff');
    assert.equal(encode([1, 'a', []]).toString('latin1'), 'li1e1:alee');
    assert.equal(encode({}).toString('latin1'), 'de');
  });

  it('sorts keys of plain objects as raw UTF-8 bytes, not as UTF-16 code units', () => {
    // JS orders '\u{10000}' (surrogates d800…) before '\uffff'; their UTF-8 bytes order the other way.
    const out = encode({ '\u{10000}': 1, '\uffff': 2, b: 3, B: 4, a: 5 });
    assert.equal(out.toString('latin1'), 'd1:Bi4e1:ai5e1:bi3e3:\xef\xbf\xbfi2e4:\xf0\x90\x80\x80i1ee');
  });

  it('Map keys are binary strings and sort by their bytes', () => {
    const out = encode(
      new Map<string, number>([
        ['\xff', 1],
        ['a', 2],
        ['', 3],
      ]),
    );
    assert.equal(out.toString('latin1'), 'd0:i3e1:ai2e1:\xffi1ee');
  });

  it('skips undefined properties', () => {
    assert.equal(encode({ a: 1, b: undefined }).toString('latin1'), 'd1:ai1ee');
  });

  it('rejects numbers that are not safe integers', () => {
    for (const bad of [1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53]) {
      assert.throws(() => encode(bad), TypeError, String(bad));
    }
  });

  it('rejects Map keys that are not binary strings (a char above U+00FF would lose its high bits)', () => {
    assert.throws(() => encode(new Map([['ファイル', 1]])), TypeError);
    // Use a binary string for non-ASCII Map keys.
    assert.equal(encode(new Map([[keyString(Buffer.from('é')), 1]])).toString('latin1'), 'd2:\xc3\xa9i1ee');
    assert.throws(
      () =>
        encode(
          new Map([
            ['a', 1],
            ['\u0161', 2],
          ]),
        ),
      TypeError,
    );
  });

  it('re-encodes canonical vectors byte for byte', () => {
    for (const v of [
      'd3:cow3:moo4:spam4:eggse',
      'l4:spami42eli1eedee',
      'd4:infod6:lengthi5e4:name5:a.txtee',
      'i-9007199254740993e',
      'd0:0:1:\x00i0ee',
    ]) {
      assert.equal(encode(bdecode(b(v))).toString('latin1'), v);
    }
  });
});
