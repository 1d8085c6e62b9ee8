// Local service discovery message codec (BEP 14): the `BT-SEARCH` announce that peers multicast on
// their LAN, an HTTP-like header block carrying our listen port, one or more info hashes and a cookie
// that lets a node recognise its own packets when they loop back.
//
//   BT-SEARCH * HTTP/1.1\r\n
//   Host: 239.192.152.143:6771\r\n
//   Port: <port>\r\n
//   Infohash: <40 hex>\r\n        (repeated, one line per torrent)
//   cookie: <opaque token>\r\n     (optional)
//   \r\n
//   \r\n
//
// The parser accepts any case in header names, LF or CRLF line ends, spaces around values, unknown
// headers and a missing Host; it rejects packets over the size cap, too many info hashes, a missing
// or duplicate Port, and any info hash or port that is not exactly well formed.

export const LSD_PORT = 6771;
export const LSD_IPV4_GROUP = '239.192.152.143';
export const LSD_IPV6_GROUP = 'ff15::efc0:988f';
/** Largest packet sent or parsed: below a typical MTU so that it never fragments. */
export const LSD_MAX_PACKET_BYTES = 1400;
/** Most info hashes parsed from one packet (a full packet holds about 24). */
export const LSD_MAX_INFO_HASHES = 50;
/** Longest cookie sent or parsed. */
export const LSD_MAX_COOKIE_CHARS = 64;

export const LsdErrorReason = {
  tooLarge: 'too-large',
  badRequestLine: 'bad-request-line',
  badHeader: 'bad-header',
  badPort: 'bad-port',
  badInfoHash: 'bad-info-hash',
  tooManyInfoHashes: 'too-many-info-hashes',
  badCookie: 'bad-cookie',
  missingField: 'missing-field',
} as const;
export type LsdErrorReason = (typeof LsdErrorReason)[keyof typeof LsdErrorReason];

export class LsdError extends Error {
  override readonly name = 'LsdError';
  readonly code = 'ERR_LSD';
  readonly reason: LsdErrorReason;
  constructor(reason: LsdErrorReason, message: string, options?: ErrorOptions) {
    super(message, options);
    this.reason = reason;
  }
}

export interface LsdAnnounce {
  /** The sender's BitTorrent listen port. */
  port: number;
  /** 20-byte info hashes. */
  infoHashes: Buffer[];
  /** Opaque token identifying the sending node, if any. */
  cookie?: string;
  /** The Host header as sent, if any (e.g. `239.192.152.143:6771`). */
  host?: string;
}

export interface LsdFormatOptions {
  port: number;
  infoHashes: readonly Uint8Array[];
  cookie?: string;
  /** IPv6 Host header (`[ff15::efc0:988f]:6771`) instead of the IPv4 one. */
  ipv6?: boolean;
  /** The group and port named in the Host header (defaults: the BEP 14 group of the family, 6771). */
  groupAddress?: string;
  lsdPort?: number;
}

const COOKIE_RE = /^[\x21-\x7e]+$/;
const HEX40_RE = /^[0-9a-fA-F]{40}$/;
const PORT_RE = /^[0-9]{1,5}$/;

function hostHeader(o: LsdFormatOptions): string {
  const group = o.groupAddress ?? (o.ipv6 ? LSD_IPV6_GROUP : LSD_IPV4_GROUP);
  const port = o.lsdPort ?? LSD_PORT;
  return group.includes(':') ? `[${group}]:${port}` : `${group}:${port}`;
}

function checkFormat(o: LsdFormatOptions): void {
  if (!Number.isInteger(o.port) || o.port < 1 || o.port > 0xffff) {
    throw new LsdError(LsdErrorReason.badPort, `port ${o.port} out of range`);
  }
  if (o.cookie !== undefined && (o.cookie.length > LSD_MAX_COOKIE_CHARS || !COOKIE_RE.test(o.cookie))) {
    throw new LsdError(LsdErrorReason.badCookie, 'cookie must be 1 to 64 printable ASCII characters');
  }
  for (const h of o.infoHashes) {
    if (h.length !== 20) throw new LsdError(LsdErrorReason.badInfoHash, `info hash of ${h.length} bytes`);
  }
}

function packet(o: LsdFormatOptions, hashes: readonly Uint8Array[]): Buffer {
  let s = `BT-SEARCH * HTTP/1.1\r\nHost: ${hostHeader(o)}\r\nPort: ${o.port}\r\n`;
  for (const h of hashes) s += `Infohash: ${Buffer.from(h).toString('hex')}\r\n`;
  if (o.cookie !== undefined) s += `cookie: ${o.cookie}\r\n`;
  s += '\r\n\r\n';
  return Buffer.from(s, 'latin1');
}

/** One announce packet for all `infoHashes`; throws when it would not fit in one packet. */
export function formatLsdAnnounce(o: LsdFormatOptions): Buffer {
  checkFormat(o);
  if (o.infoHashes.length === 0) throw new LsdError(LsdErrorReason.missingField, 'no info hash to announce');
  if (o.infoHashes.length > LSD_MAX_INFO_HASHES) {
    throw new LsdError(LsdErrorReason.tooManyInfoHashes, `${o.infoHashes.length} info hashes in one packet`);
  }
  const out = packet(o, o.infoHashes);
  if (out.length > LSD_MAX_PACKET_BYTES) {
    throw new LsdError(LsdErrorReason.tooLarge, `announce of ${out.length} bytes`);
  }
  return out;
}

/** How many info hashes one packet with these options holds (size and count caps). */
export function lsdInfoHashesPerPacket(o: Omit<LsdFormatOptions, 'infoHashes'>): number {
  const fixed = packet({ ...o, infoHashes: [] }, []).length;
  const perHash = 'Infohash: \r\n'.length + 40;
  return Math.min(LSD_MAX_INFO_HASHES, Math.floor((LSD_MAX_PACKET_BYTES - fixed) / perHash));
}

/** As few packets as hold all `infoHashes`, each within the size and count caps. */
export function formatLsdAnnounces(o: LsdFormatOptions): Buffer[] {
  checkFormat(o);
  const perPacket = lsdInfoHashesPerPacket(o);
  const out: Buffer[] = [];
  for (let i = 0; i < o.infoHashes.length; i += perPacket) {
    out.push(packet(o, o.infoHashes.slice(i, i + perPacket)));
  }
  return out;
}

/** Parses one received datagram. Throws only LsdError. */
export function parseLsdAnnounce(data: Uint8Array): LsdAnnounce {
  if (data.length > LSD_MAX_PACKET_BYTES) {
    throw new LsdError(LsdErrorReason.tooLarge, `packet of ${data.length} bytes`);
  }
  const text = Buffer.from(data.buffer, data.byteOffset, data.length).toString('latin1');
  const lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  const requestLine = lines[0]!.trim().split(/[ \t]+/);
  if (
    requestLine.length !== 3 ||
    requestLine[0]!.toUpperCase() !== 'BT-SEARCH' ||
    requestLine[1] !== '*' ||
    !/^HTTP\/1\.[01]$/i.test(requestLine[2]!)
  ) {
    throw new LsdError(LsdErrorReason.badRequestLine, 'not a BT-SEARCH request');
  }
  let port: number | undefined;
  let cookie: string | undefined;
  let host: string | undefined;
  const infoHashes: Buffer[] = [];
  const seen = new Set<string>();
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '') break; // end of the header block; the rest is padding
    const colon = line.indexOf(':');
    if (colon <= 0) throw new LsdError(LsdErrorReason.badHeader, `header line ${i} has no name`);
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === 'port') {
      if (port !== undefined) throw new LsdError(LsdErrorReason.badPort, 'two Port headers');
      const n = PORT_RE.test(value) ? Number(value) : 0;
      if (n < 1 || n > 0xffff) throw new LsdError(LsdErrorReason.badPort, 'Port is not 1 to 65535');
      port = n;
    } else if (name === 'infohash') {
      if (!HEX40_RE.test(value))
        throw new LsdError(LsdErrorReason.badInfoHash, 'Infohash is not 40 hex digits');
      const key = value.toLowerCase();
      if (seen.has(key)) continue;
      if (seen.size >= LSD_MAX_INFO_HASHES) {
        throw new LsdError(LsdErrorReason.tooManyInfoHashes, `more than ${LSD_MAX_INFO_HASHES} info hashes`);
      }
      seen.add(key);
      infoHashes.push(Buffer.from(key, 'hex'));
    } else if (name === 'cookie') {
      if (cookie !== undefined) throw new LsdError(LsdErrorReason.badCookie, 'two cookie headers');
      if (value.length > LSD_MAX_COOKIE_CHARS || !COOKIE_RE.test(value)) {
        throw new LsdError(LsdErrorReason.badCookie, 'cookie is not 1 to 64 printable ASCII characters');
      }
      cookie = value;
    } else if (name === 'host') {
      host = value;
    }
  }
  if (port === undefined) throw new LsdError(LsdErrorReason.missingField, 'no Port header');
  if (infoHashes.length === 0) throw new LsdError(LsdErrorReason.missingField, 'no Infohash header');
  const out: LsdAnnounce = { port, infoHashes };
  if (cookie !== undefined) out.cookie = cookie;
  if (host !== undefined) out.host = host;
  return out;
}
