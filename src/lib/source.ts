// Reads what names a torrent — a magnet link, a path to a .torrent, or its bytes — for the library
// (client.add) and the CLI commands alike, with the same one-line errors that name the input:
// `bad.torrent: info.pieces: length 41 is not a multiple of 20`. A path is read as a regular file of
// at most the torrent-size cap (a FIFO or /dev/zero is refused, not read forever), and bytes that
// are not a torrent are said to be so without echoing any of them.
import { MagnetError, MetainfoError } from '../protocol/errors.js';
import { isMagnet, type Magnet, parseMagnet } from '../protocol/magnet.js';
import type { Metainfo } from '../protocol/metainfo.js';
import { parseTorrentBytes, readTorrentBytes, TorrentFileError } from '../session/torrent-file.js';
import { UsageError } from '../util/errors.js';

export type Loaded =
  | { kind: 'torrent'; file: string; metainfo: Metainfo; bytes: Uint8Array }
  | { kind: 'magnet'; magnet: Magnet };

/** What errors call .torrent bytes given without a file name. */
export const BYTES_LABEL = '.torrent bytes';

export async function loadTorrentArg(arg: string, signal?: AbortSignal): Promise<Loaded> {
  if (isMagnet(arg)) {
    try {
      return { kind: 'magnet', magnet: parseMagnet(arg) };
    } catch (err) {
      if (err instanceof MagnetError) throw new UsageError(`magnet link: ${err.message}`);
      throw err;
    }
  }
  let bytes: Buffer;
  try {
    bytes = await readTorrentBytes(arg, signal ? { signal } : {});
  } catch (err) {
    if (err instanceof TorrentFileError) throw new UsageError(`${arg}: ${err.message}`);
    throw err;
  }
  return { kind: 'torrent', file: arg, metainfo: parseLabelled(bytes, arg), bytes };
}

/** A magnet link or a path (as the CLI takes them), or the bytes of a .torrent. */
export async function loadSource(source: string | Uint8Array): Promise<Loaded> {
  if (typeof source === 'string') return loadTorrentArg(source);
  if (!(source instanceof Uint8Array))
    throw new UsageError('source: give a magnet link, a path to a .torrent, or its bytes (Uint8Array)');
  return { kind: 'torrent', file: BYTES_LABEL, metainfo: parseLabelled(source, BYTES_LABEL), bytes: source };
}

function parseLabelled(bytes: Uint8Array, label: string): Metainfo {
  try {
    return parseTorrentBytes(bytes);
  } catch (err) {
    if (err instanceof MetainfoError) throw new UsageError(`${label}: ${err.message}`);
    throw err;
  }
}
