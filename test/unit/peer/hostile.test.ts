// A scripted raw socket plays a misbehaving peer against one PeerConnection over loopback TCP.
// Each case must end in a typed close (the right reason), with nothing thrown and no socket left.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { describe, type TestContext, test } from 'node:test';
import { makePeerId, PeerConnection, type PeerConnectionOptions } from '../../../src/peer/connection.js';
import {
  BLOCK_SIZE,
  DisconnectReason,
  decodeMessage,
  encodeHandshake,
  encodeMessage,
  FrameReader,
  type Message,
  makeReserved,
  ProtocolError,
} from '../../../src/protocol/peer-wire.js';
import { delay, Sink, socketPair, waitFor } from './helpers.js';

const infoHash = Buffer.alloc(20, 0x17);
const PIECES = 20;

interface RawOptions {
  fast?: boolean;
  extended?: boolean;
  infoHash?: Buffer;
  /** Do not send a handshake at all. */
  silent?: boolean;
}

async function rawPeer(
  t: TestContext,
  opts: Partial<PeerConnectionOptions> = {},
  raw: RawOptions = {},
): Promise<{ conn: PeerConnection; raw: Socket; sink: Sink }> {
  const [client, server] = await socketPair();
  server.on('error', () => undefined); // the connection may reset us: that is the point
  t.after(() => {
    client.destroy();
    server.destroy();
  });
  const conn = PeerConnection.outgoing(client, {
    infoHash,
    peerId: makePeerId(),
    pieceCount: PIECES,
    ...opts,
  });
  t.after(() => conn.close());
  const sink = new Sink(server);
  if (!raw.silent) {
    server.write(
      encodeHandshake({
        reserved: makeReserved({ extended: raw.extended ?? true, fast: raw.fast ?? true }),
        infoHash: raw.infoHash ?? infoHash,
        peerId: Buffer.alloc(20, 7),
      }),
    );
    await Promise.race([waitFor(conn, 'handshake:done'), waitFor(conn, 'connection:close')]);
  }
  return { conn, raw: server, sink };
}

/** Waits for the close, checks its reason, that the raw side was disconnected, and that all stays quiet. */
async function expectClose(
  conn: PeerConnection,
  raw: Socket,
  reason: DisconnectReason,
): Promise<Error | undefined> {
  const [got, error] = conn.closed
    ? [conn.closeReason, conn.closeError]
    : await waitFor(conn, 'connection:close');
  assert.equal(got, reason);
  if (!raw.destroyed) await once(raw, 'close');
  const late: string[] = [];
  for (const name of ['have:received', 'block:received', 'request:received', 'connection:close'] as const) {
    conn.on(name, () => late.push(name));
  }
  await delay(20);
  assert.deepEqual(late, []);
  return error;
}

/** Messages the raw peer received after our handshake (68 bytes). */
function received(sink: Sink): Message[] {
  const reader = new FrameReader();
  reader.push(sink.bytes);
  if (!reader.nextHandshake()) return [];
  const out: Message[] = [];
  for (let m = reader.nextMessage(); m; m = reader.nextMessage()) out.push(m);
  return out;
}

async function until(cond: () => boolean, timeoutMs = 2000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await delay(5);
  }
}

const send = (raw: Socket, ...msgs: Message[]): boolean => raw.write(Buffer.concat(msgs.map(encodeMessage)));

describe('hostile peers', () => {
  test('wrong info hash', async (t) => {
    const { conn, raw } = await rawPeer(t, {}, { infoHash: Buffer.alloc(20, 0xee) });
    const err = await expectClose(conn, raw, DisconnectReason.infoHashMismatch);
    assert.ok(err instanceof ProtocolError);
  });

  test('not a BitTorrent handshake', async (t) => {
    const { conn, raw } = await rawPeer(t, {}, { silent: true });
    raw.write('GET /announce HTTP/1.1\r\n\r\n');
    await expectClose(conn, raw, DisconnectReason.badHandshake);
  });

  test('no handshake in time', async (t) => {
    const { conn, raw } = await rawPeer(t, { handshakeTimeoutMs: 100 }, { silent: true });
    await expectClose(conn, raw, DisconnectReason.handshakeTimeout);
  });

  test('length prefix 0xFFFFFFFF closes at once', async (t) => {
    const { conn, raw } = await rawPeer(t);
    raw.write(Buffer.from('ffffffff', 'hex'));
    await expectClose(conn, raw, DisconnectReason.messageTooLarge);
  });

  test('a block larger than 16 KiB is refused from its header', async (t) => {
    const { conn, raw } = await rawPeer(t);
    const head = Buffer.alloc(13);
    head.writeUInt32BE(9 + BLOCK_SIZE + 1);
    head[4] = 7;
    raw.write(head);
    await expectClose(conn, raw, DisconnectReason.messageTooLarge);
  });

  test('bitfield of the wrong size', async (t) => {
    const { conn, raw } = await rawPeer(t);
    send(raw, { type: 'bitfield', bits: Buffer.from('ffff', 'hex') });
    await expectClose(conn, raw, DisconnectReason.bitfieldSize);
  });

  test('bitfield with spare bits set', async (t) => {
    const { conn, raw } = await rawPeer(t);
    send(raw, { type: 'bitfield', bits: Buffer.from('fffff8', 'hex') });
    await expectClose(conn, raw, DisconnectReason.bitfieldSpareBits);
  });

  test('a magnet connection checks the bitfield once the piece count is known', async (t) => {
    const { conn, raw } = await rawPeer(t, { pieceCount: undefined as unknown as number });
    send(raw, { type: 'bitfield', bits: Buffer.from('fffff8', 'hex') });
    await delay(50);
    assert.equal(conn.closed, false);
    conn.setPieceCount(PIECES);
    await expectClose(conn, raw, DisconnectReason.bitfieldSpareBits);
  });

  test('a second bitfield (aria2 sends one after have-none) only adds its pieces as haves', async (t) => {
    const { conn, raw } = await rawPeer(t);
    const haves: number[] = [];
    conn.on('have:received', (p) => haves.push(p));
    send(raw, { type: 'have-none' }, { type: 'bitfield', bits: Buffer.from('810000', 'hex') });
    await waitFor(conn, 'have:received');
    await delay(20);
    assert.equal(conn.closed, false);
    assert.deepEqual(haves, [0, 7]);
    assert.equal(conn.peerBitfield?.count, 2);
  });

  test('have out of range', async (t) => {
    const { conn, raw } = await rawPeer(t);
    send(raw, { type: 'have', piece: 19 });
    await waitFor(conn, 'have:received');
    send(raw, { type: 'have', piece: PIECES });
    await expectClose(conn, raw, DisconnectReason.haveOutOfRange);
  });

  test('Fast messages without the Fast extension', async (t) => {
    const { conn, raw } = await rawPeer(t, {}, { fast: false });
    send(raw, { type: 'have-all' });
    await expectClose(conn, raw, DisconnectReason.fastNotNegotiated);
  });

  test('extended messages without the extension bit', async (t) => {
    const { conn, raw } = await rawPeer(t, {}, { extended: false });
    send(raw, { type: 'extended', id: 0, payload: Buffer.from('de') });
    await expectClose(conn, raw, DisconnectReason.extendedNotNegotiated);
  });

  test('an extension handshake that is not a dict', async (t) => {
    const { conn, raw } = await rawPeer(t);
    send(raw, { type: 'extended', id: 0, payload: Buffer.from('i42e') });
    await expectClose(conn, raw, DisconnectReason.badExtendedHandshake);
  });

  test('unknown messages and unknown extensions are passed over', async (t) => {
    const { conn, raw } = await rawPeer(t);
    const ext = waitFor(conn, 'extended:message');
    send(
      raw,
      { type: 'unknown', id: 99, payload: Buffer.from('zz') },
      { type: 'extended', id: 42, payload: Buffer.from('x') },
    );
    const [name, id, payload] = await ext;
    assert.equal(name, undefined);
    assert.equal(id, 42);
    assert.equal(Buffer.from(payload).toString(), 'x');
    assert.equal(conn.closed, false);
  });

  test('requests larger than 16 KiB are rejected, and ten close the connection', async (t) => {
    const { conn, raw, sink } = await rawPeer(t);
    conn.unchoke();
    const big = { type: 'request', piece: 0, offset: 0, length: BLOCK_SIZE + 1 } as const;
    let seen = 0;
    conn.on('request:received', () => seen++);
    for (let i = 0; i < 9; i++) send(raw, big);
    send(raw, { type: 'request', piece: PIECES, offset: 0, length: 10 }); // out of range counts too
    await expectClose(conn, raw, DisconnectReason.invalidRequests);
    assert.equal(seen, 0);
    assert.equal(received(sink).filter((m) => m.type === 'reject').length, 10);
  });

  test('blocks nobody asked for: ten close the connection', async (t) => {
    const { conn, raw } = await rawPeer(t);
    const blocks: unknown[] = [];
    conn.on('block:received', (...a) => blocks.push(a));
    for (let i = 0; i < 9; i++)
      send(raw, { type: 'piece', piece: 1, offset: i * 16, data: Buffer.alloc(16) });
    await delay(50);
    assert.equal(conn.closed, false);
    send(raw, { type: 'piece', piece: 1, offset: 999, data: Buffer.alloc(16) });
    await expectClose(conn, raw, DisconnectReason.unrequestedBlocks);
    assert.deepEqual(blocks, []);
  });

  test('a block that arrives after we cancelled it is tolerated and delivered', async (t) => {
    const { conn, raw, sink } = await rawPeer(t);
    send(raw, { type: 'unchoke' });
    await waitFor(conn, 'choke:changed');
    const block = { piece: 2, offset: 0, length: 100 };
    assert.ok(conn.request(block));
    assert.ok(conn.cancel(block));
    await until(() => received(sink).some((m) => m.type === 'cancel'));
    const got = waitFor(conn, 'block:received');
    send(raw, { type: 'piece', piece: 2, offset: 0, data: Buffer.alloc(100, 1) });
    const [piece, offset, data] = await got;
    assert.deepEqual([piece, offset, data.length], [2, 0, 100]);
    assert.equal(conn.closed, false);
    const types = received(sink).map((m) => m.type);
    assert.ok(types.includes('request') && types.includes('cancel'));
  });

  test('a request that timed out may still be answered late', async (t) => {
    const { conn, raw, sink } = await rawPeer(t, { requestTimeoutMs: 100 });
    send(raw, { type: 'unchoke' });
    await waitFor(conn, 'choke:changed');
    conn.request({ piece: 5, offset: 0, length: 50 });
    const [blk] = await waitFor(conn, 'request:timeout');
    assert.deepEqual(blk, { piece: 5, offset: 0, length: 50 });
    const got = waitFor(conn, 'block:received');
    send(raw, { type: 'piece', piece: 5, offset: 0, data: Buffer.alloc(50) });
    await got;
    assert.ok(received(sink).some((m) => m.type === 'cancel' && m.piece === 5));
  });

  test('rejects for requests never made count as unrequested', async (t) => {
    const { conn, raw } = await rawPeer(t);
    for (let i = 0; i < 10; i++) send(raw, { type: 'reject', piece: 0, offset: i, length: 1 });
    await expectClose(conn, raw, DisconnectReason.unrequestedBlocks);
  });

  test('a flood of requests while choked', async (t) => {
    const { conn, raw, sink } = await rawPeer(t, { extensions: { reqq: 5 } });
    for (let i = 0; i < 10; i++)
      send(raw, { type: 'request', piece: 0, offset: i * BLOCK_SIZE, length: BLOCK_SIZE });
    await delay(50);
    assert.equal(conn.closed, false, 'up to 2 × reqq is tolerated');
    send(raw, { type: 'request', piece: 1, offset: 0, length: BLOCK_SIZE });
    await expectClose(conn, raw, DisconnectReason.requestFlood);
    assert.equal(received(sink).filter((m) => m.type === 'reject').length, 11);
  });

  test('a second request for the same place with another length is rejected, the first still served', async (t) => {
    const { conn, raw, sink } = await rawPeer(t);
    conn.unchoke();
    const seen: number[] = [];
    conn.on('request:received', (b) => seen.push(b.length));
    send(raw, { type: 'request', piece: 1, offset: 0, length: BLOCK_SIZE });
    send(raw, { type: 'request', piece: 1, offset: 0, length: 100 });
    send(raw, { type: 'request', piece: 1, offset: 0, length: BLOCK_SIZE }); // asked twice: nothing new
    await delay(100);
    assert.deepEqual(seen, [BLOCK_SIZE]);
    assert.deepEqual(
      received(sink).filter((m) => m.type === 'reject'),
      [{ type: 'reject', piece: 1, offset: 0, length: 100 }],
    );
    assert.equal(conn.sendPiece(1, 0, Buffer.alloc(100)), false, 'not the length that was asked');
    assert.equal(conn.sendPiece(1, 0, Buffer.alloc(BLOCK_SIZE)), true);
    assert.equal(conn.closed, false);
  });

  test('more unanswered requests than 2 × reqq while unchoked', async (t) => {
    const { conn, raw } = await rawPeer(t, { extensions: { reqq: 4 } });
    conn.unchoke();
    let seen = 0;
    conn.on('request:received', () => seen++);
    for (let i = 0; i < 9; i++)
      send(raw, { type: 'request', piece: 0, offset: i * BLOCK_SIZE, length: BLOCK_SIZE });
    await expectClose(conn, raw, DisconnectReason.requestFlood);
    assert.equal(seen, 8);
  });

  test('many small writes in one tick leave as one', async (t) => {
    const { conn, sink } = await rawPeer(t);
    await until(() => received(sink).some((m) => m.type === 'extended'));
    const before = sink.chunks.length;
    for (let i = 0; i < 20; i++) conn.have(i);
    await until(() => received(sink).filter((m) => m.type === 'have').length === 20);
    assert.equal(sink.chunks.length - before, 1);
  });

  test('a silent peer gets keep-alives, then the idle timeout', async (t) => {
    const started = Date.now();
    const { conn, raw, sink } = await rawPeer(t, { idleTimeoutMs: 300 });
    await expectClose(conn, raw, DisconnectReason.idleTimeout);
    assert.ok(Date.now() - started >= 290);
    const msgs = received(sink);
    assert.ok(
      msgs.some((m) => m.type === 'keep-alive'),
      `keep-alive expected, got ${msgs.map((m) => m.type)}`,
    );
  });

  test('a peer that resets the connection', async (t) => {
    const { conn, raw } = await rawPeer(t);
    const closed = waitFor(conn, 'connection:close');
    raw.resetAndDestroy();
    const [reason] = await closed;
    assert.ok(reason === DisconnectReason.socketError || reason === DisconnectReason.remoteClosed, reason);
  });

  test('random garbage after the handshake never throws out of the connection', async (t) => {
    for (let round = 0; round < 20; round++) {
      const { conn, raw } = await rawPeer(t);
      const junk = Buffer.alloc(200);
      for (let i = 0; i < junk.length; i++) junk[i] = (round * 131 + i * 17) & 0xff;
      junk.writeUInt32BE(round % 2 === 0 ? 0x7fffffff : 3, 0);
      raw.write(junk);
      await delay(20);
      conn.close();
      assert.ok(conn.closed);
      // whatever the reason, it is one of ours
      assert.ok(Object.values(DisconnectReason).includes(conn.closeReason!));
    }
    assert.ok('message' in decodeMessage(encodeMessage({ type: 'choke' }), 0));
  });
});
