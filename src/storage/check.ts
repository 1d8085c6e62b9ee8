// Hash check of the data already on disk, when a torrent is added or rechecked: which pieces do we
// have? Pieces whose bytes cannot be on disk (`mayHave` false) are skipped without reading, so a fresh
// download checks in moments. The rest are read and hashed a few at a time in the hasher pool, so
// memory stays bounded (at most `maxInFlight` pieces, and about `maxInFlightBytes`). Pieces larger
// than STREAM_PIECE_BYTES are read and hashed a chunk at a time (incremental SHA-1): checking a
// torrent of 512 MiB pieces holds a few chunks, not a piece.

import type { Metainfo } from '../protocol/metainfo.js';
import { Bitfield } from '../util/bitfield.js';
import { StorageError, StorageErrorCode } from './errors.js';
import { type HasherPool, STREAM_PIECE_BYTES } from './hasher-pool.js';
import { ownsItsMemory, pieceLengthOf, type Storage } from './storage.js';
import { checkPieceV2 } from './verify-v2.js';

export interface CheckOptions {
  /** Called after each piece is decided (skipped pieces count as checked). */
  onProgress?: (checkedPieces: number, totalPieces: number) => void;
  /** Abort the check: it rejects with the signal's reason once the reads in progress settle. */
  signal?: AbortSignal;
  /** Most pieces read or hashed at once. Default 8. */
  maxInFlight?: number;
  /** Bound on the bytes of those pieces (at least one piece runs). Default 64 MiB. */
  maxInFlightBytes?: number;
}

export type CheckLayout = Pick<Metainfo, 'pieces' | 'pieceCount' | 'pieceLength' | 'totalLength'> &
  Partial<Pick<Metainfo, 'version' | 'v2'>>;

/** Below this, hashing on the event loop is cheaper than a round trip to a worker. */
const INLINE_HASH_BYTES = 64 * 1024;

/**
 * Returns the pieces whose data on `storage` matches the torrent's hashes. Bytes that are missing
 * (ERR_STORAGE_MISSING) make a piece unverified; any other storage error rejects the check.
 */
export async function checkExisting(
  metainfo: CheckLayout,
  storage: Pick<Storage, 'mayHave' | 'mayHaveAny' | 'readPiece' | 'read'>,
  hasher: Pick<HasherPool, 'hash' | 'hashPiece' | 'hashChunked' | 'merkleRoot'>,
  options: CheckOptions = {},
): Promise<Bitfield> {
  const { signal, onProgress } = options;
  signal?.throwIfAborted();
  const total = metainfo.pieceCount;
  const have = new Bitfield(total);
  if (!(await storage.mayHaveAny())) {
    // A fresh download: nothing to read, and no need to ask every piece.
    signal?.throwIfAborted();
    if (total > 0) onProgress?.(total, total);
    return have;
  }
  const streamed = metainfo.pieceLength > STREAM_PIECE_BYTES;
  const byBytes = Math.floor((options.maxInFlightBytes ?? 64 * 1024 * 1024) / metainfo.pieceLength);
  // Streamed pieces: two lanes keep two workers busy, each lane holding two chunks.
  const lanes = Math.max(1, Math.min(options.maxInFlight ?? 8, streamed ? 2 : byBytes, total));
  let next = 0;
  let checked = 0;
  let failed = false;

  /** Each lane reads into the buffer its last piece came back in: a check allocates per lane, not per piece. */
  const checkOne = async (piece: number, spare: { buffer: Buffer | undefined }): Promise<boolean> => {
    if (!(await storage.mayHave(piece))) return false;
    if (metainfo.version === 'v2') return checkV2Only(piece);
    const expected = metainfo.pieces.subarray(piece * 20, piece * 20 + 20);
    if (streamed) {
      let digest: Buffer;
      try {
        digest = await hasher.hashChunked(pieceLengthOf(metainfo, piece), async (into, offset) => {
          signal?.throwIfAborted();
          await storage.read(piece, offset, into.length, into);
        });
      } catch (err) {
        if (StorageError.isCode(err, StorageErrorCode.Missing)) return false;
        throw err;
      }
      return Buffer.compare(digest, expected) === 0;
    }
    let data: Buffer;
    try {
      data = await storage.readPiece(piece, spare.buffer);
    } catch (err) {
      if (StorageError.isCode(err, StorageErrorCode.Missing)) return false;
      throw err;
    }
    spare.buffer = undefined; // it may be transferred to a worker now
    const { digest, buffer } = await hashOf(hasher, data);
    spare.buffer = buffer;
    return Buffer.compare(digest, expected) === 0;
  };

  /** A v2-only piece: its merkle piece hash (BEP 52), from the bytes on storage. */
  const checkV2Only = async (piece: number): Promise<boolean> => {
    try {
      return (await checkPieceV2(metainfo, piece, undefined, storage, hasher)) === true;
    } catch (err) {
      if (StorageError.isCode(err, StorageErrorCode.Missing)) return false;
      throw err;
    }
  };

  const lane = async (): Promise<void> => {
    const spare: { buffer: Buffer | undefined } = { buffer: undefined };
    while (next < total && !failed) {
      signal?.throwIfAborted();
      const piece = next++;
      if (await checkOne(piece, spare)) have.set(piece);
      checked++;
      onProgress?.(checked, total);
    }
  };

  // Every lane settles before we return, so no read is still running when the caller moves on.
  const results = await Promise.allSettled(
    Array.from({ length: lanes }, () =>
      lane().catch((err: unknown) => {
        failed = true;
        throw err;
      }),
    ),
  );
  for (const r of results) if (r.status === 'rejected') throw r.reason;
  return have;
}

/** The piece's digest, and a buffer of the piece's size that is free again (undefined: none). */
async function hashOf(
  hasher: Pick<HasherPool, 'hash' | 'hashPiece'>,
  data: Buffer,
): Promise<{ digest: Uint8Array; buffer: Buffer | undefined }> {
  if (ownsItsMemory(data) && data.length >= INLINE_HASH_BYTES) {
    // The buffer is ours alone: transfer it to the worker instead of copying it; it comes back.
    const { hashes, buffer } = await hasher.hash(data.buffer, data.length, data.length);
    return { digest: hashes.subarray(0, 20), buffer: Buffer.from(buffer, 0, data.length) };
  }
  // Hashed inline or copied: the storage may have lent its own buffer, so it is not reused here.
  return { digest: await hasher.hashPiece(data), buffer: undefined };
}
