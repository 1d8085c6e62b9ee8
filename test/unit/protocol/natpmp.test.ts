// NAT-PMP (RFC 6886) and PCP (RFC 6887) codecs: the exact request bytes, replies (success, error,
// short, wrong version), PCP's IPv4-mapped addresses, and random bytes.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  decodeNatPmpResponse,
  decodePcpMapResponse,
  encodeNatPmpExternalRequest,
  encodeNatPmpMapRequest,
  encodePcpMapRequest,
  NatPmpError,
  PcpVersionError,
  pcpAddressBytes,
  pcpAddressText,
} from '../../../src/protocol/natpmp.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('NAT-PMP', () => {
  test('requests: the exact bytes', () => {
    assert.deepEqual(encodeNatPmpExternalRequest(), hex('0000'));
    assert.deepEqual(encodeNatPmpMapRequest('TCP', 6881, 6881, 7200), hex('00 02 0000 1ae1 1ae1 00001c20'));
    assert.deepEqual(encodeNatPmpMapRequest('UDP', 6881, 0, 0), hex('00 01 0000 1ae1 0000 00000000'));
    assert.throws(() => encodeNatPmpMapRequest('TCP', 0, 1, 1), NatPmpError);
    assert.throws(() => encodeNatPmpMapRequest('TCP', 1, 70000, 1), NatPmpError);
    assert.throws(() => encodeNatPmpMapRequest('TCP', 1, 1, -1), NatPmpError);
  });

  test('replies: external address, mapping, errors (short ones too)', () => {
    assert.deepEqual(decodeNatPmpResponse(hex('00 80 0000 00010fcf 0b162101')), {
      op: 'external',
      result: 0,
      epochSec: 0x10fcf,
      externalIp: '11.22.33.1',
    });
    assert.deepEqual(decodeNatPmpResponse(hex('00 82 0000 00000005 1ae1 1ae2 00001c20')), {
      op: 'map',
      protocol: 'TCP',
      result: 0,
      epochSec: 5,
      internalPort: 6881,
      externalPort: 6882,
      lifetimeSec: 7200,
    });
    assert.deepEqual(decodeNatPmpResponse(hex('00 81 0002 00000005')), { op: 'other', opcode: 1, result: 2 });
    // A NAT-PMP gateway's answer to a PCP request.
    assert.deepEqual(decodeNatPmpResponse(hex('00 81 0001 00000000')), { op: 'other', opcode: 1, result: 1 });
    for (const bad of [
      '',
      '00',
      '00 80 00',
      '02 80 0000 00000000 01020304',
      '00 00 0000',
      '00 80 0000 0000',
      '00 82 0000 00000005 1ae1',
    ]) {
      assert.throws(() => decodeNatPmpResponse(hex(bad)), NatPmpError, bad);
    }
  });
});

describe('PCP', () => {
  const nonce = hex('0102030405060708090a0b0c');

  test('MAP request: header, client address, nonce, protocol, ports', () => {
    const r = encodePcpMapRequest({
      clientIp: '10.0.0.2',
      nonce,
      protocol: 'TCP',
      internalPort: 6881,
      suggestedExternalPort: 6881,
      lifetimeSec: 7200,
    });
    assert.deepEqual(
      r,
      hex(
        '02 01 0000 00001c20 00000000000000000000ffff0a000002' +
          '0102030405060708090a0b0c 06 000000 1ae1 1ae1 00000000000000000000000000000000',
      ),
    );
    assert.equal(r.length, 60);
    assert.throws(
      () =>
        encodePcpMapRequest({
          clientIp: 'x',
          nonce,
          protocol: 'TCP',
          internalPort: 1,
          suggestedExternalPort: 1,
          lifetimeSec: 1,
        }),
      NatPmpError,
    );
    assert.throws(
      () =>
        encodePcpMapRequest({
          clientIp: '1.2.3.4',
          nonce: nonce.subarray(1),
          protocol: 'UDP',
          internalPort: 1,
          suggestedExternalPort: 1,
          lifetimeSec: 1,
        }),
      NatPmpError,
    );
  });

  test('MAP reply: decoded; a NAT-PMP-only gateway; errors without the opcode data', () => {
    const reply = hex(
      '02 81 00 00 00001c20 00000007 000000000000000000000000' +
        '0102030405060708090a0b0c 11 000000 1ae1 1ae3 00000000000000000000ffff0b162101',
    );
    assert.deepEqual(decodePcpMapResponse(reply), {
      result: 0,
      lifetimeSec: 7200,
      epochSec: 7,
      nonce,
      protocol: 'UDP',
      internalPort: 6881,
      externalPort: 6883,
      externalIp: '11.22.33.1',
    });
    assert.throws(() => decodePcpMapResponse(hex('00 81 0001 00000000')), PcpVersionError);
    assert.equal(decodePcpMapResponse(hex(`02 81 00 08 00000000 00000007 ${'00'.repeat(12)}`)).result, 8);
    for (const bad of [
      '',
      '02',
      '03 81 0000',
      '02 01 0000',
      `02 81 00 00 ${'00'.repeat(20)}`,
      `02 81 00 00 ${'00'.repeat(40)}`,
    ]) {
      assert.throws(() => decodePcpMapResponse(hex(bad)), NatPmpError, bad);
    }
    assert.throws(() => decodePcpMapResponse(Buffer.alloc(1101, 2)), NatPmpError);
  });

  test('addresses: IPv4-mapped both ways, IPv6 text', () => {
    assert.equal(pcpAddressText(pcpAddressBytes('192.168.1.20')), '192.168.1.20');
    assert.equal(pcpAddressText(pcpAddressBytes(undefined)), '::');
    assert.equal(pcpAddressText(hex('20010db8000000000000000000000001')), '2001:db8::1');
  });
});

test('random bytes: both decoders throw only NatPmpError', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
      for (const decode of [decodeNatPmpResponse, decodePcpMapResponse]) {
        try {
          decode(bytes);
        } catch (err) {
          assert.ok(err instanceof NatPmpError, String(err));
        }
      }
    }),
    { numRuns: 2000 },
  );
});
