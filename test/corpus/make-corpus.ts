// Writes the malformed-torrent corpus (test/corpus/torrents/*.torrent) and its EXPECTED.json.
// The files are checked in; this script is how they were made, kept so a defect can be added by
// editing the table. Tests never run it: `node dist/test/corpus/make-corpus.js test/corpus/torrents`.
//
// Expectations are written here by hand, not computed by the parser: an `error` is a substring of
// the one-line message; `paths` are the sanitized paths (elements joined by `/`) of the real files.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type BEncodable, encode } from '../../src/protocol/bencode.js';

type Expect = { error: string } | { paths: string[]; warning?: string };
interface Entry {
  file: string;
  bytes: Uint8Array;
  expect: Expect;
}

const PIECE = 16384;
const hashes = (n: number): Buffer => Buffer.alloc(20 * n, 0xab);
/** Raw bytes from latin1 strings and buffers, for inputs the canonical encoder cannot produce. */
const raw = (...parts: (string | Uint8Array)[]): Buffer =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : p)));

/** A v2-only torrent of one 40,000-byte file (3 pieces) with the given piece layers. */
const ROOT = Buffer.alloc(32, 0xcd);
const ROOT_KEY = ROOT.toString('latin1');
const v2Torrent = (layers: Record<string, BEncodable>): Buffer =>
  encode({
    info: {
      'file tree': { 'a.bin': { '': { length: 40_000, 'pieces root': ROOT } } },
      'meta version': 2,
      name: 'sample',
      'piece length': PIECE,
    },
    'piece layers': new Map(Object.entries(layers).map(([k, v]) => [k, v])),
  });
const deepTree = (n: number): BEncodable => {
  let t: BEncodable = { '': { length: 1, 'pieces root': Buffer.alloc(32) } };
  for (let i = 0; i < n; i++) t = { d: t };
  return t;
};

const singleInfo = (extra: Record<string, BEncodable | undefined> = {}): Record<string, BEncodable> => {
  const info: Record<string, BEncodable> = {
    name: 'sample',
    'piece length': PIECE,
    length: 1000,
    pieces: hashes(1),
  };
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete info[k];
    else info[k] = v;
  }
  return info;
};
const single = (extra: Record<string, BEncodable | undefined> = {}): Buffer =>
  encode({ info: singleInfo(extra) });

interface F {
  path: (string | Uint8Array)[];
  length?: number;
  attr?: string;
}
/** A multi-file torrent named `t` whose files are 1 byte each unless told otherwise. */
const multi = (files: F[], extra: Record<string, BEncodable> = {}): Buffer => {
  const total = files.reduce((n, f) => n + (f.length ?? 1), 0);
  const list = files.map((f) => {
    const e: Record<string, BEncodable> = { length: f.length ?? 1, path: f.path };
    if (f.attr !== undefined) e.attr = f.attr;
    return e;
  });
  return encode({
    info: {
      name: 't',
      'piece length': PIECE,
      pieces: hashes(Math.ceil(total / PIECE)),
      files: list,
      ...extra,
    },
  });
};

const valid = raw('d4:infod6:lengthi1000e4:name6:sample12:piece lengthi16384e6:pieces20:', hashes(1), 'ee');

const entries: Entry[] = [
  // --- bencode syntax -------------------------------------------------------------------------------
  { file: 'empty-file.torrent', bytes: raw(''), expect: { error: 'bad bencode: empty input at byte 0' } },
  {
    file: 'not-bencode-html.torrent',
    bytes: raw('<html>404</html>'),
    expect: { error: 'unexpected byte 0x3c at byte 0' },
  },
  {
    file: 'top-level-list.torrent',
    bytes: raw('l4:infoe'),
    expect: { error: 'not a torrent: the value at byte 0 is a list' },
  },
  {
    file: 'top-level-integer.torrent',
    bytes: raw('i42e'),
    expect: { error: 'not a torrent: the value at byte 0 is an integer' },
  },
  {
    file: 'nesting-10000-deep.torrent',
    bytes: raw('d4:info', 'l'.repeat(10000), 'e'.repeat(10000), 'e'),
    expect: { error: 'nesting deeper than 200 at byte' },
  },
  {
    file: 'string-length-exceeds-file.torrent',
    bytes: raw('d4:infod4:name1000:sampleee'),
    expect: { error: 'string length 1000 exceeds the' },
  },
  {
    file: 'huge-declared-string-length.torrent',
    bytes: raw('d4:infod6:pieces4294967296:', hashes(1), 'ee'),
    expect: { error: 'string length 4294967296 exceeds the' },
  },
  {
    file: 'string-length-overflows-integer.torrent',
    bytes: raw('d4:infod6:pieces99999999999999999999999999:', hashes(1), 'ee'),
    expect: { error: 'string length out of range at byte 16' },
  },
  {
    file: 'string-length-leading-zero.torrent',
    bytes: raw('d4:infod6:lengthi1000e04:name6:sample12:piece lengthi16384e6:pieces20:', hashes(1), 'ee'),
    expect: { error: 'leading zero in string length at byte 22' },
  },
  {
    file: 'leading-zero-integer.torrent',
    bytes: raw('d4:infod6:lengthi01000e4:name6:sample12:piece lengthi16384e6:pieces20:', hashes(1), 'ee'),
    expect: { error: 'leading zero in integer at byte 17' },
  },
  {
    file: 'negative-zero.torrent',
    bytes: raw('d4:infod6:lengthi-0e4:name6:sample12:piece lengthi16384e6:pieces20:', hashes(1), 'ee'),
    expect: { error: 'negative zero in integer at byte 17' },
  },
  {
    file: 'empty-integer.torrent',
    bytes: raw('d4:infod6:lengthie4:name6:sample12:piece lengthi16384e6:pieces20:', hashes(1), 'ee'),
    expect: { error: 'empty integer at byte 17' },
  },
  {
    file: 'integer-with-letter.torrent',
    bytes: raw('d4:infod6:lengthi10x0e4:name6:sample12:piece lengthi16384e6:pieces20:', hashes(1), 'ee'),
    expect: { error: 'unexpected byte 0x78 in integer at byte 19' },
  },
  {
    file: 'integer-plus-sign.torrent',
    bytes: raw('d4:infod6:lengthi+1000e4:name6:sample12:piece lengthi16384e6:pieces20:', hashes(1), 'ee'),
    expect: { error: 'unexpected byte 0x2b in integer at byte 17' },
  },
  {
    file: 'integer-5000-digits.torrent',
    bytes: raw(
      'd4:infod6:lengthi',
      '9'.repeat(5000),
      'e4:name6:sample12:piece lengthi16384e6:pieces20:',
      hashes(1),
      'ee',
    ),
    expect: { error: 'integer has too many digits at byte 17' },
  },
  {
    file: 'trailing-bytes.torrent',
    bytes: raw(valid, 'garbage'),
    expect: { error: '7 trailing bytes after the value at byte' },
  },
  {
    file: 'truncated.torrent',
    bytes: valid.subarray(0, valid.length - 1),
    expect: { error: 'truncated dict at byte 90' },
  },
  {
    file: 'truncated-mid-string.torrent',
    bytes: valid.subarray(0, 80),
    expect: { error: 'string length 20 exceeds the 11 bytes left at byte 66' },
  },
  {
    file: 'truncated-integer.torrent',
    bytes: raw('d4:infod6:lengthi10'),
    expect: { error: 'truncated integer at byte 19' },
  },
  {
    file: 'truncated-after-key.torrent',
    bytes: raw('d4:infod6:length'),
    expect: { error: 'key without value' },
  },
  {
    file: 'dict-key-not-a-string.torrent',
    bytes: raw('d4:infodi1ei2eee'),
    expect: { error: 'dict key is not a byte string at byte 8' },
  },
  {
    file: 'duplicate-keys.torrent',
    bytes: raw(
      'd4:infod6:lengthi1000e6:lengthi2000e4:name6:sample12:piece lengthi16384e6:pieces20:',
      hashes(1),
      'ee',
    ),
    expect: { error: 'duplicate dict key "length" at byte 22' },
  },
  {
    file: 'duplicate-keys-out-of-order.torrent',
    bytes: raw(
      'd4:infod4:name6:sample6:lengthi1000e4:name5:other12:piece lengthi16384e6:pieces20:',
      hashes(1),
      'ee',
    ),
    expect: { error: 'duplicate dict key "name"' },
  },
  {
    // Accepted (other tools write these); the info hash covers the original, unsorted bytes.
    file: 'unsorted-keys-info-accepted.torrent',
    bytes: raw('d4:infod4:name6:sample6:lengthi1000e12:piece lengthi16384e6:pieces20:', hashes(1), 'ee'),
    expect: { paths: ['sample'], warning: 'out of order' },
  },

  // --- required fields and their types --------------------------------------------------------------
  {
    file: 'missing-info.torrent',
    bytes: encode({ announce: 'http://127.0.0.1:1/announce' }),
    expect: { error: 'info: missing' },
  },
  {
    file: 'info-not-a-dict.torrent',
    bytes: encode({ info: ['name'] }),
    expect: { error: 'info: not a dictionary' },
  },
  {
    file: 'missing-name.torrent',
    bytes: single({ name: undefined }),
    expect: { error: 'info.name: missing' },
  },
  { file: 'empty-name.torrent', bytes: single({ name: '' }), expect: { error: 'info.name: empty' } },
  {
    file: 'name-not-a-string.torrent',
    bytes: single({ name: 5 }),
    expect: { error: 'info.name: not a byte string' },
  },
  {
    file: 'missing-piece-length.torrent',
    bytes: single({ 'piece length': undefined }),
    expect: { error: 'info.piece length: missing' },
  },
  {
    file: 'piece-length-zero.torrent',
    bytes: single({ 'piece length': 0 }),
    expect: { error: 'info.piece length: 0 is not positive' },
  },
  {
    file: 'piece-length-negative.torrent',
    bytes: single({ 'piece length': -16384 }),
    expect: { error: 'info.piece length: -16384 is not positive' },
  },
  {
    file: 'piece-length-1gib.torrent',
    bytes: single({ 'piece length': 1024 * 1024 * 1024 }),
    expect: { error: 'info.piece length: 1073741824 is larger than 536870912' },
  },
  {
    file: 'piece-length-string.torrent',
    bytes: single({ 'piece length': '16384' }),
    expect: { error: 'info.piece length: not an integer' },
  },
  {
    file: 'missing-pieces.torrent',
    bytes: single({ pieces: undefined }),
    expect: { error: 'info.pieces: missing' },
  },
  {
    file: 'pieces-not-a-string.torrent',
    bytes: single({ pieces: [hashes(1)] }),
    expect: { error: 'info.pieces: not a byte string' },
  },
  {
    file: 'pieces-length-41.torrent',
    bytes: single({ pieces: Buffer.alloc(41) }),
    expect: { error: 'info.pieces: length 41 is not a multiple of 20' },
  },
  {
    file: 'pieces-too-few.torrent',
    bytes: single({ length: 3 * PIECE, pieces: hashes(2) }),
    expect: { error: 'info.pieces: 2 hashes for 3 pieces' },
  },
  {
    file: 'pieces-too-many.torrent',
    bytes: single({ length: 1000, pieces: hashes(2) }),
    expect: { error: 'info.pieces: 2 hashes for 1 pieces' },
  },
  {
    file: 'length-and-files.torrent',
    bytes: single({ files: [{ length: 1, path: ['a'] }] }),
    expect: { error: 'info: has both "length" and "files"' },
  },
  {
    file: 'no-length-no-files.torrent',
    bytes: single({ length: undefined }),
    expect: { error: 'info: has neither "length" nor "files"' },
  },
  { file: 'no-files.torrent', bytes: multi([]), expect: { error: 'info.files: empty' } },
  {
    file: 'only-padding-files.torrent',
    bytes: multi([{ path: ['.pad', '5'], length: 5, attr: 'p' }]),
    expect: { error: 'info.files: only padding files' },
  },
  {
    file: 'files-not-a-list.torrent',
    bytes: single({ length: undefined, files: 'a' }),
    expect: { error: 'info.files: not a list' },
  },
  {
    file: 'file-entry-not-a-dict.torrent',
    bytes: single({ length: undefined, files: [['a']] }),
    expect: { error: 'info.files[0]: not a dictionary' },
  },
  {
    file: 'missing-file-length.torrent',
    bytes: single({ length: undefined, files: [{ path: ['a'] }] }),
    expect: { error: 'info.files[0].length: missing' },
  },
  {
    file: 'negative-file-length.torrent',
    bytes: multi([{ path: ['a'] }, { path: ['b'], length: -1 }]),
    expect: { error: 'info.files[1].length: -1 is negative' },
  },
  {
    file: 'negative-length-single-file.torrent',
    bytes: single({ length: -5, pieces: hashes(0) }),
    expect: { error: 'info.length: -5 is negative' },
  },
  {
    file: 'file-length-string.torrent',
    bytes: single({ length: undefined, files: [{ length: '1', path: ['a'] }] }),
    expect: { error: 'info.files[0].length: not an integer' },
  },
  {
    file: 'huge-declared-length-bigint.torrent',
    bytes: single({ length: 2n ** 64n }),
    expect: { error: 'info.length: 18446744073709551616 is out of range' },
  },
  {
    file: 'absurd-size-1-pib-one-piece.torrent',
    bytes: single({ length: 2 ** 50 }),
    expect: { error: 'info.pieces: 1 hashes for 68719476736 pieces' },
  },
  {
    file: 'absurd-total-size-overflows.torrent',
    bytes: encode({
      info: {
        name: 't',
        'piece length': 512 * 1024 * 1024,
        pieces: hashes(1),
        files: [
          { length: 2 ** 52, path: ['a'] },
          { length: 2 ** 52, path: ['b'] },
        ],
      },
    }),
    expect: { error: 'info.files[1].length: total size is out of range' },
  },
  {
    file: 'missing-file-path.torrent',
    bytes: single({ length: undefined, files: [{ length: 1 }] }),
    expect: { error: 'info.files[0].path: missing' },
  },
  {
    file: 'path-not-a-list.torrent',
    bytes: single({ length: undefined, files: [{ length: 1000, path: 'a/b' }] }),
    expect: { error: 'info.files[0].path: not a list' },
  },
  {
    file: 'path-empty-list.torrent',
    bytes: multi([{ path: [] }]),
    expect: { error: 'info.files[0].path: empty' },
  },
  {
    file: 'path-element-not-a-string.torrent',
    bytes: single({ length: undefined, files: [{ length: 1000, path: ['a', 7] }] }),
    expect: { error: 'info.files[0].path[1]: not a byte string' },
  },
  {
    file: 'private-not-an-integer.torrent',
    bytes: single({ private: 'yes' }),
    expect: { error: 'info.private: not an integer' },
  },
  {
    file: 'announce-list-not-a-list.torrent',
    bytes: encode({ 'announce-list': 'http://127.0.0.1:1/announce', info: singleInfo() }),
    expect: { error: 'announce-list: not a list' },
  },
  {
    file: 'announce-list-tier-not-a-list.torrent',
    bytes: encode({ 'announce-list': ['http://127.0.0.1:1/announce'], info: singleInfo() }),
    expect: { error: 'announce-list[0]: not a list' },
  },
  {
    file: 'meta-version-3.torrent',
    bytes: single({ 'meta version': 3 }),
    expect: { error: 'info.meta version: unknown version 3' },
  },
  // --- BEP 52: a v2 file of 40,000 bytes is 3 pieces of 16 KiB, so it needs a piece layer -----------
  {
    file: 'v2-layer-wrong-root.torrent',
    bytes: v2Torrent({ [ROOT_KEY]: Buffer.alloc(96, 7) }),
    expect: { error: "does not hash to the file's pieces root" },
  },
  {
    file: 'v2-layer-length-33.torrent',
    bytes: v2Torrent({ [ROOT_KEY]: Buffer.alloc(33, 7) }),
    expect: { error: 'length 33 is not a multiple of 32' },
  },
  {
    file: 'v2-layer-missing.torrent',
    bytes: v2Torrent({}),
    expect: { error: 'missing (a file larger than one piece needs its layer)' },
  },
  {
    file: 'v2-layer-too-few-hashes.torrent',
    bytes: v2Torrent({ [ROOT_KEY]: Buffer.alloc(64, 7) }),
    expect: { error: '2 hashes for 3 pieces' },
  },
  {
    file: 'v2-tree-too-deep.torrent',
    bytes: encode({
      info: {
        'file tree': deepTree(70),
        'meta version': 2,
        name: 'sample',
        'piece length': PIECE,
      },
    }),
    expect: { error: 'nested deeper than 64 folders' },
  },
  {
    file: 'v2-pieces-root-short.torrent',
    bytes: encode({
      info: {
        'file tree': { 'a.txt': { '': { length: 1000, 'pieces root': Buffer.alloc(31) } } },
        'meta version': 2,
        name: 'sample',
        'piece length': PIECE,
      },
    }),
    expect: { error: 'pieces root: not a 32-byte hash' },
  },
  {
    file: 'v2-piece-length-not-power-of-two.torrent',
    bytes: encode({
      info: {
        'file tree': { 'a.txt': { '': { length: 1000, 'pieces root': Buffer.alloc(32) } } },
        'meta version': 2,
        name: 'sample',
        'piece length': 3 * PIECE,
      },
    }),
    expect: { error: 'is not a power of two of at least 16384' },
  },
  {
    file: 'v2-file-and-folder.torrent',
    bytes: encode({
      info: {
        'file tree': { a: { '': { length: 1, 'pieces root': Buffer.alloc(32) }, b: { '': { length: 0 } } } },
        'meta version': 2,
        name: 'sample',
        'piece length': PIECE,
      },
    }),
    expect: { error: 'both a file and a folder' },
  },

  // --- path attacks: sanitized, never rejected ------------------------------------------------------
  {
    file: 'path-dotdot.torrent',
    bytes: multi([{ path: ['..', '..', 'etc', 'passwd'] }]),
    expect: { paths: ['t/etc/passwd'] },
  },
  { file: 'path-only-dotdot.torrent', bytes: multi([{ path: ['..'] }]), expect: { paths: ['t/_'] } },
  {
    file: 'path-dot-and-empty.torrent',
    bytes: multi([{ path: ['.', '', 'a', '.', 'b'] }]),
    expect: { paths: ['t/a/b'] },
  },
  {
    file: 'path-absolute.torrent',
    bytes: multi([{ path: ['/etc/passwd'] }]),
    expect: { paths: ['t/_etc_passwd'] },
  },
  {
    file: 'path-drive-letter.torrent',
    bytes: multi([{ path: ['C:\\Windows\\System32\\evil.dll'] }, { path: ['D:', 'x'] }]),
    expect: { paths: ['t/C__Windows_System32_evil.dll', 't/D_/x'] },
  },
  {
    file: 'path-unc.torrent',
    bytes: multi([{ path: ['\\\\server\\share\\x'] }, { path: ['//server/share/y'] }]),
    expect: { paths: ['t/__server_share_x', 't/__server_share_y'] },
  },
  {
    file: 'path-slash-inside-element.torrent',
    bytes: multi([{ path: ['a/../../b'] }, { path: ['c\\..\\d'] }]),
    expect: { paths: ['t/a_.._.._b', 't/c_.._d'] },
  },
  { file: 'path-nul-byte.torrent', bytes: multi([{ path: ['a\u0000b'] }]), expect: { paths: ['t/a_b'] } },
  {
    file: 'path-control-chars.torrent',
    bytes: multi([{ path: ['a\nb\r\u001b[31mred\u007f'] }]),
    expect: { paths: ['t/a_b__[31mred_'] },
  },
  {
    file: 'path-windows-forbidden-chars.torrent',
    bytes: multi([{ path: ['a<b>c:d"e|f?g*h'] }]),
    expect: { paths: ['t/a_b_c_d_e_f_g_h'] },
  },
  {
    file: 'path-trailing-dots-spaces.torrent',
    bytes: multi([{ path: ['dir. ', 'file. . .'] }, { path: ['. .'] }]),
    expect: { paths: ['t/dir/file', 't/_'] },
  },
  {
    file: 'path-device-name-con.torrent',
    bytes: multi([
      { path: ['CON'] },
      { path: ['nul.txt'] },
      { path: ['Com1'] },
      { path: ['lpt9.log'] },
      { path: ['aux', 'x'] },
    ]),
    expect: { paths: ['t/_CON', 't/_nul.txt', 't/_Com1', 't/_lpt9.log', 't/_aux/x'] },
  },
  {
    file: 'path-too-long-element.torrent',
    bytes: multi([{ path: [`${'a'.repeat(300)}.txt`] }]),
    expect: { paths: [`t/${'a'.repeat(251)}.txt`] },
  },
  {
    file: 'path-too-long-multibyte.torrent',
    bytes: multi([{ path: ['é'.repeat(200)] }]),
    expect: { paths: [`t/${'é'.repeat(127)}`] },
  },
  {
    file: 'path-too-long-ends-in-space.torrent',
    bytes: multi([{ path: [`${'a'.repeat(254)} ${'b'.repeat(50)}`] }]),
    expect: { paths: [`t/${'a'.repeat(254)}`] },
  },
  {
    file: 'path-collision-after-sanitize.torrent',
    bytes: multi([{ path: ['a?'] }, { path: ['a*'] }, { path: ['a:'] }]),
    expect: { paths: ['t/a_', 't/a_.1', 't/a_.2'] },
  },
  {
    file: 'path-duplicate.torrent',
    bytes: multi([{ path: ['x', 'y'] }, { path: ['x', 'y'] }]),
    expect: { paths: ['t/x/y', 't/x/y.1'] },
  },
  {
    file: 'path-file-folder-clash.torrent',
    bytes: multi([{ path: ['a'] }, { path: ['a', 'b'] }]),
    expect: { paths: ['t/a', 't/a.1/b'] },
  },
  {
    file: 'path-folder-file-clash.torrent',
    bytes: multi([{ path: ['a', 'b'] }, { path: ['a'] }]),
    expect: { paths: ['t/a/b', 't/a.1'] },
  },
  {
    file: 'path-collision-too-long.torrent',
    bytes: multi([{ path: ['z'.repeat(300)] }, { path: ['z'.repeat(301)] }]),
    expect: { paths: [`t/${'z'.repeat(255)}`, `t/${'z'.repeat(253)}.1`] },
  },
  {
    file: 'path-invalid-utf8.torrent',
    bytes: multi([{ path: [raw('ok', Buffer.from([0xff, 0xfe]), '.bin')] }]),
    expect: { paths: ['t/ok\ufffd\ufffd.bin'] },
  },
  {
    file: 'path-utf8-key-dotdot.torrent',
    bytes: single({
      length: undefined,
      files: [{ length: 1000, path: ['safe'], 'path.utf-8': ['..', 'evil'] }],
    }),
    expect: { paths: ['sample/evil'] },
  },
  { file: 'name-dotdot.torrent', bytes: single({ name: '..' }), expect: { paths: ['_'] } },
  {
    file: 'name-absolute.torrent',
    bytes: single({ name: '/etc/passwd' }),
    expect: { paths: ['_etc_passwd'] },
  },
  {
    file: 'name-dotdot-multi-file.torrent',
    bytes: encode({
      info: {
        name: '..',
        'piece length': PIECE,
        pieces: hashes(1),
        files: [{ length: 1, path: ['..', 'x'] }],
      },
    }),
    expect: { paths: ['_/x'] },
  },
  {
    file: 'padding-file-with-dotdot-path.torrent',
    bytes: multi([{ path: ['a'] }, { path: ['..', '..', 'pad'], length: 3, attr: 'p' }, { path: ['b'] }]),
    expect: { paths: ['t/a', 't/b'] },
  },
];

const out = process.argv[2];
if (!out) {
  process.stderr.write('usage: node make-corpus.js <output folder>\n');
  process.exitCode = 2;
} else {
  mkdirSync(out, { recursive: true });
  const expected: Record<string, Expect> = {};
  for (const e of entries) {
    if (e.file in expected) throw new Error(`duplicate corpus file ${e.file}`);
    writeFileSync(join(out, e.file), e.bytes);
    expected[e.file] = e.expect;
  }
  writeFileSync(join(out, 'EXPECTED.json'), `${JSON.stringify(expected, null, 2)}\n`);
  process.stdout.write(`${entries.length} files written to ${out}\n`);
}
