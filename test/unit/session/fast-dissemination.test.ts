// Spreading pieces with the Fast extension (BEP 6), issue 18: a newcomer with nothing is allowed its
// canonical allowed fast set while choked (and each piece of it we verify later), and a leecher
// suggests a piece it just got that no other peer has but the seeder to the peers it uploads to;
// suggestions it receives are what it asks for first.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { allowedFastSet } from '../../../src/protocol/allowed-fast.js';
import { ipLiteralBytes } from '../../../src/protocol/ip.js';
import { BLOCK_SIZE, type Message } from '../../../src/protocol/peer-wire.js';
import {
  addLeecher,
  addSeeder,
  completed,
  isType,
  memoryTorrent,
  ScriptedPeer,
  ScriptedServer,
  startSession,
  stopAfterEachTest,
} from './scripted-peer.js';

const PIECE = 2 * BLOCK_SIZE;
const fixture = memoryTorrent(32 * PIECE, PIECE, 61);
const { infoHash, pieceCount } = fixture.metainfo;
const { sessions, scripted } = stopAfterEachTest();

/** Resolves once `n` messages of `type` are in. */
async function collect<T extends Message['type']>(p: ScriptedPeer, type: T, n: number) {
  await p.waitFor(() => p.messages.filter(isType(type)).length >= n);
  return p.messages.filter(isType(type));
}

describe('Fast extension: allowed fast and suggest', () => {
  test('a newcomer with nothing gets its canonical allowed fast set and is served it while choked', async () => {
    const seeding = await startSession('127.0.0.61');
    sessions.push(seeding);
    await addSeeder(seeding, fixture);
    const newcomer = await ScriptedPeer.connect(seeding.port, {
      infoHash,
      host: '127.0.0.61',
      localAddress: '127.0.0.62',
      pieces: 'none',
    });
    scripted.push(newcomer);
    const expected = allowedFastSet(infoHash, ipLiteralBytes('127.0.0.62'), pieceCount, 10);
    assert.equal(expected.length, 10);
    const allowed = await collect(newcomer, 'allowed-fast', 10);
    assert.deepEqual(
      allowed.map((m) => m.piece).sort((a, b) => a - b),
      [...expected].sort((a, b) => a - b),
    );
    // Never interested, so never unchoked: an allowed piece is served, another is rejected.
    const inSet = expected[0]!;
    const outside = [...Array(pieceCount).keys()].find((i) => !expected.includes(i))!;
    newcomer.send({ type: 'request', piece: inSet, offset: BLOCK_SIZE, length: BLOCK_SIZE });
    newcomer.send({ type: 'request', piece: outside, offset: 0, length: BLOCK_SIZE });
    const block = await newcomer.waitFor(isType('piece'));
    assert.equal(block.piece, inSet);
    const at = inSet * PIECE + BLOCK_SIZE;
    assert.deepEqual(Buffer.from(block.data), fixture.data.subarray(at, at + BLOCK_SIZE));
    const rejected = await newcomer.waitFor(isType('reject'));
    assert.equal(rejected.piece, outside);
    assert.ok(!newcomer.messages.some(isType('unchoke')), 'it stayed choked');
  });

  test('a leecher suggests what it just got from the seeder to the peer it uploads to, and allows the pieces of its set', async () => {
    const seeder = await ScriptedServer.listen('127.0.0.63', {
      infoHash,
      pieces: 'all',
      serve: { data: fixture.data, pieceLength: PIECE },
    });
    const leeching = await startSession('127.0.0.64');
    sessions.push(leeching);
    const { torrent, storage } = await addLeecher(leeching, fixture, []);
    // A peer with nothing, interested: the leecher's one interested peer gets a slot.
    const peer = await ScriptedPeer.connect(leeching.port, {
      infoHash,
      host: '127.0.0.64',
      localAddress: '127.0.0.65',
      pieces: 'none',
    });
    scripted.push(peer);
    peer.send({ type: 'interested' });
    await peer.waitFor(isType('unchoke'));
    torrent.addPeers([{ host: '127.0.0.63', port: seeder.port }]);
    try {
      await completed(torrent);
      const haves = await collect(peer, 'have', pieceCount);
      const suggested = peer.messages.filter(isType('suggest')).map((m) => m.piece);
      // Every piece was fresh (only the seeder had it), and each came after its have.
      assert.deepEqual(
        [...suggested].sort((a, b) => a - b),
        [...Array(pieceCount).keys()],
      );
      for (const s of suggested) {
        const haveAt = peer.messages.findIndex((m) => m.type === 'have' && m.piece === s);
        const suggestAt = peer.messages.findIndex((m) => m.type === 'suggest' && m.piece === s);
        assert.ok(haveAt >= 0 && haveAt < suggestAt, `piece ${s}: have before suggest`);
      }
      assert.equal(haves.length, pieceCount);
      // Its allowed fast set went out piece by piece, as the leecher got each.
      const allowed = peer.messages.filter(isType('allowed-fast')).map((m) => m.piece);
      assert.deepEqual(
        [...allowed].sort((a, b) => a - b),
        allowedFastSet(infoHash, ipLiteralBytes('127.0.0.65'), pieceCount, 10).sort((a, b) => a - b),
      );
      const bytes = await storage.read(0, 0, PIECE);
      assert.deepEqual(bytes, fixture.data.subarray(0, PIECE));
    } finally {
      await seeder.close();
    }
  });

  test('a suggestion from the peer is what the leecher asks for first', async () => {
    const suggestedPiece = 23;
    const seeder = await ScriptedServer.listen('127.0.0.66', {
      infoHash,
      pieces: 'all',
      serve: { data: fixture.data, pieceLength: PIECE, unchokeOnInterest: false },
    });
    const leeching = await startSession('127.0.0.67');
    sessions.push(leeching);
    const { torrent } = await addLeecher(leeching, fixture, [{ host: '127.0.0.66', port: seeder.port }]);
    try {
      const p = await seeder.peer(0);
      // The suggestion, then the unchoke: the leecher's first requests follow both.
      await p.waitFor(isType('interested'));
      p.send({ type: 'suggest', piece: suggestedPiece });
      p.send({ type: 'unchoke' });
      const first = await p.waitFor(isType('request'));
      assert.equal(first.piece, suggestedPiece);
      await completed(torrent);
    } finally {
      await seeder.close();
    }
  });
});
