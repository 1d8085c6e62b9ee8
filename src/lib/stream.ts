// Streams of the library: a TorrentFile's bytes while it downloads (createReadStream, async
// iteration) and client.createServer(). A library Torrent outlives the swarm objects its manager
// starts and stops; a read goes to the swarm running when it reads, and fails when none runs (the
// torrent is paused or queued).

import { createServer, type Server } from 'node:http';
import type { Readable } from 'node:stream';
import type { Metainfo } from '../protocol/metainfo.js';
import { createFileReadStream, type ReadableTorrent } from '../stream/file-reader.js';
import { createStreamHandler } from '../stream/http-server.js';
import type { Torrent as SwarmTorrent } from '../swarm/torrent.js';
import { TorrentError } from './errors.js';

/** What a read needs of a library Torrent. */
export interface SwarmSource {
  readonly name: string;
  readonly swarm: SwarmTorrent | undefined;
}

/** A ReadableTorrent over whatever swarm object `source` runs now. */
export function liveTorrent(source: SwarmSource, metainfo: Metainfo): ReadableTorrent {
  const idle = (): Promise<never> =>
    Promise.reject(new TorrentError(`${source.name}: not running (paused or queued): nothing to read from`));
  return {
    metainfo,
    bitfield: { get: (p) => source.swarm?.bitfield.get(p) ?? false },
    prioritize: (owner, pieces) => source.swarm?.prioritize(owner, pieces),
    waitForPiece: (p, signal) => source.swarm?.waitForPiece(p, signal) ?? idle(),
    readVerified: (p, offset, length) => source.swarm?.readVerified(p, offset, length) ?? idle(),
  };
}

export interface ReadStreamOptions {
  /** First byte (default 0). */
  start?: number;
  /** Last byte, inclusive as in `fs.createReadStream` (default: the file's last byte). */
  end?: number;
}

export function fileReadStream(
  source: SwarmSource,
  metainfo: Metainfo,
  fileIndex: number,
  o: ReadStreamOptions = {},
): Readable {
  return createFileReadStream(liveTorrent(source, metainfo), fileIndex, {
    ...(o.start !== undefined ? { start: o.start } : {}),
    ...(o.end !== undefined ? { end: o.end } : {}),
  });
}

/** An http.Server (not listening yet) serving `/<infoHash>/<fileIndex>` of the torrents `list` gives. */
export function streamServer(
  list: () => readonly (SwarmSource & { infoHash: string; metainfo: Metainfo | undefined })[],
): Server {
  const sources = (): ReadableTorrent[] =>
    list().flatMap((t) => (t.metainfo ? [liveTorrent(t, t.metainfo)] : []));
  return createServer(
    createStreamHandler({
      get: (hex) => sources().find((t) => t.metainfo.infoHashHex === hex),
      list: sources,
    }),
  );
}
