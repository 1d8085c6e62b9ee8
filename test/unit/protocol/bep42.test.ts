// BEP 42 node ids: the BEP's own test vectors (the first 21 bits and the last byte), CRC-32C's
// check value, and the validity test both ways.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bep42NodeId, crc32c, isBep42NodeId } from '../../../src/protocol/bep42.js';

test('CRC-32C check value', () => {
  assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
});

test("BEP 42's vectors: the id's first 21 bits and its last byte", () => {
  const vectors: [string, number, string][] = [
    ['124.31.75.21', 1, '5fbfbff10c5d6a4ec8a88e4c6ab4c28b95eee401'],
    ['21.75.31.124', 86, '5a3ce9c14e7a08645677bbd1cfe7d8f956d53256'],
    ['65.23.51.170', 22, 'a5d43220bc8f112a3d426c84764f8c2a1150e616'],
    ['84.124.73.14', 65, '1b0321dd1bb1fe518101ceef99462b947a01ff41'],
    ['43.213.53.83', 90, 'e56f6cbf5b7c4be0237986d5243b87aa6d51305a'],
  ];
  for (const [ip, r, want] of vectors) {
    const random = Buffer.from(want, 'hex');
    const id = bep42NodeId(ip, random)!;
    assert.equal(id.toString('hex'), want, ip);
    assert.equal(id[19], r);
    assert.ok(isBep42NodeId(Buffer.from(want, 'hex'), ip));
    assert.ok(!isBep42NodeId(Buffer.from(want, 'hex'), '1.2.3.4'));
  }
});

test('only IPv4, only 20 bytes', () => {
  assert.equal(bep42NodeId('::1', Buffer.alloc(20)), undefined);
  assert.equal(bep42NodeId('1.2.3', Buffer.alloc(20)), undefined);
  assert.equal(bep42NodeId('1.2.3.4', Buffer.alloc(19)), undefined);
  assert.equal(isBep42NodeId(Buffer.alloc(19), '1.2.3.4'), false);
});
