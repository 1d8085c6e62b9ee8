// HTTP tracker messages: binary-safe query parsing, announce validation, reply codecs (compact,
// dictionary, peers6), IP literal codec, and that decoders only throw their typed errors.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { encode } from '../../../src/protocol/bencode.js';
import {
  AnnounceEvent,
  buildAnnounceQuery,
  buildScrapeQuery,
  bytesToIp,
  compactPeer,
  decodeCompactPeers,
  encodeCompactAnnounceReply,
  encodeDictAnnounceReply,
  encodeFailure,
  encodeScrapeReply,
  ipToBytes,
  parseAnnounceQuery,
  parseAnnounceReply,
  parseQuery,
  parseScrapeQuery,
  parseScrapeReply,
  percentDecode,
  percentEncode,
  scrapeUrlOf,
  TrackerReplyError,
  TrackerRequestError,
} from '../../../src/protocol/tracker-http.js';

const HASH = Buffer.from('00ff7f80' + '20'.repeat(4) + '2526263d3f' + 'c3a9'.repeat(3) + '41', 'hex');
const PEER_ID = Buffer.from('-BM0100-abcdefghijkl');

function validQuery(extra: Record<string, string> = {}, drop: string[] = []): string {
  const params: Record<string, string> = {
    info_hash: percentEncode(HASH),
    peer_id: percentEncode(PEER_ID),
    port: '6881',
    uploaded: '0',
    downloaded: '0',
    left: '100',
    ...extra,
  };
  return Object.entries(params)
    .filter(([k]) => !drop.includes(k))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

describe('percent-encoding', () => {
  test('decodes %XX to raw bytes, + to space; URLSearchParams would mangle these', () => {
    assert.equal(HASH.length, 20);
    const q = parseQuery(`info_hash=${percentEncode(HASH)}&a=b+c&flag`);
    assert.deepEqual(q.get('info_hash'), [HASH]);
    assert.deepEqual(q.get('a'), [Buffer.from('b c')]);
    assert.deepEqual(q.get('flag'), [Buffer.alloc(0)]);
    // Lowercase hex and literal unreserved bytes mixed in.
    assert.deepEqual(percentDecode('%ff%C3%a9x'), Buffer.from([0xff, 0xc3, 0xa9, 0x78]));
  });

  test('malformed escapes and non-ASCII are request errors', () => {
    for (const bad of ['%', '%4', '%zz', 'a%4g', '€']) {
      assert.throws(() => percentDecode(bad), TrackerRequestError, bad);
    }
  });

  test('property: decode(encode(bytes)) = bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        assert.deepEqual(percentDecode(percentEncode(bytes)), Buffer.from(bytes));
      }),
    );
  });

  test('too many parameters is an error, not an allocation', () => {
    assert.throws(() => parseQuery('a=1&'.repeat(300)), TrackerRequestError);
  });
});

describe('announce query', () => {
  test('a valid announce, with defaults', () => {
    const a = parseAnnounceQuery(validQuery());
    assert.deepEqual(a.infoHash, HASH);
    assert.deepEqual(a.peerId, PEER_ID);
    assert.equal(a.port, 6881);
    assert.equal(a.left, 100);
    assert.equal(a.event, AnnounceEvent.none);
    assert.equal(a.compact, true);
    assert.equal(a.noPeerId, false);
    assert.equal(a.numwant, undefined);
  });

  test('fields: event, numwant, compact=0, no_peer_id, ip, key, trackerid', () => {
    const a = parseAnnounceQuery(
      validQuery({
        event: 'completed',
        numwant: '30',
        compact: '0',
        no_peer_id: '1',
        ip: '10.0.0.1',
        key: 'abcd',
        trackerid: 'T1',
      }),
    );
    assert.equal(a.event, AnnounceEvent.completed);
    assert.equal(a.numwant, 30);
    assert.equal(a.compact, false);
    assert.equal(a.noPeerId, true);
    assert.equal(a.ip, '10.0.0.1');
    assert.deepEqual(a.key, Buffer.from('abcd'));
    assert.deepEqual(a.trackerId, Buffer.from('T1'));
    assert.equal(parseAnnounceQuery(validQuery({ numwant: '-1' })).numwant, undefined);
    assert.equal(parseAnnounceQuery(validQuery({}, ['left'])).left, undefined);
  });

  const malformed: [string, string][] = [
    ['info_hash of 19 bytes', validQuery({ info_hash: percentEncode(HASH.subarray(1)) })],
    ['info_hash of 21 bytes', validQuery({ info_hash: `${percentEncode(HASH)}A` })],
    ['missing info_hash', validQuery({}, ['info_hash'])],
    ['missing peer_id', validQuery({}, ['peer_id'])],
    ['short peer_id', validQuery({ peer_id: 'abc' })],
    ['missing port', validQuery({}, ['port'])],
    ['port 0', validQuery({ port: '0' })],
    ['port 65536', validQuery({ port: '65536' })],
    ['port negative', validQuery({ port: '-1' })],
    ['port not numeric', validQuery({ port: 'http' })],
    ['port hex', validQuery({ port: '0x1A' })],
    ['numwant huge', validQuery({ numwant: '99999999999999999999' })],
    ['numwant not numeric', validQuery({ numwant: 'all' })],
    ['left not numeric', validQuery({ left: '1e9' })],
    ['unknown event', validQuery({ event: 'exploded' })],
    ['repeated info_hash', `${validQuery()}&info_hash=${percentEncode(HASH)}`],
    ['broken escape', validQuery({ info_hash: '%GG' })],
    ['empty query', ''],
  ];
  for (const [name, q] of malformed) {
    test(`malformed: ${name}`, () => assert.throws(() => parseAnnounceQuery(q), TrackerRequestError));
  }

  test('property: buildAnnounceQuery → parseAnnounceQuery round-trips the fields', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 20, maxLength: 20 }),
        fc.uint8Array({ minLength: 20, maxLength: 20 }),
        fc.integer({ min: 1, max: 65535 }),
        fc.nat(),
        fc.constantFrom(...Object.values(AnnounceEvent)),
        (infoHash, peerId, port, left, event) => {
          const a = parseAnnounceQuery(
            buildAnnounceQuery({
              infoHash,
              peerId,
              port,
              uploaded: 5,
              downloaded: 6,
              left,
              event,
              numwant: 9,
            }),
          );
          assert.deepEqual(a.infoHash, Buffer.from(infoHash));
          assert.deepEqual(a.peerId, Buffer.from(peerId));
          assert.equal(a.port, port);
          assert.equal(a.left, left);
          assert.equal(a.event, event);
          assert.equal(a.numwant, 9);
          assert.equal(a.uploaded, 5);
        },
      ),
    );
  });

  test('property: parseAnnounceQuery on random text throws only TrackerRequestError', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (s) => {
        try {
          parseAnnounceQuery(s);
        } catch (err) {
          assert.ok(err instanceof TrackerRequestError, String(err));
        }
      }),
    );
  });
});

describe('scrape query', () => {
  test('reads the hashes, at most the cap', () => {
    const hashes = Array.from({ length: 5000 }, (_, i) => Buffer.alloc(20, i & 255));
    const got = parseScrapeQuery(buildScrapeQuery(hashes), 100);
    assert.equal(got.length, 100);
    assert.deepEqual(got[3], hashes[3]);
    assert.deepEqual(parseScrapeQuery('', 100), []);
    assert.throws(() => parseScrapeQuery('info_hash=abc', 100), TrackerRequestError);
  });
});

describe('IP literals', () => {
  const vectors: [string, string | undefined][] = [
    ['127.0.0.1', '127.0.0.1'],
    ['255.255.255.255', '255.255.255.255'],
    ['::1', '::1'],
    ['::', '::'],
    ['2001:db8::1', '2001:db8::1'],
    ['2001:DB8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['::ffff:10.1.2.3', '10.1.2.3'],
    ['[fe80::1]', 'fe80::1'],
    ['64:ff9b::192.0.2.33', '64:ff9b::c000:221'],
    ['256.0.0.1', undefined],
    ['1.2.3', undefined],
    ['01.2.3.4', undefined],
    ['example.com', undefined],
    ['1::2::3', undefined],
    ['fe80::1%eth0', undefined],
    ['1:2:3:4:5:6:7:8:9', undefined],
    ['', undefined],
  ];
  for (const [input, expected] of vectors) {
    test(`${JSON.stringify(input)} → ${expected}`, () => {
      const b = ipToBytes(input);
      assert.equal(b === undefined ? undefined : bytesToIp(b), expected);
    });
  }

  test('property: bytes → text → bytes for IPv6 (not mapped) and IPv4', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ minLength: 4, maxLength: 4 }),
          fc.uint8Array({ minLength: 16, maxLength: 16 }),
        ),
        (b) => {
          const back = ipToBytes(bytesToIp(b));
          const mapped =
            b.length === 16 && b.subarray(0, 10).every((x) => x === 0) && b[10] === 255 && b[11] === 255;
          assert.deepEqual(back, mapped ? Buffer.from(b.subarray(12)) : Buffer.from(b));
        },
      ),
    );
  });
});

describe('compact peers', () => {
  test('IPv4 and IPv6 entries round-trip; port 0 skipped; partial entries rejected', () => {
    const v4 = Buffer.concat([compactPeer('10.0.0.1', 6881)!, compactPeer('192.168.1.2', 1)!]);
    assert.equal(v4.length, 12);
    assert.deepEqual(decodeCompactPeers(v4, 6), [
      { host: '10.0.0.1', port: 6881 },
      { host: '192.168.1.2', port: 1 },
    ]);
    const v6 = Buffer.concat([compactPeer('2001:db8::7', 51413)!, compactPeer('::1', 0)!]);
    assert.equal(v6.length, 36);
    assert.deepEqual(decodeCompactPeers(v6, 18), [{ host: '2001:db8::7', port: 51413 }]);
    assert.throws(() => decodeCompactPeers(v4.subarray(0, 7), 6), TrackerReplyError);
    assert.equal(compactPeer('host.example', 1), undefined);
  });
});

describe('replies', () => {
  test('compact reply with peers and peers6 parses back', () => {
    const body = encodeCompactAnnounceReply(
      { intervalSec: 300, minIntervalSec: 60, complete: 2, incomplete: 3, trackerId: 'abc' },
      compactPeer('1.2.3.4', 5)!,
      compactPeer('2001:db8::1', 6)!,
    );
    const r = parseAnnounceReply(body);
    assert.equal(r.intervalSec, 300);
    assert.equal(r.minIntervalSec, 60);
    assert.equal(r.complete, 2);
    assert.equal(r.incomplete, 3);
    assert.deepEqual(r.trackerId, Buffer.from('abc'));
    assert.deepEqual(r.peers, [
      { host: '1.2.3.4', port: 5 },
      { host: '2001:db8::1', port: 6 },
    ]);
  });

  test('property: the hand-written compact encoder gives the canonical bencoding', () => {
    fc.assert(
      fc.property(
        fc.nat(),
        fc.nat(),
        fc.nat(),
        fc.option(fc.nat()),
        fc.uint8Array({ maxLength: 60 }),
        fc.uint8Array({ maxLength: 90 }),
        fc.option(fc.string({ maxLength: 10 }), { nil: undefined }),
        fc.option(fc.string({ maxLength: 10 }), { nil: undefined }),
        (complete, incomplete, intervalSec, minInterval, p4, p6, trackerId, warning) => {
          const fields = {
            complete,
            incomplete,
            intervalSec,
            ...(minInterval !== null ? { minIntervalSec: minInterval } : {}),
            ...(trackerId !== undefined ? { trackerId } : {}),
            ...(warning !== undefined ? { warning } : {}),
          };
          const expected = encode({
            complete,
            incomplete,
            interval: intervalSec,
            'min interval': minInterval ?? undefined,
            peers: p4,
            peers6: p6.length > 0 ? p6 : undefined,
            'tracker id': trackerId,
            'warning message': warning,
          });
          assert.deepEqual(encodeCompactAnnounceReply(fields, p4, p6), expected);
        },
      ),
    );
  });

  test('dictionary reply: peer id included unless no_peer_id; host names are not taken', () => {
    const peers = [
      { ip: Buffer.from([1, 2, 3, 4]), port: 5, peerId: PEER_ID },
      { ip: ipToBytes('::1')!, port: 7, peerId: PEER_ID },
    ];
    const withIds = encodeDictAnnounceReply({ intervalSec: 10, complete: 0, incomplete: 2 }, peers, false);
    assert.ok(withIds.includes(Buffer.from('7:peer id20:-BM0100-abcdefghijkl')));
    assert.ok(
      !encodeDictAnnounceReply({ intervalSec: 10, complete: 0, incomplete: 2 }, peers, true).includes(
        'peer id',
      ),
    );
    assert.deepEqual(parseAnnounceReply(withIds).peers, [
      { host: '1.2.3.4', port: 5 },
      { host: '::1', port: 7 },
    ]);
    const named = encode({
      interval: 5,
      peers: [
        { ip: 'evil.example', port: 1 },
        { ip: '5.6.7.8', port: 0 },
      ],
    });
    assert.deepEqual(parseAnnounceReply(named).peers, []);
  });

  test('failure reason becomes a TrackerReplyError with the reason', () => {
    assert.throws(() => parseAnnounceReply(encodeFailure('go away')), /tracker failure: go away/);
    assert.throws(() => parseAnnounceReply(Buffer.from('<html>')), TrackerReplyError);
    assert.throws(() => parseAnnounceReply(encode({ peers: '' })), /interval/);
  });

  test('scrape reply round-trips', () => {
    const body = encodeScrapeReply([{ infoHash: HASH, complete: 1, downloaded: 2, incomplete: 3 }]);
    assert.deepEqual(parseScrapeReply(body).get(HASH.toString('hex')), {
      complete: 1,
      downloaded: 2,
      incomplete: 3,
    });
  });

  test('property: reply parsers throw only TrackerReplyError on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        for (const parse of [parseAnnounceReply, parseScrapeReply]) {
          try {
            parse(bytes);
          } catch (err) {
            assert.ok(err instanceof TrackerReplyError, String(err));
          }
        }
      }),
    );
  });

  test('scrape URL convention (BEP 48)', () => {
    assert.equal(scrapeUrlOf('http://t.example/announce'), 'http://t.example/scrape');
    assert.equal(scrapeUrlOf('http://t.example/x/announce.php?k=1'), 'http://t.example/x/scrape.php?k=1');
    assert.equal(scrapeUrlOf('http://t.example/a'), undefined);
    assert.equal(scrapeUrlOf('http://t.example/announce/x'), undefined);
  });
});
