// Fuzz target: uTP packets (BEP 29). Any datagram gives a packet or a UtpPacketError; a packet
// encodes (header, selective ack, payload) to bytes that decode to the same packet.

import { decodeUtpPacket, encodeUtpPacket, UtpPacketError, UtpType } from '../../../src/protocol/utp.js';
import { same, typedOnly } from '../contract.js';

export const dictionary = [
  '\x01\x00',
  '\x11\x00',
  '\x21\x01',
  '\x41\x00',
  '\x00\x04',
  '\x01\x04',
  '\x02\x00',
];

export function seeds(): Uint8Array[] {
  const h = {
    connectionId: 0x1234,
    timestampUs: 1,
    timestampDiffUs: 2,
    windowBytes: 65536,
    seqNr: 0xffff,
    ackNr: 3,
  };
  return [
    encodeUtpPacket({ ...h, type: UtpType.syn, payload: Buffer.alloc(0) }),
    encodeUtpPacket({ ...h, type: UtpType.state, sack: Buffer.from([1, 2, 4, 8]), payload: Buffer.alloc(0) }),
    encodeUtpPacket({ ...h, type: UtpType.data, payload: Buffer.from('\x13BitTorrent protocol') }),
    encodeUtpPacket({ ...h, type: UtpType.fin, payload: Buffer.alloc(0) }),
  ];
}

export function fuzz(data: Buffer): void {
  const p = typedOnly('decodeUtpPacket', [UtpPacketError], () => decodeUtpPacket(data));
  if (p === undefined) return;
  const norm = (x: typeof p) => ({
    ...x,
    payload: Buffer.from(x.payload),
    ...(x.sack !== undefined ? { sack: Buffer.from(x.sack) } : {}),
  });
  same(norm(decodeUtpPacket(encodeUtpPacket(p))), norm(p), 'uTP packet changes through encode and decode');
}
