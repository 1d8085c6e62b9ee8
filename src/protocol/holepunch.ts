// BEP 55, ut_holepunch: the payload of the extension message that lets two peers which cannot
// accept connections (behind NATs that drop what they did not ask for) meet over uTP, introduced by
// a third peer connected to both. Pure codec:
//
//   msg_type (1) · addr_type (1: 0 IPv4, 1 IPv6) · addr (4 or 16) · port (2) · err_code (4)
//
// all big-endian. The initiator sends `rendezvous` naming the target to the relay; the relay sends
// `connect` to both (each naming the other), or `error` back to the initiator.

import type { PeerAddress } from './address.js';
import { formatIp, parseIp } from './ip.js';

export type HolepunchType = 'rendezvous' | 'connect' | 'error';

const TYPE_IDS: Record<HolepunchType, number> = { rendezvous: 0, connect: 1, error: 2 };
const TYPES: readonly HolepunchType[] = ['rendezvous', 'connect', 'error'];

/** BEP 55's error codes (err_code of an `error` message). */
export const HolepunchError = {
  /** The target endpoint is not a valid one. */
  noSuchPeer: 1,
  /** The relay is not connected to the target. */
  notConnected: 2,
  /** The target does not support ut_holepunch. */
  noSupport: 3,
  /** The target is the relay itself. */
  noSelf: 4,
} as const;

export interface HolepunchMessage {
  type: HolepunchType;
  addr: PeerAddress;
  /** 0 except in `error` messages. */
  errorCode: number;
}

export class HolepunchDecodeError extends Error {
  override name = 'HolepunchDecodeError';
}

/** The message's bytes. Throws RangeError for an address that is not an IP literal or a bad port. */
export function encodeHolepunch(m: HolepunchMessage): Uint8Array {
  const ip = parseIp(m.addr.host);
  if (!ip) throw new RangeError(`ut_holepunch: ${m.addr.host} is not an IP address`);
  if (!Number.isInteger(m.addr.port) || m.addr.port < 0 || m.addr.port > 0xffff)
    throw new RangeError(`ut_holepunch: port ${m.addr.port} out of range`);
  const out = new Uint8Array(2 + ip.length + 6);
  const view = new DataView(out.buffer);
  out[0] = TYPE_IDS[m.type];
  out[1] = ip.length === 4 ? 0 : 1;
  out.set(ip, 2);
  view.setUint16(2 + ip.length, m.addr.port);
  view.setUint32(4 + ip.length, m.errorCode >>> 0);
  return out;
}

/** Reads a message; throws HolepunchDecodeError naming the byte offset of what is wrong. */
export function decodeHolepunch(bytes: Uint8Array): HolepunchMessage {
  if (bytes.length < 2)
    throw new HolepunchDecodeError(`ut_holepunch: ${bytes.length} bytes, need at least 2`);
  const type = TYPES[bytes[0]!];
  if (type === undefined)
    throw new HolepunchDecodeError(`ut_holepunch: unknown msg_type ${bytes[0]} at byte 0`);
  const addrType = bytes[1]!;
  if (addrType > 1) throw new HolepunchDecodeError(`ut_holepunch: unknown addr_type ${addrType} at byte 1`);
  const ipLength = addrType === 0 ? 4 : 16;
  const length = 2 + ipLength + 6;
  // Extra bytes after the message are tolerated (a later revision may add fields).
  if (bytes.length < length)
    throw new HolepunchDecodeError(
      `ut_holepunch: ${bytes.length} bytes, an ${addrType === 0 ? 'IPv4' : 'IPv6'} message has ${length}`,
    );
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return {
    type,
    addr: { host: formatIp(bytes.subarray(2, 2 + ipLength)), port: view.getUint16(2 + ipLength) },
    errorCode: view.getUint32(4 + ipLength),
  };
}
