// create --v2 / --hybrid without libtorrent (the interop test compares the hashes with it): files in
// BEP 52 order, pad files after every non-empty file of a folder, and every piece of the result
// passes both checks (SHA-1 for v1, merkle piece hash for v2) against the data as laid out.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { parseMetainfo } from '../../../src/protocol/metainfo.js';
import { verifyV2Piece } from '../../../src/protocol/metainfo-v2.js';
import { createTorrent } from '../../../src/storage/create-torrent.js';
import { comparePaths } from '../../../src/storage/create-v2.js';

const PL = 16384;
let dir = '';
const FILES: [string, number][] = [
  ['t/a-b.txt', 1000],
  ['t/a/b.txt', 40_001],
  ['t/empty', 0],
  ['t/exact.bin', PL],
  ['t/z.bin', 3 * PL + 7],
];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bitswarm-create-v2-'));
  for (const [i, [p, n]] of FILES.entries()) {
    await mkdir(dirname(join(dir, p)), { recursive: true });
    await writeFile(join(dir, p), Buffer.alloc(n, i + 1));
  }
});
after(() => rm(dir, { recursive: true, force: true }));

test('BEP 52 order compares paths folder by folder', () => {
  assert.ok(comparePaths(['a', 'b.txt'], ['a-b.txt']) < 0); // 'a' < 'a-b.txt', though 'a/' > 'a-'
  assert.ok(comparePaths(['b'], ['a', 'z']) > 0);
  assert.equal(comparePaths(['x'], ['x']), 0);
});

for (const version of ['v2', 'hybrid'] as const) {
  test(`${version}: layout, and every piece passes its checks`, async () => {
    const t = await createTorrent(join(dir, 't'), { version, pieceLength: PL, creationDate: null });
    const m = parseMetainfo(t.torrent);
    assert.equal(m.version, version);
    assert.deepEqual(
      m.files.map((f) => [f.path.slice(1).join('/'), f.length, f.padding]),
      [
        ['a/b.txt', 40_001, false],
        ['.pad/9151', 9151, true],
        ['a-b.txt', 1000, false],
        ['.pad/15384', 15_384, true],
        ['empty', 0, false],
        ['exact.bin', PL, false],
        ['z.bin', 3 * PL + 7, false],
        ['.pad/16377', 16_377, true],
      ],
    );
    const all = Buffer.alloc(m.totalLength);
    for (const f of m.files)
      if (!f.padding) (await readFile(join(dir, 't', ...f.path.slice(1)))).copy(all, f.offset);
    for (let p = 0; p < m.pieceCount; p++) {
      const data = all.subarray(p * PL, (p + 1) * PL);
      assert.equal(verifyV2Piece(m.v2!, PL, p, data), true, `piece ${p} (v2)`);
      if (version === 'hybrid') {
        assert.deepEqual(
          createHash('sha1').update(data).digest(),
          Buffer.from(m.pieces.subarray(p * 20, p * 20 + 20)),
        );
      }
      const bad = Buffer.from(data);
      bad[0]! ^= 1;
      assert.equal(verifyV2Piece(m.v2!, PL, p, bad), false, `piece ${p} corrupted`);
    }
  });
}
