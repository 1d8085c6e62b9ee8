// Magnet links against hostile peers (BEP 9 ut_metadata over BEP 10): a scripted peer speaking raw
// wire protocol lies about the info dict (a metadata_size of 2 GB, 0 or past the 16 MiB cap; bytes
// that do not hash to the info hash; a size that differs from the real one). The fetcher must not
// allocate for the lie, must drop the liar, and must still get the right info dict from an honest
// peer (a real Session seeding) and complete the download.
//
// The liar listens on 127.0.0.2 and the honest seeder on 127.0.0.1: the fetcher bans by host, and
// one host for both would ban the honest peer with the liar.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { encode } from '../../../src/protocol/bencode.js';
import { decodeExtensionHandshake } from '../../../src/protocol/extension.js';
import { formatMagnet, type Magnet, parseMagnet } from '../../../src/protocol/magnet.js';
import { type Metainfo, parseMetainfo } from '../../../src/protocol/metainfo.js';
import {
  encodeHandshake,
  encodeMessage,
  FrameReader,
  makeReserved,
} from '../../../src/protocol/peer-wire.js';
import {
  decodeUtMetadata,
  METADATA_PIECE_BYTES,
  metadataPieceCount,
} from '../../../src/protocol/ut-metadata.js';
import { MetadataFetcher } from '../../../src/session/metadata-fetcher.js';
import { Session } from '../../../src/session/session.js';
import { createTorrent } from '../../../src/storage/create-torrent.js';
import type { Torrent } from '../../../src/swarm/torrent.js';

const HONEST_HOST = '127.0.0.1';
const LIAR_HOST = '127.0.0.2';
/** The id under which the liar wants ut_metadata messages. */
const LIAR_UT_METADATA = 3;

interface Fixture {
  dir: string;
  metainfo: Metainfo;
  /** The bencoded info dict, as the honest peer serves it. */
  info: Buffer;
  files: { path: string; bytes: Buffer }[];
}

let root: string;
/** One metadata piece (a small info dict). */
let small: Fixture;
/** Three metadata pieces: many files with long names, little data. */
let wide: Fixture;
let canUseSecondLoopback = true;

async function makeFixture(name: string, files: { path: string; bytes: Buffer }[]): Promise<Fixture> {
  const dir = join(root, `seed-${name}`);
  for (const f of files) {
    await mkdir(join(dir, name, f.path, '..'), { recursive: true });
    await writeFile(join(dir, name, f.path), f.bytes);
  }
  const created = await createTorrent(join(dir, name), {
    pieceLength: 16384,
    creationDate: null,
    threads: 0,
  });
  const metainfo = parseMetainfo(created.torrent);
  return { dir, metainfo, info: Buffer.from(metainfo.infoBytes), files };
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'bitswarm-magnet-hostile-'));
  small = await makeFixture('small', [
    { path: 'a.bin', bytes: randomBytes(100_000) },
    { path: 'b/c.txt', bytes: Buffer.from('hello\n') },
  ]);
  const many: { path: string; bytes: Buffer }[] = [];
  for (let i = 0; i < 450; i++) {
    many.push({
      path: `dir-${i % 7}/file-${String(i).padStart(4, '0')}-${'x'.repeat(40)}.txt`,
      bytes: randomBytes(37),
    });
  }
  wide = await makeFixture('wide', many);
  assert.equal(metadataPieceCount(wide.info.length), 3, `wide info dict is ${wide.info.length} bytes`);
  assert.equal(metadataPieceCount(small.info.length), 1);
  await new Promise<void>((resolve) => {
    const s = createServer();
    s.once('error', () => {
      canUseSecondLoopback = false;
      resolve();
    });
    s.listen(0, LIAR_HOST, () => s.close(() => resolve()));
  });
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------------
// The liar: answers the handshake, advertises ut_metadata with a chosen metadata_size and answers
// requests as told. It records what it was asked and whether the fetcher hung up on it.

interface LiarOptions {
  infoHash: Buffer;
  /** Advertised `metadata_size` (any integer, even absurd ones). */
  metadataSize: number;
  /** The bytes of a requested piece (default: random bytes of the advertised piece length). */
  piece?: (piece: number) => Buffer;
  /** Answer requests this much later (default at once). */
  answerDelayMs?: number;
  /** Answer only the first request of each connection (as one widely used client does). */
  answerFirstOnly?: boolean;
}

interface Liar {
  port: number;
  /** Pieces the fetcher asked for, over every connection. */
  requests: number[];
  connections: number;
  /** Connections the fetcher closed. */
  closed: number;
  closedOnce: Promise<void>;
  stop(): Promise<void>;
}

async function startLiar(o: LiarOptions): Promise<Liar> {
  const sockets = new Set<Socket>();
  let onClosed!: () => void;
  const liar: Liar = {
    port: 0,
    requests: [],
    connections: 0,
    closed: 0,
    closedOnce: new Promise<void>((r) => {
      onClosed = r;
    }),
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  const pieceBytes = (piece: number): Buffer => {
    if (o.piece) return o.piece(piece);
    const len = Math.max(0, Math.min(METADATA_PIECE_BYTES, o.metadataSize - piece * METADATA_PIECE_BYTES));
    return randomBytes(len);
  };
  const server: Server = createServer((sock) => {
    sockets.add(sock);
    liar.connections++;
    sock.on('error', () => undefined);
    sock.on('close', () => {
      sockets.delete(sock);
      liar.closed++;
      onClosed();
    });
    const reader = new FrameReader();
    let shook = false;
    let theirUtMetadata = 0;
    let answered = 0;
    sock.on('data', (chunk: Buffer) => {
      reader.push(chunk);
      try {
        if (!shook) {
          const h = reader.nextHandshake();
          if (!h) return;
          shook = true;
          sock.write(
            encodeHandshake({
              reserved: makeReserved({ extended: true }),
              infoHash: o.infoHash,
              peerId: Buffer.from('-XX0001-liarliarliar'),
            }),
          );
          const hs = encode({
            m: { ut_metadata: LIAR_UT_METADATA },
            metadata_size: o.metadataSize,
            v: 'liar',
          });
          sock.write(encodeMessage({ type: 'extended', id: 0, payload: hs }));
        }
        for (let m = reader.nextMessage(); m; m = reader.nextMessage()) {
          if (m.type !== 'extended') continue;
          if (m.id === 0) {
            theirUtMetadata = decodeExtensionHandshake(m.payload).m.get('ut_metadata') ?? 0;
            continue;
          }
          if (m.id !== LIAR_UT_METADATA) continue;
          const msg = decodeUtMetadata(m.payload);
          if (msg.type !== 'request') continue;
          liar.requests.push(msg.piece);
          if (theirUtMetadata === 0) continue;
          if (o.answerFirstOnly && answered++ > 0) continue;
          const data = pieceBytes(msg.piece);
          const head = encode({ msg_type: 1, piece: msg.piece, total_size: o.metadataSize });
          const reply = encodeMessage({
            type: 'extended',
            id: theirUtMetadata,
            payload: Buffer.concat([head, data]),
          });
          if (!o.answerDelayMs) sock.write(reply);
          else {
            const timer = setTimeout(() => sock.write(reply), o.answerDelayMs);
            sock.once('close', () => clearTimeout(timer));
          }
        }
      } catch {
        sock.destroy();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, LIAR_HOST, resolve));
  const a = server.address();
  liar.port = typeof a === 'object' && a ? a.port : 0;
  return liar;
}

// ---------------------------------------------------------------------------------------------------

/** Dials in plaintext: the scripted peers speak the plain wire, and the tests count their connections. */
function session(): Session {
  return new Session({
    port: 0,
    bind: HONEST_HOST,
    hasherThreads: 0,
    tracker: false,
    dht: false,
    lsd: false,
    encryption: 'off',
  });
}

function bareMagnet(m: Metainfo): Magnet {
  return parseMagnet(formatMagnet({ infoHash: m.infoHash, name: m.name }));
}

function completed(t: Torrent): Promise<void> {
  if (t.complete) return Promise.resolve();
  return new Promise((resolve) => t.once('torrent:complete', () => resolve()));
}

async function sameFiles(f: Fixture, dir: string): Promise<void> {
  for (const file of f.files) {
    const got = await readFile(join(dir, f.metainfo.name, file.path));
    assert.ok(got.equals(file.bytes), `${file.path} differs`);
  }
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * A leecher session fetching `f` by magnet, first from the liar alone; once `honestWhen` resolves,
 * the honest seeder's address is added. Resolves with the downloaded torrent.
 */
async function fetchPastLiar(
  f: Fixture,
  liar: Liar,
  honestWhen: Promise<unknown>,
  dirName: string,
  timeoutMs: number,
): Promise<{ torrent: Torrent; fetcher: MetadataFetcher }> {
  const seeder = session();
  const leecher = session();
  try {
    await seeder.start();
    await seeder.add(f.metainfo, { dir: f.dir });
    await leecher.start();
    let fetcher: MetadataFetcher | undefined;
    const ac = new AbortController();
    const adding = leecher.addMagnet(bareMagnet(f.metainfo), {
      dir: join(root, dirName),
      peers: [{ host: LIAR_HOST, port: liar.port }],
      signal: ac.signal,
      onFetcher: (x) => {
        fetcher = x;
      },
    });
    void honestWhen.then(() => fetcher?.addPeers([{ host: HONEST_HOST, port: seeder.port }]));
    const torrent = await within(adding, timeoutMs, 'the magnet link to resolve').finally(() => ac.abort());
    assert.equal(torrent.metainfo.infoHashHex, f.metainfo.infoHashHex);
    assert.ok(Buffer.from(torrent.metainfo.infoBytes).equals(f.info), 'the info dict is not the honest one');
    await within(completed(torrent), timeoutMs, 'the download to complete');
    await sameFiles(f, join(root, dirName));
    assert.ok(fetcher);
    return { torrent, fetcher };
  } finally {
    await Promise.all([leecher.stop(), seeder.stop()]);
  }
}

describe('hostile metadata', { skip: process.platform !== 'linux' && 'needs 127.0.0.2' }, () => {
  for (const [label, size] of [
    ['2 GB', 2 ** 31],
    ['0', 0],
    ['20 MiB (past the 16 MiB cap)', 20 * 1024 * 1024],
  ] as const) {
    test(`a peer advertising metadata_size ${label}: nothing allocated, never asked, dropped; the download completes`, {
      timeout: 30_000,
    }, async (t) => {
      if (!canUseSecondLoopback) return t.skip('cannot listen on 127.0.0.2');
      const liar = await startLiar({ infoHash: small.metainfo.infoHash, metadataSize: size });
      try {
        global.gc?.();
        const before = process.memoryUsage().arrayBuffers;
        let peak = before;
        const sampler = setInterval(() => {
          peak = Math.max(peak, process.memoryUsage().arrayBuffers);
        }, 5);
        // The honest peer comes once the liar has been dropped, or has been connected for a second.
        const droppedEarly = Promise.race([liar.closedOnce.then(() => true), sleep(1000).then(() => false)]);
        try {
          await fetchPastLiar(small, liar, droppedEarly, `leech-size-${size}`, 20_000);
        } finally {
          clearInterval(sampler);
        }
        t.diagnostic(`arrayBuffers grew by at most ${((peak - before) / 1024 / 1024).toFixed(1)} MiB`);
        assert.ok(peak - before < 16 * 1024 * 1024, `arrayBuffers grew by ${peak - before} bytes`);
        assert.ok(liar.connections >= 1, 'the fetcher never connected to the liar');
        assert.deepEqual(liar.requests, [], 'the liar was asked for metadata');
        assert.equal(await droppedEarly, true, 'the liar was not dropped');
      } finally {
        await liar.stop();
      }
    });
  }

  test('peers advertising an impossible metadata_size are dropped, not kept in a fetch slot', {
    timeout: 30_000,
  }, async (t) => {
    if (!canUseSecondLoopback) return t.skip('cannot listen on 127.0.0.2');
    const liars = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        startLiar({ infoHash: small.metainfo.infoHash, metadataSize: i % 2 === 0 ? 0 : 2 ** 31 }),
      ),
    );
    try {
      // All twenty fill the fetcher's connection slots before the honest peer is known.
      const allConnected = (async () => {
        while (liars.some((l) => l.connections === 0)) await sleep(20);
        await sleep(500);
      })();
      const seeder = session();
      const leecher = session();
      try {
        await seeder.start();
        await seeder.add(small.metainfo, { dir: small.dir });
        await leecher.start();
        let fetcher: MetadataFetcher | undefined;
        const ac = new AbortController();
        const adding = leecher.addMagnet(bareMagnet(small.metainfo), {
          dir: join(root, 'leech-starved'),
          peers: liars.map((l) => ({ host: LIAR_HOST, port: l.port })),
          signal: ac.signal,
          onFetcher: (x) => {
            fetcher = x;
          },
        });
        await allConnected;
        fetcher?.addPeers([{ host: HONEST_HOST, port: seeder.port }]);
        const torrent = await within(adding, 15_000, 'the magnet link to resolve').finally(() => ac.abort());
        assert.equal(torrent.metainfo.infoHashHex, small.metainfo.infoHashHex);
        assert.ok(
          liars.every((l) => l.closed >= 1),
          'some liars were kept',
        );
      } finally {
        await Promise.all([leecher.stop(), seeder.stop()]);
      }
    } finally {
      await Promise.all(liars.map((l) => l.stop()));
    }
  });

  test('metadata that does not hash to the info hash: the liar is dropped, the honest peer supplies it', {
    timeout: 30_000,
  }, async (t) => {
    if (!canUseSecondLoopback) return t.skip('cannot listen on 127.0.0.2');
    const liar = await startLiar({ infoHash: small.metainfo.infoHash, metadataSize: small.info.length });
    try {
      const started = Date.now();
      await fetchPastLiar(small, liar, liar.closedOnce, 'leech-bad-hash', 20_000);
      t.diagnostic(`complete ${Date.now() - started} ms after the start`);
      // The honest peer was only added once the liar had been dropped (else this never completes).
      assert.deepEqual(liar.requests, [0], 'the liar was asked for the one metadata piece, once');
      assert.equal(liar.connections, 1, 'the banned liar was dialled again');
    } finally {
      await liar.stop();
    }
  });

  test('a liar whose advertised size differs from the real one does not lock the fetch to its size', {
    timeout: 30_000,
  }, async (t) => {
    if (!canUseSecondLoopback) return t.skip('cannot listen on 127.0.0.2');
    const liar = await startLiar({
      infoHash: small.metainfo.infoHash,
      metadataSize: small.info.length + 100,
    });
    try {
      await fetchPastLiar(small, liar, liar.closedOnce, 'leech-bad-size', 15_000);
    } finally {
      await liar.stop();
    }
  });

  test('a liar sending some of the pieces of a 3-piece info dict does not get the honest peer banned', {
    timeout: 30_000,
  }, async (t) => {
    if (!canUseSecondLoopback) return t.skip('cannot listen on 127.0.0.2');
    const liar = await startLiar({
      infoHash: wide.metainfo.infoHash,
      metadataSize: wide.info.length,
      answerDelayMs: 1000,
    });
    try {
      // The liar is asked first (pieces 0 and 1, two in flight per peer) and answers garbage a second
      // later; the honest peer, added meanwhile, supplies piece 2. Only the whole fails the hash, so
      // the fetcher cannot tell who lied: it must not ban both for good.
      const asked = (async () => {
        while (liar.requests.length === 0) await sleep(10);
      })();
      await fetchPastLiar(wide, liar, asked, 'leech-mixed', 15_000);
      assert.deepEqual(liar.requests.slice(0, 2), [0, 1], 'the liar was not the first source');
      t.diagnostic(
        `the liar was asked for pieces ${liar.requests.join(' ')} over ${liar.connections} connection(s)`,
      );
    } finally {
      await liar.stop();
    }
  });

  test('a peer that answers only the first of two pipelined requests still gives the metadata', {
    timeout: 30_000,
  }, async (t) => {
    if (!canUseSecondLoopback) return t.skip('cannot listen on 127.0.0.2');
    // Honest bytes, but only the first request of each connection is answered: the fetcher must
    // not wait on the second for ever (issue 21): a new connection, then one request at a time.
    const peer = await startLiar({
      infoHash: wide.metainfo.infoHash,
      metadataSize: wide.info.length,
      piece: (i) => wide.info.subarray(i * METADATA_PIECE_BYTES, (i + 1) * METADATA_PIECE_BYTES),
      answerFirstOnly: true,
    });
    const fetcher = new MetadataFetcher({
      infoHash: wide.metainfo.infoHash,
      peerId: Buffer.from('-BM0100-fetcherfetch'),
      port: 1,
      requestTimeoutMs: 500,
    });
    try {
      fetcher.addPeers([{ host: LIAR_HOST, port: peer.port }]);
      const ac = new AbortController();
      const got = await within(fetcher.fetch(ac.signal), 20_000, 'the metadata from the half-answering peer');
      assert.ok(Buffer.from(got.infoBytes).equals(wide.info));
      assert.ok(peer.connections >= 2, 'the unanswered request was asked again on a new connection');
      t.diagnostic(`asked ${peer.requests.join(' ')} over ${peer.connections} connections`);
    } finally {
      fetcher.stop();
      await peer.stop();
    }
  });
});
