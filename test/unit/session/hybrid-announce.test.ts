// A hybrid torrent (BEP 52) has two names: its v1 info hash and its v2 one truncated to 20 bytes.
// libtorrent announces a hybrid under both, so that v1-only and v2-only clients find it; bitswarm
// does the same, and dials a peer found under the v2 name with that name in its handshake (a v2
// client that joined by a btmh magnet knows the torrent by nothing else).
import assert from 'node:assert/strict';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { encode } from '../../../src/protocol/bencode.js';
import { hybridV2Hash } from '../../../src/protocol/metainfo.js';
import { Session } from '../../../src/session/session.js';
import { makeTorrent, type SampleTorrent, tempDir, waitFor } from '../api/helpers.js';

let root: string;
let cleanup: () => Promise<void>;
let tracker: HttpServer;
/** Hex info hashes of the announces the tracker got, in order. */
const announced: string[] = [];
/** A listener per name: the info hash of each handshake it received, hex. */
const listeners: Record<'v1' | 'v2', { server: Server; port: number; got: string[] }> = {} as never;
let hybrid: SampleTorrent;

/** `info_hash` of a tracker request, as bytes (percent-encoded binary in the query). */
function infoHashOf(url: string): string {
  const m = /[?&]info_hash=([^&]*)/.exec(url);
  const bytes: number[] = [];
  const s = m?.[1] ?? '';
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '%') {
      bytes.push(Number.parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(s.charCodeAt(i));
  }
  return Buffer.from(bytes).toString('hex');
}

function compactPeer(port: number): Buffer {
  const b = Buffer.from([127, 0, 0, 1, 0, 0]);
  b.writeUInt16BE(port, 4);
  return b;
}

async function listener(): Promise<{ server: Server; port: number; got: string[] }> {
  const got: string[] = [];
  const server = createServer((socket) => {
    let buf = Buffer.alloc(0);
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 48) {
        got.push(buf.subarray(28, 48).toString('hex'));
        socket.destroy();
      }
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, port: (server.address() as { port: number }).port, got };
}

before(async () => {
  ({ dir: root, cleanup } = await tempDir('hybrid-announce'));
  listeners.v1 = await listener();
  listeners.v2 = await listener();
  tracker = createHttpServer((req, res) => {
    const hex = infoHashOf(req.url ?? '');
    announced.push(hex);
    // Each name has its own swarm: one peer in each.
    const v2 = hybridV2Hash(hybrid.metainfo)!.toString('hex');
    const peer = hex === v2 ? listeners.v2.port : listeners.v1.port;
    res.end(encode({ interval: 1800, peers: compactPeer(peer) }));
  });
  await new Promise<void>((r) => tracker.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(tracker.address() as { port: number }).port}/announce`;
  hybrid = await makeTorrent(root, 'hyb', [70_000, 5_000], { version: 'hybrid', announce: [[url]] });
});

after(async () => {
  tracker.closeAllConnections();
  await new Promise<void>((r) => tracker.close(() => r()));
  for (const l of Object.values(listeners)) await new Promise<void>((r) => l.server.close(() => r()));
  await cleanup();
});

test('a hybrid is announced under both names, and a peer of its v2 swarm is dialled with the v2 name', async () => {
  const v1 = hybrid.metainfo.infoHashHex;
  const v2 = hybridV2Hash(hybrid.metainfo)!.toString('hex');
  assert.notEqual(v1, v2);
  const s = new Session({
    port: 0,
    bind: '127.0.0.1',
    hasherThreads: 0,
    dht: false,
    lsd: false,
    encryption: 'off',
  });
  await s.start();
  try {
    await s.add(hybrid.metainfo, { dir: join(root, 'dl') });
    await waitFor(
      () => listeners.v1.got.length > 0 && listeners.v2.got.length > 0,
      'a handshake at each listener',
      10_000,
    );
    assert.deepEqual([...new Set(announced)].sort(), [v1, v2].sort(), 'the tracker heard both names');
    assert.deepEqual(
      [...new Set(listeners.v1.got)],
      [v1],
      'the v1 swarm’s peer was dialled with the v1 hash',
    );
    assert.deepEqual(
      [...new Set(listeners.v2.got)],
      [v2],
      'the v2 swarm’s peer was dialled with the v2 hash',
    );
  } finally {
    await s.stop();
  }
});
