// The swarm outlives its only seeder and only tracker. One `bitswarm share` peer seeds a 24 MiB file
// (upload capped, so the transfer takes a while) and is the torrent's only tracker; five bitswarm
// leechers know nothing but its host:port from the torrent. Once every piece is somewhere among the
// leechers and they hold about half of what they need in sum, the seeder — and with it the tracker —
// is killed. The leechers must still complete by trading among themselves (they keep the connections
// they have and learn each other by PEX), and then a newcomer that knows only one leecher's address
// completes from them. Every copy is checked byte for byte; the phases' durations are printed.
// All bitswarm processes, on 127.0.0.1, DHT off (LSD is off on loopback anyway).
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { bitswarm, freePort, killAll, onLoopback, type Proc } from './clients.js';
import { pseudoRandomBytes } from './helpers.js';

const SIZE_BYTES = 24 * 1024 * 1024 + 777;
const NAME = 'swarm.bin';
const LEECHERS = 5;
/** The seeder's cap, and each leecher's: leechers trade slower than the seeder hands out new pieces,
 * so every piece is out in the swarm while the leechers are still about half way. */
const SEEDER_UPLOAD_LIMIT = '3M';
const LEECHER_UPLOAD_LIMIT = '1M';
/** The seeder is killed once the leechers hold this share of their total in sum (and every piece). */
const KILL_AT_FRACTION = 0.5;
const TEST_TIMEOUT_MS = 150_000;

let root: string;
let data: Buffer;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'bitswarm-swarm-survives-'));
  await mkdir(join(root, 'seed'));
  data = pseudoRandomBytes(SIZE_BYTES, 0x5eed);
  await writeFile(join(root, 'seed', NAME), data);
});

after(async () => {
  await killAll();
  await rm(root, { recursive: true, force: true });
});

interface Progress {
  verifiedBytes: number;
  peers: number;
  percent: number;
}

/** The newest `progress` JSON line of a bitswarm process. */
function lastProgress(p: Proc): Progress | undefined {
  for (let i = p.output.length - 1; i >= 0; i--) {
    const line = p.output[i]!;
    if (line.includes('"event":"progress"')) return JSON.parse(line) as Progress;
  }
  return undefined;
}

function completed(p: Proc): boolean {
  return p.output.some((l) => l.includes('"event":"complete"'));
}

/** Whether every piece is on some leecher's disk with the right bytes (pieces are written once verified). */
async function everyPieceInSwarm(dirs: string[], pieceLength: number): Promise<boolean> {
  // An incomplete file is `<name>.part` until its last piece is verified.
  const read = (d: string): Promise<Buffer> =>
    readFile(join(d, NAME)).catch(() => readFile(join(d, `${NAME}.part`)).catch(() => Buffer.alloc(0)));
  const copies = await Promise.all(dirs.map(read));
  for (let off = 0; off < data.length; off += pieceLength) {
    const want = data.subarray(off, Math.min(data.length, off + pieceLength));
    if (!copies.some((c) => c.length >= off + want.length && c.subarray(off, off + want.length).equals(want)))
      return false;
  }
  return true;
}

async function assertCopy(dir: string, who: string): Promise<void> {
  const got = await readFile(join(dir, NAME));
  assert.equal(got.length, data.length, `${who}: length`);
  assert.ok(got.equals(data), `${who}: bytes equal the original`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(pred: () => boolean | Promise<boolean>, timeoutMs: number, what: () => string) {
  const end = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`);
    await sleep(250);
  }
}

function leecher(torrent: string, dir: string, port: number, extra: string[]): Proc {
  return bitswarm(['download', torrent, '-d', dir, ...onLoopback(port), '--no-dht', '--json', ...extra]);
}

test('five leechers complete after their only seeder and tracker dies, then serve a newcomer', {
  timeout: TEST_TIMEOUT_MS,
}, async (t) => {
  const t0 = Date.now();
  const phases: string[] = [];
  let mark = t0;
  const phase = (what: string): void => {
    const now = Date.now();
    phases.push(`${what}: ${((now - mark) / 1000).toFixed(1)} s`);
    mark = now;
  };

  // The seeder: `share` makes the torrent (tracker http://127.0.0.1:P/announce, this peer) and seeds.
  const seedPort = await freePort();
  const torrent = join(root, 'swarm.torrent');
  const seeder = bitswarm([
    'share',
    join(root, 'seed', NAME),
    ...onLoopback(seedPort),
    '-o',
    torrent,
    '--no-dht',
    '--upload-limit',
    SEEDER_UPLOAD_LIMIT,
    '--json',
  ]);
  const shared = JSON.parse(
    await seeder.waitFor(
      (l) => l.includes('"event":"shared"'),
      30_000,
      'bitswarm share to write the torrent',
    ),
  ) as { announce: string };
  assert.equal(
    shared.announce,
    `http://127.0.0.1:${seedPort}/announce`,
    'the torrent names the seeder as tracker',
  );
  await seeder.waitFor((l) => l.includes('"event":"complete"'), 30_000, 'the seeder to check its data');
  const info = bitswarm(['info', torrent, '--json']);
  assert.equal(await info.exited, 0);
  const { pieceLength } = JSON.parse(info.output.join('\n')) as { pieceLength: number };
  phase('seeder hashed and ready');

  // Five leechers that know only the torrent; they keep seeding (--seed) for the newcomer.
  const ports: number[] = [];
  for (let i = 0; i < LEECHERS; i++) ports.push(await freePort());
  const dirs = ports.map((_, i) => join(root, `leecher-${i}`));
  const leechers = ports.map((port, i) =>
    leecher(torrent, dirs[i]!, port, ['--seed', '--upload-limit', LEECHER_UPLOAD_LIMIT]),
  );
  await until(
    () => leechers.every((l) => (lastProgress(l)?.peers ?? 0) >= 1),
    30_000,
    () => `every leecher to connect: ${leechers.map((l) => JSON.stringify(lastProgress(l))).join(', ')}`,
  );
  phase('five leechers joined (each has a peer)');

  // Kill the seeder at about half way — but only once every piece is somewhere in the swarm, or no
  // one could ever complete.
  const total = LEECHERS * data.length;
  const sum = () => leechers.reduce((s, l) => s + (lastProgress(l)?.verifiedBytes ?? 0), 0);
  await until(
    () => sum() >= KILL_AT_FRACTION * total,
    90_000,
    () => `the leechers to reach ${KILL_AT_FRACTION * 100}% (at ${((100 * sum()) / total).toFixed(1)}%)`,
  );
  const atHalf = sum() / total;
  await until(
    () => everyPieceInSwarm(dirs, pieceLength),
    60_000,
    () => 'every piece to be on some leecher',
  );
  const atKill = sum() / total;
  const perLeecher = leechers.map((l) => `${lastProgress(l)?.percent ?? 0}%`).join(' ');
  await seeder.kill('SIGKILL');
  phase(
    `seeding until killed at ${(100 * atKill).toFixed(1)}% in sum (${(100 * atHalf).toFixed(1)}% when it passed ${KILL_AT_FRACTION * 100}%; leechers ${perLeecher})`,
  );
  assert.ok(
    leechers.some((l) => !completed(l)),
    'some leecher still had pieces to get when the seeder died (raise the size or lower the limits)',
  );

  // Without seeder and tracker, the leechers complete among themselves.
  await until(
    () => leechers.every(completed),
    90_000,
    () => `every leecher to complete: ${leechers.map((l) => JSON.stringify(lastProgress(l))).join(', ')}`,
  );
  for (let i = 0; i < LEECHERS; i++) await assertCopy(dirs[i]!, `leecher ${i}`);
  phase('leechers completed without the seeder');

  // A newcomer that knows one leecher's address (and a tracker that is gone) completes from them.
  const newDir = join(root, 'newcomer');
  const newcomer = leecher(torrent, newDir, await freePort(), ['--peer', `127.0.0.1:${ports[0]}`]);
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([
    newcomer.exited,
    new Promise<'timeout'>((r) => {
      timer = setTimeout(() => r('timeout'), 60_000);
    }),
  ]);
  clearTimeout(timer);
  if (code === 'timeout') await newcomer.kill('SIGKILL');
  assert.equal(code, 0, `the newcomer exited ${code}:\n${newcomer.output.slice(-20).join('\n')}`);
  await assertCopy(newDir, 'newcomer');
  const mostPeers = Math.max(
    ...newcomer.output
      .filter((l) => l.includes('"event":"progress"'))
      .map((l) => (JSON.parse(l) as Progress).peers),
  );
  phase(`newcomer completed from the leechers (up to ${mostPeers} peers)`);
  assert.ok(
    mostPeers >= 2,
    `the newcomer learned more leechers by PEX than the one it was given (${mostPeers})`,
  );

  t.diagnostic(`phases: ${phases.join('; ')}; total ${((Date.now() - t0) / 1000).toFixed(1)} s`);
});
