// BEP 10 extension protocol: the extension handshake (extended message id 0). Decoding is tolerant
// (missing or odd fields are dropped, not fatal: clients in the wild send all sorts) but bounded
// (payload size, number of extensions, name length). Only a payload that is not a bencoded dict is
// a protocol error.

import { type BDict, type BEncodable, decode, encode, isBytes, isDict, isInt } from './bencode.js';
import { DisconnectReason, ProtocolError } from './peer-wire.js';

/** Extended message id of the handshake itself. */
export const EXTENDED_HANDSHAKE_ID = 0;

export interface ExtensionHandshake {
  /** Extension name → the id the sender wants to receive it under. Id 0 means "disabled". */
  m: Map<string, number>;
  /** Client name and version. */
  v?: string;
  /** The sender's listening port. */
  p?: number;
  /** How many outstanding requests the sender accepts. */
  reqq?: number;
  /** Our address as the sender sees it: 4 bytes (IPv4) or 16 (IPv6). */
  yourip?: Uint8Array;
  /** Size of the info dict in bytes (BEP 9). */
  metadataSize?: number;
  /** The whole decoded dict, for fields this codec does not model (`upload_only`, `complete_ago`). */
  raw: BDict;
}

export interface ExtensionLimits {
  /** Largest handshake payload. Default 64 KiB. */
  maxBytes?: number;
  /** Most entries kept from `m`. Default 128. */
  maxExtensions?: number;
  /** Largest `metadata_size` believed. Default 64 MiB. */
  maxMetadataBytes?: number;
}

const DEFAULT_MAX_BYTES = 64 * 1024;
const DEFAULT_MAX_EXTENSIONS = 128;
const DEFAULT_MAX_METADATA = 64 * 1024 * 1024;
const MAX_NAME_BYTES = 64;
const MAX_VERSION_BYTES = 128;
/** reqq beyond this is nonsense; clamp rather than believe it. */
const MAX_REQQ = 65_535;

export type ExtensionHandshakeInit = Partial<Omit<ExtensionHandshake, 'm' | 'raw'>> & {
  m?: ReadonlyMap<string, number> | Readonly<Record<string, number>>;
};

export function encodeExtensionHandshake(h: ExtensionHandshakeInit): Buffer {
  const m = new Map<string, BEncodable>();
  const entries = h.m instanceof Map ? [...h.m] : Object.entries(h.m ?? {});
  for (const [name, id] of entries) {
    if (!Number.isInteger(id) || id < 0 || id > 255) throw new RangeError(`extension ${name}: id ${id}`);
    m.set(Buffer.from(name, 'utf8').toString('latin1'), id);
  }
  const dict: Record<string, BEncodable | undefined> = {
    m,
    v: h.v,
    p: h.p,
    reqq: h.reqq,
    yourip: h.yourip,
    metadata_size: h.metadataSize,
  };
  return encode(dict);
}

/** Decodes an extension handshake payload. Throws ProtocolError only when it is not a bencoded dict. */
export function decodeExtensionHandshake(
  payload: Uint8Array,
  limits: ExtensionLimits = {},
): ExtensionHandshake {
  const maxBytes = limits.maxBytes ?? DEFAULT_MAX_BYTES;
  let value: ReturnType<typeof decode>['value'];
  try {
    value = decode(payload, {
      maxBytes,
      maxDepth: 16,
      maxItems: 4096,
      lenient: true,
      allowTrailing: false,
    }).value;
  } catch (err) {
    throw new ProtocolError(
      DisconnectReason.badExtendedHandshake,
      'extension handshake is not valid bencode',
      {
        cause: err,
      },
    );
  }
  if (!isDict(value)) {
    throw new ProtocolError(DisconnectReason.badExtendedHandshake, 'extension handshake is not a dict');
  }
  const out: ExtensionHandshake = { m: new Map(), raw: value };
  const m = value.get('m');
  if (isDict(m)) {
    const maxExt = limits.maxExtensions ?? DEFAULT_MAX_EXTENSIONS;
    for (const [key, id] of m) {
      if (out.m.size >= maxExt) break;
      if (key.length === 0 || key.length > MAX_NAME_BYTES) continue;
      if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id > 255) continue;
      out.m.set(utf8Name(key), id);
    }
  }
  const v = value.get('v');
  if (isBytes(v) && v.length > 0) {
    out.v = Buffer.from(v.subarray(0, MAX_VERSION_BYTES)).toString('utf8');
  }
  const p = value.get('p');
  if (typeof p === 'number' && p >= 1 && p <= 65535) out.p = p;
  const reqq = value.get('reqq');
  if (isInt(reqq) && reqq > 0) out.reqq = typeof reqq === 'bigint' || reqq > MAX_REQQ ? MAX_REQQ : reqq;
  const yourip = value.get('yourip');
  if (isBytes(yourip) && (yourip.length === 4 || yourip.length === 16)) out.yourip = Uint8Array.from(yourip);
  const size = value.get('metadata_size');
  if (typeof size === 'number' && size > 0 && size <= (limits.maxMetadataBytes ?? DEFAULT_MAX_METADATA)) {
    out.metadataSize = size;
  }
  return out;
}

/** Dict keys come back as binary strings; extension names are UTF-8 (in practice ASCII). */
function utf8Name(binary: string): string {
  return Buffer.from(binary, 'latin1').toString('utf8');
}

/**
 * Applies a later handshake to what we know of the remote's extensions: BEP 10 lets a peer send the
 * handshake again to enable (new id) or disable (id 0) extensions without repeating the others.
 */
export function mergeExtensionHandshake(
  prev: ExtensionHandshake | undefined,
  next: ExtensionHandshake,
): ExtensionHandshake {
  if (!prev) {
    const m = new Map([...next.m].filter(([, id]) => id !== 0));
    return { ...next, m };
  }
  const m = new Map(prev.m);
  for (const [name, id] of next.m) {
    if (id === 0) m.delete(name);
    else m.set(name, id);
  }
  const merged: ExtensionHandshake = { ...prev, ...stripUndefined(next), m };
  return merged;
}

function stripUndefined(h: ExtensionHandshake): Partial<ExtensionHandshake> {
  const out: Partial<ExtensionHandshake> = { raw: h.raw };
  if (h.v !== undefined) out.v = h.v;
  if (h.p !== undefined) out.p = h.p;
  if (h.reqq !== undefined) out.reqq = h.reqq;
  if (h.yourip !== undefined) out.yourip = h.yourip;
  if (h.metadataSize !== undefined) out.metadataSize = h.metadataSize;
  return out;
}
