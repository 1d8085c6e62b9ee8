// BEP 10 extension handshake: round trip, tolerance of odd fields, size caps, merging re-sent handshakes.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { encode } from '../../../src/protocol/bencode.js';
import {
  decodeExtensionHandshake,
  encodeExtensionHandshake,
  mergeExtensionHandshake,
} from '../../../src/protocol/extension.js';
import { DisconnectReason, ProtocolError } from '../../../src/protocol/peer-wire.js';

describe('extension handshake', () => {
  test('round trip of every field', () => {
    const wire = encodeExtensionHandshake({
      m: { ut_metadata: 3, ut_pex: 1 },
      v: 'bitswarm 0.1.0',
      p: 6881,
      reqq: 500,
      yourip: Uint8Array.from([127, 0, 0, 1]),
      metadataSize: 31235,
    });
    assert.equal(
      wire.toString('latin1'),
      'd1:md11:ut_metadatai3e6:ut_pexi1ee13:metadata_sizei31235e1:pi6881e4:reqqi500e1:v14:bitswarm 0.1.06:yourip4:\x7f\x00\x00\x01e',
    );
    const h = decodeExtensionHandshake(wire);
    assert.deepEqual(
      [...h.m],
      [
        ['ut_metadata', 3],
        ['ut_pex', 1],
      ],
    );
    assert.equal(h.v, 'bitswarm 0.1.0');
    assert.equal(h.p, 6881);
    assert.equal(h.reqq, 500);
    assert.deepEqual([...(h.yourip ?? [])], [127, 0, 0, 1]);
    assert.equal(h.metadataSize, 31235);
    assert.ok(h.raw instanceof Map);
  });

  test('odd and missing fields are dropped, not fatal', () => {
    const h = decodeExtensionHandshake(
      encode({
        m: { good: 2, neg: -1, big: 300, str: 'x', [`${'n'.repeat(70)}`]: 4 },
        p: 70000,
        reqq: -5,
        yourip: 'abc',
        metadata_size: 1e12,
        v: 7,
        extra: ['kept', 'in', 'raw'],
      }),
    );
    assert.deepEqual([...h.m], [['good', 2]]);
    assert.equal(h.p, undefined);
    assert.equal(h.reqq, undefined);
    assert.equal(h.yourip, undefined);
    assert.equal(h.metadataSize, undefined);
    assert.equal(h.v, undefined);
    assert.ok(h.raw.has('extra'));
    assert.equal(decodeExtensionHandshake(encode({})).m.size, 0);
    assert.equal(decodeExtensionHandshake(encode({ m: 5 })).m.size, 0);
    // A huge reqq is clamped, not believed.
    assert.equal(decodeExtensionHandshake(encode({ reqq: 10n ** 30n })).reqq, 65535);
  });

  test('keys out of order are accepted (lenient)', () => {
    const h = decodeExtensionHandshake(Buffer.from('d1:v1:x1:md6:ut_pexi2eee', 'latin1'));
    assert.equal(h.v, 'x');
    assert.equal(h.m.get('ut_pex'), 2);
  });

  test('not a dict, trailing bytes, or too large is a ProtocolError', () => {
    const bad = (b: Uint8Array): void =>
      assert.throws(
        () => decodeExtensionHandshake(b),
        (err: unknown) =>
          err instanceof ProtocolError && err.reason === DisconnectReason.badExtendedHandshake,
      );
    bad(Buffer.from('li1ee'));
    bad(Buffer.from('de'.concat('x')));
    bad(Buffer.from('d1:m'));
    bad(Buffer.alloc(0));
    bad(encode({ v: 'x'.repeat(70_000) }));
    assert.throws(() => decodeExtensionHandshake(encode({ v: 'abc' }), { maxBytes: 5 }), ProtocolError);
  });

  test('the number of extensions kept is capped', () => {
    const m: Record<string, number> = {};
    for (let i = 0; i < 500; i++) m[`e${i}`] = (i % 255) + 1;
    assert.equal(decodeExtensionHandshake(encode({ m })).m.size, 128);
  });

  test('a later handshake enables and disables extensions', () => {
    const first = decodeExtensionHandshake(encode({ m: { a: 1, b: 2, z: 0 }, reqq: 100 }));
    const merged1 = mergeExtensionHandshake(undefined, first);
    assert.deepEqual([...merged1.m.keys()], ['a', 'b']);
    const second = decodeExtensionHandshake(encode({ m: { a: 0, c: 3 } }));
    const merged2 = mergeExtensionHandshake(merged1, second);
    assert.deepEqual([...merged2.m].sort(), [
      ['b', 2],
      ['c', 3],
    ]);
    assert.equal(merged2.reqq, 100);
  });

  test('random bytes give a handshake or a ProtocolError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (b) => {
        try {
          decodeExtensionHandshake(b);
        } catch (err) {
          assert.ok(err instanceof ProtocolError, String(err));
        }
      }),
      { numRuns: 1000 },
    );
  });

  test('encode then decode keeps m, v, p, reqq', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.stringMatching(/^[a-z]{1,20}$/), fc.integer({ min: 1, max: 255 }), { maxKeys: 10 }),
        fc.integer({ min: 1, max: 65535 }),
        fc.integer({ min: 1, max: 65535 }),
        (m, p, reqq) => {
          const h = decodeExtensionHandshake(encodeExtensionHandshake({ m, p, reqq, v: 'x' }));
          assert.deepEqual(Object.fromEntries(h.m), { ...m });
          assert.equal(h.p, p);
          assert.equal(h.reqq, reqq);
        },
      ),
    );
  });
});
