// The malformed-torrent corpus (test/corpus/torrents): every file is listed in EXPECTED.json and does
// what it says there. Rejections are MetainfoErrors naming a field or a byte offset; path attacks are
// sanitized into relative paths that stay inside the download directory.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { resolve, sep } from 'node:path';
import { describe, it } from 'node:test';
import { MetainfoError } from '../../../src/protocol/errors.js';
import { type Metainfo, parseMetainfo } from '../../../src/protocol/metainfo.js';
import { corpusDir } from '../../corpus/corpus-dir.js';

type Expect = { error: string } | { paths: string[]; warning?: string };

const dir = corpusDir();
const expected = JSON.parse(readFileSync(resolve(dir, 'EXPECTED.json'), 'utf8')) as Record<string, Expect>;
const files = readdirSync(dir).filter((f) => f !== 'EXPECTED.json');
/**
 * A field path as MetainfoError names it: `info`, `info.piece length`, `info.files[3].path[0]`,
 * `info.file tree["a"][""].length` (a quoted dict key), `piece layers[<64 hex digits>]`.
 */
const INDEX = String.raw`(\[\d+\]|\["(?:[^"\\]|\\.)*"\]|\[[0-9a-f]{64}\])*`;
const FIELD = new RegExp(`^[a-z][a-z .-]*${INDEX}(\\.[a-z][a-z .-]*${INDEX})*$`);

describe('malformed-torrent corpus', () => {
  it('has at least 35 files, every one listed in EXPECTED.json and every listing present', () => {
    assert.ok(files.length >= 35, `${files.length} files`);
    assert.deepEqual(
      files.filter((f) => !(f in expected)),
      [],
      'files missing from EXPECTED.json',
    );
    assert.deepEqual(
      Object.keys(expected).filter((f) => !files.includes(f)),
      [],
      'EXPECTED.json lists files that do not exist',
    );
    for (const f of files) assert.match(f, /^[a-z0-9-]+\.torrent$/);
  });

  const download = resolve('/tmp/bitswarm-corpus-download');
  for (const file of files.sort()) {
    const want = expected[file];
    if (want === undefined) continue;
    it(`${file}: ${'error' in want ? `rejected (${want.error})` : `sanitized to ${want.paths.length} path(s)`}`, () => {
      const bytes = readFileSync(resolve(dir, file));
      let m: Metainfo | undefined;
      let error: unknown;
      try {
        m = parseMetainfo(bytes);
      } catch (err) {
        error = err;
      }
      if ('error' in want) {
        assert.equal(m, undefined, `${file} was accepted`);
        assert.ok(error instanceof MetainfoError, `not a MetainfoError: ${String(error)}`);
        assert.ok(error.message.includes(want.error), `"${error.message}" should include "${want.error}"`);
        assert.doesNotMatch(error.message, /\n/);
        if (error.field) {
          assert.match(error.field, FIELD);
          assert.ok(error.message.startsWith(`${error.field}: `), 'the message starts with the field');
        } else {
          assert.match(error.message, /at byte \d+/, 'a whole-file problem names a byte offset');
        }
        return;
      }
      if (error) throw error;
      assert.ok(m);
      const real = m.files.filter((f) => !f.padding);
      assert.deepEqual(
        real.map((f) => f.path.join('/')),
        want.paths,
      );
      if (want.warning) {
        const w = want.warning;
        assert.ok(
          m.warnings.some((x) => x.includes(w)),
          `no warning with "${w}" in ${JSON.stringify(m.warnings)}`,
        );
      }
      for (const f of m.files) {
        assert.ok(f.path.length >= 1);
        for (const el of f.path) {
          assert.ok(el !== '' && el !== '.' && el !== '..', `bad element ${JSON.stringify(el)}`);
          assert.doesNotMatch(el, /[/\\\u0000]/);
        }
        const full = resolve(download, ...f.path);
        assert.ok(full.startsWith(download + sep), `${full} escapes ${download}`);
      }
      assert.equal(new Set(real.map((f) => f.path.join('/'))).size, real.length, 'two files share a path');
    });
  }
});
