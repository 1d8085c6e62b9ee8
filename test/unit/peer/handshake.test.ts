// readHandshake over loopback (as the session's demux uses it), the peer id, and the disconnect table.
import assert from 'node:assert/strict';
import { describe, type TestContext, test } from 'node:test';
import {
  ALL_DISCONNECT_REASONS,
  DisconnectKind,
  disconnectKind,
  isDisconnectReason,
  isPeerFault,
} from '../../../src/peer/disconnect.js';
import { clientFromPeerId, makePeerId, readHandshake } from '../../../src/peer/handshake.js';
import {
  DisconnectReason,
  encodeHandshake,
  encodeMessage,
  ProtocolError,
} from '../../../src/protocol/peer-wire.js';
import { delay, socketPair } from './helpers.js';

const hs = encodeHandshake({
  reserved: new Uint8Array(8),
  infoHash: Buffer.alloc(20, 0xaa),
  peerId: Buffer.from('-qB4650-000000000000'),
});

async function pair(t: TestContext) {
  const [client, server] = await socketPair();
  client.on('error', () => undefined);
  t.after(() => {
    client.destroy();
    server.destroy();
  });
  return { client, server };
}

function rejectsWith(reason: DisconnectReason): (err: unknown) => boolean {
  return (err) => err instanceof ProtocolError && err.reason === reason;
}

describe('readHandshake', () => {
  test('returns the handshake and the bytes after it', async (t) => {
    const { client, server } = await pair(t);
    const more = encodeMessage({ type: 'have', piece: 3 });
    client.write(Buffer.concat([hs, more]));
    const { handshake, rest } = await readHandshake(server, { timeoutMs: 2000 });
    assert.deepEqual(Buffer.from(handshake.infoHash), Buffer.alloc(20, 0xaa));
    assert.equal(clientFromPeerId(handshake.peerId), 'qB 4650');
    // rest plus whatever is still in the socket is exactly what followed the handshake
    await delay(20);
    const left = Buffer.concat([rest, (server.read() as Buffer | null) ?? Buffer.alloc(0)]);
    assert.deepEqual(left, more);
  });

  test('a handshake that trickles in byte by byte, after a demux peeked at the first byte', async (t) => {
    const { client, server } = await pair(t);
    const peeked = new Promise<void>((resolve) =>
      server.once('readable', () => {
        const first = server.read(1) as Buffer;
        assert.equal(first[0], 19);
        server.unshift(first);
        resolve();
      }),
    );
    client.write(hs.subarray(0, 1));
    await peeked;
    const read = readHandshake(server, { timeoutMs: 2000 });
    for (let i = 1; i < hs.length; i += 7) {
      client.write(hs.subarray(i, i + 7));
      await delay(2);
    }
    const { handshake, rest } = await read;
    assert.equal(Buffer.from(handshake.peerId).toString('latin1'), '-qB4650-000000000000');
    assert.equal(rest.length, 0);
  });

  test('not a handshake', async (t) => {
    const { client, server } = await pair(t);
    client.write('GET / HTTP/1.1\r\n\r\n');
    await assert.rejects(readHandshake(server), rejectsWith(DisconnectReason.badHandshake));
  });

  test('timeout, abort and close', async (t) => {
    const a = await pair(t);
    await assert.rejects(
      readHandshake(a.server, { timeoutMs: 50 }),
      rejectsWith(DisconnectReason.handshakeTimeout),
    );
    const b = await pair(t);
    const ac = new AbortController();
    const p = readHandshake(b.server, { signal: ac.signal });
    ac.abort();
    await assert.rejects(p, rejectsWith(DisconnectReason.aborted));
    await assert.rejects(
      readHandshake(b.server, { signal: ac.signal }),
      rejectsWith(DisconnectReason.aborted),
    );
    const c = await pair(t);
    c.client.end(hs.subarray(0, 10));
    await assert.rejects(readHandshake(c.server), rejectsWith(DisconnectReason.remoteClosed));
  });
});

describe('peer id and disconnect reasons', () => {
  test('makePeerId is Azureus style with 12 random bytes', () => {
    const a = makePeerId('0.1.0');
    const b = makePeerId('0.1.0');
    assert.equal(a.length, 20);
    assert.equal(a.subarray(0, 8).toString('latin1'), '-BM0100-');
    assert.notDeepEqual(a, b);
    assert.equal(makePeerId('1.12.3').subarray(0, 8).toString('latin1'), '-BM1C30-');
    assert.equal(clientFromPeerId(a), 'BM 0100');
    assert.equal(clientFromPeerId(Buffer.alloc(20)), undefined);
  });

  test('every reason has a kind', () => {
    for (const r of ALL_DISCONNECT_REASONS) {
      assert.ok(Object.values(DisconnectKind).includes(disconnectKind(r)), r);
      assert.ok(isDisconnectReason(r));
    }
    assert.ok(isPeerFault('request-flood'));
    assert.ok(!isPeerFault('idle-timeout'));
    assert.ok(!isPeerFault('both-seeders'));
    assert.ok(!isDisconnectReason('nonsense'));
  });
});
