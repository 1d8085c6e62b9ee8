// HTTP tracker messages (BEP 3, compact peers BEP 23, IPv6 peers BEP 7, scrape BEP 48). Sans-I/O:
// the server side parses a raw announce/scrape query and builds bencoded replies; the client side
// builds the query and parses the replies. Also the IP-literal codec that both trackers share.
//
// Queries carry binary info hashes and peer ids percent-encoded byte by byte, so the raw query is
// decoded here to bytes (URLSearchParams would decode them as UTF-8 and mangle them).

import { type BDict, type BValue, bdecode, encode, isBytes, isDict, isInt, isList, text } from './bencode.js';
import { BencodeError } from './errors.js';
import { formatIp, ipLiteralBytes } from './ip.js';

/** A request the tracker cannot serve: becomes a bencoded `failure reason`. */
export class TrackerRequestError extends Error {
  override readonly name = 'TrackerRequestError';
  readonly code = 'ERR_TRACKER_REQUEST';
}

/** A tracker's reply that does not follow the protocol (or a `failure reason` it sent). */
export class TrackerReplyError extends Error {
  override readonly name = 'TrackerReplyError';
  readonly code = 'ERR_TRACKER_REPLY';
}

export const AnnounceEvent = {
  none: 'none',
  started: 'started',
  completed: 'completed',
  stopped: 'stopped',
  /** BEP 21: a partial seed that stopped downloading; counted like `none`. */
  paused: 'paused',
} as const;
export type AnnounceEvent = (typeof AnnounceEvent)[keyof typeof AnnounceEvent];

export interface PeerAddress {
  host: string;
  port: number;
}

// ---------------------------------------------------------------------------------------------------
// IP literals

/** ip.ts's `ipLiteralBytes` as a Buffer (4 bytes for IPv4 and IPv4-mapped IPv6, 16 for IPv6). */
export function ipToBytes(ip: string): Buffer | undefined {
  const v = ipLiteralBytes(ip);
  return v === undefined ? undefined : Buffer.from(v.buffer, v.byteOffset, v.length);
}

/** Text of 4 or 16 IP bytes (IPv6 in RFC 5952 form: lowercase, longest zero run as `::`). */
export const bytesToIp = formatIp;

// ---------------------------------------------------------------------------------------------------
// Compact peers (BEP 23: 4 bytes IPv4 + 2 bytes port; BEP 7: 16 bytes IPv6 + 2 bytes port)

/** 6 or 18 bytes for a peer whose host is an IP literal; undefined otherwise. */
export function compactPeer(host: string, port: number): Buffer | undefined {
  const ip = ipToBytes(host);
  if (ip === undefined || !Number.isInteger(port) || port < 0 || port > 65535) return undefined;
  const out = Buffer.allocUnsafe(ip.length + 2);
  ip.copy(out, 0);
  out.writeUInt16BE(port, ip.length);
  return out;
}

/** Peers of a compact string; entries of port 0 are skipped, a partial trailing entry is an error. */
export function decodeCompactPeers(bytes: Uint8Array, entryBytes: 6 | 18): PeerAddress[] {
  if (bytes.length % entryBytes !== 0) {
    throw new TrackerReplyError(`compact peers of ${bytes.length} bytes is not a multiple of ${entryBytes}`);
  }
  const out: PeerAddress[] = [];
  const ipBytes = entryBytes - 2;
  for (let off = 0; off < bytes.length; off += entryBytes) {
    const port = (bytes[off + ipBytes]! << 8) | bytes[off + ipBytes + 1]!;
    if (port === 0) continue;
    out.push({ host: bytesToIp(bytes.subarray(off, off + ipBytes)), port });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Queries

const HEX = '0123456789ABCDEF';

/** Percent-encodes bytes for a query: every byte outside RFC 3986's unreserved set becomes %XX. */
export function percentEncode(bytes: Uint8Array): string {
  let s = '';
  for (const c of bytes) {
    const unreserved =
      (c >= 0x30 && c <= 0x39) ||
      (c >= 0x41 && c <= 0x5a) ||
      (c >= 0x61 && c <= 0x7a) ||
      c === 0x2d ||
      c === 0x2e ||
      c === 0x5f ||
      c === 0x7e;
    s += unreserved ? String.fromCharCode(c) : `%${HEX[c >> 4]}${HEX[c & 15]}`;
  }
  return s;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/** Decodes %XX to bytes and `+` to a space; a `%` not followed by two hex digits is an error. */
export function percentDecode(s: string): Buffer {
  const out = Buffer.allocUnsafe(s.length);
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25) {
      const hi = i + 2 < s.length ? hexValue(s.charCodeAt(i + 1)) : -1;
      const lo = hi >= 0 ? hexValue(s.charCodeAt(i + 2)) : -1;
      if (lo < 0) throw new TrackerRequestError('malformed percent-encoding in the query');
      out[n++] = (hi << 4) | lo;
      i += 2;
    } else if (c === 0x2b) {
      out[n++] = 0x20;
    } else if (c > 0xff) {
      throw new TrackerRequestError('non-ASCII character in the query');
    } else {
      out[n++] = c;
    }
  }
  return out.subarray(0, n);
}

/**
 * The parameters of a raw query (the part after `?`), each name with its decoded values in order.
 * Stops with an error past `maxParams` parameters, so a hostile query cannot allocate without bound.
 */
export function parseQuery(query: string, maxParams = 256): Map<string, Buffer[]> {
  const out = new Map<string, Buffer[]>();
  if (query.length === 0) return out;
  let count = 0;
  let start = 0;
  while (start <= query.length) {
    let end = query.indexOf('&', start);
    if (end === -1) end = query.length;
    if (end > start) {
      if (++count > maxParams) throw new TrackerRequestError(`more than ${maxParams} query parameters`);
      const part = query.slice(start, end);
      const eq = part.indexOf('=');
      const name = percentDecode(eq === -1 ? part : part.slice(0, eq)).toString('latin1');
      const value = eq === -1 ? Buffer.alloc(0) : percentDecode(part.slice(eq + 1));
      const list = out.get(name);
      if (list === undefined) out.set(name, [value]);
      else list.push(value);
    }
    start = end + 1;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Announce and scrape requests (server side)

export interface AnnounceRequest {
  infoHash: Buffer;
  peerId: Buffer;
  port: number;
  uploaded: number;
  downloaded: number;
  /** Bytes left; undefined when the client did not say (counted as a leecher). */
  left: number | undefined;
  event: AnnounceEvent;
  /** As asked; undefined when absent or negative (the tracker's default applies). */
  numwant: number | undefined;
  compact: boolean;
  noPeerId: boolean;
  /** The `ip` parameter as sent; trackers ignore it unless configured to trust it. */
  ip: string | undefined;
  key: Buffer | undefined;
  trackerId: Buffer | undefined;
}

const MAX_INT32 = 2 ** 31 - 1;
const MAX_ANNOUNCE_PARAMS = 256;

/** A decimal integer of at most 20 digits; values past 2^53 clamp (they are statistics). */
function decimal(name: string, s: string, allowNegative = false): number {
  const neg = allowNegative && s.charCodeAt(0) === 0x2d;
  const from = neg ? 1 : 0;
  const digits = s.length - from;
  if (digits < 1 || digits > 20) throw new TrackerRequestError(`${name} is not a decimal integer`);
  let n = 0;
  for (let i = from; i < s.length; i++) {
    const c = s.charCodeAt(i) - 0x30;
    if (c < 0 || c > 9) throw new TrackerRequestError(`${name} is not a decimal integer`);
    n = n * 10 + c;
  }
  n = Math.min(n, Number.MAX_SAFE_INTEGER);
  // `-0` is 0, not a negative number (nor -0, which would leak into the tracker's arithmetic).
  return neg && n > 0 ? -n : n;
}

/** A query component as text: most are plain ASCII and need no decoding. */
function plain(raw: string): string {
  return raw.includes('%') || raw.includes('+') ? percentDecode(raw).toString('latin1') : raw;
}

const ANNOUNCE_FIELDS = [
  'info_hash',
  'peer_id',
  'port',
  'uploaded',
  'downloaded',
  'left',
  'event',
  'numwant',
  'compact',
  'no_peer_id',
  'ip',
  'key',
  'trackerid',
] as const;
const FIELD_INDEX = new Map<string, number>(ANNOUNCE_FIELDS.map((f, i) => [f, i]));

/**
 * Parses an announce query in one pass (this is the tracker's hot path); throws
 * `TrackerRequestError` with a message fit for `failure reason`. Unknown parameters are ignored,
 * a known one given twice is an error (which would the client mean?).
 */
export function parseAnnounceQuery(query: string): AnnounceRequest {
  const raw: (string | undefined)[] = new Array(ANNOUNCE_FIELDS.length);
  let count = 0;
  let start = 0;
  while (start < query.length) {
    let end = query.indexOf('&', start);
    if (end === -1) end = query.length;
    if (end > start) {
      if (++count > MAX_ANNOUNCE_PARAMS) {
        throw new TrackerRequestError(`more than ${MAX_ANNOUNCE_PARAMS} query parameters`);
      }
      let eq = query.indexOf('=', start);
      if (eq === -1 || eq > end) eq = end;
      const idx = FIELD_INDEX.get(plain(query.slice(start, eq)));
      if (idx !== undefined) {
        if (raw[idx] !== undefined)
          throw new TrackerRequestError(`parameter ${ANNOUNCE_FIELDS[idx]} given twice`);
        raw[idx] = eq < end ? query.slice(eq + 1, end) : '';
      }
    }
    start = end + 1;
  }
  const [
    ihRaw,
    pidRaw,
    portRaw,
    upRaw,
    downRaw,
    leftRaw,
    eventRaw,
    numwantRaw,
    compactRaw,
    npiRaw,
    ipRaw,
    keyRaw,
    tidRaw,
  ] = raw;
  if (ihRaw === undefined) throw new TrackerRequestError('missing info_hash');
  const infoHash = percentDecode(ihRaw);
  if (infoHash.length !== 20) throw new TrackerRequestError('info_hash is not 20 bytes');
  if (pidRaw === undefined) throw new TrackerRequestError('missing peer_id');
  const peerId = percentDecode(pidRaw);
  if (peerId.length !== 20) throw new TrackerRequestError('peer_id is not 20 bytes');
  if (portRaw === undefined) throw new TrackerRequestError('missing port');
  const port = decimal('port', plain(portRaw));
  if (port < 1 || port > 65535) throw new TrackerRequestError('port out of range');
  const num = (name: string, v: string | undefined): number =>
    v === undefined || v.length === 0 ? 0 : decimal(name, plain(v));
  let event: AnnounceEvent;
  const ev = eventRaw === undefined ? '' : plain(eventRaw);
  switch (ev) {
    case '':
    case 'empty':
      event = AnnounceEvent.none;
      break;
    case 'started':
    case 'completed':
    case 'stopped':
    case 'paused':
      event = ev;
      break;
    default:
      throw new TrackerRequestError('unknown event');
  }
  let numwant: number | undefined;
  if (numwantRaw !== undefined && numwantRaw.length > 0) {
    const n = decimal('numwant', plain(numwantRaw), true);
    if (n > MAX_INT32) throw new TrackerRequestError('numwant out of range');
    numwant = n < 0 ? undefined : n;
  }
  const key = keyRaw === undefined ? undefined : percentDecode(keyRaw);
  const trackerId = tidRaw === undefined ? undefined : percentDecode(tidRaw);
  if (key !== undefined && key.length > 64) throw new TrackerRequestError('key too long');
  if (trackerId !== undefined && trackerId.length > 64) throw new TrackerRequestError('trackerid too long');
  return {
    infoHash,
    peerId,
    port,
    uploaded: num('uploaded', upRaw),
    downloaded: num('downloaded', downRaw),
    left: leftRaw === undefined || leftRaw.length === 0 ? undefined : decimal('left', plain(leftRaw)),
    event,
    numwant,
    compact: compactRaw === undefined ? true : plain(compactRaw) === '1',
    noPeerId: npiRaw !== undefined && plain(npiRaw) === '1',
    ip: ipRaw === undefined ? undefined : plain(ipRaw),
    key,
    trackerId,
  };
}

/**
 * The info hashes of a scrape query, at most `maxHashes` of them (the rest are not even decoded:
 * a scrape of thousands of hashes costs what a scrape of `maxHashes` does). Empty means "all".
 */
export function parseScrapeQuery(query: string, maxHashes: number): Buffer[] {
  const out: Buffer[] = [];
  let start = 0;
  while (start < query.length && out.length < maxHashes) {
    let end = query.indexOf('&', start);
    if (end === -1) end = query.length;
    const part = query.slice(start, end);
    if (part.startsWith('info_hash=')) {
      const h = percentDecode(part.slice(10));
      if (h.length !== 20) throw new TrackerRequestError('info_hash is not 20 bytes');
      out.push(h);
    }
    start = end + 1;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Replies (server side)

export interface ListedPeer {
  /** 4 or 16 bytes. */
  ip: Uint8Array;
  port: number;
  peerId?: Uint8Array | undefined;
}

export interface AnnounceReplyFields {
  intervalSec: number;
  minIntervalSec?: number;
  complete: number;
  incomplete: number;
  trackerId?: string;
  warning?: string;
}

/**
 * A compact reply: `peers` (6 bytes each) and, when there are any, `peers6` (18 bytes each).
 * Written by hand, keys in their sorted order, in one allocation: it is the tracker's hot path.
 */
export function encodeCompactAnnounceReply(
  fields: AnnounceReplyFields,
  peers4: Uint8Array,
  peers6: Uint8Array,
): Buffer {
  const int = (n: number): string => `i${Math.max(0, Math.floor(n))}e`;
  let head = `d8:complete${int(fields.complete)}10:incomplete${int(fields.incomplete)}8:interval${int(fields.intervalSec)}`;
  if (fields.minIntervalSec !== undefined) head += `12:min interval${int(fields.minIntervalSec)}`;
  head += `5:peers${peers4.length}:`;
  const mid = peers6.length > 0 ? `6:peers6${peers6.length}:` : '';
  let tail = '';
  if (fields.trackerId !== undefined) tail += `10:tracker id${Buffer.byteLength(fields.trackerId)}:`;
  const warning = fields.warning === undefined ? undefined : Buffer.from(fields.warning);
  const tid = fields.trackerId === undefined ? undefined : Buffer.from(fields.trackerId);
  const size =
    head.length +
    peers4.length +
    mid.length +
    peers6.length +
    tail.length +
    (tid?.length ?? 0) +
    (warning === undefined ? 0 : 19 + String(warning.length).length + warning.length) +
    1;
  const out = Buffer.allocUnsafe(size);
  let off = out.write(head, 0, 'latin1');
  out.set(peers4, off);
  off += peers4.length;
  if (mid !== '') {
    off += out.write(mid, off, 'latin1');
    out.set(peers6, off);
    off += peers6.length;
  }
  if (tid !== undefined) {
    off += out.write(tail, off, 'latin1');
    out.set(tid, off);
    off += tid.length;
  }
  if (warning !== undefined) {
    off += out.write(`15:warning message${warning.length}:`, off, 'latin1');
    out.set(warning, off);
    off += warning.length;
  }
  out[off] = 0x65; // 'e'
  return out;
}

/** The original (BEP 3) reply: a list of dictionaries, with `peer id` unless `noPeerId`. */
export function encodeDictAnnounceReply(
  fields: AnnounceReplyFields,
  peers: readonly ListedPeer[],
  noPeerId: boolean,
): Buffer {
  return encode({
    complete: fields.complete,
    incomplete: fields.incomplete,
    interval: fields.intervalSec,
    'min interval': fields.minIntervalSec,
    peers: peers.map((p) => ({
      ip: bytesToIp(p.ip),
      port: p.port,
      'peer id': noPeerId ? undefined : p.peerId,
    })),
    'tracker id': fields.trackerId,
    'warning message': fields.warning,
  });
}

export function encodeFailure(reason: string, retryInMinutes?: number): Buffer {
  return encode({ 'failure reason': reason, 'retry in': retryInMinutes });
}

export interface ScrapeEntry {
  infoHash: Uint8Array;
  complete: number;
  downloaded: number;
  incomplete: number;
}

export function encodeScrapeReply(entries: readonly ScrapeEntry[]): Buffer {
  const files = new Map<string, BDict>();
  for (const e of entries) {
    files.set(
      Buffer.from(e.infoHash).toString('latin1'),
      new Map<string, BValue>([
        ['complete', e.complete],
        ['downloaded', e.downloaded],
        ['incomplete', e.incomplete],
      ]),
    );
  }
  return encode({ files });
}

// ---------------------------------------------------------------------------------------------------
// Client side

export interface AnnounceParams {
  infoHash: Uint8Array;
  peerId: Uint8Array;
  port: number;
  uploaded: number;
  downloaded: number;
  left: number;
  event: AnnounceEvent;
  numwant?: number;
  /** Random per session, lets a tracker recognise us across IP changes. */
  key?: string;
  trackerId?: Uint8Array;
  compact?: boolean;
}

/** The query of an announce, without the leading `?`. */
export function buildAnnounceQuery(p: AnnounceParams): string {
  const parts = [
    `info_hash=${percentEncode(p.infoHash)}`,
    `peer_id=${percentEncode(p.peerId)}`,
    `port=${p.port}`,
    `uploaded=${Math.max(0, Math.floor(p.uploaded))}`,
    `downloaded=${Math.max(0, Math.floor(p.downloaded))}`,
    `left=${Math.max(0, Math.floor(p.left))}`,
    `compact=${p.compact === false ? 0 : 1}`,
  ];
  if (p.event !== AnnounceEvent.none) parts.push(`event=${p.event}`);
  if (p.numwant !== undefined) parts.push(`numwant=${p.numwant}`);
  if (p.key !== undefined) parts.push(`key=${percentEncode(Buffer.from(p.key, 'latin1'))}`);
  if (p.trackerId !== undefined) parts.push(`trackerid=${percentEncode(p.trackerId)}`);
  return parts.join('&');
}

export function buildScrapeQuery(infoHashes: readonly Uint8Array[]): string {
  return infoHashes.map((h) => `info_hash=${percentEncode(h)}`).join('&');
}

/** BEP 48's convention: the scrape URL replaces a last path segment `announce…` by `scrape…`. */
export function scrapeUrlOf(announceUrl: string): string | undefined {
  const q = announceUrl.indexOf('?');
  const path = q === -1 ? announceUrl : announceUrl.slice(0, q);
  const slash = path.lastIndexOf('/');
  if (slash === -1 || !path.startsWith('announce', slash + 1)) return undefined;
  return `${path.slice(0, slash + 1)}scrape${announceUrl.slice(slash + 1 + 'announce'.length)}`;
}

export interface AnnounceReply {
  intervalSec: number;
  minIntervalSec: number | undefined;
  complete: number | undefined;
  incomplete: number | undefined;
  trackerId: Buffer | undefined;
  warning: string | undefined;
  peers: PeerAddress[];
}

function asNumber(v: BValue | undefined): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number.MAX_SAFE_INTEGER;
  return undefined;
}

function decodeDict(body: Uint8Array): BDict {
  let v: BValue;
  try {
    // Trackers in the wild send unsorted keys; accept them.
    v = bdecode(body, { lenient: true, maxDepth: 8 });
  } catch (err) {
    if (err instanceof BencodeError) throw new TrackerReplyError(`reply is not bencoded: ${err.message}`);
    throw err;
  }
  if (!isDict(v)) throw new TrackerReplyError('reply is not a dictionary');
  const failure = v.get('failure reason');
  if (failure !== undefined) {
    const reason = isBytes(failure) ? (text(failure) ?? 'unreadable reason') : 'unreadable reason';
    throw new TrackerReplyError(`tracker failure: ${reason.slice(0, 200)}`);
  }
  return v;
}

/** Parses an announce reply; a `failure reason` becomes a `TrackerReplyError`. */
export function parseAnnounceReply(body: Uint8Array): AnnounceReply {
  const d = decodeDict(body);
  const interval = asNumber(d.get('interval'));
  if (interval === undefined || interval < 0) throw new TrackerReplyError('reply has no valid interval');
  const minInterval = asNumber(d.get('min interval'));
  const peers: PeerAddress[] = [];
  const p4 = d.get('peers');
  if (isBytes(p4)) peers.push(...decodeCompactPeers(p4, 6));
  else if (isList(p4)) {
    for (const entry of p4) {
      if (!isDict(entry)) continue;
      const ip = entry.get('ip');
      const port = asNumber(entry.get('port'));
      const host = isBytes(ip) ? text(ip) : undefined;
      // Host names are not followed: a tracker must not make us resolve names of its choice.
      if (host === undefined || ipToBytes(host) === undefined) continue;
      if (port === undefined || port < 1 || port > 65535) continue;
      peers.push({ host: bytesToIp(ipToBytes(host)!), port });
    }
  } else if (p4 !== undefined) throw new TrackerReplyError('peers is neither a string nor a list');
  const p6 = d.get('peers6');
  if (isBytes(p6)) peers.push(...decodeCompactPeers(p6, 18));
  const tid = d.get('tracker id');
  const warning = d.get('warning message');
  return {
    intervalSec: interval,
    minIntervalSec: minInterval !== undefined && minInterval >= 0 ? minInterval : undefined,
    complete: asNumber(d.get('complete')),
    incomplete: asNumber(d.get('incomplete')),
    trackerId: isBytes(tid) && tid.length > 0 && tid.length <= 64 ? Buffer.from(tid) : undefined,
    warning: isBytes(warning) ? text(warning) : undefined,
    peers,
  };
}

export interface ScrapeCounts {
  complete: number;
  incomplete: number;
  downloaded: number;
}

/** Counts per info hash (hex) of a scrape reply. */
export function parseScrapeReply(body: Uint8Array): Map<string, ScrapeCounts> {
  const d = decodeDict(body);
  const files = d.get('files');
  if (!isDict(files)) throw new TrackerReplyError('scrape reply has no files dictionary');
  const out = new Map<string, ScrapeCounts>();
  for (const [k, v] of files) {
    if (k.length !== 20 || !isDict(v)) continue;
    const n = (name: string): number => {
      const x = v.get(name);
      return isInt(x) ? (asNumber(x) ?? 0) : 0;
    };
    out.set(Buffer.from(k, 'latin1').toString('hex'), {
      complete: n('complete'),
      incomplete: n('incomplete'),
      downloaded: n('downloaded'),
    });
  }
  return out;
}
