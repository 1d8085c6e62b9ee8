// Write tokens for announce_peer (BEP 5): a get_peers answer carries a token that only the same IP
// can use, only for the same info hash, and only for a while. A token is a truncated
// SHA-1(secret ‖ ip ‖ info hash); the secret rotates every five minutes and the previous one is still
// accepted, so a token lives between five and ten minutes. Nothing is stored per requester.

import { createHash, timingSafeEqual } from 'node:crypto';
import { parseIp } from '../../protocol/krpc.js';

export const TOKEN_ROTATE_MS = 5 * 60 * 1000;
const TOKEN_BYTES = 8;
const SECRET_BYTES = 20;

export interface TokenOptions {
  now: () => number;
  random: (n: number) => Buffer;
  rotateMs?: number;
}

export class TokenManager {
  readonly #now: () => number;
  readonly #random: (n: number) => Buffer;
  readonly #rotateMs: number;
  #current: Buffer;
  #previous: Buffer;
  #rotatedAt: number;

  constructor(options: TokenOptions) {
    this.#now = options.now;
    this.#random = options.random;
    this.#rotateMs = options.rotateMs ?? TOKEN_ROTATE_MS;
    this.#current = this.#random(SECRET_BYTES);
    this.#previous = this.#random(SECRET_BYTES);
    this.#rotatedAt = this.#now();
  }

  /** Rotation is lazy (checked on use): no timer needed, and a virtual clock drives it in tests. */
  #rotate(): void {
    const elapsed = this.#now() - this.#rotatedAt;
    if (elapsed < this.#rotateMs) return;
    // After two periods or more, the old current secret is too old to keep as "previous".
    this.#previous = elapsed >= 2 * this.#rotateMs ? this.#random(SECRET_BYTES) : this.#current;
    this.#current = this.#random(SECRET_BYTES);
    this.#rotatedAt += Math.floor(elapsed / this.#rotateMs) * this.#rotateMs;
  }

  issue(ip: string, infoHash: Uint8Array): Buffer {
    this.#rotate();
    return tokenOf(this.#current, ip, infoHash);
  }

  verify(token: Uint8Array, ip: string, infoHash: Uint8Array): boolean {
    if (token.length !== TOKEN_BYTES) return false;
    this.#rotate();
    for (const secret of [this.#current, this.#previous]) {
      if (timingSafeEqual(tokenOf(secret, ip, infoHash), token)) return true;
    }
    return false;
  }
}

function tokenOf(secret: Buffer, ip: string, infoHash: Uint8Array): Buffer {
  // The address as bytes when it is a literal, so "a.b.c.d" and "::ffff:a.b.c.d" style spellings of the
  // same text cannot collide with other inputs by concatenation.
  const ipBytes = parseIp(ip) ?? Buffer.from(ip, 'utf8');
  return createHash('sha1')
    .update(secret)
    .update(Buffer.from([ipBytes.length]))
    .update(ipBytes)
    .update(infoHash)
    .digest()
    .subarray(0, TOKEN_BYTES);
}
