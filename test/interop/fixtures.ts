// Sample data for the transfer tests: a single-file and a multi-file torrent of deterministic
// pseudo-random bytes, made with bitswarm's own creator.
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { createTorrent } from '../../src/storage/create-torrent.js';

export function pseudoRandom(seedText: string, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  let block = createHash('sha256').update(seedText).digest();
  for (let o = 0; o < length; o += 32) {
    block = createHash('sha256').update(block).digest();
    block.copy(out, o, 0, Math.min(32, length - o));
  }
  return out;
}

export interface Sample {
  name: string;
  torrent: string;
  /** Folder that holds the data (the torrent's name is inside it). */
  dataDir: string;
  files: { path: string; bytes: Buffer }[];
}

export async function makeSample(
  root: string,
  kind: 'single' | 'multi',
  sizeBytes = 3 * 1024 * 1024 + 12345,
): Promise<Sample> {
  const dataDir = join(root, `seed-${kind}`);
  const files: { path: string; bytes: Buffer }[] = [];
  let target: string;
  if (kind === 'single') {
    files.push({ path: 'single.bin', bytes: pseudoRandom('single', sizeBytes) });
    target = join(dataDir, 'single.bin');
  } else {
    files.push(
      { path: 'multi/a.bin', bytes: pseudoRandom('a', Math.floor(sizeBytes / 2) + 777) },
      { path: 'multi/docs/readme.txt', bytes: Buffer.from('hello from bitswarm\n') },
      { path: 'multi/docs/empty.txt', bytes: Buffer.alloc(0) },
      { path: 'multi/z/c.bin', bytes: pseudoRandom('c', Math.floor(sizeBytes / 3) + 1) },
    );
    target = join(dataDir, 'multi');
  }
  for (const f of files) {
    await mkdir(dirname(join(dataDir, f.path)), { recursive: true });
    await writeFile(join(dataDir, f.path), f.bytes);
  }
  const created = await createTorrent(target, { pieceLength: 32768, creationDate: null, threads: 0 });
  const torrent = join(root, `${kind}.torrent`);
  await writeFile(torrent, created.torrent);
  return { name: created.name, torrent, dataDir, files };
}

/** Checks every file of the sample is byte-identical under `dir`. Returns a list of mismatches.
 * `emptyMayBeMissing`: Transmission 3.00 never creates zero-length files. */
export async function compareTree(sample: Sample, dir: string, emptyMayBeMissing = false): Promise<string[]> {
  const bad: string[] = [];
  for (const f of sample.files) {
    const got = await readFile(join(dir, f.path)).catch(() => undefined);
    if (!got && emptyMayBeMissing && f.bytes.length === 0) continue;
    if (!got) bad.push(`${f.path}: missing`);
    else if (!got.equals(f.bytes))
      bad.push(`${f.path}: content differs (${got.length} vs ${f.bytes.length} bytes)`);
  }
  return bad;
}
