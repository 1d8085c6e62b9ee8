// `npm start`: the demo. Today it shares nothing over the network yet: it generates a sample folder,
// creates a torrent of it with bitswarm and reads it back, then cleans up.
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../src/cli/main.js';

async function makeSample(dir: string): Promise<void> {
  await mkdir(join(dir, 'sample', 'photos'), { recursive: true });
  let seed = createHash('sha256').update('bitswarm demo').digest();
  const bytes = (n: number): Buffer => {
    const out = Buffer.alloc(n);
    for (let o = 0; o < n; o += 32) {
      seed = createHash('sha256').update(seed).digest();
      seed.copy(out, o);
    }
    return out;
  };
  await writeFile(join(dir, 'sample', 'README.txt'), 'A sample folder shared by the bitswarm demo.\n');
  await writeFile(join(dir, 'sample', 'photos', 'día-1.jpg'), bytes(700_000));
  await writeFile(join(dir, 'sample', 'photos', 'day-2.jpg'), bytes(1_300_000));
  await writeFile(join(dir, 'sample', 'video.bin'), bytes(3_000_000));
}

async function demo(): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'bitswarm-demo-'));
  try {
    await makeSample(dir);
    const torrent = join(dir, 'sample.torrent');
    process.stdout.write('== bitswarm create sample -a 127.0.0.1:6881\n');
    let rc = await main(['create', join(dir, 'sample'), '-o', torrent, '-a', '127.0.0.1:6881', '-q']);
    if (rc !== 0) return rc;
    process.stdout.write('\n== bitswarm info sample.torrent\n');
    rc = await main(['info', torrent]);
    return rc;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

process.exitCode = await demo();
