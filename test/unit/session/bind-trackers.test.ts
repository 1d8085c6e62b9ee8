// Issue 20, fault 2: `--bind ADDR` reaches the trackers. With the session bound to 127.0.0.9, the
// announces to an HTTP and a UDP tracker on 127.0.0.1 leave from 127.0.0.9 (Linux routes all of
// 127/8 to lo), so the tracker records the address the peer listens on. Peer dials and the DHT, which
// already did, are checked too.
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parseMagnet } from '../../../src/protocol/magnet.js';
import { Session } from '../../../src/session/session.js';
import { makeTorrent, type SampleTorrent, tempDir, waitFor } from '../api/helpers.js';

const BIND = '127.0.0.9';
let root: string;
let cleanup: () => Promise<void>;

before(async () => {
  ({ dir: root, cleanup } = await tempDir('bind-trackers'));
});

after(async () => {
  await cleanup();
});

function boundSession(): Session {
  return new Session({
    port: 0,
    bind: BIND,
    dht: false,
    lsd: false,
    tracker: false,
    allowLocalPeers: true,
    trackerRetryMinMs: 200,
  });
}

test('HTTP announces, of a torrent and of a magnet, leave from the bound address', async () => {
  const from: string[] = [];
  const tracker = createServer((req, res) => {
    from.push(req.socket.remoteAddress ?? '');
    res.end('d8:intervali60e5:peers0:e');
  });
  await new Promise<void>((r) => tracker.listen(0, '127.0.0.1', () => r()));
  const port = (tracker.address() as { port: number }).port;
  const announce = `http://127.0.0.1:${port}/announce`;
  const sample: SampleTorrent = await makeTorrent(root, 'http', [40_000], { announce: [[announce]] });
  const s = boundSession();
  try {
    await s.start();
    await s.add(sample.metainfo, { dir: sample.dataDir });
    await waitFor(() => from.length >= 1, 'an announce');
    assert.deepEqual(from, [BIND]);
    // A magnet's trackers (tr=) are announced to while its metadata is fetched.
    const other = await makeTorrent(root, 'http-magnet', [1000]);
    const magnet = parseMagnet(
      `magnet:?xt=urn:btih:${other.metainfo.infoHashHex}&tr=${encodeURIComponent(announce)}`,
    );
    const ac = new AbortController();
    const fetching = s.addMagnet(magnet, { dir: root, signal: ac.signal }).catch(() => undefined);
    await waitFor(() => from.length >= 2, 'the magnet announce');
    assert.deepEqual(from.slice(0, 2), [BIND, BIND]);
    ac.abort();
    await fetching;
  } finally {
    await s.stop();
    tracker.closeAllConnections();
    await new Promise<void>((r) => tracker.close(() => r()));
  }
});

test('UDP announces leave from the bound address', async () => {
  const from: string[] = [];
  const tracker = createSocket('udp4');
  // The connect request is enough: its source address is what the tracker would record.
  tracker.on('message', (_msg, rinfo) => from.push(rinfo.address));
  await new Promise<void>((r) => tracker.bind(0, '127.0.0.1', () => r()));
  const port = tracker.address().port;
  const sample = await makeTorrent(root, 'udp', [40_000], { announce: [[`udp://127.0.0.1:${port}`]] });
  const s = boundSession();
  try {
    await s.start();
    await s.add(sample.metainfo, { dir: sample.dataDir });
    await waitFor(() => from.length >= 1, 'a UDP connect request');
    assert.equal(from[0], BIND);
  } finally {
    await s.stop();
    await new Promise<void>((r) => tracker.close(() => r()));
  }
});

test('peer dials and DHT queries leave from the bound address too', async () => {
  // A "peer" that only records where the connection came from.
  const dialsFrom: string[] = [];
  const peer = createNetServer((socket) => {
    dialsFrom.push(socket.remoteAddress ?? '');
    socket.destroy();
  });
  await new Promise<void>((r) => peer.listen(0, '127.0.0.1', () => r()));
  const peerPort = (peer.address() as { port: number }).port;
  // A DHT "bootstrap node" that only records where the queries came from.
  const dhtFrom: string[] = [];
  const node = createSocket('udp4');
  node.on('message', (_msg, rinfo) => dhtFrom.push(rinfo.address));
  await new Promise<void>((r) => node.bind(0, '127.0.0.1', () => r()));
  const sample = await makeTorrent(root, 'dials', [40_000]);
  const s = new Session({
    port: 0,
    bind: BIND,
    lsd: false,
    tracker: false,
    dhtBootstrap: [{ host: '127.0.0.1', port: node.address().port }],
  });
  try {
    await s.start();
    await s.add(sample.metainfo, {
      dir: join(root, 'dials-out'),
      peers: [{ host: '127.0.0.1', port: peerPort }],
    });
    await waitFor(() => dialsFrom.length >= 1 && dhtFrom.length >= 1, 'a dial and a DHT query');
    assert.equal(dialsFrom[0], BIND);
    assert.equal(dhtFrom[0], BIND);
  } finally {
    await s.stop();
    await new Promise<void>((r) => node.close(() => r()));
    await new Promise<void>((r) => peer.close(() => r()));
  }
});
