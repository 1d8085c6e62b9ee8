// ut_pex payload codec (BEP 11) and the IP literal helpers: known vectors, tolerance of missing keys,
// typed rejection of bad lengths, floods and garbage, and round trips under fast-check.
import assert from 'node:assert/strict';
import { isIPv4, isIPv6 } from 'node:net';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { type BEncodable, encode } from '../../../src/protocol/bencode.js';
import {
  decodePex,
  encodePex,
  formatIp,
  PEX_MAX_ENTRIES,
  PexError,
  PexErrorReason,
  PexFlag,
  type PexMessage,
  parseIp,
} from '../../../src/protocol/pex.js';

const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');
const empty: PexMessage = { added: [], dropped: [], added6: [], dropped6: [] };

function rejects(payload: Uint8Array, reason: PexErrorReason): void {
  assert.throws(
    () => decodePex(payload),
    (e: unknown) => e instanceof PexError && e.code === 'ERR_PEX' && e.reason === reason,
  );
}

describe('encodePex / decodePex', () => {
  test('known vector: one IPv4 peer added with flags, one dropped, one IPv6 added', () => {
    const msg: PexMessage = {
      added: [{ host: '10.0.0.1', port: 6881, flags: PexFlag.seed | PexFlag.reachable }],
      dropped: [{ host: '192.168.1.2', port: 80 }],
      added6: [{ host: '2001:db8::1', port: 443, flags: PexFlag.utp }],
      dropped6: [],
    };
    const expected = Buffer.concat([
      latin1('d5:added6:'),
      Buffer.from([10, 0, 0, 1, 0x1a, 0xe1]),
      latin1('7:added.f1:'),
      Buffer.from([0x12]),
      latin1('6:added618:'),
      Buffer.from('20010db8000000000000000000000001', 'hex'),
      Buffer.from([0x01, 0xbb]),
      latin1('8:added6.f1:'),
      Buffer.from([0x04]),
      latin1('7:dropped6:'),
      Buffer.from([192, 168, 1, 2, 0, 80]),
      latin1('8:dropped60:e'),
    ]);
    const bytes = encodePex(msg);
    assert.deepEqual(bytes, expected);
    assert.deepEqual(decodePex(bytes), msg);
  });

  test('missing keys read as empty lists; a missing or short flag string reads as 0', () => {
    assert.deepEqual(decodePex(latin1('de')), empty);
    const twoPeers = Buffer.from([1, 2, 3, 4, 0, 1, 5, 6, 7, 8, 0, 2]);
    const onlyAdded = encode(new Map([['added', twoPeers]]));
    assert.deepEqual(decodePex(onlyAdded).added, [
      { host: '1.2.3.4', port: 1, flags: 0 },
      { host: '5.6.7.8', port: 2, flags: 0 },
    ]);
    const shortFlags = encode(
      new Map<string, Uint8Array>([
        ['added', twoPeers],
        ['added.f', Uint8Array.of(0x02)],
      ]),
    );
    assert.deepEqual(
      decodePex(shortFlags).added.map((e) => e.flags),
      [0x02, 0],
    );
  });

  test('unknown keys are ignored and unsorted keys accepted', () => {
    const payload = latin1('d7:dropped6:\x01\x02\x03\x04\x00\x05e');
    const unsorted = Buffer.concat([
      latin1('d7:dropped6:'),
      Buffer.from([1, 2, 3, 4, 0, 5]),
      latin1('5:added0:e'),
    ]);
    assert.deepEqual(decodePex(payload).dropped, [{ host: '1.2.3.4', port: 5 }]);
    assert.deepEqual(decodePex(unsorted).dropped, [{ host: '1.2.3.4', port: 5 }]);
    const extra = encode(new Map<string, BEncodable>([['zz', [1, 2, 3]]]));
    assert.deepEqual(decodePex(extra), empty);
  });

  test('lengths that are not a multiple of the entry size are rejected', () => {
    rejects(encode(new Map([['added', new Uint8Array(7)]])), PexErrorReason.badLength);
    rejects(encode(new Map([['dropped', new Uint8Array(5)]])), PexErrorReason.badLength);
    rejects(encode(new Map([['added6', new Uint8Array(17)]])), PexErrorReason.badLength);
    rejects(encode(new Map([['dropped6', new Uint8Array(36 + 6)]])), PexErrorReason.badLength);
  });

  test('more than the cap of entries in one list is a flood, checked before decoding entries', () => {
    const max = encode(new Map([['added', new Uint8Array(6 * PEX_MAX_ENTRIES)]]));
    assert.equal(decodePex(max).added.length, PEX_MAX_ENTRIES);
    rejects(
      encode(new Map([['added', new Uint8Array(6 * (PEX_MAX_ENTRIES + 1))]])),
      PexErrorReason.tooManyEntries,
    );
    rejects(
      encode(new Map([['dropped6', new Uint8Array(18 * (PEX_MAX_ENTRIES + 1))]])),
      PexErrorReason.tooManyEntries,
    );
    assert.throws(
      () => decodePex(encode(new Map([['added', new Uint8Array(6 * 11)]])), { maxEntries: 10 }),
      (e: unknown) => e instanceof PexError && e.reason === PexErrorReason.tooManyEntries,
    );
  });

  test('an oversized payload is rejected before it is parsed', () => {
    const big = Buffer.alloc(64 * 1024, 0x64);
    rejects(big, PexErrorReason.tooLarge);
  });

  test('garbage and wrong types are malformed', () => {
    rejects(latin1(''), PexErrorReason.malformed);
    rejects(latin1('le'), PexErrorReason.malformed);
    rejects(latin1('i5e'), PexErrorReason.malformed);
    rejects(latin1('d5:addedi5ee'), PexErrorReason.malformed);
    rejects(latin1('d7:added.fle'), PexErrorReason.malformed);
    rejects(latin1('d5:added6:abc'), PexErrorReason.malformed);
    rejects(latin1('d5:added0:e trailing'), PexErrorReason.malformed);
  });

  test('encoding refuses addresses of the wrong family, host names and bad ports', () => {
    const bad: PexMessage[] = [
      { ...empty, added: [{ host: '::1', port: 1, flags: 0 }] },
      { ...empty, added6: [{ host: '1.2.3.4', port: 1, flags: 0 }] },
      { ...empty, dropped: [{ host: 'example.com', port: 1 }] },
      { ...empty, dropped: [{ host: '1.2.3.4', port: 65536 }] },
      { ...empty, added: [{ host: '1.2.3.4', port: 1, flags: 256 }] },
    ];
    for (const msg of bad) {
      assert.throws(
        () => encodePex(msg),
        (e: unknown) => e instanceof PexError && e.reason === PexErrorReason.invalidAddress,
      );
    }
  });
});

describe('parseIp / formatIp', () => {
  test('RFC 5952 canonical text', () => {
    const cases: [string, string][] = [
      ['2001:0DB8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // first of two equal runs
      ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // a single zero group is not compressed
      ['0:0:0:0:0:0:0:0', '::'],
      ['::1', '::1'],
      ['1::', '1::'],
      ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
      ['fe80:0:0:0:1:0:0:0', 'fe80::1:0:0:0'],
      ['::ffff:192.0.2.1', '::ffff:192.0.2.1'],
      ['::FFFF:c000:0201', '::ffff:192.0.2.1'],
      ['64:ff9b::192.0.2.33', '64:ff9b::c000:221'],
      ['1.2.3.4', '1.2.3.4'],
      ['0.0.0.0', '0.0.0.0'],
      ['255.255.255.255', '255.255.255.255'],
    ];
    for (const [input, canonical] of cases) {
      const bytes = parseIp(input);
      assert.ok(bytes, input);
      assert.equal(formatIp(bytes), canonical, input);
    }
  });

  test('rejects what is not an IP literal', () => {
    for (const s of [
      '',
      '1.2.3',
      '1.2.3.4.5',
      '01.2.3.4',
      '256.1.1.1',
      '1.2.3.4 ',
      '+1.2.3.4',
      '1::2::3',
      ':::',
      ':1::',
      '1:2:3:4:5:6:7:8:9',
      '1:2:3:4:5:6:7',
      '1:2:3:4:5:6:7:8::',
      'g::',
      '12345::',
      '::ffff:1.2.3.256',
      '::1.2.3.4:5',
      'fe80::1%eth0',
      '[::1]',
      'example.com',
    ]) {
      assert.equal(parseIp(s), undefined, JSON.stringify(s));
    }
  });

  test('property: formatIp agrees with the WHATWG URL serializer and parseIp inverts it', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (b) => {
        const text = formatIp(b);
        assert.ok(isIPv6(text));
        assert.deepEqual(parseIp(text), b);
        const mapped = b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
        if (!mapped) assert.equal(`[${text}]`, new URL(`http://[${text}]/`).hostname);
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 4, maxLength: 4 }), (b) => {
        const text = formatIp(b);
        assert.ok(isIPv4(text));
        assert.deepEqual(parseIp(text), b);
      }),
    );
  });

  test('property: any IPv6 text fast-check makes parses to the same bytes as its canonical form', () => {
    fc.assert(
      fc.property(fc.ipV6(), (s) => {
        const b = parseIp(s);
        assert.ok(b, s);
        assert.deepEqual(parseIp(new URL(`http://[${s}]/`).hostname.slice(1, -1)), b);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('properties', () => {
  const v4 = fc.uint8Array({ minLength: 4, maxLength: 4 }).map(formatIp);
  const v6 = fc.uint8Array({ minLength: 16, maxLength: 16 }).map(formatIp);
  const port = fc.integer({ min: 0, max: 0xffff });
  const flags = fc.integer({ min: 0, max: 0xff });
  const message: fc.Arbitrary<PexMessage> = fc.record(
    {
      added: fc.array(fc.record({ host: v4, port, flags }, { noNullPrototype: true }), { maxLength: 60 }),
      dropped: fc.array(fc.record({ host: v4, port }, { noNullPrototype: true }), { maxLength: 60 }),
      added6: fc.array(fc.record({ host: v6, port, flags }, { noNullPrototype: true }), { maxLength: 60 }),
      dropped6: fc.array(fc.record({ host: v6, port }, { noNullPrototype: true }), { maxLength: 60 }),
    },
    { noNullPrototype: true },
  );

  test('decode(encode(x)) = x, and encode(decode(b)) = b', () => {
    fc.assert(
      fc.property(message, (msg) => {
        const bytes = encodePex(msg);
        const back = decodePex(bytes);
        assert.deepEqual(back, msg);
        assert.deepEqual(encodePex(back), bytes);
      }),
      { numRuns: 500 },
    );
  });

  test('random bytes throw only PexError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        try {
          decodePex(bytes);
        } catch (e) {
          assert.ok(e instanceof PexError, String(e));
        }
      }),
      { numRuns: 5000 },
    );
  });

  test('dicts with the right keys and random values throw only PexError', () => {
    const key = fc.constantFrom('added', 'added.f', 'dropped', 'added6', 'added6.f', 'dropped6', 'x');
    const value = fc.oneof(fc.uint8Array({ maxLength: 60 }), fc.integer(), fc.constant([] as number[]));
    fc.assert(
      fc.property(fc.dictionary(key, value), (d) => {
        const bytes = encode(new Map(Object.entries(d)));
        try {
          const msg = decodePex(bytes);
          for (const e of [...msg.added, ...msg.dropped]) assert.ok(isIPv4(e.host));
          for (const e of [...msg.added6, ...msg.dropped6]) assert.ok(isIPv6(e.host));
        } catch (e) {
          assert.ok(e instanceof PexError, String(e));
        }
      }),
      { numRuns: 2000 },
    );
  });
});
