// `bitswarm stream` as a process: it prints each file's URL, serves the bytes over HTTP while it
// downloads from a seeder on loopback, starts a player with the URL (the player exits → stream
// exits with its status), stops cleanly on SIGTERM, and rejects bad usage with exit 2.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pseudoRandom } from '../../interop/fixtures.js';
import { type StreamSwarm, streamSwarm } from '../stream/helpers.js';

const BIN = new URL('../../../../bin/bitswarm.js', import.meta.url).pathname;

describe('bitswarm stream', () => {
  let s: StreamSwarm;
  let torrentFile: string;
  let work: string;
  const data = pseudoRandom('cli-stream', 700_000);
  before(async () => {
    s = await streamSwarm([{ name: 'clip.mp4', bytes: data }], {
      pieceLength: 32 * 1024,
      uploadLimit: 512 * 1024,
    });
    // The in-process leecher is not needed: the CLI is the leecher.
    await s.leecherSession.remove(s.metainfo.infoHashHex);
    work = await mkdtemp(join(tmpdir(), 'bitswarm-cli-stream-'));
    torrentFile = join(work, 'clip.torrent');
    await writeFile(torrentFile, s.torrentBytes);
  });
  after(async () => {
    await s.stop();
    await rm(work, { recursive: true, force: true });
  });
  const net = (): string[] => [
    '--bind',
    '127.0.0.1',
    '--port',
    '0',
    '--no-dht',
    '--no-lsd',
    '--peer',
    `127.0.0.1:${s.seederSession.port}`,
  ];

  it('starts the player on the URL and exits when it does', { timeout: 120_000 }, async () => {
    // A "player" that fetches the URL (its last argument) and writes what it got.
    const player = join(work, 'player.mjs');
    const out = join(work, 'got.bin');
    await writeFile(
      player,
      `const url = process.argv.at(-1); const r = await fetch(url, { headers: { Range: 'bytes=1000-' } });
       if (r.status !== 206) process.exit(3);
       (await import('node:fs')).writeFileSync(${JSON.stringify(out)}, Buffer.from(await r.arrayBuffer()));`,
    );
    const child = spawn(
      process.execPath,
      [
        BIN,
        'stream',
        torrentFile,
        '-d',
        join(work, 'dl1'),
        '-q',
        '--player',
        `${process.execPath} ${player}`,
        ...net(),
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    const [code] = (await once(child, 'exit')) as [number];
    assert.equal(code, 0);
    assert.match(
      stdout,
      new RegExp(`^http://127\\.0\\.0\\.1:\\d+/${s.metainfo.infoHashHex}/0/clip\\.mp4\\tclip\\.mp4$`, 'm'),
    );
    assert.ok((await readFile(out)).equals(data.subarray(1000)));
  });

  it('serves until SIGTERM, and exits 143', { timeout: 120_000 }, async () => {
    const child = spawn(
      process.execPath,
      [BIN, 'stream', torrentFile, '-d', join(work, 'dl2'), '-q', '--file', '0', ...net()],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const url = await new Promise<string>((resolve, reject) => {
      let buf = '';
      child.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        const line = buf.split('\n')[0];
        if (buf.includes('\n') && line) resolve(line.split('\t')[0]!);
      });
      child.on('exit', () => reject(new Error('stream exited before printing a URL')));
    });
    const r = await fetch(url, { headers: { Range: 'bytes=-1000' } });
    assert.equal(r.status, 206);
    assert.ok(Buffer.from(await r.arrayBuffer()).equals(data.subarray(data.length - 1000)));
    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number];
    assert.equal(code, 143);
  });

  it('bad usage: exit 2, one line', async () => {
    for (const args of [
      ['--file', '5'],
      ['--http', 'nowhere'],
    ]) {
      const child = spawn(process.execPath, [BIN, 'stream', torrentFile, ...args, ...net()], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
      });
      const [code] = (await once(child, 'exit')) as [number];
      assert.equal(code, 2, stderr);
      assert.equal(stderr.trim().split('\n').length, 1, stderr);
    }
  });
});
