// Two PeerConnections over a real loopback TCP pair: handshakes, bitfields, the request pipeline,
// rejects, chokes, keep-alives, timeouts, extension messages and closing.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import { describe, type TestContext, test } from 'node:test';
import { makePeerId, PeerConnection, type PeerConnectionOptions } from '../../../src/peer/connection.js';
import { dial } from '../../../src/peer/dial.js';
import { readHandshake } from '../../../src/peer/handshake.js';
import {
  BLOCK_SIZE,
  encodeHandshake,
  encodeMessage,
  FrameReader,
  makeReserved,
} from '../../../src/protocol/peer-wire.js';
import { Bitfield } from '../../../src/util/bitfield.js';
import { delay, socketPair, waitFor } from './helpers.js';

const infoHash = Buffer.alloc(20, 0x42);
const PIECES = 20;

type Opts = Partial<PeerConnectionOptions>;

/** A (outgoing, dialled) and B (incoming, through readHandshake like the session's demux). */
async function connect(
  t: TestContext,
  aOpts: Opts = {},
  bOpts: Opts = {},
): Promise<[PeerConnection, PeerConnection]> {
  const [client, server] = await socketPair();
  t.after(() => {
    client.destroy();
    server.destroy();
  });
  const base = { infoHash, pieceCount: PIECES };
  const a = PeerConnection.outgoing(client, { ...base, peerId: makePeerId('0.1.0'), ...aOpts });
  t.after(() => a.close());
  const { handshake, rest } = await readHandshake(server, { timeoutMs: 2000 });
  const b = PeerConnection.incoming(server, handshake, rest, {
    ...base,
    peerId: makePeerId('0.1.0'),
    ...bOpts,
  });
  t.after(() => b.close());
  return [a, b];
}

async function connected(
  t: TestContext,
  aOpts: Opts = {},
  bOpts: Opts = {},
): Promise<[PeerConnection, PeerConnection]> {
  const [a, b] = await connect(t, aOpts, bOpts);
  await Promise.all([waitFor(a, 'extended:handshake'), waitFor(b, 'extended:handshake')]);
  return [a, b];
}

describe('PeerConnection over loopback', () => {
  test('handshake and extension handshake in both directions', async (t) => {
    const [client, server] = await socketPair();
    t.after(() => {
      client.destroy();
      server.destroy();
    });
    const idA = makePeerId('0.1.0');
    const idB = makePeerId('0.1.0');
    const a = PeerConnection.outgoing(client, {
      infoHash,
      peerId: idA,
      pieceCount: PIECES,
      extensions: { m: { ut_metadata: 3 }, p: 6881, reqq: 321, metadataSize: 1234 },
    });
    t.after(() => a.close());
    const aDone = waitFor(a, 'handshake:done');
    const { handshake, rest } = await readHandshake(server, { timeoutMs: 2000 });
    assert.deepEqual(Buffer.from(handshake.infoHash), infoHash);
    const b = PeerConnection.incoming(server, handshake, rest, { infoHash, peerId: idB, pieceCount: PIECES });
    t.after(() => b.close());
    const [bDone, bExt, aExt] = await Promise.all([
      waitFor(b, 'handshake:done'),
      waitFor(b, 'extended:handshake'),
      waitFor(a, 'extended:handshake'),
      aDone,
    ]);
    assert.deepEqual(Buffer.from(bDone[0].peerId), idA);
    assert.ok(a.remotePeerId?.equals(idB));
    assert.ok(b.remotePeerId?.equals(idA));
    assert.equal(a.supportsFast && a.supportsExtended && b.supportsFast && b.supportsExtended, true);
    assert.equal(a.direction, 'outgoing');
    assert.equal(b.direction, 'incoming');
    const ext = bExt[0];
    assert.equal(ext.m.get('ut_metadata'), 3);
    assert.equal(ext.p, 6881);
    assert.equal(ext.reqq, 321);
    assert.equal(ext.metadataSize, 1234);
    assert.match(ext.v ?? '', /^bitswarm /);
    assert.deepEqual([...(ext.yourip ?? [])], [127, 0, 0, 1]);
    assert.equal(aExt[0].reqq, 2000);
    assert.match(a.remoteClient ?? '', /^bitswarm/);
    assert.equal(makePeerId('0.1.0').subarray(0, 8).toString('latin1'), '-BM0100-');
    assert.equal(makePeerId().length, 20);
  });

  test('bitfield, have-all, have-none and have', async (t) => {
    const [a, b] = await connect(t);
    const mine = new Bitfield(PIECES);
    mine.set(0);
    mine.set(19);
    a.on('handshake:done', () => a.sendBitfield(mine));
    const [bf] = await waitFor(b, 'bitfield:received');
    assert.deepEqual([...bf.indices()], [0, 19]);
    assert.equal(b.peerBitfield, bf);
    const have = waitFor(b, 'have:received');
    a.have(5);
    assert.deepEqual(await have, [5]);
    assert.ok(b.peerBitfield?.get(5));

    const [c, d] = await connect(t);
    c.on('handshake:done', () => c.sendBitfield(Bitfield.full(PIECES)));
    d.on('handshake:done', () => d.sendBitfield(new Bitfield(PIECES)));
    const [[full], [empty]] = await Promise.all([
      waitFor(d, 'bitfield:received'),
      waitFor(c, 'bitfield:received'),
    ]);
    assert.ok(full.complete);
    assert.ok(empty.empty);
  });

  test('without the Fast extension a full bitfield goes out as a bitfield', async (t) => {
    const [a, b] = await connect(t, { fast: false });
    a.on('handshake:done', () => a.sendBitfield(Bitfield.full(PIECES)));
    const [bf] = await waitFor(b, 'bitfield:received');
    assert.ok(bf.complete);
    assert.equal(a.supportsFast, false);
    assert.equal(b.supportsFast, false);
  });

  test('the piece count can arrive after the bitfield (magnet)', async (t) => {
    const [a, b] = await connect(t, {}, { pieceCount: undefined as unknown as number });
    const bits = new Bitfield(PIECES);
    bits.set(3);
    a.on('handshake:done', () => a.sendBitfield(bits));
    const have = waitFor(b, 'have:received');
    await waitFor(b, 'extended:handshake');
    a.have(7);
    await have;
    assert.equal(b.peerBitfield, undefined);
    const got = waitFor(b, 'bitfield:received');
    b.setPieceCount(PIECES);
    const [bf] = await got;
    assert.deepEqual([...bf.indices()], [3, 7]);
  });

  test('request, piece, RTT, rates and queue depth', async (t) => {
    const [a, b] = await connected(t);
    const data = Buffer.alloc(BLOCK_SIZE);
    for (let i = 0; i < data.length; i++) data[i] = i & 0xff;
    b.on('request:received', (blk) => {
      assert.ok(b.sendPiece(blk.piece, blk.offset, data.subarray(0, blk.length)));
    });
    b.on('interest:changed', (yes) => {
      if (yes) b.unchoke();
    });
    a.interested();
    await waitFor(a, 'choke:changed');
    assert.equal(a.peerChoking, false);
    assert.equal(b.amChoking, false);
    assert.equal(b.peerInterested, true);
    assert.equal(a.desiredQueueDepth(), 2);
    const blocks = 64;
    const received: Buffer[] = [];
    const all = new Promise<void>((resolve) => {
      a.on('block:received', (piece, offset, d) => {
        assert.equal(piece, 1);
        assert.equal(offset, received.length * BLOCK_SIZE);
        received.push(Buffer.from(d));
        if (received.length === blocks) resolve();
        else a.request({ piece: 1, offset: received.length * BLOCK_SIZE, length: BLOCK_SIZE });
      });
    });
    assert.ok(a.request({ piece: 1, offset: 0, length: BLOCK_SIZE }));
    assert.equal(a.request({ piece: 1, offset: 0, length: BLOCK_SIZE }), false, 'no duplicate requests');
    assert.equal(a.outstandingRequests, 1);
    await all;
    for (const r of received) assert.deepEqual(r, data);
    assert.equal(a.outstandingRequests, 0);
    assert.ok(a.rttMs !== undefined && a.rttMs >= 0);
    assert.equal(a.downloadMeter.total, blocks * BLOCK_SIZE);
    assert.equal(b.uploadMeter.total, blocks * BLOCK_SIZE);
    assert.ok(a.desiredQueueDepth() > 2, `depth ${a.desiredQueueDepth()} after a fast transfer`);
    assert.ok(a.desiredQueueDepth() <= 500);
    assert.throws(() => a.request({ piece: 1, offset: 0, length: BLOCK_SIZE + 1 }), RangeError);
    assert.throws(() => a.request({ piece: PIECES, offset: 0, length: 1 }), RangeError);
  });

  test('the queue depth follows the peer reqq', async (t) => {
    const [a] = await connected(t, {}, { extensions: { reqq: 3 } });
    a.downloadMeter.add(100 * 1024 * 1024, Date.now());
    assert.equal(a.desiredQueueDepth(), 3);
  });

  test('reject removes the request and reports it', async (t) => {
    const [a, b] = await connected(t);
    b.unchoke();
    await waitFor(a, 'choke:changed');
    b.on('request:received', (blk) => b.reject(blk));
    a.request({ piece: 2, offset: 0, length: BLOCK_SIZE });
    const [blk, cause] = await waitFor(a, 'request:dropped');
    assert.deepEqual(blk, { piece: 2, offset: 0, length: BLOCK_SIZE });
    assert.equal(cause, 'reject');
    assert.equal(a.outstandingRequests, 0);
  });

  test('a choke drops outstanding requests (no Fast extension)', async (t) => {
    const [a, b] = await connected(t, { fast: false });
    b.unchoke();
    await waitFor(a, 'choke:changed');
    let requests = 0;
    b.on('request:received', () => {
      if (++requests === 3) b.choke();
    });
    const dropped: unknown[] = [];
    a.on('request:dropped', (blk, cause) => dropped.push([blk.offset, cause]));
    for (let i = 0; i < 3; i++) a.request({ piece: 0, offset: i * BLOCK_SIZE, length: BLOCK_SIZE });
    const [choking] = await waitFor(a, 'choke:changed');
    assert.equal(choking, true);
    assert.deepEqual(dropped, [
      [0, 'choke'],
      [BLOCK_SIZE, 'choke'],
      [2 * BLOCK_SIZE, 'choke'],
    ]);
    assert.equal(a.outstandingRequests, 0);
    assert.equal(b.pendingIncomingRequests, 0);
    assert.equal(a.request({ piece: 0, offset: 0, length: BLOCK_SIZE }), false, 'no requests while choked');
  });

  test('with the Fast extension a choke rejects each pending request', async (t) => {
    const [a, b] = await connected(t);
    b.unchoke();
    await waitFor(a, 'choke:changed');
    let requests = 0;
    b.on('request:received', () => {
      if (++requests === 2) b.choke();
    });
    const dropped: string[] = [];
    const both = new Promise<void>((resolve) =>
      a.on('request:dropped', (blk, cause) => {
        dropped.push(`${blk.offset}:${cause}`);
        if (dropped.length === 2) resolve();
      }),
    );
    a.request({ piece: 0, offset: 0, length: BLOCK_SIZE });
    a.request({ piece: 0, offset: BLOCK_SIZE, length: BLOCK_SIZE });
    await both;
    assert.deepEqual(dropped, ['0:reject', `${BLOCK_SIZE}:reject`]);
    assert.equal(a.peerChoking, true);
  });

  test('allowed-fast pieces may be requested while choked', async (t) => {
    const [a, b] = await connected(t);
    b.allowedFast(4);
    assert.deepEqual(await waitFor(a, 'allowed-fast:received'), [4]);
    assert.ok(a.allowedFastSet.has(4));
    assert.equal(a.request({ piece: 5, offset: 0, length: 10 }), false);
    assert.ok(a.request({ piece: 4, offset: 0, length: 10 }));
    const [blk] = await waitFor(b, 'request:received');
    assert.deepEqual(blk, { piece: 4, offset: 0, length: 10 });
    b.sendPiece(4, 0, Buffer.alloc(10, 9));
    const [piece, , data] = await waitFor(a, 'block:received');
    assert.equal(piece, 4);
    assert.deepEqual(Buffer.from(data), Buffer.alloc(10, 9));
  });

  test('a request that is not answered times out and is cancelled', async (t) => {
    const [a, b] = await connected(t, { requestTimeoutMs: 150 });
    b.unchoke();
    await waitFor(a, 'choke:changed');
    const started = Date.now();
    a.request({ piece: 3, offset: 0, length: BLOCK_SIZE });
    const [[blk], [cancelled]] = await Promise.all([
      waitFor(a, 'request:timeout'),
      waitFor(b, 'cancel:received'),
    ]);
    assert.ok(Date.now() - started >= 140);
    assert.deepEqual(blk, { piece: 3, offset: 0, length: BLOCK_SIZE });
    assert.deepEqual(cancelled, blk);
    assert.equal(a.outstandingRequests, 0);
    // The peer saw the cancel, so serving it now sends nothing.
    assert.equal(b.sendPiece(3, 0, Buffer.alloc(BLOCK_SIZE)), false);
    await delay(50);
    assert.equal(a.closed, false);
  });

  test('cancel withdraws a request; the peer sees cancel:received', async (t) => {
    const [a, b] = await connected(t);
    b.unchoke();
    await waitFor(a, 'choke:changed');
    a.request({ piece: 1, offset: 0, length: 100 });
    await waitFor(b, 'request:received');
    assert.ok(a.cancel({ piece: 1, offset: 0, length: 100 }));
    assert.equal(a.cancel({ piece: 1, offset: 0, length: 100 }), false);
    const [blk] = await waitFor(b, 'cancel:received');
    assert.deepEqual(blk, { piece: 1, offset: 0, length: 100 });
    assert.equal(b.sendPiece(1, 0, Buffer.alloc(100)), false);
  });

  test('keep-alives hold an idle connection open', async (t) => {
    const [a, b] = await connected(t, { idleTimeoutMs: 400 }, { idleTimeoutMs: 400 });
    await delay(1200);
    assert.equal(a.closed, false);
    assert.equal(b.closed, false);
  });

  test('extension messages go out under the remote id and come back with our name', async (t) => {
    const [a, b] = await connected(
      t,
      { extensions: { m: { ut_test: 7 } } },
      { extensions: { m: { ut_test: 9 } } },
    );
    assert.equal(a.remoteExtensions?.m.get('ut_test'), 9);
    assert.ok(a.sendExtended('ut_test', Buffer.from('hello')));
    assert.equal(a.sendExtended('ut_missing', Buffer.from('x')), false);
    const [name, id, payload] = await waitFor(b, 'extended:message');
    assert.equal(name, 'ut_test');
    assert.equal(id, 9);
    assert.equal(Buffer.from(payload).toString(), 'hello');
  });

  test('port and suggest', async (t) => {
    const [a, b] = await connected(t, { dht: true });
    assert.equal(b.remoteSupportsDht, true);
    const port = waitFor(b, 'port:received');
    const suggest = waitFor(b, 'suggest:received');
    a.sendPort(6881);
    a.suggest(2);
    assert.deepEqual(await port, [6881]);
    assert.deepEqual(await suggest, [2]);
  });

  test('close is emitted once on each side and nothing follows', async (t) => {
    const [a, b] = await connected(t);
    const events: string[] = [];
    a.on('connection:close', (reason) => events.push(`a:${reason}`));
    a.on('have:received', () => events.push('a:have'));
    const bClosed = waitFor(b, 'connection:close');
    b.have(1);
    a.close();
    a.close('banned');
    const [reason] = await bClosed;
    assert.equal(reason, 'remote-closed');
    await delay(50);
    assert.deepEqual(events, ['a:closed-locally']);
    assert.equal(a.closeReason, 'closed-locally');
    assert.ok(a.signal.aborted);
    assert.equal(a.request({ piece: 0, offset: 0, length: 1 }), false);
    a.have(2); // no throw after close
  });

  test('an aborted signal closes the connection', async (t) => {
    const ac = new AbortController();
    const [a] = await connected(t, { signal: ac.signal });
    const closed = waitFor(a, 'connection:close');
    ac.abort();
    assert.deepEqual(await closed, ['aborted']);
  });

  test('a socket still connecting is accepted by outgoing()', async (t) => {
    const { createServer, Socket } = await import('node:net');
    const server = createServer((s) => {
      t.after(() => s.destroy());
      readHandshake(s, { timeoutMs: 2000 }).then(({ handshake, rest }) => {
        const b = PeerConnection.incoming(s, handshake, rest, {
          infoHash,
          peerId: makePeerId(),
          pieceCount: PIECES,
        });
        t.after(() => b.close());
      }, assert.fail);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    t.after(() => server.close());
    const port = (server.address() as { port: number }).port;
    const socket = new Socket();
    t.after(() => socket.destroy());
    socket.connect(port, '127.0.0.1');
    const a = PeerConnection.outgoing(socket, { infoHash, peerId: makePeerId(), pieceCount: PIECES });
    t.after(() => a.close());
    await waitFor(a, 'extended:handshake');
  });
});

describe('shared reads (DialOptions.sharedReads)', () => {
  test('bytes sent before the connection attached and blocks read into the shared buffer arrive intact', async (t) => {
    const BLOCKS = 200;
    const blockData = (i: number): Buffer => Buffer.alloc(BLOCK_SIZE, (i * 7 + 1) & 0xff);
    const server = createServer();
    t.after(() => server.close());
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as { port: number }).port;
    let remote: Socket | undefined;
    t.after(() => remote?.destroy());
    server.on('connection', (s: Socket) => {
      remote = s;
      // The scripted seeder speaks first: these bytes arrive before the dialer has a connection.
      s.write(
        Buffer.concat([
          encodeHandshake({ reserved: makeReserved({ fast: true }), infoHash, peerId: Buffer.alloc(20, 9) }),
          encodeMessage({ type: 'have-all' }),
          encodeMessage({ type: 'unchoke' }),
        ]),
      );
      const reader = new FrameReader();
      let handshaken = false;
      s.on('data', (chunk: Buffer) => {
        reader.push(chunk);
        if (!handshaken) {
          handshaken = reader.nextHandshake() !== undefined;
          if (!handshaken) return;
        }
        for (let m = reader.nextMessage(); m; m = reader.nextMessage()) {
          if (m.type !== 'request') continue;
          s.write(
            encodeMessage({ type: 'piece', piece: m.piece, offset: m.offset, data: blockData(m.piece) }),
          );
        }
      });
    });
    const socket = await dial({ host: '127.0.0.1', port }, { sharedReads: true });
    t.after(() => socket.destroy());
    await delay(100); // the early bytes are read (and copied aside) meanwhile
    const a = PeerConnection.outgoing(socket, { infoHash, peerId: makePeerId(), pieceCount: BLOCKS });
    t.after(() => a.close());
    await waitFor(a, 'choke:changed');
    assert.equal(a.peerBitfield?.complete, true);
    const got = new Map<number, Buffer>();
    const all = new Promise<void>((resolve) => {
      a.on('block:received', (piece, _offset, data) => {
        got.set(piece, Buffer.from(data)); // valid only now: copied
        if (got.size === BLOCKS) resolve();
      });
    });
    for (let i = 0; i < BLOCKS; i++) assert.ok(a.request({ piece: i, offset: 0, length: BLOCK_SIZE }));
    await all;
    for (let i = 0; i < BLOCKS; i++) assert.ok(got.get(i)?.equals(blockData(i)), `block ${i}`);
  });
});
