// Peer wire codec: known vectors, caps checked before buffering, and property tests
// (round trip, any chunking of the stream, random bytes give only ProtocolError or need-more).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  BLOCK_SIZE,
  blockKey,
  DisconnectReason,
  decodeHandshake,
  decodeMessage,
  encodeExtendedHeader,
  encodeHandshake,
  encodeMessage,
  encodePieceHeader,
  FrameReader,
  featuresOf,
  MAX_HASHES_PER_MESSAGE,
  type Message,
  makeReserved,
  ProtocolError,
} from '../../../src/protocol/peer-wire.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function protocolError(reason: DisconnectReason): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof ProtocolError, `expected ProtocolError, got ${String(err)}`);
    assert.equal(err.reason, reason);
    assert.equal(err.code, 'ERR_PROTOCOL');
    return true;
  };
}

describe('peer wire vectors', () => {
  const vectors: [string, Message][] = [
    ['00000000', { type: 'keep-alive' }],
    ['00000001 00', { type: 'choke' }],
    ['00000001 01', { type: 'unchoke' }],
    ['00000001 02', { type: 'interested' }],
    ['00000001 03', { type: 'not-interested' }],
    ['00000005 04 0000002a', { type: 'have', piece: 42 }],
    ['00000003 05 ff80', { type: 'bitfield', bits: hex('ff80') }],
    ['0000000d 06 00000001 00004000 00004000', { type: 'request', piece: 1, offset: 16384, length: 16384 }],
    ['0000000c 07 00000002 00000000 616263', { type: 'piece', piece: 2, offset: 0, data: hex('616263') }],
    ['0000000d 08 ffffffff 00000000 00000001', { type: 'cancel', piece: 0xffffffff, offset: 0, length: 1 }],
    ['00000003 09 1ae1', { type: 'port', port: 6881 }],
    ['00000005 0d 00000007', { type: 'suggest', piece: 7 }],
    ['00000001 0e', { type: 'have-all' }],
    ['00000001 0f', { type: 'have-none' }],
    ['0000000d 10 00000003 00008000 00002000', { type: 'reject', piece: 3, offset: 32768, length: 8192 }],
    ['00000005 11 00000009', { type: 'allowed-fast', piece: 9 }],
    ['00000004 14 00 6465', { type: 'extended', id: 0, payload: hex('6465') }],
    ['00000003 63 aabb', { type: 'unknown', id: 99, payload: hex('aabb') }],
  ];
  for (const [bytes, message] of vectors) {
    test(`${message.type} encodes and decodes`, () => {
      const wire = hex(bytes);
      assert.deepEqual(encodeMessage(message), wire);
      const r = decodeMessage(wire, 0, { pieceCount: 9 });
      assert.ok('message' in r);
      assert.equal(r.consumed, wire.length);
      assert.deepEqual(normalize(r.message), normalize(message));
    });
  }

  test('the piece payload is a view into the input, not a copy', () => {
    const wire = Buffer.concat([
      Buffer.alloc(3),
      encodeMessage({ type: 'piece', piece: 1, offset: 2, data: hex('0102') }),
    ]);
    const r = decodeMessage(wire, 3);
    assert.ok('message' in r && r.message.type === 'piece');
    assert.equal(r.message.data.buffer, wire.buffer);
    wire[wire.length - 1] = 0x77;
    assert.equal(r.message.data[1], 0x77);
  });

  test('header-only encoders match the full encoding', () => {
    const data = Buffer.alloc(BLOCK_SIZE, 5);
    const full = encodeMessage({ type: 'piece', piece: 3, offset: 16384, data });
    assert.deepEqual(Buffer.concat([encodePieceHeader(3, 16384, data.length), data]), full);
    const payload = hex('64313a6569316565');
    const ext = encodeMessage({ type: 'extended', id: 3, payload });
    assert.deepEqual(Buffer.concat([encodeExtendedHeader(3, payload.length), payload]), ext);
  });

  test('need-more counts the missing bytes', () => {
    const wire = encodeMessage({ type: 'request', piece: 1, offset: 2, length: 3 });
    assert.deepEqual(decodeMessage(wire.subarray(0, 2), 0), { need: 2 });
    assert.deepEqual(decodeMessage(wire.subarray(0, 4), 0), { need: 1 });
    assert.deepEqual(decodeMessage(wire.subarray(0, 10), 0), { need: 7 });
    assert.deepEqual(decodeMessage(wire, 0, {}, 16), { need: 1 });
  });
});

describe('peer wire caps', () => {
  test('length 0xFFFFFFFF is refused from the prefix alone', () => {
    assert.throws(() => decodeMessage(hex('ffffffff'), 0), protocolError(DisconnectReason.messageTooLarge));
  });

  test('a block larger than 16 KiB is refused before its bytes arrive', () => {
    const head = encodePieceHeader(0, 0, BLOCK_SIZE + 1);
    assert.throws(() => decodeMessage(head, 0), protocolError(DisconnectReason.messageTooLarge));
    const ok = encodePieceHeader(0, 0, BLOCK_SIZE);
    assert.deepEqual(decodeMessage(ok, 0), { need: BLOCK_SIZE });
  });

  test('fixed-size messages must have exactly their size', () => {
    // choke with a byte, have of 3 bytes, request of 13, port of 1, piece too short, extended empty
    for (const wire of [
      '00000002 00 00',
      '00000004 04',
      '0000000e 06',
      '00000002 09',
      '00000008 07',
      '00000001 14',
    ]) {
      assert.throws(
        () => decodeMessage(hex(wire), 0),
        protocolError(DisconnectReason.badMessageLength),
        wire,
      );
    }
  });

  test('a bitfield must match the piece count and keep spare bits clear', () => {
    assert.throws(
      () => decodeMessage(hex('00000002 05 ff'), 0, { pieceCount: 9 }),
      protocolError(DisconnectReason.bitfieldSize),
    );
    assert.throws(
      () => decodeMessage(hex('00000003 05 ffc0'), 0, { pieceCount: 9 }),
      protocolError(DisconnectReason.bitfieldSpareBits),
    );
    const r = decodeMessage(hex('00000003 05 ff80'), 0, { pieceCount: 9 });
    assert.ok('message' in r);
    // Unknown piece count (magnet): any size up to the cap.
    assert.ok('message' in decodeMessage(hex('00000003 05 ffff'), 0));
    assert.throws(
      () => decodeMessage(hex('00000011 05'), 0, { maxBitfieldBytes: 8 }),
      protocolError(DisconnectReason.messageTooLarge),
    );
  });

  test('an extended message is capped at 1 MiB', () => {
    const len = Buffer.alloc(5);
    len.writeUInt32BE(1024 * 1024 + 1);
    len[4] = 20;
    assert.throws(() => decodeMessage(len, 0), protocolError(DisconnectReason.messageTooLarge));
    len.writeUInt32BE(1024 * 1024);
    assert.deepEqual(decodeMessage(len, 0), { need: 1024 * 1024 - 1 });
  });

  test('unknown ids are capped too', () => {
    const b = hex('00010001 63');
    assert.throws(() => decodeMessage(b, 0), protocolError(DisconnectReason.messageTooLarge));
  });
});

describe('handshake', () => {
  const infoHash = Buffer.alloc(20, 0xab);
  const peerId = Buffer.from('-BM0100-abcdefghijkl');

  test('encodes the BEP 3 layout with feature bits', () => {
    const reserved = makeReserved({ extended: true, fast: true, dht: true });
    assert.deepEqual(Buffer.from(reserved), hex('0000000000100005'));
    const wire = encodeHandshake({ reserved, infoHash, peerId });
    assert.equal(wire.length, 68);
    assert.equal(wire[0], 19);
    assert.equal(wire.subarray(1, 20).toString('latin1'), 'BitTorrent protocol');
    const r = decodeHandshake(wire);
    assert.ok('message' in r);
    assert.equal(r.consumed, 68);
    assert.deepEqual(Buffer.from(r.message.infoHash), infoHash);
    assert.deepEqual(Buffer.from(r.message.peerId), peerId);
    assert.deepEqual(featuresOf(r.message.reserved), { extended: true, fast: true, dht: true, v2: false });
    assert.deepEqual(featuresOf(new Uint8Array(8)), { extended: false, fast: false, dht: false, v2: false });
  });

  test('a wrong protocol string is refused as soon as its bytes arrive', () => {
    assert.throws(() => decodeHandshake(hex('13 42 69 74 58')), protocolError(DisconnectReason.badHandshake));
    assert.throws(() => decodeHandshake(Buffer.from('GET /')), protocolError(DisconnectReason.badHandshake));
    assert.deepEqual(decodeHandshake(hex('13 42 69 74')), { need: 64 });
  });
});

// ---------------------------------------------------------------------------------------------------
// Property tests

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const bytes = (max: number): fc.Arbitrary<Uint8Array> => fc.uint8Array({ maxLength: max });
const PIECES = 37;

const arbMessage: fc.Arbitrary<Message> = fc.oneof(
  fc.constant<Message>({ type: 'keep-alive' }),
  fc.constantFrom<Message>(
    { type: 'choke' },
    { type: 'unchoke' },
    { type: 'interested' },
    { type: 'not-interested' },
    { type: 'have-all' },
    { type: 'have-none' },
  ),
  fc.record({
    type: fc.constantFrom('have', 'suggest', 'allowed-fast'),
    piece: u32,
  }) as fc.Arbitrary<Message>,
  fc.record({
    type: fc.constantFrom('request', 'cancel', 'reject'),
    piece: u32,
    offset: u32,
    length: u32,
  }) as fc.Arbitrary<Message>,
  fc.record({
    type: fc.constant('piece'),
    piece: u32,
    offset: u32,
    data: bytes(BLOCK_SIZE),
  }) as fc.Arbitrary<Message>,
  fc.record({
    type: fc.constant('port'),
    port: fc.integer({ min: 0, max: 0xffff }),
  }) as fc.Arbitrary<Message>,
  fc.record({
    type: fc.constant('extended'),
    id: fc.integer({ min: 0, max: 255 }),
    payload: bytes(300),
  }) as fc.Arbitrary<Message>,
  fc.record({
    type: fc.constant('unknown'),
    id: fc.integer({ min: 24, max: 255 }),
    payload: bytes(50),
  }) as fc.Arbitrary<Message>,
  fc.record({
    type: fc.constantFrom('hash-request', 'hash-reject'),
    piecesRoot: fc.uint8Array({ minLength: 32, maxLength: 32 }),
    baseLayer: u32,
    index: u32,
    length: u32,
    proofLayers: u32,
  }) as fc.Arbitrary<Message>,
  fc.record({
    type: fc.constant('hashes'),
    piecesRoot: fc.uint8Array({ minLength: 32, maxLength: 32 }),
    baseLayer: u32,
    index: u32,
    length: u32,
    proofLayers: u32,
    hashes: fc
      .integer({ min: 0, max: 8 })
      .chain((n) => fc.uint8Array({ minLength: 32 * n, maxLength: 32 * n })),
  }) as fc.Arbitrary<Message>,
  fc.uint8Array({ minLength: Math.ceil(PIECES / 8), maxLength: Math.ceil(PIECES / 8) }).map((b): Message => {
    b[b.length - 1]! &= 0xff << (b.length * 8 - PIECES);
    return { type: 'bitfield', bits: b };
  }),
);

/** Compare messages by value (Buffer vs Uint8Array views compare equal by content). */
function normalize(m: Message): unknown {
  const out: Record<string, unknown> = { ...m };
  for (const k of ['data', 'payload', 'bits', 'piecesRoot', 'hashes'])
    if (out[k] instanceof Uint8Array) out[k] = Buffer.from(out[k]).toString('hex');
  return out;
}

/** Hands each message the reader has now to `take`, before asking for the next. */
function drain(reader: FrameReader, take: (m: Message) => void): void {
  for (
    let m = reader.nextMessage({ pieceCount: PIECES });
    m;
    m = reader.nextMessage({ pieceCount: PIECES })
  ) {
    take(m);
  }
}

function split(buf: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const p of [...points, buf.length]) {
    if (p > prev) out.push(Uint8Array.from(buf.subarray(prev, p)));
    prev = p;
  }
  return out;
}

/** Checks `body` (300 runs) on any list of messages, encoded as one stream and cut anywhere. */
function forAnySplitStream(body: (msgs: Message[], stream: Buffer, chunks: Uint8Array[]) => void): void {
  fc.assert(
    fc.property(
      fc.array(arbMessage, { maxLength: 12 }),
      fc.array(fc.nat(), { maxLength: 40 }),
      (msgs, cuts) => {
        const stream = Buffer.concat(msgs.map(encodeMessage));
        body(msgs, stream, split(stream, cuts));
      },
    ),
    { numRuns: 300 },
  );
}

describe('peer wire properties', () => {
  test('decode(encode(m)) = m', () => {
    fc.assert(
      fc.property(arbMessage, (m) => {
        const wire = encodeMessage(m);
        const r = decodeMessage(wire, 0, { pieceCount: PIECES, maxUnknownBytes: 64 });
        assert.ok('message' in r);
        assert.equal(r.consumed, wire.length);
        assert.deepEqual(normalize(r.message), normalize(m));
      }),
      { numRuns: 500 },
    );
  });

  test('framing survives any split or coalescing of the stream', () => {
    forAnySplitStream((msgs, _stream, chunks) => {
      const reader = new FrameReader();
      const got: Message[] = [];
      for (const chunk of chunks) {
        reader.push(chunk);
        drain(reader, (m) => got.push(m));
      }
      assert.equal(reader.bufferedBytes, 0);
      // Every view handed out must still hold its bytes after all later chunks were processed.
      assert.deepEqual(got.map(normalize), msgs.map(normalize));
    });
  });

  test('transient mode: chunks in one reused buffer, every message intact when it is handed out', () => {
    forAnySplitStream((msgs, stream, chunks) => {
      const reader = new FrameReader({ transient: true });
      const shared = Buffer.alloc(stream.length + 1);
      const got: unknown[] = [];
      const kept: Message[] = [];
      for (const chunk of chunks) {
        // as a socket reading into one buffer: this read overwrites the last one
        shared.fill(0xee);
        shared.set(chunk);
        reader.push(shared.subarray(0, chunk.length));
        drain(reader, (m) => {
          got.push(normalize(m)); // a piece's data is valid now, so compare a copy of it now
          kept.push(m);
        });
        reader.retain();
      }
      assert.equal(reader.bufferedBytes, 0);
      assert.deepEqual(got, msgs.map(normalize));
      // payloads other than a piece's are copies: still intact after every later read
      const notPiece = (m: Message): boolean => m.type !== 'piece';
      assert.deepEqual(kept.filter(notPiece).map(normalize), msgs.filter(notPiece).map(normalize));
    });
  });

  test('random bytes give only messages, need-more or ProtocolError', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 200 }),
        fc.option(fc.nat(100), { nil: undefined }),
        (buf, pieceCount) => {
          let off = 0;
          while (off < buf.length) {
            let r: ReturnType<typeof decodeMessage>;
            try {
              r = decodeMessage(buf, off, { pieceCount });
            } catch (err) {
              assert.ok(err instanceof ProtocolError, String(err));
              return;
            }
            if ('need' in r) {
              assert.ok(r.need >= 1 && r.need <= 1024 * 1024 + 4);
              return;
            }
            assert.ok(r.consumed >= 4);
            off += r.consumed;
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  test('random prefixes of 4 bytes over the cap always throw at once', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1024 * 1024 + 1, max: 0xffffffff }), (len) => {
        const b = Buffer.alloc(4);
        b.writeUInt32BE(len);
        assert.throws(() => decodeMessage(b, 0), ProtocolError);
      }),
    );
  });

  test('random handshakes decode, random garbage is refused', () => {
    fc.assert(
      fc.property(
        bytes(8).filter((b) => b.length === 8),
        fc.uint8Array({ minLength: 40, maxLength: 40 }),
        (reserved, ids) => {
          const h = { reserved, infoHash: ids.subarray(0, 20), peerId: ids.subarray(20) };
          const r = decodeHandshake(encodeHandshake(h));
          assert.ok('message' in r);
          assert.deepEqual(Buffer.from(r.message.reserved), Buffer.from(reserved));
        },
      ),
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (buf) => {
        try {
          decodeHandshake(buf);
        } catch (err) {
          assert.ok(err instanceof ProtocolError);
        }
      }),
    );
  });
});

describe('FrameReader', () => {
  test('a chunk holding whole messages is used without copying', () => {
    const chunk = Buffer.concat([
      encodeMessage({ type: 'piece', piece: 0, offset: 0, data: Buffer.alloc(100, 1) }),
      encodeMessage({ type: 'have', piece: 1 }),
    ]);
    const reader = new FrameReader();
    reader.push(chunk);
    const m = reader.nextMessage();
    assert.ok(m?.type === 'piece');
    assert.equal(m.data.buffer, chunk.buffer);
    assert.deepEqual(reader.nextMessage(), { type: 'have', piece: 1 });
    assert.equal(reader.nextMessage(), undefined);
  });

  test('a message split across chunks is copied once into a buffer of its own size', () => {
    const wire = encodeMessage({ type: 'piece', piece: 0, offset: 0, data: Buffer.alloc(BLOCK_SIZE, 7) });
    const reader = new FrameReader();
    reader.push(wire.subarray(0, 3));
    assert.equal(reader.nextMessage(), undefined);
    reader.push(wire.subarray(3, 5000));
    assert.equal(reader.nextMessage(), undefined);
    reader.push(Buffer.concat([wire.subarray(5000), encodeMessage({ type: 'choke' })]));
    const m = reader.nextMessage();
    assert.ok(m?.type === 'piece');
    assert.equal(m.data.length, BLOCK_SIZE);
    assert.equal(m.data.buffer.byteLength, wire.length);
    assert.ok(m.data.every((b) => b === 7));
    assert.deepEqual(reader.nextMessage(), { type: 'choke' });
  });

  test('a handshake followed by messages; takeRest returns what is left', () => {
    const hs = encodeHandshake({
      reserved: new Uint8Array(8),
      infoHash: Buffer.alloc(20, 1),
      peerId: Buffer.alloc(20, 2),
    });
    const after = encodeMessage({ type: 'have', piece: 5 });
    const reader = new FrameReader();
    reader.push(Buffer.concat([hs.subarray(0, 30)]));
    assert.equal(reader.nextHandshake(), undefined);
    reader.push(Buffer.concat([hs.subarray(30), after.subarray(0, 2)]));
    reader.push(after.subarray(2));
    assert.ok(reader.nextHandshake());
    assert.deepEqual(reader.takeRest(), after);
    assert.equal(reader.bufferedBytes, 0);
  });
});

describe('blockKey', () => {
  test('different blocks get different keys, up to the largest piece index and offset a torrent can have', () => {
    fc.assert(
      fc.property(
        fc.nat(2 ** 23 - 1),
        fc.nat(2 ** 30 - 1),
        fc.nat(2 ** 23 - 1),
        fc.nat(2 ** 30 - 1),
        (p1, o1, p2, o2) => {
          assert.equal(blockKey(p1, o1) === blockKey(p2, o2), p1 === p2 && o1 === o2);
          assert.ok(Number.isSafeInteger(blockKey(p1, o1)));
        },
      ),
    );
    assert.equal(blockKey(2 ** 23 - 1, 2 ** 30 - 1), 2 ** 53 - 1);
  });

  test('a piece or offset past those gets -1, which names no block', () => {
    assert.equal(blockKey(2 ** 23, 0), -1);
    assert.equal(blockKey(0, 2 ** 30), -1);
    assert.equal(blockKey(-1, 0), -1);
    assert.equal(blockKey(0xffffffff, 0xffffffff), -1);
  });
});

describe('BEP 52 hash messages (ids 21, 22, 23) and the v2 bit', () => {
  const req = { piecesRoot: new Uint8Array(32).fill(7), baseLayer: 1, index: 4, length: 4, proofLayers: 2 };

  test('hash request, hashes and hash reject round-trip with their wire layout', () => {
    const hashes = new Uint8Array(6 * 32).fill(9);
    for (const m of [
      { type: 'hash-request', ...req },
      { type: 'hash-reject', ...req },
      { type: 'hashes', ...req, hashes },
    ] as const) {
      const bytes = encodeMessage(m);
      const id = m.type === 'hash-request' ? 21 : m.type === 'hash-reject' ? 23 : 22;
      assert.equal(bytes[4], id);
      assert.equal(bytes.readUInt32BE(0), 49 + (m.type === 'hashes' ? hashes.length : 0));
      assert.equal(bytes.readUInt32BE(37), 1);
      assert.equal(bytes.readUInt32BE(49), 2);
      const d = decodeMessage(bytes, 0);
      assert.ok('message' in d);
      assert.equal(d.consumed, bytes.length);
      assert.deepEqual(
        { ...d.message, piecesRoot: Uint8Array.from((d.message as typeof req).piecesRoot) },
        {
          ...m,
          ...(m.type === 'hashes' ? { hashes: bytes.subarray(53) } : {}),
        },
      );
    }
  });

  test('a hash request of the wrong length, or hashes not a multiple of 32 or too many, are refused', () => {
    const good = encodeMessage({ type: 'hash-request', ...req });
    const short = Buffer.concat([Buffer.from([0, 0, 0, 48]), good.subarray(4, 52)]);
    assert.throws(() => decodeMessage(short, 0), ProtocolError);
    const odd = Buffer.alloc(4 + 49 + 31);
    odd.writeUInt32BE(49 + 31, 0);
    odd[4] = 22;
    assert.throws(() => decodeMessage(odd, 0), ProtocolError);
    const huge = Buffer.alloc(5);
    huge.writeUInt32BE(49 + 32 * (MAX_HASHES_PER_MESSAGE + 1), 0);
    huge[4] = 22;
    assert.throws(() => decodeMessage(huge, 0), ProtocolError);
  });

  test('the v2 bit is byte 7, 0x10', () => {
    const r = makeReserved({ v2: true });
    assert.equal(r[7], 0x10);
    assert.equal(featuresOf(r).v2, true);
    assert.equal(featuresOf(makeReserved({ fast: true })).v2, false);
  });
});
