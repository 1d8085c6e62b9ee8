// Message Stream Encryption / Protocol Encryption (MSE/PE), the obfuscated handshake that
// libtorrent, Transmission, qBittorrent and Vuze speak, as a sans-I/O state machine: feed it the
// bytes that arrive, send what it returns, and take its result once it is done.
//
//   1 A→B  Ya, PadA                       (Diffie-Hellman over the 768-bit MSE prime, G = 2)
//   2 B→A  Yb, PadB
//   3 A→B  HASH('req1', S), HASH('req2', SKEY) xor HASH('req3', S),
//          ENCRYPT(VC, crypto_provide, len(PadC), PadC, len(IA)), ENCRYPT(IA)
//   4 B→A  ENCRYPT(VC, crypto_select, len(PadD), PadD), ENCRYPT2(payload stream)
//   5 A→B  ENCRYPT2(payload stream)
//
// SKEY is the info hash: one port serves every torrent, B finds which one by trying each against
// req2 xor req3. ENCRYPT is RC4 keyed HASH('keyA', S, SKEY) for A→B and HASH('keyB', S, SKEY) for
// B→A, each discarding its first 1024 bytes of keystream. VC is 8 zero bytes. Pads are random,
// at most 512 bytes; B finds its place after PadA by searching for req1, A after PadB by searching
// for ENCRYPT(VC). IA (initial payload) carries A's BitTorrent handshake. ENCRYPT2 is RC4 when
// crypto_select is 0x02 and plain bytes when it is 0x01; IA is RC4 either way.
//
// Randomness (private keys, pads) is passed in, so the machines are deterministic under test.
// Every failure is a ProtocolError with an `encryption-*` DisconnectReason.

import { createHash } from 'node:crypto';
import { DisconnectReason, ProtocolError } from './peer-wire.js';
import { Rc4 } from './rc4.js';

/** crypto_provide / crypto_select bits. */
export const CryptoMethod = { plaintext: 0x01, rc4: 0x02 } as const;

export const MSE_PRIME = BigInt(
  '0xFFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A63A36210000000000090563',
);
const GENERATOR = 2n;
export const DH_KEY_BYTES = 96;
export const MAX_PAD_BYTES = 512;
/** Bytes of private key (the spec asks for at least 128 bits; 160 is what clients use). */
export const PRIVATE_KEY_BYTES = 20;
const VC_BYTES = 8;
const HASH_BYTES = 20;
const RC4_DISCARD_BYTES = 1024;
/** Largest initial payload we accept: a handshake and a few first messages, not a bulk transfer. */
export const MAX_IA_BYTES = 16 * 1024;

export interface MseResult {
  infoHash: Uint8Array;
  method: 'rc4' | 'plaintext';
  /** Ciphers for the rest of the stream; undefined when the method is plaintext. */
  encrypt: Rc4 | undefined;
  decrypt: Rc4 | undefined;
  /** Payload bytes that arrived with the handshake, already decrypted (B: IA first). */
  payload: Uint8Array;
}

export interface MseStep {
  /** Bytes to send now, if any. */
  send: Uint8Array | undefined;
  /** Set once the handshake is done: push no more. */
  done: MseResult | undefined;
}

export interface MseHandshake {
  /** What to send first (A: Ya and PadA; B: nothing). */
  start(): Uint8Array | undefined;
  /** Feeds received bytes; throws a ProtocolError (`encryption-*`) when the peer breaks the rules. */
  push(chunk: Uint8Array): MseStep;
  /** True once the first DH key has arrived (the peer speaks MSE, or sent 96 bytes of something). */
  readonly gotKey: boolean;
}

export interface MseInitiatorOptions {
  infoHash: Uint8Array;
  /** CryptoMethod bits we offer. */
  provide: number;
  privateKey: Uint8Array;
  padA: Uint8Array;
  /** Sent encrypted inside message 3, typically our BitTorrent handshake. */
  initialPayload?: Uint8Array;
}

export interface MseResponderOptions {
  /** Maps HASH('req2', info hash) to that info hash, for each torrent we serve. */
  findInfoHash: (req2: Uint8Array) => Uint8Array | undefined;
  /** CryptoMethod bits we accept. */
  allow: number;
  /** Which to choose when the peer offers both. */
  prefer: 'rc4' | 'plaintext';
  privateKey: Uint8Array;
  padB: Uint8Array;
}

export function sha1(...parts: (Uint8Array | string)[]): Buffer {
  const h = createHash('sha1');
  for (const p of parts) h.update(p);
  return h.digest();
}

/** HASH('req2', info hash): what a responder keeps per torrent to answer the skey lookup. */
export function req2Hash(infoHash: Uint8Array): Buffer {
  return sha1('req2', infoHash);
}

function toBigInt(b: Uint8Array): bigint {
  return b.length === 0 ? 0n : BigInt(`0x${Buffer.from(b).toString('hex')}`);
}

function toBytes(n: bigint, length: number): Buffer {
  return Buffer.from(n.toString(16).padStart(length * 2, '0'), 'hex');
}

function modPow(base: bigint, exp: bigint, mod: bigint): bigint {
  let result = 1n;
  let b = base % mod;
  for (let e = exp; e > 0n; e >>= 1n) {
    if (e & 1n) result = (result * b) % mod;
    b = (b * b) % mod;
  }
  return result;
}

/** Our public key for `privateKey`, 96 bytes big-endian. */
export function publicKey(privateKey: Uint8Array): Buffer {
  return toBytes(modPow(GENERATOR, toBigInt(privateKey), MSE_PRIME), DH_KEY_BYTES);
}

/** The shared secret S from the peer's public key; throws when the key is not one (0, 1, ≥ P−1). */
export function sharedSecret(privateKey: Uint8Array, remoteKey: Uint8Array): Buffer {
  const y = toBigInt(remoteKey);
  if (y < 2n || y > MSE_PRIME - 2n) {
    throw new ProtocolError(DisconnectReason.encryptionBadKey, 'the peer sent no valid Diffie-Hellman key');
  }
  return toBytes(modPow(y, toBigInt(privateKey), MSE_PRIME), DH_KEY_BYTES);
}

function cipher(label: 'keyA' | 'keyB', s: Uint8Array, skey: Uint8Array): Rc4 {
  const c = new Rc4(sha1(label, s, skey));
  c.discard(RC4_DISCARD_BYTES);
  return c;
}

function checkPad(length: number, what: string): void {
  if (length > MAX_PAD_BYTES) {
    throw new ProtocolError(
      DisconnectReason.encryptionBadPadding,
      `${what} of ${length} bytes (at most ${MAX_PAD_BYTES})`,
    );
  }
}

/** Bytes received so far; the machines read from `at` on. Bounded by the handshake's own limits. */
class Inbox {
  buf: Buffer = Buffer.alloc(0);
  at = 0;
  push(chunk: Uint8Array): void {
    if (this.at > 0) {
      this.buf = this.buf.subarray(this.at);
      this.at = 0;
    }
    // Copies: the caller's chunk may be a view into a buffer it reuses.
    this.buf = this.buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buf, chunk]);
  }
  /** push(), returning this. */
  received(chunk: Uint8Array): this {
    this.push(chunk);
    return this;
  }
  get available(): number {
    return this.buf.length - this.at;
  }
  /** The next `n` bytes (a copy), advancing. */
  take(n: number): Buffer {
    const out = Buffer.from(this.buf.subarray(this.at, this.at + n));
    this.at += n;
    return out;
  }
  /**
   * Moves to `marker` when it starts within MAX_PAD_BYTES of here (after a pad of unknown length);
   * false while it may still come; a ProtocolError once it can no longer.
   */
  seek(marker: Uint8Array, what: string): boolean {
    const i = this.buf.indexOf(marker, this.at);
    if (i >= 0 && i <= this.at + MAX_PAD_BYTES) {
      this.at = i;
      return true;
    }
    if (this.available < MAX_PAD_BYTES + marker.length) return false;
    throw new ProtocolError(
      DisconnectReason.encryptionNoSync,
      `no ${what} within ${MAX_PAD_BYTES} bytes of the peer's key`,
    );
  }
  rest(): Buffer {
    return this.take(this.available);
  }
}

/** A (the side that dialled). */
export class MseInitiator implements MseHandshake {
  readonly #o: MseInitiatorOptions;
  readonly #in = new Inbox();
  #stage: 'key' | 'vc' | 'select' | 'padD' | 'done' = 'key';
  #vcPattern: Buffer | undefined;
  #encrypt: Rc4 | undefined;
  #decrypt: Rc4 | undefined;
  #select = 0;
  #padD = 0;

  constructor(options: MseInitiatorOptions) {
    if (options.infoHash.length !== 20) throw new RangeError('infoHash must be 20 bytes');
    if (options.padA.length > MAX_PAD_BYTES) throw new RangeError('PadA is too long');
    if ((options.provide & (CryptoMethod.rc4 | CryptoMethod.plaintext)) === 0)
      throw new RangeError('provide offers no method');
    this.#o = options;
  }

  get gotKey(): boolean {
    return this.#stage !== 'key';
  }

  start(): Uint8Array {
    return Buffer.concat([publicKey(this.#o.privateKey), this.#o.padA]);
  }

  push(chunk: Uint8Array): MseStep {
    if (this.#stage === 'done') throw new Error('MSE handshake already done');
    return this.#step(this.#in.received(chunk));
  }

  #step(inbox: Inbox): MseStep {
    let send: Uint8Array | undefined;
    if (this.#stage === 'key') {
      if (inbox.available < DH_KEY_BYTES) return { send: undefined, done: undefined };
      const s = sharedSecret(this.#o.privateKey, inbox.take(DH_KEY_BYTES));
      const skey = this.#o.infoHash;
      this.#encrypt = cipher('keyA', s, skey);
      this.#decrypt = cipher('keyB', s, skey);
      const pattern = cipher('keyB', s, skey);
      this.#vcPattern = Buffer.alloc(VC_BYTES);
      pattern.process(this.#vcPattern);
      const ia = this.#o.initialPayload ?? new Uint8Array(0);
      const head = Buffer.alloc(VC_BYTES + 4 + 2 + 2);
      head.writeUInt32BE(this.#o.provide, VC_BYTES);
      head.writeUInt16BE(0, VC_BYTES + 4); // len(PadC): zero, as every client sends
      head.writeUInt16BE(ia.length, VC_BYTES + 6);
      const encrypted = Buffer.concat([head, ia]);
      this.#encrypt.process(encrypted);
      const req2 = req2Hash(skey);
      const req3 = sha1('req3', s);
      for (let i = 0; i < HASH_BYTES; i++) req2[i]! ^= req3[i]!;
      send = Buffer.concat([sha1('req1', s), req2, encrypted]);
      this.#stage = 'vc';
    }
    if (this.#stage === 'vc') {
      // PadB (0..512 bytes) comes first: look for ENCRYPT(VC) where it may start.
      if (!inbox.seek(this.#vcPattern!, 'the verification constant')) return { send, done: undefined };
      this.#decrypt!.process(inbox.take(VC_BYTES));
      this.#stage = 'select';
    }
    if (this.#stage === 'select') {
      if (inbox.available < 6) return { send, done: undefined };
      const b = inbox.take(6);
      this.#decrypt!.process(b);
      this.#select = b.readUInt32BE(0);
      this.#padD = b.readUInt16BE(4);
      if (
        (this.#select !== CryptoMethod.rc4 && this.#select !== CryptoMethod.plaintext) ||
        (this.#select & this.#o.provide) === 0
      ) {
        throw new ProtocolError(
          DisconnectReason.encryptionNoCommonMethod,
          `the peer selected crypto method 0x${this.#select.toString(16)}, not one we offered`,
        );
      }
      checkPad(this.#padD, 'PadD');
      this.#stage = 'padD';
    }
    if (this.#stage === 'padD') {
      if (inbox.available < this.#padD) return { send, done: undefined };
      this.#decrypt!.process(inbox.take(this.#padD));
      this.#stage = 'done';
      const rc4 = this.#select === CryptoMethod.rc4;
      const payload = inbox.rest();
      if (rc4) this.#decrypt!.process(payload);
      return {
        send,
        done: {
          infoHash: this.#o.infoHash,
          method: rc4 ? 'rc4' : 'plaintext',
          encrypt: rc4 ? this.#encrypt : undefined,
          decrypt: rc4 ? this.#decrypt : undefined,
          payload,
        },
      };
    }
    return { send, done: undefined };
  }
}

/** B (the side that was dialled). */
export class MseResponder implements MseHandshake {
  readonly #o: MseResponderOptions;
  readonly #in = new Inbox();
  #stage: 'key' | 'req1' | 'req2' | 'vc' | 'padC' | 'ia' | 'done' = 'key';
  #secret: Buffer | undefined;
  #req1: Buffer | undefined;
  #infoHash: Uint8Array | undefined;
  #encrypt: Rc4 | undefined;
  #decrypt: Rc4 | undefined;
  #provide = 0;
  #padC = 0;
  #ia = 0;

  constructor(options: MseResponderOptions) {
    if (options.padB.length > MAX_PAD_BYTES) throw new RangeError('PadB is too long');
    this.#o = options;
  }

  get gotKey(): boolean {
    return this.#stage !== 'key';
  }

  start(): undefined {
    return undefined;
  }

  push(chunk: Uint8Array): MseStep {
    if (this.#stage === 'done') throw new Error('MSE handshake already done');
    return this.#step(this.#in.received(chunk));
  }

  #step(inbox: Inbox): MseStep {
    let send: Uint8Array | undefined;
    if (this.#stage === 'key') {
      if (inbox.available < DH_KEY_BYTES) return { send: undefined, done: undefined };
      this.#secret = sharedSecret(this.#o.privateKey, inbox.take(DH_KEY_BYTES));
      this.#req1 = sha1('req1', this.#secret);
      send = Buffer.concat([publicKey(this.#o.privateKey), this.#o.padB]);
      this.#stage = 'req1';
    }
    if (this.#stage === 'req1') {
      // PadA (0..512 bytes) comes first: look for HASH('req1', S) where it may start.
      if (!inbox.seek(this.#req1!, "HASH('req1', S)")) return { send, done: undefined };
      inbox.at += HASH_BYTES;
      this.#stage = 'req2';
    }
    if (this.#stage === 'req2') {
      if (inbox.available < HASH_BYTES) return { send, done: undefined };
      const x = inbox.take(HASH_BYTES);
      const req3 = sha1('req3', this.#secret!);
      for (let i = 0; i < HASH_BYTES; i++) x[i]! ^= req3[i]!;
      const infoHash = this.#o.findInfoHash(x);
      if (infoHash === undefined) {
        throw new ProtocolError(
          DisconnectReason.encryptionUnknownTorrent,
          'the peer asked for a torrent we do not have (req2 xor req3 matches none)',
        );
      }
      this.#infoHash = infoHash;
      this.#decrypt = cipher('keyA', this.#secret!, infoHash);
      this.#encrypt = cipher('keyB', this.#secret!, infoHash);
      this.#stage = 'vc';
    }
    if (this.#stage === 'vc') {
      if (inbox.available < VC_BYTES + 6) return { send, done: undefined };
      const b = inbox.take(VC_BYTES + 6);
      this.#decrypt!.process(b);
      if (b.readBigUInt64BE(0) !== 0n) {
        throw new ProtocolError(DisconnectReason.encryptionNoSync, 'the verification constant is not zero');
      }
      this.#provide = b.readUInt32BE(VC_BYTES);
      this.#padC = b.readUInt16BE(VC_BYTES + 4);
      checkPad(this.#padC, 'PadC');
      this.#stage = 'padC';
    }
    if (this.#stage === 'padC') {
      if (inbox.available < this.#padC + 2) return { send, done: undefined };
      const b = inbox.take(this.#padC + 2);
      this.#decrypt!.process(b);
      this.#ia = b.readUInt16BE(this.#padC);
      if (this.#ia > MAX_IA_BYTES) {
        throw new ProtocolError(
          DisconnectReason.encryptionBadPadding,
          `initial payload of ${this.#ia} bytes (at most ${MAX_IA_BYTES})`,
        );
      }
      this.#stage = 'ia';
    }
    if (this.#stage === 'ia') {
      if (inbox.available < this.#ia) return { send, done: undefined };
      const ia = inbox.take(this.#ia);
      this.#decrypt!.process(ia); // IA is RC4 whatever is selected
      const select = this.#choose();
      const reply = Buffer.alloc(VC_BYTES + 4 + 2);
      reply.writeUInt32BE(select, VC_BYTES);
      reply.writeUInt16BE(0, VC_BYTES + 4); // len(PadD): zero, as every client sends
      this.#encrypt!.process(reply);
      send = send ? Buffer.concat([send, reply]) : reply;
      this.#stage = 'done';
      const rc4 = select === CryptoMethod.rc4;
      const rest = inbox.rest();
      if (rc4) this.#decrypt!.process(rest);
      return {
        send,
        done: {
          infoHash: this.#infoHash!,
          method: rc4 ? 'rc4' : 'plaintext',
          encrypt: rc4 ? this.#encrypt : undefined,
          decrypt: rc4 ? this.#decrypt : undefined,
          payload: rest.length === 0 ? ia : Buffer.concat([ia, rest]),
        },
      };
    }
    return { send, done: undefined };
  }

  #choose(): number {
    const both = this.#provide & this.#o.allow;
    const rc4 = (both & CryptoMethod.rc4) !== 0;
    const plain = (both & CryptoMethod.plaintext) !== 0;
    if (rc4 && (!plain || this.#o.prefer === 'rc4')) return CryptoMethod.rc4;
    if (plain) return CryptoMethod.plaintext;
    throw new ProtocolError(
      DisconnectReason.encryptionNoCommonMethod,
      `the peer offers crypto methods 0x${this.#provide.toString(16)}, none of which we accept`,
    );
  }
}

const PEER_PREFIX = Buffer.from('\x13BitTorrent protocol', 'latin1');
const HTTP_PREFIX = Buffer.from('GET ', 'latin1');

/**
 * What a stream arriving on our port is, from its first bytes: the plaintext peer protocol, an HTTP
 * request (the embedded tracker), or anything else, which can only be an MSE handshake (its first
 * 96 bytes are a random-looking key). Undefined while the bytes so far could still be either.
 */
export function streamKind(head: Uint8Array): 'peer' | 'http' | 'mse' | undefined {
  if (head.length === 0) return undefined;
  for (const [prefix, kind] of [
    [PEER_PREFIX, 'peer'],
    [HTTP_PREFIX, 'http'],
  ] as const) {
    if (head[0] !== prefix[0]) continue;
    const n = Math.min(head.length, prefix.length);
    let same = 1;
    while (same < n && head[same] === prefix[same]) same++;
    if (same === prefix.length) return kind;
    // Two bytes of the prefix and then others: a broken handshake or request, left to its reader to
    // refuse (a key starts so once in 65,536 tries; its sender's next try has another key).
    if (same < n) return same >= 2 ? kind : 'mse';
    return undefined;
  }
  return 'mse';
}
