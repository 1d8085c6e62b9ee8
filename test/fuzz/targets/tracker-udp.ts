// Fuzz target: UDP tracker packets (BEP 15) in both directions. The first byte picks a request as the
// embedded tracker reads it (undefined or UdpTrackerError) or a reply as the client reads it over IPv4
// or IPv6 (UdpTrackerError only). What decodes re-encodes to a packet that decodes the same way.

import {
  decodeUdpReply,
  decodeUdpRequest,
  encodeAnnounceRequest,
  encodeConnectReply,
  encodeConnectRequest,
  encodeErrorReply,
  encodeScrapeReply,
  encodeScrapeRequest,
  UdpAction,
  UdpTrackerError,
} from '../../../src/protocol/tracker-udp.js';
import { same, selector, typedOnly } from '../contract.js';

export const dictionary = [
  '\x00\x00\x04\x17\x27\x10\x19\x80',
  '\x00\x00\x00\x00',
  '\x00\x00\x00\x01',
  '\x00\x00\x00\x02',
  '\x00\x00\x00\x03',
  '\xff\xff\xff\xff',
  '\x7f\x00\x00\x01\x1a\xe1',
];

export function seeds(): Uint8Array[] {
  const cid = Buffer.from('0123abcd', 'latin1');
  const hash = Buffer.alloc(20, 0xab);
  const announce = encodeAnnounceRequest({
    connectionId: cid,
    transactionId: 7,
    infoHash: hash,
    peerId: Buffer.from('-BS0001-123456789012'),
    downloaded: 1,
    left: 2,
    uploaded: 3,
    event: 'started',
    key: 9,
    numwant: -1,
    port: 6881,
  });
  const reply = Buffer.alloc(20 + 12);
  reply.writeUInt32BE(UdpAction.announce, 0);
  reply.writeUInt32BE(1800, 8);
  reply.set([127, 0, 0, 1, 0x1a, 0xe1, 127, 0, 0, 2, 0x1a, 0xe2], 20);
  return [
    tagged(0, encodeConnectRequest(7)),
    tagged(0, announce),
    tagged(0, encodeScrapeRequest(cid, 7, [hash, hash])),
    tagged(1, encodeConnectReply(7, cid)),
    tagged(1, reply),
    tagged(3, reply),
    tagged(1, encodeScrapeReply(7, [{ seeders: 1, completed: 2, leechers: 3 }])),
    tagged(1, encodeErrorReply(7, 'go away')),
  ];
}

function tagged(kind: number, payload: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([kind]), payload]);
}

export function fuzz(data: Buffer): void {
  const [sel, packet] = selector(data);
  if ((sel & 1) === 0) {
    request(packet);
    return;
  }
  const peerBytes = (sel & 2) === 0 ? 6 : 18;
  const r = typedOnly('decodeUdpReply', [UdpTrackerError], () => decodeUdpReply(packet, peerBytes));
  if (r === undefined) return;
  if (r.action === UdpAction.connect) {
    same(decodeUdpReply(encodeConnectReply(r.transactionId, r.connectionId)), r, 'connect reply round trip');
  } else if (r.action === UdpAction.scrape) {
    same(decodeUdpReply(encodeScrapeReply(r.transactionId, r.counts)), r, 'scrape reply round trip');
  }
}

function request(packet: Buffer): void {
  const r = typedOnly('decodeUdpRequest', [UdpTrackerError], () => decodeUdpRequest(packet));
  if (r === undefined) return;
  if (r.action === UdpAction.connect) {
    same(decodeUdpRequest(encodeConnectRequest(r.transactionId)), r, 'connect request round trip');
  } else if (r.action === UdpAction.announce) {
    const again = decodeUdpRequest(
      encodeAnnounceRequest({
        ...r,
        ip: r.ip,
        connectionId: r.connectionId,
        infoHash: r.infoHash,
        peerId: r.peerId,
      }),
    );
    // The client sends -1 for "the tracker's default", whatever negative number it was given.
    same(again, { ...r, numwant: Math.max(-1, r.numwant) }, 'announce request round trip');
  } else {
    same(
      decodeUdpRequest(encodeScrapeRequest(r.connectionId, r.transactionId, r.infoHashes)),
      r,
      'scrape request round trip',
    );
  }
}
