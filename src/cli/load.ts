// Reads the <torrent|magnet> argument that several commands take, with one-line errors that name
// the file: `bad.torrent: info.pieces: length 41 is not a multiple of 20`.
import { readFile } from 'node:fs/promises';
import { MagnetError, MetainfoError } from '../protocol/errors.js';
import { isMagnet, type Magnet, parseMagnet } from '../protocol/magnet.js';
import { type Metainfo, parseMetainfo } from '../protocol/metainfo.js';
import { UsageError } from '../util/errors.js';

export type Loaded =
  | { kind: 'torrent'; file: string; metainfo: Metainfo }
  | { kind: 'magnet'; magnet: Magnet };

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
  try {
    return { kind: 'torrent', file: arg, metainfo: parseMetainfo(bytes) };
  } catch (err) {
    if (err instanceof MetainfoError) throw new UsageError(`${arg}: ${err.message}`);
    throw err;
  }
}
