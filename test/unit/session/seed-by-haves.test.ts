// A peer whose `have` messages complete its bitfield (a leecher released from initial seeding, or
// one that finishes while connected) is counted from then on as a seeder: the picker's cheaper path.
// Its count must move, not double, and leave with it: piece availability says so at each step.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitFor } from '../api/helpers.js';
import {
  addLeecher,
  assertSameBytes,
  completed,
  memoryTorrent,
  ScriptedServer,
  startSession,
  stopAfterEachTest,
} from './scripted-peer.js';

const live = stopAfterEachTest();

test('a peer completed by haves counts once, as a seeder, and its count leaves with it', async () => {
  const t = memoryTorrent(8 * 32 * 1024, 32 * 1024);
  const n = t.metainfo.pieceCount;
  // It starts with nothing, takes requests and never answers them (the leecher cannot finish from it).
  const teaser = await ScriptedServer.listen('127.0.0.1', {
    infoHash: t.metainfo.infoHash,
    pieces: 'none',
    serve: { data: t.data, pieceLength: t.metainfo.pieceLength, answer: () => false },
  });
  live.servers.push(teaser);
  const session = await startSession('127.0.0.1');
  live.sessions.push(session);
  const { torrent, storage } = await addLeecher(session, t, [{ host: '127.0.0.1', port: teaser.port }]);
  const peer = await teaser.peer(0);
  await peer.waitFor((m) => m.type === 'interested' || m.type === 'have-none', 5000).catch(() => undefined);
  const counts = (): number[] => Array.from({ length: n }, (_, i) => torrent.pieceAvailability(i));

  // Half its pieces: counted piece by piece.
  for (let i = 0; i < n / 2; i++) peer.send({ type: 'have', piece: i });
  await waitFor(() => torrent.pieceAvailability(n / 2 - 1) === 1, 'the first haves to be counted');
  assert.deepEqual(
    counts(),
    Array.from({ length: n }, (_, i) => (i < n / 2 ? 1 : 0)),
  );
  // The rest: now a seeder, each piece counted once.
  for (let i = n / 2; i < n; i++) peer.send({ type: 'have', piece: i });
  await waitFor(() => torrent.pieceAvailability(n - 1) === 1, 'the last have to be counted');
  assert.deepEqual(counts(), new Array(n).fill(1));
  // A repeated have changes nothing.
  peer.send({ type: 'have', piece: 0 });
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(counts(), new Array(n).fill(1));

  // It leaves: nobody has anything; an honest seeder then serves the whole torrent.
  peer.destroy();
  await waitFor(() => torrent.peerCount === 0, 'the peer to be gone');
  assert.deepEqual(counts(), new Array(n).fill(0));
  const seeder = await ScriptedServer.listen('127.0.0.1', {
    infoHash: t.metainfo.infoHash,
    pieces: 'all',
    serve: { data: t.data, pieceLength: t.metainfo.pieceLength },
  });
  live.servers.push(seeder);
  torrent.addPeers([{ host: '127.0.0.1', port: seeder.port }]);
  await completed(torrent);
  await assertSameBytes(storage, t);
});
