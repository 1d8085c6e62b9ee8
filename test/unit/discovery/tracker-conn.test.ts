// serveHttpConnection over real loopback sockets: keep-alive and pipelining, HTTP/1.0 and
// `Connection: close`, bytes already peeked by a demux, and the limits (oversized head → 413,
// slow head → 408, idle keep-alive closed, request with a body → 400).
import assert from 'node:assert/strict';
import { Agent, get } from 'node:http';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { type ServeHttpOptions, serveHttpConnection } from '../../../src/discovery/http-tracker-conn.js';
import { TrackerServer } from '../../../src/discovery/tracker-server.js';
import { AnnounceEvent, buildAnnounceQuery, parseAnnounceReply } from '../../../src/protocol/tracker-http.js';

const HASH = Buffer.alloc(20, 0x33);

function announceTarget(n: number): string {
  return `/announce?${buildAnnounceQuery({
    infoHash: HASH,
    peerId: Buffer.from(`-XX0000-${String(n).padStart(12, '0')}`),
    port: 7000 + n,
    uploaded: 0,
    downloaded: 0,
    left: 1,
    event: AnnounceEvent.started,
  })}`;
}

interface Fixture {
  server: Server;
  port: number;
  sockets: Set<Socket>;
}

async function listen(
  tracker: TrackerServer,
  options: ServeHttpOptions = {},
  peek = false,
): Promise<Fixture> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    if (!peek) {
      serveHttpConnection(socket, tracker, options);
      return;
    }
    // Like the session's demux: read the first bytes, then hand them over with the socket.
    socket.once('data', (first: Buffer) => {
      socket.pause();
      serveHttpConnection(socket, tracker, { ...options, initialData: first });
      socket.resume();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, sockets };
}

async function close(f: Fixture): Promise<void> {
  for (const s of f.sockets) s.destroy();
  await new Promise<void>((resolve) => f.server.close(() => resolve()));
}

/** Writes `chunks` (with `gapMs` between them) and collects everything until the server closes. */
function exchange(port: number, chunks: string[], gapMs = 0): Promise<{ text: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const s = connect(port, '127.0.0.1');
    const got: Buffer[] = [];
    s.on('data', (b) => got.push(b));
    s.on('error', reject);
    s.on('close', () => resolve({ text: Buffer.concat(got).toString('latin1'), ms: Date.now() - t0 }));
    let i = 0;
    const next = (): void => {
      if (s.destroyed) return;
      if (i < chunks.length) {
        s.write(chunks[i++]!);
        setTimeout(next, gapMs);
      }
    };
    s.on('connect', next);
  });
}

function responses(text: string): string[] {
  return text.split(/(?=HTTP\/1\.1 )/).filter(Boolean);
}

describe('serveHttpConnection', () => {
  const tracker = new TrackerServer({ isTracked: () => true });
  let f: Fixture;
  before(async () => {
    f = await listen(tracker, { headerTimeoutMs: 300, maxRequestBytes: 8 * 1024 });
  });
  after(() => close(f));

  test('keep-alive: pipelined requests are answered in order on one connection', async () => {
    const req = (n: number, extra = '') => `GET ${announceTarget(n)} HTTP/1.1\r\nHost: x\r\n${extra}\r\n`;
    const { text } = await exchange(f.port, [req(1) + req(2), req(3, 'Connection: close\r\n')]);
    const rs = responses(text);
    assert.equal(rs.length, 3);
    assert.match(rs[0]!, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(rs[0]!, /Connection: keep-alive/);
    assert.match(rs[2]!, /Connection: close/);
    const body = Buffer.from(rs[2]!.slice(rs[2]!.indexOf('\r\n\r\n') + 4), 'latin1');
    assert.deepEqual(
      parseAnnounceReply(body)
        .peers.map((p) => p.port)
        .sort(),
      [7001, 7002],
    );
  });

  test('HTTP/1.0 without keep-alive gets one answer, then the connection closes', async () => {
    const { text } = await exchange(f.port, [`GET ${announceTarget(4)} HTTP/1.0\r\n\r\n`]);
    assert.equal(responses(text).length, 1);
    assert.match(text, /Connection: close/);
  });

  test('an oversized request head gets 413 and the connection closes', async () => {
    const { text } = await exchange(f.port, [`GET /announce?${'a'.repeat(9000)}`]);
    assert.match(text, /^HTTP\/1\.1 413 /);
    const huge = await exchange(f.port, [`GET /announce?x HTTP/1.1\r\n${'X-Pad: y\r\n'.repeat(1000)}\r\n`]);
    assert.match(huge.text, /^HTTP\/1\.1 413 /);
  });

  test('a slow request head gets 408 after the header timeout', async () => {
    const { text, ms } = await exchange(f.port, ['GET /announce', '?info'], 100);
    assert.match(text, /^HTTP\/1\.1 408 /);
    assert.ok(ms >= 250, `closed after ${ms} ms`);
  });

  test('an idle keep-alive connection is closed silently', async () => {
    const { text, ms } = await exchange(f.port, [`GET ${announceTarget(5)} HTTP/1.1\r\n\r\n`]);
    assert.equal(responses(text).length, 1);
    assert.ok(ms >= 250 && ms < 3000, `closed after ${ms} ms`);
  });

  test('garbage and requests with a body get 400', async () => {
    assert.match((await exchange(f.port, ['\x13BitTorrent protocol\r\n\r\n'])).text, /^HTTP\/1\.1 400 /);
    const withBody = await exchange(f.port, ['GET /announce HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello']);
    assert.match(withBody.text, /^HTTP\/1\.1 400 /);
  });

  test('works with node:http as the client (keep-alive agent)', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (let i = 0; i < 3; i++) {
        const { status, body } = await new Promise<{ status: number; body: Buffer }>((resolve, reject) => {
          get({ host: '127.0.0.1', port: f.port, path: announceTarget(10 + i), agent }, (res) => {
            const parts: Buffer[] = [];
            res.on('data', (b: Buffer) => parts.push(b));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts) }));
          }).on('error', reject);
        });
        assert.equal(status, 200);
        assert.ok(parseAnnounceReply(body).intervalSec > 0);
      }
      assert.equal(f.sockets.size, 1, 'one connection reused');
    } finally {
      agent.destroy();
    }
  });
});

test('bytes peeked by a demux are served first', async () => {
  const tracker = new TrackerServer({ isTracked: () => true });
  const f = await listen(tracker, {}, true);
  try {
    const { text } = await exchange(
      f.port,
      ['GE', `T ${announceTarget(1)} HTTP/1.1\r\nConnection: close\r\n\r\n`],
      50,
    );
    assert.match(text, /^HTTP\/1\.1 200 OK/);
    assert.equal(tracker.stats.peers, 1);
  } finally {
    await close(f);
  }
});
