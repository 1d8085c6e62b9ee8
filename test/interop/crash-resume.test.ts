// A killed download resumes without re-downloading verified pieces: `bitswarm download --state`
// of a 256 MiB torrent from a local `bitswarm seed` is killed with SIGKILL at 20 random moments and
// restarted each time with the same state directory. It completes byte-exact, and the seeder's
// `uploaded` counter shows how much was sent twice (what was in flight at each kill). Prints the
// overhead.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { createTorrent } from '../../src/storage/create-torrent.js';
import { freePort } from '../unit/api/helpers.js';
import { onLoopback } from './clients.js';
import { bitswarmNodeArgs, type JsonChild, makeTempDir, pseudoRandomBytes, spawnJson } from './helpers.js';

const SIZE = 256 * 1024 * 1024;
const KILLS = 20;
const UPLOAD_LIMIT = 8 * 1024 * 1024;
/** What one connection may have requested and not yet received (the request pipeline's cap). */
const PIPELINE_BYTES = 250 * 16 * 1024;

function start(args: string[]): JsonChild {
  return spawnJson(bitswarmNodeArgs(args), { skipBadLines: true });
}

async function until(cond: () => boolean, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

test('a download killed 20 times resumes each time and completes byte-exact', {
  timeout: 300_000,
}, async () => {
  const { dir: root, cleanup } = await makeTempDir('crash-resume');
  const children: JsonChild[] = [];
  try {
    const dataDir = join(root, 'seed');
    await mkdir(dataDir);
    const data = pseudoRandomBytes(SIZE, 0xc0ffee);
    const want = createHash('sha256').update(data).digest('hex');
    await writeFile(join(dataDir, 'big.bin'), data);
    const created = await createTorrent(join(dataDir, 'big.bin'), { creationDate: null });
    const torrentPath = join(root, 'big.torrent');
    await writeFile(torrentPath, created.torrent);

    const seedPort = await freePort();
    const seed = start([
      'seed',
      torrentPath,
      '-d',
      dataDir,
      ...onLoopback(seedPort),
      '--no-dht',
      '--json',
      '--upload-limit',
      String(UPLOAD_LIMIT),
    ]);
    children.push(seed);
    await until(
      () => seed.lines.some((l) => l.event === 'progress' && l.state === 'seeding'),
      'the seeder',
      60_000,
    );

    const port = await freePort();
    const dl = join(root, 'dl');
    const state = join(root, 'state');
    const args = [
      'download',
      torrentPath,
      '-d',
      dl,
      '--state',
      state,
      ...onLoopback(port),
      '--peer',
      `127.0.0.1:${seedPort}`,
      '--no-dht',
      '--json',
    ];
    const t0 = Date.now();
    let kills = 0;
    let finishedEarly = false;
    for (let i = 0; i < KILLS; i++) {
      const run = start(args);
      children.push(run);
      await Promise.race([
        until(() => run.lines.some((l) => l.event === 'start'), 'the download to start', 30_000),
        run.exited,
      ]);
      await Promise.race([new Promise((r) => setTimeout(r, 500 + Math.random() * 2000)), run.exited]);
      if (run.child.exitCode !== null) {
        finishedEarly = true;
        break;
      }
      run.child.kill('SIGKILL');
      const e = await run.exited;
      assert.equal(e.signal, 'SIGKILL');
      kills++;
    }
    let finalRun: JsonChild | undefined;
    if (!finishedEarly) {
      finalRun = start(args);
      children.push(finalRun);
      const e = await finalRun.exited;
      assert.equal(e.code, 0, finalRun.stderr());
      const events = finalRun.lines.map((l) => l.event);
      // every piece verified (and written to the OS), then flushed to disk, in that order
      assert.ok(events.includes('verified') && events.indexOf('verified') < events.indexOf('complete'));
    }
    const seconds = (Date.now() - t0) / 1000;
    assert.equal(await sha256File(join(dl, 'big.bin')), want, 'byte-exact');

    // The seeder's counter after the last bytes left (it reports once a second).
    const seen = seed.lines.length;
    await until(() => seed.lines.length > seen + 1, 'a fresh seeder report', 10_000);
    const uploaded = Math.max(
      ...seed.lines.filter((l) => l.event === 'progress').map((l) => Number(l.uploaded)),
    );
    const overhead = uploaded - SIZE;
    const perKill = kills > 0 ? overhead / kills : 0;
    console.log(
      `# ${kills} kills in ${seconds.toFixed(1)} s; seeder uploaded ${(uploaded / 2 ** 20).toFixed(1)} MiB for ` +
        `${SIZE / 2 ** 20} MiB: overhead ${(overhead / 2 ** 20).toFixed(1)} MiB ` +
        `(${((100 * overhead) / SIZE).toFixed(1)} %), ${(perKill / 2 ** 20).toFixed(2)} MiB per kill`,
    );
    assert.ok(kills >= 10, `only ${kills} kills landed before the download finished`);
    assert.ok(uploaded >= SIZE);
    // At each kill, what can be lost is what was in flight: the blocks requested and not yet
    // received (the pipeline's cap on one connection) and the pieces being assembled or written.
    const bound = kills * (PIPELINE_BYTES + 2 * created.pieceLength);
    assert.ok(overhead <= bound, `overhead ${overhead} over the bound ${bound}`);
  } finally {
    for (const c of children)
      if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
    await Promise.all(children.map((c) => c.exited));
    await cleanup();
  }
});
