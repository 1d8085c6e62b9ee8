// The v2 side of piece verification (BEP 52), beside the v1 SHA-1 check: a v2-only torrent is
// checked by its merkle piece hashes alone, a hybrid by both (its v2 check is skipped only while a
// file's piece layer is unknown). Pieces too large to hold are read back from storage.

import {
  HASH_BYTES,
  hashesFromLayer,
  leafHashes,
  log2,
  MERKLE_BLOCK_BYTES,
  pieceRoot,
  rootOfLayer,
} from '../protocol/merkle.js';
import type { Metainfo } from '../protocol/metainfo.js';
import { type V2Info, v2FileOfPiece, v2PieceCheck } from '../protocol/metainfo-v2.js';
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

// ---- leaf hashes: pinpointing a bad block (BEP 52 hash requests for base layer 0) ----

/** Pads a piece's leaf hashes to the piece's merkle width with pad leaves (32 zero bytes each). */
function paddedLeaves(leaves: Uint8Array, widthLeaves: number): Buffer {
  const out = Buffer.alloc(widthLeaves * HASH_BYTES);
  out.set(leaves.subarray(0, Math.min(leaves.length, out.length)));
  return out;
}

/**
 * The hash request for every leaf hash of `piece` (proof layers 0: the piece's hash, which we hold,
 * proves them), or undefined when the piece has no v2 hash to check them with.
 */
export function leafHashRequest(v2: V2Info, pieceLength: number, piece: number): HashRequest | undefined {
  const c = v2PieceCheck(v2, pieceLength, piece);
  const f = v2FileOfPiece(v2, piece);
  if (c === true || c === undefined || !f?.piecesRoot) return undefined;
  return {
    piecesRoot: f.piecesRoot,
    baseLayer: 0,
    index: (piece - f.firstPiece) * (pieceLength / MERKLE_BLOCK_BYTES),
    length: c.widthLeaves,
    proofLayers: 0,
  };
}

/**
 * The leaf hashes a peer sent for `piece` (asked with leafHashRequest), one per block of its data,
 * when they prove themselves against the piece's hash; undefined when they do not (a lying peer).
 */
export function provenLeaves(
  v2: V2Info,
  pieceLength: number,
  piece: number,
  hashes: Uint8Array,
): Buffer[] | undefined {
  const c = v2PieceCheck(v2, pieceLength, piece);
  if (c === true || c === undefined || hashes.length !== c.widthLeaves * HASH_BYTES) return undefined;
  if (!rootOfLayer(hashes, c.widthLeaves, 0).equals(c.expected)) return undefined;
  const blocks = Math.ceil(c.fileBytes / MERKLE_BLOCK_BYTES);
  const out: Buffer[] = [];
  for (let i = 0; i < blocks; i++)
    out.push(Buffer.from(hashes.subarray(i * HASH_BYTES, (i + 1) * HASH_BYTES)));
  return out;
}

/**
 * Answers a hash request for leaf hashes (base layer 0) within one piece we hold: its hashes and
 * the uncles within the piece's subtree. Undefined (a hash reject) for any other request, a piece
 * we do not have (`readPiece` gives undefined), or proof layers beyond the piece.
 */
export async function serveLeafHashes(
  v2: V2Info,
  pieceLength: number,
  r: HashRequest,
  readPiece: (piece: number) => Promise<Uint8Array | undefined>,
): Promise<Buffer | undefined> {
  if (r.baseLayer !== 0) return undefined;
  const root = Buffer.from(r.piecesRoot);
  const f = v2.files.find((x) => x.piecesRoot?.equals(root));
  const perPiece = pieceLength / MERKLE_BLOCK_BYTES;
  if (!f || !Number.isInteger(r.index) || r.index < 0) return undefined;
  const piece = f.firstPiece + Math.floor(r.index / perPiece);
  if (piece >= f.firstPiece + f.pieceCount) return undefined;
  const c = v2PieceCheck(v2, pieceLength, piece);
  if (c === true || c === undefined) return undefined;
  const data = await readPiece(piece);
  if (!data || data.length < c.fileBytes) return undefined;
  const leaves = leafHashes(data.subarray(0, c.fileBytes));
  return hashesFromLayer(paddedLeaves(leaves, c.widthLeaves), 0, r.index % perPiece, r.length, r.proofLayers);
}
