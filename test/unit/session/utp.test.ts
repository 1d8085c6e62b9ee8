// Sessions over uTP only (`transport: 'utp'`): bitswarm to bitswarm on loopback, both directions
// byte for byte, plaintext and MSE; the session's UDP port still serves the DHT and the UDP tracker
// beside uTP; and a stranger's uTP packets cost a counter.
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import { encodeConnectRequest } from '../../../src/protocol/tracker-udp.js';
import { encodeUtpPacket, UtpType } from '../../../src/protocol/utp.js';
import { Session, type SessionOptions } from '../../../src/session/session.js';
import {
  addLeecher,
  addSeeder,
  assertSameBytes,
  completed,
  eventOf,
  type MemoryTorrent,
  memoryTorrent,
  stopAfterEachTest,
} from './scripted-peer.js';

const fixture: MemoryTorrent = memoryTorrent(3 * 1024 * 1024 + 123, 256 * 1024);
const { sessions } = stopAfterEachTest();

async function session(host: string, o: SessionOptions = {}): Promise<Session> {
  const s = new Session({ port: 0, bind: host, hasherThreads: 0, dht: false, transport: 'utp', ...o });
  sessions.push(s);
  await s.start();
  return s;
}

describe('sessions over uTP', () => {
  for (const encryption of ['off', 'require'] as const) {
    test(`a leecher downloads from a seeder over uTP only (encryption ${encryption})`, async () => {
      const seeder = await session('127.0.0.2', { encryption });
      await addSeeder(seeder, fixture);
      const leecher = await session('127.0.0.3', { encryption });
      let wire: string | undefined;
      const { torrent, storage } = await addLeecher(
        leecher,
        fixture,
        [{ host: '127.0.0.2', port: seeder.port }],
        {
          onTorrent: (t) => t.on('peer:connect', (_a, e) => (wire ??= e)),
        },
      );
      await completed(torrent, 30_000);
      await assertSameBytes(storage, fixture);
      assert.equal(wire, encryption === 'off' ? 'none' : 'rc4');
      assert.equal(seeder.utpStats?.accepted, 1);
      assert.ok((leecher.utpStats?.dialed ?? 0) >= 1);
    });
  }

  test('the seeder dials: the leecher is reached over uTP (incoming on the leecher side)', async () => {
    const leecher = await session('127.0.0.3');
    const { torrent, storage } = await addLeecher(leecher, fixture, []);
    const seeder = await session('127.0.0.2');
    await addSeeder(seeder, fixture);
    seeder.get(fixture.metainfo.infoHashHex)?.addPeers([{ host: '127.0.0.3', port: leecher.port }]);
    await completed(torrent, 30_000);
    await assertSameBytes(storage, fixture);
    assert.equal(leecher.utpStats?.accepted, 1);
  });

  test('PEX carries the uTP flag (0x04): a peer learned as uTP is dialled over uTP first', async () => {
    // S seeds and speaks both; B reaches S over uTP only; C (both) knows only S. S tells C of B by
    // PEX with the uTP flag, and C dials B over uTP (with no flag, C would dial TCP first).
    const s = await session('127.0.0.2', { transport: 'both' });
    await addSeeder(s, fixture);
    // B and C download slowly: they stay leechers, connected to S, until PEX has done its work.
    // B without PEX: it learns nothing of C, so a connection between them is C's dial.
    const b = await session('127.0.0.3', {
      transport: 'utp',
      downloadLimitBytesPerSec: 64 * 1024,
      pex: false,
    });
    const { torrent: tb } = await addLeecher(b, fixture, [{ host: '127.0.0.2', port: s.port }]);
    await eventOf(tb, 'peer:connect', () => true, 10_000);
    const c = await session('127.0.0.4', { transport: 'both', downloadLimitBytesPerSec: 64 * 1024 });
    const dials: [string, string][] = [];
    const { torrent: tc } = await addLeecher(c, fixture, [{ host: '127.0.0.2', port: s.port }], {
      onTorrent: (t) => t.on('peer:connect', (address, _e, transport) => dials.push([address, transport])),
    });
    await eventOf(tc, 'peer:connect', (address) => address.startsWith('127.0.0.3:'), 20_000);
    const toB = tc.peerList().find((p) => p.host === '127.0.0.3');
    assert.equal(toB?.outgoing, true, 'C dialled B');
    assert.equal(toB?.transport, 'utp');
    assert.deepEqual(
      dials.find(([a]) => a.startsWith('127.0.0.3:')),
      [`127.0.0.3:${b.port}`, 'utp'],
      JSON.stringify(dials),
    );
    assert.deepEqual(
      dials.find(([a]) => a.startsWith('127.0.0.2:')),
      [`127.0.0.2:${s.port}`, 'tcp'],
      'S, of which C knew nothing, over TCP first',
    );
  });

  test('the UDP tracker still answers beside uTP, and strangers cost a counter', async () => {
    const s = await session('127.0.0.2', { tracker: true });
    const udp = createSocket('udp4');
    udp.bind(0, '127.0.0.5');
    await once(udp, 'listening');
    try {
      const reply = once(udp, 'message');
      udp.send(encodeConnectRequest(7), s.port, '127.0.0.2');
      const [msg] = (await reply) as [Buffer];
      assert.equal(msg.readUInt32BE(0), 0); // connect reply
      assert.notEqual(msg[8]! & 0x0f, 1, "the connection id's first byte is not a uTP one");
      for (let i = 0; i < 50; i++) {
        udp.send(
          encodeUtpPacket({
            type: UtpType.data,
            connectionId: i,
            timestampUs: 0,
            timestampDiffUs: 0,
            windowBytes: 0,
            seqNr: i,
            ackNr: 0,
            payload: Buffer.alloc(10),
          }),
          s.port,
          '127.0.0.2',
        );
      }
      for (let i = 0; i < 100 && (s.utpStats?.unknownConnection ?? 0) < 50; i++)
        await new Promise((r) => setTimeout(r, 10));
      assert.equal(s.utpStats?.unknownConnection, 50);
    } finally {
      udp.close();
    }
  });
});
