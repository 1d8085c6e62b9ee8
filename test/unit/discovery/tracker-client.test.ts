// TrackerClient against our own TrackerServer on loopback (HTTP through serveHttpConnection, UDP
// through a dgram socket) and against small hostile trackers: round trips, scrape, events, BEP 12
// tier fallback and reordering, intervals and backoff with short timings, stop() bounds, replies of
// 50 MB and gzip bombs.
import assert from 'node:assert/strict';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer as createHttpServer, type Server as HttpServer, type ServerResponse } from 'node:http';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { after, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { serveHttpConnection } from '../../../src/discovery/http-tracker-conn.js';
import {
  isSupportedTrackerUrl,
  TrackerClient,
  type TrackerClientOptions,
} from '../../../src/discovery/tracker-client.js';
import { TrackerServer, type TrackerServerOptions } from '../../../src/discovery/tracker-server.js';
import { encode } from '../../../src/protocol/bencode.js';
import type { PeerAddress } from '../../../src/protocol/tracker-http.js';

const HASH = Buffer.alloc(20, 0x5a);
const HEX = HASH.toString('hex');

interface Fixture {
  tracker: TrackerServer;
  http: string;
  udp: string;
  close(): Promise<void>;
}

/** Our tracker served on 127.0.0.1: TCP through serveHttpConnection, UDP through handleUdp. */
async function serveTracker(options: Partial<TrackerServerOptions> = {}): Promise<Fixture> {
  const tracker = new TrackerServer({ isTracked: (h) => h === HEX, intervalSec: 60, ...options });
  tracker.start();
  const sockets = new Set<Socket>();
  const tcp: Server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    serveHttpConnection(s, tracker);
  });
  await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
  const udp: UdpSocket = createSocket('udp4');
  udp.on('message', (msg, rinfo) => {
    const reply = tracker.handleUdp(msg, { address: rinfo.address, port: rinfo.port, family: 'IPv4' });
    if (reply !== undefined) udp.send(reply, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
  const tcpPort = (tcp.address() as AddressInfo).port;
  const udpPort = udp.address().port;
  return {
    tracker,
    http: `http://127.0.0.1:${tcpPort}/announce`,
    udp: `udp://127.0.0.1:${udpPort}`,
    close: async () => {
      tracker.stop();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => tcp.close(() => resolve()));
      await new Promise<void>((resolve) => udp.close(() => resolve()));
    },
  };
}

/** A plain HTTP server with a custom handler (hostile or scripted trackers). */
async function serveHttp(
  handler: (url: URL, res: ServerResponse) => void,
): Promise<{ url: string; close(): Promise<void> }> {
  const server: HttpServer = createHttpServer((req, res) =>
    handler(new URL(req.url ?? '/', 'http://x'), res),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/announce`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A port nothing listens on (TCP and UDP both refuse). */
async function deadPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

const clients: TrackerClient[] = [];
after(async () => {
  await Promise.all(clients.map((c) => c.stop()));
});

function makeClient(n: number, tiers: string[][], extra: Partial<TrackerClientOptions> = {}): TrackerClient {
  const c = new TrackerClient({
    infoHash: HASH,
    peerId: Buffer.from(`-BM0001-${String(n).padStart(12, '0')}`),
    port: 6000 + n,
    tiers,
    getStats: () => ({ uploaded: 0, downloaded: 0, left: 100 }),
    timeoutMs: 1000,
    udpRetransmitMs: 200,
    stopTimeoutMs: 500,
    intervalFloorMs: 0,
    ...extra,
  });
  clients.push(c);
  return c;
}

function nextPeers(c: TrackerClient): Promise<PeerAddress[]> {
  return new Promise((resolve) => c.once('peers:found', resolve));
}

function nextReply(c: TrackerClient): Promise<string> {
  return new Promise((resolve) => c.once('tracker:reply', (url) => resolve(url)));
}

for (const proto of ['http', 'udp'] as const) {
  describe(`round trip over ${proto}`, () => {
    test('announce: the second peer sees the first; scrape counts; stop removes us', async () => {
      const f = await serveTracker();
      try {
        const a = makeClient(1, [[f[proto]]]);
        const b = makeClient(2, [[f[proto]]]);
        const replied = nextReply(a);
        a.start();
        assert.equal(await replied, f[proto]);
        const found = nextPeers(b);
        b.start();
        assert.deepEqual(await found, [{ host: '127.0.0.1', port: 6001 }]);
        assert.deepEqual(await b.scrape(), { url: f[proto], complete: 0, incomplete: 2, downloaded: 0 });
        await a.stop();
        assert.deepEqual(
          f.tracker.peersOf(HEX).map((p) => p.port),
          [6002],
        );
        await b.stop();
        assert.deepEqual(f.tracker.peersOf(HEX), []);
      } finally {
        await f.close();
      }
    });

    test('completed is sent once and counted; the seed is then a seed', async () => {
      const f = await serveTracker({ minIntervalSec: 0 });
      try {
        let left = 100;
        const events: string[] = [];
        f.tracker.on('peer:announce', (_h, p) => events.push(p.event));
        const a = makeClient(1, [[f[proto]]], {
          getStats: () => ({ uploaded: 0, downloaded: 100 - left, left }),
        });
        const first = nextReply(a);
        a.start();
        await first;
        left = 0;
        const second = nextReply(a);
        a.completed();
        a.completed();
        await second;
        await a.announceNow();
        assert.deepEqual(events, ['started', 'completed', 'none']);
        assert.deepEqual(f.tracker.peersOf(HEX), [{ host: '127.0.0.1', port: 6001, seed: true }]);
        const s = await a.scrape();
        assert.equal(s?.downloaded, 1);
        await a.stop();
      } finally {
        await f.close();
      }
    });
  });
}

test('IPv6 peers (peers6) reach the client over HTTP', async () => {
  const f = await serveTracker();
  try {
    f.tracker.addKnownPeer(HEX, { host: '2001:db8::9', port: 51413, seed: true });
    f.tracker.addKnownPeer(HEX, { host: '192.0.2.1', port: 51413, seed: true });
    const a = makeClient(1, [[f.http]]);
    const found = nextPeers(a);
    a.start();
    assert.deepEqual((await found).map((p) => p.host).sort(), ['192.0.2.1', '2001:db8::9']);
    await a.stop();
  } finally {
    await f.close();
  }
});

describe('BEP 12 tiers', () => {
  test('a dead first tracker falls through; the one that answered moves to the front of its tier', async () => {
    const f = await serveTracker();
    const deadHttp = `http://127.0.0.1:${await deadPort()}/announce`;
    const deadUdp = `udp://127.0.0.1:${await deadPort()}`;
    try {
      // random() = 0.999… keeps the tier in its written order, so the dead ones come first.
      const a = makeClient(1, [[deadHttp, deadUdp, f.udp], [f.http]], { random: () => 0.9999 });
      assert.deepEqual(a.tiers, [[deadHttp, deadUdp, f.udp], [f.http]]);
      const errors: string[] = [];
      a.on('tracker:error', (url) => errors.push(url));
      const replied = nextReply(a);
      a.start();
      assert.equal(await replied, f.udp);
      assert.deepEqual(errors, [deadHttp, deadUdp]);
      assert.deepEqual(a.tiers, [[f.udp, deadHttp, deadUdp], [f.http]]);
      await a.stop();
    } finally {
      await f.close();
    }
  });

  test('a whole dead tier falls through to the next tier', async () => {
    const f = await serveTracker();
    const dead = `http://127.0.0.1:${await deadPort()}/announce`;
    try {
      const a = makeClient(1, [[dead], [f.http]]);
      const replied = nextReply(a);
      a.start();
      assert.equal(await replied, f.http);
      await a.stop();
    } finally {
      await f.close();
    }
  });

  test('only http, https and udp URLs are used', () => {
    for (const ok of ['http://a.example/announce', 'https://a.example:8443/x', 'udp://a.example:6969']) {
      assert.ok(isSupportedTrackerUrl(ok), ok);
    }
    for (const bad of [
      'wss://a.example',
      'file:///etc/passwd',
      'udp://a.example',
      'garbage',
      'javascript:alert(1)',
    ]) {
      assert.ok(!isSupportedTrackerUrl(bad), bad);
    }
    const c = makeClient(1, [['wss://a.example/announce', 'http://127.0.0.1:1/announce'], ['ftp://x']]);
    assert.deepEqual(c.tiers, [['http://127.0.0.1:1/announce']]);
    assert.deepEqual(c.rejectedUrls, ['wss://a.example/announce', 'ftp://x']);
  });
});

describe('timing', () => {
  test('interval is honoured and raised to min interval; tracker id is echoed', async () => {
    const times: number[] = [];
    const queries: URLSearchParams[] = [];
    const t = await serveHttp((url, res) => {
      times.push(Date.now());
      queries.push(url.searchParams);
      res.end(encode({ interval: 0, 'min interval': 1, peers: new Uint8Array(0), 'tracker id': 'TID-7' }));
    });
    try {
      const a = makeClient(1, [[t.url]]);
      a.start();
      while (times.length < 3) await new Promise((r) => setTimeout(r, 50));
      await a.stop();
      const gaps = [times[1]! - times[0]!, times[2]! - times[1]!];
      for (const g of gaps) assert.ok(g >= 950 && g < 1800, `gap ${g} ms`);
      assert.equal(queries[0]!.get('trackerid'), null);
      assert.equal(queries[1]!.get('trackerid'), 'TID-7');
      assert.equal(queries[0]!.get('event'), 'started');
      assert.equal(queries[1]!.get('event'), null);
      assert.equal(queries.at(-1)!.get('event'), 'stopped');
      assert.equal(queries[0]!.get('compact'), '1');
      assert.equal(queries[0]!.get('numwant'), '50');
      assert.match(queries[0]!.get('key') ?? '', /^[0-9a-f]{8}$/);
      assert.equal(queries[0]!.get('key'), queries[1]!.get('key'));
    } finally {
      await t.close();
    }
  });

  test('failed rounds back off exponentially', async () => {
    const dead = `http://127.0.0.1:${await deadPort()}/announce`;
    const a = makeClient(1, [[dead]], { retryMinMs: 60, retryMaxMs: 10_000 });
    const times: number[] = [];
    a.on('tracker:error', () => times.push(Date.now()));
    a.start();
    while (times.length < 5) await new Promise((r) => setTimeout(r, 20));
    await a.stop();
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    // 60, 120, 240, 480 ms (plus connection time)
    assert.ok(gaps[0]! >= 55 && gaps[0]! < 200, `gaps ${gaps}`);
    assert.ok(gaps[3]! >= 470, `gaps ${gaps}`);
    assert.ok(gaps[3]! > 2.5 * gaps[0]!, `gaps ${gaps}`);
  });

  test('a stop while `started` awaits its reply still tells that tracker `stopped`', async () => {
    // The tracker counts us when the request arrives; its reply may come after we stopped.
    const events: string[] = [];
    const t = await serveHttp((url, res) => {
      const event = url.searchParams.get('event') ?? 'none';
      events.push(event);
      if (event === 'started')
        setTimeout(() => res.end(encode({ interval: 60, peers: new Uint8Array(0) })), 300);
      else res.end(encode({ interval: 60, peers: new Uint8Array(0) }));
    });
    try {
      const a = makeClient(1, [[t.url]]);
      a.start();
      while (!events.includes('started')) await new Promise((r) => setTimeout(r, 10));
      await a.stop();
      assert.deepEqual(events, ['started', 'stopped']);
    } finally {
      await t.close();
    }
  });

  test('stop() is bounded when a tracker no longer answers', async () => {
    const f = await serveTracker();
    const a = makeClient(1, [[f.udp]], { stopTimeoutMs: 300 });
    const replied = nextReply(a);
    a.start();
    await replied;
    await f.close(); // the tracker is gone: `stopped` cannot be delivered
    const blackHole = createSocket('udp4');
    // Rebind the same port and swallow everything, so no ICMP refusal shortens the wait.
    await new Promise<void>((resolve) => blackHole.bind(Number(new URL(f.udp).port), '127.0.0.1', resolve));
    try {
      const t0 = Date.now();
      const errors: Error[] = [];
      a.on('tracker:error', (_u, e) => errors.push(e));
      await a.stop();
      const ms = Date.now() - t0;
      assert.ok(ms >= 250 && ms < 1500, `stop took ${ms} ms`);
      assert.equal(errors.length, 1);
    } finally {
      await new Promise<void>((resolve) => blackHole.close(() => resolve()));
    }
  });
});

describe('hostile trackers', () => {
  const bigBody = (res: ServerResponse, declare: boolean): void => {
    const chunk = Buffer.alloc(1024 * 1024, 0x61);
    res.writeHead(200, declare ? { 'Content-Length': String(50 * chunk.length) } : {});
    let sent = 0;
    const pump = (): void => {
      while (sent < 50) {
        sent++;
        if (!res.write(chunk)) {
          res.once('drain', pump);
          return;
        }
      }
      res.end();
    };
    res.on('error', () => undefined);
    pump();
  };

  const cases: [string, (url: URL, res: ServerResponse) => void][] = [
    ['a 50 MB reply with Content-Length', (_u, res) => bigBody(res, true)],
    ['a 50 MB reply, chunked', (_u, res) => bigBody(res, false)],
    [
      'a gzip bomb',
      (() => {
        const bomb = gzipSync(Buffer.alloc(32 * 1024 * 1024));
        return (_u: URL, res: ServerResponse) => {
          res.writeHead(200, { 'Content-Encoding': 'gzip', 'Content-Length': String(bomb.length) });
          res.end(bomb);
        };
      })(),
    ],
    ['garbage', (_u, res) => res.end('<html>not bencode</html>')],
    [
      'a failure reason with HTTP 400',
      (_u, res) => {
        res.writeHead(400);
        res.end(encode({ 'failure reason': 'nope' }));
      },
    ],
  ];
  for (const [name, handler] of cases) {
    test(`${name} is an error for that tracker; the next one is used`, async () => {
      const bad = await serveHttp(handler);
      const f = await serveTracker();
      try {
        const a = makeClient(1, [[bad.url, f.http]], { random: () => 0.9999 });
        const errors: Error[] = [];
        a.on('tracker:error', (_u, e) => errors.push(e));
        const before = process.memoryUsage().arrayBuffers;
        const replied = nextReply(a);
        a.start();
        assert.equal(await replied, f.http);
        assert.equal(errors.length, 1);
        assert.equal((errors[0] as { code?: string }).code, 'ERR_TRACKER');
        if (name.startsWith('a failure')) assert.match(errors[0]!.message, /nope/);
        // Nothing near 32-50 MB was kept.
        assert.ok(process.memoryUsage().arrayBuffers - before < 16 * 1024 * 1024);
        await a.stop();
      } finally {
        await bad.close();
        await f.close();
      }
    });
  }
});
