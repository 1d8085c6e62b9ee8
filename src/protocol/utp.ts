// uTP packets (BEP 29): the 20-byte header, its extension chain and the selective-ack extension.
// Pure codec: decodeUtpPacket returns the header, the selective-ack bitmask (if any) and a view of
// the payload, or throws a UtpPacketError saying what is wrong. Sequence and ack numbers are 16-bit
// and wrap; seqLess/seqDiff compare them as BEP 29 does (a window of half the space).

export const UtpType = {
  data: 0,
  fin: 1,
  state: 2,
  reset: 3,
  syn: 4,
} as const;
export type UtpType = (typeof UtpType)[keyof typeof UtpType];

export const UTP_VERSION = 1;
export const UTP_HEADER_BYTES = 20;
/** Extension numbers: 1 selective ack; 2 extension bits (ignored); libtorrent's 3 close reason (ignored). */
export const UTP_EXT_SACK = 1;
/** A chain longer than this is refused (a loop that never ends with 0, or padding to waste time). */
const MAX_EXTENSIONS = 8;
/** Longest selective-ack bitmask we read or write: 32 bytes = 256 packets past ack_nr + 1. */
export const MAX_SACK_BYTES = 32;

export interface UtpHeader {
  type: UtpType;
  connectionId: number;
  /** Sender's clock, microseconds, low 32 bits. */
  timestampUs: number;
  /** Sender's last measured (its receive time − our send time), microseconds, low 32 bits. */
  timestampDiffUs: number;
  /** Bytes the sender can still receive. */
  windowBytes: number;
  seqNr: number;
  ackNr: number;
}

export interface UtpPacket extends UtpHeader {
  /** Selective acks: bit i (LSB first, byte by byte) stands for ack_nr + 2 + i. */
  sack?: Uint8Array;
  payload: Uint8Array;
}

export class UtpPacketError extends Error {
  override readonly name = 'UtpPacketError';
  readonly code = 'ERR_UTP_PACKET';
}

/** Whether a datagram may be uTP: type ≤ SYN and version 1 in the first byte, and a whole header. */
export function looksLikeUtp(msg: Uint8Array): boolean {
  const b = msg[0];
  return msg.length >= UTP_HEADER_BYTES && b !== undefined && (b & 0x0f) === UTP_VERSION && b >> 4 <= 4;
}

export function decodeUtpPacket(msg: Uint8Array): UtpPacket {
  if (msg.length < UTP_HEADER_BYTES)
    throw new UtpPacketError(`uTP packet of ${msg.length} bytes is shorter than its 20-byte header`);
  const b0 = msg[0]!;
  if ((b0 & 0x0f) !== UTP_VERSION) throw new UtpPacketError(`uTP version ${b0 & 0x0f} (expected 1)`);
  const type = b0 >> 4;
  if (type > UtpType.syn) throw new UtpPacketError(`uTP packet type ${type} is unknown`);
  const dv = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
  let ext = msg[1]!;
  let pos = UTP_HEADER_BYTES;
  let sack: Uint8Array | undefined;
  for (let n = 0; ext !== 0; n++) {
    if (n >= MAX_EXTENSIONS) throw new UtpPacketError(`uTP extension chain longer than ${MAX_EXTENSIONS}`);
    if (pos + 2 > msg.length)
      throw new UtpPacketError(`uTP extension ${ext} header is truncated at byte ${pos}`);
    const next = msg[pos]!;
    const len = msg[pos + 1]!;
    pos += 2;
    if (pos + len > msg.length)
      throw new UtpPacketError(`uTP extension ${ext} of ${len} bytes overruns the packet at byte ${pos}`);
    if (ext === UTP_EXT_SACK) {
      if (len === 0 || len % 4 !== 0)
        throw new UtpPacketError(`uTP selective ack of ${len} bytes (a multiple of 4 expected)`);
      if (sack !== undefined) throw new UtpPacketError('uTP packet with two selective acks');
      sack = msg.subarray(pos, pos + Math.min(len, MAX_SACK_BYTES));
    }
    pos += len;
    ext = next;
  }
  return {
    type: type as UtpType,
    connectionId: dv.getUint16(2),
    timestampUs: dv.getUint32(4),
    timestampDiffUs: dv.getUint32(8),
    windowBytes: dv.getUint32(12),
    seqNr: dv.getUint16(16),
    ackNr: dv.getUint16(18),
    ...(sack !== undefined ? { sack } : {}),
    payload: msg.subarray(pos),
  };
}

/** The header (and selective-ack extension when given) as bytes; the payload is sent beside it. */
export function encodeUtpHeader(h: UtpHeader, sack?: Uint8Array): Buffer {
  const sackLen = sack === undefined ? 0 : sack.length;
  if (sackLen % 4 !== 0 || sackLen > MAX_SACK_BYTES)
    throw new RangeError(`selective ack of ${sackLen} bytes`);
  const out = Buffer.allocUnsafe(UTP_HEADER_BYTES + (sackLen > 0 ? 2 + sackLen : 0));
  out[0] = (h.type << 4) | UTP_VERSION;
  out[1] = sackLen > 0 ? UTP_EXT_SACK : 0;
  out.writeUInt16BE(h.connectionId & 0xffff, 2);
  out.writeUInt32BE(h.timestampUs >>> 0, 4);
  out.writeUInt32BE(h.timestampDiffUs >>> 0, 8);
  out.writeUInt32BE(Math.max(0, Math.min(0xffffffff, Math.floor(h.windowBytes))), 12);
  out.writeUInt16BE(h.seqNr & 0xffff, 16);
  out.writeUInt16BE(h.ackNr & 0xffff, 18);
  if (sack !== undefined && sackLen > 0) {
    out[20] = 0;
    out[21] = sackLen;
    out.set(sack, 22);
  }
  return out;
}

/** One packet as one buffer (tests, the fuzz target). */
export function encodeUtpPacket(p: UtpPacket): Buffer {
  const head = encodeUtpHeader(p, p.sack);
  return Buffer.concat([head, p.payload]);
}

/** (a − b) mod 2^16 as a signed number in [−32768, 32767]. */
export function seqDiff(a: number, b: number): number {
  return ((((a - b) & 0xffff) + 0x8000) & 0xffff) - 0x8000;
}

/** a comes before b in 16-bit wrap-around order. */
export function seqLess(a: number, b: number): boolean {
  return seqDiff(a, b) < 0;
}

export function seqAdd(a: number, n: number): number {
  return (a + n) & 0xffff;
}
