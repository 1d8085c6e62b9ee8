// Peer wire protocol codec (BEP 3, BEP 5 `port`, BEP 6 Fast extension, BEP 10 framing). Sans-I/O
// and zero-copy: the decoder reads from a caller's buffer at an offset and returns either one message
// plus the bytes it consumed or how many more bytes it needs. Piece payloads and extended payloads
// are subarrays of the input, never copies. Every length prefix is checked against a cap before the
// caller is asked to buffer anything, so a remote peer cannot make us allocate by declaring a length.

/** Why a connection ended. Codec violations, connection-level checks, timeouts and local decisions. */
export const DisconnectReason = {
  // The byte stream breaks the protocol (thrown by this codec).
  badHandshake: 'bad-handshake',
  messageTooLarge: 'message-too-large',
  badMessageLength: 'bad-message-length',
  bitfieldSize: 'bitfield-size',
  bitfieldSpareBits: 'bitfield-spare-bits',
  badExtendedHandshake: 'bad-extended-handshake',
  // The messages are well formed but the peer misbehaves (checked by the connection).
  infoHashMismatch: 'info-hash-mismatch',
  haveOutOfRange: 'have-out-of-range',
  unexpectedBitfield: 'unexpected-bitfield',
  fastNotNegotiated: 'fast-not-negotiated',
  extendedNotNegotiated: 'extended-not-negotiated',
  unrequestedBlocks: 'unrequested-blocks',
  invalidRequests: 'invalid-requests',
  requestFlood: 'request-flood',
  pexFlood: 'pex-flood',
  badExtensionMessage: 'bad-extension-message',
  badMetadata: 'bad-metadata',
  // Protocol encryption (mse.ts): the obfuscated handshake failed.
  encryptionBadKey: 'encryption-bad-key',
  encryptionNoSync: 'encryption-no-sync',
  encryptionUnknownTorrent: 'encryption-unknown-torrent',
  encryptionBadPadding: 'encryption-bad-padding',
  encryptionNoCommonMethod: 'encryption-no-common-method',
  // Time.
  connectTimeout: 'connect-timeout',
  handshakeTimeout: 'handshake-timeout',
  encryptionTimeout: 'encryption-timeout',
  idleTimeout: 'idle-timeout',
  /** A metadata (ut_metadata) request went unanswered. */
  metadataTimeout: 'metadata-timeout',
  // Transport.
  socketError: 'socket-error',
  remoteClosed: 'remote-closed',
  // Local decisions (the swarm or session closes the connection).
  closedLocally: 'closed-locally',
  aborted: 'aborted',
  shutdown: 'shutdown',
  selfConnection: 'self-connection',
  duplicateConnection: 'duplicate-connection',
  bothSeeders: 'both-seeders',
  banned: 'banned',
  connectionLimit: 'connection-limit',
  internalError: 'internal-error',
} as const;
export type DisconnectReason = (typeof DisconnectReason)[keyof typeof DisconnectReason];

/** The remote side broke the peer wire protocol. The only error this codec throws. */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  readonly code = 'ERR_PROTOCOL';
  readonly reason: DisconnectReason;
  constructor(reason: DisconnectReason, message: string, options?: ErrorOptions) {
    super(message, options);
    this.reason = reason;
  }
}

/** The unit of transfer: every request asks for at most this many bytes. */
export const BLOCK_SIZE = 16 * 1024;
export const HANDSHAKE_BYTES = 68;
const PSTR = 'BitTorrent protocol';

export const MessageId = {
  choke: 0,
  unchoke: 1,
  interested: 2,
  notInterested: 3,
  have: 4,
  bitfield: 5,
  request: 6,
  piece: 7,
  cancel: 8,
  port: 9,
  suggest: 13,
  haveAll: 14,
  haveNone: 15,
  reject: 16,
  allowedFast: 17,
  extended: 20,
  /** BEP 52. */
  hashRequest: 21,
  hashes: 22,
  hashReject: 23,
} as const;

/** A BEP 52 hash request (also echoed by `hashes` and `hash reject`). */
export interface HashRequest {
  /** 32 bytes: the file's merkle root. */
  piecesRoot: Uint8Array;
  /** Layer of the requested hashes, 0 = 16 KiB leaves. */
  baseLayer: number;
  index: number;
  length: number;
  /** Ancestor layers whose uncle hashes are wanted too. */
  proofLayers: number;
}

/** Most hashes one `hashes` message may carry (libtorrent asks for at most 512 and a proof). */
export const MAX_HASHES_PER_MESSAGE = 8192;
const HASH_MESSAGE_FIXED = 1 + 32 + 16;

export interface Block {
  piece: number;
  offset: number;
  length: number;
}

export type Message =
  | { type: 'keep-alive' }
  | { type: 'choke' }
  | { type: 'unchoke' }
  | { type: 'interested' }
  | { type: 'not-interested' }
  | { type: 'have'; piece: number }
  | { type: 'bitfield'; bits: Uint8Array }
  | { type: 'request'; piece: number; offset: number; length: number }
  | { type: 'piece'; piece: number; offset: number; data: Uint8Array }
  | { type: 'cancel'; piece: number; offset: number; length: number }
  | { type: 'port'; port: number }
  | { type: 'suggest'; piece: number }
  | { type: 'have-all' }
  | { type: 'have-none' }
  | { type: 'reject'; piece: number; offset: number; length: number }
  | { type: 'allowed-fast'; piece: number }
  | { type: 'extended'; id: number; payload: Uint8Array }
  | ({ type: 'hash-request' } & HashRequest)
  | ({ type: 'hash-reject' } & HashRequest)
  /** `hashes`: the base layer's hashes, then the uncles (32 bytes each, concatenated). */
  | ({ type: 'hashes'; hashes: Uint8Array } & HashRequest)
  /** A message id this codec does not know; BEP 3 says to ignore it. */
  | { type: 'unknown'; id: number; payload: Uint8Array };

export type MessageType = Message['type'];

/** Pieces and offsets that blockKey names exactly. */
const KEY_PIECES = 2 ** 23;
const KEY_OFFSETS = 2 ** 30;

/**
 * A number naming the block at (piece, offset), for maps of requests: piece × 2^30 + offset, exact
 * (below 2^53) for every piece below 2^23 (a torrent of at most 128 MiB lists fewer) and offset
 * below 2^30 (a piece is at most 512 MiB); -1, which names nothing, otherwise. The length is not
 * part of it: whoever looks a block up compares the length it stored. (Numbers hash and compare
 * faster than the strings they replace: about 0.2 s of CPU per GiB served, measured.)
 */
export function blockKey(piece: number, offset: number): number {
  return piece >= 0 && piece < KEY_PIECES && offset >= 0 && offset < KEY_OFFSETS
    ? piece * KEY_OFFSETS + offset
    : -1;
}

export interface WireLimits {
  /** When known, a bitfield must be exactly ceil(pieceCount / 8) bytes with the spare bits zero. */
  pieceCount?: number | undefined;
  /** Largest block in a piece message. Default 16 KiB. */
  maxBlockBytes?: number;
  /** Largest extended message (length prefix, id and payload). Default 1 MiB. */
  maxExtendedBytes?: number;
  /** Largest bitfield payload accepted while the piece count is unknown (magnet). Default 256 KiB. */
  maxBitfieldBytes?: number;
  /** Largest message of an unknown id. Default 64 KiB. */
  maxUnknownBytes?: number;
}

export const DEFAULT_WIRE_LIMITS = {
  maxBlockBytes: BLOCK_SIZE,
  maxExtendedBytes: 1024 * 1024,
  maxBitfieldBytes: 256 * 1024,
  maxUnknownBytes: 64 * 1024,
} as const;

export type DecodeResult<T> = { message: T; consumed: number } | { need: number };

function u32(b: Uint8Array, o: number): number {
  return b[o]! * 0x1000000 + ((b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!);
}

function writeU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}

/** Exact length prefix of each fixed-size message. */
const FIXED_LENGTH: ReadonlyMap<number, number> = new Map([
  [MessageId.choke, 1],
  [MessageId.unchoke, 1],
  [MessageId.interested, 1],
  [MessageId.notInterested, 1],
  [MessageId.have, 5],
  [MessageId.request, 13],
  [MessageId.cancel, 13],
  [MessageId.port, 3],
  [MessageId.suggest, 5],
  [MessageId.haveAll, 1],
  [MessageId.haveNone, 1],
  [MessageId.reject, 13],
  [MessageId.allowedFast, 5],
  [MessageId.hashRequest, HASH_MESSAGE_FIXED],
  [MessageId.hashReject, HASH_MESSAGE_FIXED],
]);

/**
 * Decodes one message from `buf` starting at `offset` (bytes up to `end`, default `buf.length`).
 * Returns the message and the bytes it took, or `{ need }`: how many more bytes must arrive before
 * another call can make progress (the whole message when its length is known and valid).
 * Throws only `ProtocolError`, and does so as soon as a length prefix breaks a cap.
 */
export function decodeMessage(
  buf: Uint8Array,
  offset: number,
  limits: WireLimits = {},
  end: number = buf.length,
): DecodeResult<Message> {
  const avail = end - offset;
  if (avail < 4) return { need: 4 - avail };
  const len = u32(buf, offset);
  if (len === 0) return { message: { type: 'keep-alive' }, consumed: 4 };
  const maxBlock = limits.maxBlockBytes ?? DEFAULT_WIRE_LIMITS.maxBlockBytes;
  const maxExtended = limits.maxExtendedBytes ?? DEFAULT_WIRE_LIMITS.maxExtendedBytes;
  const maxUnknown = limits.maxUnknownBytes ?? DEFAULT_WIRE_LIMITS.maxUnknownBytes;
  const pieceCount = limits.pieceCount;
  const bitfieldBytes =
    pieceCount !== undefined
      ? Math.ceil(pieceCount / 8)
      : (limits.maxBitfieldBytes ?? DEFAULT_WIRE_LIMITS.maxBitfieldBytes);
  // No message may exceed the largest cap: reject before we even know its id.
  const absoluteMax = Math.max(maxExtended, 9 + maxBlock, 1 + bitfieldBytes, maxUnknown, 13);
  if (len > absoluteMax) {
    throw new ProtocolError(
      DisconnectReason.messageTooLarge,
      `message length ${len} exceeds the limit of ${absoluteMax}`,
    );
  }
  if (avail < 5) return { need: 5 - avail };
  const id = buf[offset + 4]!;
  const fixed = FIXED_LENGTH.get(id);
  if (fixed !== undefined) {
    if (len !== fixed) {
      throw new ProtocolError(
        DisconnectReason.badMessageLength,
        `message id ${id} has length ${len}, expected ${fixed}`,
      );
    }
  } else if (id === MessageId.piece) {
    if (len < 9) throw new ProtocolError(DisconnectReason.badMessageLength, `piece message of length ${len}`);
    if (len - 9 > maxBlock) {
      throw new ProtocolError(
        DisconnectReason.messageTooLarge,
        `block of ${len - 9} bytes exceeds the limit of ${maxBlock}`,
      );
    }
  } else if (id === MessageId.bitfield) {
    if (pieceCount !== undefined && len - 1 !== bitfieldBytes) {
      throw new ProtocolError(
        DisconnectReason.bitfieldSize,
        `bitfield of ${len - 1} bytes, expected ${bitfieldBytes} for ${pieceCount} pieces`,
      );
    }
    if (len - 1 > bitfieldBytes) {
      throw new ProtocolError(DisconnectReason.messageTooLarge, `bitfield of ${len - 1} bytes`);
    }
  } else if (id === MessageId.hashes) {
    if (len < HASH_MESSAGE_FIXED || (len - HASH_MESSAGE_FIXED) % 32 !== 0) {
      throw new ProtocolError(DisconnectReason.badMessageLength, `hashes message of length ${len}`);
    }
    if ((len - HASH_MESSAGE_FIXED) / 32 > MAX_HASHES_PER_MESSAGE) {
      throw new ProtocolError(
        DisconnectReason.messageTooLarge,
        `hashes message of ${(len - HASH_MESSAGE_FIXED) / 32} hashes exceeds the limit of ${MAX_HASHES_PER_MESSAGE}`,
      );
    }
  } else if (id === MessageId.extended) {
    if (len < 2) throw new ProtocolError(DisconnectReason.badMessageLength, 'extended message without an id');
    if (len > maxExtended) {
      throw new ProtocolError(
        DisconnectReason.messageTooLarge,
        `extended message of ${len} bytes exceeds the limit of ${maxExtended}`,
      );
    }
  } else if (len > maxUnknown) {
    throw new ProtocolError(
      DisconnectReason.messageTooLarge,
      `message id ${id} of ${len} bytes exceeds the limit of ${maxUnknown}`,
    );
  }
  const total = 4 + len;
  if (avail < total) return { need: total - avail };
  const p = offset + 5;
  let message: Message;
  switch (id) {
    case MessageId.choke:
      message = { type: 'choke' };
      break;
    case MessageId.unchoke:
      message = { type: 'unchoke' };
      break;
    case MessageId.interested:
      message = { type: 'interested' };
      break;
    case MessageId.notInterested:
      message = { type: 'not-interested' };
      break;
    case MessageId.have:
      message = { type: 'have', piece: u32(buf, p) };
      break;
    case MessageId.bitfield: {
      const bits = buf.subarray(p, offset + total);
      if (pieceCount !== undefined && !spareBitsClear(pieceCount, bits)) {
        throw new ProtocolError(DisconnectReason.bitfieldSpareBits, 'bitfield has spare bits set');
      }
      message = { type: 'bitfield', bits };
      break;
    }
    case MessageId.request:
    case MessageId.cancel:
    case MessageId.reject: {
      const type = id === MessageId.request ? 'request' : id === MessageId.cancel ? 'cancel' : 'reject';
      message = { type, piece: u32(buf, p), offset: u32(buf, p + 4), length: u32(buf, p + 8) };
      break;
    }
    case MessageId.piece:
      message = {
        type: 'piece',
        piece: u32(buf, p),
        offset: u32(buf, p + 4),
        data: buf.subarray(p + 8, offset + total),
      };
      break;
    case MessageId.port:
      message = { type: 'port', port: (buf[p]! << 8) | buf[p + 1]! };
      break;
    case MessageId.suggest:
      message = { type: 'suggest', piece: u32(buf, p) };
      break;
    case MessageId.haveAll:
      message = { type: 'have-all' };
      break;
    case MessageId.haveNone:
      message = { type: 'have-none' };
      break;
    case MessageId.allowedFast:
      message = { type: 'allowed-fast', piece: u32(buf, p) };
      break;
    case MessageId.extended:
      message = { type: 'extended', id: buf[p]!, payload: buf.subarray(p + 1, offset + total) };
      break;
    case MessageId.hashRequest:
    case MessageId.hashReject:
    case MessageId.hashes: {
      const req: HashRequest = {
        piecesRoot: buf.subarray(p, p + 32),
        baseLayer: u32(buf, p + 32),
        index: u32(buf, p + 36),
        length: u32(buf, p + 40),
        proofLayers: u32(buf, p + 44),
      };
      message =
        id === MessageId.hashes
          ? { type: 'hashes', ...req, hashes: buf.subarray(p + 48, offset + total) }
          : { type: id === MessageId.hashRequest ? 'hash-request' : 'hash-reject', ...req };
      break;
    }
    default:
      message = { type: 'unknown', id, payload: buf.subarray(p, offset + total) };
  }
  return { message, consumed: total };
}

function spareBitsClear(pieceCount: number, bytes: Uint8Array): boolean {
  const spare = bytes.length * 8 - pieceCount;
  if (spare <= 0) return true;
  return (bytes[bytes.length - 1]! & ((1 << spare) - 1)) === 0;
}

function header(len: number, id: number, extra: number): Buffer {
  const b = Buffer.allocUnsafe(5 + extra);
  writeU32(b, 0, len);
  b[4] = id;
  return b;
}

function checkU32(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`${name} ${v} is not a uint32`);
}

/** Length prefix, id, piece index and offset of a piece message: send it, then the block itself. */
export function encodePieceHeader(piece: number, offset: number, lengthBytes: number): Buffer {
  checkU32('piece', piece);
  checkU32('offset', offset);
  const b = header(9 + lengthBytes, MessageId.piece, 8);
  writeU32(b, 5, piece);
  writeU32(b, 9, offset);
  return b;
}

/** Bytes of a request, cancel or reject message. */
export const BLOCK_MESSAGE_BYTES = 17;

/**
 * Writes a request, cancel or reject message (`id`) into `buf` at `at`, for senders that batch many
 * of them into one buffer. The caller has checked the fields (u32 each).
 */
export function writeBlockMessage(
  buf: Uint8Array,
  at: number,
  id: number,
  piece: number,
  offset: number,
  length: number,
): void {
  writeU32(buf, at, 13);
  buf[at + 4] = id;
  writeU32(buf, at + 5, piece);
  writeU32(buf, at + 9, offset);
  writeU32(buf, at + 13, length);
}

/** Length prefix, id 20 and extended id: send it, then the payload. */
export function encodeExtendedHeader(extId: number, payloadBytes: number): Buffer {
  if (!Number.isInteger(extId) || extId < 0 || extId > 255) throw new RangeError(`extended id ${extId}`);
  const b = header(2 + payloadBytes, MessageId.extended, 1);
  b[5] = extId;
  return b;
}

/** Encodes one message into a single new Buffer (pieces too; use encodePieceHeader to avoid the copy). */
export function encodeMessage(m: Message): Buffer {
  switch (m.type) {
    case 'keep-alive':
      return Buffer.alloc(4);
    case 'choke':
      return header(1, MessageId.choke, 0);
    case 'unchoke':
      return header(1, MessageId.unchoke, 0);
    case 'interested':
      return header(1, MessageId.interested, 0);
    case 'not-interested':
      return header(1, MessageId.notInterested, 0);
    case 'have-all':
      return header(1, MessageId.haveAll, 0);
    case 'have-none':
      return header(1, MessageId.haveNone, 0);
    case 'have':
    case 'suggest':
    case 'allowed-fast': {
      checkU32('piece', m.piece);
      const id =
        m.type === 'have' ? MessageId.have : m.type === 'suggest' ? MessageId.suggest : MessageId.allowedFast;
      const b = header(5, id, 4);
      writeU32(b, 5, m.piece);
      return b;
    }
    case 'request':
    case 'cancel':
    case 'reject': {
      checkU32('piece', m.piece);
      checkU32('offset', m.offset);
      checkU32('length', m.length);
      const id =
        m.type === 'request' ? MessageId.request : m.type === 'cancel' ? MessageId.cancel : MessageId.reject;
      const b = header(13, id, 12);
      writeU32(b, 5, m.piece);
      writeU32(b, 9, m.offset);
      writeU32(b, 13, m.length);
      return b;
    }
    case 'bitfield': {
      const b = header(1 + m.bits.length, MessageId.bitfield, m.bits.length);
      b.set(m.bits, 5);
      return b;
    }
    case 'piece': {
      const h = encodePieceHeader(m.piece, m.offset, m.data.length);
      return Buffer.concat([h, m.data], h.length + m.data.length);
    }
    case 'port': {
      if (!Number.isInteger(m.port) || m.port < 0 || m.port > 0xffff) throw new RangeError(`port ${m.port}`);
      const b = header(3, MessageId.port, 2);
      b[5] = m.port >> 8;
      b[6] = m.port & 0xff;
      return b;
    }
    case 'extended': {
      const h = encodeExtendedHeader(m.id, m.payload.length);
      return Buffer.concat([h, m.payload], h.length + m.payload.length);
    }
    case 'hash-request':
    case 'hash-reject':
    case 'hashes': {
      if (m.piecesRoot.length !== 32) throw new RangeError('pieces root needs 32 bytes');
      const extra = m.type === 'hashes' ? m.hashes.length : 0;
      if (extra % 32 !== 0) throw new RangeError('hashes are 32 bytes each');
      const id =
        m.type === 'hash-request'
          ? MessageId.hashRequest
          : m.type === 'hash-reject'
            ? MessageId.hashReject
            : MessageId.hashes;
      const b = header(HASH_MESSAGE_FIXED + extra, id, HASH_MESSAGE_FIXED - 1 + extra);
      b.set(m.piecesRoot, 5);
      for (const [i, v] of [m.baseLayer, m.index, m.length, m.proofLayers].entries()) {
        checkU32('hash request field', v);
        writeU32(b, 37 + 4 * i, v);
      }
      if (m.type === 'hashes') b.set(m.hashes, 53);
      return b;
    }
    case 'unknown': {
      const b = header(1 + m.payload.length, m.id, m.payload.length);
      b.set(m.payload, 5);
      return b;
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Handshake

/** Feature bits in the 8 reserved handshake bytes. */
export const ReservedBit = {
  /** BEP 10 extension protocol: byte 5, 0x10. */
  extended: { byte: 5, mask: 0x10 },
  /** BEP 6 Fast extension: byte 7, 0x04. */
  fast: { byte: 7, mask: 0x04 },
  /** BEP 5 DHT: byte 7, 0x01. */
  dht: { byte: 7, mask: 0x01 },
  /** BEP 52 v2 torrents (hash request, hashes, hash reject): byte 7, 0x10. */
  v2: { byte: 7, mask: 0x10 },
} as const;

export interface Features {
  extended: boolean;
  fast: boolean;
  dht: boolean;
  v2: boolean;
}

export function makeReserved(f: Partial<Features>): Uint8Array {
  const r = new Uint8Array(8);
  for (const key of ['extended', 'fast', 'dht', 'v2'] as const) {
    if (f[key]) r[ReservedBit[key].byte]! |= ReservedBit[key].mask;
  }
  return r;
}

export function featuresOf(reserved: Uint8Array): Features {
  const has = (bit: { byte: number; mask: number }): boolean => ((reserved[bit.byte] ?? 0) & bit.mask) !== 0;
  return {
    extended: has(ReservedBit.extended),
    fast: has(ReservedBit.fast),
    dht: has(ReservedBit.dht),
    v2: has(ReservedBit.v2),
  };
}

export interface Handshake {
  /** 8 bytes. */
  reserved: Uint8Array;
  /** 20 bytes. */
  infoHash: Uint8Array;
  /** 20 bytes. */
  peerId: Uint8Array;
}

export function encodeHandshake(h: Handshake): Buffer {
  if (h.reserved.length !== 8 || h.infoHash.length !== 20 || h.peerId.length !== 20) {
    throw new RangeError('handshake needs 8 reserved bytes, a 20-byte info hash and a 20-byte peer id');
  }
  const b = Buffer.allocUnsafe(HANDSHAKE_BYTES);
  b[0] = PSTR.length;
  b.write(PSTR, 1, 'latin1');
  b.set(h.reserved, 20);
  b.set(h.infoHash, 28);
  b.set(h.peerId, 48);
  return b;
}

/**
 * Decodes the 68-byte handshake. Rejects a wrong protocol string as soon as its bytes arrive.
 * The returned fields are copies: a handshake outlives the stream buffer it came from.
 */
export function decodeHandshake(
  buf: Uint8Array,
  offset = 0,
  end: number = buf.length,
): DecodeResult<Handshake> {
  const avail = end - offset;
  const check = Math.min(avail, 1 + PSTR.length);
  for (let i = 0; i < check; i++) {
    const want = i === 0 ? PSTR.length : PSTR.charCodeAt(i - 1);
    if (buf[offset + i] !== want) {
      throw new ProtocolError(DisconnectReason.badHandshake, 'not a BitTorrent handshake');
    }
  }
  if (avail < HANDSHAKE_BYTES) return { need: HANDSHAKE_BYTES - avail };
  return {
    message: {
      reserved: Uint8Array.prototype.slice.call(buf, offset + 20, offset + 28),
      infoHash: Uint8Array.prototype.slice.call(buf, offset + 28, offset + 48),
      peerId: Uint8Array.prototype.slice.call(buf, offset + 48, offset + 68),
    },
    consumed: HANDSHAKE_BYTES,
  };
}

// ---------------------------------------------------------------------------------------------------
// Framing over a byte stream

export interface FrameReaderOptions {
  /**
   * Chunks stay valid only until the caller's next push() (a socket reading into one shared buffer):
   * after taking the messages of a chunk, the caller calls retain(), which copies what the reader
   * keeps. The payloads of bitfield, extended and unknown messages are copies; a piece message's
   * data is a view that is valid only until the next call on the reader, so its consumer copies it.
   */
  transient?: boolean;
}

/** A split message in transient mode goes into one reused buffer at least this large. */
const SPARE_MIN_BYTES = 16 * 1024 + 64;
const EMPTY = new Uint8Array(0);

/**
 * Reassembles messages from a stream of chunks without copying what it can avoid.
 *
 * Memory rule that makes zero-copy safe: bytes handed out (a piece's data) are never overwritten.
 * A chunk is adopted as-is while nothing is pending; only a message split across chunks is copied,
 * once, into a buffer allocated for exactly that message. No buffer is ever compacted or reused.
 * In transient mode (FrameReaderOptions) the rule is the caller's instead: bytes handed out are
 * valid until the next call, and split messages reuse one buffer.
 */
export class FrameReader {
  #buf: Uint8Array = EMPTY;
  #start = 0;
  #end = 0;
  /** Writable capacity of #buf: adopted chunks have none past their end (the rest is not ours). */
  #cap = 0;
  readonly #queue: Uint8Array[] = [];
  #queued = 0;
  readonly #transient: boolean;
  /** Transient mode: the reused buffer for split messages. */
  #spare: Buffer | undefined;
  /** Bytes the last decode said it still needs (0 after a whole message). */
  #lastNeed = 0;

  constructor(options: FrameReaderOptions = {}) {
    this.#transient = options.transient ?? false;
  }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.#queue.push(chunk);
    this.#queued += chunk.length;
  }

  /** Bytes received but not yet returned as messages. */
  get bufferedBytes(): number {
    return this.#end - this.#start + this.#queued;
  }

  /** The next message, or undefined when more bytes are needed. Throws ProtocolError. */
  nextMessage(limits: WireLimits = {}): Message | undefined {
    const m = this.#next((b, o, e) => decodeMessage(b, o, limits, e));
    if (!this.#transient || m === undefined) return m;
    switch (m.type) {
      case 'bitfield':
        return { type: 'bitfield', bits: Uint8Array.prototype.slice.call(m.bits) };
      case 'extended':
      case 'unknown':
        return { type: m.type, id: m.id, payload: Uint8Array.prototype.slice.call(m.payload) };
      case 'hash-request':
      case 'hash-reject':
        return { ...m, piecesRoot: Uint8Array.prototype.slice.call(m.piecesRoot) };
      case 'hashes':
        return {
          ...m,
          piecesRoot: Uint8Array.prototype.slice.call(m.piecesRoot),
          hashes: Uint8Array.prototype.slice.call(m.hashes),
        };
      default:
        return m;
    }
  }

  nextHandshake(): Handshake | undefined {
    return this.#next(decodeHandshake);
  }

  /**
   * Transient mode: copies the bytes not yet returned out of the pushed chunks, which the caller is
   * about to reuse. Does nothing otherwise.
   */
  retain(): void {
    if (!this.#transient) return;
    for (let i = 0; i < this.#queue.length; i++)
      this.#queue[i] = Uint8Array.prototype.slice.call(this.#queue[i]!);
    const have = this.#end - this.#start;
    if (have === 0) {
      this.#buf = EMPTY;
      this.#start = this.#end = this.#cap = 0;
    } else if (this.#buf !== this.#spare) {
      const next = this.#spareOf(have + this.#lastNeed);
      next.set(this.#buf.subarray(this.#start, this.#end));
      this.#buf = next;
      this.#start = 0;
      this.#end = have;
      this.#cap = next.length;
    }
    // A spare grown for one large message (a bitfield, an extension message) is not kept for life.
    if (this.#spare !== undefined && this.#spare.length > SPARE_MIN_BYTES && this.#buf !== this.#spare) {
      this.#spare = undefined;
    }
  }

  /** Takes every byte not yet decoded (for handing the stream to someone else). */
  takeRest(): Buffer {
    const parts = [this.#buf.subarray(this.#start, this.#end), ...this.#queue];
    this.#buf = EMPTY;
    this.#start = this.#end = this.#cap = 0;
    this.#queue.length = 0;
    this.#queued = 0;
    return Buffer.concat(parts);
  }

  /** The reused buffer, with room for `bytes` (transient mode). */
  #spareOf(bytes: number): Buffer {
    if (this.#spare === undefined || this.#spare.length < bytes) {
      this.#spare = Buffer.allocUnsafeSlow(Math.max(bytes, SPARE_MIN_BYTES));
    }
    return this.#spare;
  }

  #next<T>(decode: (buf: Uint8Array, offset: number, end: number) => DecodeResult<T>): T | undefined {
    for (;;) {
      if (this.#start === this.#end) {
        const chunk = this.#queue.shift();
        if (!chunk) return undefined;
        this.#queued -= chunk.length;
        this.#buf = chunk;
        this.#start = 0;
        this.#end = this.#cap = chunk.length;
      }
      const r = decode(this.#buf, this.#start, this.#end);
      if ('message' in r) {
        this.#start += r.consumed;
        this.#lastNeed = 0;
        return r.message;
      }
      this.#lastNeed = r.need;
      if (this.#queued === 0) return undefined;
      // Split message: move what we have into a buffer sized for the whole message (the codec has
      // already checked its declared length), then fill it from the queue.
      const have = this.#end - this.#start;
      if (this.#end + r.need > this.#cap) {
        // Uninitialized: every byte up to the message's end is written before it is read.
        // (In transient mode the source may be the spare itself: set() copies overlapping bytes right.)
        const next = this.#transient ? this.#spareOf(have + r.need) : Buffer.allocUnsafe(have + r.need);
        next.set(this.#buf.subarray(this.#start, this.#end));
        this.#buf = next;
        this.#start = 0;
        this.#end = have;
        this.#cap = next.length;
      }
      let want = r.need;
      while (want > 0 && this.#queue.length > 0) {
        const head = this.#queue[0]!;
        const n = Math.min(want, head.length);
        this.#buf.set(head.subarray(0, n), this.#end);
        this.#end += n;
        want -= n;
        this.#queued -= n;
        if (n === head.length) this.#queue.shift();
        else this.#queue[0] = head.subarray(n);
      }
    }
  }
}
