// ut_metadata (BEP 9): fetching the info dict from peers, for magnet links. The message codec
// (a small bencoded dict, followed by the piece bytes for `data`) and a pure assembler that collects
// the 16 KiB metadata pieces and checks their SHA-1 against the info hash. No I/O, no timers: the
// peer layer sends the requests the assembler says are missing and drops peers whose pieces are bad.

import { createHash } from 'node:crypto';
import { type BValue, decode, encode, isDict } from './bencode.js';

/** Metadata is exchanged in pieces of 16 KiB (the last one shorter). */
export const METADATA_PIECE_BYTES = 16 * 1024;
/** Larger info dicts are refused before anything is allocated for them. */
export const MAX_METADATA_BYTES = 16 * 1024 * 1024;
const MAX_PIECES = MAX_METADATA_BYTES / METADATA_PIECE_BYTES;
/** The dict in front of a data piece is tiny; more than this is not a real message. */
const MAX_HEADER_BYTES = 1024;

export const UtMetadataType = { request: 0, data: 1, reject: 2 } as const;

export class UtMetadataError extends Error {
  override readonly name = 'UtMetadataError';
  readonly code = 'ERR_UT_METADATA';
}

export type UtMetadataMessage =
  | { type: 'request'; piece: number }
  | { type: 'data'; piece: number; totalSize: number; data: Uint8Array }
  | { type: 'reject'; piece: number }
  /** BEP 9: a message type we do not know is ignored, not fatal. */
  | { type: 'unknown'; msgType: number };

/** Number of 16 KiB pieces of a metadata blob. */
export function metadataPieceCount(metadataSize: number): number {
  return Math.ceil(metadataSize / METADATA_PIECE_BYTES);
}

export function encodeUtMetadata(msg: Exclude<UtMetadataMessage, { type: 'unknown' }>): Buffer {
  checkPiece(msg.piece);
  if (msg.type === 'data') {
    if (msg.data.length > METADATA_PIECE_BYTES)
      throw new RangeError(`piece data of ${msg.data.length} bytes`);
    const head = encode({ msg_type: UtMetadataType.data, piece: msg.piece, total_size: msg.totalSize });
    return Buffer.concat([head, msg.data]);
  }
  return encode({ msg_type: UtMetadataType[msg.type], piece: msg.piece });
}

function checkPiece(piece: number): void {
  if (!Number.isInteger(piece) || piece < 0 || piece >= MAX_PIECES) throw new RangeError(`piece ${piece}`);
}

/** Decodes one ut_metadata payload (what follows the extended message id). Throws UtMetadataError. */
export function decodeUtMetadata(payload: Uint8Array): UtMetadataMessage {
  let value: BValue;
  let end: number;
  try {
    const r = decode(payload.subarray(0, Math.min(payload.length, MAX_HEADER_BYTES)), {
      maxDepth: 4,
      maxItems: 64,
      lenient: true,
      allowTrailing: true,
    });
    value = r.value;
    end = r.end;
  } catch (err) {
    throw new UtMetadataError('ut_metadata message does not start with a bencoded dict', { cause: err });
  }
  if (!isDict(value)) throw new UtMetadataError('ut_metadata message is not a dict');
  const msgType = value.get('msg_type');
  if (typeof msgType !== 'number')
    throw new UtMetadataError('ut_metadata message without an integer msg_type');
  if (msgType !== 0 && msgType !== 1 && msgType !== 2) return { type: 'unknown', msgType };
  const piece = value.get('piece');
  if (typeof piece !== 'number' || piece < 0 || piece >= MAX_PIECES) {
    throw new UtMetadataError(`ut_metadata piece index out of range: ${String(piece)}`);
  }
  if (msgType === UtMetadataType.request) return { type: 'request', piece };
  if (msgType === UtMetadataType.reject) return { type: 'reject', piece };
  const totalSize = value.get('total_size');
  if (typeof totalSize !== 'number' || totalSize <= 0 || totalSize > MAX_METADATA_BYTES) {
    throw new UtMetadataError(`ut_metadata total_size out of range: ${String(totalSize)}`);
  }
  const data = payload.subarray(end);
  if (data.length > METADATA_PIECE_BYTES) {
    throw new UtMetadataError(`ut_metadata piece of ${data.length} bytes is larger than 16 KiB`);
  }
  return { type: 'data', piece, totalSize, data };
}

/** The bytes of one metadata piece of an info dict we have, for answering a request; undefined if out of range. */
export function metadataPiece(info: Uint8Array, piece: number): Uint8Array | undefined {
  if (!Number.isInteger(piece) || piece < 0 || piece >= metadataPieceCount(info.length)) return undefined;
  return info.subarray(
    piece * METADATA_PIECE_BYTES,
    Math.min(info.length, (piece + 1) * METADATA_PIECE_BYTES),
  );
}

export type AssembleResult =
  | { status: 'incomplete' }
  | { status: 'complete'; info: Buffer }
  /** All pieces arrived but their SHA-1 is not the info hash: the assembler has started over. */
  | { status: 'mismatch' };

/**
 * Collects the metadata pieces of one torrent. Throws UtMetadataError (before allocating anything) for
 * a size of 0 or past 16 MiB, and for a piece of the wrong index or length: the caller drops that peer.
 */
export class MetadataAssembler {
  readonly metadataSize: number;
  readonly pieceCount: number;
  readonly #infoHash: Buffer;
  #pieces: (Uint8Array | undefined)[];
  #received = 0;

  constructor(metadataSize: number, infoHash: Uint8Array) {
    if (!Number.isSafeInteger(metadataSize) || metadataSize <= 0 || metadataSize > MAX_METADATA_BYTES) {
      throw new UtMetadataError(`metadata size ${metadataSize} is out of range (1 byte to 16 MiB)`);
    }
    if (infoHash.length !== 20) throw new UtMetadataError(`info hash of ${infoHash.length} bytes`);
    this.metadataSize = metadataSize;
    this.pieceCount = metadataPieceCount(metadataSize);
    this.#infoHash = Buffer.from(infoHash);
    this.#pieces = new Array<Uint8Array | undefined>(this.pieceCount).fill(undefined);
  }

  /** Expected length of one piece. */
  pieceLength(piece: number): number {
    if (piece === this.pieceCount - 1) return this.metadataSize - piece * METADATA_PIECE_BYTES;
    return METADATA_PIECE_BYTES;
  }

  has(piece: number): boolean {
    return this.#pieces[piece] !== undefined;
  }

  /** Indices of the pieces still to request, lowest first. */
  missing(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.pieceCount; i++) if (this.#pieces[i] === undefined) out.push(i);
    return out;
  }

  get receivedCount(): number {
    return this.#received;
  }

  /** Forgets every piece received (after a mismatch, or when the sender turned out to be bad). */
  reset(): void {
    this.#pieces = new Array<Uint8Array | undefined>(this.pieceCount).fill(undefined);
    this.#received = 0;
  }

  /** Takes one piece (a `data` message's fields). A duplicate is ignored. */
  add(piece: number, data: Uint8Array, totalSize: number = this.metadataSize): AssembleResult {
    if (totalSize !== this.metadataSize) {
      throw new UtMetadataError(`total_size ${totalSize} differs from the announced ${this.metadataSize}`);
    }
    if (!Number.isInteger(piece) || piece < 0 || piece >= this.pieceCount) {
      throw new UtMetadataError(`piece ${piece} out of range (${this.pieceCount} pieces)`);
    }
    const want = this.pieceLength(piece);
    if (data.length !== want)
      throw new UtMetadataError(`piece ${piece} has ${data.length} bytes, not ${want}`);
    if (this.#pieces[piece] !== undefined) return { status: 'incomplete' };
    // A copy: the data is usually a view into a connection's read buffer.
    this.#pieces[piece] = Uint8Array.from(data);
    this.#received++;
    if (this.#received < this.pieceCount) return { status: 'incomplete' };
    const info = Buffer.concat(this.#pieces as Uint8Array[], this.metadataSize);
    const digest = createHash('sha1').update(info).digest();
    // A v2-only torrent is known by the first 20 bytes of the info dict's SHA-256 (BEP 52).
    const v2 = () => createHash('sha256').update(info).digest().subarray(0, 20);
    if (!digest.equals(this.#infoHash) && !v2().equals(this.#infoHash)) {
      this.reset();
      return { status: 'mismatch' };
    }
    return { status: 'complete', info };
  }
}
