// Metainfo (.torrent) parsing, validation and building: BEP 3, 12 (announce-list), 19 (url-list),
// 27 (private), 47 (padding files and attributes), 52 (v2-only and hybrid: file tree, piece layers,
// see metainfo-v2.ts). Paths go through the path policy (path-policy.ts).
//
// A v2-only torrent is laid out as a hybrid would be: each file starts on a piece boundary, with
// padding entries (never written) between, so storage and the picker see one contiguous torrent.

import { createHash } from 'node:crypto';
import {
  type BDict,
  type BEncodable,
  type BValue,
  decode,
  encode,
  isBytes,
  isDict,
  isInt,
  isList,
  text,
} from './bencode.js';
import { BencodeError, MetainfoError, quote } from './errors.js';
import {
  attachPieceLayers,
  checkV2PieceLength,
  readFileTree,
  type TreeFile,
  type V2File,
  type V2Info,
} from './metainfo-v2.js';
import { disambiguate, sanitizePath } from './path-policy.js';

export const MAX_PIECE_LENGTH = 512 * 1024 * 1024;
/** Largest .torrent file read (a metainfo this large is 6 million pieces). */
export const MAX_TORRENT_BYTES = 128 * 1024 * 1024;

export interface TorrentFile {
  /** Safe relative path (sanitized elements), including the torrent's name for multi-file torrents. */
  path: string[];
  /** The path as the torrent spelled it (decoded as UTF-8), for display. */
  rawPath: string[];
  length: number;
  /** Byte offset of the file within the torrent's data. */
  offset: number;
  /** BEP 47 padding file: its bytes are zeros and are never written. */
  padding: boolean;
  /** BEP 47 attributes (`x` executable, `h` hidden, `l` symlink, `p` padding). */
  attr: string;
}

export interface Metainfo {
  /**
   * The hash peers, trackers and the DHT know the torrent by: SHA-1 of the info dict (v1, hybrid),
   * or the first 20 bytes of its SHA-256 (v2-only, as BEP 52 truncates it).
   */
  infoHash: Buffer;
  infoHashHex: string;
  /** SHA-256 of the info dict, for v2 and hybrid torrents (their v2 identity). */
  infoHashV2?: Buffer;
  /** The v2 part: files with their roots and piece layers (v2 and hybrid). */
  v2?: V2Info;
  /** The info dict exactly as it appears in the input. */
  infoBytes: Uint8Array;
  info: BDict;
  version: 'v1' | 'v2' | 'hybrid';
  name: string;
  pieceLength: number;
  pieceCount: number;
  /** Concatenated 20-byte SHA-1 hashes (empty for v2-only: see `v2`). */
  pieces: Uint8Array;
  totalLength: number;
  multiFile: boolean;
  files: TorrentFile[];
  private: boolean;
  /** Tiers of tracker URLs (BEP 12); `announce` alone becomes one tier. */
  announceList: string[][];
  urlList: string[];
  comment?: string;
  createdBy?: string;
  creationDate?: number;
  encoding?: string;
  warnings: string[];
}

export interface ParseOptions {
  /** Accept unsorted dict keys with a warning (reading other tools' torrents). Default true. */
  lenient?: boolean;
}

export function parseMetainfo(input: Uint8Array, options: ParseOptions = {}): Metainfo {
  if (input.length > MAX_TORRENT_BYTES) {
    throw new MetainfoError(
      '',
      `too large: ${input.length} bytes, more than the ${MAX_TORRENT_BYTES} a torrent may be`,
    );
  }
  let decoded: ReturnType<typeof decode>;
  try {
    decoded = decode(input, { lenient: options.lenient ?? true, maxBytes: MAX_TORRENT_BYTES });
  } catch (err) {
    if (err instanceof BencodeError)
      throw new MetainfoError('', `bad bencode: ${err.message}`, { cause: err });
    throw err;
  }
  const root = decoded.value;
  if (!isDict(root)) {
    const kind = isList(root) ? 'a list' : isBytes(root) ? 'a byte string' : 'an integer';
    throw new MetainfoError('', `not a torrent: the value at byte 0 is ${kind}, not a dictionary`);
  }
  const warnings = decoded.warnings.slice();
  const info = root.get('info');
  if (!isDict(info)) throw new MetainfoError('info', info === undefined ? 'missing' : 'not a dictionary');
  const span = decoded.spanOf(info)!;
  const infoBytes = input.subarray(span.start, span.end);
  const m = parseInfo(info, infoBytes, warnings);
  // A v2-only torrent cannot be checked without its layers; a hybrid falls back on its SHA-1s.
  if (m.v2) attachPieceLayers(m.v2, root.get('piece layers'), m.pieceLength, m.version === 'v2');
  if (Buffer.compare(encode(info), infoBytes) !== 0) {
    warnings.push('info dictionary is not canonically encoded (the info hash uses its original bytes)');
  }
  readOuter(root, m);
  return m;
}

/** Parses a bare info dictionary (as fetched with ut_metadata). */
export function parseInfoDict(infoBytes: Uint8Array): Metainfo {
  let decoded: ReturnType<typeof decode>;
  try {
    decoded = decode(infoBytes, { lenient: true, maxBytes: MAX_TORRENT_BYTES });
  } catch (err) {
    if (err instanceof BencodeError)
      throw new MetainfoError('info', `bad bencode: ${err.message}`, { cause: err });
    throw err;
  }
  if (!isDict(decoded.value)) throw new MetainfoError('info', 'not a dictionary');
  return parseInfo(decoded.value, infoBytes, decoded.warnings.slice());
}

function str(v: BValue | undefined, field: string, required: true): string;
function str(v: BValue | undefined, field: string, required?: false): string | undefined;
function str(v: BValue | undefined, field: string, required = false): string | undefined {
  if (v === undefined) {
    if (required) throw new MetainfoError(field, 'missing');
    return undefined;
  }
  if (!isBytes(v)) throw new MetainfoError(field, 'not a byte string');
  return text(v) ?? Buffer.from(v).toString('utf8');
}

function int(v: BValue | undefined, field: string): number | undefined {
  if (v === undefined) return undefined;
  if (!isInt(v)) throw new MetainfoError(field, 'not an integer');
  if (typeof v === 'bigint') throw new MetainfoError(field, `${v} is out of range`);
  return v;
}

function parseInfo(info: BDict, infoBytes: Uint8Array, warnings: string[]): Metainfo {
  const metaVersion = int(info.get('meta version'), 'info.meta version');
  const hasV1 = info.has('pieces');
  if (metaVersion !== undefined && metaVersion !== 1 && metaVersion !== 2) {
    throw new MetainfoError('info.meta version', `unknown version ${metaVersion}`);
  }
  const version = metaVersion === 2 ? (hasV1 ? 'hybrid' : 'v2') : 'v1';

  const nameUtf8 = info.get('name.utf-8');
  const name = (isBytes(nameUtf8) ? text(nameUtf8) : undefined) ?? str(info.get('name'), 'info.name', true);
  if (name === '') throw new MetainfoError('info.name', 'empty');

  const pieceLength = int(info.get('piece length'), 'info.piece length');
  if (pieceLength === undefined) throw new MetainfoError('info.piece length', 'missing');
  if (pieceLength <= 0) throw new MetainfoError('info.piece length', `${pieceLength} is not positive`);
  if (pieceLength > MAX_PIECE_LENGTH) {
    throw new MetainfoError(
      'info.piece length',
      `${pieceLength} is larger than ${MAX_PIECE_LENGTH} (512 MiB)`,
    );
  }

  if (version !== 'v1') checkV2PieceLength(pieceLength);
  const tree = version !== 'v1' ? readFileTree(info.get('file tree')) : undefined;
  const pieces = version === 'v2' ? new Uint8Array(0) : info.get('pieces');
  if (pieces === undefined) throw new MetainfoError('info.pieces', 'missing');
  if (!isBytes(pieces)) throw new MetainfoError('info.pieces', 'not a byte string');
  if (pieces.length % 20 !== 0)
    throw new MetainfoError('info.pieces', `length ${pieces.length} is not a multiple of 20`);

  const privateFlag = int(info.get('private'), 'info.private');
  const files: TorrentFile[] = [];
  const nameSafe = sanitizePath([name]);
  if (nameSafe.changed) warnings.push(`name ${quote(name)} sanitized to ${quote(nameSafe.path.join('/'))}`);
  let totalLength = 0;
  const filesField = info.get('files');
  const lengthField = info.get('length');
  let multiFile: boolean;
  if (tree && version === 'v2') {
    multiFile = !(tree.length === 1 && tree[0]!.rawPath.length === 1 && tree[0]!.rawPath[0] === name);
    totalLength = layoutV2(tree, multiFile, name, nameSafe.path, pieceLength, files, warnings);
  } else if (filesField !== undefined) {
    if (lengthField !== undefined) throw new MetainfoError('info', 'has both "length" and "files"');
    if (!isList(filesField)) throw new MetainfoError('info.files', 'not a list');
    if (filesField.length === 0)
      throw new MetainfoError('info.files', 'empty: a torrent needs at least one file');
    multiFile = true;
    for (const [i, entry] of filesField.entries()) {
      const field = `info.files[${i}]`;
      if (!isDict(entry)) throw new MetainfoError(field, 'not a dictionary');
      const length = int(entry.get('length'), `${field}.length`);
      if (length === undefined) throw new MetainfoError(`${field}.length`, 'missing');
      if (length < 0) throw new MetainfoError(`${field}.length`, `${length} is negative`);
      const pathUtf8 = entry.get('path.utf-8');
      const pathField = isList(pathUtf8) && pathUtf8.every(isBytes) ? pathUtf8 : entry.get('path');
      if (pathField === undefined) throw new MetainfoError(`${field}.path`, 'missing');
      if (!isList(pathField)) throw new MetainfoError(`${field}.path`, 'not a list');
      const rawPath = pathField.map((el, j) => {
        if (!isBytes(el)) throw new MetainfoError(`${field}.path[${j}]`, 'not a byte string');
        const t = text(el);
        if (t === undefined) warnings.push(`${field}.path[${j}] is not valid UTF-8`);
        return t ?? Buffer.from(el).toString('utf8');
      });
      const attrField = entry.get('attr');
      const attr = attrField !== undefined ? (str(attrField, `${field}.attr`) ?? '') : '';
      const padding = attr.includes('p');
      if (!padding && rawPath.length === 0) throw new MetainfoError(`${field}.path`, 'empty');
      const safe = sanitizePath(rawPath);
      if (safe.changed && !padding) {
        warnings.push(`path ${quote(rawPath.join('/'))} sanitized to ${quote(safe.path.join('/'))}`);
      }
      if (attr.includes('l')) warnings.push(`${field} is a symlink: stored as an ordinary file`);
      files.push({
        path: [...nameSafe.path, ...safe.path],
        rawPath: [name, ...rawPath],
        length,
        offset: totalLength,
        padding,
        attr,
      });
      totalLength += length;
      if (!Number.isSafeInteger(totalLength))
        throw new MetainfoError(`${field}.length`, 'total size is out of range');
    }
  } else {
    const length = int(lengthField, 'info.length');
    if (length === undefined) throw new MetainfoError('info', 'has neither "length" nor "files"');
    if (length < 0) throw new MetainfoError('info.length', `${length} is negative`);
    multiFile = false;
    files.push({ path: nameSafe.path, rawPath: [name], length, offset: 0, padding: false, attr: '' });
    totalLength = length;
  }

  const real = files.filter((f) => !f.padding);
  if (real.length === 0)
    throw new MetainfoError('info.files', 'only padding files: a torrent needs at least one file');
  const paths = real.map((f) => f.path);
  for (const i of disambiguate(paths)) {
    warnings.push(
      `path ${quote(real[i]!.rawPath.join('/'))} collides with another file: stored as ${quote(paths[i]!.join('/'))}`,
    );
  }
  paths.forEach((p, i) => {
    real[i]!.path = p;
  });

  const expectedPieces = Math.ceil(totalLength / pieceLength);
  const pieceCount = version === 'v2' ? expectedPieces : pieces.length / 20;
  if (pieceCount !== expectedPieces) {
    throw new MetainfoError(
      'info.pieces',
      `${pieceCount} hashes for ${expectedPieces} pieces (${totalLength} bytes in pieces of ${pieceLength})`,
    );
  }

  const infoHashV2 = version !== 'v1' ? createHash('sha256').update(infoBytes).digest() : undefined;
  const infoHash =
    infoHashV2 && version === 'v2'
      ? infoHashV2.subarray(0, 20)
      : createHash('sha1').update(infoBytes).digest();
  const m: Metainfo = {
    infoHash,
    infoHashHex: infoHash.toString('hex'),
    infoBytes,
    info,
    version,
    name: nameSafe.path.join('/'),
    pieceLength,
    pieceCount,
    pieces,
    totalLength,
    multiFile,
    files,
    private: privateFlag === 1,
    announceList: [],
    urlList: [],
    warnings,
  };
  if (tree && infoHashV2) {
    m.infoHashV2 = infoHashV2;
    m.v2 = { infoHash: infoHashV2, files: v2Files(tree, files, pieceLength, version === 'hybrid') };
  }
  return m;
}

/** The files of a v2-only torrent, each on a piece boundary, with padding entries between. */
function layoutV2(
  tree: TreeFile[],
  multiFile: boolean,
  name: string,
  namePath: string[],
  pieceLength: number,
  files: TorrentFile[],
  warnings: string[],
): number {
  let offset = 0;
  const pad = (): void => {
    // As libtorrent lays out a v2 torrent: a pad after every non-empty file, the last one
    // included, unless the torrent is one file (peers request the last piece at that length).
    const gap = offset % pieceLength;
    if (tree.length < 2 || gap === 0) return;
    const n = pieceLength - gap;
    files.push({
      path: [...namePath, '.pad', String(n)],
      rawPath: [name, '.pad', String(n)],
      length: n,
      offset,
      padding: true,
      attr: 'p',
    });
    offset += n;
  };
  for (const t of tree) {
    let path = namePath;
    if (multiFile) {
      const safe = sanitizePath(t.rawPath);
      if (safe.changed) {
        warnings.push(`path ${quote(t.rawPath.join('/'))} sanitized to ${quote(safe.path.join('/'))}`);
      }
      path = [...namePath, ...safe.path];
    }
    files.push({
      path,
      rawPath: multiFile ? [name, ...t.rawPath] : [name],
      length: t.length,
      offset,
      padding: false,
      attr: '',
    });
    offset += t.length;
    if (!Number.isSafeInteger(offset))
      throw new MetainfoError('info.file tree', 'total size is out of range');
    if (t.length > 0) pad();
  }
  return offset;
}

/**
 * The v2 files over the layout in `files` (a v2-only layout, or a hybrid's v1 list, which must hold
 * the same files in the same order, each non-empty one on a piece boundary).
 */
function v2Files(tree: TreeFile[], files: TorrentFile[], pieceLength: number, hybrid: boolean): V2File[] {
  const out: V2File[] = [];
  const real = files.map((f, i) => ({ f, i })).filter(({ f }) => !f.padding);
  if (real.length !== tree.length) {
    throw new MetainfoError(
      'info.files',
      `${real.length} files, but the file tree has ${tree.length} (a hybrid's v1 and v2 parts differ)`,
    );
  }
  tree.forEach((t, k) => {
    const { f, i } = real[k]!;
    const field = hybrid ? `info.files[${i}]` : 'info.file tree';
    if (hybrid) {
      const v1Path = f.rawPath.length === 1 ? f.rawPath : f.rawPath.slice(1);
      if (f.length !== t.length || v1Path.join('/') !== t.rawPath.join('/')) {
        throw new MetainfoError(
          field,
          `${quote(v1Path.join('/'))} (${f.length} bytes) is not the file tree's ${quote(t.rawPath.join('/'))} (${t.length} bytes)`,
        );
      }
    }
    if (t.length > 0 && f.offset % pieceLength !== 0) {
      throw new MetainfoError(
        field,
        `starts at byte ${f.offset}, not on a piece boundary (no padding before it)`,
      );
    }
    const v: V2File = {
      fileIndex: i,
      length: t.length,
      firstPiece: Math.floor(f.offset / pieceLength),
      pieceCount: Math.ceil(t.length / pieceLength),
    };
    if (t.piecesRoot) v.piecesRoot = t.piecesRoot;
    out.push(v);
  });
  return out;
}

/**
 * A hybrid's second name (BEP 52): its v2 info hash truncated to 20 bytes, the one its v2 swarm
 * (trackers, the DHT, handshakes) knows it by. Undefined for v1-only and v2-only torrents, whose
 * `infoHash` is already their only name.
 */
export function hybridV2Hash(m: Pick<Metainfo, 'infoHashV2' | 'version'>): Buffer | undefined {
  return m.version === 'hybrid' && m.infoHashV2 ? Buffer.from(m.infoHashV2.subarray(0, 20)) : undefined;
}

/**
 * Every name a torrent's swarm knows it by, for trackers, the DHT and LSD: its info hash, and for a
 * hybrid also the truncated v2 hash (`v2: true`: peers found under it are dialled with it).
 */
export function swarmNames(
  m: Pick<Metainfo, 'infoHash' | 'infoHashV2' | 'version'>,
): { hash: Buffer; v2: boolean }[] {
  const v2 = hybridV2Hash(m);
  return v2
    ? [
        { hash: m.infoHash, v2: false },
        { hash: v2, v2: true },
      ]
    : [{ hash: m.infoHash, v2: false }];
}

/** The hashes a magnet link of `m` carries (btih, btmh, or both for a hybrid). */
export function magnetHashes(m: Pick<Metainfo, 'infoHash' | 'infoHashV2' | 'version'>): {
  infoHash: Buffer;
  infoHashV2: Buffer | undefined;
  v2Only: boolean;
} {
  return { infoHash: m.infoHash, infoHashV2: m.infoHashV2, v2Only: m.version === 'v2' };
}

const TRACKER_SCHEMES = /^(https?|udp):\/\//i;

function readOuter(root: BDict, m: Metainfo): void {
  const tiers: string[][] = [];
  const list = root.get('announce-list');
  if (list !== undefined) {
    if (!isList(list)) throw new MetainfoError('announce-list', 'not a list');
    for (const [i, tier] of list.entries()) {
      if (!isList(tier)) throw new MetainfoError(`announce-list[${i}]`, 'not a list');
      const urls: string[] = [];
      for (const [j, u] of tier.entries()) {
        const url = str(u, `announce-list[${i}][${j}]`)?.trim();
        if (url) urls.push(url);
      }
      if (urls.length > 0) tiers.push(urls);
    }
  }
  const announce = str(root.get('announce'), 'announce')?.trim();
  if (tiers.length === 0 && announce) tiers.push([announce]);
  m.announceList = tiers
    .map((tier) =>
      tier.filter((u) => {
        const ok = TRACKER_SCHEMES.test(u);
        if (!ok) m.warnings.push(`tracker ${quote(u)} ignored: only http, https and udp are supported`);
        return ok;
      }),
    )
    .filter((t) => t.length > 0);

  const urlList = root.get('url-list');
  if (isBytes(urlList)) {
    const u = str(urlList, 'url-list');
    if (u) m.urlList.push(u);
  } else if (isList(urlList)) {
    urlList.forEach((u, i) => {
      const s = str(u, `url-list[${i}]`);
      if (s) m.urlList.push(s);
    });
  }
  const comment = root.get('comment.utf-8') ?? root.get('comment');
  if (isBytes(comment)) m.comment = str(comment, 'comment')!;
  const createdBy = root.get('created by');
  if (isBytes(createdBy)) m.createdBy = str(createdBy, 'created by')!;
  const date = root.get('creation date');
  if (typeof date === 'number') m.creationDate = date;
  const encoding = root.get('encoding');
  if (isBytes(encoding)) m.encoding = str(encoding, 'encoding')!;
}

// ---------------------------------------------------------------------------------------------------
// Building

export interface BuildFile {
  /** Path elements relative to the torrent's root folder (multi-file) — ignored for single files. */
  path: string[];
  length: number;
}

export interface BuildOptions {
  name: string;
  pieceLength: number;
  pieces: Uint8Array;
  /** One file: a single-file torrent. Otherwise a multi-file torrent. */
  files: BuildFile[];
  /** Force the multi-file layout even for one file (a folder that holds one file). */
  multiFile?: boolean;
  announceList?: string[][];
  urlList?: string[];
  private?: boolean;
  comment?: string;
  createdBy?: string;
  /** Seconds since the epoch; omitted when undefined. */
  creationDate?: number;
  /**
   * BEP 52: 'v2' (a file tree, no `pieces`) or 'hybrid' (both, with pad files after each non-empty
   * file of a multi-file torrent, as libtorrent 2.0.8 places them). Default 'v1'. The files must be
   * in BEP 52 order (sorted by path) for v2 and hybrid.
   */
  version?: 'v1' | 'v2' | 'hybrid';
  /** v2 and hybrid: per file, its pieces root (undefined when empty) and piece layer (may be empty). */
  v2Files?: { root: Uint8Array | undefined; layer: Uint8Array }[];
}

/** Builds a .torrent. Adds to `info` only the keys asked for (no `private: 0`). */
export function buildMetainfo(o: BuildOptions): Buffer {
  const version = o.version ?? 'v1';
  const single = o.files.length === 1 && !o.multiFile;
  const info: Record<string, BEncodable> = {
    name: o.name,
    'piece length': o.pieceLength,
  };
  if (version !== 'v2') info.pieces = o.pieces;
  if (version !== 'v1') {
    if (!o.v2Files || o.v2Files.length !== o.files.length)
      throw new RangeError('v2Files: one entry per file is needed for a v2 or hybrid torrent');
    info['meta version'] = 2;
    info['file tree'] = buildFileTree(single ? [[o.name]] : o.files.map((f) => f.path), o.files, o.v2Files);
  }
  if (version !== 'v2') {
    if (single) {
      info.length = o.files[0]!.length;
    } else {
      const list: BEncodable[] = [];
      let offset = 0;
      for (const f of o.files) {
        list.push({ length: f.length, path: f.path });
        offset += f.length;
        const gap = offset % o.pieceLength;
        if (version === 'hybrid' && o.files.length > 1 && f.length > 0 && gap !== 0) {
          const pad = o.pieceLength - gap;
          list.push({ attr: 'p', length: pad, path: ['.pad', String(pad)] });
          offset += pad;
        }
      }
      info.files = list;
    }
  }
  if (o.private) info.private = 1;
  const root: Record<string, BEncodable> = { info };
  if (version !== 'v1') {
    const layers = new Map<string, BEncodable>();
    for (const f of o.v2Files!) {
      if (f.root && f.layer.length > 0) layers.set(Buffer.from(f.root).toString('latin1'), f.layer);
    }
    root['piece layers'] = layers;
  }
  const tiers = (o.announceList ?? []).filter((t) => t.length > 0);
  if (tiers.length > 0) {
    root.announce = tiers[0]![0]!;
    if (tiers.length > 1 || tiers[0]!.length > 1) root['announce-list'] = tiers;
  }
  if (o.urlList && o.urlList.length > 0)
    root['url-list'] = o.urlList.length === 1 ? o.urlList[0]! : o.urlList;
  if (o.comment !== undefined) root.comment = o.comment;
  if (o.createdBy !== undefined) root['created by'] = o.createdBy;
  if (o.creationDate !== undefined) root['creation date'] = o.creationDate;
  return encode(root);
}

/** The nested `file tree` dicts: each file a dict with the key '' holding length and pieces root. */
function buildFileTree(
  paths: string[][],
  files: BuildFile[],
  v2: { root: Uint8Array | undefined }[],
): Map<string, BEncodable> {
  type Node = Map<string, BEncodable>;
  const top: Node = new Map();
  const key = (s: string): string => Buffer.from(s, 'utf8').toString('latin1');
  paths.forEach((path, i) => {
    let node = top;
    for (const el of path.slice(0, -1)) {
      let next = node.get(key(el));
      if (!(next instanceof Map)) {
        next = new Map();
        node.set(key(el), next);
      }
      node = next as Node;
    }
    const leaf: Record<string, BEncodable> = { length: files[i]!.length };
    const r = v2[i]!.root;
    if (r && files[i]!.length > 0) leaf['pieces root'] = r;
    node.set(key(path[path.length - 1]!), new Map([['', leaf]]));
  });
  return top;
}

/** Piece length as libtorrent and mktorrent choose it: a power of two from 16 KiB to 16 MiB giving
 * about 1,000–2,000 pieces. */
export function autoPieceLength(totalLength: number): number {
  let pl = 16 * 1024;
  while (pl < 16 * 1024 * 1024 && totalLength / pl > 2000) pl *= 2;
  return pl;
}

/** `host:port` shorthand → `http://host:port/announce`; URLs pass through. */
export function expandAnnounce(s: string): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(s)) return s;
  return `http://${s}/announce`;
}
