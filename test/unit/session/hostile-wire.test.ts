// Hostile peers at the swarm level, protocol violations: a real Session and Torrent on loopback
// against scripted raw peers that break the wire protocol. Each violation must cost only the
// offending connection: the session keeps routing, the seeder keeps serving honest peers.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BLOCK_SIZE } from '../../../src/protocol/peer-wire.js';
import type { Session } from '../../../src/session/session.js';
import type { Torrent } from '../../../src/swarm/torrent.js';
import {
  addLeecher,
  addSeeder,
  assertSameBytes,
  completed,
  eventOf,
  isType,
  type MemoryTorrent,
  memoryTorrent,
  recordDisconnects,
  ScriptedPeer,
  ScriptedServer,
  startSession,
  stopAfterEachTest,
} from './scripted-peer.js';

const PIECE_LENGTH = 64 * 1024;
// 20 pieces, the last one short: the bitfield has 4 spare bits.
const fixture: MemoryTorrent = memoryTorrent(20 * PIECE_LENGTH - 3000, PIECE_LENGTH);
const PIECES = fixture.metainfo.pieceCount;
const infoHash = fixture.metainfo.infoHash;
const HOSTILE = '127.0.0.9';

const { sessions, scripted, servers } = stopAfterEachTest();

const hostOf = new Map<Session, string>();

async function session(host: string): Promise<Session> {
  const s = await startSession(host);
  sessions.push(s);
  hostOf.set(s, host);
  return s;
}

async function dialSession(s: Session, options: Partial<Parameters<typeof ScriptedPeer.connect>[1]> = {}) {
  const p = await ScriptedPeer.connect(s.port, {
    infoHash,
    host: hostOf.get(s) ?? '127.0.0.1',
    localAddress: HOSTILE,
    ...options,
  });
  scripted.push(p);
  return p;
}

/** A scripted peer whose handshake the seeder answered: it is attached to the torrent. */
async function attached(s: Session, options: Partial<Parameters<typeof ScriptedPeer.connect>[1]> = {}) {
  const p = await dialSession(s, options);
  await p.until(() => p.remoteHandshake, 3000, 'the handshake');
  return p;
}

function addressOf(p: ScriptedPeer): string {
  return `${p.socket.localAddress}:${p.socket.localPort}`;
}

/** Sends `bytes` and returns the reason the torrent gave for closing that connection. */
async function violation(t: Torrent, p: ScriptedPeer, bytes: Uint8Array): Promise<string> {
  const closed = eventOf(t, 'peer:disconnect', (a) => a === addressOf(p), 3000);
  p.sendRaw(bytes);
  const [, reason] = await closed;
  await p.closed;
  return reason;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

describe('hostile peers: handshakes', () => {
  test('incoming handshake with an unknown info hash: closed unanswered, the session still routes', async () => {
    const seeder = await session('127.0.0.2');
    const seed = await addSeeder(seeder, fixture);
    const stranger = await dialSession(seeder, { infoHash: Buffer.alloc(20, 0xee) });
    await stranger.closed;
    assert.equal(stranger.remoteHandshake, undefined);
    assert.equal(stranger.bytesReceived, 0, 'the session must not answer an unknown torrent');
    // Not a handshake at all: dropped as well.
    const garbage = await dialSession(seeder, { handshake: false });
    garbage.sendRaw(Buffer.from('\x13BitTorrent protocoX\0\0\0\0\0\0\0\0', 'latin1'));
    await garbage.closed;
    assert.equal(garbage.bytesReceived, 0);
    // The session is unaffected: the right info hash is still answered and served.
    const honest = await attached(seeder);
    assert.deepEqual(Buffer.from(honest.remoteHandshake!.infoHash), infoHash);
    await honest.waitFor(isType('have-all'));
    honest.send({ type: 'interested' });
    await honest.waitFor(isType('unchoke'));
    honest.send({ type: 'request', piece: 3, offset: BLOCK_SIZE, length: BLOCK_SIZE });
    const block = await honest.waitFor(isType('piece'));
    const start = 3 * PIECE_LENGTH + BLOCK_SIZE;
    assert.deepEqual(Buffer.from(block.data), fixture.data.subarray(start, start + BLOCK_SIZE));
    assert.equal(seed.peerCount, 1);
  });

  test('outgoing: a peer that answers with another info hash is dropped; the download goes on', async () => {
    const liar = await ScriptedServer.listen(HOSTILE, {
      infoHash: Buffer.alloc(20, 0x42),
      pieces: 'all',
      serve: { data: fixture.data, pieceLength: PIECE_LENGTH },
    });
    servers.push(liar);
    const leecher = await session('127.0.0.3');
    let leech: Torrent | undefined;
    const reasons: string[] = [];
    const { storage } = await addLeecher(leecher, fixture, [{ host: HOSTILE, port: liar.port }], {
      onTorrent: (t) => {
        leech = t;
        t.on('peer:disconnect', (address, reason) => {
          if (address.startsWith(HOSTILE)) reasons.push(reason);
        });
      },
    });
    const peer = await liar.peer(0);
    await peer.closed;
    assert.deepEqual(reasons, ['info-hash-mismatch']);
    assert.ok(leech);
    assert.equal(leech.state, 'downloading');
    assert.equal(leech.downloadedBytes, 0);
    // The torrent still downloads from an honest seeder.
    const seeder = await session('127.0.0.2');
    await addSeeder(seeder, fixture);
    leech.addPeers([{ host: '127.0.0.2', port: seeder.port }]);
    await completed(leech);
    await assertSameBytes(storage, fixture);
    assert.equal(liar.accepted, 1, 'the liar was dialed again within the test');
  });
});

describe('hostile peers: malformed messages close only their own connection', () => {
  const spare = new Uint8Array(Math.ceil(PIECES / 8));
  spare[0] = 0x80;
  spare[spare.length - 1] = 0x01; // a spare bit past piece 19
  const cases: { name: string; bytes: Buffer; reason: string }[] = [
    {
      name: 'length prefix 0xFFFFFFFF',
      bytes: Buffer.from([0xff, 0xff, 0xff, 0xff, 0x07]),
      reason: 'message-too-large',
    },
    {
      name: 'bitfield one byte too long',
      bytes: Buffer.concat([u32(1 + 4), Buffer.from([5, 0x80, 0, 0, 0])]),
      reason: 'bitfield-size',
    },
    {
      name: 'bitfield one byte too short',
      bytes: Buffer.concat([u32(1 + 2), Buffer.from([5, 0x80, 0])]),
      reason: 'bitfield-size',
    },
    {
      name: 'bitfield with spare bits set',
      bytes: Buffer.concat([u32(1 + spare.length), Buffer.from([5]), spare]),
      reason: 'bitfield-spare-bits',
    },
    {
      name: 'have of piece count',
      bytes: Buffer.concat([u32(5), Buffer.from([4]), u32(PIECES)]),
      reason: 'have-out-of-range',
    },
    {
      name: 'have 0xFFFFFFFF',
      bytes: Buffer.concat([u32(5), Buffer.from([4]), u32(0xffffffff)]),
      reason: 'have-out-of-range',
    },
    {
      name: 'piece message of 1 MiB',
      bytes: Buffer.concat([u32(9 + (1 << 20)), Buffer.from([7])]),
      reason: 'message-too-large',
    },
    {
      name: 'request with the wrong length prefix',
      bytes: Buffer.concat([u32(12), Buffer.from([6]), Buffer.alloc(11)]),
      reason: 'bad-message-length',
    },
  ];

  test('each violation closes that connection with its reason; a bystander is served throughout', async () => {
    const seeder = await session('127.0.0.2');
    const seed = await addSeeder(seeder, fixture);
    const bystander = await attached(seeder, { localAddress: '127.0.0.5' });
    await bystander.waitFor(isType('have-all'));
    for (const c of cases) {
      const p = await attached(seeder);
      const reason = await violation(seed, p, c.bytes).catch((err: Error) => `${err.message} (${c.name})`);
      assert.equal(reason, c.reason, c.name);
      assert.ok(!bystander.isClosed, `the bystander was closed by: ${c.name}`);
    }
    assert.equal(seed.peerCount, 1);
    assert.equal(seed.state, 'seeding');
    // The bystander is still a live peer: it gets unchoked and served.
    bystander.send({ type: 'interested' });
    await bystander.waitFor(isType('unchoke'));
    bystander.send({ type: 'request', piece: PIECES - 1, offset: 0, length: BLOCK_SIZE });
    const block = await bystander.waitFor(isType('piece'));
    const start = (PIECES - 1) * PIECE_LENGTH;
    assert.deepEqual(Buffer.from(block.data), fixture.data.subarray(start, start + BLOCK_SIZE));
  });
});

describe('hostile peers: requests', () => {
  // Bigger than the other fixture so the honest download overlaps the abuse.
  const big = memoryTorrent(96 * PIECE_LENGTH - 777, PIECE_LENGTH, 7);
  const BIG_PIECES = big.metainfo.pieceCount;

  function request(piece: number, offset: number, length: number): Buffer {
    return Buffer.concat([u32(13), Buffer.from([6]), u32(piece), u32(offset), u32(length)]);
  }

  test('bad and flooding requests are rejected or closed while an honest leecher downloads', async () => {
    const seeder = await session('127.0.0.2');
    const seed = await addSeeder(seeder, big, { uploadSlots: 8 });
    const seederSaw = recordDisconnects(seed);

    // Unchoked, asking for bytes past the end of a piece, of a piece that does not exist, too much.
    const bad = async (): Promise<void> => {
      const p = await attached(seeder, { infoHash: big.metainfo.infoHash });
      p.send({ type: 'interested' });
      await p.waitFor(isType('unchoke'));
      const lastLength = big.metainfo.totalLength - (BIG_PIECES - 1) * PIECE_LENGTH;
      const pastEnd = { piece: BIG_PIECES - 1, offset: lastLength - 100, length: 200 };
      p.send({ type: 'request', ...pastEnd });
      await p.waitFor((m) => m.type === 'reject' && m.piece === pastEnd.piece && m.offset === pastEnd.offset);
      p.send({ type: 'request', piece: BIG_PIECES, offset: 0, length: BLOCK_SIZE });
      await p.waitFor((m) => m.type === 'reject' && m.piece === BIG_PIECES);
      p.send({ type: 'request', piece: 0, offset: 0, length: 2 * BLOCK_SIZE });
      await p.waitFor((m) => m.type === 'reject' && m.length === 2 * BLOCK_SIZE);
      assert.ok(!p.isClosed, 'a few bad requests are answered with reject, not a close');
      assert.ok(!p.messages.some((m) => m.type === 'piece'), 'something was served for a bad request');
      const closed = eventOf(seed, 'peer:disconnect', (a) => a === addressOf(p), 3000);
      for (let i = 0; i < 20; i++) p.sendRaw(request(1, 0, 1 << 20));
      assert.equal((await closed)[1], 'invalid-requests');
    };

    // Choked (never interested), flooding valid requests: rejects, then a close.
    const flood = async (): Promise<void> => {
      const p = await attached(seeder, { infoHash: big.metainfo.infoHash, localAddress: '127.0.0.10' });
      await p.waitFor(isType('have-all'));
      const closed = eventOf(seed, 'peer:disconnect', (a) => a === addressOf(p), 3000);
      const burst: Buffer[] = [];
      // Past 2 × our reqq (2,000) requests while choked.
      for (let i = 0; i < 4500; i++) burst.push(request(i % BIG_PIECES, 0, BLOCK_SIZE));
      p.sendRaw(Buffer.concat(burst));
      assert.equal((await closed)[1], 'request-flood');
      await p.closed;
      assert.ok(!p.messages.some((m) => m.type === 'piece'), 'a choked peer was served');
      assert.ok(
        p.messages.some((m) => m.type === 'reject'),
        'no reject before the close',
      );
    };

    // Unchoked, more requests outstanding at once than the flood limit.
    const greedy = async (): Promise<void> => {
      const p = await attached(seeder, { infoHash: big.metainfo.infoHash, localAddress: '127.0.0.11' });
      p.send({ type: 'interested' });
      await p.waitFor(isType('unchoke'));
      const closed = eventOf(seed, 'peer:disconnect', (a) => a === addressOf(p), 3000);
      const many: Buffer[] = [];
      // 60 × 256 = 15,360 distinct places, far past 2 × our reqq (2,000) even if some are served
      // between two reads of the burst.
      for (let piece = 0; piece < 60; piece++) {
        for (let off = 0; off < PIECE_LENGTH; off += 256) many.push(request(piece, off, 256));
      }
      p.sendRaw(Buffer.concat(many));
      assert.equal((await closed)[1], 'request-flood');
    };

    const leecher = await session('127.0.0.3');
    const { torrent: leech, storage } = await addLeecher(leecher, big, [
      { host: '127.0.0.2', port: seeder.port },
    ]);
    const leecherSaw = recordDisconnects(leech);
    // What the seeder saw up to the leecher's completion (after it, the leecher hangs up on purpose).
    const seederSawBefore = completed(leech, 15_000).then(() => [...seederSaw]);
    await Promise.all([seederSawBefore, bad(), flood(), greedy()]);
    await assertSameBytes(storage, big);
    // Its only disconnect is its own, once complete: two seeders have nothing to trade.
    assert.deepEqual(
      leecherSaw.map((d) => d.reason),
      ['both-seeders'],
      'the honest leecher lost its connection to the seeder',
    );
    assert.ok(
      !(await seederSawBefore).some((d) => d.address.startsWith('127.0.0.3')),
      'the seeder dropped the honest leecher',
    );
    assert.equal(seed.state, 'seeding');
  });
});

describe('hostile peers: requests the connection cannot judge', () => {
  test('requests past the end of a piece, repeated: rejected, then closed like other invalid requests', {}, async () => {
    const seeder = await session('127.0.0.2');
    const seed = await addSeeder(seeder, fixture);
    const p = await attached(seeder);
    p.send({ type: 'interested' });
    await p.waitFor(isType('unchoke'));
    // Piece 1 exists and 16 KiB is a legal length, but offset 70000 is past the 64 KiB piece: only the
    // torrent knows the piece length, so only it can tell.
    const closed = eventOf(seed, 'peer:disconnect', (a) => a === addressOf(p), 1500).then(
      ([, reason]) => reason,
      () => 'still open',
    );
    const burst: Buffer[] = [];
    for (let i = 0; i < 1000; i++) {
      burst.push(Buffer.concat([u32(13), Buffer.from([6]), u32(1), u32(70_000 + i), u32(BLOCK_SIZE)]));
    }
    p.sendRaw(Buffer.concat(burst));
    await p.waitFor(isType('reject'));
    assert.ok(!p.messages.some((m) => m.type === 'piece'));
    assert.equal(await closed, 'invalid-requests');
  });
});

describe('hostile peers: blocks nobody asked for', () => {
  test('ignored (nothing stored), then the connection is closed past the threshold', async () => {
    const pusher = await ScriptedServer.listen(HOSTILE, { infoHash, pieces: 'all' });
    servers.push(pusher);
    const leecher = await session('127.0.0.3');
    const { torrent: leech } = await addLeecher(leecher, fixture, [{ host: HOSTILE, port: pusher.port }]);
    const p = await pusher.peer(0);
    // It never unchokes, so the leecher cannot have asked for anything.
    await p.waitFor(isType('interested'));
    const closed = eventOf(leech, 'peer:disconnect', (a) => a.startsWith(HOSTILE), 5000);
    const block = (i: number) => ({
      type: 'piece' as const,
      piece: i,
      offset: 0,
      data: fixture.data.subarray(i * PIECE_LENGTH, i * PIECE_LENGTH + BLOCK_SIZE),
    });
    for (let i = 0; i < 9; i++) p.send(block(i));
    // Loopback delivers within milliseconds; give the leecher time to process all nine.
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.ok(!p.isClosed, 'closed before the threshold');
    assert.equal(leech.downloadedBytes, 0, 'unrequested data was accepted');
    assert.equal(leech.verifiedBytes, 0);
    p.send(block(9));
    assert.equal((await closed)[1], 'unrequested-blocks');
    assert.equal(leech.downloadedBytes, 0);
    assert.equal(leech.bitfield.count, 0);
  });
});
