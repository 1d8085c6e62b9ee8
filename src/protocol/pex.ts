// Peer exchange message codec (BEP 11, extension name `ut_pex`): the bencoded payload of a BEP 10
// extended message, with compact peer lists `added`/`dropped` (IPv4, 6 bytes each) and
// `added6`/`dropped6` (IPv6, 18 bytes each), plus one flag byte per added peer in `added.f`/`added6.f`.
// The IP literal helpers the compact form needs live in ip.ts (this layer may not import node:net).

//
// The decoder is tolerant of missing keys and of flag strings of the wrong length (a flag byte that
// is not there reads as 0), and strict about everything a remote peer could use to make us work:
// the payload size, list lengths that are not a multiple of the entry size, and the number of
// entries per list, all checked before any entry is decoded.

import { type BDict, decode, encode, isBytes, isDict } from './bencode.js';
import { BencodeError } from './errors.js';
import { formatIp, parseIp } from './ip.js';

export const PEX_EXTENSION_NAME = 'ut_pex';

/** Flag bits of `added.f` / `added6.f` (BEP 11). */
export const PexFlag = {
  /** Prefers encrypted connections. */
  encryption: 0x01,
  /** Seed or upload-only. */
  seed: 0x02,
  /** Supports uTP. */
  utp: 0x04,
  /** Supports the holepunch extension (BEP 55). */
  holepunch: 0x08,
  /** Reachable: the sender made an outgoing connection to it. */
  reachable: 0x10,
} as const;
export type PexFlag = (typeof PexFlag)[keyof typeof PexFlag];

/** Most entries decoded per list. More is not a peer exchange but a flood. */
export const PEX_MAX_ENTRIES = 200;
/** Largest payload decoded: four full lists and their flags fit in about 10 KB. */
export const PEX_MAX_PAYLOAD_BYTES = 32 * 1024;

const V4_ENTRY_BYTES = 6;
const V6_ENTRY_BYTES = 18;

export const PexErrorReason = {
  /** Not a bencoded dict, or a known key with the wrong type. */
  malformed: 'malformed',
  /** A peer list whose length is not a multiple of its entry size. */
  badLength: 'bad-length',
  /** A peer list with more entries than the cap (a flood signal). */
  tooManyEntries: 'too-many-entries',
  /** The payload is larger than any honest message (a flood signal). */
  tooLarge: 'too-large',
  /** We were asked to encode an address that is not an IP literal of the list's family, or a bad port. */
  invalidAddress: 'invalid-address',
} as const;
export type PexErrorReason = (typeof PexErrorReason)[keyof typeof PexErrorReason];

export class PexError extends Error {
  override readonly name = 'PexError';
  readonly code = 'ERR_PEX';
  readonly reason: PexErrorReason;
  constructor(reason: PexErrorReason, message: string, options?: ErrorOptions) {
    super(message, options);
    this.reason = reason;
  }
}

/** An address as it appears in a PEX list. `host` is the canonical IP literal (see `formatIp`). */
export interface PexAddress {
  readonly host: string;
  readonly port: number;
}

/** An added peer with its flag byte (bits of `PexFlag`; unknown bits are kept). */
export interface PexEntry extends PexAddress {
  readonly flags: number;
}

export interface PexMessage {
  added: PexEntry[];
  dropped: PexAddress[];
  added6: PexEntry[];
  dropped6: PexAddress[];
}

export interface PexDecodeOptions {
  /** Most entries accepted per list (default PEX_MAX_ENTRIES). */
  maxEntries?: number;
  /** Largest payload accepted (default PEX_MAX_PAYLOAD_BYTES). */
  maxBytes?: number;
}

// ---------------------------------------------------------------------------------------------------
// Codec

export function encodePex(msg: PexMessage): Buffer {
  const dict = new Map<string, Uint8Array>([
    ['added', packEntries(msg.added, 4, 'added')],
    ['added.f', Uint8Array.from(msg.added, (e) => flagByte(e.flags))],
    ['dropped', packEntries(msg.dropped, 4, 'dropped')],
    ['added6', packEntries(msg.added6, 16, 'added6')],
    ['added6.f', Uint8Array.from(msg.added6, (e) => flagByte(e.flags))],
    ['dropped6', packEntries(msg.dropped6, 16, 'dropped6')],
  ]);
  return encode(dict);
}

export function decodePex(payload: Uint8Array, options: PexDecodeOptions = {}): PexMessage {
  const maxEntries = options.maxEntries ?? PEX_MAX_ENTRIES;
  const maxBytes = options.maxBytes ?? PEX_MAX_PAYLOAD_BYTES;
  if (payload.length > maxBytes) {
    throw new PexError(PexErrorReason.tooLarge, `payload of ${payload.length} bytes exceeds ${maxBytes}`);
  }
  let value: ReturnType<typeof decode>['value'];
  try {
    // Lenient about key order: some clients do not sort their keys, and order changes nothing here.
    value = decode(payload, { maxBytes, maxDepth: 16, maxItems: 4096, lenient: true }).value;
  } catch (err) {
    if (err instanceof BencodeError) {
      throw new PexError(PexErrorReason.malformed, `not bencode: ${err.message}`, { cause: err });
    }
    throw err;
  }
  if (!isDict(value)) throw new PexError(PexErrorReason.malformed, 'payload is not a dictionary');

  const added = readList(value, 'added', V4_ENTRY_BYTES, maxEntries);
  const addedFlags = readBytes(value, 'added.f');
  const dropped = readList(value, 'dropped', V4_ENTRY_BYTES, maxEntries);
  const added6 = readList(value, 'added6', V6_ENTRY_BYTES, maxEntries);
  const added6Flags = readBytes(value, 'added6.f');
  const dropped6 = readList(value, 'dropped6', V6_ENTRY_BYTES, maxEntries);
  return {
    added: unpackEntries(added, V4_ENTRY_BYTES, addedFlags),
    dropped: unpackAddresses(dropped, V4_ENTRY_BYTES),
    added6: unpackEntries(added6, V6_ENTRY_BYTES, added6Flags),
    dropped6: unpackAddresses(dropped6, V6_ENTRY_BYTES),
  };
}

function flagByte(flags: number): number {
  if (!Number.isInteger(flags) || flags < 0 || flags > 0xff) {
    throw new PexError(PexErrorReason.invalidAddress, `flags ${flags} do not fit in a byte`);
  }
  return flags;
}

function packEntries(list: readonly PexAddress[], ipBytes: 4 | 16, key: string): Uint8Array {
  const size = ipBytes + 2;
  const out = new Uint8Array(list.length * size);
  list.forEach((entry, i) => {
    const ip = parseIp(entry.host);
    if (ip === undefined || ip.length !== ipBytes) {
      throw new PexError(
        PexErrorReason.invalidAddress,
        `${key}: ${JSON.stringify(entry.host)} is not IPv${ipBytes === 4 ? 4 : 6}`,
      );
    }
    if (!Number.isInteger(entry.port) || entry.port < 0 || entry.port > 0xffff) {
      throw new PexError(PexErrorReason.invalidAddress, `${key}: port ${entry.port} out of range`);
    }
    out.set(ip, i * size);
    out[i * size + ipBytes] = entry.port >>> 8;
    out[i * size + ipBytes + 1] = entry.port & 0xff;
  });
  return out;
}

function readBytes(dict: BDict, key: string): Uint8Array | undefined {
  const v = dict.get(key);
  if (v === undefined) return undefined;
  if (!isBytes(v)) throw new PexError(PexErrorReason.malformed, `${key} is not a byte string`);
  return v;
}

function readList(dict: BDict, key: string, size: number, maxEntries: number): Uint8Array {
  const bytes = readBytes(dict, key);
  if (bytes === undefined) return new Uint8Array(0);
  if (bytes.length % size !== 0) {
    throw new PexError(
      PexErrorReason.badLength,
      `${key} has ${bytes.length} bytes, not a multiple of ${size}`,
    );
  }
  if (bytes.length / size > maxEntries) {
    throw new PexError(
      PexErrorReason.tooManyEntries,
      `${key} has ${bytes.length / size} entries, more than ${maxEntries}`,
    );
  }
  return bytes;
}

function unpackAddresses(bytes: Uint8Array, size: number): PexAddress[] {
  const out: PexAddress[] = [];
  for (let off = 0; off < bytes.length; off += size) {
    out.push({
      host: formatIp(bytes.subarray(off, off + size - 2)),
      port: (bytes[off + size - 2]! << 8) | bytes[off + size - 1]!,
    });
  }
  return out;
}

function unpackEntries(bytes: Uint8Array, size: number, flags: Uint8Array | undefined): PexEntry[] {
  return unpackAddresses(bytes, size).map((a, i) => ({ ...a, flags: flags?.[i] ?? 0 }));
}

// ---------------------------------------------------------------------------------------------------
// IP literals

export { formatIp, isV4Mapped, parseIp } from './ip.js';
