// hashFiles against a reference SHA-1 of the concatenated files: pieces across file boundaries,
// empty files, every thread count, a file that shrinks while hashed, abort, and progress.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { hashFiles, listFiles } from '../../../src/storage/create-torrent.js';

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'bitswarm-hashfiles-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

function reference(bufs: Buffer[], pieceLength: number): Buffer {
  const all = Buffer.concat(bufs);
  const n = Math.ceil(all.length / pieceLength);
  const out = Buffer.alloc(n * 20);
  for (let i = 0; i < n; i++) {
    createHash('sha1')
      .update(all.subarray(i * pieceLength, Math.min((i + 1) * pieceLength, all.length)))
      .digest()
      .copy(out, i * 20);
  }
  return out;
}

async function folder(name: string, sizes: number[]): Promise<{ dir: string; bufs: Buffer[] }> {
  const dir = join(root, name);
  const bufs = sizes.map((n) => randomBytes(n));
  await import('node:fs/promises').then((fs) => fs.mkdir(dir, { recursive: true }));
  await Promise.all(bufs.map((b, i) => writeFile(join(dir, `f${String(i).padStart(3, '0')}`), b)));
  return { dir, bufs };
}

const layouts: [string, number[]][] = [
  ['one-byte', [1]],
  ['empties', [0, 5, 0]],
  ['odd', [16384 * 3 + 7]],
  ['mixed', [100_000, 0, 1, 300_000, 65_536, 0]],
  ['many', Array.from({ length: 40 }, (_, i) => (i * 7919) % 50_000)],
  ['large', [9 << 20, 3, 9 << 20, 0]],
];

for (const [name, sizes] of layouts) {
  test(`hashes ${name} (${sizes.length} files) like a reference, for every piece length and thread count`, async () => {
    const { dir, bufs } = await folder(name, sizes);
    const { files } = await listFiles(dir);
    for (const pieceLength of [16384, 32768, 1 << 20, 4 << 20]) {
      const want = reference(bufs, pieceLength);
      for (const threads of [undefined, 0, 1, 2, 3]) {
        const got = Buffer.from(
          await hashFiles(files, pieceLength, threads === undefined ? {} : { threads }),
        );
        assert.ok(got.equals(want), `${name}: piece length ${pieceLength}, threads ${threads}`);
      }
    }
  });
}

test('a file that shrinks after listing is a CreateError, whatever the threads', async () => {
  const { dir } = await folder('shrink', [200_000, 300_000]);
  const { files } = await listFiles(dir);
  await truncate(join(dir, 'f001'), 299_999);
  for (const threads of [1, 2]) {
    await assert.rejects(
      hashFiles(files, 16384, { threads }),
      (e: Error & { code?: string }) => e.code === 'ERR_CREATE',
    );
  }
});

test('abort stops hashing; progress only grows and ends at the total', async () => {
  const { dir } = await folder('abort', [32 << 20]);
  const { files } = await listFiles(dir);
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 5);
  await assert.rejects(hashFiles(files, 1 << 16, { signal: ac.signal, threads: 2 }));
  let last = 0;
  let total = 0;
  await hashFiles(files, 1 << 16, {
    onProgress: (done, t) => {
      assert.ok(done >= last && done <= t);
      last = done;
      total = t;
    },
  });
  assert.equal(last, total);
  assert.equal(total, 32 << 20);
});
