// Issue 19: a magnet's `tr=` and `x.pe=` made bitswarm send requests to any host and port, other
// services on the user's machine included (a local web app received `GET /admin/delete-all?…`).
// Targets on loopback, link-local or this machine's own addresses are contacted only when the user
// opts in (allowLocalPeers, --allow-local-peers); peers the user gives are always dialled.
import assert from 'node:assert/strict';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { formatMagnet, parseMagnet } from '../../../src/protocol/magnet.js';
import { isLocalIp, localAddressesOf } from '../../../src/session/local-targets.js';
import type { Session } from '../../../src/session/session.js';
import {
  differences,
  loopbackSession,
  makeTorrent,
  peerOf,
  type SampleTorrent,
  seeder,
  tempDir,
  waitFor,
} from '../api/helpers.js';

describe('local addresses', () => {
  test('loopback, link-local, unspecified and their IPv4-mapped forms are local; others are not', () => {
    for (const ip of [
      '127.0.0.1',
      '127.9.9.9',
      '0.0.0.0',
      '169.254.1.1',
      '::1',
      '::',
      'fe80::1',
      '[::1]',
      '::ffff:127.0.0.1',
      '::ffff:169.254.0.1',
    ]) {
      assert.equal(isLocalIp(ip), true, ip);
    }
    for (const ip of ['10.0.0.1', '192.168.1.1', '8.8.8.8', '2001:db8::1', 'fec0::1', '::2', 'example.com']) {
      assert.equal(isLocalIp(ip), false, ip);
    }
  });

  test('names and other spellings of loopback resolve to local addresses', async () => {
    assert.deepEqual(await localAddressesOf('localhost'), ['localhost']);
    assert.deepEqual(await localAddressesOf('a.localhost'), ['a.localhost']);
    // getaddrinfo reads a bare number as an IPv4 address: 2130706433 is 127.0.0.1.
    assert.deepEqual(await localAddressesOf('2130706433'), ['127.0.0.1']);
    assert.deepEqual(await localAddressesOf('10.1.2.3'), []);
  });
});

let root: string;
let cleanup: () => Promise<void>;
let sample: SampleTorrent;
let seed: Session;
let web: HttpServer;
let webPort: number;
const webHits: string[] = [];
let service: Server;
let servicePort: number;
const serviceSockets = new Set<Socket>();
let serviceConnections = 0;

before(async () => {
  ({ dir: root, cleanup } = await tempDir('magnet-local'));
  sample = await makeTorrent(root, 'local', [300_000]);
  seed = await seeder(sample);
  // A local web app and a local service that is not BitTorrent.
  web = createHttpServer((req, res) => {
    webHits.push(req.url ?? '');
    res.end('ok');
  });
  await new Promise<void>((r) => web.listen(0, '127.0.0.1', () => r()));
  webPort = (web.address() as { port: number }).port;
  service = createServer((s) => {
    serviceConnections++;
    serviceSockets.add(s);
    s.on('error', () => undefined);
    s.once('close', () => serviceSockets.delete(s));
  });
  await new Promise<void>((r) => service.listen(0, '127.0.0.1', () => r()));
  servicePort = (service.address() as { port: number }).port;
});

after(async () => {
  await seed.stop();
  web.closeAllConnections();
  await new Promise<void>((r) => web.close(() => r()));
  for (const s of serviceSockets) s.destroy();
  await new Promise<void>((r) => service.close(() => r()));
  await cleanup();
});

function hostileMagnet(): string {
  return formatMagnet({
    infoHash: sample.metainfo.infoHash,
    name: 'local',
    trackers: [`http://127.0.0.1:${webPort}/admin/delete-all`],
    peers: [
      `127.0.0.1:${servicePort}`,
      `localhost:${servicePort}`,
      `2130706433:${servicePort}`,
      `[::ffff:127.0.0.1]:${servicePort}`,
    ],
  });
}

test('a magnet naming a local web app and a local service: neither is contacted, the download works', {
  timeout: 30_000,
}, async () => {
  const leecher = await loopbackSession({ trackerClient: true });
  const refused: string[] = [];
  leecher.on('magnet:refused', (_hex, why) => refused.push(why));
  try {
    const dir = join(root, 'dl-default');
    // The peer the user gives is dialled: the download completes from it.
    const t = await leecher.addMagnet(parseMagnet(hostileMagnet()), { dir, peers: [peerOf(seed)] });
    // Seeding: every piece verified and flushed, so the files have their final names (no .part).
    await waitFor(() => t.state === 'seeding', 'the download to complete');
    assert.deepEqual(await differences(sample, dir), []);
    assert.equal(refused.length, 5, refused.join('\n'));
    assert.match(
      refused[0]!,
      /^tracker http:\/\/127\.0\.0\.1:\d+\/admin\/delete-all not contacted: 127\.0\.0\.1 is a local address \(--allow-local-peers to allow\)$/,
    );
    assert.deepEqual(t.metainfo.announceList, [], 'the refused tracker is not the torrent tracker either');
  } finally {
    await leecher.stop();
  }
  assert.deepEqual(webHits, [], 'the local web app got no request');
  assert.equal(serviceConnections, 0, 'the local service got no connection');
});

test('with allowLocalPeers the same magnet contacts them (the opt-in, and proof the test can see it)', {
  timeout: 30_000,
}, async () => {
  const leecher = await loopbackSession({ trackerClient: true, allowLocalPeers: true });
  const refused: string[] = [];
  leecher.on('magnet:refused', (_hex, why) => refused.push(why));
  const ac = new AbortController();
  try {
    const adding = leecher.addMagnet(parseMagnet(hostileMagnet()), {
      dir: join(root, 'dl-allowed'),
      peers: [peerOf(seed)],
      signal: ac.signal,
    });
    adding.catch(() => undefined);
    await waitFor(() => serviceConnections > 0, 'a connection to the local service');
    await adding;
    await waitFor(() => webHits.length > 0, 'an announce to the local web app', 15_000);
    assert.match(webHits[0]!, /^\/admin\/delete-all\?/);
    assert.deepEqual(refused, []);
  } finally {
    ac.abort();
    await leecher.stop();
  }
});
