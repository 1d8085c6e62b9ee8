// UDP tracker packets (BEP 15): connect, announce, scrape and error, both directions. Sans-I/O and
// fixed-layout: every decoder checks the packet length before reading a field and throws only
// `UdpTrackerError`. Bytes after a known request (BEP 41 options) are ignored.

import { AnnounceEvent, bytesToIp, type PeerAddress } from './tracker-http.js';

export class UdpTrackerError extends Error {
  override readonly name = 'UdpTrackerError';
  readonly code = 'ERR_UDP_TRACKER';
}

export const UdpAction = { connect: 0, announce: 1, scrape: 2, error: 3 } as const;
export type UdpAction = (typeof UdpAction)[keyof typeof UdpAction];

/** The magic constant of a connect request. */
export const UDP_PROTOCOL_ID = 0x41727101980n;
export const CONNECT_REQUEST_BYTES = 16;
export const ANNOUNCE_REQUEST_BYTES = 98;
/** 74 hashes keep a scrape request under a 1500-byte MTU (16 + 74 × 20 = 1496). */
export const MAX_SCRAPE_HASHES = 74;

const EVENT_CODES: readonly AnnounceEvent[] = [
  AnnounceEvent.none,
  AnnounceEvent.completed,
  AnnounceEvent.started,
  AnnounceEvent.stopped,
];

export function eventCode(e: AnnounceEvent): number {
  const i = EVENT_CODES.indexOf(e);
  return Math.max(i, 0); // paused has no code in BEP 15: it is a plain announce
}

export interface UdpConnectRequest {
  action: typeof UdpAction.connect;
  transactionId: number;
}

export interface UdpAnnounceRequest {
  action: typeof UdpAction.announce;
  connectionId: Buffer;
  transactionId: number;
  infoHash: Buffer;
  peerId: Buffer;
  downloaded: number;
  left: number;
  uploaded: number;
  event: AnnounceEvent;
  /** IPv4 address as a 32-bit number; 0 means "the sender's". */
  ip: number;
  key: number;
  /** -1 means the tracker's default. */
  numwant: number;
  port: number;
}

export interface UdpScrapeRequest {
  action: typeof UdpAction.scrape;
  connectionId: Buffer;
  transactionId: number;
  infoHashes: Buffer[];
}

export type UdpRequest = UdpConnectRequest | UdpAnnounceRequest | UdpScrapeRequest;

/** Reads a 64-bit unsigned counter, clamped to 2^53 (statistics, not identities). */
function readCount(b: Buffer, off: number): number {
  const hi = b.readUInt32BE(off);
  const lo = b.readUInt32BE(off + 4);
  const n = hi * 2 ** 32 + lo;
  return Math.min(n, Number.MAX_SAFE_INTEGER);
}

function writeCount(b: Buffer, off: number, n: number): void {
  const v = Math.max(0, Math.min(Math.floor(n), Number.MAX_SAFE_INTEGER));
  b.writeUInt32BE(Math.floor(v / 2 ** 32), off);
  b.writeUInt32BE(v % 2 ** 32, off + 4);
}

/**
 * Decodes a request. Returns undefined for packets too short to hold even a header; throws
 * `UdpTrackerError` for a request that is recognisable but malformed. For scrape, at most
 * `maxScrapeHashes` hashes are read.
 */
export function decodeUdpRequest(msg: Buffer, maxScrapeHashes = MAX_SCRAPE_HASHES): UdpRequest | undefined {
  if (msg.length < 16) return undefined;
  const action = msg.readUInt32BE(8);
  const transactionId = msg.readUInt32BE(12);
  switch (action) {
    case UdpAction.connect:
      if (msg.readBigUInt64BE(0) !== UDP_PROTOCOL_ID) throw new UdpTrackerError('bad protocol id');
      return { action, transactionId };
    case UdpAction.announce: {
      if (msg.length < ANNOUNCE_REQUEST_BYTES) throw new UdpTrackerError('announce request too short');
      const event = EVENT_CODES[msg.readUInt32BE(80)];
      if (event === undefined) throw new UdpTrackerError('unknown event');
      return {
        action,
        connectionId: msg.subarray(0, 8),
        transactionId,
        infoHash: msg.subarray(16, 36),
        peerId: msg.subarray(36, 56),
        downloaded: readCount(msg, 56),
        left: readCount(msg, 64),
        uploaded: readCount(msg, 72),
        event,
        ip: msg.readUInt32BE(84),
        key: msg.readUInt32BE(88),
        numwant: msg.readInt32BE(92),
        port: msg.readUInt16BE(96),
      };
    }
    case UdpAction.scrape: {
      const n = Math.min(Math.floor((msg.length - 16) / 20), maxScrapeHashes);
      if (n === 0) throw new UdpTrackerError('scrape request without info hash');
      const infoHashes: Buffer[] = [];
      for (let i = 0; i < n; i++) infoHashes.push(msg.subarray(16 + i * 20, 36 + i * 20));
      return { action, connectionId: msg.subarray(0, 8), transactionId, infoHashes };
    }
    default:
      throw new UdpTrackerError(`unknown action ${action}`);
  }
}

// ---------------------------------------------------------------------------------------------------
// Replies (server side)

export function encodeConnectReply(transactionId: number, connectionId: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(16);
  b.writeUInt32BE(UdpAction.connect, 0);
  b.writeUInt32BE(transactionId >>> 0, 4);
  b.set(connectionId.subarray(0, 8), 8);
  return b;
}

export interface UdpAnnounceReplyFields {
  transactionId: number;
  intervalSec: number;
  leechers: number;
  seeders: number;
}

/** Writes the 20-byte header of an announce reply into `b` (sized 20 + peer bytes). */
export function writeAnnounceReplyHeader(b: Buffer, f: UdpAnnounceReplyFields): void {
  b.writeUInt32BE(UdpAction.announce, 0);
  b.writeUInt32BE(f.transactionId >>> 0, 4);
  b.writeUInt32BE(clamp32(f.intervalSec), 8);
  b.writeUInt32BE(clamp32(f.leechers), 12);
  b.writeUInt32BE(clamp32(f.seeders), 16);
}

/** An announce reply with compact peers (6 bytes each over IPv4, 18 over IPv6). */
export function encodeAnnounceReply(f: UdpAnnounceReplyFields, peers: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(20 + peers.length);
  writeAnnounceReplyHeader(b, f);
  b.set(peers, 20);
  return b;
}

export interface UdpScrapeCounts {
  seeders: number;
  completed: number;
  leechers: number;
}

export function encodeScrapeReply(transactionId: number, counts: readonly UdpScrapeCounts[]): Buffer {
  const b = Buffer.allocUnsafe(8 + 12 * counts.length);
  b.writeUInt32BE(UdpAction.scrape, 0);
  b.writeUInt32BE(transactionId >>> 0, 4);
  counts.forEach((c, i) => {
    b.writeUInt32BE(clamp32(c.seeders), 8 + i * 12);
    b.writeUInt32BE(clamp32(c.completed), 12 + i * 12);
    b.writeUInt32BE(clamp32(c.leechers), 16 + i * 12);
  });
  return b;
}

/** An error reply; the message is cut to `maxBytes` in total when given (no amplification). */
export function encodeErrorReply(transactionId: number, message: string, maxBytes = 512): Buffer {
  const text = Buffer.from(message, 'utf8');
  const b = Buffer.allocUnsafe(Math.max(8, Math.min(8 + text.length, maxBytes)));
  b.writeUInt32BE(UdpAction.error, 0);
  b.writeUInt32BE(transactionId >>> 0, 4);
  text.copy(b, 8, 0, b.length - 8);
  return b;
}

function clamp32(n: number): number {
  return Math.max(0, Math.min(0xffffffff, Math.floor(n)));
}

// ---------------------------------------------------------------------------------------------------
// Client side

export function encodeConnectRequest(transactionId: number): Buffer {
  const b = Buffer.allocUnsafe(16);
  b.writeBigUInt64BE(UDP_PROTOCOL_ID, 0);
  b.writeUInt32BE(UdpAction.connect, 8);
  b.writeUInt32BE(transactionId >>> 0, 12);
  return b;
}

export interface UdpAnnounceParams {
  connectionId: Uint8Array;
  transactionId: number;
  infoHash: Uint8Array;
  peerId: Uint8Array;
  downloaded: number;
  left: number;
  uploaded: number;
  event: AnnounceEvent;
  key: number;
  numwant: number;
  port: number;
  /** IPv4 as a 32-bit number; 0 (the default) lets the tracker use the source address. */
  ip?: number;
}

export function encodeAnnounceRequest(p: UdpAnnounceParams): Buffer {
  if (p.infoHash.length !== 20 || p.peerId.length !== 20 || p.connectionId.length !== 8) {
    throw new UdpTrackerError('info hash and peer id must be 20 bytes, connection id 8');
  }
  const b = Buffer.allocUnsafe(ANNOUNCE_REQUEST_BYTES);
  b.set(p.connectionId, 0);
  b.writeUInt32BE(UdpAction.announce, 8);
  b.writeUInt32BE(p.transactionId >>> 0, 12);
  b.set(p.infoHash, 16);
  b.set(p.peerId, 36);
  writeCount(b, 56, p.downloaded);
  writeCount(b, 64, p.left);
  writeCount(b, 72, p.uploaded);
  b.writeUInt32BE(eventCode(p.event), 80);
  b.writeUInt32BE((p.ip ?? 0) >>> 0, 84);
  b.writeUInt32BE(p.key >>> 0, 88);
  b.writeInt32BE(Math.max(-1, Math.min(p.numwant, 0x7fffffff)), 92);
  b.writeUInt16BE(p.port, 96);
  return b;
}

export function encodeScrapeRequest(
  connectionId: Uint8Array,
  transactionId: number,
  infoHashes: readonly Uint8Array[],
): Buffer {
  if (infoHashes.length > MAX_SCRAPE_HASHES) {
    throw new UdpTrackerError(`at most ${MAX_SCRAPE_HASHES} info hashes per scrape`);
  }
  const b = Buffer.allocUnsafe(16 + 20 * infoHashes.length);
  b.set(connectionId.subarray(0, 8), 0);
  b.writeUInt32BE(UdpAction.scrape, 8);
  b.writeUInt32BE(transactionId >>> 0, 12);
  infoHashes.forEach((h, i) => {
    if (h.length !== 20) throw new UdpTrackerError('info hash must be 20 bytes');
    b.set(h, 16 + i * 20);
  });
  return b;
}

export type UdpReply =
  | { action: typeof UdpAction.connect; transactionId: number; connectionId: Buffer }
  | {
      action: typeof UdpAction.announce;
      transactionId: number;
      intervalSec: number;
      leechers: number;
      seeders: number;
      peers: PeerAddress[];
    }
  | { action: typeof UdpAction.scrape; transactionId: number; counts: UdpScrapeCounts[] }
  | { action: typeof UdpAction.error; transactionId: number; message: string };

/** Decodes a reply; `peerBytes` is 6 when the request went over IPv4, 18 over IPv6. */
export function decodeUdpReply(msg: Buffer, peerBytes: 6 | 18 = 6): UdpReply {
  if (msg.length < 8) throw new UdpTrackerError('reply shorter than 8 bytes');
  const action = msg.readUInt32BE(0);
  const transactionId = msg.readUInt32BE(4);
  switch (action) {
    case UdpAction.connect:
      if (msg.length < 16) throw new UdpTrackerError('connect reply too short');
      return { action, transactionId, connectionId: Buffer.from(msg.subarray(8, 16)) };
    case UdpAction.announce: {
      if (msg.length < 20) throw new UdpTrackerError('announce reply too short');
      const peers: PeerAddress[] = [];
      const ipBytes = peerBytes - 2;
      // A trailing partial entry is ignored: some trackers pad.
      for (let off = 20; off + peerBytes <= msg.length; off += peerBytes) {
        const port = msg.readUInt16BE(off + ipBytes);
        if (port !== 0) peers.push({ host: bytesToIp(msg.subarray(off, off + ipBytes)), port });
      }
      return {
        action,
        transactionId,
        intervalSec: msg.readUInt32BE(8),
        leechers: msg.readUInt32BE(12),
        seeders: msg.readUInt32BE(16),
        peers,
      };
    }
    case UdpAction.scrape: {
      const counts: UdpScrapeCounts[] = [];
      for (let off = 8; off + 12 <= msg.length; off += 12) {
        counts.push({
          seeders: msg.readUInt32BE(off),
          completed: msg.readUInt32BE(off + 4),
          leechers: msg.readUInt32BE(off + 8),
        });
      }
      return { action, transactionId, counts };
    }
    case UdpAction.error:
      return {
        action,
        transactionId,
        message: msg.subarray(8, Math.min(msg.length, 8 + 512)).toString('utf8'),
      };
    default:
      throw new UdpTrackerError(`unknown action ${action}`);
  }
}
