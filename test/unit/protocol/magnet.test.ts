// Magnet links: hex and base32 btih, dn, tr, x.pe, ws, so; bad hashes; tracker filtering; and the
// formatMagnet → parseMagnet round trip.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { MagnetError } from '../../../src/protocol/errors.js';
import { base32Decode, formatMagnet, isMagnet, parseMagnet } from '../../../src/protocol/magnet.js';

const HEX = 'c12fe1c06bba254a9dc9f519b335aa7c1367a88a';
// base64.b32encode(bytes.fromhex(HEX)) in Python.
const BASE32 = 'YEX6DQDLXISUVHOJ6UM3GNNKPQJWPKEK';

function magnetError(uri: string, message: string): void {
  assert.throws(
    () => parseMagnet(uri),
    (err: unknown) => {
      assert.ok(err instanceof MagnetError, String(err));
      assert.equal(err.code, 'ERR_MAGNET');
      assert.ok(err.message.includes(message), `"${err.message}" should include "${message}"`);
      assert.doesNotMatch(err.message, /\n/);
      return true;
    },
  );
}

describe('magnet: parse', () => {
  it('hex btih, upper or lower case', () => {
    for (const h of [HEX, HEX.toUpperCase()]) {
      const m = parseMagnet(`magnet:?xt=urn:btih:${h}`);
      assert.equal(m.infoHashHex, HEX);
      assert.equal(m.infoHash.length, 20);
      assert.deepEqual(m.trackers, []);
      assert.equal(m.name, undefined);
      assert.equal(m.selectOnly, undefined);
    }
  });

  it('base32 btih, upper or lower case, gives the same hash', () => {
    assert.equal(parseMagnet(`magnet:?xt=urn:btih:${BASE32}`).infoHashHex, HEX);
    assert.equal(parseMagnet(`magnet:?xt=URN:BTIH:${BASE32.toLowerCase()}`).infoHashHex, HEX);
    assert.equal(base32Decode(BASE32)?.toString('hex'), HEX);
    assert.equal(base32Decode('1'), undefined);
  });

  it('dn, tr, x.pe, ws and so', () => {
    const m = parseMagnet(
      `magnet:?xt=urn:btih:${HEX}&dn=My+Movie%20%C3%A9` +
        '&tr=http%3A%2F%2F127.0.0.1%3A6969%2Fannounce&tr=udp://127.0.0.1:6970&tr=udp://127.0.0.1:6970' +
        '&x.pe=127.0.0.1:6881&x.pe=[::1]:6882&x.pe=localhost:1' +
        '&ws=http%3A%2F%2F127.0.0.1%2Ffiles%2F&so=0,2,4-6,2',
    );
    assert.equal(m.name, 'My Movie é');
    assert.deepEqual(m.trackers, ['http://127.0.0.1:6969/announce', 'udp://127.0.0.1:6970']);
    assert.deepEqual(m.peers, ['127.0.0.1:6881', '[::1]:6882', 'localhost:1']);
    assert.deepEqual(m.webSeeds, ['http://127.0.0.1/files/']);
    assert.deepEqual(m.selectOnly, [0, 2, 4, 5, 6]);
    assert.deepEqual(m.warnings, []);
  });

  it('drops trackers that are not http, https or udp, with a warning', () => {
    const m = parseMagnet(
      `magnet:?xt=urn:btih:${HEX}&tr=wss://127.0.0.1:1&tr=HTTPS://127.0.0.1/a&tr=dht://x&tr=%1b%5b2J`,
    );
    assert.deepEqual(m.trackers, ['HTTPS://127.0.0.1/a']);
    assert.deepEqual(m.warnings, [
      'tracker "wss://127.0.0.1:1" ignored: only http, https and udp are supported',
      'tracker "dht://x" ignored: only http, https and udp are supported',
      'tracker "\\u001b[2J" ignored: only http, https and udp are supported',
    ]);
  });

  it('drops peers that are not host:port, with a warning', () => {
    const m = parseMagnet(`magnet:?xt=urn:btih:${HEX}&x.pe=127.0.0.1&x.pe=a b:1&x.pe=127.0.0.1:123456`);
    assert.deepEqual(m.peers, []);
    assert.equal(m.warnings.length, 3);
  });

  it('the same btih twice is fine; a btmh next to a btih is the v2 hash of a hybrid', () => {
    const m = parseMagnet(
      `magnet:?xt=urn:btih:${HEX}&xt=urn:btih:${BASE32}&xt=urn:btmh:1220${'ab'.repeat(32)}`,
    );
    assert.equal(m.infoHashHex, HEX);
    assert.equal(m.infoHashV2?.toString('hex'), 'ab'.repeat(32));
  });

  it('a btmh alone (v2-only): known by its first 20 bytes; formatted back without a btih', () => {
    const v2 = `${'12'.repeat(20)}${'34'.repeat(12)}`;
    const m = parseMagnet(`magnet:?xt=urn:btmh:1220${v2}&dn=x`);
    assert.equal(m.infoHashHex, '12'.repeat(20));
    assert.equal(m.infoHashV2?.toString('hex'), v2);
    assert.equal(
      formatMagnet({ infoHash: m.infoHash, infoHashV2: m.infoHashV2, v2Only: true, name: 'x' }),
      `magnet:?xt=urn:btmh:1220${v2}&dn=x`,
    );
    assert.equal(
      formatMagnet({ infoHash: Buffer.from(HEX, 'hex'), infoHashV2: m.infoHashV2 }),
      `magnet:?xt=urn:btih:${HEX}&xt=urn:btmh:1220${v2}`,
    );
  });

  const bad: [string, string, string][] = [
    ['not a magnet', 'http://127.0.0.1/x.torrent', 'not a magnet link'],
    ['no xt', 'magnet:?dn=x', 'xt: missing urn:btih or urn:btmh info hash'],
    ['39 hex digits', `magnet:?xt=urn:btih:${HEX.slice(1)}`, 'is not a 40-digit hex or 32-character base32'],
    ['41 hex digits', `magnet:?xt=urn:btih:${HEX}0`, 'is not a 40-digit hex'],
    ['non-hex character', `magnet:?xt=urn:btih:${HEX.slice(1)}g`, 'is not a 40-digit hex'],
    ['base32 with a 1', `magnet:?xt=urn:btih:${BASE32.slice(1)}1`, 'is not a 40-digit hex'],
    ['33 base32 characters', `magnet:?xt=urn:btih:${BASE32}A`, 'is not a 40-digit hex'],
    ['empty hash', 'magnet:?xt=urn:btih:', 'is not a 40-digit hex'],
    ['control character in hash', 'magnet:?xt=urn:btih:%1b%5b2J', 'xt: "\\u001b[2J" is not'],
    ['newline after btih', 'magnet:?xt=urn:btih:%0a', 'xt: missing urn:btih'],
    [
      'two different hashes',
      `magnet:?xt=urn:btih:${HEX}&xt=urn:btih:${'0'.repeat(40)}`,
      'two different btih',
    ],
    ['btmh not sha2-256', `magnet:?xt=urn:btmh:1114${'00'.repeat(20)}`, 'is not a SHA-256 multihash'],
    ['btmh too short', `magnet:?xt=urn:btmh:1220${'00'.repeat(31)}`, 'is not a SHA-256 multihash'],
    [
      'two different btmh',
      `magnet:?xt=urn:btmh:1220${'00'.repeat(32)}&xt=urn:btmh:1220${'01'.repeat(32)}`,
      'two different btmh',
    ],
    ['so not a number', `magnet:?xt=urn:btih:${HEX}&so=x`, 'so: "x" is not an index or a range'],
    ['so reversed range', `magnet:?xt=urn:btih:${HEX}&so=5-2`, 'so: bad range "5-2"'],
    ['so huge range', `magnet:?xt=urn:btih:${HEX}&so=0-1000000000`, 'so: selects more than 100000 files'],
    [
      'so: many ranges that add up past the cap',
      `magnet:?xt=urn:btih:${HEX}&so=${Array.from({ length: 20 }, (_, i) => `${i * 10_000}-${i * 10_000 + 9_999}`).join(',')}`,
      'so: selects more than 100000 files',
    ],
    [
      'so range past 2^53',
      `magnet:?xt=urn:btih:${HEX}&so=0-99999999999999999999`,
      'is not an index or a range',
    ],
  ];
  for (const [what, uri, message] of bad) {
    it(`rejects: ${what}`, () => magnetError(uri, message));
  }

  // Issue 19: 40,000 `tr=` took 16 s (a linear search per tracker), 200,000 over 5 minutes; a huge
  // `so=` range built a Set until "Set maximum size exceeded" (a RangeError: exit 1, HTTP 500).
  // A bound, not a measurement: the quadratic parser took minutes here, the linear one milliseconds.
  it('200,000 tr= is refused at once with a MagnetError, not parsed quadratically', {
    timeout: 20_000,
  }, (t) => {
    const uri = `magnet:?xt=urn:btih:${HEX}${Array.from({ length: 200_000 }, (_, i) => `&tr=http://t${i}.example/announce`).join('')}`;
    const t0 = performance.now();
    magnetError(uri, 'tr: 200000 trackers, more than the 500 a magnet link may name');
    t.diagnostic(`200,000 tr= refused in ${(performance.now() - t0).toFixed(0)} ms`);
  });

  it('200,000 x.pe is refused with a MagnetError', () => {
    const uri = `magnet:?xt=urn:btih:${HEX}${'&x.pe=10.0.0.1:6881'.repeat(200_000)}`;
    magnetError(uri, 'x.pe: 200000 peers, more than the 500');
  });

  it('500 distinct trackers and 500 peers (the caps) are kept, duplicates once, in order', () => {
    const trs = Array.from({ length: 500 }, (_, i) => `udp://t${i % 250}.example:80`);
    const pes = Array.from({ length: 500 }, (_, i) => `10.0.${i >> 8}.${i & 255}:6881`);
    const m = parseMagnet(
      `magnet:?xt=urn:btih:${HEX}${trs.map((t) => `&tr=${t}`).join('')}${pes.map((p) => `&x.pe=${p}`).join('')}`,
    );
    assert.equal(m.trackers.length, 250);
    assert.equal(m.trackers[0], 'udp://t0.example:80');
    assert.equal(m.trackers[249], 'udp://t249.example:80');
    assert.equal(m.peers.length, 500);
  });

  it('ignored trackers give at most 10 warnings and a count of the rest', () => {
    const m = parseMagnet(`magnet:?xt=urn:btih:${HEX}${'&tr=ftp://x/'.repeat(300)}`);
    assert.deepEqual(m.trackers, []);
    assert.equal(m.warnings.length, 11);
    assert.equal(m.warnings[10], '290 more trackers or peers ignored');
  });

  it('so: 100,000 selected files at most; overlapping ranges merged, in order', () => {
    assert.equal(parseMagnet(`magnet:?xt=urn:btih:${HEX}&so=0-99999`).selectOnly?.length, 100_000);
    assert.deepEqual(parseMagnet(`magnet:?xt=urn:btih:${HEX}&so=7,2-4,3-5,0`).selectOnly, [0, 2, 3, 4, 5, 7]);
  });

  it('isMagnet', () => {
    assert.ok(isMagnet('magnet:?xt=x'));
    assert.ok(isMagnet('MAGNET:?xt=x'));
    assert.ok(!isMagnet('file.torrent'));
    assert.ok(!isMagnet('magnet:xt=x'));
  });
});

describe('magnet: format', () => {
  it('formats every field in a fixed order, percent-encoded', () => {
    const uri = formatMagnet({
      infoHash: Buffer.from(HEX, 'hex'),
      name: 'a b&c=d',
      trackers: ['http://127.0.0.1:1/announce'],
      webSeeds: ['http://127.0.0.1/ws'],
      peers: ['127.0.0.1:6881'],
      selectOnly: [1, 3],
    });
    assert.equal(
      uri,
      `magnet:?xt=urn:btih:${HEX}&dn=a%20b%26c%3Dd&tr=http%3A%2F%2F127.0.0.1%3A1%2Fannounce` +
        '&ws=http%3A%2F%2F127.0.0.1%2Fws&x.pe=127.0.0.1%3A6881&so=1,3',
    );
    assert.equal(formatMagnet({ infoHash: Buffer.alloc(20) }), `magnet:?xt=urn:btih:${'0'.repeat(40)}`);
  });

  it('parseMagnet(formatMagnet(m)) = m (property)', () => {
    const tracker = fc.oneof(
      fc.webUrl({ validSchemes: ['http', 'https'] }),
      fc.nat({ max: 65535 }).map((p) => `udp://127.0.0.1:${p}`),
    );
    const peer = fc.oneof(
      fc.ipV4().map((ip) => `${ip}:6881`),
      fc.nat({ max: 65535 }).map((p) => `[::1]:${p}`),
    );
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 20, maxLength: 20 }),
        fc.option(fc.string({ unit: 'grapheme', maxLength: 20 }), { nil: undefined }),
        fc.uniqueArray(tracker, { maxLength: 4 }),
        fc.array(peer, { maxLength: 3 }),
        fc.array(fc.webUrl(), { maxLength: 2 }),
        fc.uniqueArray(fc.nat({ max: 500 }), { maxLength: 5 }).map((a) => a.sort((x, y) => x - y)),
        (infoHash, name, trackers, peers, webSeeds, selectOnly) => {
          const m = parseMagnet(formatMagnet({ infoHash, name, trackers, peers, webSeeds, selectOnly }));
          assert.deepEqual([...m.infoHash], [...infoHash]);
          assert.equal(m.name, name);
          assert.deepEqual(m.trackers, trackers);
          assert.deepEqual(m.peers, peers);
          assert.deepEqual(m.webSeeds, webSeeds);
          assert.deepEqual(m.selectOnly, selectOnly.length > 0 ? selectOnly : undefined);
          assert.deepEqual(m.warnings, []);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('parseMagnet never throws anything but MagnetError on arbitrary input', () => {
    const piece = fc.constantFrom(
      'xt=urn:btih:',
      HEX,
      BASE32,
      '&',
      '=',
      'so=',
      '1-',
      ',',
      'tr=',
      '%',
      'x.pe=',
      ':',
    );
    fc.assert(
      fc.property(fc.array(fc.oneof(piece, fc.string({ maxLength: 6 })), { maxLength: 12 }), (parts) => {
        try {
          parseMagnet(`magnet:?${parts.join('')}`);
        } catch (err) {
          if (!(err instanceof MagnetError)) throw err;
        }
      }),
      { numRuns: 1000 },
    );
  });
});
