// Hostile peers at the swarm level, bad data and resource abuse: corrupt blocks (banned, the download
// completes from honest peers), a peer that stalls mid-piece (timeouts and endgame finish the
// download), and a garbage flood from many connections (memory stays bounded).
// Each peer binds its own loopback address. Bans are per endpoint (host:port) and peer id; a whole
// address is banned once two of its endpoints lied (hostile-shared-ip.test.ts has peers sharing one).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Session } from '../../../src/session/session.js';
import type { Torrent } from '../../../src/swarm/torrent.js';
import {
  addLeecher,
  addSeeder,
  assertSameBytes,
  completed,
  eventOf,
  type MemoryTorrent,
  memoryTorrent,
  ScriptedPeer,
  ScriptedServer,
  startSession,
  stopAfterEachTest,
} from './scripted-peer.js';

const PIECE_LENGTH = 64 * 1024; // 4 blocks
const BLOCK = 16 * 1024;
const fixture: MemoryTorrent = memoryTorrent(32 * PIECE_LENGTH - 5000, PIECE_LENGTH, 3);
const infoHash = fixture.metainfo.infoHash;
const HOSTILE = '127.0.0.9';
/** The endpoint a peer of `host` was banned as, or the host itself when its whole address was. */
const isHost = (host: string) => (banned: string) => banned === host || banned.startsWith(`${host}:`);

const { sessions, scripted, servers } = stopAfterEachTest();

async function session(host: string): Promise<Session> {
  const s = await startSession(host);
  sessions.push(s);
  return s;
}

async function seeders(hosts: string[]): Promise<{ host: string; port: number }[]> {
  const out: { host: string; port: number }[] = [];
  for (const host of hosts) {
    const s = await session(host);
    await addSeeder(s, fixture);
    out.push({ host, port: s.port });
  }
  return out;
}

async function hostileServer(serve: Partial<Parameters<typeof ScriptedServer.listen>[1]>) {
  const s = await ScriptedServer.listen(HOSTILE, { infoHash, pieces: 'all', ...serve });
  servers.push(s);
  return s;
}

/** Ends as soon as the torrent completes or bans `honestHost`, whichever comes first. */
function outcome(t: Torrent, honestHost: string, timeoutMs: number): Promise<string> {
  if (t.complete) return Promise.resolve('complete');
  return new Promise((resolve) => {
    const finish = (result: string): void => {
      clearTimeout(timer);
      t.off('torrent:complete', onComplete);
      t.off('peer:banned', onBanned);
      resolve(result);
    };
    const onComplete = (): void => finish('complete');
    const onBanned = (address: string): void => {
      if (isHost(honestHost)(address)) finish(`the honest peer ${address} was banned`);
    };
    const timer = setTimeout(() => finish('timed out'), timeoutMs);
    t.on('torrent:complete', onComplete);
    t.on('peer:banned', onBanned);
  });
}

/**
 * A way to run the garbage collector so memory is compared after collection. The runner cannot pass
 * --expose-gc to one file: set the flag at run time and fetch `gc` from a fresh context instead.
 */
function collector(): (() => void) | undefined {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (exposed) return exposed;
  try {
    setFlagsFromString('--expose_gc');
    const gc: unknown = runInNewContext('gc');
    return typeof gc === 'function' ? (gc as () => void) : undefined;
  } catch {
    return undefined;
  }
}

const corruptAll = { data: fixture.data, pieceLength: PIECE_LENGTH, corrupt: () => true };

describe('hostile peers: corrupt data', () => {
  test('one corrupt peer among honest ones is banned and never reconnected; the download is exact', async () => {
    const liarId = Buffer.from('-XX0000-liarliarliar', 'latin1');
    const liar = await hostileServer({ serve: corruptAll, peerId: liarId });
    const honest = await seeders(['127.0.0.2', '127.0.0.3']);
    const leecher = await session('127.0.0.4');
    const banned: string[] = [];
    const failedFrom: string[][] = [];
    let leech: Torrent | undefined;
    const { storage } = await addLeecher(leecher, fixture, [{ host: HOSTILE, port: liar.port }], {
      onTorrent: (t) => {
        leech = t;
        t.on('peer:banned', (host) => banned.push(host));
        t.on('piece:failed', (_piece, from) => failedFrom.push(from));
      },
    });
    assert.ok(leech);
    // The liar alone first, so it surely delivers bad pieces; then the honest seeders join.
    const liarPeer = await liar.peer(0);
    await liarPeer.until(() => (liarPeer.answered >= 4 ? true : undefined), 3000, 'blocks served');
    leech.addPeers(honest);
    await completed(leech, 10_000);
    await assertSameBytes(storage, fixture);
    assert.deepEqual(banned, [`${HOSTILE}:${liar.port}`]);
    assert.ok(failedFrom.length >= 1);
    for (const from of failedFrom)
      assert.ok(from.some(isHost(HOSTILE)), `a failure without the liar: ${from}`);
    assert.ok(liarPeer.isClosed, 'the banned peer is still connected');
    assert.equal(liar.accepted, 1, 'the banned peer was dialed again');
    // It cannot come back on its own either, from another port: its peer id is banned too.
    const back = await ScriptedPeer.connect(leecher.port, {
      infoHash,
      peerId: liarId,
      host: '127.0.0.4',
      localAddress: HOSTILE,
    });
    scripted.push(back);
    await back.closed;
    assert.equal(leech.peers().filter((p) => p.address.startsWith(HOSTILE)).length, 0);
  });

  test('corrupt blocks mixed with honest ones in the same pieces: only the liar is banned', async () => {
    // The liar corrupts one block in four and serves alongside two honest seeders from the start,
    // so failed pieces often hold honest blocks too. Strikes must not ban the honest hosts.
    const liar = await hostileServer({
      serve: { ...corruptAll, corrupt: (b) => b.offset === 2 * 16384 },
    });
    const honest = await seeders(['127.0.0.2', '127.0.0.3']);
    const leecher = await session('127.0.0.4');
    const banned: string[] = [];
    const { torrent: leech, storage } = await addLeecher(
      leecher,
      fixture,
      [{ host: HOSTILE, port: liar.port }, ...honest],
      { onTorrent: (t) => t.on('peer:banned', (host) => banned.push(host)) },
    );
    await completed(leech, 10_000);
    await assertSameBytes(storage, fixture);
    assert.ok(
      !banned.some(isHost('127.0.0.2')) && !banned.some(isHost('127.0.0.3')),
      `honest peers banned: ${banned}`,
    );
  });

  test('a liar that only ever sends one bad block per piece, next to one honest seeder', {}, async () => {
    // The worst case for strikes: every failed piece holds the liar's block and the honest seeder's.
    // The liar answers only the first block of each piece (corrupted) and leaves the rest to others.
    const liar = await hostileServer({
      serve: { ...corruptAll, answer: (b) => b.offset === 0 },
      keepAliveMs: 300,
    });
    const leecher = await session('127.0.0.4');
    const banned: string[] = [];
    const failedFrom: string[][] = [];
    let leech: Torrent | undefined;
    const { storage } = await addLeecher(leecher, fixture, [{ host: HOSTILE, port: liar.port }], {
      torrentOptions: { connectionOptions: { requestTimeoutMs: 500 } },
      onTorrent: (t) => {
        leech = t;
        t.on('peer:banned', (host) => banned.push(host));
        t.on('piece:failed', (_piece, from) => failedFrom.push(from));
      },
    });
    assert.ok(leech);
    const p = await liar.peer(0);
    await p.until(() => (p.answered >= 1 && p.ignored >= 1 ? true : undefined), 3000, 'a half-served piece');
    leech.addPeers(await seeders(['127.0.0.2']));
    assert.equal(await outcome(leech, '127.0.0.2', 10_000), 'complete');
    await assertSameBytes(storage, fixture);
    assert.deepEqual(banned, [`${HOSTILE}:${liar.port}`]);
    assert.ok(failedFrom.length > 0, 'the liar never got a bad block into a piece');
  });

  test('a peer that sent a whole bad piece alone is banned at once', async () => {
    const liar = await hostileServer({ serve: corruptAll });
    const leecher = await session('127.0.0.4');
    let leech: Torrent | undefined;
    const log: string[] = [];
    const { storage } = await addLeecher(leecher, fixture, [{ host: HOSTILE, port: liar.port }], {
      onTorrent: (t) => {
        leech = t;
        t.on('piece:failed', (piece, from) => log.push(`failed ${piece} from ${from.join(',')}`));
        t.on('peer:banned', (host) => log.push(`banned ${host}`));
      },
    });
    assert.ok(leech);
    const endpoint = `${HOSTILE}:${liar.port}`;
    await eventOf(leech, 'peer:banned', (a) => a === endpoint, 5000);
    assert.match(log[0] ?? '', new RegExp(`^failed \\d+ from ${endpoint.replaceAll('.', '\\.')}$`));
    assert.equal(log[1], `banned ${endpoint}`, `not banned right after its first bad piece: ${log}`);
    assert.equal(leech.bitfield.count, 0);
    const peer = await liar.peer(0);
    await peer.closed;
    // Honest data still completes the torrent.
    leech.addPeers(await seeders(['127.0.0.2']));
    await completed(leech, 10_000);
    await assertSameBytes(storage, fixture);
    assert.equal(liar.accepted, 1);
  });
});

describe('hostile peers: a peer that stalls mid-piece', () => {
  test('the download finishes from the others through request timeouts and endgame', async () => {
    // Answers the first half of every piece it is asked for, then accepts requests and never
    // answers them, sending keep-alives so that only request timeouts and endgame can tell.
    const staller = await hostileServer({
      serve: { data: fixture.data, pieceLength: PIECE_LENGTH, answer: (b) => b.offset < PIECE_LENGTH / 2 },
      keepAliveMs: 300,
    });
    const leecher = await session('127.0.0.4');
    const started = Date.now();
    let leech: Torrent | undefined;
    const { storage } = await addLeecher(leecher, fixture, [{ host: HOSTILE, port: staller.port }], {
      torrentOptions: { connectionOptions: { requestTimeoutMs: 2000 } },
      onTorrent: (t) => {
        leech = t;
      },
    });
    assert.ok(leech);
    const p = await staller.peer(0);
    // Alone, it leaves the leecher with half-received pieces and nothing else to do.
    await p.until(() => (p.ignored >= 1 ? true : undefined), 3000, 'a stalled request');
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(leech.bitfield.count, 0);
    assert.ok(leech.downloadedBytes > 0, 'the staller sent nothing at all');
    leech.addPeers(await seeders(['127.0.0.2']));
    await completed(leech, 15_000);
    await assertSameBytes(storage, fixture);
    assert.ok(Date.now() - started < 15_000);
    assert.ok(p.ignored > 0 && p.answered > 0);
  });
});

describe('hostile peers: memory under a garbage flood', () => {
  test('20 connections flooding ignored messages and half-sent large ones: memory stays bounded', {
    timeout: 20_000,
  }, async (t) => {
    const gc = collector();
    const settle = async (): Promise<number> => {
      for (let i = 0; i < 3; i++) {
        gc?.();
        await new Promise((resolve) => setImmediate(resolve));
      }
      const m = process.memoryUsage();
      return m.heapUsed + m.arrayBuffers;
    };
    const seeder = await session('127.0.0.2');
    const seed = await addSeeder(seeder, fixture);
    const before = await settle();

    const PER_CONNECTION = 4 * 1024 * 1024;
    const unknown = Buffer.alloc(4 + 60_000, 0x5a);
    unknown.writeUInt32BE(60_000, 0);
    unknown[4] = 99; // an id nobody knows: BEP 3 says ignore it
    const chatter = Buffer.concat([
      Buffer.from([0, 0, 0, 0]), // keep-alive
      Buffer.from([0, 0, 0, 1, 2, 0, 0, 0, 1, 3]), // interested, not interested
      Buffer.from([0, 0, 0, 5, 4, 0, 0, 0, 7]), // have 7 (again and again)
    ]);
    const flooders = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        ScriptedPeer.connect(seeder.port, {
          infoHash,
          host: '127.0.0.2',
          localAddress: `127.0.1.${i + 1}`,
          record: false,
        }),
      ),
    );
    scripted.push(...flooders);
    // All attached first, so the flood measures the torrent's connections and not the demux.
    await Promise.all(flooders.map((p) => p.until(() => p.remoteHandshake, 10_000, 'the handshake')));
    assert.equal(seed.peerCount, 20);
    const flood = async (p: ScriptedPeer): Promise<void> => {
      let sent = 0;
      while (sent < PER_CONNECTION && !p.isClosed) {
        const ok = p.sendRaw(unknown) && p.sendRaw(chatter);
        sent += unknown.length + chatter.length;
        if (!ok) await new Promise((resolve) => p.socket.once('drain', resolve));
      }
      // The start of a 1 MiB extended message, never finished: the reader may hold it, no more.
      const head = Buffer.alloc(4 + 2 + 512 * 1024);
      head.writeUInt32BE(1 << 20, 0);
      head[4] = 20;
      p.sendRaw(head);
    };
    await Promise.all(flooders.map(flood));
    // Let the seeder read all of it.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const during = await settle();
    assert.equal(seed.peerCount, 20, 'ignorable garbage closed connections');
    for (const p of flooders) assert.ok(!p.isClosed);
    const growthMiB = (during - before) / 2 ** 20;
    t.diagnostic(`gc ${gc ? 'exposed' : 'not exposed'}; growth during the flood ${growthMiB.toFixed(1)} MiB`);
    // 20 × 1 MiB of half-received messages may be held by design; 80 MiB went through.
    assert.ok(growthMiB < (gc ? 32 : 64), `memory grew by ${growthMiB.toFixed(1)} MiB during the flood`);
    for (const p of flooders) p.destroy();
    await Promise.all(flooders.map((p) => p.closed));
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(seed.peerCount, 0);
    const afterClose = await settle();
    const leftMiB = (afterClose - before) / 2 ** 20;
    t.diagnostic(`left after the flood ${leftMiB.toFixed(1)} MiB`);
    assert.ok(leftMiB < (gc ? 6 : 32), `memory still up by ${leftMiB.toFixed(1)} MiB after the flood`);
  });

  test('a peer that requests without ever reading: the seeder does not queue the torrent for it', {
    timeout: 20_000,
  }, async (t) => {
    const gc = collector();
    // Bigger than the 16 MiB read cache, so queued blocks are not all views of cached pieces.
    const big = memoryTorrent(48 * 1024 * 1024, 256 * 1024, 11);
    const seeder = await session('127.0.0.2');
    const seed = await addSeeder(seeder, big);
    const settle = (): number => {
      gc?.();
      const m = process.memoryUsage();
      return m.heapUsed + m.arrayBuffers;
    };
    const p = await ScriptedPeer.connect(seeder.port, {
      infoHash: big.metainfo.infoHash,
      host: '127.0.0.2',
      localAddress: HOSTILE,
      record: false,
    });
    scripted.push(p);
    await p.until(() => p.remoteHandshake, 3000, 'the handshake');
    p.send({ type: 'interested' });
    await p.until(() => (p.bytesReceived > 68 + 6 ? true : undefined), 3000, 'the unchoke');
    await new Promise((resolve) => setTimeout(resolve, 100));
    const before = settle();
    p.socket.pause(); // from now on nothing is read: TCP windows fill, then the seeder's own buffers
    const blocks = big.metainfo.totalLength / BLOCK;
    const perPiece = big.metainfo.pieceLength / BLOCK;
    for (let k = 0; k < blocks && !p.isClosed; k += 200) {
      const wave: Buffer[] = [];
      for (let i = k; i < Math.min(blocks, k + 200); i++) {
        const r = Buffer.alloc(17);
        r.writeUInt32BE(13, 0);
        r[4] = 6;
        r.writeUInt32BE(Math.floor(i / perPiece), 5);
        r.writeUInt32BE((i % perPiece) * BLOCK, 9);
        r.writeUInt32BE(BLOCK, 13);
        wave.push(r);
      }
      p.sendRaw(Buffer.concat(wave));
      await new Promise((resolve) => setTimeout(resolve, 40));
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    const growthMiB = (settle() - before) / 2 ** 20;
    t.diagnostic(`growth while a peer asked for ${blocks} blocks and read none: ${growthMiB.toFixed(1)} MiB`);
    const committedMiB = seed.uploadedBytes / 2 ** 20;
    t.diagnostic(
      `handed to the socket: ${committedMiB.toFixed(1)} MiB of ${big.metainfo.totalLength / 2 ** 20}`,
    );
    assert.equal(seed.state, 'seeding');
    // Loopback TCP buffers hold at most ~10 MiB (tcp_wmem + tcp_rmem maxima); the rest must wait for
    // the peer to read, so the seeder keeps at most the read cache (16 MiB) and a small write queue.
    assert.ok(committedMiB < 24, `${committedMiB.toFixed(1)} MiB written for a peer that reads nothing`);
    assert.ok(growthMiB < (gc ? 28 : 40), `memory grew by ${growthMiB.toFixed(1)} MiB`);
  });
});
