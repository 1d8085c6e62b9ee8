// A two-peer swarm on loopback for the streaming tests: a seeder (optionally rate-limited) and a
// leecher that starts with nothing, both in this process.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { type Metainfo, parseMetainfo } from '../../../src/protocol/metainfo.js';
import { Session } from '../../../src/session/session.js';
import { createTorrent } from '../../../src/storage/create-torrent.js';
import type { Torrent } from '../../../src/swarm/torrent.js';

export interface StreamSwarm {
  root: string;
  metainfo: Metainfo;
  /** The .torrent file's bytes. */
  torrentBytes: Buffer;
  seeder: Torrent;
  seederSession: Session;
  leecher: Torrent;
  leecherSession: Session;
  /** The bytes of each file, by the torrent's file index. */
  bytes: Buffer[];
  /** Pieces of the leecher in the order they were verified. */
  verifiedOrder: number[];
  stop(): Promise<void>;
}

/**
 * Files under one folder (a multi-file torrent when there are several, else a single file), seeded
 * at `uploadLimit` bytes per second (0: unlimited). `leecher: false` starts no leecher download.
 */
export async function streamSwarm(
  files: { name: string; bytes: Buffer }[],
  o: { pieceLength: number; uploadLimit: number; leecherWindowBytes?: number },
): Promise<StreamSwarm> {
  const root = await mkdtemp(join(tmpdir(), 'bitswarm-stream-'));
  const sessions: Session[] = [];
  try {
    const dataDir = join(root, 'seed');
    const multi = files.length > 1;
    for (const f of files) {
      const p = multi ? join(dataDir, 'media', f.name) : join(dataDir, f.name);
      await mkdir(dirname(p), { recursive: true });
      await writeFile(p, f.bytes);
    }
    const target = multi ? join(dataDir, 'media') : join(dataDir, files[0]!.name);
    const created = await createTorrent(target, {
      pieceLength: o.pieceLength,
      creationDate: null,
      threads: 0,
    });
    const metainfo = parseMetainfo(created.torrent);
    const seederSession = new Session({
      port: 0,
      bind: '127.0.0.1',
      hasherThreads: 0,
      dht: false,
      lsd: false,
      // The reader's order is under test: the seeder announces every piece from the start (initial
      // seeding offers a lone leecher its pieces in order, and everything after a few seconds).
      superSeed: false,
    });
    sessions.push(seederSession);
    await seederSession.start();
    const seeder = await seederSession.add(metainfo, { dir: dataDir, uploadLimitBytesPerSec: o.uploadLimit });
    const leecherSession = new Session({
      port: 0,
      bind: '127.0.0.1',
      hasherThreads: 0,
      dht: false,
      lsd: false,
    });
    sessions.push(leecherSession);
    await leecherSession.start();
    const verifiedOrder: number[] = [];
    const leecher = await leecherSession.add(metainfo, {
      dir: join(root, 'leech'),
      peers: [{ host: '127.0.0.1', port: seederSession.port }],
      onTorrent: (t) => t.on('piece:verified', (p) => verifiedOrder.push(p)),
    });
    // The torrent's files in its own order (createTorrent sorts a folder's files by path).
    const byPath = new Map(files.map((f) => [f.name, f.bytes]));
    const bytes = metainfo.files.map((f) => byPath.get(f.path[f.path.length - 1]!)!);
    return {
      root,
      metainfo,
      torrentBytes: created.torrent,
      seeder,
      seederSession,
      leecher,
      leecherSession,
      bytes,
      verifiedOrder,
      stop: async () => {
        await Promise.all(sessions.map((s) => s.stop()));
        await rm(root, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await Promise.all(sessions.map((s) => s.stop()));
    await rm(root, { recursive: true, force: true });
    throw err;
  }
}

/** Every chunk of a readable, concatenated. */
export async function collect(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(chunk);
  return Buffer.concat(parts);
}
