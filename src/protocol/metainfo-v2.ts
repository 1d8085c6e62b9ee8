// BEP 52 parts of the metainfo: the `file tree` (nested dicts, a file is a dict with the key ''
// holding `length` and `pieces root`), `piece layers` checked against each file's root, and the
// v2 layout (each file starts on a piece boundary: v2 pieces never span files), and which v2 piece
// hash a piece of the layout is checked against.

import { type BDict, type BValue, isBytes, isDict, isInt, text } from './bencode.js';
import { MetainfoError, quote } from './errors.js';
import { HASH_BYTES, MERKLE_BLOCK_BYTES, pieceRoot, pieceWidthLeaves, rootFromPieceLayer } from './merkle.js';

/** Deepest folder nesting read from a file tree (the bencode decoder's own bound is higher). */
export const MAX_FILE_TREE_DEPTH = 64;
/** Most files in a file tree. */
export const MAX_FILE_TREE_FILES = 1_000_000;

export interface V2File {
  /** The file's index in Metainfo.files. */
  fileIndex: number;
  length: number;
  /** Undefined for empty files. */
  piecesRoot?: Buffer;
  /** Its first piece in the torrent's layout (its data starts on a piece boundary). */
  firstPiece: number;
  pieceCount: number;
  /**
   * One 32-byte hash per piece, checked against piecesRoot; undefined while unknown (an info dict
   * from a magnet) or for a file of one piece (whose piece hash is its root).
   */
  layer?: Uint8Array;
}

export interface V2Info {
  /** SHA-256 of the info dict. */
  infoHash: Buffer;
  files: V2File[];
}

export interface TreeFile {
  rawPath: string[];
  length: number;
  piecesRoot?: Buffer;
}

function keyText(key: string): string {
  const bytes = Buffer.from(key, 'latin1');
  return text(bytes) ?? bytes.toString('utf8');
}

/** The files of a `file tree`, in its (sorted) order. */
export function readFileTree(tree: BValue | undefined, field = 'info.file tree'): TreeFile[] {
  if (tree === undefined) throw new MetainfoError(field, 'missing');
  if (!isDict(tree)) throw new MetainfoError(field, 'not a dictionary');
  const out: TreeFile[] = [];
  const walk = (node: BDict, path: string[], where: string): void => {
    if (path.length > MAX_FILE_TREE_DEPTH)
      throw new MetainfoError(field, `nested deeper than ${MAX_FILE_TREE_DEPTH} folders`);
    const keys = [...node.keys()].sort();
    for (const key of keys) {
      const child = node.get(key)!;
      const name = keyText(key);
      const at = `${where}[${quote(name)}]`;
      if (key === '') throw new MetainfoError(at, 'an empty name beside other entries');
      if (!isDict(child)) throw new MetainfoError(at, 'not a dictionary');
      const leaf = child.get('');
      if (leaf !== undefined) {
        if (child.size !== 1) throw new MetainfoError(at, 'both a file and a folder');
        out.push(readLeaf(leaf, [...path, name], `${at}[""]`));
        if (out.length > MAX_FILE_TREE_FILES)
          throw new MetainfoError(field, `more than ${MAX_FILE_TREE_FILES} files`);
      } else {
        if (child.size === 0) throw new MetainfoError(at, 'an empty folder');
        walk(child, [...path, name], at);
      }
    }
  };
  if (tree.size === 0) throw new MetainfoError(field, 'empty: a torrent needs at least one file');
  if (tree.has('')) throw new MetainfoError(field, "a file at the root (key '') has no name");
  walk(tree, [], field);
  return out;
}

function readLeaf(leaf: BValue, rawPath: string[], at: string): TreeFile {
  if (!isDict(leaf)) throw new MetainfoError(at, 'not a dictionary');
  const length = leaf.get('length');
  if (length === undefined) throw new MetainfoError(`${at}.length`, 'missing');
  if (!isInt(length) || typeof length === 'bigint')
    throw new MetainfoError(`${at}.length`, 'not an integer in range');
  if (length < 0) throw new MetainfoError(`${at}.length`, `${length} is negative`);
  const root = leaf.get('pieces root');
  if (length === 0) {
    if (root !== undefined) throw new MetainfoError(`${at}.pieces root`, 'present for an empty file');
    return { rawPath, length };
  }
  if (root === undefined) throw new MetainfoError(`${at}.pieces root`, 'missing');
  if (!isBytes(root) || root.length !== HASH_BYTES)
    throw new MetainfoError(`${at}.pieces root`, `not a ${HASH_BYTES}-byte hash`);
  return { rawPath, length, piecesRoot: Buffer.from(root) };
}

/** v2 piece lengths: a power of two of at least 16 KiB. */
export function checkV2PieceLength(pieceLength: number): void {
  if (pieceLength < MERKLE_BLOCK_BYTES || (pieceLength & (pieceLength - 1)) !== 0) {
    throw new MetainfoError(
      'info.piece length',
      `${pieceLength} is not a power of two of at least ${MERKLE_BLOCK_BYTES} (BEP 52)`,
    );
  }
}

/**
 * Checks `piece layers` (a dict from pieces root to layer) against the files, and attaches each
 * file's layer. `required`: a .torrent must hold every layer; an info dict alone holds none.
 */
export function attachPieceLayers(
  v2: V2Info,
  layers: BValue | undefined,
  pieceLength: number,
  required: boolean,
): void {
  if (layers === undefined) {
    if (!required) return;
  } else if (!isDict(layers)) throw new MetainfoError('piece layers', 'not a dictionary');
  const dict = layers as BDict | undefined;
  for (const f of v2.files) {
    if (f.piecesRoot === undefined || f.length <= pieceLength) continue;
    const key = f.piecesRoot.toString('latin1');
    const field = `piece layers[${f.piecesRoot.toString('hex')}]`;
    const layer = dict?.get(key);
    if (layer === undefined) {
      if (required) throw new MetainfoError(field, 'missing (a file larger than one piece needs its layer)');
      continue;
    }
    if (!isBytes(layer)) throw new MetainfoError(field, 'not a byte string');
    if (layer.length % HASH_BYTES !== 0)
      throw new MetainfoError(field, `length ${layer.length} is not a multiple of ${HASH_BYTES}`);
    if (layer.length / HASH_BYTES !== f.pieceCount) {
      throw new MetainfoError(
        field,
        `${layer.length / HASH_BYTES} hashes for ${f.pieceCount} pieces (${f.length} bytes in pieces of ${pieceLength})`,
      );
    }
    if (!rootFromPieceLayer(layer, pieceLength).equals(f.piecesRoot))
      throw new MetainfoError(field, "does not hash to the file's pieces root");
    f.layer = layer;
  }
}

/** Checks a piece layer fetched from a peer (hash request) and attaches it. */
export function setPieceLayer(f: V2File, layer: Uint8Array, pieceLength: number): boolean {
  if (f.piecesRoot === undefined || layer.length !== f.pieceCount * HASH_BYTES) return false;
  if (!rootFromPieceLayer(layer, pieceLength).equals(f.piecesRoot)) return false;
  f.layer = layer;
  return true;
}

/** The v2 file whose pieces include `piece`, if any (pieces of pad files only have none). */
export function v2FileOfPiece(v2: V2Info, piece: number): V2File | undefined {
  const files = v2.files;
  let lo = 0;
  let hi = files.length - 1;
  let found: V2File | undefined;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const f = files[mid]!;
    if (f.pieceCount > 0 && f.firstPiece <= piece) {
      found = f;
      lo = mid + 1;
    } else if (f.pieceCount === 0 && f.firstPiece <= piece) lo = mid + 1;
    else hi = mid - 1;
  }
  if (found && piece < found.firstPiece + found.pieceCount) return found;
  return undefined;
}

/** What the v2 hash of `piece` is checked against, or undefined while its layer is unknown. */
export function expectedV2Hash(v2: V2Info, piece: number): { file: V2File; hash: Buffer } | undefined {
  const f = v2FileOfPiece(v2, piece);
  if (!f || f.piecesRoot === undefined) return undefined;
  if (f.pieceCount === 1) return { file: f, hash: f.piecesRoot };
  if (!f.layer) return undefined;
  const i = piece - f.firstPiece;
  return { file: f, hash: Buffer.from(f.layer.subarray(i * HASH_BYTES, (i + 1) * HASH_BYTES)) };
}

/**
 * What the v2 check of `piece` hashes: its file's bytes at the start of the piece (`fileBytes`), as a
 * merkle subtree `widthLeaves` wide, to compare with `expected`. True for a piece with no v2 file
 * (pad only: nothing to check); undefined while the layer is not known.
 */
export function v2PieceCheck(
  v2: V2Info,
  pieceLength: number,
  piece: number,
): { fileBytes: number; widthLeaves: number; expected: Buffer } | true | undefined {
  const f = v2FileOfPiece(v2, piece);
  if (!f) return true;
  const e = expectedV2Hash(v2, piece);
  if (!e) return undefined;
  const i = piece - f.firstPiece;
  return {
    fileBytes: Math.min(pieceLength, f.length - i * pieceLength),
    widthLeaves: pieceWidthLeaves(pieceLength, f.length),
    expected: e.hash,
  };
}

/**
 * Whether `data` (the whole piece as laid out: the file's bytes, then pad zeros) matches its v2
 * hash. True for a piece with no v2 file (pad only); `undefined` when the layer is not known yet.
 */
export function verifyV2Piece(
  v2: V2Info,
  pieceLength: number,
  piece: number,
  data: Uint8Array,
): boolean | undefined {
  const c = v2PieceCheck(v2, pieceLength, piece);
  if (c === true || c === undefined) return c;
  if (data.length < c.fileBytes) return false;
  return pieceRoot(data.subarray(0, c.fileBytes), c.widthLeaves).equals(c.expected);
}
