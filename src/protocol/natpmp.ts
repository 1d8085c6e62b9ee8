// NAT-PMP (RFC 6886) and PCP (RFC 6887) messages, sans I/O: the external address request and the
// MAP request of each, and their replies. Both go to the default gateway's UDP port 5351. A PCP
// server that does not speak PCP answers with a NAT-PMP packet (version 0, "unsupported version"),
// which is how a client knows to fall back. Decoders check lengths first and throw only NatPmpError.

export class NatPmpError extends Error {
  override readonly name = 'NatPmpError';
  readonly code = 'ERR_NATPMP';
}

export const NATPMP_PORT = 5351;

export type MapProtocol = 'TCP' | 'UDP';

/** NAT-PMP result codes (RFC 6886 §3.5). */
export const NatPmpResult = {
  success: 0,
  unsupportedVersion: 1,
  notAuthorized: 2,
  networkFailure: 3,
  outOfResources: 4,
  unsupportedOpcode: 5,
} as const;

const NATPMP_RESULT_TEXT: Record<number, string> = {
  1: 'unsupported version',
  2: 'not authorized / refused',
  3: 'network failure',
  4: 'out of resources',
  5: 'unsupported opcode',
};

/** PCP result codes (RFC 6887 §7.4) that we name. */
export const PcpResult = {
  success: 0,
  unsuppVersion: 1,
  notAuthorized: 2,
  malformedRequest: 3,
  unsuppOpcode: 4,
  unsuppOption: 5,
  malformedOption: 6,
  networkFailure: 7,
  noResources: 8,
  unsuppProtocol: 9,
  userExQuota: 10,
  cannotProvideExternal: 11,
  addressMismatch: 12,
  excessiveRemotePeers: 13,
} as const;

const PCP_RESULT_TEXT: Record<number, string> = {
  1: 'unsupported version',
  2: 'not authorized',
  3: 'malformed request',
  4: 'unsupported opcode',
  5: 'unsupported option',
  6: 'malformed option',
  7: 'network failure',
  8: 'no resources',
  9: 'unsupported protocol',
  10: 'user exceeded quota',
  11: 'cannot provide external',
  12: 'address mismatch',
  13: 'excessive remote peers',
};

export function natPmpResultText(code: number): string {
  return NATPMP_RESULT_TEXT[code] ?? `result ${code}`;
}

export function pcpResultText(code: number): string {
  return PCP_RESULT_TEXT[code] ?? `result ${code}`;
}

function checkPort(port: number, name: string, allowZero: boolean): void {
  if (!Number.isInteger(port) || port < (allowZero ? 0 : 1) || port > 65535)
    throw new NatPmpError(`bad ${name} ${port}`);
}

function checkLifetime(sec: number): void {
  if (!Number.isInteger(sec) || sec < 0 || sec > 0xffffffff) throw new NatPmpError(`bad lifetime ${sec}`);
}

// ---------------------------------------------------------------------------------------------------
// NAT-PMP

/** Opcode 0: what is the gateway's external address? */
export function encodeNatPmpExternalRequest(): Buffer {
  return Buffer.from([0, 0]);
}

/** Opcode 1 (UDP) or 2 (TCP): map `internalPort`; lifetime 0 with external port 0 deletes it. */
export function encodeNatPmpMapRequest(
  protocol: MapProtocol,
  internalPort: number,
  suggestedExternalPort: number,
  lifetimeSec: number,
): Buffer {
  checkPort(internalPort, 'internal port', false);
  checkPort(suggestedExternalPort, 'external port', true);
  checkLifetime(lifetimeSec);
  const b = Buffer.alloc(12);
  b[0] = 0;
  b[1] = protocol === 'UDP' ? 1 : 2;
  b.writeUInt16BE(internalPort, 4);
  b.writeUInt16BE(suggestedExternalPort, 6);
  b.writeUInt32BE(lifetimeSec, 8);
  return b;
}

export type NatPmpResponse =
  | { op: 'external'; result: number; epochSec: number; externalIp: string }
  | {
      op: 'map';
      protocol: MapProtocol;
      result: number;
      epochSec: number;
      internalPort: number;
      externalPort: number;
      lifetimeSec: number;
    }
  /** A version-0 reply to something else (a PCP request to a NAT-PMP-only gateway, say). */
  | { op: 'other'; opcode: number; result: number };

/**
 * Decodes a NAT-PMP reply (version 0, opcode ≥ 128). Error replies may be short (RFC 6886 §3.5: a
 * reply with a nonzero result need only carry the header), so only successful replies must be whole.
 */
export function decodeNatPmpResponse(msg: Uint8Array): NatPmpResponse {
  if (msg.length < 4) throw new NatPmpError('NAT-PMP reply shorter than 4 bytes');
  const b = Buffer.from(msg.buffer, msg.byteOffset, msg.byteLength);
  if (b[0] !== 0) throw new NatPmpError(`not a NAT-PMP reply (version ${b[0]})`);
  const opcode = b[1]!;
  if (opcode < 128) throw new NatPmpError('a NAT-PMP request, not a reply');
  const result = b.readUInt16BE(2);
  const op = opcode - 128;
  if (op === 0) {
    if (result !== 0) return { op: 'other', opcode: op, result };
    if (b.length < 12) throw new NatPmpError('NAT-PMP external address reply shorter than 12 bytes');
    return {
      op: 'external',
      result,
      epochSec: b.readUInt32BE(4),
      externalIp: `${b[8]}.${b[9]}.${b[10]}.${b[11]}`,
    };
  }
  if (op === 1 || op === 2) {
    if (result !== 0) return { op: 'other', opcode: op, result };
    if (b.length < 16) throw new NatPmpError('NAT-PMP mapping reply shorter than 16 bytes');
    return {
      op: 'map',
      protocol: op === 1 ? 'UDP' : 'TCP',
      result,
      epochSec: b.readUInt32BE(4),
      internalPort: b.readUInt16BE(8),
      externalPort: b.readUInt16BE(10),
      lifetimeSec: b.readUInt32BE(12),
    };
  }
  return { op: 'other', opcode: op, result };
}

// ---------------------------------------------------------------------------------------------------
// PCP

const PCP_VERSION = 2;
const PCP_OPCODE_MAP = 1;
const PCP_HEADER_BYTES = 24;
const PCP_MAP_BYTES = 36;
/** Most bytes of a PCP reply we read (RFC 6887: at most 1100). */
export const PCP_MAX_BYTES = 1100;

/** An IPv4 address as the 16-byte IPv4-mapped IPv6 form PCP uses (`::ffff:a.b.c.d`), or `::` for absent. */
export function pcpAddressBytes(ipv4: string | undefined): Buffer {
  const b = Buffer.alloc(16);
  if (ipv4 === undefined) return b;
  const parts = ipv4.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255))
    throw new NatPmpError(`not an IPv4 address: ${ipv4}`);
  b[10] = 0xff;
  b[11] = 0xff;
  for (let i = 0; i < 4; i++) b[12 + i] = Number(parts[i]);
  return b;
}

/** The text of a 16-byte PCP address: dotted IPv4 for a mapped one, else the IPv6 text. */
export function pcpAddressText(b: Uint8Array): string {
  const mapped = b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
  if (mapped) return `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  return groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::');
}

/**
 * A PCP MAP request (RFC 6887 §11.1): `clientIp` is our own address as the gateway sees it (the
 * socket's local address); lifetime 0 deletes the mapping of this nonce. `nonce` has 12 bytes.
 */
export function encodePcpMapRequest(o: {
  clientIp: string;
  nonce: Uint8Array;
  protocol: MapProtocol;
  internalPort: number;
  suggestedExternalPort: number;
  suggestedExternalIp?: string;
  lifetimeSec: number;
}): Buffer {
  checkPort(o.internalPort, 'internal port', false);
  checkPort(o.suggestedExternalPort, 'external port', true);
  checkLifetime(o.lifetimeSec);
  if (o.nonce.length !== 12) throw new NatPmpError('a PCP nonce has 12 bytes');
  const b = Buffer.alloc(PCP_HEADER_BYTES + PCP_MAP_BYTES);
  b[0] = PCP_VERSION;
  b[1] = PCP_OPCODE_MAP;
  b.writeUInt32BE(o.lifetimeSec, 4);
  pcpAddressBytes(o.clientIp).copy(b, 8);
  const m = PCP_HEADER_BYTES;
  Buffer.from(o.nonce).copy(b, m);
  b[m + 12] = o.protocol === 'TCP' ? 6 : 17;
  b.writeUInt16BE(o.internalPort, m + 16);
  b.writeUInt16BE(o.suggestedExternalPort, m + 18);
  pcpAddressBytes(o.suggestedExternalIp).copy(b, m + 20);
  return b;
}

export interface PcpMapResponse {
  result: number;
  lifetimeSec: number;
  epochSec: number;
  nonce: Buffer;
  protocol: MapProtocol | number;
  internalPort: number;
  externalPort: number;
  externalIp: string;
}

/**
 * Decodes a reply to a PCP MAP request. A version-0 packet (a NAT-PMP-only gateway) throws
 * NatPmpError with `unsupportedVersion` set, so that the caller falls back to NAT-PMP.
 */
export function decodePcpMapResponse(msg: Uint8Array): PcpMapResponse {
  if (msg.length < 4) throw new NatPmpError('PCP reply shorter than 4 bytes');
  if (msg.length > PCP_MAX_BYTES) throw new NatPmpError('PCP reply longer than 1100 bytes');
  const b = Buffer.from(msg.buffer, msg.byteOffset, msg.byteLength);
  if (b[0] === 0) throw new PcpVersionError('the gateway speaks NAT-PMP, not PCP');
  if (b[0] !== PCP_VERSION) throw new NatPmpError(`PCP version ${b[0]} is not 2`);
  if (b[1] !== (0x80 | PCP_OPCODE_MAP)) throw new NatPmpError(`not a PCP MAP reply (opcode byte ${b[1]})`);
  const result = b[3]!;
  if (b.length < PCP_HEADER_BYTES) throw new NatPmpError('PCP reply shorter than its header');
  const lifetimeSec = b.readUInt32BE(4);
  const epochSec = b.readUInt32BE(8);
  if (b.length < PCP_HEADER_BYTES + PCP_MAP_BYTES) {
    // Errors other than those about the MAP itself may come without the opcode's data.
    if (result === 0) throw new NatPmpError('PCP MAP reply shorter than 60 bytes');
    return {
      result,
      lifetimeSec,
      epochSec,
      nonce: Buffer.alloc(12),
      protocol: 0,
      internalPort: 0,
      externalPort: 0,
      externalIp: '',
    };
  }
  const m = PCP_HEADER_BYTES;
  const proto = b[m + 12]!;
  return {
    result,
    lifetimeSec,
    epochSec,
    nonce: Buffer.from(b.subarray(m, m + 12)),
    protocol: proto === 6 ? 'TCP' : proto === 17 ? 'UDP' : proto,
    internalPort: b.readUInt16BE(m + 16),
    externalPort: b.readUInt16BE(m + 18),
    externalIp: pcpAddressText(b.subarray(m + 20, m + 36)),
  };
}

/** A NAT-PMP answer to a PCP request: fall back to NAT-PMP. */
export class PcpVersionError extends NatPmpError {
  readonly unsupportedVersion = true;
}
