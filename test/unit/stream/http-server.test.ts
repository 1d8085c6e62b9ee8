// The stream server over loopback: Range edge cases on files of several sizes (0 and 1 byte, the
// last byte, suffix and open ranges, past the end → 416, several ranges → 200), HEAD, the listing,
// a response that waits for pieces from a slow seeder, and a client that goes away dropping its claim.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, get, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Session } from '../../../src/session/session.js';
import { createStreamHandler, streamPath } from '../../../src/stream/http-server.js';
import { pseudoRandom } from '../../interop/fixtures.js';
import { type StreamSwarm, streamSwarm } from './helpers.js';

const PIECE = 32 * 1024;

async function serve(session: Session): Promise<{ server: Server; base: string }> {
  const server = createServer(
    createStreamHandler({ get: (hex) => session.get(hex), list: () => session.torrents }),
  );
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
}

describe('stream server', () => {
  let s: StreamSwarm;
  let seeded: { server: Server; base: string };
  let leeched: { server: Server; base: string };
  const files = [
    { name: 'empty.bin', bytes: Buffer.alloc(0) },
    { name: 'one.txt', bytes: Buffer.from('x') },
    { name: 'small.json', bytes: pseudoRandom('small', 1000) },
    { name: 'video.mp4', bytes: pseudoRandom('video', 3 * PIECE + 5) },
    { name: 'big.mkv', bytes: pseudoRandom('big', 60 * PIECE + 77) },
  ];
  before(async () => {
    s = await streamSwarm(files, { pieceLength: PIECE, uploadLimit: 256 * 1024 });
    seeded = await serve(s.seederSession);
    leeched = await serve(s.leecherSession);
  });
  after(async () => {
    await close(seeded.server);
    await close(leeched.server);
    await s.stop();
  });
  const idx = (name: string): number => s.metainfo.files.findIndex((f) => f.path.at(-1) === name);
  const url = (base: string, name: string): string => base + streamPath(s.seeder, idx(name));

  it('answers Range requests on files of every size', async () => {
    for (const f of files) {
      const len = f.bytes.length;
      const u = url(seeded.base, f.name);
      const whole = await fetch(u);
      assert.equal(whole.status, 200, f.name);
      assert.equal(whole.headers.get('accept-ranges'), 'bytes');
      assert.equal(whole.headers.get('content-length'), String(len));
      assert.ok(Buffer.from(await whole.arrayBuffer()).equals(f.bytes), `${f.name}: whole`);
      const cases: [string, number, number][] = [
        ['bytes=0-', 0, len - 1],
        [`bytes=${len - 1}-`, len - 1, len - 1],
        [`bytes=${len - 1}-${len - 1}`, len - 1, len - 1],
        ['bytes=-500', Math.max(0, len - 500), len - 1],
        [`bytes=0-${len + 1000}`, 0, len - 1],
        [
          `bytes=${Math.floor(len / 3)}-${Math.floor((2 * len) / 3)}`,
          Math.floor(len / 3),
          Math.floor((2 * len) / 3),
        ],
      ];
      for (const [range, start, end] of len === 0
        ? cases.filter(([r]) => r === 'bytes=0-' || r === 'bytes=-500')
        : cases) {
        const r = await fetch(u, { headers: { Range: range } });
        if (len === 0) {
          assert.equal(r.status, 416, `${f.name} ${range}`);
          assert.equal(r.headers.get('content-range'), 'bytes */0');
          await r.arrayBuffer();
          continue;
        }
        assert.equal(r.status, 206, `${f.name} ${range}`);
        assert.equal(r.headers.get('content-range'), `bytes ${start}-${end}/${len}`);
        assert.equal(r.headers.get('content-length'), String(end - start + 1));
        assert.ok(
          Buffer.from(await r.arrayBuffer()).equals(f.bytes.subarray(start, end + 1)),
          `${f.name} ${range}`,
        );
      }
      for (const range of [`bytes=${len}-`, `bytes=${len + 10}-${len + 20}`, 'bytes=-0']) {
        const r = await fetch(u, { headers: { Range: range } });
        assert.equal(r.status, 416, `${f.name} ${range}`);
        assert.equal(r.headers.get('content-range'), `bytes */${len}`);
        await r.arrayBuffer();
      }
    }
  });

  it('HEAD, types, several ranges, bad paths', async () => {
    const head = await fetch(url(seeded.base, 'video.mp4'), {
      method: 'HEAD',
      headers: { Range: 'bytes=10-19' },
    });
    assert.equal(head.status, 206);
    assert.equal(head.headers.get('content-length'), '10');
    assert.equal(head.headers.get('content-range'), `bytes 10-19/${3 * PIECE + 5}`);
    assert.equal(head.headers.get('content-type'), 'video/mp4');
    assert.equal((await head.arrayBuffer()).byteLength, 0);
    const types = {
      'big.mkv': 'video/x-matroska',
      'small.json': 'application/json',
      'empty.bin': 'application/octet-stream',
    };
    for (const [name, type] of Object.entries(types)) {
      const r = await fetch(url(seeded.base, name), { method: 'HEAD' });
      assert.equal(r.headers.get('content-type'), type);
    }
    // Several ranges are answered with the whole file.
    const multi = await fetch(url(seeded.base, 'small.json'), { headers: { Range: 'bytes=0-1,5-9' } });
    assert.equal(multi.status, 200);
    assert.equal((await multi.arrayBuffer()).byteLength, 1000);
    // The short form without the name works too.
    const short = await fetch(`${seeded.base}/${s.metainfo.infoHashHex}/${idx('one.txt')}`);
    assert.equal(await short.text(), 'x');
    for (const [path, status] of [
      [`/${'0'.repeat(40)}/0`, 404],
      [`/${s.metainfo.infoHashHex}/99`, 404],
      ['/nothing', 404],
      [`/${s.metainfo.infoHashHex}/x`, 404],
    ] as const) {
      const r = await fetch(seeded.base + path);
      assert.equal(r.status, status, path);
      await r.arrayBuffer();
    }
    const post = await fetch(url(seeded.base, 'one.txt'), { method: 'POST' });
    assert.equal(post.status, 405);
    await post.arrayBuffer();
    const list = (await (await fetch(`${seeded.base}/`)).json()) as {
      infoHash: string;
      files: { url: string }[];
    }[];
    assert.equal(list[0]?.infoHash, s.metainfo.infoHashHex);
    assert.equal(list[0]?.files.length, files.length);
  });

  it('waits for pieces from a slow seeder, and a client that goes away drops its claim', async () => {
    const big = files[4]!.bytes;
    const start = 30 * PIECE + 100;
    const r = await fetch(url(leeched.base, 'big.mkv'), {
      headers: { Range: `bytes=${start}-${start + 5 * PIECE}` },
    });
    assert.equal(r.status, 206);
    assert.ok(Buffer.from(await r.arrayBuffer()).equals(big.subarray(start, start + 5 * PIECE + 1)));
    // A client reads the first bytes of the end of the file, then hangs up.
    const claimed = new Promise<void>((resolve, reject) => {
      const req = get(url(leeched.base, 'big.mkv'), { headers: { Range: `bytes=${50 * PIECE}-` } }, (res) => {
        res.once('data', () => {
          const tailDone = [50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60].every((p) =>
            s.leecher.bitfield.get(p),
          );
          if (!tailDone && s.leecher.claimedPieces.length === 0)
            reject(new Error('the reader claimed nothing'));
          req.destroy();
          resolve();
        });
      });
      req.on('error', () => undefined);
      req.setTimeout(60_000, () => reject(new Error('no data')));
    });
    await claimed;
    for (let i = 0; i < 500 && s.leecher.claimedPieces.length > 0; i++)
      await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(s.leecher.claimedPieces, []);
  });
});
