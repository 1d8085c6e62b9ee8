// Reads what names a torrent — a magnet link, a path to a .torrent, or its bytes — for the library
// (client.add) and the CLI commands alike, with the same one-line errors that name the input:
// `bad.torrent: info.pieces: length 41 is not a multiple of 20`.
import { readFile } from 'node:fs/promises';
import { MagnetError, MetainfoError } from '../protocol/errors.js';
import { isMagnet, type Magnet, parseMagnet } from '../protocol/magnet.js';
import { type Metainfo, parseMetainfo } from '../protocol/metainfo.js';
import { UsageError } from '../util/errors.js';

export type Loaded =
  | { kind: 'torrent'; file: string; metainfo: Metainfo }
  | { kind: 'magnet'; magnet: Magnet };

/** What errors call .torrent bytes given without a file name. */
export const BYTES_LABEL = '.torrent bytes';

export async function loadTorrentArg(arg: string): Promise<Loaded> {
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
    bytes = await readFile(arg);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EISDIR'
          ? 'is a directory, not a .torrent'
          : (err as Error).message;
    throw new UsageError(`${arg}: ${why}`);
  }
  return { kind: 'torrent', file: arg, metainfo: parseTorrentBytes(bytes, arg) };
}

/** A magnet link or a path (as the CLI takes them), or the bytes of a .torrent. */
export async function loadSource(source: string | Uint8Array): Promise<Loaded> {
  if (typeof source === 'string') return loadTorrentArg(source);
  if (!(source instanceof Uint8Array))
    throw new UsageError('source: give a magnet link, a path to a .torrent, or its bytes (Uint8Array)');
  return { kind: 'torrent', file: BYTES_LABEL, metainfo: parseTorrentBytes(source, BYTES_LABEL) };
}

function parseTorrentBytes(bytes: Uint8Array, label: string): Metainfo {
  try {
    return parseMetainfo(bytes);
  } catch (err) {
    if (err instanceof MetainfoError) throw new UsageError(`${label}: ${err.message}`);
    throw err;
  }
}
