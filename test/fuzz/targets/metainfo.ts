// Fuzz target: .torrent parsing (and bare info dicts, as ut_metadata delivers them). Any input gives
// a Metainfo or a MetainfoError; a Metainfo holds together: the files tile the data, every path is
// relative and free of `..`, the piece count matches the data and the hashes. BEP 52 too (the corpus
// has v2 torrents): the v2 hashes, each v2 file on a piece boundary, each piece layer its root's.

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { MetainfoError } from '../../../src/protocol/errors.js';
import { rootFromPieceLayer } from '../../../src/protocol/merkle.js';
import { type Metainfo, parseInfoDict, parseMetainfo } from '../../../src/protocol/metainfo.js';
import { corpusDir } from '../../corpus/corpus-dir.js';
import { check, selector, typedOnly } from '../contract.js';

export const dictionary = [
  'd4:infod',
  '4:name',
  '6:length',
  '12:piece lengthi16384e',
  '6:pieces20:',
  '5:files',
  '4:path',
  '8:announce',
  '13:announce-list',
  '7:privatei1e',
  '4:attr1:p',
  '12:meta versioni2e',
  '9:file tree',
  '0:d6:lengthi',
  '11:pieces root32:',
  '12:piece layersd',
  '8:url-list',
  'ee',
  'le',
];
export const maxLength = 8192;

export function seeds(): Uint8Array[] {
  const dir = corpusDir();
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.torrent'))
    .sort()
    .map((f) => Buffer.concat([Buffer.from([0]), fs.readFileSync(path.join(dir, f))]));
}

export function fuzz(data: Buffer): void {
  const [sel, input] = selector(data);
  const bare = (sel & 1) !== 0;
  const m = typedOnly('parseMetainfo', [MetainfoError], () =>
    bare ? parseInfoDict(input) : parseMetainfo(input, { lenient: (sel & 2) === 0 }),
  );
  if (m !== undefined) holdsTogether(m);
}

function holdsTogether(m: Metainfo): void {
  const v2Hash = createHash('sha256').update(m.infoBytes).digest();
  check(
    m.infoHash.equals(
      m.version === 'v2' ? v2Hash.subarray(0, 20) : createHash('sha1').update(m.infoBytes).digest(),
    ),
    'info hash is not SHA-1 of the info bytes (v2: the first 20 bytes of its SHA-256)',
  );
  check(m.pieceLength > 0 && Number.isSafeInteger(m.pieceLength), `piece length ${m.pieceLength}`);
  check(
    m.pieces.length === (m.version === 'v2' ? 0 : m.pieceCount * 20),
    `${m.pieces.length} bytes of hashes for ${m.pieceCount} pieces`,
  );
  check(
    (m.version === 'v1') === (m.v2 === undefined),
    `version ${m.version} with v2 part ${m.v2 !== undefined}`,
  );
  if (m.v2) {
    check(m.infoHashV2?.equals(v2Hash) === true, 'v2 hash is not SHA-256 of the info bytes');
    for (const f of m.v2.files) {
      const file = m.files[f.fileIndex];
      check(file !== undefined && !file.padding && file.length === f.length, 'v2 file not in the layout');
      check(f.length === 0 || file!.offset === f.firstPiece * m.pieceLength, 'v2 file off a piece boundary');
      if (f.layer) {
        check(
          f.piecesRoot !== undefined && rootFromPieceLayer(f.layer, m.pieceLength).equals(f.piecesRoot),
          'layer',
        );
      }
    }
  }
  check(
    m.pieceCount === Math.ceil(m.totalLength / m.pieceLength),
    `${m.pieceCount} pieces for ${m.totalLength} bytes`,
  );
  let offset = 0;
  for (const f of m.files) {
    check(
      f.offset === offset && f.length >= 0 && Number.isSafeInteger(f.length),
      `file ${f.path.join('/')} out of place`,
    );
    offset += f.length;
    check(f.path.length > 0, 'a file with an empty path');
    for (const e of f.path) {
      check(
        e !== '' && e !== '.' && e !== '..' && !e.includes('/') && !e.includes('\\') && !e.includes('\0'),
        `unsafe path element ${JSON.stringify(e)}`,
      );
    }
  }
  check(offset === m.totalLength, `files add up to ${offset}, not ${m.totalLength}`);
}
