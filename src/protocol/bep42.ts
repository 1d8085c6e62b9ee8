// BEP 42 (DHT security extension): a node id derived from the node's external IPv4 address, so that
// one address cannot choose where in the id space it sits. The first 21 bits of the id are those of
// CRC-32C((ip & 030f3fff) | (r << 29)), the last byte carries r (0–7, in its low 3 bits); the rest is
// random. Pure: the random bytes are passed in.

import { parseIp } from './ip.js';

const CRC32C_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32C (Castagnoli), as BEP 42 uses it. */
export function crc32c(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC32C_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** The 4 bytes of an IPv4 literal (ip.ts's parser); undefined for IPv6 and anything else. */
function ipv4Bytes(ip: string): Uint8Array | undefined {
  const bytes = parseIp(ip);
  return bytes?.length === 4 ? bytes : undefined;
}

/** The 21-bit prefix's CRC for `ip` and r (0–7). */
function prefixCrc(ip: Uint8Array, r: number): number {
  const masked = Uint8Array.of(ip[0]! & 0x03, ip[1]! & 0x0f, ip[2]! & 0x3f, ip[3]!);
  masked[0]! |= (r & 7) << 5;
  return crc32c(masked);
}

/** A BEP 42 node id for an IPv4 address, from 20 random bytes; undefined for anything but IPv4. */
export function bep42NodeId(ip: string, random20: Uint8Array): Buffer | undefined {
  const bytes = ipv4Bytes(ip);
  if (!bytes || random20.length !== 20) return undefined;
  const id = Buffer.from(random20);
  const r = id[19]! & 7;
  const crc = prefixCrc(bytes, r);
  id[0] = (crc >>> 24) & 0xff;
  id[1] = (crc >>> 16) & 0xff;
  id[2] = ((crc >>> 8) & 0xf8) | (id[2]! & 0x07);
  return id;
}

/** Whether `id` is a valid BEP 42 id for IPv4 address `ip` (its first 21 bits match). */
export function isBep42NodeId(id: Uint8Array, ip: string): boolean {
  const bytes = ipv4Bytes(ip);
  if (!bytes || id.length !== 20) return false;
  const crc = prefixCrc(bytes, id[19]! & 7);
  return (
    id[0] === ((crc >>> 24) & 0xff) &&
    id[1] === ((crc >>> 16) & 0xff) &&
    (id[2]! & 0xf8) === ((crc >>> 8) & 0xf8)
  );
}
