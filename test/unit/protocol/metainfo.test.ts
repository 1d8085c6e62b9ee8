// Metainfo: known info-hash vectors (hand-built bytes, hashed independently), every field the BEPs
// define, validation errors with their fields, BEP 52 hybrids and v2-only, and build → parse.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type BEncodable, bdecode, encode } from '../../../src/protocol/bencode.js';
import { MetainfoError } from '../../../src/protocol/errors.js';
import { fileTree as fileTreeOf, leafHashes } from '../../../src/protocol/merkle.js';
import {
  autoPieceLength,
  buildMetainfo,
  expandAnnounce,
  MAX_PIECE_LENGTH,
  type Metainfo,
  parseInfoDict,
  parseMetainfo,
} from '../../../src/protocol/metainfo.js';
import { verifyV2Piece } from '../../../src/protocol/metainfo-v2.js';

const b = (...parts: (string | Uint8Array)[]): Buffer =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : p)));
const sha1 = (x: Uint8Array): string => createHash('sha1').update(x).digest('hex');
const PIECES = Buffer.from(Array.from({ length: 20 }, (_, i) => i));
const hashes = (n: number): Buffer => Buffer.alloc(20 * n, 7);

function torrent(info: Record<string, BEncodable>, outer: Record<string, BEncodable> = {}): Buffer {
  return encode({ ...outer, info });
}
const baseInfo = (): Record<string, BEncodable> => ({
  name: 'a.txt',
  'piece length': 16384,
  length: 5,
  pieces: PIECES,
});

function metainfoError(fn: () => unknown, field: string, message: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof MetainfoError, `expected MetainfoError, got ${String(err)}`);
    assert.equal(err.code, 'ERR_METAINFO');
    assert.equal(err.field, field);
    assert.ok(err.message.includes(message), `"${err.message}" should include "${message}"`);
    if (field) assert.ok(err.message.startsWith(`${field}: `), err.message);
    return true;
  });
}

describe('metainfo: info hash vectors', () => {
  // Computed once with Python's hashlib over the literal info bytes below.
  const CANONICAL_INFO = b('d6:lengthi5e4:name5:a.txt12:piece lengthi16384e6:pieces20:', PIECES, 'e');
  const CANONICAL_HASH = '133e7ef28fffcb98605443cbd54a9d391219d9a3';
  const UNSORTED_INFO = b('d4:name5:a.txt6:lengthi5e12:piece lengthi16384e6:pieces20:', PIECES, 'e');
  const UNSORTED_HASH = 'a9cfea554e74e06c87ea47be60ecbffa081192d5';

  it('a hand-built torrent hashes to the SHA-1 of its info bytes', () => {
    const file = b('d8:announce27:http://127.0.0.1:1/announce4:info', CANONICAL_INFO, 'e');
    const m = parseMetainfo(file);
    assert.equal(sha1(CANONICAL_INFO), CANONICAL_HASH);
    assert.equal(m.infoHashHex, CANONICAL_HASH);
    assert.equal(m.infoHash.toString('hex'), CANONICAL_HASH);
    assert.ok(Buffer.from(m.infoBytes).equals(CANONICAL_INFO));
    assert.ok(!m.warnings.some((w) => w.includes('canonical')));
  });

  it('a non-canonical info dict (unsorted keys) keeps the hash of its original bytes', () => {
    const file = b('d4:info', UNSORTED_INFO, 'e');
    const m = parseMetainfo(file);
    assert.equal(sha1(UNSORTED_INFO), UNSORTED_HASH);
    assert.equal(m.infoHashHex, UNSORTED_HASH);
    assert.notEqual(m.infoHashHex, CANONICAL_HASH, 're-encoding would have sorted the keys');
    assert.ok(m.warnings.some((w) => w.includes('not canonically encoded')));
    assert.ok(m.warnings.some((w) => w.includes('"length" out of order')));
  });

  it('strict parsing rejects the unsorted info dict with the byte offset', () => {
    metainfoError(
      () => parseMetainfo(b('d4:info', UNSORTED_INFO, 'e'), { lenient: false }),
      '',
      'bad bencode: dict key "length" out of order at byte 21',
    );
  });

  it('keys outside info do not change the hash', () => {
    const a = parseMetainfo(b('d4:info', CANONICAL_INFO, 'e'));
    const c = parseMetainfo(b('d7:comment2:hi4:info', CANONICAL_INFO, '4:zzzzi1ee'));
    assert.equal(a.infoHashHex, c.infoHashHex);
  });

  it('parseInfoDict (metadata from a peer) gives the same torrent', () => {
    const m = parseInfoDict(UNSORTED_INFO);
    assert.equal(m.infoHashHex, UNSORTED_HASH);
    assert.equal(m.name, 'a.txt');
    metainfoError(() => parseInfoDict(b('d4:name')), 'info', 'bad bencode');
    metainfoError(() => parseInfoDict(b('le')), 'info', 'not a dictionary');
  });
});

describe('metainfo: fields', () => {
  it('single-file torrent', () => {
    const m = parseMetainfo(torrent({ ...baseInfo(), length: 40000, pieces: hashes(3) }));
    assert.equal(m.version, 'v1');
    assert.equal(m.name, 'a.txt');
    assert.equal(m.multiFile, false);
    assert.equal(m.pieceLength, 16384);
    assert.equal(m.pieceCount, 3);
    assert.equal(m.totalLength, 40000);
    assert.deepEqual(m.files, [
      { path: ['a.txt'], rawPath: ['a.txt'], length: 40000, offset: 0, padding: false, attr: '' },
    ]);
    assert.equal(m.private, false);
    assert.deepEqual(m.announceList, []);
    assert.deepEqual(m.urlList, []);
    assert.equal(m.infoHashV2, undefined);
  });

  it('multi-file torrent: paths under the name, offsets in order', () => {
    const m = parseMetainfo(
      torrent({
        name: 'album',
        'piece length': 16384,
        pieces: hashes(2),
        files: [
          { length: 10000, path: ['cd1', 'track1.flac'] },
          { length: 0, path: ['empty'] },
          { length: 10000, path: ['cd2', 'track1.flac'] },
        ],
      }),
    );
    assert.equal(m.multiFile, true);
    assert.equal(m.totalLength, 20000);
    assert.equal(m.pieceCount, 2);
    assert.deepEqual(
      m.files.map((f) => [f.path.join('/'), f.offset, f.length]),
      [
        ['album/cd1/track1.flac', 0, 10000],
        ['album/empty', 10000, 0],
        ['album/cd2/track1.flac', 10000, 10000],
      ],
    );
    assert.deepEqual(m.warnings, []);
  });

  it('the last piece may be shorter; exactly 512 MiB pieces are allowed', () => {
    assert.equal(parseMetainfo(torrent({ ...baseInfo(), length: 16385, pieces: hashes(2) })).pieceCount, 2);
    assert.equal(parseMetainfo(torrent({ ...baseInfo(), length: 16384, pieces: hashes(1) })).pieceCount, 1);
    const big = parseMetainfo(torrent({ ...baseInfo(), 'piece length': MAX_PIECE_LENGTH, length: 1 }));
    assert.equal(big.pieceLength, 512 * 1024 * 1024);
  });

  it('announce alone becomes one tier', () => {
    const m = parseMetainfo(torrent(baseInfo(), { announce: 'http://127.0.0.1:6969/announce' }));
    assert.deepEqual(m.announceList, [['http://127.0.0.1:6969/announce']]);
  });

  it('announce-list (BEP 12) takes precedence; empty tiers and non-http/udp trackers are dropped with a warning', () => {
    const m = parseMetainfo(
      torrent(baseInfo(), {
        announce: 'http://ignored.invalid/announce',
        'announce-list': [
          ['udp://127.0.0.1:1', ' https://127.0.0.1:2/announce '],
          [],
          ['wss://127.0.0.1:3', 'dht://x'],
          ['http://127.0.0.1:4/announce'],
        ],
      }),
    );
    assert.deepEqual(m.announceList, [
      ['udp://127.0.0.1:1', 'https://127.0.0.1:2/announce'],
      ['http://127.0.0.1:4/announce'],
    ]);
    assert.ok(
      m.warnings.includes('tracker "wss://127.0.0.1:3" ignored: only http, https and udp are supported'),
    );
    assert.ok(m.warnings.some((w) => w.startsWith('tracker "dht://x" ignored')));
  });

  it('url-list (BEP 19) as a string or a list', () => {
    assert.deepEqual(parseMetainfo(torrent(baseInfo(), { 'url-list': 'http://127.0.0.1/x' })).urlList, [
      'http://127.0.0.1/x',
    ]);
    assert.deepEqual(
      parseMetainfo(torrent(baseInfo(), { 'url-list': ['http://127.0.0.1/a', '', 'http://127.0.0.1/b'] }))
        .urlList,
      ['http://127.0.0.1/a', 'http://127.0.0.1/b'],
    );
  });

  it('private (BEP 27)', () => {
    assert.equal(parseMetainfo(torrent({ ...baseInfo(), private: 1 })).private, true);
    assert.equal(parseMetainfo(torrent({ ...baseInfo(), private: 0 })).private, false);
    metainfoError(
      () => parseMetainfo(torrent({ ...baseInfo(), private: '1' })),
      'info.private',
      'not an integer',
    );
  });

  it('comment, created by, creation date, encoding; comment.utf-8 wins', () => {
    const m = parseMetainfo(
      torrent(baseInfo(), {
        comment: 'plain',
        'comment.utf-8': 'ünïcode',
        'created by': 'bitswarm/0.1.0',
        'creation date': 1_700_000_000,
        encoding: 'UTF-8',
      }),
    );
    assert.equal(m.comment, 'ünïcode');
    assert.equal(m.createdBy, 'bitswarm/0.1.0');
    assert.equal(m.creationDate, 1_700_000_000);
    assert.equal(m.encoding, 'UTF-8');
  });

  it('padding files and attributes (BEP 47)', () => {
    const m = parseMetainfo(
      torrent({
        name: 't',
        'piece length': 16384,
        pieces: hashes(2),
        files: [
          { length: 100, path: ['run.sh'], attr: 'x' },
          { length: 16284, path: ['.pad', '16284'], attr: 'p' },
          { length: 100, path: ['.hidden'], attr: 'h' },
          { length: 1, path: ['link'], attr: 'l' },
          { length: 0, path: ['.pad', '0'], attr: 'p' },
        ],
      }),
    );
    assert.deepEqual(
      m.files.map((f) => [f.path.join('/'), f.offset, f.padding, f.attr]),
      [
        ['t/run.sh', 0, false, 'x'],
        ['t/.pad/16284', 100, true, 'p'],
        ['t/.hidden', 16384, false, 'h'],
        ['t/link', 16484, false, 'l'],
        ['t/.pad/0', 16485, true, 'p'],
      ],
    );
    assert.equal(m.totalLength, 16485);
    assert.ok(m.warnings.some((w) => w.includes('symlink')));
  });

  it('padding files never cause collisions and may have any path', () => {
    const m = parseMetainfo(
      torrent({
        name: 't',
        'piece length': 16384,
        pieces: hashes(1),
        files: [
          { length: 1, path: ['a'] },
          { length: 1, path: ['a'], attr: 'p' },
          { length: 1, path: [], attr: 'p' },
        ],
      }),
    );
    assert.deepEqual(
      m.files.map((f) => f.path.join('/')),
      ['t/a', 't/a', 't/_'],
    );
    assert.ok(!m.warnings.some((w) => w.includes('collides')));
  });

  it('name.utf-8 and path.utf-8 win over name and path', () => {
    const m = parseMetainfo(
      torrent({
        name: 'legacy',
        'name.utf-8': 'ユニ',
        'piece length': 16384,
        pieces: hashes(1),
        files: [{ length: 1, path: ['x'], 'path.utf-8': ['ファイル'] }],
      }),
    );
    assert.equal(m.name, 'ユニ');
    assert.deepEqual(m.files[0]!.path, ['ユニ', 'ファイル']);
  });

  it('invalid UTF-8 in a path becomes U+FFFD, with a warning', () => {
    const m = parseMetainfo(
      torrent({
        name: 't',
        'piece length': 16384,
        pieces: hashes(1),
        files: [{ length: 1, path: [Buffer.from([0x61, 0xff])] }],
      }),
    );
    assert.deepEqual(m.files[0]!.path, ['t', 'a\ufffd']);
    assert.ok(m.warnings.some((w) => w.includes('not valid UTF-8')));
  });

  it('warnings quote torrent text with control characters escaped', () => {
    const m = parseMetainfo(
      torrent({
        name: 't',
        'piece length': 16384,
        pieces: hashes(1),
        files: [{ length: 1, path: ['\u001b[2J\u009b\u202e\n'] }],
      }),
    );
    for (const w of m.warnings) assert.doesNotMatch(w, /[\u0000-\u001f\u007f-\u009f\u202a-\u202e]/, w);
    assert.ok(m.warnings.some((w) => w.includes('\\u001b[2J\\u009b\\u202e\\n')));
  });
});

describe('metainfo: path policy applied', () => {
  it('sanitizes, warns, and tells collisions apart', () => {
    const m = parseMetainfo(
      torrent({
        name: '..',
        'piece length': 16384,
        pieces: hashes(1),
        files: [
          { length: 1, path: ['..', '..', 'etc', 'passwd'] },
          { length: 1, path: ['C:\\boot.ini'] },
          { length: 1, path: ['x?'] },
          { length: 1, path: ['x*'] },
          { length: 1, path: ['CON'] },
        ],
      }),
    );
    assert.equal(m.name, '_');
    assert.deepEqual(
      m.files.map((f) => f.path.join('/')),
      ['_/etc/passwd', '_/C__boot.ini', '_/x_', '_/x_.1', '_/_CON'],
    );
    assert.deepEqual(m.files[0]!.rawPath, ['..', '..', '..', 'etc', 'passwd']);
    assert.ok(m.warnings.includes('name ".." sanitized to "_"'));
    assert.ok(m.warnings.includes('path "../../etc/passwd" sanitized to "etc/passwd"'));
    assert.ok(m.warnings.includes('path "../x*" collides with another file: stored as "_/x_.1"'));
  });
});

describe('metainfo: validation errors name the field', () => {
  const table: [string, Buffer, string, string][] = [
    ['not a dict', b('le'), '', 'not a torrent: the value at byte 0 is a list, not a dictionary'],
    ['a byte string', b('4:spam'), '', 'not a torrent: the value at byte 0 is a byte string'],
    ['bad bencode', b('d4:info'), '', 'bad bencode: truncated dict (key without value) at byte 7'],
    ['missing info', encode({ announce: 'x' }), 'info', 'missing'],
    ['info not a dict', encode({ info: 1 }), 'info', 'not a dictionary'],
    ['missing name', torrent({ ...baseInfo(), name: undefined } as never), 'info.name', 'missing'],
    ['empty name', torrent({ ...baseInfo(), name: '' }), 'info.name', 'empty'],
    [
      'missing piece length',
      torrent({ ...baseInfo(), 'piece length': undefined } as never),
      'info.piece length',
      'missing',
    ],
    [
      'piece length 0',
      torrent({ ...baseInfo(), 'piece length': 0 }),
      'info.piece length',
      '0 is not positive',
    ],
    [
      'piece length -1',
      torrent({ ...baseInfo(), 'piece length': -1 }),
      'info.piece length',
      '-1 is not positive',
    ],
    [
      'piece length 512 MiB + 1',
      torrent({ ...baseInfo(), 'piece length': MAX_PIECE_LENGTH + 1 }),
      'info.piece length',
      'is larger than 536870912 (512 MiB)',
    ],
    [
      'piece length bigint',
      torrent({ ...baseInfo(), 'piece length': 2n ** 70n }),
      'info.piece length',
      'out of range',
    ],
    ['pieces missing', torrent({ ...baseInfo(), pieces: undefined } as never), 'info.pieces', 'missing'],
    [
      'pieces 19 bytes',
      torrent({ ...baseInfo(), pieces: Buffer.alloc(19) }),
      'info.pieces',
      'length 19 is not a multiple of 20',
    ],
    [
      'pieces 0 for 1',
      torrent({ ...baseInfo(), pieces: Buffer.alloc(0) }),
      'info.pieces',
      '0 hashes for 1 pieces',
    ],
    ['pieces 2 for 1', torrent({ ...baseInfo(), pieces: hashes(2) }), 'info.pieces', '2 hashes for 1 pieces'],
    ['negative length', torrent({ ...baseInfo(), length: -1 }), 'info.length', '-1 is negative'],
    ['length and files', torrent({ ...baseInfo(), files: [] }), 'info', 'has both "length" and "files"'],
    [
      'neither',
      torrent({ ...baseInfo(), length: undefined } as never),
      'info',
      'has neither "length" nor "files"',
    ],
    ['no files', torrent({ ...baseInfo(), length: undefined, files: [] } as never), 'info.files', 'empty'],
    [
      'negative file length',
      torrent({ ...baseInfo(), length: undefined, files: [{ length: -3, path: ['a'] }] } as never),
      'info.files[0].length',
      '-3 is negative',
    ],
    [
      'empty path',
      torrent({ ...baseInfo(), length: undefined, files: [{ length: 5, path: [] }] } as never),
      'info.files[0].path',
      'empty',
    ],
    [
      'unknown meta version',
      torrent({ ...baseInfo(), 'meta version': 7 }),
      'info.meta version',
      'unknown version 7',
    ],
  ];
  for (const [what, input, field, message] of table) {
    it(what, () => metainfoError(() => parseMetainfo(input), field, message));
  }

  it('whole-file problems name a byte offset instead of a field', () => {
    for (const input of [b('le'), b('d4:info'), b('i1e')]) {
      assert.throws(
        () => parseMetainfo(input),
        (err: unknown) => err instanceof MetainfoError && /at byte \d+/.test(err.message),
      );
    }
  });
});

describe('metainfo: BEP 52', () => {
  const fileTree = { 'a.txt': { '': { length: 5, 'pieces root': Buffer.alloc(32, 1) } } };

  it('a hybrid torrent: both hashes, the v2 files over the v1 layout', () => {
    const file = torrent({ ...baseInfo(), 'meta version': 2, 'file tree': fileTree }, { 'piece layers': {} });
    const m = parseMetainfo(file);
    assert.equal(m.version, 'hybrid');
    assert.equal(m.pieceCount, 1);
    assert.deepEqual(
      m.files.map((f) => f.path),
      [['a.txt']],
    );
    assert.equal(m.infoHashHex, sha1(m.infoBytes));
    assert.equal(m.infoHashV2?.toString('hex'), createHash('sha256').update(m.infoBytes).digest('hex'));
    assert.deepEqual(
      m.v2?.files.map((f) => [f.fileIndex, f.firstPiece, f.pieceCount]),
      [[0, 0, 1]],
    );
  });

  it('a hybrid whose v1 files differ from its file tree is refused, naming the file', () => {
    const tree = { 'b.txt': { '': { length: 5, 'pieces root': Buffer.alloc(32, 1) } } };
    metainfoError(
      () => parseMetainfo(torrent({ ...baseInfo(), 'meta version': 2, 'file tree': tree })),
      'info.files[0]',
      'is not the file tree',
    );
  });

  const data = Buffer.alloc(40_000, 9);
  const t = fileTreeOf(leafHashes(data), 16384);
  const v2Multi = (layers: BEncodable) =>
    torrent(
      {
        'file tree': {
          'a.bin': { '': { length: 40_000, 'pieces root': t.root } },
          'e.txt': { '': { length: 0 } },
          sub: { 'b.txt': { '': { length: 5, 'pieces root': Buffer.alloc(32, 1) } } },
        },
        'meta version': 2,
        name: 'multi',
        'piece length': 16384,
      },
      { 'piece layers': layers },
    );

  it('a v2-only torrent: truncated hash, files on piece boundaries with padding between', () => {
    const m = parseMetainfo(v2Multi(new Map([[t.root.toString('latin1'), t.layer]])));
    assert.equal(m.version, 'v2');
    const v2 = createHash('sha256').update(m.infoBytes).digest();
    assert.deepEqual(m.infoHashV2, v2);
    assert.deepEqual(m.infoHash, v2.subarray(0, 20));
    assert.equal(m.pieces.length, 0);
    assert.deepEqual(
      m.files.map((f) => [f.path.join('/'), f.offset, f.length, f.padding]),
      [
        ['multi/a.bin', 0, 40_000, false],
        ['multi/.pad/9152', 40_000, 9152, true],
        ['multi/e.txt', 49_152, 0, false],
        ['multi/sub/b.txt', 49_152, 5, false],
        ['multi/.pad/16379', 49_157, 16_379, true],
      ],
    );
    assert.equal(m.pieceCount, 4);
    assert.deepEqual(
      m.v2?.files.map((f) => [f.fileIndex, f.firstPiece, f.pieceCount]),
      [
        [0, 0, 3],
        [2, 3, 0],
        [3, 3, 1],
      ],
    );
    // pieces check against the layer; the last piece of a.bin is its 7,232 bytes then pad zeros
    const v2info = m.v2!;
    assert.equal(verifyV2Piece(v2info, 16384, 0, data.subarray(0, 16384)), true);
    assert.equal(
      verifyV2Piece(v2info, 16384, 2, Buffer.concat([data.subarray(32768), Buffer.alloc(9152)])),
      true,
    );
    assert.equal(verifyV2Piece(v2info, 16384, 1, Buffer.alloc(16384, 8)), false);
  });

  it('the info dict alone (from a magnet) has no layers: pieces cannot be checked yet', () => {
    const m = parseMetainfo(v2Multi(new Map([[t.root.toString('latin1'), t.layer]])));
    const bare = parseInfoDict(m.infoBytes);
    assert.equal(bare.v2?.files[0]?.layer, undefined);
    assert.equal(verifyV2Piece(bare.v2!, 16384, 0, data.subarray(0, 16384)), undefined);
  });

  const hostile: [string, BEncodable, string][] = [
    [
      'a wrong root',
      new Map([[t.root.toString('latin1'), Buffer.alloc(96)]]),
      "does not hash to the file's pieces root",
    ],
    ['a layer of 95 bytes', new Map([[t.root.toString('latin1'), Buffer.alloc(95)]]), 'not a multiple of 32'],
    ['a missing layer', new Map(), 'missing (a file larger than one piece needs its layer)'],
    ['layers not a dict', 5, 'not a dictionary'],
  ];
  for (const [what, layers, message] of hostile) {
    it(`piece layers with ${what} are refused`, () => {
      assert.throws(
        () => parseMetainfo(v2Multi(layers)),
        (err: unknown) =>
          err instanceof MetainfoError &&
          err.field.startsWith('piece layers') &&
          err.message.includes(message),
      );
    });
  }

  it('a file tree nested too deep is refused', () => {
    let tree: BEncodable = { '': { length: 1, 'pieces root': Buffer.alloc(32) } };
    for (let i = 0; i < 80; i++) tree = { d: tree };
    metainfoError(
      () =>
        parseMetainfo(torrent({ 'file tree': tree, 'meta version': 2, name: 'x', 'piece length': 16384 })),
      'info.file tree',
      'nested deeper than 64 folders',
    );
  });
});

describe('metainfo: build', () => {
  it('builds a single-file torrent that parses back, canonical, without unrequested keys', () => {
    const out = buildMetainfo({
      name: 'a.txt',
      pieceLength: 16384,
      pieces: PIECES,
      files: [{ path: ['a.txt'], length: 5 }],
    });
    assert.equal(
      out.toString('latin1'),
      b('d4:infod6:lengthi5e4:name5:a.txt12:piece lengthi16384e6:pieces20:', PIECES, 'ee').toString('latin1'),
    );
    assert.equal(parseMetainfo(out).infoHashHex, '133e7ef28fffcb98605443cbd54a9d391219d9a3');
  });

  it('builds every optional field', () => {
    const out = buildMetainfo({
      name: 'dir',
      pieceLength: 32768,
      pieces: hashes(1),
      files: [{ path: ['only.txt'], length: 3 }],
      multiFile: true,
      announceList: [
        ['http://127.0.0.1:1/announce'],
        [],
        ['udp://127.0.0.1:2', 'http://127.0.0.1:3/announce'],
      ],
      urlList: ['http://127.0.0.1/ws'],
      private: true,
      comment: 'hello',
      createdBy: 'test',
      creationDate: 1234,
    });
    assert.ok(encode(bdecode(out)).equals(out), 'canonical');
    const m = parseMetainfo(out);
    assert.equal(m.multiFile, true);
    assert.deepEqual(m.files[0]!.path, ['dir', 'only.txt']);
    assert.deepEqual(m.announceList, [
      ['http://127.0.0.1:1/announce'],
      ['udp://127.0.0.1:2', 'http://127.0.0.1:3/announce'],
    ]);
    assert.deepEqual(m.urlList, ['http://127.0.0.1/ws']);
    assert.equal(m.private, true);
    assert.equal(m.comment, 'hello');
    assert.equal(m.createdBy, 'test');
    assert.equal(m.creationDate, 1234);
    assert.deepEqual(m.warnings, []);
  });

  it('one tracker gives announce only; several web seeds give a list', () => {
    const root = bdecode(
      buildMetainfo({
        name: 'a',
        pieceLength: 16384,
        pieces: hashes(1),
        files: [{ path: ['a'], length: 1 }],
        announceList: [['http://127.0.0.1:1/announce']],
        urlList: ['http://127.0.0.1/1', 'http://127.0.0.1/2'],
        private: false,
      }),
    ) as Map<string, unknown>;
    assert.deepEqual([...root.keys()], ['announce', 'info', 'url-list']);
    assert.ok(!(root.get('info') as Map<string, unknown>).has('private'));
    assert.equal((root.get('url-list') as unknown[]).length, 2);
  });

  it('build → parse round trip (property)', () => {
    const element = fc.string({
      unit: fc.constantFrom('a', 'b', 'c', '1', '-', '_', 'é'),
      minLength: 1,
      maxLength: 8,
    });
    const url = fc.constantFrom('http://127.0.0.1:1/announce', 'udp://127.0.0.1:2', 'https://127.0.0.1:3/a');
    fc.assert(
      fc.property(
        element,
        fc.integer({ min: 0, max: 3 }).map((n) => 2 ** (14 + n)),
        fc.uniqueArray(fc.array(element, { minLength: 1, maxLength: 3 }), {
          minLength: 1,
          maxLength: 6,
          selector: (p) => p[0]!,
        }),
        fc.array(fc.integer({ min: 0, max: 100_000 }), { minLength: 6, maxLength: 6 }),
        fc.array(fc.uniqueArray(url, { minLength: 1, maxLength: 3 }), { maxLength: 3 }),
        fc.boolean(),
        (name, pieceLength, paths, lengths, announceList, isPrivate) => {
          const files = paths.map((path, i) => ({ path, length: lengths[i]! }));
          const total = files.reduce((n, f) => n + f.length, 0);
          const pieces = hashes(Math.ceil(total / pieceLength));
          const out = buildMetainfo({
            name,
            pieceLength,
            pieces,
            files,
            multiFile: true,
            announceList,
            private: isPrivate,
          });
          const m: Metainfo = parseMetainfo(out, { lenient: false });
          assert.equal(m.name, name);
          assert.equal(m.pieceLength, pieceLength);
          assert.equal(m.totalLength, total);
          assert.deepEqual(
            m.files.map((f) => [f.path, f.length]),
            files.map((f) => [[name, ...f.path], f.length]),
          );
          assert.deepEqual(m.announceList, announceList);
          assert.equal(m.private, isPrivate);
          assert.equal(m.infoHashHex, sha1(m.infoBytes));
        },
      ),
      { numRuns: 100 },
    );
  });

  it('autoPieceLength and expandAnnounce', () => {
    assert.equal(autoPieceLength(0), 16384);
    assert.equal(autoPieceLength(2000 * 16384), 16384);
    assert.equal(autoPieceLength(2001 * 16384), 32768);
    assert.equal(autoPieceLength(2 ** 50), 16 * 1024 * 1024);
    assert.equal(expandAnnounce('127.0.0.1:6881'), 'http://127.0.0.1:6881/announce');
    assert.equal(expandAnnounce('udp://127.0.0.1:1'), 'udp://127.0.0.1:1');
  });
});
