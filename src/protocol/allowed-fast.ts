// BEP 6 allowed fast set: the pieces a peer may ask of us while we choke it, chosen by the canonical
// algorithm from its IPv4 address (its /24, so that peers behind one NAT share a set) and the info
// hash. Pure.

import { createHash } from 'node:crypto';

/**
 * The first `k` pieces (at most `pieceCount`) of the canonical allowed fast set of a peer whose
 * address is `ip` (its bytes: an IPv4-mapped IPv6 address as its 4). BEP 6 defines it for IPv4
 * only: an IPv6 peer, or no address, gets none.
 */
export function allowedFastSet(
  infoHash: Uint8Array,
  ip: Uint8Array | undefined,
  pieceCount: number,
  k: number,
): number[] {
  if (ip?.length !== 4 || pieceCount < 1) return [];
  const want = Math.min(k, pieceCount);
  let x: Buffer = Buffer.concat([Buffer.from([ip[0]!, ip[1]!, ip[2]!, 0]), infoHash]);
  const set: number[] = [];
  while (set.length < want) {
    x = createHash('sha1').update(x).digest();
    for (let i = 0; i < 5 && set.length < want; i++) {
      const index = x.readUInt32BE(i * 4) % pieceCount;
      if (!set.includes(index)) set.push(index);
    }
  }
  return set;
}
