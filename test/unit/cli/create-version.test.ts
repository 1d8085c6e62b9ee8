// Which torrent `create` makes: v1 by default and with --v1 (every client reads it: v2-create.test.ts
// shows why hybrids are not the default yet), a hybrid with --hybrid, v2-only with --v2; two of the
// flags together are one clear error.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseMetainfo } from '../../../src/protocol/metainfo.js';
import { runBitswarm } from '../../interop/helpers.js';

describe('create: the torrent version', () => {
  let dir: string;
  let data: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bitswarm-version-'));
    data = join(dir, 'folder');
    await mkdir(data);
    await writeFile(join(data, 'a.bin'), Buffer.alloc(40_000, 1));
    await writeFile(join(data, 'b.bin'), Buffer.alloc(30_000, 2));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  for (const [flags, version] of [
    [[], 'v1'],
    [['--hybrid'], 'hybrid'],
    [['--v1'], 'v1'],
    [['--v2'], 'v2'],
  ] as const) {
    test(`${flags.length ? flags.join(' ') : 'no flag'}: ${version}`, async () => {
      const out = join(dir, `${version}-${flags.length}.torrent`);
      const r = await runBitswarm(['create', data, '-o', out, '--no-date', '-q', '--json', ...flags]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal((JSON.parse(r.stdout) as { version: string }).version, version);
      const m = parseMetainfo(await readFile(out));
      assert.equal(m.version, version);
      // v2 pieces never span files: a hybrid pads its v1 pieces to the file boundaries (BEP 47),
      // and a v2-only torrent is read with such gaps; a v1 torrent has none.
      const pads = m.files.filter((f) => f.padding).length;
      assert.equal(pads > 0, version !== 'v1', `${pads} pad files`);
    });
  }

  test('two version flags: exit 2, one line, nothing written', async () => {
    const out = join(dir, 'never.torrent');
    const r = await runBitswarm(['create', data, '-o', out, '--v1', '--hybrid']);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, 'bitswarm: create: --v1 and --hybrid exclude each other\n');
    assert.ok(!(await readdir(dir)).includes('never.torrent'));
  });
});
