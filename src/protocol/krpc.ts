// KRPC (BEP 5): the bencoded query/response/error messages of the Mainline DHT, plus the compact
// node and peer formats (BEP 5, BEP 32 for IPv6). Pure: bytes in, typed messages out.
//
// Decoding is bounded (8 KiB per packet, shallow nesting, few items) and lenient about dict key
// order (other clients do not always sort). Anything malformed throws a `KrpcError` that says which
// KRPC error code to answer with and carries the transaction id when one could be read, so the node
// can answer 203 to a query it could not parse, and ignore what it cannot even address.

import {
  type BDict,
  type BEncodable,
  type BValue,
  decode,
  encode,
  isBytes,
  isDict,
  isList,
} from './bencode.js';
import { formatIp as formatIpText, parseIp as parseIpBytes, unbracket } from './ip.js';

export const KRPC_MAX_PACKET_BYTES = 8 * 1024;
export const NODE_ID_BYTES = 20;
export const COMPACT_PEER4_BYTES = 6;
export const COMPACT_PEER6_BYTES = 18;
export const COMPACT_NODE4_BYTES = NODE_ID_BYTES + COMPACT_PEER4_BYTES;
export const COMPACT_NODE6_BYTES = NODE_ID_BYTES + COMPACT_PEER6_BYTES;
/** A longer transaction id is not worth echoing (it would make our error replies an amplifier). */
export const MAX_TRANSACTION_ID_BYTES = 32;
export const MAX_TOKEN_BYTES = 64;
const MAX_METHOD_BYTES = 32;
const MAX_VERSION_BYTES = 16;

/** The KRPC error codes of BEP 5. */
export const KrpcErrorCode = {
  generic: 201,
  server: 202,
  protocol: 203,
  methodUnknown: 204,
} as const;
export type KrpcErrorCode = (typeof KrpcErrorCode)[keyof typeof KrpcErrorCode];

/** A malformed KRPC message (or compact value). */
export class KrpcError extends Error {
  override readonly name = 'KrpcError';
  readonly code = 'ERR_KRPC';
  /** The KRPC error code a reply would carry (203 protocol error for anything malformed). */
  readonly krpcCode: KrpcErrorCode;
  /** The message's transaction id, when it could be read; without it nobody can be answered. */
  readonly transactionId: Buffer | undefined;
  /** The message's `y` when it could be read: only queries (or unknown kinds) deserve an answer. */
  readonly messageType: string | undefined;
  constructor(
    message: string,
    extra: { krpcCode?: KrpcErrorCode; transactionId?: Buffer; messageType?: string } = {},
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.krpcCode = extra.krpcCode ?? KrpcErrorCode.protocol;
    this.transactionId = extra.transactionId;
    this.messageType = extra.messageType;
  }
}

export interface Peer {
  host: string;
  port: number;
}

export interface NodeInfo {
  id: Buffer;
  host: string;
  port: number;
}

/** BEP 32 `want`: which address families of nodes the querier asks for. */
export type Want = 'n4' | 'n6';

interface MessageBase {
  /** Transaction id, echoed by the response. */
  t: Buffer;
  /** Client version (opaque, short). */
  v?: Buffer;
  /** BEP 42: the address the responder saw the request come from (responses and errors). */
  ip?: Peer;
}

interface QueryBase extends MessageBase {
  kind: 'query';
  /** The querier's node id. */
  id: Buffer;
  /** BEP 43 read-only node: answer it, but keep it out of the routing table. */
  ro?: true;
}

export type KrpcQuery = QueryBase &
  (
    | { method: 'ping' }
    | { method: 'find_node'; target: Buffer; want?: Want[] }
    | { method: 'get_peers'; infoHash: Buffer; want?: Want[] }
    | { method: 'announce_peer'; infoHash: Buffer; port: number; token: Buffer; impliedPort: boolean }
    | { method: 'unknown'; name: string }
  );

export interface KrpcResponse extends MessageBase {
  kind: 'response';
  id: Buffer;
  nodes?: NodeInfo[];
  nodes6?: NodeInfo[];
  values?: Peer[];
  token?: Buffer;
}

export interface KrpcErrorMessage extends MessageBase {
  kind: 'error';
  errorCode: number;
  message: string;
}

export type KrpcMessage = KrpcQuery | KrpcResponse | KrpcErrorMessage;

// ---------------------------------------------------------------------------------------------------
// Addresses

/** IPv4 or IPv6 literal → 4 or 16 bytes; undefined for anything else (host names included). */
export function parseIp(host: string): Buffer | undefined {
  const b = parseIpBytes(unbracket(host));
  return b === undefined ? undefined : Buffer.from(b.buffer, b.byteOffset, b.length);
}

/** 4 or 16 bytes → the textual address (IPv6 in RFC 5952 form); KrpcError for other lengths. */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length !== 4 && bytes.length !== 16) {
    throw new KrpcError(`an IP address has 4 or 16 bytes, not ${bytes.length}`);
  }
  return formatIpText(bytes);
}

/** Whether a host is an IPv6 literal (its compact forms are the 18/38-byte ones). */
export function isIpv6(host: string): boolean {
  return host.includes(':');
}

// ---------------------------------------------------------------------------------------------------
// Compact formats

/** A peer as 6 (IPv4) or 18 (IPv6) bytes: address then big-endian port. */
export function encodeCompactPeer(peer: Peer): Buffer {
  const ip = parseIp(peer.host);
  if (!ip) throw new TypeError(`not an IP literal: ${peer.host}`);
  if (!Number.isInteger(peer.port) || peer.port < 0 || peer.port > 65535) {
    throw new RangeError(`port out of range: ${peer.port}`);
  }
  const out = Buffer.alloc(ip.length + 2);
  ip.copy(out, 0);
  out.writeUInt16BE(peer.port, ip.length);
  return out;
}

export function decodeCompactPeer(bytes: Uint8Array): Peer {
  if (bytes.length !== COMPACT_PEER4_BYTES && bytes.length !== COMPACT_PEER6_BYTES) {
    throw new KrpcError(`a compact peer has 6 or 18 bytes, not ${bytes.length}`);
  }
  const ipLen = bytes.length - 2;
  return {
    host: formatIp(bytes.subarray(0, ipLen)),
    port: (bytes[ipLen]! << 8) | bytes[ipLen + 1]!,
  };
}

/** Nodes of one family as concatenated 26-byte (IPv4) or 38-byte (IPv6) entries. */
export function encodeCompactNodes(nodes: readonly NodeInfo[]): Buffer {
  const parts: Buffer[] = [];
  let family: 4 | 6 | undefined;
  for (const n of nodes) {
    if (n.id.length !== NODE_ID_BYTES) throw new RangeError(`node id of ${n.id.length} bytes`);
    const peer = encodeCompactPeer(n);
    const f = peer.length === COMPACT_PEER4_BYTES ? 4 : 6;
    if (family !== undefined && f !== family) throw new TypeError('compact nodes mix IPv4 and IPv6');
    family = f;
    parts.push(n.id, peer);
  }
  return Buffer.concat(parts);
}

export function decodeCompactNodes(bytes: Uint8Array, family: 4 | 6 = 4): NodeInfo[] {
  const size = family === 4 ? COMPACT_NODE4_BYTES : COMPACT_NODE6_BYTES;
  if (bytes.length % size !== 0) {
    throw new KrpcError(`compact node info of ${bytes.length} bytes is not a multiple of ${size}`);
  }
  const out: NodeInfo[] = [];
  for (let off = 0; off < bytes.length; off += size) {
    const peer = decodeCompactPeer(bytes.subarray(off + NODE_ID_BYTES, off + size));
    out.push({ id: Buffer.from(bytes.subarray(off, off + NODE_ID_BYTES)), host: peer.host, port: peer.port });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Encoder

export function encodeKrpc(msg: KrpcMessage): Buffer {
  const top = new Map<string, BEncodable>();
  top.set('t', msg.t);
  if (msg.v !== undefined) top.set('v', msg.v);
  if (msg.ip !== undefined && msg.kind !== 'query') top.set('ip', encodeCompactPeer(msg.ip));
  if (msg.kind === 'query') {
    const a = new Map<string, BEncodable>([['id', msg.id]]);
    let name: string = msg.method;
    switch (msg.method) {
      case 'ping':
        break;
      case 'find_node':
        a.set('target', msg.target);
        if (msg.want) a.set('want', msg.want);
        break;
      case 'get_peers':
        a.set('info_hash', msg.infoHash);
        if (msg.want) a.set('want', msg.want);
        break;
      case 'announce_peer':
        a.set('info_hash', msg.infoHash);
        a.set('port', msg.port);
        a.set('token', msg.token);
        if (msg.impliedPort) a.set('implied_port', 1);
        break;
      case 'unknown':
        name = msg.name;
        break;
    }
    top.set('y', 'q');
    top.set('q', Buffer.from(name, 'latin1'));
    top.set('a', a);
    if (msg.ro) top.set('ro', 1);
  } else if (msg.kind === 'response') {
    const r = new Map<string, BEncodable>([['id', msg.id]]);
    if (msg.nodes !== undefined) r.set('nodes', encodeCompactNodes(msg.nodes));
    if (msg.nodes6 !== undefined) r.set('nodes6', encodeCompactNodes(msg.nodes6));
    if (msg.values !== undefined) r.set('values', msg.values.map(encodeCompactPeer));
    if (msg.token !== undefined) r.set('token', msg.token);
    top.set('y', 'r');
    top.set('r', r);
  } else {
    top.set('y', 'e');
    top.set('e', [msg.errorCode, msg.message]);
  }
  return encode(top);
}

// ---------------------------------------------------------------------------------------------------
// Decoder

export function decodeKrpc(packet: Uint8Array): KrpcMessage {
  let value: BValue;
  try {
    value = decode(packet, {
      maxBytes: KRPC_MAX_PACKET_BYTES,
      maxDepth: 6,
      maxItems: 2048,
      lenient: true,
    }).value;
  } catch (err) {
    throw new KrpcError('not a valid bencoded message', {}, { cause: err });
  }
  if (!isDict(value)) throw new KrpcError('message is not a dict');
  const t = value.get('t');
  if (!isBytes(t) || t.length === 0 || t.length > MAX_TRANSACTION_ID_BYTES) {
    throw new KrpcError('missing or unusable transaction id "t"');
  }
  const transactionId = Buffer.from(t);
  const yRaw = value.get('y');
  const y = isBytes(yRaw) && yRaw.length <= 8 ? Buffer.from(yRaw).toString('latin1') : undefined;
  const fail = (message: string): never => {
    throw new KrpcError(message, y === undefined ? { transactionId } : { transactionId, messageType: y });
  };
  const base: MessageBase = { t: transactionId };
  const v = value.get('v');
  if (isBytes(v) && v.length <= MAX_VERSION_BYTES) base.v = Buffer.from(v);
  // BEP 42's `ip`: an odd length is ignored, like any optional field we cannot use.
  const ip = value.get('ip');
  if (isBytes(ip) && (ip.length === 6 || ip.length === 18) && y !== 'q') base.ip = decodeCompactPeer(ip);

  if (y === 'q') return decodeQuery(value, base, fail);
  if (y === 'r') return decodeResponse(value, base, fail);
  if (y === 'e') {
    const e = value.get('e');
    if (!isList(e) || e.length < 1) return fail('error message without an "e" list');
    const code = e[0];
    if (typeof code !== 'number') return fail('error code is not an integer');
    const text = e[1];
    return {
      ...base,
      kind: 'error',
      errorCode: code,
      message: isBytes(text) ? Buffer.from(text).toString('utf8') : '',
    };
  }
  return fail('"y" is not one of q, r, e');
}

type Fail = (message: string) => never;

function nodeId(d: BDict, key: string, fail: Fail): Buffer {
  const id = d.get(key);
  if (!isBytes(id) || id.length !== NODE_ID_BYTES) return fail(`"${key}" is not a 20-byte id`);
  return Buffer.from(id);
}

function decodeWant(a: BDict): Want[] | undefined {
  const want = a.get('want');
  if (!isList(want)) return undefined;
  const out: Want[] = [];
  for (const w of want) {
    if (!isBytes(w) || w.length !== 2) continue;
    const s = Buffer.from(w).toString('latin1');
    if ((s === 'n4' || s === 'n6') && !out.includes(s)) out.push(s);
  }
  return out;
}

function decodeQuery(d: BDict, base: MessageBase, fail: Fail): KrpcQuery {
  const q = d.get('q');
  if (!isBytes(q) || q.length === 0 || q.length > MAX_METHOD_BYTES) return fail('missing method name "q"');
  const a = d.get('a');
  if (!isDict(a)) return fail('query without an argument dict "a"');
  const qb: QueryBase = { ...base, kind: 'query', id: nodeId(a, 'id', fail) };
  if (d.get('ro') === 1) qb.ro = true;
  const method = Buffer.from(q).toString('latin1');
  switch (method) {
    case 'ping':
      return { ...qb, method };
    case 'find_node': {
      const want = decodeWant(a);
      return { ...qb, method, target: nodeId(a, 'target', fail), ...(want ? { want } : {}) };
    }
    case 'get_peers': {
      const want = decodeWant(a);
      return { ...qb, method, infoHash: nodeId(a, 'info_hash', fail), ...(want ? { want } : {}) };
    }
    case 'announce_peer': {
      const infoHash = nodeId(a, 'info_hash', fail);
      const port = a.get('port');
      if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
        return fail('"port" is not a port number');
      }
      const token = a.get('token');
      if (!isBytes(token) || token.length === 0 || token.length > MAX_TOKEN_BYTES) {
        return fail('missing or oversized "token"');
      }
      const implied = a.get('implied_port');
      const impliedPort = typeof implied === 'number' && implied !== 0;
      return { ...qb, method, infoHash, port, token: Buffer.from(token), impliedPort };
    }
    default:
      return { ...qb, method: 'unknown', name: method };
  }
}

function decodeResponse(d: BDict, base: MessageBase, fail: Fail): KrpcResponse {
  const r = d.get('r');
  if (!isDict(r)) return fail('response without a dict "r"');
  const out: KrpcResponse = { ...base, kind: 'response', id: nodeId(r, 'id', fail) };
  const compact = (key: 'nodes' | 'nodes6', family: 4 | 6): void => {
    const raw = r.get(key);
    if (raw === undefined) return;
    if (!isBytes(raw)) fail(`"${key}" is not a byte string`);
    try {
      out[key] = decodeCompactNodes(raw, family);
    } catch (err) {
      fail(err instanceof Error ? err.message : String(err));
    }
  };
  compact('nodes', 4);
  compact('nodes6', 6);
  const values = r.get('values');
  if (values !== undefined) {
    if (!isList(values)) return fail('"values" is not a list');
    // Entries of another length are skipped: one odd peer should not cost the whole answer.
    out.values = values
      .filter((b): b is Uint8Array => isBytes(b) && (b.length === 6 || b.length === 18))
      .map(decodeCompactPeer);
  }
  const token = r.get('token');
  if (token !== undefined) {
    if (!isBytes(token) || token.length > MAX_TOKEN_BYTES) return fail('"token" is not a short byte string');
    out.token = Buffer.from(token);
  }
  return out;
}
