// BEP 6 allowed fast set: the canonical algorithm, checked against the BEP's own example.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { allowedFastSet as setOfBytes } from '../../../src/protocol/allowed-fast.js';
import { ipLiteralBytes } from '../../../src/protocol/ip.js';

const AA = Buffer.alloc(20, 0xaa);

/** The set for an address as the torrent has it (a string), made into bytes as the torrent does. */
const allowedFastSet = (infoHash: Uint8Array, ip: string, pieceCount: number, k: number): number[] =>
  setOfBytes(infoHash, ipLiteralBytes(ip), pieceCount, k);

describe('allowed fast set (BEP 6)', () => {
  it("gives the BEP's example sets (info hash 0xAA…, 80.4.4.200, 1313 pieces)", () => {
    assert.deepEqual(allowedFastSet(AA, '80.4.4.200', 1313, 7), [1059, 431, 808, 1217, 287, 376, 1188]);
    assert.deepEqual(
      allowedFastSet(AA, '80.4.4.200', 1313, 9),
      [1059, 431, 808, 1217, 287, 376, 1188, 353, 508],
    );
  });

  it('depends on the /24 only; an IPv4-mapped address is its IPv4 address; IPv6 gets none', () => {
    const set = allowedFastSet(AA, '80.4.4.200', 1313, 9);
    assert.deepEqual(allowedFastSet(AA, '80.4.4.7', 1313, 9), set);
    assert.deepEqual(allowedFastSet(AA, '::ffff:80.4.4.200', 1313, 9), set);
    assert.notDeepEqual(allowedFastSet(AA, '80.4.5.200', 1313, 9), set);
    assert.deepEqual(allowedFastSet(AA, '2001:db8::1', 1313, 9), []);
    assert.deepEqual(allowedFastSet(AA, 'not an address', 1313, 9), []);
  });

  it('a torrent with fewer pieces than asked: every piece once', () => {
    assert.deepEqual(
      allowedFastSet(AA, '10.0.0.1', 3, 10).sort((a, b) => a - b),
      [0, 1, 2],
    );
    assert.deepEqual(allowedFastSet(AA, '10.0.0.1', 0, 10), []);
  });
});
