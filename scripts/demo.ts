// `npm start`: the demo. A swarm on this machine's loopback: one peer shares a generated sample
// folder (`bitswarm share`: it creates the torrent, is its tracker and seeds it), four others download
// it knowing only the .torrent — each of them is a tracker too — and trade pieces among themselves.
// Live progress for every peer, a line when each becomes a seeder, a closing summary. Needs no root,
// sends no packet off this machine (everything binds 127.0.0.1, DHT and LSD off), and cleans up.
//
//   npm start -- [--size MiB] [--keep]
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { formatBytes, formatDuration, formatRate } from '../src/util/format.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const bin = join(root, 'bin', 'bitswarm.js');
const tty = process.stdout.isTTY === true;

interface Peer {
  name: string;
  port: number;
  child?: ChildProcess;
  dir: string;
  percent: number;
  state: string;
  down: number;
  up: number;
  peers: number;
  uploaded: number;
  downloaded: number;
  completeAtMs?: number;
  exited?: number | null;
}

/** A peer of the demo before its process has said anything. */
function newPeer(name: string, dir: string, percent: number): Peer {
  return {
    name,
    port: 0,
    dir,
    percent,
    state: 'starting',
    down: 0,
    up: 0,
    peers: 0,
    uploaded: 0,
    downloaded: 0,
  };
}

function pseudoRandom(seed: string, n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  let block = createHash('sha256').update(seed).digest();
  for (let o = 0; o < n; o += 32) {
    block = createHash('sha256').update(block).digest();
    block.copy(out, o, 0, Math.min(32, n - o));
  }
  return out;
}

async function makeSample(dir: string, totalMiB: number): Promise<{ path: string; bytes: number }[]> {
  const files = [
    { path: 'sample/README.txt', bytes: 0 },
    { path: 'sample/photos/día-1.jpg', bytes: Math.round(totalMiB * 0.15 * 1048576) },
    { path: 'sample/photos/day-2.jpg', bytes: Math.round(totalMiB * 0.25 * 1048576) },
    { path: 'sample/video/clip.mp4', bytes: Math.round(totalMiB * 0.6 * 1048576) },
  ];
  for (const f of files) {
    const p = join(dir, f.path);
    await mkdir(dirname(p), { recursive: true });
    const data =
      f.bytes === 0
        ? Buffer.from('A sample folder shared by the bitswarm demo.\n')
        : pseudoRandom(f.path, f.bytes);
    f.bytes = data.length;
    await writeFile(p, data);
  }
  return files;
}

function start(peer: Peer, args: string[], onLine: (o: Record<string, unknown>) => void): void {
  const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  peer.child = child;
  let buf = '';
  child.stdout.on('data', (chunk: Buffer) => {
    buf += chunk.toString('utf8');
    let nl = buf.indexOf('\n');
    while (nl >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      try {
        onLine(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // not a JSON line
      }
      nl = buf.indexOf('\n');
    }
  });
  child.stderr.on('data', () => undefined);
  child.once('exit', (code) => {
    peer.exited = code;
  });
}

function render(peers: Peer[], startedMs: number, first: boolean): void {
  const lines = peers.map((p) => {
    const width = 24;
    const filled = Math.round((p.percent / 100) * width);
    const bar = `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`;
    return `${p.name.padEnd(9)} :${String(p.port).padEnd(5)} ${bar} ${p.percent.toFixed(1).padStart(5)}%  ${p.state.padEnd(11)} ↓ ${formatRate(p.down).padStart(11)} ↑ ${formatRate(p.up).padStart(11)}  peers ${p.peers}`;
  });
  const header = `bitswarm demo — ${formatDuration((Date.now() - startedMs) / 1000)}`;
  if (tty) {
    if (!first) process.stdout.write(`\x1b[${lines.length + 1}A`);
    process.stdout.write(`${[header, ...lines].map((l) => `${l}\x1b[K`).join('\n')}\n`);
  } else {
    process.stdout.write(`${[header, ...lines].join('\n')}\n`);
  }
}

async function demo(): Promise<number> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: { size: { type: 'string' }, keep: { type: 'boolean' } },
  });
  const sizeMiB = Math.max(1, Number(values.size ?? 48));
  const dir = await mkdtemp(join(tmpdir(), 'bitswarm-demo-'));
  const peers: Peer[] = [];
  let failed = false;
  try {
    process.stdout.write(`Generating a ${sizeMiB} MiB sample folder in ${dir}…\n`);
    const files = await makeSample(join(dir, 'share'), sizeMiB);
    const total = files.reduce((n, f) => n + f.bytes, 0);
    const torrent = join(dir, 'sample.torrent');
    const common = ['--bind', '127.0.0.1', '--no-dht', '--no-lsd', '--json'];
    const sharer = newPeer('sharer', join(dir, 'share'), 100);
    peers.push(sharer);
    // The sharer's upload is capped so that the leechers visibly trade pieces among themselves.
    const shared = new Promise<string>((resolveShared, rejectShared) => {
      start(
        sharer,
        [
          'share',
          join(dir, 'share', 'sample'),
          '--port',
          String(sharer.port),
          '-o',
          torrent,
          '--upload-limit',
          `${Math.max(2, Math.round(sizeMiB / 8))}M`,
          ...common,
        ],
        (o) => {
          if (o.event === 'shared') {
            sharer.port = Number(o.port);
            resolveShared(String(o.magnet));
          }
          if (o.event === 'progress') update(sharer, o);
        },
      );
      sharer.child?.once('exit', (code) => rejectShared(new Error(`bitswarm share exited with ${code}`)));
    });
    const magnet = await shared;
    process.stdout.write(
      `Shared by peer "sharer" at 127.0.0.1:${sharer.port} — it is the torrent's tracker.\n  torrent ${torrent}\n  magnet  ${magnet.slice(0, 90)}…\n\n`,
    );
    const startedMs = Date.now();
    const events: string[] = [];
    for (let i = 1; i <= 4; i++) {
      const p = newPeer(`leecher-${i}`, join(dir, `leecher-${i}`), 0);
      peers.push(p);
      start(p, ['download', torrent, '-d', p.dir, '--port', '0', '--seed', ...common], (o) => {
        if (o.event === 'start') p.port = Number(o.port);
        if (o.event === 'progress') update(p, o);
        if (o.event === 'complete' && p.completeAtMs === undefined) {
          p.completeAtMs = Date.now();
          events.push(
            `✔ ${p.name} has every piece verified and is now a seeder (${formatDuration((p.completeAtMs - startedMs) / 1000)})`,
          );
        }
      });
    }
    let first = true;
    let tick = 0;
    const deadline = Date.now() + 5 * 60_000;
    while (true) {
      await new Promise((r) => setTimeout(r, 500));
      // On a terminal the lines are redrawn in place; in a log, a block every 3 seconds is enough.
      if (tty || tick++ % 6 === 0) render(peers, startedMs, first);
      first = false;
      if (events.length) {
        if (tty) process.stdout.write(`\x1b[${peers.length + 1}A\x1b[J`);
        for (const e of events.splice(0)) process.stdout.write(`${e}\n`);
        first = true;
      }
      const leechers = peers.slice(1);
      if (leechers.every((p) => p.completeAtMs !== undefined)) break;
      const dead = peers.find((p) => p.exited !== undefined);
      if (dead || Date.now() > deadline) {
        process.stdout.write(
          `\nThe demo failed: ${dead ? `${dead.name} exited with ${dead.exited}` : 'timed out'}\n`,
        );
        failed = true;
        return 1;
      }
    }
    render(peers, startedMs, true);
    // Check every file of every leecher against the original, byte for byte.
    let verified = 0;
    for (const p of peers.slice(1)) {
      for (const f of files) {
        const a = await readFile(join(dir, 'share', f.path));
        const b = await readFile(join(p.dir, f.path)).catch(() => Buffer.alloc(0));
        if (a.equals(b)) verified++;
      }
    }
    const lastMs = Math.max(...peers.slice(1).map((p) => p.completeAtMs!)) - startedMs;
    const fromSharer = sharer.uploaded;
    const traded = peers.slice(1).reduce((n, p) => n + p.uploaded, 0);
    process.stdout.write(
      [
        '',
        'Summary',
        `  verified      ${verified}/${files.length * 4} files byte for byte on 4 leechers`,
        `  time          ${formatDuration(lastMs / 1000)} until the last leecher was a seeder (${(lastMs / 1000).toFixed(1)} s)`,
        `  rate          ${formatRate((4 * total) / (lastMs / 1000))} delivered in all (${formatBytes(4 * total)})`,
        `  from sharer   ${formatBytes(fromSharer)} (${((100 * fromSharer) / (4 * total)).toFixed(0)}%); among leechers ${formatBytes(traded)}`,
        `  files         ${peers
          .slice(1)
          .map((p) => p.dir)
          .join(', ')}`,
        values.keep ? `  kept          ${dir}` : '  (removed now; run `npm start -- --keep` to keep them)',
        '',
      ].join('\n'),
    );
    return verified === files.length * 4 ? 0 : 1;
  } finally {
    await Promise.all(
      peers.map(
        (p) =>
          new Promise<void>((res) => {
            const c = p.child;
            if (!c || c.exitCode !== null || c.signalCode !== null) return res();
            c.once('exit', () => res());
            c.kill('SIGTERM');
            setTimeout(() => c.kill('SIGKILL'), 4000).unref();
          }),
      ),
    );
    if (!values.keep || failed) await rm(dir, { recursive: true, force: true });
  }
}

function update(p: Peer, o: Record<string, unknown>): void {
  p.percent = Number(o.percent ?? p.percent);
  p.state = String(o.state ?? p.state);
  p.down = Number(o.downloadRate ?? 0);
  p.up = Number(o.uploadRate ?? 0);
  p.peers = Number(o.peers ?? 0);
  p.uploaded = Number(o.uploaded ?? p.uploaded);
  p.downloaded = Number(o.downloaded ?? p.downloaded);
}

process.exitCode = await demo();
