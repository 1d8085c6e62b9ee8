// Interop of `bitswarm create` / `bitswarm info` with real tools over one sample tree: same content,
// piece length and file order give the same info hash as mktorrent (folders and single files) and
// libtorrent (single files; it orders a folder's files its own way); and each side reads the other's
// torrents with the info hash and file list the other side computed.

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
  runBitswarm,
  runOk,
  runPython,
  skipUnlessCI,
} from './helpers.js';

const PIECE_LENGTH = 32 * 1024;
const MKTORRENT_LOG2 = 15; // mktorrent -l takes log2 of the piece length
const TIMEOUT_MS = 60_000;

const missing = await missingTools({
  mktorrent: () => hasExecutable('mktorrent'),
  'transmission-create': () => hasExecutable('transmission-create'),
  'transmission-show': () => hasExecutable('transmission-show'),
  'python3-libtorrent': hasPythonLibtorrent,
});

/**
 * The sample folder. Lengths make the total 5 pieces and 1 byte (a last piece of one byte), and
 * include a file of exactly one piece, an empty file, a hidden file, nested and non-ASCII names, an
 * empty folder (no tool lists it), and `a-b.txt` vs `a/b.txt`, which sort differently by whole-path
 * bytes ('-' < '/') than folder by folder.
 */
const ROOT = 'sample-ñ';
const SAMPLE: readonly { path: string; length: number }[] = [
  { path: '.hidden', length: 5 },
  { path: 'Zebra one piece.bin', length: PIECE_LENGTH },
  { path: 'a-b.txt', length: 1000 },
  { path: 'a/b.txt', length: 2000 },
  { path: 'café/日本語.txt', length: 3000 },
  { path: 'empty.txt', length: 0 },
  { path: 'nested/deeper/deepest/data.bin', length: 100_000 },
  { path: 'nested/x', length: 25_068 },
];
const EMPTY_DIR = 'nested/empty-folder';
const SAMPLE_TOTAL = SAMPLE.reduce((s, f) => s + f.length, 0);

/**
 * A folder large enough (over 16 MiB) that create hashes it in worker threads as well (with
 * `--threads 3`: the calling thread and two workers), whose jobs of 4 MiB cut across files.
 */
const BIG_ROOT = 'big-tree';
const MIB = 1024 * 1024;
const BIG: readonly { path: string; length: number }[] = [
  { path: 'a.bin', length: 5 * MIB + 3 },
  { path: 'b/c.bin', length: 7 * MIB - 1001 },
  { path: 'b/empty', length: 0 },
  { path: 'd.bin', length: 8 * MIB + 777 },
];

/** Single files: exactly one piece, and a last piece of one byte. */
const SINGLES = [
  { name: 'one-piece-ü.bin', length: PIECE_LENGTH },
  { name: 'tail-1-byte.bin', length: 3 * PIECE_LENGTH + 1 },
] as const;

const TOOLS = ['bitswarm', 'mktorrent', 'libtorrent', 'transmission'] as const;
type Tool = (typeof TOOLS)[number];

interface FileEntry {
  path: string;
  length: number;
}

interface LtView {
  infoHash: string;
  name: string;
  pieceLength: number;
  pieceCount: number;
  totalLength: number;
  files: (FileEntry & { pad: boolean })[];
}

/** libtorrent through its Python binding: `create SRC OUT PIECE_LENGTH` (v1 only) or `read TORRENT`. */
const LT_SCRIPT = `
import sys, os, json, libtorrent as lt
if sys.argv[1] == 'create':
    src, out, plen = sys.argv[2], sys.argv[3], int(sys.argv[4])
    fs = lt.file_storage()
    lt.add_files(fs, src)
    # v1 only, and no pad files (libtorrent 1.2 pads by default through optimize_alignment)
    ct = lt.create_torrent(fs, plen, flags=getattr(lt.create_torrent, 'v1_only', 0))
    lt.set_piece_hashes(ct, os.path.dirname(os.path.abspath(src)))
    with open(out, 'wb') as f:
        f.write(lt.bencode(ct.generate()))
else:
    ti = lt.torrent_info(sys.argv[2])
    fs = ti.files()
    files = [{'path': fs.file_path(i).replace(os.sep, '/'), 'length': fs.file_size(i),
              'pad': bool(fs.file_flags(i) & lt.file_storage.flag_pad_file)} for i in range(fs.num_files())]
    print(json.dumps({'infoHash': str(ti.info_hash()), 'name': ti.name(), 'pieceLength': ti.piece_length(),
                      'pieceCount': ti.num_pieces(), 'totalLength': ti.total_size(), 'files': files}))
`;

const byPathBytes = (a: FileEntry, b: FileEntry): number =>
  Buffer.compare(Buffer.from(a.path), Buffer.from(b.path));
const sortedByPath = (files: readonly FileEntry[]): FileEntry[] => [...files].sort(byPathBytes);

/** What a folder's torrent should list: root name first, in bitswarm's (and mktorrent's) order. */
const expectedFiles = (root: string, files: readonly FileEntry[]): FileEntry[] =>
  sortedByPath(files.map((f) => ({ path: `${root}/${f.path}`, length: f.length })));
const EXPECTED_DIR_FILES = expectedFiles(ROOT, SAMPLE);

/** Every source: its file list as a torrent holds it, and the `--threads` bitswarm uses for it. */
const SOURCES: readonly { name: string; files: FileEntry[]; threads?: number }[] = [
  { name: ROOT, files: EXPECTED_DIR_FILES },
  { name: BIG_ROOT, files: expectedFiles(BIG_ROOT, BIG), threads: 3 },
  ...SINGLES.map((s) => ({ name: s.name, files: [{ path: s.name, length: s.length }] })),
];

async function libtorrentRead(torrent: string): Promise<LtView> {
  const r = await runPython(LT_SCRIPT, ['read', torrent], { timeoutMs: TIMEOUT_MS });
  return JSON.parse(r.stdout) as LtView;
}

async function bitswarmInfo(torrent: string): Promise<{
  infoHash: string;
  name: string;
  pieceLength: number;
  pieceCount: number;
  totalLength: number;
  private: boolean;
  files: (FileEntry & { padding: boolean })[];
}> {
  const r = await runBitswarm(['info', torrent, '--json'], { timeoutMs: TIMEOUT_MS });
  assert.equal(r.code, 0, `bitswarm info ${torrent}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** transmission-show's info hash and file paths (its sizes are rounded, so only paths). */
async function transmissionShow(torrent: string): Promise<{ infoHash: string; paths: string[] }> {
  const r = await runOk('transmission-show', [torrent], { timeoutMs: TIMEOUT_MS });
  // Transmission 3 prints "Hash:", Transmission 4 "Hash v1:".
  const hash = /^\s*Hash(?: v1)?:\s*([0-9a-fA-F]{40})\s*$/m.exec(r.stdout);
  assert.ok(hash, `no info hash in transmission-show output:\n${r.stdout}`);
  const filesAt = r.stdout.search(/^FILES\s*$/m);
  assert.ok(filesAt >= 0, `no FILES section in transmission-show output:\n${r.stdout}`);
  const paths = r.stdout
    .slice(filesAt)
    .split('\n')
    .slice(1)
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => l.replace(/ \([^()]*\)$/, ''));
  return { infoHash: hash[1]!.toLowerCase(), paths };
}

describe('bitswarm create/info interop with mktorrent, libtorrent and Transmission', {
  skip: skipUnlessCI(missing),
}, () => {
  let cleanup: (() => Promise<void>) | undefined;
  /** torrents[source][tool] = path of that tool's .torrent for that source. */
  const torrents = new Map<string, Record<Tool, string>>();
  /** Info hash that `bitswarm create --json` printed, per source. */
  const printed = new Map<string, string>();

  before(async () => {
    assertTools(missing);
    const tmp = await makeTempDir('create-interop');
    cleanup = tmp.cleanup;
    const src = join(tmp.dir, 'src');
    const out = join(tmp.dir, 'out');
    await mkdir(out, { recursive: true });
    let seed = 1;
    for (const [root, files] of [
      [ROOT, SAMPLE],
      [BIG_ROOT, BIG],
    ] as const) {
      for (const f of files) {
        const p = join(src, root, f.path);
        await mkdir(dirname(p), { recursive: true });
        await writeFile(p, pseudoRandomBytes(f.length, seed++));
      }
    }
    await mkdir(join(src, ROOT, EMPTY_DIR), { recursive: true });
    for (const s of SINGLES) await writeFile(join(src, s.name), pseudoRandomBytes(s.length, seed++));

    for (const [i, { name, threads }] of SOURCES.entries()) {
      const input = join(src, name);
      const t = (tool: Tool): string => join(out, `${tool}-${i}.torrent`);
      const r = await runBitswarm(
        [
          'create',
          input,
          '-o',
          t('bitswarm'),
          '--piece-length',
          String(PIECE_LENGTH),
          '--no-date',
          '-q',
          '--json',
          ...(threads !== undefined ? ['--threads', String(threads)] : []),
        ],
        { timeoutMs: TIMEOUT_MS },
      );
      assert.equal(r.code, 0, `bitswarm create ${name}: ${r.stderr}`);
      printed.set(name, (JSON.parse(r.stdout) as { infoHash: string }).infoHash);
      await runOk('mktorrent', ['-l', String(MKTORRENT_LOG2), '-d', '-o', t('mktorrent'), input], {
        timeoutMs: TIMEOUT_MS,
      });
      await runPython(LT_SCRIPT, ['create', input, t('libtorrent'), String(PIECE_LENGTH)], {
        timeoutMs: TIMEOUT_MS,
      });
      await runOk(
        'transmission-create',
        ['-o', t('transmission'), '-s', String(PIECE_LENGTH / 1024), input],
        {
          timeoutMs: TIMEOUT_MS,
        },
      );
      torrents.set(name, {
        bitswarm: t('bitswarm'),
        mktorrent: t('mktorrent'),
        libtorrent: t('libtorrent'),
        transmission: t('transmission'),
      });
    }
  });

  after(async () => {
    await cleanup?.();
  });

  test('the sample has a last piece of one byte', () => {
    assert.equal(SAMPLE_TOTAL % PIECE_LENGTH, 1);
  });

  for (const root of [ROOT, BIG_ROOT]) {
    test(`a folder (${root}) gets the same info hash as mktorrent`, async () => {
      const theirs = await libtorrentRead(torrents.get(root)!.mktorrent);
      assert.equal(printed.get(root), theirs.infoHash);
    });
  }

  for (const s of SINGLES) {
    test(`a single file (${s.name}) gets the same info hash as mktorrent and libtorrent`, async () => {
      const paths = torrents.get(s.name)!;
      const mk = await libtorrentRead(paths.mktorrent);
      const lt = await libtorrentRead(paths.libtorrent);
      assert.equal(printed.get(s.name), mk.infoHash);
      assert.equal(printed.get(s.name), lt.infoHash);
    });
  }

  test('bitswarm info reads every tool’s torrent with libtorrent’s info hash and file list', async () => {
    for (const { name } of SOURCES) {
      for (const tool of TOOLS) {
        const path = torrents.get(name)![tool];
        const [ours, lt] = await Promise.all([bitswarmInfo(path), libtorrentRead(path)]);
        const what = `${tool}'s torrent of ${name}`;
        assert.equal(ours.infoHash, lt.infoHash, `info hash of ${what}`);
        assert.equal(ours.name, lt.name, `name in ${what}`);
        assert.equal(ours.pieceLength, lt.pieceLength, `piece length in ${what}`);
        assert.equal(ours.pieceCount, lt.pieceCount, `piece count in ${what}`);
        assert.equal(ours.totalLength, lt.totalLength, `total length in ${what}`);
        assert.deepEqual(
          ours.files.filter((f) => !f.padding).map((f) => ({ path: f.path, length: f.length })),
          lt.files.filter((f) => !f.pad).map((f) => ({ path: f.path, length: f.length })),
          `files in ${what}`,
        );
      }
    }
  });

  test('libtorrent and transmission-show read bitswarm’s torrents with the info hash bitswarm printed', async () => {
    for (const { name, files: expected } of SOURCES) {
      const path = torrents.get(name)!.bitswarm;
      const lt = await libtorrentRead(path);
      assert.equal(lt.infoHash, printed.get(name), `libtorrent's info hash of ${name}`);
      assert.equal(lt.pieceLength, PIECE_LENGTH);
      assert.deepEqual(
        lt.files.map((f) => ({ path: f.path, length: f.length })),
        expected,
        `libtorrent's file list of ${name}`,
      );
      const tr = await transmissionShow(path);
      assert.equal(tr.infoHash, printed.get(name), `transmission-show's info hash of ${name}`);
      assert.deepEqual(
        [...tr.paths].sort(),
        expected.map((f) => f.path).sort(),
        `transmission-show's file list of ${name}`,
      );
    }
  });

  test('mktorrent and libtorrent list the same files as bitswarm, empty and hidden ones included', async () => {
    const paths = torrents.get(ROOT)!;
    const ours = await libtorrentRead(paths.bitswarm);
    const mk = await libtorrentRead(paths.mktorrent);
    const lt = await libtorrentRead(paths.libtorrent);
    const strip = (v: LtView): FileEntry[] =>
      v.files.filter((f) => !f.pad).map(({ path, length }) => ({ path, length }));
    assert.deepEqual(strip(ours), EXPECTED_DIR_FILES);
    // mktorrent: same files in the same order (whole-path bytes)
    assert.deepEqual(strip(mk), EXPECTED_DIR_FILES);
    // libtorrent: same files; its order follows the folder walk, so compare sorted
    assert.deepEqual(sortedByPath(strip(lt)), EXPECTED_DIR_FILES);
  });

  test('transmission-create lists a subset with equal sizes, every non-empty, non-hidden file included', async (t) => {
    const tr = await libtorrentRead(torrents.get(ROOT)!.transmission);
    const files = tr.files.filter((f) => !f.pad).map(({ path, length }) => ({ path, length }));
    const expected = new Map(EXPECTED_DIR_FILES.map((f) => [f.path, f.length]));
    for (const f of files)
      assert.equal(expected.get(f.path), f.length, `${f.path} in transmission's torrent`);
    const listed = new Set(files.map((f) => f.path));
    const regular = EXPECTED_DIR_FILES.filter(
      (f) => f.length > 0 && !f.path.split('/').some((part) => part.startsWith('.')),
    );
    for (const f of regular) assert.ok(listed.has(f.path), `${f.path} missing from transmission's torrent`);
    const left = EXPECTED_DIR_FILES.filter((f) => !listed.has(f.path)).map((f) => f.path);
    // Transmission 3 leaves out hidden and empty files; other versions may differ, so only report it.
    t.diagnostic(`transmission-create left out: ${left.join(', ') || 'nothing'}`);
  });
});
