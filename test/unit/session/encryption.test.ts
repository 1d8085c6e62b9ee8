// Protocol encryption in sessions over loopback sockets: bitswarm to bitswarm under each policy,
// `require` refusing plaintext both ways, `prefer` falling back to plaintext (and remembering it),
// the "may require encryption" hint, and hostile handshakes that each close with a typed reason
// within the timeout while the session goes on serving.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server, Socket } from 'node:net';
import { describe, test } from 'node:test';
import { initiatorFor, responderFor, runMse } from '../../../src/peer/encryption.js';
import { publicKey, req2Hash, sha1 } from '../../../src/protocol/mse.js';
import { encodeHandshake, makeReserved, ProtocolError } from '../../../src/protocol/peer-wire.js';
import { Session, type SessionOptions } from '../../../src/session/session.js';
import { socketPair } from '../peer/helpers.js';
import {
  addLeecher,
  addSeeder,
  assertSameBytes,
  completed,
  type MemoryTorrent,
  memoryTorrent,
  stopAfterEachTest,
} from './scripted-peer.js';

const fixture: MemoryTorrent = memoryTorrent(12 * 64 * 1024 - 777, 64 * 1024);
const infoHash = fixture.metainfo.infoHash;
const { sessions } = stopAfterEachTest();
const sockets: Socket[] = [];
const rawServers: Server[] = [];

async function session(host: string, encryption: SessionOptions['encryption']): Promise<Session> {
  const s = new Session({ port: 0, bind: host, hasherThreads: 0, ...(encryption ? { encryption } : {}) });
  sessions.push(s);
  await s.start();
  return s;
}

function cleanup(): Promise<void> {
  for (const s of sockets.splice(0)) s.destroy();
  return Promise.all(
    rawServers.splice(0).map((s) => new Promise<void>((resolve) => s.close(() => resolve()))),
  ).then(() => undefined);
}

/** A raw listener on `host`; `onSocket` scripts each connection. */
async function rawServer(host: string, onSocket: (s: Socket, index: number) => void): Promise<number> {
  let n = 0;
  const server = createServer((s) => {
    sockets.push(s);
    s.on('error', () => undefined);
    onSocket(s, n++);
  });
  rawServers.push(server);
  server.listen(0, host);
  await once(server, 'listening');
  return (server.address() as { port: number }).port;
}

/** Collects bytes until `n` have arrived. */
function firstBytes(s: Socket, n: number): Promise<Buffer> {
  return new Promise((resolve) => {
    let got = Buffer.alloc(0);
    const onData = (c: Buffer): void => {
      got = Buffer.concat([got, c]);
      if (got.length >= n) {
        s.off('data', onData);
        resolve(got);
      }
    };
    s.on('data', onData);
  });
}

const PLAIN = Buffer.from('\x13BitTorrent protocol', 'latin1');
const handshakeOf = (peerId: number) =>
  encodeHandshake({
    reserved: makeReserved({ extended: false }),
    infoHash,
    peerId: Buffer.alloc(20, peerId),
  });

describe('sessions with protocol encryption', () => {
  for (const [seed, leech, want] of [
    ['prefer', 'prefer', 'handshake'],
    ['prefer', 'require', 'rc4'],
    ['require', 'prefer', 'rc4'],
    ['off', 'require', 'rc4'],
    ['off', 'prefer', 'handshake'],
  ] as const) {
    test(`a ${leech} leecher downloads from a ${seed} seeder over ${want}`, async () => {
      const seeder = await session('127.0.0.2', seed);
      await addSeeder(seeder, fixture);
      const leecher = await session('127.0.0.3', leech);
      let encryption: string | undefined;
      const { torrent, storage } = await addLeecher(
        leecher,
        fixture,
        [{ host: '127.0.0.2', port: seeder.port }],
        {
          onTorrent: (t) => t.on('peer:connect', (_a, e) => (encryption ??= e)),
        },
      );
      await completed(torrent);
      await assertSameBytes(storage, fixture);
      assert.equal(encryption, want);
    });
  }

  test('require: an incoming plaintext handshake is closed unanswered', async () => {
    const seeder = await session('127.0.0.2', 'require');
    await addSeeder(seeder, fixture);
    const s = new Socket();
    sockets.push(s);
    s.connect(seeder.port, '127.0.0.2');
    await once(s, 'connect');
    let received = 0;
    s.on('data', (c: Buffer) => (received += c.length));
    s.write(handshakeOf(7));
    await once(s, 'close');
    assert.equal(received, 0);
    await cleanup();
  });

  test('require: the dial starts with a key, and never a plaintext handshake', async () => {
    const seen: Buffer[] = [];
    const port = await rawServer('127.0.0.9', (s) => {
      void firstBytes(s, 96).then((b) => {
        seen.push(b);
        s.destroy(); // a plaintext-only peer hangs up on it
      });
    });
    const leecher = await session('127.0.0.3', 'require');
    await addLeecher(leecher, fixture, [{ host: '127.0.0.9', port }]);
    while (seen.length === 0) await new Promise((r) => setTimeout(r, 20));
    assert.notDeepEqual(seen[0]!.subarray(0, 20), PLAIN);
    await cleanup();
  });

  test('prefer: a plaintext-only peer costs one failed encrypted try, then plaintext', async () => {
    const kinds: string[] = [];
    const port = await rawServer('127.0.0.9', (s) => {
      void firstBytes(s, 20).then((b) => {
        if (!b.subarray(0, 20).equals(PLAIN)) {
          kinds.push('encrypted');
          s.destroy();
          return;
        }
        kinds.push('plaintext');
        s.write(handshakeOf(9)); // and then stays silent
      });
    });
    const leecher = await session('127.0.0.3', 'prefer');
    const connected = new Promise<string>((resolve) => {
      void addLeecher(leecher, fixture, [{ host: '127.0.0.9', port }], {
        onTorrent: (t) => t.once('peer:connect', (_a, e) => resolve(e)),
      });
    });
    assert.equal(await connected, 'none');
    assert.deepEqual(kinds, ['encrypted', 'plaintext']);
    await cleanup();
  });

  test('a peer that closes right after our plaintext handshake: the hint, and under prefer an encrypted retry', async () => {
    const kinds: string[] = [];
    const port = await rawServer('127.0.0.9', (s) => {
      void firstBytes(s, 20).then((b) => {
        kinds.push(b.subarray(0, 20).equals(PLAIN) ? 'plaintext' : 'encrypted');
        s.destroy();
      });
    });
    // `off`: the hint only.
    const off = await session('127.0.0.3', 'off');
    const hint = new Promise<string>((resolve) => {
      void addLeecher(off, fixture, [{ host: '127.0.0.9', port }], {
        onTorrent: (t) => t.once('peer:encryption-hint', resolve),
      });
    });
    assert.equal(await hint, `127.0.0.9:${port}`);
    assert.deepEqual(kinds, ['plaintext']);
    await cleanup();
  });

  test('prefer, remembered plaintext: the hint sends the next try encrypted', async () => {
    // Encrypted (refused: no key back), plaintext (closed after the handshake: the hint), encrypted
    // again (the switch back), plaintext once more (refused again), then only the usual backoff.
    const kinds: string[] = [];
    const port = await rawServer('127.0.0.9', (s) => {
      void firstBytes(s, 20).then((b) => {
        kinds.push(b.subarray(0, 20).equals(PLAIN) ? 'plaintext' : 'encrypted');
        s.destroy();
      });
    });
    const leecher = await session('127.0.0.3', 'prefer');
    let hints = 0;
    await addLeecher(leecher, fixture, [{ host: '127.0.0.9', port }], {
      onTorrent: (t) => t.on('peer:encryption-hint', () => hints++),
    });
    while (hints < 2) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(kinds, ['encrypted', 'plaintext', 'encrypted', 'plaintext']);
    await cleanup();
  });
});

test('an initiator that sends its handshake after an empty IA is served too', async () => {
  const seeder = await session('127.0.0.2', 'require');
  await addSeeder(seeder, fixture);
  const s = new Socket();
  sockets.push(s);
  s.on('error', () => undefined);
  s.connect(seeder.port, '127.0.0.2');
  await once(s, 'connect');
  const { cipher, result } = await runMse(s, initiatorFor(infoHash, 'require', Buffer.alloc(0)), {
    timeoutMs: 5000,
  });
  assert.equal(result.method, 'rc4');
  const hello = Buffer.from(handshakeOf(7));
  cipher!.encrypt.process(hello);
  let answer: Buffer = Buffer.from(result.payload);
  const answered = new Promise<void>((resolve) => {
    const onData = (c: Buffer): void => {
      const plain = Buffer.from(c);
      cipher!.decrypt.process(plain);
      answer = Buffer.concat([answer, plain]);
      if (answer.length >= 68) {
        s.off('data', onData);
        resolve();
      }
    };
    s.on('data', onData);
  });
  s.resume();
  s.write(hello);
  await answered;
  assert.deepEqual(answer.subarray(0, 20), PLAIN);
  assert.deepEqual(answer.subarray(28, 48), infoHash);
  await cleanup();
});

describe('hostile encryption handshakes: each closes with its typed reason', () => {
  const ours = (req2: Uint8Array) => (req2Hash(infoHash).equals(req2) ? infoHash : undefined);
  async function responderSees(send: (client: Socket) => void, timeoutMs = 2000): Promise<string> {
    const [client, server] = await socketPair();
    sockets.push(client, server);
    client.on('error', () => undefined);
    server.on('error', () => undefined);
    client.on('data', () => undefined);
    const result = runMse(server, responderFor('prefer', ours), { timeoutMs });
    send(client);
    try {
      await result;
      return 'completed';
    } catch (err) {
      assert.ok(err instanceof ProtocolError, String(err));
      return err.reason;
    } finally {
      await cleanup();
    }
  }

  test('a handshake that never completes: encryption-timeout', async () => {
    assert.equal(await responderSees((c) => c.write(Buffer.alloc(50, 1)), 300), 'encryption-timeout');
  });

  test('garbage instead of the DH key: encryption-bad-key or, for a number below P, encryption-no-sync', async () => {
    assert.equal(await responderSees((c) => c.write(Buffer.alloc(96, 0))), 'encryption-bad-key');
    assert.equal(
      await responderSees((c) => c.write(Buffer.concat([Buffer.alloc(96, 0x7f), Buffer.alloc(600, 3)]))),
      'encryption-no-sync',
    );
  });

  test('padding over 512 bytes: no req1 where it may be (encryption-no-sync)', async () => {
    const key = publicKey(Buffer.alloc(20, 5));
    assert.equal(
      await responderSees((c) => c.write(Buffer.concat([key, Buffer.alloc(513 + 20, 1)]))),
      'encryption-no-sync',
    );
  });

  test('a wrong req2 xor req3: encryption-unknown-torrent', async () => {
    const [client, server] = await socketPair();
    sockets.push(client, server);
    const a = runMse(client, initiatorFor(sha1('not served here'), 'prefer', Buffer.alloc(0)), {
      timeoutMs: 2000,
    });
    const b = runMse(server, responderFor('prefer', ours), { timeoutMs: 2000 });
    await assert.rejects(
      b,
      (e: unknown) => e instanceof ProtocolError && e.reason === 'encryption-unknown-torrent',
    );
    server.destroy();
    await assert.rejects(a, (e: unknown) => e instanceof ProtocolError && e.reason === 'remote-closed');
    await cleanup();
  });

  test('a verification constant that never comes: encryption-no-sync (we dialled)', async () => {
    const [client, server] = await socketPair();
    sockets.push(client, server);
    server.on('data', () => undefined);
    const a = runMse(client, initiatorFor(infoHash, 'prefer', Buffer.alloc(0)), { timeoutMs: 2000 });
    server.write(Buffer.concat([publicKey(Buffer.alloc(20, 9)), Buffer.alloc(600, 2)]));
    await assert.rejects(a, (e: unknown) => e instanceof ProtocolError && e.reason === 'encryption-no-sync');
    await cleanup();
  });

  test('the session goes on serving after hostile handshakes', async () => {
    const seeder = await session('127.0.0.2', 'prefer');
    await addSeeder(seeder, fixture);
    for (const bytes of [Buffer.alloc(96, 0), Buffer.alloc(700, 0x55)]) {
      const s = new Socket();
      sockets.push(s);
      s.on('error', () => undefined);
      s.connect(seeder.port, '127.0.0.2');
      await once(s, 'connect');
      s.write(bytes);
      await once(s, 'close');
    }
    const leecher = await session('127.0.0.3', 'require');
    const { torrent, storage } = await addLeecher(leecher, fixture, [
      { host: '127.0.0.2', port: seeder.port },
    ]);
    await completed(torrent);
    await assertSameBytes(storage, fixture);
    await cleanup();
  });
});
