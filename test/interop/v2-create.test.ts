// `bitswarm create --v2` and `--hybrid` against libtorrent 2.0.8 (python3-libtorrent): for the same
// files and piece length, the v1 and v2 info hashes are byte for byte libtorrent's (files sorted and
// pad files placed as libtorrent places them), and each side reads the other's torrent. And why
// `create` still makes v1 by default: what the v1-only clients of Debian make of a hybrid.

import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  assertTools,
  hasExecutable,
  hasPythonLibtorrent,
  makeTempDir,
  missingTools,
  pseudoRandomBytes,
  run,
  runBitswarm,
  runPython,
  skipUnlessCI,
} from './helpers.js';

const missing = await missingTools({
  'python3-libtorrent': hasPythonLibtorrent,
  'transmission-show': () => hasExecutable('transmission-show'),
  aria2c: () => hasExecutable('aria2c'),
});

/** libtorrent creates a torrent of argv[1] (v2 or hybrid) and prints its v1 and v2 hashes. */
const LT_CREATE = `
import libtorrent as lt, os, sys
path, mode, pl, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
fs = lt.file_storage()
lt.add_files(fs, path)
ct = lt.create_torrent(fs, pl, flags=lt.create_torrent.v2_only if mode == 'v2' else 0)
lt.set_piece_hashes(ct, os.path.dirname(os.path.abspath(path)))
e = ct.generate()
e.pop(b'creation date', None)
open(out, 'wb').write(lt.bencode(e))
h = lt.torrent_info(out).info_hashes()
print(str(h.v1) if h.has_v1() else '-', str(h.v2))
`;

/** libtorrent reads a torrent (ours) and prints its hashes and its file count. */
const LT_READ = `
import libtorrent as lt, sys
ti = lt.torrent_info(sys.argv[1])
h = ti.info_hashes()
print(str(h.v1) if h.has_v1() else '-', str(h.v2), ti.files().num_files())
`;

// Single file of 2.5 pieces; a folder with odd sizes, an empty file, a file of exactly one piece,
// nested folders and names that sort differently by whole path ('a-b' < 'a/b') than folder by folder.
const PL = 32 * 1024;
const TREE: readonly { path: string; length: number }[] = [
  { path: 'multi/a-b.txt', length: 1000 },
  { path: 'multi/a/b.txt', length: 70_001 },
  { path: 'multi/empty', length: 0 },
  { path: 'multi/one-piece.bin', length: PL },
  { path: 'multi/z/deep/last.bin', length: 100_003 },
  { path: 'single.bin', length: 2 * PL + PL / 2 },
  { path: 'one/only.bin', length: 50_000 },
];

describe('create --v2 / --hybrid: libtorrent info hashes', { skip: skipUnlessCI(missing) }, () => {
  let dir = '';
  let cleanup = async (): Promise<void> => {};
  before(async () => {
    assertTools(missing);
    ({ dir, cleanup } = await makeTempDir('v2-create'));
    for (const [i, f] of TREE.entries()) {
      await mkdir(dirname(join(dir, f.path)), { recursive: true });
      await writeFile(join(dir, f.path), pseudoRandomBytes(f.length, i + 1));
    }
  });
  after(() => cleanup());

  for (const mode of ['v2', 'hybrid'] as const) {
    for (const input of ['single.bin', 'multi', 'one']) {
      test(`${mode}: ${input}`, async () => {
        const ours = join(dir, `${input}-${mode}-ours.torrent`);
        const theirs = join(dir, `${input}-${mode}-lt.torrent`);
        const created = await runBitswarm(
          [
            'create',
            join(dir, input),
            `--${mode}`,
            '--piece-length',
            String(PL),
            '--no-date',
            '-q',
            '--json',
            '-o',
            ours,
          ],
          { timeoutMs: 60_000 },
        );
        assert.equal(created.code, 0, created.stderr);
        const c = JSON.parse(created.stdout) as { infoHash: string; infoHashV2: string; version: string };
        assert.equal(c.version, mode);
        const lt = (await runPython(LT_CREATE, [join(dir, input), mode, String(PL), theirs])).stdout.trim();
        const [ltV1, ltV2] = lt.split(' ');
        assert.equal(c.infoHashV2, ltV2, 'v2 info hash');
        if (mode === 'hybrid') assert.equal(c.infoHash, ltV1, 'v1 info hash');
        else assert.equal(c.infoHash, ltV2!.slice(0, 40), 'a v2-only torrent is known by its truncated hash');

        // libtorrent reads ours; we read libtorrent's
        const read = (await runPython(LT_READ, [ours])).stdout.trim().split(' ');
        assert.deepEqual(read.slice(0, 2), [mode === 'hybrid' ? ltV1 : '-', ltV2]);
        const info = await runBitswarm(['info', theirs, '--json']);
        assert.equal(info.code, 0, info.stderr);
        const m = JSON.parse(info.stdout) as { infoHashV2: string; version: string };
        assert.equal(m.infoHashV2, ltV2);
        assert.equal(m.version, mode);
      });
    }
  }

  // The day a Debian update makes either of these fail, the hybrid can become create's default
  // (as it is libtorrent's and qBittorrent's): until then a hybrid shuts these clients out.
  test("create's default stays v1: Transmission 3.00 cannot load a hybrid, aria2 1.36 gives it another info hash", async () => {
    const ours = join(dir, 'multi-canary.torrent');
    const created = await runBitswarm(
      ['create', join(dir, 'multi'), '--hybrid', '--piece-length', String(PL), '-q', '--json', '-o', ours],
      { timeoutMs: 60_000 },
    );
    assert.equal(created.code, 0, created.stderr);
    const { infoHash } = JSON.parse(created.stdout) as { infoHash: string };
    const theirs = join(dir, 'multi-canary-lt.torrent');
    const [ltV1] = (await runPython(LT_CREATE, [join(dir, 'multi'), 'hybrid', String(PL), theirs])).stdout
      .trim()
      .split(' ');
    assert.equal(ltV1, infoHash, 'the same hybrid as libtorrent makes');
    for (const torrent of [ours, theirs]) {
      const shown = await run('transmission-show', [torrent]);
      assert.match(
        shown.stdout + shown.stderr,
        /Error parsing \.torrent file/,
        `transmission-show ${torrent}`,
      );
      const aria = await run('aria2c', ['--show-files', torrent]);
      assert.equal(aria.code, 0, aria.stderr);
      const hash = /Info Hash: ([0-9a-f]{40})/i.exec(aria.stdout)?.[1]?.toLowerCase();
      assert.ok(hash, aria.stdout);
      assert.notEqual(hash, infoHash, 'aria2 now takes the v1 info hash of a hybrid');
    }
    // A v1 torrent of the same files: both read it, aria2 under its info hash.
    const v1 = join(dir, 'multi-canary-v1.torrent');
    const made = await runBitswarm(['create', join(dir, 'multi'), '-q', '--json', '-o', v1]);
    const v1Hash = (JSON.parse(made.stdout) as { infoHash: string }).infoHash;
    assert.equal((await run('transmission-show', [v1])).code, 0);
    assert.match((await run('aria2c', ['--show-files', v1])).stdout, new RegExp(`Info Hash: ${v1Hash}`, 'i'));
  });
});
