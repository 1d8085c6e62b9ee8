// A torrent's geometry: piece and block lengths and the conversions between pieces, blocks and
// request indices — the one block numbering of every layer (the picker, the assembler, the uploader,
// web seeds). A block is (piece, b): the b-th 16 KiB of the piece, the last one of the last piece
// shorter. A request index numbers every block of the torrent at once, piece × blocksPerPiece + b
// (anacrolix/torrent's RequestIndex): one number for a set or a map of blocks. Pure values.

import { BLOCK_SIZE, type Block } from './peer-wire.js';

/** What a geometry is made from (a Metainfo is one). */
export interface PieceGeometry {
  pieceLength: number;
  totalLength: number;
  pieceCount: number;
}

/** A block of a piece, as the peer wire names it (BEP 3 `request`, `piece`, `cancel`). */
export type BlockRef = Block;

/** The length of piece `piece` of `g` (no range check: see Geometry.pieceSize). */
export function pieceSizeOf(g: PieceGeometry, piece: number): number {
  return piece < g.pieceCount - 1 ? g.pieceLength : g.totalLength - piece * g.pieceLength;
}

export class Geometry implements PieceGeometry {
  readonly pieceLength: number;
  readonly totalLength: number;
  readonly pieceCount: number;
  /** Blocks of a whole piece (every piece but perhaps the last). */
  readonly blocksPerPiece: number;
  readonly #lastPieceLength: number;

  constructor(g: PieceGeometry) {
    this.pieceLength = g.pieceLength;
    this.totalLength = g.totalLength;
    this.pieceCount = g.pieceCount;
    this.blocksPerPiece = Math.ceil(g.pieceLength / BLOCK_SIZE);
    this.#lastPieceLength = g.pieceCount === 0 ? 0 : g.totalLength - g.pieceLength * (g.pieceCount - 1);
  }

  /** A geometry for `g`: `g` itself when it is one. */
  static of(g: PieceGeometry): Geometry {
    return g instanceof Geometry ? g : new Geometry(g);
  }

  isPiece(piece: number): boolean {
    return Number.isInteger(piece) && piece >= 0 && piece < this.pieceCount;
  }

  /** The length of a piece (the last one may be shorter). */
  pieceSize(piece: number): number {
    return piece === this.pieceCount - 1 ? this.#lastPieceLength : this.pieceLength;
  }

  /** The first byte of a piece in the torrent. */
  pieceStart(piece: number): number {
    return piece * this.pieceLength;
  }

  blockCount(piece: number): number {
    return Math.ceil(this.pieceSize(piece) / BLOCK_SIZE);
  }

  /** The length of block `b` of `piece`. */
  blockLength(piece: number, b: number): number {
    return Math.min(BLOCK_SIZE, this.pieceSize(piece) - b * BLOCK_SIZE);
  }

  /** Block `b` of `piece` as the wire names it. */
  blockRef(piece: number, b: number): BlockRef {
    return { piece, offset: b * BLOCK_SIZE, length: this.blockLength(piece, b) };
  }

  /** The block of `piece` holding byte `offset` of it. */
  blockAt(offset: number): number {
    return Math.floor(offset / BLOCK_SIZE);
  }

  /** The index within its piece of a well-formed block (aligned, of its exact length), or -1. */
  blockIndex(block: BlockRef): number {
    const { piece, offset, length } = block;
    if (!this.isPiece(piece)) return -1;
    if (!Number.isInteger(offset) || offset < 0 || offset % BLOCK_SIZE !== 0) return -1;
    const b = offset / BLOCK_SIZE;
    if (b >= this.blockCount(piece) || length !== this.blockLength(piece, b)) return -1;
    return b;
  }

  /** The request index of block `b` of `piece`. */
  requestIndex(piece: number, b: number): number {
    return piece * this.blocksPerPiece + b;
  }

  /** The piece of a request index. */
  pieceOfRequest(index: number): number {
    return Math.floor(index / this.blocksPerPiece);
  }

  /** The block a request index names. */
  requestRef(index: number): BlockRef {
    const piece = this.pieceOfRequest(index);
    return this.blockRef(piece, index - piece * this.blocksPerPiece);
  }
}

/**
 * The blocks made only of BEP 47 padding (zeros that no file holds): never asked of a peer, filled
 * in as zeros. Request indices of `g`, from the layout's padding files (a block that spans two
 * padding files, or padding and a file, is asked for as usual).
 */
export function paddingBlocks(
  g: Geometry,
  files: readonly { offset: number; length: number; padding: boolean }[],
): Set<number> {
  const out = new Set<number>();
  for (const f of files) {
    if (!f.padding || f.length === 0) continue;
    const start = f.offset;
    const end = f.offset + f.length;
    const last = Math.floor((end - 1) / g.pieceLength);
    for (let p = Math.floor(start / g.pieceLength); p <= last; p++) {
      const base = g.pieceStart(p);
      for (let b = Math.max(0, Math.ceil((start - base) / BLOCK_SIZE)); b < g.blockCount(p); b++) {
        const from = base + b * BLOCK_SIZE;
        if (from + g.blockLength(p, b) > end) break;
        out.add(g.requestIndex(p, b));
      }
    }
  }
  return out;
}
