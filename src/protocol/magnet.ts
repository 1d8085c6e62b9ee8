// Magnet links (BEP 9, BEP 53 `so`): parse and format. `xt=urn:btih:` in hex or base32, and
// BEP 52's `xt=urn:btmh:1220<64 hex>` (a SHA-256 multihash: v2, or with a btih, a hybrid).
// Parsing is linear in the link's length, and a link names at most MAX_MAGNET_TRACKERS trackers,
// MAX_MAGNET_PEERS peers and MAX_MAGNET_SELECTED files (else a MagnetError): a link is remote input.

import { MagnetError, quote } from './errors.js';

export interface Magnet {
  /** The btih, or for a v2-only link the first 20 bytes of the btmh (as peers know it). */
  infoHash: Buffer;
  infoHashHex: string;
  /** The btmh's SHA-256 (v2 or hybrid). */
  infoHashV2?: Buffer;
  name?: string;
  /** Tracker URLs (http, https, udp only). */
  trackers: string[];
  /** Peer addresses (`x.pe`), `host:port`. */
  peers: string[];
  webSeeds: string[];
  /** BEP 53 select-only file indices. */
  selectOnly?: number[];
  warnings: string[];
}

/** Most `tr=` a magnet link may carry (libtorrent's own links carry a handful). */
export const MAX_MAGNET_TRACKERS = 500;
/** Most `x.pe=` a magnet link may carry. */
export const MAX_MAGNET_PEERS = 500;
/** Most file indices `so=` may select, counting every index of every range. */
export const MAX_MAGNET_SELECTED = 100_000;
/** Warnings kept per kind; the rest are counted in one last warning. */
const MAX_WARNINGS = 10;

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

export function base32Decode(s: string): Buffer | undefined {
  const up = s.toUpperCase();
  let bits = 0;
  let value = 0;
  const out: number[] = [];
  for (const ch of up) {
    const v = BASE32.indexOf(ch);
    if (v < 0) return undefined;
    value = (value << 5) | v;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

export function isMagnet(s: string): boolean {
  return /^magnet:\?/i.test(s);
}

export function parseMagnet(uri: string): Magnet {
  if (!isMagnet(uri)) throw new MagnetError('not a magnet link (expected "magnet:?")');
  const params = new URLSearchParams(uri.slice(uri.indexOf('?') + 1));
  let infoHash: Buffer | undefined;
  let infoHashV2: Buffer | undefined;
  const warnings: string[] = [];
  for (const xt of params.getAll('xt')) {
    const mh = /^urn:btmh:(.*)$/i.exec(xt);
    if (mh) {
      const h = mh[1]!;
      if (!/^1220[0-9a-f]{64}$/i.test(h))
        throw new MagnetError(
          `xt: ${quote(h.slice(0, 80))} is not a SHA-256 multihash (1220 and 64 hex digits)`,
        );
      const parsed = Buffer.from(h.slice(4), 'hex');
      if (infoHashV2 && !infoHashV2.equals(parsed))
        throw new MagnetError('xt: two different btmh info hashes');
      infoHashV2 = parsed;
      continue;
    }
    const m = /^urn:btih:(.*)$/i.exec(xt);
    if (!m) continue;
    const h = m[1]!;
    let parsed: Buffer | undefined;
    if (/^[0-9a-f]{40}$/i.test(h)) parsed = Buffer.from(h, 'hex');
    else if (/^[a-z2-7]{32}$/i.test(h)) parsed = base32Decode(h);
    if (parsed?.length !== 20) {
      throw new MagnetError(`xt: ${quote(h)} is not a 40-digit hex or 32-character base32 info hash`);
    }
    if (infoHash && !infoHash.equals(parsed)) throw new MagnetError('xt: two different btih info hashes');
    infoHash = parsed;
  }
  if (!infoHash) {
    if (!infoHashV2) throw new MagnetError('xt: missing urn:btih or urn:btmh info hash');
    infoHash = infoHashV2.subarray(0, 20);
  }
  const trs = params.getAll('tr');
  if (trs.length > MAX_MAGNET_TRACKERS) {
    throw new MagnetError(
      `tr: ${trs.length} trackers, more than the ${MAX_MAGNET_TRACKERS} a magnet link may name`,
    );
  }
  const pes = params.getAll('x.pe');
  if (pes.length > MAX_MAGNET_PEERS) {
    throw new MagnetError(
      `x.pe: ${pes.length} peers, more than the ${MAX_MAGNET_PEERS} a magnet link may name`,
    );
  }
  const seen = new Set<string>();
  const trackers: string[] = [];
  const ignored: string[] = [];
  for (const tr of trs) {
    if (!/^(https?|udp):\/\//i.test(tr))
      ignored.push(`tracker ${quote(tr)} ignored: only http, https and udp are supported`);
    else if (!seen.has(tr)) {
      seen.add(tr);
      trackers.push(tr);
    }
  }
  const peers: string[] = [];
  for (const pe of pes) {
    if (/^(\[[0-9a-f:.]+\]|[^:[\]\s]+):\d{1,5}$/i.test(pe)) peers.push(pe);
    else ignored.push(`peer ${quote(pe)} ignored: not host:port`);
  }
  warnings.push(...ignored.slice(0, MAX_WARNINGS));
  if (ignored.length > MAX_WARNINGS)
    warnings.push(`${ignored.length - MAX_WARNINGS} more trackers or peers ignored`);
  const out: Magnet = {
    infoHash,
    infoHashHex: infoHash.toString('hex'),
    trackers,
    peers,
    webSeeds: params.getAll('ws'),
    warnings,
  };
  if (infoHashV2) out.infoHashV2 = infoHashV2;
  const dn = params.get('dn');
  if (dn !== null) out.name = dn;
  const so = params.get('so');
  if (so !== null) out.selectOnly = parseSelectOnly(so);
  return out;
}

function parseSelectOnly(so: string): number[] {
  // Ranges are counted before any index is listed, so a huge range costs nothing.
  const ranges: [number, number][] = [];
  let count = 0;
  for (const part of so.split(',')) {
    const m = /^(\d{1,15})(?:-(\d{1,15}))?$/.exec(part.trim());
    if (!m) throw new MagnetError(`so: ${quote(part.slice(0, 40))} is not an index or a range`);
    const a = Number(m[1]);
    const b = m[2] !== undefined ? Number(m[2]) : a;
    if (b < a) throw new MagnetError(`so: bad range ${quote(part)}`);
    count += b - a + 1;
    if (count > MAX_MAGNET_SELECTED) {
      throw new MagnetError(`so: selects more than ${MAX_MAGNET_SELECTED} files`);
    }
    ranges.push([a, b]);
  }
  ranges.sort((x, y) => x[0] - y[0]);
  const out: number[] = [];
  for (const [a, b] of ranges) {
    for (let i = Math.max(a, (out[out.length - 1] ?? -1) + 1); i <= b; i++) out.push(i);
  }
  return out;
}

export interface MagnetFields {
  infoHash: Uint8Array;
  /** Adds `xt=urn:btmh:` (v2 and hybrid torrents). */
  infoHashV2?: Uint8Array | undefined;
  /** A v2-only torrent: `infoHash` is the truncated v2 hash, so no btih. */
  v2Only?: boolean;
  name?: string | undefined;
  trackers?: readonly string[];
  peers?: readonly string[];
  webSeeds?: readonly string[];
  selectOnly?: readonly number[];
}

export function formatMagnet(m: MagnetFields): string {
  const parts: string[] = [];
  if (!(m.v2Only && m.infoHashV2)) parts.push(`xt=urn:btih:${Buffer.from(m.infoHash).toString('hex')}`);
  if (m.infoHashV2) parts.push(`xt=urn:btmh:1220${Buffer.from(m.infoHashV2).toString('hex')}`);
  const enc = (s: string): string => encodeURIComponent(s);
  if (m.name !== undefined) parts.push(`dn=${enc(m.name)}`);
  for (const t of m.trackers ?? []) parts.push(`tr=${enc(t)}`);
  for (const w of m.webSeeds ?? []) parts.push(`ws=${enc(w)}`);
  for (const p of m.peers ?? []) parts.push(`x.pe=${enc(p)}`);
  if (m.selectOnly && m.selectOnly.length > 0) parts.push(`so=${m.selectOnly.join(',')}`);
  return `magnet:?${parts.join('&')}`;
}
