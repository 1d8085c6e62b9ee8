// `create` and `share` never overwrite a .torrent silently: an existing one is refused (exit 2, one
// line, before any hashing) unless --force, and the file is written atomically (a temporary file in
// the same folder, then one rename or link), so no temporary file is left behind either way.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseMetainfo } from '../../../src/protocol/metainfo.js';
import { bitswarmNodeArgs, runBitswarm, spawnJson } from '../../interop/helpers.js';

describe('create and share refuse to overwrite a .torrent without --force', () => {
  let dir: string;
  let data: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bitswarm-force-'));
    data = join(dir, 'data.bin');
    await writeFile(data, Buffer.alloc(70_000, 3));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('create -o an existing file: exit 2, one line, the file untouched; --force replaces it', async () => {
    const out = join(dir, 'mine.torrent');
    await writeFile(out, 'precious');
    const r = await runBitswarm(['create', data, '-o', out, '--no-date', '-q']);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr, `bitswarm: create: ${out} exists; --force to overwrite (or -o FILE)\n`);
    assert.equal(r.stdout, '');
    assert.equal(await readFile(out, 'utf8'), 'precious');
    const f = await runBitswarm(['create', data, '-o', out, '--no-date', '-q', '--force']);
    assert.equal(f.code, 0, f.stderr);
    assert.equal(parseMetainfo(await readFile(out)).name, 'data.bin');
    assert.deepEqual((await readdir(dir)).sort(), ['data.bin', 'mine.torrent'], 'no temporary file is left');
  });

  test('create with the default name (<name>.torrent here) refuses it too', async () => {
    const cwd = await mkdtemp(join(dir, 'cwd-'));
    const first = await runBitswarm(['create', data, '--no-date', '-q'], { cwd });
    assert.equal(first.code, 0, first.stderr);
    const bytes = await readFile(join(cwd, 'data.bin.torrent'));
    const again = await runBitswarm(['create', data, '-q', '--comment', 'other'], { cwd });
    assert.equal(again.code, 2);
    assert.match(again.stderr, /^bitswarm: create: data\.bin\.torrent exists; --force to overwrite/);
    assert.deepEqual(await readFile(join(cwd, 'data.bin.torrent')), bytes);
    assert.deepEqual(await readdir(cwd), ['data.bin.torrent']);
  });

  test('share refuses an existing .torrent before it starts a session; --force replaces it', async () => {
    const out = join(dir, 'shared.torrent');
    await writeFile(out, 'precious');
    const net = [
      '--port',
      '0',
      '--bind',
      '127.0.0.1',
      '--no-dht',
      '--no-lsd',
      '--announce-host',
      '127.0.0.1',
    ];
    const r = await runBitswarm(['share', data, '-o', out, '--json', ...net]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr, `bitswarm: share: ${out} exists; --force to overwrite (or -o FILE)\n`);
    assert.equal(await readFile(out, 'utf8'), 'precious');

    const share = spawnJson(bitswarmNodeArgs(['share', data, '-o', out, '--json', '--force', ...net]));
    try {
      await new Promise<void>((resolve, reject) => {
        const t = setInterval(() => {
          if (share.lines.some((l) => l.event === 'shared')) {
            clearInterval(t);
            resolve();
          }
        }, 20);
        void share.exited.then(() => {
          clearInterval(t);
          reject(new Error(`share exited: ${share.stderr()}`));
        });
      });
      assert.equal(parseMetainfo(await readFile(out)).name, 'data.bin');
    } finally {
      share.child.kill('SIGTERM');
      await share.exited;
    }
  });
});
