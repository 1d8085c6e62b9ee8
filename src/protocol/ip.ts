// IP literals as bytes and back: one implementation for every codec that packs addresses (compact
// peers of trackers, PEX, KRPC nodes). Pure; no name resolution.

/**
 * Bytes of an IP literal: 4 for dotted-quad IPv4 (no leading zeros, which some parsers read as
 * octal), 16 for IPv6 (RFC 4291 text forms, including an embedded dotted quad; no zone id, no
 * brackets — see `unbracket`). Undefined for anything else, host names included.
 */
export function parseIp(host: string): Uint8Array | undefined {
  return host.includes(':') ? parseIpv6(host) : parseIpv4(host);
}

/** `[v6]` as written in URLs and `host:port` strings → `v6`; anything else unchanged. */
export function unbracket(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

function parseIpv4(s: string): Uint8Array | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

function parseIpv6(s: string): Uint8Array | undefined {
  if (s.length > 45) return undefined;
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const groupsOf = (part: string): number[] | undefined => {
    if (part === '') return [];
    const out: number[] = [];
    const items = part.split(':');
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      if (i === items.length - 1 && item.includes('.')) {
        const v4 = parseIpv4(item);
        if (v4 === undefined) return undefined;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(item)) return undefined;
        out.push(Number.parseInt(item, 16));
      }
    }
    return out;
  };
  const head = groupsOf(halves[0]!);
  const tail = halves.length === 2 ? groupsOf(halves[1]!) : [];
  if (head === undefined || tail === undefined) return undefined;
  const explicit = head.length + tail.length;
  if (halves.length === 2 ? explicit > 7 : explicit !== 8) return undefined;
  const groups = [...head, ...new Array<number>(8 - explicit).fill(0), ...tail];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[2 * i] = g >>> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

/**
 * Canonical text of 4 or 16 address bytes: dotted quad, or RFC 5952 for IPv6 (lower case, longest
 * run of two or more zero groups as `::`, the first when tied; `::ffff:a.b.c.d` for IPv4-mapped).
 * Throws RangeError for any other length.
 */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  if (bytes.length !== 16) throw new RangeError(`an IP address has 4 or 16 bytes, not ${bytes.length}`);
  if (isV4Mapped(bytes)) return `::ffff:${formatIp(bytes.subarray(12))}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  let bestStart = -1;
  let bestLen = 1; // a single zero group is not compressed
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (gs: number[]): string => gs.map((g) => g.toString(16)).join(':');
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLen))}`;
}

/**
 * Bytes of an address as peers and trackers see it: 4 for IPv4 and for IPv4-mapped IPv6 (what
 * dual-stack sockets report), 16 for any other IPv6; `[v6]` is accepted. Undefined for anything
 * else (host names, zone ids, garbage). For compact peers, `yourip` and BEP 6's allowed fast set.
 */
export function ipLiteralBytes(host: string): Uint8Array | undefined {
  const bytes = parseIp(unbracket(host));
  return bytes !== undefined && isV4Mapped(bytes) ? bytes.subarray(12) : bytes;
}

/** True for ::ffff:0:0/96, the IPv4-mapped IPv6 addresses that dual-stack sockets report. */
export function isV4Mapped(bytes: Uint8Array): boolean {
  if (bytes.length !== 16) return false;
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false;
  return bytes[10] === 0xff && bytes[11] === 0xff;
}
