// BEP 55 hole punching between sessions on loopback: a relay connected to two peers introduces
// them (`connect` to both, each naming the other) and both dial each other over uTP at once; one
// connection between them survives (the one dialled by the lower peer id, on both sides); and a
// relay refuses what it cannot do with the error codes of the BEP. The initiator's side (a failed
// dial to a peer learned by PEX asks for a rendezvous) runs behind two real NATs in
// test/interop/holepunch-nat.test.ts.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { PeerAddress } from '../../../src/protocol/address.js';
import { encodeHolepunch } from '../../../src/protocol/holepunch.js';
import { Session, type SessionOptions } from '../../../src/session/session.js';
import type { Torrent } from '../../../src/swarm/torrent.js';
import { waitFor } from '../api/helpers.js';
import {
  addLeecher,
  addSeeder,
  type MemoryTorrent,
  memoryTorrent,
  stopAfterEachTest,
} from './scripted-peer.js';

const fixture: MemoryTorrent = memoryTorrent(2 * 1024 * 1024, 256 * 1024);
const { sessions } = stopAfterEachTest();

async function session(host: string, o: SessionOptions = {}): Promise<Session> {
  const s = new Session({ port: 0, bind: host, hasherThreads: 0, dht: false, transport: 'both', ...o });
  sessions.push(s);
  await s.start();
  return s;
}

/** A relay R seeding, and leechers A and B (slow, no PEX: they learn nothing of each other) connected to it. */
async function relayAndTwo(): Promise<{ r: Session; a: Session; b: Session; ta: Torrent; tb: Torrent }> {
  const r = await session('127.0.0.2');
  const tr = await addSeeder(r, fixture);
  const slow = { pex: false, downloadLimitBytesPerSec: 32 * 1024 };
  const a = await session('127.0.0.3', slow);
  const b = await session('127.0.0.4', slow);
  const { torrent: ta } = await addLeecher(a, fixture, [{ host: '127.0.0.2', port: r.port }]);
  const { torrent: tb } = await addLeecher(b, fixture, [{ host: '127.0.0.2', port: r.port }]);
  await waitFor(
    () => tr.peerList().filter((p) => p.supports('ut_holepunch') && p.listenPort !== undefined).length === 2,
    'the relay knows both, with their listen ports',
  );
  await waitFor(() => ta.peerList().some((p) => p.supports('ut_holepunch')), 'A sees the relay support it');
  return { r, a, b, ta, tb };
}

function rendezvous(from: Torrent, target: PeerAddress): void {
  const relay = from.peerList().find((p) => p.host === '127.0.0.2')!;
  assert.ok(
    from.sendExtended(
      relay.key,
      'ut_holepunch',
      encodeHolepunch({ type: 'rendezvous', addr: target, errorCode: 0 }),
    ),
  );
}

describe('BEP 55 hole punching on loopback', () => {
  test('the relay sends connect to both; they meet over uTP, and one connection stays', async () => {
    const { r, a, b, ta, tb } = await relayAndTwo();
    assert.equal(ta.peerList().length, 1, 'A knows only the relay');
    rendezvous(ta, { host: '127.0.0.4', port: b.port });
    await waitFor(() => r.holepunchStats.relayed === 1, 'the relay introduced them');
    await waitFor(
      () => ta.peerList().some((p) => p.host === '127.0.0.4' && p.transport === 'utp'),
      'A is connected to B over uTP',
    );
    await waitFor(
      () => tb.peerList().some((p) => p.host === '127.0.0.3' && p.transport === 'utp'),
      'and B to A',
    );
    assert.ok(
      a.holepunchStats.connects + b.holepunchStats.connects >= 1,
      JSON.stringify([a.holepunchStats, b.holepunchStats]),
    );
    // Both dialled at once: after the twins are settled, one connection each way is left, the same one.
    await new Promise((res) => setTimeout(res, 500));
    assert.equal(ta.peerList().filter((p) => p.host === '127.0.0.4').length, 1);
    assert.equal(tb.peerList().filter((p) => p.host === '127.0.0.3').length, 1);
    const aOut = ta.peerList().find((p) => p.host === '127.0.0.4')!.outgoing;
    const bOut = tb.peerList().find((p) => p.host === '127.0.0.3')!.outgoing;
    assert.notEqual(aOut, bOut, 'the one connection is outgoing on one side and incoming on the other');
  });

  test('the relay refuses a target it is not connected to, and itself', async () => {
    const { r, a, ta } = await relayAndTwo();
    rendezvous(ta, { host: '127.0.0.9', port: 6881 });
    await waitFor(() => a.holepunchStats.errors === 1, 'A got an error back');
    rendezvous(ta, { host: '127.0.0.2', port: r.port });
    await waitFor(() => a.holepunchStats.errors === 2, 'and another');
    assert.equal(r.holepunchStats.refused, 2);
    assert.equal(r.holepunchStats.relayed, 0);
  });

  test('without uTP a session neither offers ut_holepunch nor acts on it', async () => {
    const r = await session('127.0.0.2', { transport: 'tcp' });
    const tr = await addSeeder(r, fixture);
    // Asked when the leecher's extension handshake arrives: it may complete and leave at once.
    const offered = new Promise<boolean>((resolve) =>
      tr.on('peer:extensions', (key) =>
        resolve(
          tr
            .peerList()
            .find((p) => p.key === key)
            ?.supports('ut_holepunch') ?? true,
        ),
      ),
    );
    const a = await session('127.0.0.3', { transport: 'tcp' });
    await addLeecher(a, fixture, [{ host: '127.0.0.2', port: r.port }]);
    assert.equal(await offered, false);
  });
});
