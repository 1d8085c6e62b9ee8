// Reading a .torrent from a path the user (or an API caller) names, safely:
// - regular files only: the file is opened without blocking (a FIFO would wait for a writer) and
//   fstat'ed; a FIFO, a device (/dev/zero), a socket or a folder is refused with one line;
// - at most MAX_TORRENT_BYTES + 1 bytes are read, whatever the file claims or keeps producing;
// - the read is abortable (a signal checked between chunks), so a stopping process never waits on it;
// - errors about a file that is not a torrent never echo its content: "not a torrent file: …", with
//   a byte offset at most (an API caller must not learn the first bytes of any file it can name).

import { constants } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { BencodeError, MetainfoError } from '../protocol/errors.js';
import { MAX_TORRENT_BYTES, type Metainfo, parseMetainfo } from '../protocol/metainfo.js';

/** A .torrent path that cannot be read as one: missing, not a regular file, too large, unreadable. */
export class TorrentFileError extends Error {
  override readonly name = 'TorrentFileError';
  readonly code = 'ERR_TORRENT_FILE';
}

export interface ReadTorrentOptions {
  signal?: AbortSignal;
  /** Bytes a torrent may have (default MAX_TORRENT_BYTES). */
  maxBytes?: number;
  /** Bytes per read call (tests). */
  chunkBytes?: number;
}

const O_NONBLOCK = constants.O_NONBLOCK ?? 0;
const O_NOCTTY = constants.O_NOCTTY ?? 0;

function kindOf(st: {
  isDirectory(): boolean;
  isFIFO(): boolean;
  isCharacterDevice(): boolean;
  isBlockDevice(): boolean;
  isSocket(): boolean;
}): string {
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** The bytes of the regular file at `path`, at most `maxBytes` (TorrentFileError otherwise). */
export async function readTorrentBytes(path: string, options: ReadTorrentOptions = {}): Promise<Buffer> {
  const maxBytes = options.maxBytes ?? MAX_TORRENT_BYTES;
  const chunkBytes = options.chunkBytes ?? 1024 * 1024;
  const signal = options.signal;
  signal?.throwIfAborted();
  let fh: FileHandle;
  try {
    // Non-blocking: opening a FIFO for reading would otherwise wait (in the thread pool) for a writer.
    fh = await open(path, constants.O_RDONLY | O_NONBLOCK | O_NOCTTY);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EISDIR'
          ? 'is a folder, not a .torrent'
          : code === 'EACCES' || code === 'EPERM'
            ? 'permission denied'
            : code === 'ENXIO'
              ? 'is not a regular file'
              : `cannot open (${code ?? 'error'})`;
    throw new TorrentFileError(why, { cause: err });
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) {
      const kind = kindOf(st);
      throw new TorrentFileError(
        kind === 'a folder'
          ? 'is a folder, not a .torrent'
          : `is ${kind === 'not a regular file' ? kind : `${kind}, not a regular file`}`,
      );
    }
    if (st.size > maxBytes) {
      throw new TorrentFileError(`is ${st.size} bytes, more than the ${maxBytes} a torrent may be`);
    }
    // The size is a hint (a file may grow while we read): never more than maxBytes + 1 bytes.
    let buf = Buffer.allocUnsafe(Math.min(maxBytes + 1, Math.max(st.size + 1, 4096)));
    let length = 0;
    for (;;) {
      signal?.throwIfAborted();
      if (length === buf.length) {
        if (buf.length > maxBytes) break;
        const bigger = Buffer.allocUnsafe(Math.min(maxBytes + 1, buf.length * 2));
        buf.copy(bigger, 0, 0, length);
        buf = bigger;
      }
      const { bytesRead } = await fh.read(buf, length, Math.min(chunkBytes, buf.length - length), null);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    signal?.throwIfAborted();
    if (length > maxBytes) throw new TorrentFileError(`is more than the ${maxBytes} bytes a torrent may be`);
    return buf.subarray(0, length);
  } finally {
    await fh.close().catch(() => undefined); // read-only: a failed close loses nothing
  }
}

/**
 * The same error with a message that echoes nothing of the bytes when they are not a torrent at all
 * (not bencode, or not a dictionary): "not a torrent file: …". Field errors of a real torrent
 * (`info.pieces: …`) are kept as they are.
 */
export function contentFreeError(err: unknown): unknown {
  if (!(err instanceof MetainfoError) || err.field !== '') return err;
  if (err.cause instanceof BencodeError) {
    return new MetainfoError('', `not a torrent file: bad bencode at byte ${err.cause.offset}`, {
      cause: err,
    });
  }
  if (err.message.startsWith('not a torrent')) {
    return new MetainfoError('', 'not a torrent file: it is not a bencoded dictionary', { cause: err });
  }
  return err;
}

/** Parses .torrent bytes; a MetainfoError about bytes that are not a torrent echoes none of them. */
export function parseTorrentBytes(bytes: Uint8Array): Metainfo {
  try {
    return parseMetainfo(bytes);
  } catch (err) {
    throw contentFreeError(err);
  }
}

/** Reads and parses the .torrent at `path` (see readTorrentBytes and parseTorrentBytes). */
export async function readTorrentFile(path: string, options: ReadTorrentOptions = {}): Promise<Metainfo> {
  return parseTorrentBytes(await readTorrentBytes(path, options));
}
