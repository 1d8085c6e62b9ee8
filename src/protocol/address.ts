// Peer and service addresses as text: `host:port`, and `[v6]:port` for IPv6 (RFC 3986's form, the
// only one that reads back unambiguously: '2001:db8::1:6881' could be port 6881 of 2001:db8::1 or
// no port at all of 2001:db8::1:6881). One module for every layer that formats or parses them:
// --peer and --api options, the API, saved torrent records, magnet peers, the library.

import { parseIp, unbracket } from './ip.js';

export interface PeerAddress {
  host: string;
  port: number;
}

export interface ParseAddressOptions {
  /** Accept port 0 (a listen address: "any free port"); peers never have it. */
  allowPortZero?: boolean;
}

/** `host:port`, with the host in brackets when it is an IPv6 literal. */
export function formatAddress(a: PeerAddress): string {
  const host = unbracket(a.host);
  return host.includes(':') ? `[${host}]:${a.port}` : `${host}:${a.port}`;
}

/**
 * Parses `host:port` or `[v6]:port` (the host: a name, an IPv4 or, in brackets, an IPv6 literal).
 * Undefined when it is neither, and for an IPv6 literal without brackets (ambiguous).
 */
export function parseAddress(s: string, options: ParseAddressOptions = {}): PeerAddress | undefined {
  const v6 = /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$/.exec(s);
  const m = v6 ?? /^([^:[\]\s/]+):(\d{1,5})$/.exec(s);
  if (!m) return undefined;
  const host = m[1]!;
  if (v6 && parseIp(host)?.length !== 16) return undefined;
  const port = Number(m[2]);
  if (port > 65535 || (port === 0 && !options.allowPortZero)) return undefined;
  return { host, port };
}

/**
 * A peer as records written before `[v6]:port` stored it: `2001:db8::1:6881`, read as the last
 * group being the port (what `${host}:${port}` wrote). Use only for such saved records; the
 * bracketed form is tried first.
 */
export function parseSavedAddress(s: string): PeerAddress | undefined {
  const a = parseAddress(s);
  if (a !== undefined || s.startsWith('[') || s.split(':').length < 3) return a;
  const i = s.lastIndexOf(':');
  return parseAddress(`[${s.slice(0, i)}]:${s.slice(i + 1)}`);
}
