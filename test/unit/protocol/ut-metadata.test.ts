// ut_metadata (BEP 9): message vectors, the assembler (order, duplicates, hash mismatch, size caps),
// and property tests (round trip; random bytes give a message or a UtMetadataError only).

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { encode } from '../../../src/protocol/bencode.js';
import {
  decodeUtMetadata,
  encodeUtMetadata,
  MAX_METADATA_BYTES,
  METADATA_PIECE_BYTES,
  MetadataAssembler,
  metadataPiece,
  metadataPieceCount,
  UtMetadataError,
  type UtMetadataMessage,
} from '../../../src/protocol/ut-metadata.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const sha1 = (x: Uint8Array): Buffer => createHash('sha1').update(x).digest();

describe('ut_metadata messages', () => {
  it('BEP 9 examples', () => {
    assert.equal(
      encodeUtMetadata({ type: 'request', piece: 0 }).toString('latin1'),
      'd8:msg_typei0e5:piecei0ee',
    );
    assert.equal(
      encodeUtMetadata({ type: 'reject', piece: 0 }).toString('latin1'),
      'd8:msg_typei2e5:piecei0ee',
    );
    const data = encodeUtMetadata({ type: 'data', piece: 0, totalSize: 3425, data: b('xxxx') });
    assert.equal(data.toString('latin1'), 'd8:msg_typei1e5:piecei0e10:total_sizei3425eexxxx');
    assert.deepEqual(decodeUtMetadata(data), { type: 'data', piece: 0, totalSize: 3425, data: b('xxxx') });
    assert.deepEqual(decodeUtMetadata(b('d8:msg_typei0e5:piecei7ee')), { type: 'request', piece: 7 });
  });

  it('an unknown msg_type is reported, not fatal (BEP 9: ignore it)', () => {
    assert.deepEqual(decodeUtMetadata(b('d8:msg_typei9e5:piecei0ee')), { type: 'unknown', msgType: 9 });
  });

  it('keys out of order are accepted', () => {
    assert.deepEqual(decodeUtMetadata(b('d5:piecei3e8:msg_typei2ee')), { type: 'reject', piece: 3 });
  });

  const bad: [string, Uint8Array][] = [
    ['empty', b('')],
    ['not bencode', b('hello')],
    ['a list', b('li1ee')],
    ['no msg_type', b('d5:piecei0ee')],
    ['msg_type a string', b('d8:msg_type1:05:piecei0ee')],
    ['negative piece', b('d8:msg_typei0e5:piecei-1ee')],
    ['piece past 16 MiB', b('d8:msg_typei0e5:piecei1024ee')],
    ['data without total_size', b('d8:msg_typei1e5:piecei0eexx')],
    ['total_size of 0', b('d8:msg_typei1e5:piecei0e10:total_sizei0eexx')],
    ['total_size past 16 MiB', b(`d8:msg_typei1e5:piecei0e10:total_sizei${MAX_METADATA_BYTES + 1}eexx`)],
    [
      'piece data over 16 KiB',
      Buffer.concat([b('d8:msg_typei1e5:piecei0e10:total_sizei99999ee'), Buffer.alloc(16385)]),
    ],
    ['header over 1 KiB', Buffer.concat([b('d1:x2000:'), Buffer.alloc(2000), b('e')])],
  ];
  for (const [name, payload] of bad) {
    it(`rejects ${name} with UtMetadataError`, () => {
      assert.throws(
        () => decodeUtMetadata(payload),
        (err: unknown) => err instanceof UtMetadataError && err.code === 'ERR_UT_METADATA',
      );
    });
  }

  const message: fc.Arbitrary<Exclude<UtMetadataMessage, { type: 'unknown' }>> = fc.oneof(
    fc
      .record({ type: fc.constant('request' as const), piece: fc.integer({ min: 0, max: 1023 }) })
      .map((m) => ({ ...m })),
    fc
      .record({ type: fc.constant('reject' as const), piece: fc.integer({ min: 0, max: 1023 }) })
      .map((m) => ({ ...m })),
    fc
      .record({
        type: fc.constant('data' as const),
        piece: fc.integer({ min: 0, max: 1023 }),
        totalSize: fc.integer({ min: 1, max: MAX_METADATA_BYTES }),
        data: fc.uint8Array({ maxLength: 300 }).map((u) => Buffer.from(u)),
      })
      .map((m) => ({ ...m })),
  );

  it('property: decode(encode(m)) = m', () => {
    fc.assert(
      fc.property(message, (m) => {
        assert.deepEqual(decodeUtMetadata(encodeUtMetadata(m)), m);
      }),
      { numRuns: 1000 },
    );
  });

  it('property: random bytes give a message or a UtMetadataError', () => {
    const anyPayload = fc.oneof(
      fc.uint8Array({ maxLength: 200 }),
      fc.tuple(message, fc.nat(), fc.nat(255)).map(([m, at, byte]) => {
        const w = Buffer.from(encodeUtMetadata(m));
        w[at % w.length] = byte;
        return w;
      }),
    );
    fc.assert(
      fc.property(anyPayload, (p) => {
        try {
          decodeUtMetadata(p);
        } catch (err) {
          assert.ok(err instanceof UtMetadataError, String(err));
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe('MetadataAssembler', () => {
  const info = encode({
    name: 'x',
    'piece length': 16384,
    pieces: Buffer.alloc(20 * 3, 7),
    length: 40000,
    pad: Buffer.alloc(40000, 1),
  });
  const infoHash = sha1(info);
  const count = metadataPieceCount(info.length);

  it('assembles pieces in any order and checks the hash', () => {
    assert.equal(count, 3);
    const a = new MetadataAssembler(info.length, infoHash);
    assert.deepEqual(a.missing(), [0, 1, 2]);
    assert.equal(a.pieceLength(2), info.length - 2 * METADATA_PIECE_BYTES);
    assert.deepEqual(a.add(2, metadataPiece(info, 2)!), { status: 'incomplete' });
    assert.deepEqual(a.add(0, metadataPiece(info, 0)!), { status: 'incomplete' });
    assert.deepEqual(a.add(0, metadataPiece(info, 0)!), { status: 'incomplete' }, 'duplicate ignored');
    assert.deepEqual(a.missing(), [1]);
    const r = a.add(1, metadataPiece(info, 1)!);
    assert.equal(r.status, 'complete');
    assert.ok(r.status === 'complete' && r.info.equals(info));
  });

  it('a single short piece works', () => {
    const small = encode({ name: 'tiny' });
    const a = new MetadataAssembler(small.length, sha1(small));
    const r = a.add(0, small, small.length);
    assert.ok(r.status === 'complete' && r.info.equals(small));
  });

  it('says mismatch when the hash is wrong, and starts over', () => {
    const a = new MetadataAssembler(info.length, infoHash);
    a.add(0, metadataPiece(info, 0)!);
    a.add(1, Buffer.alloc(METADATA_PIECE_BYTES, 0xee)); // a liar's piece
    assert.deepEqual(a.add(2, metadataPiece(info, 2)!), { status: 'mismatch' });
    assert.deepEqual(a.missing(), [0, 1, 2]);
    assert.equal(a.receivedCount, 0);
    for (let i = 0; i < count; i++) a.add(i, metadataPiece(info, i)!);
    assert.equal(a.missing().length, 0);
  });

  it('refuses sizes of 0 or past 16 MiB before allocating', () => {
    for (const size of [0, -1, 1.5, MAX_METADATA_BYTES + 1, Number.MAX_SAFE_INTEGER, Number.NaN]) {
      assert.throws(() => new MetadataAssembler(size, infoHash), UtMetadataError, String(size));
    }
    assert.equal(new MetadataAssembler(MAX_METADATA_BYTES, infoHash).pieceCount, 1024);
  });

  it('refuses pieces of the wrong index, length or total size', () => {
    const a = new MetadataAssembler(info.length, infoHash);
    assert.throws(() => a.add(3, Buffer.alloc(10)), UtMetadataError);
    assert.throws(() => a.add(-1, Buffer.alloc(10)), UtMetadataError);
    assert.throws(() => a.add(0, Buffer.alloc(100)), UtMetadataError);
    assert.throws(() => a.add(2, Buffer.alloc(METADATA_PIECE_BYTES)), UtMetadataError);
    assert.throws(() => a.add(0, metadataPiece(info, 0)!, info.length + 1), UtMetadataError);
    assert.deepEqual(a.missing(), [0, 1, 2]);
  });

  it('metadataPiece serves the right slices', () => {
    assert.equal(metadataPiece(info, 0)!.length, METADATA_PIECE_BYTES);
    assert.equal(metadataPiece(info, 3), undefined);
    assert.equal(metadataPiece(info, -1), undefined);
    assert.deepEqual(Buffer.concat([0, 1, 2].map((i) => metadataPiece(info, i)!)), info);
  });
});
