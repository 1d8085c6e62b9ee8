// BEP 14 announce codec: the exact bytes we send, what the parser tolerates (case, whitespace, LF
// line ends, unknown headers) and rejects (sizes, counts, ports, hashes), packet splitting, and
// fast-check round trips and fuzzing.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  formatLsdAnnounce,
  formatLsdAnnounces,
  LSD_MAX_INFO_HASHES,
  LSD_MAX_PACKET_BYTES,
  LsdError,
  LsdErrorReason,
  lsdInfoHashesPerPacket,
  parseLsdAnnounce,
} from '../../../src/protocol/lsd.js';

const H1 = Buffer.from('0123456789abcdef0123456789abcdef01234567', 'hex');
const H2 = Buffer.from('fedcba9876543210fedcba9876543210fedcba98', 'hex');
const text = (s: string): Buffer => Buffer.from(s, 'latin1');

function rejects(packet: string | Uint8Array, reason: LsdErrorReason): void {
  assert.throws(
    () => parseLsdAnnounce(typeof packet === 'string' ? text(packet) : packet),
    (e: unknown) => e instanceof LsdError && e.code === 'ERR_LSD' && e.reason === reason,
    typeof packet === 'string' ? JSON.stringify(packet) : undefined,
  );
}

describe('formatLsdAnnounce', () => {
  test('known vector (IPv4)', () => {
    const p = formatLsdAnnounce({ port: 6881, infoHashes: [H1, H2], cookie: 'abc123' });
    assert.equal(
      p.toString('latin1'),
      'BT-SEARCH * HTTP/1.1\r\nHost: 239.192.152.143:6771\r\nPort: 6881\r\n' +
        'Infohash: 0123456789abcdef0123456789abcdef01234567\r\n' +
        'Infohash: fedcba9876543210fedcba9876543210fedcba98\r\n' +
        'cookie: abc123\r\n\r\n\r\n',
    );
  });

  test('IPv6 Host header, and no cookie line without a cookie', () => {
    const p = formatLsdAnnounce({ port: 1, infoHashes: [H1], ipv6: true }).toString('latin1');
    assert.equal(
      p,
      'BT-SEARCH * HTTP/1.1\r\nHost: [ff15::efc0:988f]:6771\r\nPort: 1\r\n' +
        'Infohash: 0123456789abcdef0123456789abcdef01234567\r\n\r\n\r\n',
    );
  });

  test('refuses bad ports, hashes, cookies, and what does not fit in one packet', () => {
    const cases: [Parameters<typeof formatLsdAnnounce>[0], LsdErrorReason][] = [
      [{ port: 0, infoHashes: [H1] }, LsdErrorReason.badPort],
      [{ port: 65536, infoHashes: [H1] }, LsdErrorReason.badPort],
      [{ port: 1, infoHashes: [H1.subarray(1)] }, LsdErrorReason.badInfoHash],
      [{ port: 1, infoHashes: [H1], cookie: 'has space' }, LsdErrorReason.badCookie],
      [{ port: 1, infoHashes: [H1], cookie: 'x'.repeat(65) }, LsdErrorReason.badCookie],
      [{ port: 1, infoHashes: [] }, LsdErrorReason.missingField],
      [{ port: 1, infoHashes: Array(30).fill(H1) }, LsdErrorReason.tooLarge],
    ];
    for (const [o, reason] of cases) {
      assert.throws(
        () => formatLsdAnnounce(o),
        (e: unknown) => e instanceof LsdError && e.reason === reason,
        reason,
      );
    }
  });

  test('formatLsdAnnounces splits many hashes into packets within the cap', () => {
    const hashes = Array.from({ length: 100 }, (_, i) => Buffer.alloc(20, i));
    for (const ipv6 of [false, true]) {
      const packets = formatLsdAnnounces({ port: 6881, infoHashes: hashes, cookie: 'c'.repeat(64), ipv6 });
      const perPacket = lsdInfoHashesPerPacket({ port: 6881, cookie: 'c'.repeat(64), ipv6 });
      assert.equal(packets.length, Math.ceil(100 / perPacket));
      assert.ok(perPacket >= 20, `${perPacket} hashes per packet`);
      const back: Buffer[] = [];
      for (const p of packets) {
        assert.ok(p.length <= LSD_MAX_PACKET_BYTES, `${p.length} bytes`);
        back.push(...parseLsdAnnounce(p).infoHashes);
      }
      assert.deepEqual(back, hashes);
    }
  });
});

describe('parseLsdAnnounce', () => {
  test('parses what we send', () => {
    const p = formatLsdAnnounce({ port: 51413, infoHashes: [H1, H2], cookie: 'xyz' });
    assert.deepEqual(parseLsdAnnounce(p), {
      port: 51413,
      infoHashes: [H1, H2],
      cookie: 'xyz',
      host: '239.192.152.143:6771',
    });
  });

  test('tolerates case, whitespace, LF line ends, unknown headers, no Host, no blank lines', () => {
    const variants = [
      'bt-search * http/1.1\nport:6881\nINFOHASH:  0123456789ABCDEF0123456789ABCDEF01234567  \n',
      'BT-SEARCH  *  HTTP/1.1\r\nX-Other: yes\r\nPort :  6881\r\nInfoHash:\t0123456789abcdef0123456789abcdef01234567\r\n\r\n',
      'BT-SEARCH * HTTP/1.0\r\nInfohash: 0123456789abcdef0123456789abcdef01234567\r\nPort: 6881\r\n\r\nignored: after the blank line\r\n',
    ];
    for (const v of variants) {
      const a = parseLsdAnnounce(text(v));
      assert.equal(a.port, 6881, v);
      assert.deepEqual(a.infoHashes, [H1], v);
      assert.equal(a.cookie, undefined);
    }
  });

  test('a repeated info hash is reported once', () => {
    const a = parseLsdAnnounce(
      text(
        `BT-SEARCH * HTTP/1.1\r\nPort: 1\r\nInfohash: ${H1.toString('hex')}\r\nInfohash: ${H1.toString('hex').toUpperCase()}\r\n\r\n`,
      ),
    );
    assert.deepEqual(a.infoHashes, [H1]);
  });

  test('rejects what is not a well-formed announce', () => {
    const ih = `Infohash: ${H1.toString('hex')}\r\n`;
    const head = 'BT-SEARCH * HTTP/1.1\r\n';
    rejects('', LsdErrorReason.badRequestLine);
    rejects('GET / HTTP/1.1\r\n\r\n', LsdErrorReason.badRequestLine);
    rejects('BT-SEARCH * HTTP/2\r\n\r\n', LsdErrorReason.badRequestLine);
    rejects('BT-SEARCH *\r\n\r\n', LsdErrorReason.badRequestLine);
    rejects(`${head}${ih}\r\n`, LsdErrorReason.missingField);
    rejects(`${head}Port: 1\r\n\r\n`, LsdErrorReason.missingField);
    for (const port of ['0', '65536', '-1', '+1', '1e3', '0x10', '', '123456', '1 2']) {
      rejects(`${head}Port: ${port}\r\n${ih}\r\n`, LsdErrorReason.badPort);
    }
    rejects(`${head}Port: 1\r\nPort: 2\r\n${ih}\r\n`, LsdErrorReason.badPort);
    for (const hash of [
      H1.toString('hex').slice(1),
      `${H1.toString('hex')}0`,
      'g'.repeat(40),
      H1.toString('base64'),
    ]) {
      rejects(`${head}Port: 1\r\nInfohash: ${hash}\r\n\r\n`, LsdErrorReason.badInfoHash);
    }
    rejects(`${head}Port: 1\r\n${ih}cookie: a b\r\n\r\n`, LsdErrorReason.badCookie);
    rejects(`${head}Port: 1\r\n${ih}cookie: ${'c'.repeat(65)}\r\n\r\n`, LsdErrorReason.badCookie);
    rejects(`${head}Port: 1\r\n${ih}cookie:\r\n\r\n`, LsdErrorReason.badCookie);
    rejects(`${head}Port: 1\r\n${ih}cookie: a\r\ncookie: b\r\n\r\n`, LsdErrorReason.badCookie);
    rejects(`${head}no colon here\r\nPort: 1\r\n${ih}\r\n`, LsdErrorReason.badHeader);
    rejects(`${head}: empty name\r\nPort: 1\r\n${ih}\r\n`, LsdErrorReason.badHeader);
  });

  test('size cap: 1400 bytes parse, 1401 do not', () => {
    // Each hash line takes at least 50 bytes, so the size cap also bounds the count (about 27);
    // LSD_MAX_INFO_HASHES only matters if the size cap is ever raised.
    let packet = 'BT-SEARCH * HTTP/1.1\nPort:1\n';
    let n = 0;
    while (packet.length + 50 <= LSD_MAX_PACKET_BYTES - 1) {
      packet += `infohash:${Buffer.alloc(20, n++).toString('hex')}\n`;
    }
    packet += '\n';
    packet += 'x'.repeat(LSD_MAX_PACKET_BYTES - packet.length);
    assert.equal(packet.length, LSD_MAX_PACKET_BYTES);
    assert.equal(parseLsdAnnounce(text(packet)).infoHashes.length, n);
    assert.ok(n < LSD_MAX_INFO_HASHES);
    rejects(`${packet}x`, LsdErrorReason.tooLarge);
  });
});

describe('properties', () => {
  const hash = fc.uint8Array({ minLength: 20, maxLength: 20 }).map((b) => Buffer.from(b));
  const cookie = fc.stringMatching(/^[\x21-\x7e]{1,64}$/);

  test('parse(format(x)) = x for every packet formatLsdAnnounces makes', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 65535 }),
        fc.uniqueArray(hash, { minLength: 1, maxLength: 80, selector: (h) => h.toString('hex') }),
        fc.option(cookie, { nil: undefined }),
        fc.boolean(),
        (port, infoHashes, c, ipv6) => {
          const packets = formatLsdAnnounces({
            port,
            infoHashes,
            ipv6,
            ...(c === undefined ? {} : { cookie: c }),
          });
          const back: Buffer[] = [];
          for (const p of packets) {
            assert.ok(p.length <= LSD_MAX_PACKET_BYTES);
            const a = parseLsdAnnounce(p);
            assert.equal(a.port, port);
            assert.equal(a.cookie, c);
            back.push(...a.infoHashes);
          }
          assert.deepEqual(back, infoHashes);
        },
      ),
      { numRuns: 300 },
    );
  });

  test('random bytes and mutated packets throw only LsdError', () => {
    const valid = formatLsdAnnounce({ port: 6881, infoHashes: [H1, H2], cookie: 'abc' });
    const mutated = fc
      .array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 8 })
      .map((edits) => {
        const b = Buffer.from(valid);
        for (const [i, v] of edits) b[i] = v;
        return b;
      });
    for (const arb of [fc.uint8Array({ maxLength: 1600 }), mutated]) {
      fc.assert(
        fc.property(arb, (bytes) => {
          try {
            const a = parseLsdAnnounce(bytes);
            assert.ok(a.port >= 1 && a.port <= 65535);
            assert.ok(a.infoHashes.length >= 1 && a.infoHashes.every((h) => h.length === 20));
          } catch (e) {
            assert.ok(e instanceof LsdError, String(e));
          }
        }),
        { numRuns: 3000 },
      );
    }
  });
});
