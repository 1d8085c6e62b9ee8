// The v2 side of piece verification (BEP 52), beside the v1 SHA-1 check: a v2-only torrent is
// checked by its merkle piece hashes alone, a hybrid by both (its v2 check is skipped only while a
// file's piece layer is unknown). Pieces too large to hold are read back from storage.

import { hashesFromLayer, log2, MERKLE_BLOCK_BYTES, pieceRoot } from '../protocol/merkle.js';
import type { Metainfo } from '../protocol/metainfo.js';
import { type V2Info, v2PieceCheck } from '../protocol/metainfo-v2.js';
import type { HashRequest } from '../protocol/peer-wire.js';
import type { HasherPool } from './hasher-pool.js';
import { pieceLengthOf, type Storage } from './storage.js';

/** Whether the torrent's pieces are checked by SHA-1 (v1 and hybrid). */
export function hasV1Hashes(m: Pick<Metainfo, 'version'>): boolean {
  return m.version !== 'v2';
}

/**
 * The v2 verdict for `piece`: true (matches, or nothing v2 to check), false (does not), or
 * undefined (its piece layer is not known yet). `data` is the whole piece, or undefined to read it
 * from storage.
 */
export async function checkPieceV2(
  m: Pick<Metainfo, 'v2' | 'pieceLength' | 'pieceCount' | 'totalLength'>,
  piece: number,
  data: Uint8Array | undefined,
  storage: Pick<Storage, 'read'>,
  /** Hashes off the calling thread when given (large pieces go to its workers). */
  hasher?: Pick<HasherPool, 'merkleRoot'>,
): Promise<boolean | undefined> {
  if (!m.v2) return true;
  const c = v2PieceCheck(m.v2, m.pieceLength, piece);
  if (c === true || c === undefined) return c;
  const bytes = data ?? (await storage.read(piece, 0, pieceLengthOf(m, piece)));
  if (bytes.length < c.fileBytes) return false;
  const file = bytes.subarray(0, c.fileBytes);
  const root = hasher ? await hasher.merkleRoot(file, c.widthLeaves) : pieceRoot(file, c.widthLeaves);
  return root.equals(c.expected);
}

/** The v2-only torrent's files whose piece layers are missing (a magnet's info dict alone). */
export function missingLayers(m: Pick<Metainfo, 'v2' | 'version' | 'pieceLength'>): number {
  if (m.version !== 'v2' || !m.v2) return 0;
  return m.v2.files.filter((f) => f.piecesRoot && f.pieceCount > 1 && !f.layer).length;
}

/**
 * The hashes answering a peer's BEP 52 hash request, served from the file's piece layer; undefined
 * (a hash reject) for an unknown root, another layer, or a request out of the tree.
 */
export function serveHashRequest(v2: V2Info, pieceLength: number, r: HashRequest): Buffer | undefined {
  const level = log2(pieceLength / MERKLE_BLOCK_BYTES);
  if (r.baseLayer !== level) return undefined;
  const root = Buffer.from(r.piecesRoot);
  const f = v2.files.find((x) => x.piecesRoot?.equals(root));
  if (!f?.layer) return undefined;
  return hashesFromLayer(f.layer, level, r.index, r.length, r.proofLayers);
}
