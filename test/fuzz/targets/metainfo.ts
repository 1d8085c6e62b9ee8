// Fuzz target: .torrent parsing (and bare info dicts, as ut_metadata delivers them). Any input gives
// a Metainfo or a MetainfoError; a Metainfo holds together: the files tile the data, every path is
// relative and free of `..`, the piece count matches the data and the hashes.

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { MetainfoError } from '../../../src/protocol/errors.js';
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
  check(
    m.infoHash.equals(createHash('sha1').update(m.infoBytes).digest()),
    'info hash is not SHA-1 of the info bytes',
  );
  check(m.pieceLength > 0 && Number.isSafeInteger(m.pieceLength), `piece length ${m.pieceLength}`);
  check(
    m.pieces.length === m.pieceCount * 20,
    `${m.pieces.length} bytes of hashes for ${m.pieceCount} pieces`,
  );
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
