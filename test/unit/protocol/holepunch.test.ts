// BEP 55 ut_holepunch payloads: the layout byte for byte (IPv4 and IPv6), round trips under
// fast-check, and a clear error naming the byte for every malformed message (never another throw).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  decodeHolepunch,
  encodeHolepunch,
  HolepunchDecodeError,
  HolepunchError,
  type HolepunchMessage,
} from '../../../src/protocol/holepunch.js';

describe('ut_holepunch codec', () => {
  test('IPv4 rendezvous: type, addr type, address, port, error code, big-endian', () => {
    const bytes = encodeHolepunch({
      type: 'rendezvous',
      addr: { host: '11.22.2.1', port: 6881 },
      errorCode: 0,
    });
    assert.deepEqual([...bytes], [0, 0, 11, 22, 2, 1, 0x1a, 0xe1, 0, 0, 0, 0]);
  });

  test('IPv6 error with a code', () => {
    const m: HolepunchMessage = {
      type: 'error',
      addr: { host: '2001:db8::1', port: 51413 },
      errorCode: HolepunchError.notConnected,
    };
    const bytes = encodeHolepunch(m);
    assert.equal(bytes.length, 24);
    assert.deepEqual([...bytes.subarray(0, 2)], [2, 1]);
    assert.deepEqual([...bytes.subarray(18)], [0xc8, 0xd5, 0, 0, 0, 2]);
    assert.deepEqual(decodeHolepunch(bytes), m);
  });

  test('malformed messages: a HolepunchDecodeError that names what and where', () => {
    const cases: [number[], RegExp][] = [
      [[], /0 bytes, need at least 2/],
      [[3, 0, 1, 2, 3, 4, 0, 1, 0, 0, 0, 0], /unknown msg_type 3 at byte 0/],
      [[1, 2, 1, 2, 3, 4, 0, 1, 0, 0, 0, 0], /unknown addr_type 2 at byte 1/],
      [[1, 0, 1, 2, 3, 4, 0, 1, 0, 0, 0], /11 bytes, an IPv4 message has 12/],
      [[1, 1, 1, 2, 3, 4, 0, 1, 0, 0, 0, 0], /12 bytes, an IPv6 message has 24/],
    ];
    for (const [bytes, re] of cases)
      assert.throws(
        () => decodeHolepunch(Uint8Array.from(bytes)),
        (e: unknown) => e instanceof HolepunchDecodeError && re.test(e.message),
      );
  });

  test('encode refuses what the wire cannot carry', () => {
    assert.throws(
      () => encodeHolepunch({ type: 'connect', addr: { host: 'example.org', port: 1 }, errorCode: 0 }),
      RangeError,
    );
    assert.throws(
      () => encodeHolepunch({ type: 'connect', addr: { host: '1.2.3.4', port: 70000 }, errorCode: 0 }),
      RangeError,
    );
  });

  test('round trips (fast-check), and random bytes decode or throw a HolepunchDecodeError', () => {
    const v4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((b) => b.join('.'));
    const message = fc.record({
      type: fc.constantFrom('rendezvous', 'connect', 'error') as fc.Arbitrary<HolepunchMessage['type']>,
      addr: fc.record({ host: fc.oneof(v4, fc.ipV6()), port: fc.nat(0xffff) }),
      errorCode: fc.nat(0xffffffff),
    });
    fc.assert(
      fc.property(message, (m) => {
        const back = decodeHolepunch(encodeHolepunch(m));
        assert.equal(back.type, m.type);
        assert.equal(back.addr.port, m.addr.port);
        assert.equal(back.errorCode, m.errorCode);
        assert.deepEqual(encodeHolepunch(back), encodeHolepunch(m));
      }),
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => {
        try {
          decodeHolepunch(bytes);
        } catch (e) {
          assert.ok(e instanceof HolepunchDecodeError, String(e));
        }
      }),
    );
  });
});
