// Reading a file of a torrent while it downloads: only verified bytes, read back from storage after
// their piece passed its hash check; a read of a piece not verified yet waits for it and claims it
// (Torrent.prioritize), with a window of the pieces ahead of the reader, so the piece picker asks
// for them first (deadlines, fastest peers, duplicate requests once due). A reader that seeks moves
// its claim; a closed reader drops it. For audio and video, the file's last pieces are claimed right
// after the first one: a player reads the start, then the index at the end (an MP4's `moov`).

import { Readable } from 'node:stream';
import type { Metainfo } from '../protocol/metainfo.js';
import { isMedia } from './media-type.js';

/** What a reader needs of a torrent (a swarm Torrent has it). */
export interface ReadableTorrent {
  readonly metainfo: Metainfo;
  readonly bitfield: { get(piece: number): boolean };
  prioritize(owner: object, pieces: readonly number[]): void;
  waitForPiece(piece: number, signal?: AbortSignal): Promise<void>;
  readVerified(piece: number, offset: number, length: number): Promise<Buffer>;
}

export interface FileReadOptions {
  /** First byte (default 0). */
  start?: number;
  /** Last byte, inclusive as in `fs.createReadStream` (default: the file's last byte). */
  end?: number;
  /** Bytes ahead of the reader claimed with it (default 8 MiB, at least two pieces). */
  windowBytes?: number;
  /** Claim the file's first and last pieces first when it is audio or video (default: by its name). */
  media?: boolean;
}

/** Most bytes one read returns. */
const CHUNK_BYTES = 1024 * 1024;
const DEFAULT_WINDOW_BYTES = 8 * 1024 * 1024;
/**
 * Of an audio or video file, the last bytes claimed early (at least the last piece): enough for the
 * index of a short clip; a player that wants more asks for it, and that read claims it.
 */
const MEDIA_TAIL_BYTES = 256 * 1024;

export class StreamRangeError extends RangeError {
  override readonly name = 'StreamRangeError';
  readonly code = 'ERR_STREAM_RANGE';
}

/** Reads bytes [start, end] of file `fileIndex`, in order, waiting for each piece to be verified. */
export class FileReader {
  readonly #t: ReadableTorrent;
  readonly #fileOffset: number;
  readonly #fileLength: number;
  readonly #end: number;
  readonly #window: number;
  readonly #tail: readonly number[];
  readonly #ac = new AbortController();
  #pos: number;
  /** The piece the current claim starts at (-1: none yet). */
  #claimedFrom = -1;

  constructor(torrent: ReadableTorrent, fileIndex: number, o: FileReadOptions = {}) {
    const m = torrent.metainfo;
    const f = m.files[fileIndex];
    if (!Number.isInteger(fileIndex) || f === undefined)
      throw new StreamRangeError(`file ${fileIndex} does not exist (the torrent has ${m.files.length})`);
    const start = o.start ?? 0;
    const end = o.end ?? f.length - 1;
    if (!Number.isSafeInteger(start) || start < 0)
      throw new StreamRangeError(`start ${start} is not a byte offset`);
    if (!Number.isSafeInteger(end) || end < start - 1 || end >= f.length)
      throw new StreamRangeError(
        `end ${end} is outside file ${fileIndex} of ${f.length} bytes (start ${start})`,
      );
    this.#t = torrent;
    this.#fileOffset = f.offset;
    this.#fileLength = f.length;
    this.#pos = start;
    this.#end = end;
    this.#window = Math.max(o.windowBytes ?? DEFAULT_WINDOW_BYTES, 2 * m.pieceLength);
    const media = o.media ?? isMedia(f.path[f.path.length - 1] ?? '');
    this.#tail =
      media && f.length > 0 ? this.#piecesOf(Math.max(0, f.length - MEDIA_TAIL_BYTES), f.length - 1) : [];
  }

  /** The next byte to read. */
  get position(): number {
    return this.#pos;
  }

  get closed(): boolean {
    return this.#ac.signal.aborted;
  }

  /** Moves to `position` (a file offset): the claim moves with it. */
  seek(position: number): void {
    if (!Number.isSafeInteger(position) || position < 0 || position > this.#end + 1)
      throw new StreamRangeError(`cannot seek to ${position} (range ends at ${this.#end})`);
    this.#pos = position;
    if (!this.closed) this.#claim(true);
  }

  /**
   * The next bytes (at most one piece's remainder, at most 1 MiB), once verified; null at the end.
   * Rejects when the reader is closed, or the torrent stops, while it waits.
   */
  async read(): Promise<Buffer | null> {
    if (this.closed) throw new StreamRangeError('the reader is closed');
    if (this.#pos > this.#end) {
      this.close();
      return null;
    }
    const pl = this.#t.metainfo.pieceLength;
    const abs = this.#fileOffset + this.#pos;
    const piece = Math.floor(abs / pl);
    const length = Math.min(this.#end + 1 - this.#pos, (piece + 1) * pl - abs, CHUNK_BYTES);
    if (!this.#t.bitfield.get(piece)) {
      this.#claim(false);
      await this.#t.waitForPiece(piece, this.#ac.signal);
    }
    const data = await this.#t.readVerified(piece, abs - piece * pl, length);
    if (this.closed) throw new StreamRangeError('the reader is closed');
    this.#pos += length;
    this.#claim(false);
    return data;
  }

  /** Drops the claim; a read waiting for a piece rejects. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.#ac.abort(new StreamRangeError('the reader is closed'));
    this.#t.prioritize(this, []);
  }

  /** Claims the window from the reader's piece on (again when it moved to another piece). */
  #claim(force: boolean): void {
    if (this.#pos > this.#end) {
      this.#t.prioritize(this, []);
      return;
    }
    const pl = this.#t.metainfo.pieceLength;
    const from = Math.floor((this.#fileOffset + this.#pos) / pl);
    if (!force && from === this.#claimedFrom) return;
    this.#claimedFrom = from;
    const windowEnd = Math.min(this.#end, this.#pos + this.#window - 1);
    const window = this.#piecesOf(this.#pos, windowEnd);
    const seen = new Set<number>();
    const claim: number[] = [];
    for (const p of [window[0]!, ...this.#tail, ...window.slice(1)]) {
      if (seen.has(p) || this.#t.bitfield.get(p)) continue;
      seen.add(p);
      claim.push(p);
    }
    this.#t.prioritize(this, claim);
  }

  /** The pieces that hold file bytes [from, to] (to ≥ from). */
  #piecesOf(from: number, to: number): number[] {
    const pl = this.#t.metainfo.pieceLength;
    const first = Math.floor((this.#fileOffset + from) / pl);
    const last = Math.floor((this.#fileOffset + Math.min(to, this.#fileLength - 1)) / pl);
    const out: number[] = [];
    for (let p = first; p <= last; p++) out.push(p);
    return out;
  }
}

/** Of an audio or video file, the first bytes claimed before any player asks (see claimMediaEnds). */
const MEDIA_HEAD_BYTES = 1024 * 1024;

/**
 * Claims the start and the last pieces of an audio or video file (what a player reads first: the
 * first piece, the index at the end, then the next pieces) before any player asks; returns what drops
 * the claim. Nothing is claimed for other files.
 */
export function claimMediaEnds(torrent: ReadableTorrent, fileIndex: number): () => void {
  const f = torrent.metainfo.files[fileIndex];
  if (f === undefined || f.length === 0 || !isMedia(f.path[f.path.length - 1] ?? '')) return () => undefined;
  const pl = torrent.metainfo.pieceLength;
  const first = Math.floor(f.offset / pl);
  const last = Math.floor((f.offset + f.length - 1) / pl);
  const tailFrom = Math.floor((f.offset + Math.max(0, f.length - MEDIA_TAIL_BYTES)) / pl);
  const headTo = Math.floor((f.offset + Math.min(f.length, MEDIA_HEAD_BYTES) - 1) / pl);
  const pieces = [first];
  for (let p = Math.max(tailFrom, first + 1); p <= last; p++) pieces.push(p);
  for (let p = first + 1; p <= headTo && p < tailFrom; p++) pieces.push(p);
  const owner = {};
  torrent.prioritize(owner, pieces);
  return () => torrent.prioritize(owner, []);
}

/**
 * A Readable of bytes [start, end] of a torrent's file (end inclusive, as in `fs`), waiting for pieces
 * as FileReader does; destroying it drops its claim.
 */
export function createFileReadStream(
  torrent: ReadableTorrent,
  fileIndex: number,
  o: FileReadOptions = {},
): Readable {
  const reader = new FileReader(torrent, fileIndex, o);
  return new Readable({
    highWaterMark: CHUNK_BYTES,
    read() {
      reader.read().then(
        (data) => this.push(data),
        (err: Error) => {
          if (!this.destroyed) this.destroy(err);
        },
      );
    },
    destroy(err, callback) {
      reader.close();
      callback(err);
    },
  });
}
