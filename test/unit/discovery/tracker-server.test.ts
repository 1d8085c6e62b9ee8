// The embedded tracker's swarm table and its HTTP and UDP handlers, called directly with a fake
// clock: announces and scrapes, compact/dictionary/peers6 replies, events, expiry, limits, hostile
// input (malformed announces, huge scrapes) and the UDP connection-id rules (forged/stale ids get
// no reply, no amplification before a valid id).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  TrackerServer,
  type TrackerServerOptions,
  type UdpSource,
} from '../../../src/discovery/tracker-server.js';
import { type BDict, bdecode, isBytes, isDict, isList } from '../../../src/protocol/bencode.js';
import {
  AnnounceEvent,
  buildAnnounceQuery,
  buildScrapeQuery,
  parseAnnounceReply,
  parseScrapeReply,
} from '../../../src/protocol/tracker-http.js';
import {
  decodeUdpReply,
  encodeAnnounceRequest,
  encodeConnectRequest,
  encodeScrapeRequest,
  UdpAction,
} from '../../../src/protocol/tracker-udp.js';

const H1 = Buffer.alloc(20, 1);
const H2 = Buffer.alloc(20, 2);
const UNTRACKED = Buffer.alloc(20, 9);
const tracked = new Set([H1.toString('hex'), H2.toString('hex')]);

function makeTracker(extra: Partial<TrackerServerOptions> = {}) {
  const clock = { ms: 1_000_000 };
  const tracker = new TrackerServer({
    isTracked: (hex) => tracked.has(hex),
    intervalSec: 100,
    minIntervalSec: 30,
    now: () => clock.ms,
    ...extra,
  });
  return { tracker, clock };
}

function peerId(n: number): Buffer {
  return Buffer.from(`-XX0000-${String(n).padStart(12, '0')}`);
}

interface AnnounceArgs {
  hash?: Buffer;
  n?: number;
  port?: number;
  left?: number;
  event?: AnnounceEvent;
  compact?: boolean;
  numwant?: number;
  from?: string;
  extra?: string;
}

function httpAnnounce(tracker: TrackerServer, a: AnnounceArgs = {}) {
  const n = a.n ?? 1;
  const query = buildAnnounceQuery({
    infoHash: a.hash ?? H1,
    peerId: peerId(n),
    port: a.port ?? 10_000 + n,
    uploaded: 0,
    downloaded: 0,
    left: a.left ?? 1000,
    event: a.event ?? AnnounceEvent.none,
    compact: a.compact ?? true,
    ...(a.numwant !== undefined ? { numwant: a.numwant } : {}),
  });
  return tracker.handleHttp({
    method: 'GET',
    target: `/announce?${query}${a.extra ?? ''}`,
    remoteAddress: a.from ?? '127.0.0.1',
  });
}

function dict(body: Buffer): BDict {
  const v = bdecode(body);
  assert.ok(isDict(v));
  return v;
}

function failureOf(body: Buffer): string | undefined {
  const f = dict(body).get('failure reason');
  return isBytes(f) ? Buffer.from(f).toString() : undefined;
}

describe('HTTP announce', () => {
  test('peers see each other, not themselves; counts, interval, min interval, tracker id', () => {
    const { tracker } = makeTracker();
    const r1 = httpAnnounce(tracker, { n: 1, event: AnnounceEvent.started });
    assert.equal(r1.status, 200);
    assert.deepEqual(parseAnnounceReply(r1.body).peers, []);
    httpAnnounce(tracker, { n: 2, left: 0, event: AnnounceEvent.started });
    const r3 = parseAnnounceReply(httpAnnounce(tracker, { n: 3, event: AnnounceEvent.started }).body);
    assert.deepEqual(r3.peers.map((p) => p.port).sort(), [10_001, 10_002]);
    assert.equal(r3.intervalSec, 100);
    assert.equal(r3.minIntervalSec, 30);
    assert.equal(r3.complete, 1);
    assert.equal(r3.incomplete, 2);
    assert.ok(r3.trackerId !== undefined && r3.trackerId.length > 0);
    assert.deepEqual(tracker.stats, { torrents: 1, peers: 3 });
  });

  test('the source address is the peer; ip= ignored unless trustIpParam', () => {
    const { tracker } = makeTracker();
    httpAnnounce(tracker, { n: 1, from: '::ffff:10.0.0.5', extra: '&ip=6.6.6.6' });
    assert.deepEqual(tracker.peersOf(H1.toString('hex')), [{ host: '10.0.0.5', port: 10_001, seed: false }]);
    const trusting = makeTracker({ trustIpParam: true }).tracker;
    httpAnnounce(trusting, { n: 1, from: '10.0.0.5', extra: '&ip=6.6.6.6' });
    assert.deepEqual(trusting.peersOf(H1.toString('hex')), [{ host: '6.6.6.6', port: 10_001, seed: false }]);
  });

  test('compact reply lists IPv6 peers in peers6 (18 bytes each)', () => {
    const { tracker } = makeTracker();
    httpAnnounce(tracker, { n: 1, from: '2001:db8::1' });
    httpAnnounce(tracker, { n: 2, from: '10.0.0.2' });
    const body = httpAnnounce(tracker, { n: 3, from: '10.0.0.3' }).body;
    const d = dict(body);
    const p4 = d.get('peers');
    const p6 = d.get('peers6');
    assert.ok(isBytes(p4) && isBytes(p6));
    assert.equal(p4.length, 6);
    assert.equal(p6.length, 18);
    assert.deepEqual(parseAnnounceReply(body).peers, [
      { host: '10.0.0.2', port: 10_002 },
      { host: '2001:db8::1', port: 10_001 },
    ]);
  });

  test('compact=0 gives dictionaries with peer id, no_peer_id leaves it out', () => {
    const { tracker } = makeTracker();
    httpAnnounce(tracker, { n: 1, from: '10.0.0.1' });
    const withIds = dict(httpAnnounce(tracker, { n: 2, compact: false }).body).get('peers');
    assert.ok(isList(withIds) && withIds.length === 1 && isDict(withIds[0]));
    const entry = withIds[0];
    assert.deepEqual(Buffer.from(entry.get('peer id') as Uint8Array), peerId(1));
    assert.equal(Buffer.from(entry.get('ip') as Uint8Array).toString(), '10.0.0.1');
    assert.equal(entry.get('port'), 10_001);
    const noIds = dict(httpAnnounce(tracker, { n: 2, compact: false, extra: '&no_peer_id=1' }).body).get(
      'peers',
    );
    assert.ok(isList(noIds) && isDict(noIds[0]) && !noIds[0].has('peer id'));
  });

  test('numwant: default 50, capped at 200, 0 gives none', () => {
    const { tracker } = makeTracker();
    for (let n = 1; n <= 300; n++) httpAnnounce(tracker, { n });
    const count = (numwant?: number) =>
      parseAnnounceReply(
        httpAnnounce(tracker, { n: 999, ...(numwant !== undefined ? { numwant } : {}) }).body,
      ).peers.length;
    assert.equal(count(), 50);
    assert.equal(count(1_000_000), 200);
    assert.equal(count(7), 7);
    assert.equal(count(0), 0);
  });

  test('property: replies never list the requester, never repeat a peer, and list min(numwant, others)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 60 }),
        fc.integer({ min: 0, max: 60 }),
        fc.integer({ min: 0, max: 80 }),
        fc.double({ min: 0, max: 0.999, noNaN: true }),
        fc.boolean(),
        (seeds, leechers, numwant, r, selfSeed) => {
          const { tracker } = makeTracker({ random: () => r });
          for (let n = 1; n <= seeds + leechers; n++) httpAnnounce(tracker, { n, left: n <= seeds ? 0 : 5 });
          const self = selfSeed ? 1 : seeds + leechers; // one of the existing peers re-announces
          const exists = seeds + leechers > 0;
          const selfN = exists ? self : 999;
          const isSeed = exists ? self <= seeds : selfSeed;
          const body = httpAnnounce(tracker, { n: selfN, left: isSeed ? 0 : 5, numwant }).body;
          const ports = parseAnnounceReply(body).peers.map((p) => p.port);
          assert.ok(!ports.includes(10_000 + selfN));
          assert.equal(new Set(ports).size, ports.length);
          const others = isSeed
            ? leechers - (exists && !isSeed ? 1 : 0)
            : seeds + leechers - (exists ? 1 : 0);
          assert.equal(ports.length, Math.min(numwant, others));
          if (isSeed) for (const p of ports) assert.ok(p - 10_000 > seeds, 'a seed is given leechers only');
        },
      ),
      { numRuns: 150 },
    );
  });

  test('a seed is given leechers only', () => {
    const { tracker } = makeTracker();
    httpAnnounce(tracker, { n: 1, left: 0 });
    httpAnnounce(tracker, { n: 2, left: 5 });
    const r = parseAnnounceReply(httpAnnounce(tracker, { n: 3, left: 0 }).body);
    assert.deepEqual(
      r.peers.map((p) => p.port),
      [10_002],
    );
  });

  test('events: stopped removes the peer, completed turns it into a seed and counts once', () => {
    const { tracker } = makeTracker();
    httpAnnounce(tracker, { n: 1, event: AnnounceEvent.started });
    httpAnnounce(tracker, { n: 2, event: AnnounceEvent.started });
    httpAnnounce(tracker, { n: 1, left: 0, event: AnnounceEvent.completed });
    httpAnnounce(tracker, { n: 1, left: 0, event: AnnounceEvent.completed });
    const scrape = () =>
      parseScrapeReply(
        tracker.handleHttp({
          method: 'GET',
          target: `/scrape?${buildScrapeQuery([H1])}`,
          remoteAddress: '127.0.0.1',
        }).body,
      ).get(H1.toString('hex'));
    assert.deepEqual(scrape(), { complete: 1, incomplete: 1, downloaded: 1 });
    const stopped = parseAnnounceReply(httpAnnounce(tracker, { n: 2, event: AnnounceEvent.stopped }).body);
    assert.deepEqual(stopped.peers, []);
    assert.deepEqual(scrape(), { complete: 1, incomplete: 0, downloaded: 1 });
  });

  test('peer:announce events tell the session who announced', () => {
    const { tracker } = makeTracker();
    const seen: unknown[] = [];
    tracker.on('peer:announce', (hex, p) => seen.push([hex, p]));
    httpAnnounce(tracker, { n: 1, left: 0, event: AnnounceEvent.started, from: '10.1.1.1' });
    assert.deepEqual(seen, [
      [H1.toString('hex'), { host: '10.1.1.1', port: 10_001, seed: true, event: 'started' }],
    ]);
  });

  test('known peers added by the session are listed to announcers', () => {
    const { tracker } = makeTracker();
    tracker.addKnownPeer(H1.toString('hex'), { host: '192.0.2.7', port: 7000, seed: true });
    tracker.addKnownPeer(H1.toString('hex'), { host: 'not-an-ip', port: 7000, seed: true });
    tracker.addKnownPeer(UNTRACKED.toString('hex'), { host: '192.0.2.8', port: 7000, seed: true });
    assert.deepEqual(parseAnnounceReply(httpAnnounce(tracker, { n: 1 }).body).peers, [
      { host: '192.0.2.7', port: 7000 },
    ]);
    assert.deepEqual(tracker.peersOf(UNTRACKED.toString('hex')), []);
    tracker.removePeer(H1.toString('hex'), { host: '192.0.2.7', port: 7000 });
    assert.equal(tracker.peersOf(H1.toString('hex')).length, 1);
  });

  test('peers expire after 2 × interval + slack without an announce', () => {
    const { tracker, clock } = makeTracker();
    httpAnnounce(tracker, { n: 1 });
    clock.ms += 150_000;
    httpAnnounce(tracker, { n: 2 });
    clock.ms += 150_000; // peer 1 silent for 300 s > 260 s; peer 2 for 150 s
    tracker.expire(clock.ms);
    assert.deepEqual(
      tracker.peersOf(H1.toString('hex')).map((p) => p.port),
      [10_002],
    );
    clock.ms += 200_000;
    // Lazily, on the next request, with no explicit expire() call.
    httpAnnounce(tracker, { hash: H2, n: 3 });
    assert.deepEqual(tracker.stats, { torrents: 1, peers: 1 });
  });

  test('untracked torrents are refused unless open; open trackers stop at maxTorrents', () => {
    const { tracker } = makeTracker();
    assert.match(failureOf(httpAnnounce(tracker, { hash: UNTRACKED }).body) ?? '', /not tracked/);
    const open = makeTracker({ open: true, maxTorrents: 2 }).tracker;
    assert.equal(failureOf(httpAnnounce(open, { hash: UNTRACKED }).body), undefined);
    assert.equal(failureOf(httpAnnounce(open, { hash: H1 }).body), undefined);
    assert.match(failureOf(httpAnnounce(open, { hash: H2 }).body) ?? '', /full/);
  });

  test('maxPeersPerTorrent: a full swarm answers but does not list newcomers', () => {
    const { tracker } = makeTracker({ maxPeersPerTorrent: 3 });
    for (let n = 1; n <= 5; n++) assert.equal(failureOf(httpAnnounce(tracker, { n }).body), undefined);
    assert.equal(tracker.peersOf(H1.toString('hex')).length, 3);
  });
});

describe('HTTP hostile input', () => {
  test('malformed announces get a bencoded failure reason with status 200', () => {
    const { tracker } = makeTracker();
    const targets = [
      '/announce',
      '/announce?',
      '/announce?info_hash=short&peer_id=-XX0000-000000000001&port=1',
      `/announce?info_hash=${'%01'.repeat(20)}&peer_id=-XX0000-000000000001&port=99999`,
      `/announce?info_hash=${'%01'.repeat(20)}&peer_id=-XX0000-000000000001&port=abc`,
      `/announce?info_hash=${'%01'.repeat(20)}&peer_id=-XX0000-000000000001&port=1&numwant=1${'0'.repeat(30)}`,
      `/announce?info_hash=${'%01'.repeat(20)}&port=1`,
      '/announce?info_hash=%zz',
      `/announce?${'x=1&'.repeat(1000)}`,
    ];
    for (const target of targets) {
      const r = tracker.handleHttp({ method: 'GET', target, remoteAddress: '127.0.0.1' });
      assert.equal(r.status, 200, target);
      assert.ok(failureOf(r.body), target);
    }
    assert.equal(tracker.stats.peers, 0);
  });

  test('other paths and methods', () => {
    const { tracker } = makeTracker();
    assert.equal(tracker.handleHttp({ method: 'GET', target: '/', remoteAddress: '127.0.0.1' }).status, 404);
    assert.equal(
      tracker.handleHttp({ method: 'POST', target: '/announce', remoteAddress: '127.0.0.1' }).status,
      405,
    );
  });

  test('a scrape of 5,000 hashes answers the first 100; an empty scrape lists tracked torrents', () => {
    const { tracker } = makeTracker();
    httpAnnounce(tracker, { n: 1, hash: H1 });
    httpAnnounce(tracker, { n: 1, hash: H2, left: 0 });
    const hashes = [
      H1,
      ...Array.from({ length: 4999 }, (_, i) => Buffer.from(`${String(i).padStart(20, 'h')}`)),
    ];
    const r = tracker.handleHttp({
      method: 'GET',
      target: `/scrape?${buildScrapeQuery(hashes)}`,
      remoteAddress: '127.0.0.1',
    });
    const files = parseScrapeReply(r.body);
    assert.equal(files.size, 100);
    assert.deepEqual(files.get(H1.toString('hex')), { complete: 0, incomplete: 1, downloaded: 0 });
    const all = parseScrapeReply(
      tracker.handleHttp({ method: 'GET', target: '/scrape', remoteAddress: '::1' }).body,
    );
    assert.deepEqual([...all.keys()].sort(), [H1.toString('hex'), H2.toString('hex')]);
  });
});

describe('UDP', () => {
  const FROM: UdpSource = { address: '127.0.0.1', port: 40_000, family: 'IPv4' };

  function connect(tracker: TrackerServer, from: UdpSource = FROM): Buffer {
    const reply = tracker.handleUdp(encodeConnectRequest(11), from);
    assert.ok(reply !== undefined);
    assert.equal(reply.length, 16);
    const r = decodeUdpReply(reply);
    assert.ok(r.action === UdpAction.connect && r.transactionId === 11);
    return r.connectionId;
  }

  function announcePacket(
    connectionId: Buffer,
    n: number,
    extra: { left?: number; event?: AnnounceEvent; ip?: number } = {},
  ) {
    return encodeAnnounceRequest({
      connectionId,
      transactionId: 100 + n,
      infoHash: H1,
      peerId: peerId(n),
      downloaded: 0,
      left: extra.left ?? 10,
      uploaded: 0,
      event: extra.event ?? AnnounceEvent.started,
      key: 1,
      numwant: -1,
      port: 20_000 + n,
      ...(extra.ip !== undefined ? { ip: extra.ip } : {}),
    });
  }

  test('connect, announce, scrape; IPv4 peers of 6 bytes', () => {
    const { tracker } = makeTracker();
    const cid = connect(tracker);
    tracker.handleUdp(announcePacket(cid, 1, { left: 0 }), FROM);
    const reply = tracker.handleUdp(announcePacket(cid, 2), FROM);
    assert.ok(reply !== undefined);
    const r = decodeUdpReply(reply);
    assert.ok(r.action === UdpAction.announce);
    assert.equal(r.transactionId, 102);
    assert.equal(r.intervalSec, 100);
    assert.equal(r.seeders, 1);
    assert.equal(r.leechers, 1);
    assert.deepEqual(r.peers, [{ host: '127.0.0.1', port: 20_001 }]);
    assert.equal(reply.length, 26);
    const s = tracker.handleUdp(encodeScrapeRequest(cid, 5, [H1, UNTRACKED]), FROM);
    assert.deepEqual(decodeUdpReply(s!), {
      action: UdpAction.scrape,
      transactionId: 5,
      counts: [
        { seeders: 1, completed: 0, leechers: 1 },
        { seeders: 0, completed: 0, leechers: 0 },
      ],
    });
  });

  test('over IPv6 the reply carries 18-byte peers; the ip field is ignored unless trusted', () => {
    const { tracker } = makeTracker();
    const v6: UdpSource = { address: '2001:db8::5', port: 1, family: 'IPv6' };
    const cid6 = connect(tracker, v6);
    tracker.handleUdp(announcePacket(cid6, 1, { ip: 0x01020304 }), v6);
    const cid4 = connect(tracker);
    tracker.handleUdp(announcePacket(cid4, 2, { ip: 0x01020304 }), FROM);
    const reply6 = tracker.handleUdp(announcePacket(cid6, 3), v6)!;
    const r6 = decodeUdpReply(reply6, 18);
    assert.ok(r6.action === UdpAction.announce);
    assert.deepEqual(r6.peers, [{ host: '2001:db8::5', port: 20_001 }]);
    assert.equal(reply6.length, 20 + 18);
    assert.deepEqual(
      tracker
        .peersOf(H1.toString('hex'))
        .map((p) => p.host)
        .sort(),
      ['127.0.0.1', '2001:db8::5', '2001:db8::5'],
    );
    const trusting = makeTracker({ trustIpParam: true }).tracker;
    trusting.handleUdp(announcePacket(connect(trusting), 1, { ip: 0x01020304 }), FROM);
    assert.deepEqual(trusting.peersOf(H1.toString('hex')), [{ host: '1.2.3.4', port: 20_001, seed: false }]);
  });

  test('forged ids, ids from another address and stale ids get no reply at all', () => {
    const { tracker, clock } = makeTracker();
    assert.equal(tracker.handleUdp(announcePacket(Buffer.alloc(8, 0x41), 1), FROM), undefined);
    const cid = connect(tracker);
    assert.equal(tracker.handleUdp(announcePacket(cid, 1), { ...FROM, address: '127.0.0.2' }), undefined);
    // The source port does not matter (NAT rebinding), the address does.
    assert.notEqual(tracker.handleUdp(announcePacket(cid, 1), { ...FROM, port: 1 }), undefined);
    clock.ms += 130_000; // next 2-minute window at most: still accepted
    assert.notEqual(tracker.handleUdp(announcePacket(cid, 2), FROM), undefined);
    clock.ms += 240_000;
    assert.equal(tracker.handleUdp(announcePacket(cid, 3), FROM), undefined);
    assert.equal(tracker.handleUdp(encodeScrapeRequest(cid, 1, [H1]), FROM), undefined);
    // A restarted tracker (new secret) does not accept the old ids.
    const fresh = connect(tracker);
    tracker.stop();
    assert.equal(tracker.handleUdp(announcePacket(fresh, 4), FROM), undefined);
  });

  test('an id of an older window is refused after a long idle gap (no stale cache)', () => {
    const { tracker, clock } = makeTracker();
    clock.ms = 120_000 * 10 + 5; // start of a window
    const cid = connect(tracker);
    clock.ms += 2 * 120_000; // two windows later, no request in between
    assert.equal(tracker.handleUdp(announcePacket(cid, 1), FROM), undefined);
  });

  test('no amplification: unconnected requests of any kind get nothing or at most their size', () => {
    const { tracker } = makeTracker();
    const junk = [
      Buffer.alloc(0),
      Buffer.alloc(15),
      Buffer.alloc(16),
      Buffer.concat([Buffer.alloc(8), Buffer.from([0, 0, 0, 2, 0, 0, 0, 1])]),
      Buffer.concat([Buffer.alloc(8), Buffer.from([0, 0, 0, 7, 0, 0, 0, 1])]),
      Buffer.from(encodeConnectRequest(1).subarray(0, 15)),
    ];
    for (const j of junk) assert.equal(tracker.handleUdp(j, FROM), undefined);
    for (let i = 0; i < 200; i++) {
      const b = Buffer.alloc(16 + (i % 120));
      for (let k = 0; k < b.length; k++) b[k] = (i * 31 + k * 7) & 255;
      const r = tracker.handleUdp(b, FROM);
      assert.ok(r === undefined || r.length <= b.length);
    }
    const reply = tracker.handleUdp(encodeConnectRequest(3), FROM);
    assert.equal(reply?.length, 16);
  });

  test('malformed requests after a valid id get a short error; untracked torrents an error', () => {
    const { tracker } = makeTracker();
    const cid = connect(tracker);
    const short = announcePacket(cid, 1).subarray(0, 60);
    const e = decodeUdpReply(tracker.handleUdp(short, FROM)!);
    assert.ok(e.action === UdpAction.error && e.transactionId === 101);
    const untracked = announcePacket(cid, 1);
    UNTRACKED.copy(untracked, 16);
    const e2 = decodeUdpReply(tracker.handleUdp(untracked, FROM)!);
    assert.ok(e2.action === UdpAction.error);
    assert.match(e2.message, /not tracked/);
  });

  test('a scrape answers at most 74 hashes, so its reply is smaller than the request', () => {
    const { tracker } = makeTracker({ maxScrapeHashes: 500 });
    const cid = connect(tracker);
    const big = Buffer.concat([encodeScrapeRequest(cid, 1, []), Buffer.alloc(20 * 300, 1)]);
    const reply = tracker.handleUdp(big, FROM)!;
    const r = decodeUdpReply(reply);
    assert.ok(r.action === UdpAction.scrape);
    assert.equal(r.counts.length, 74);
    assert.ok(reply.length < 16 + 20 * 74);
  });
});

test('memory: 100,000 peers over 1,000 torrents, then all expire', () => {
  const { tracker, clock } = makeTracker({ open: true });
  const hash = Buffer.alloc(20);
  for (let i = 0; i < 100_000; i++) {
    hash.writeUInt32BE(i % 1000, 0);
    const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    tracker.addKnownPeer(hash.toString('hex'), { host: ip, port: 6881, seed: i % 3 === 0 });
  }
  assert.deepEqual(tracker.stats, { torrents: 1000, peers: 100_000 });
  clock.ms += 10 * 60_000;
  tracker.expire(clock.ms);
  assert.deepEqual(tracker.stats, { torrents: 0, peers: 0 });
});
