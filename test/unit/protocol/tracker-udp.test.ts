// UDP tracker packets (BEP 15): requests and replies round-trip, known layouts, length checks, and
// decoders throw only UdpTrackerError on random bytes.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { AnnounceEvent, compactPeer } from '../../../src/protocol/tracker-http.js';
import {
  ANNOUNCE_REQUEST_BYTES,
  decodeUdpReply,
  decodeUdpRequest,
  encodeAnnounceReply,
  encodeAnnounceRequest,
  encodeConnectReply,
  encodeConnectRequest,
  encodeErrorReply,
  encodeScrapeReply,
  encodeScrapeRequest,
  MAX_SCRAPE_HASHES,
  UdpAction,
  UdpTrackerError,
} from '../../../src/protocol/tracker-udp.js';

const CID = Buffer.from('0102030405060708', 'hex');

describe('requests', () => {
  test('connect: the BEP 15 layout', () => {
    const b = encodeConnectRequest(0xdeadbeef);
    assert.equal(b.toString('hex'), '0000041727101980' + '00000000' + 'deadbeef');
    assert.deepEqual(decodeUdpRequest(b), { action: UdpAction.connect, transactionId: 0xdeadbeef });
    const bad = Buffer.from(b);
    bad[0] = 1;
    assert.throws(() => decodeUdpRequest(bad), UdpTrackerError);
    assert.equal(decodeUdpRequest(b.subarray(0, 15)), undefined);
  });

  test('announce round-trips, BEP 41 options after it ignored', () => {
    const params = {
      connectionId: CID,
      transactionId: 7,
      infoHash: Buffer.alloc(20, 0xaa),
      peerId: Buffer.alloc(20, 0xbb),
      downloaded: 2 ** 40 + 5,
      left: 0,
      uploaded: 3,
      event: AnnounceEvent.completed,
      key: 0x12345678,
      numwant: -1,
      port: 51413,
    };
    const b = encodeAnnounceRequest(params);
    assert.equal(b.length, ANNOUNCE_REQUEST_BYTES);
    const withOptions = Buffer.concat([b, Buffer.from([2, 5, 1, 2, 3, 4, 5])]);
    const r = decodeUdpRequest(withOptions);
    assert.ok(r !== undefined && r.action === UdpAction.announce);
    assert.deepEqual(r.connectionId, CID);
    assert.equal(r.transactionId, 7);
    assert.equal(r.downloaded, 2 ** 40 + 5);
    assert.equal(r.event, AnnounceEvent.completed);
    assert.equal(r.key, 0x12345678);
    assert.equal(r.numwant, -1);
    assert.equal(r.port, 51413);
    assert.equal(r.ip, 0);
    assert.throws(() => decodeUdpRequest(b.subarray(0, 97)), UdpTrackerError);
    const badEvent = Buffer.from(b);
    badEvent.writeUInt32BE(9, 80);
    assert.throws(() => decodeUdpRequest(badEvent), UdpTrackerError);
  });

  test('scrape: at most the cap of hashes is read', () => {
    const hashes = Array.from({ length: MAX_SCRAPE_HASHES }, (_, i) => Buffer.alloc(20, i));
    const b = encodeScrapeRequest(CID, 9, hashes);
    assert.equal(b.length, 16 + 20 * 74);
    const r = decodeUdpRequest(b, 10);
    assert.ok(r !== undefined && r.action === UdpAction.scrape);
    assert.equal(r.infoHashes.length, 10);
    assert.deepEqual(r.infoHashes[9], hashes[9]);
    assert.throws(() => encodeScrapeRequest(CID, 9, [...hashes, Buffer.alloc(20)]), UdpTrackerError);
    assert.throws(() => decodeUdpRequest(b.subarray(0, 30)), UdpTrackerError);
  });
});

describe('replies', () => {
  test('connect, announce (IPv4 and IPv6 peers), scrape, error', () => {
    const c = decodeUdpReply(encodeConnectReply(5, CID));
    assert.deepEqual(c, { action: UdpAction.connect, transactionId: 5, connectionId: CID });

    const peers4 = Buffer.concat([compactPeer('1.2.3.4', 80)!, compactPeer('5.6.7.8', 81)!]);
    const a = decodeUdpReply(
      encodeAnnounceReply({ transactionId: 6, intervalSec: 900, leechers: 2, seeders: 1 }, peers4),
    );
    assert.deepEqual(a, {
      action: UdpAction.announce,
      transactionId: 6,
      intervalSec: 900,
      leechers: 2,
      seeders: 1,
      peers: [
        { host: '1.2.3.4', port: 80 },
        { host: '5.6.7.8', port: 81 },
      ],
    });
    const peers6 = compactPeer('2001:db8::2', 443)!;
    const a6 = decodeUdpReply(
      encodeAnnounceReply({ transactionId: 6, intervalSec: 1, leechers: 0, seeders: 0 }, peers6),
      18,
    );
    assert.ok(a6.action === UdpAction.announce);
    assert.deepEqual(a6.peers, [{ host: '2001:db8::2', port: 443 }]);

    const s = decodeUdpReply(encodeScrapeReply(8, [{ seeders: 1, completed: 2, leechers: 3 }]));
    assert.deepEqual(s, {
      action: UdpAction.scrape,
      transactionId: 8,
      counts: [{ seeders: 1, completed: 2, leechers: 3 }],
    });

    const e = encodeErrorReply(9, 'x'.repeat(1000), 40);
    assert.equal(e.length, 40);
    assert.deepEqual(decodeUdpReply(e), {
      action: UdpAction.error,
      transactionId: 9,
      message: 'x'.repeat(32),
    });
  });

  test('property: decoders throw only UdpTrackerError on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), (bytes, v6) => {
        const b = Buffer.from(bytes);
        for (const f of [() => decodeUdpRequest(b), () => decodeUdpReply(b, v6 ? 18 : 6)]) {
          try {
            f();
          } catch (err) {
            assert.ok(err instanceof UdpTrackerError, String(err));
          }
        }
      }),
    );
  });
});
