// A real player: ffmpeg decodes the first 3 s of an MP4 whose index (moov) is at its end, streamed
// over HTTP from a download that is far from complete (a seeder limited to 1 MiB/s).
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { createStreamHandler, streamPath } from '../../../src/stream/http-server.js';
import { streamSwarm } from './helpers.js';

const run = promisify(execFile);

async function hasFfmpeg(): Promise<boolean> {
  try {
    await run('ffmpeg', ['-version']);
    return true;
  } catch {
    return false;
  }
}

/** Top-level MP4 boxes, in file order. */
function boxes(mp4: Buffer): string[] {
  const out: string[] = [];
  for (let o = 0; o + 8 <= mp4.length; ) {
    const size = mp4.readUInt32BE(o);
    out.push(mp4.toString('latin1', o + 4, o + 8));
    if (size < 8) break;
    o += size;
  }
  return out;
}

test('ffmpeg decodes the first 3 s of an MP4 with its index at the end while the download is far from complete', {
  timeout: 180_000,
  skip: !(await hasFfmpeg()) && 'ffmpeg is not installed',
}, async () => {
  const file = join(tmpdir(), `bitswarm-stream-${process.pid}.mp4`);
  // Noise keeps the bitrate near 2 Mbit/s; no +faststart: the moov box is written last.
  await run('ffmpeg', [
    ...['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25,noise=alls=30:allf=t+u'],
    ...['-t', '60', '-c:v', 'libx264', '-preset', 'ultrafast', '-b:v', '2M', '-g', '25', file],
  ]);
  const mp4 = await readFile(file);
  const order = boxes(mp4);
  assert.ok(order.indexOf('moov') > order.indexOf('mdat'), `boxes: ${order.join(',')}`);
  const s = await streamSwarm([{ name: 'clip.mp4', bytes: mp4 }], {
    pieceLength: 32 * 1024,
    uploadLimit: 1024 * 1024,
  });
  const server = createServer(
    createStreamHandler({ get: (hex) => s.leecherSession.get(hex), list: () => s.leecherSession.torrents }),
  );
  try {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}${streamPath(s.leecher, 0)}`;
    const ff = spawn(
      'ffmpeg',
      ['-v', 'error', '-nostdin', '-i', url, '-t', '3', '-f', 'null', '-progress', 'pipe:1', '-'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let err = '';
    ff.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    ff.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    const [code] = (await once(ff, 'exit')) as [number | null];
    const progress = s.leecher.verifiedBytes / s.metainfo.totalLength;
    assert.equal(code, 0, `ffmpeg failed: ${err}`);
    const frames = Math.max(...[...out.matchAll(/^frame=(\d+)/gm)].map((m) => Number(m[1])));
    assert.ok(frames >= 75, `decoded ${frames} frames, not 3 s at 25 fps`);
    assert.ok(
      progress < 0.5,
      `the download was ${(progress * 100).toFixed(1)}% complete when 3 s were decoded`,
    );
    assert.equal(s.leecher.complete, false);
  } finally {
    server.closeAllConnections();
    server.close();
    await s.stop();
    await run('rm', ['-f', file]);
  }
});
