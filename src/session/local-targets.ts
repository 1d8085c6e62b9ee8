// Which addresses a magnet link may make us contact. A link comes from anywhere; its `tr=` and
// `x.pe=` must not turn bitswarm into a client of other services on the user's machine (a local web
// app received `GET /admin/delete-all?…` from a tracker URL) or next to it on a link-local network.
// Loopback, link-local, unspecified addresses and this machine's own addresses are "local"; names are
// resolved first (getaddrinfo also reads forms like `2130706433` or `0177.1` as 127.0.0.1).
// The user opts in with the session's `allowLocalPeers` (`--allow-local-peers`); peers the user
// names (`--peer`, the API's `peers`) are the user's own say and always dialled.

import { lookup } from 'node:dns/promises';
import { networkInterfaces } from 'node:os';
import { parseAddress } from '../protocol/address.js';
import { parseIp, unbracket } from '../protocol/ip.js';

/** True for loopback, link-local and unspecified IPv4/IPv6 literals (and IPv4-mapped forms of them). */
export function isLocalIp(ip: string): boolean {
  const b = parseIp(unbracket(ip));
  if (!b) return false;
  if (b.length === 4) return isLocalV4(b);
  const mapped = b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
  if (mapped) return isLocalV4(b.subarray(12));
  const zeroPrefix = b.subarray(0, 15).every((x) => x === 0);
  if (zeroPrefix && (b[15] === 0 || b[15] === 1)) return true; // :: and ::1
  return b[0] === 0xfe && (b[1]! & 0xc0) === 0x80; // fe80::/10
}

function isLocalV4(b: Uint8Array): boolean {
  return b[0] === 127 || b[0] === 0 || (b[0] === 169 && b[1] === 254);
}

/** This machine's own interface addresses, as `networkInterfaces()` lists them. */
function ownAddresses(): Set<string> {
  const out = new Set<string>();
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) out.add(a.address.toLowerCase());
  }
  return out;
}

/**
 * The local addresses `host` stands for (itself when it is one; what it resolves to for a name), or
 * an empty list when it is not local. A name that does not resolve is taken as not local: it cannot
 * be contacted now either.
 */
export async function localAddressesOf(host: string, own = ownAddresses()): Promise<string[]> {
  const h = unbracket(host).toLowerCase();
  const local = (ip: string): boolean => isLocalIp(ip) || own.has(ip.toLowerCase());
  if (parseIp(h)) return local(h) ? [h] : [];
  if (h === 'localhost' || h.endsWith('.localhost')) return [h];
  try {
    const found = await lookup(h, { all: true, verbatim: true });
    return found.map((a) => a.address).filter(local);
  } catch {
    // A name that does not resolve reaches nothing, local or not: nothing to refuse.
    return [];
  }
}

/**
 * Splits a magnet's trackers and peers into those that may be contacted and the warnings for those
 * that may not (all of them may when `allowLocal`).
 */
export async function filterMagnetTargets(
  trackers: readonly string[],
  peers: readonly string[],
  allowLocal: boolean,
): Promise<{ trackers: string[]; peers: string[]; refused: string[] }> {
  if (allowLocal) return { trackers: [...trackers], peers: [...peers], refused: [] };
  const own = ownAddresses();
  const refused: string[] = [];
  const keep = async (target: string, host: string | undefined, what: string): Promise<boolean> => {
    if (host === undefined) return true;
    const local = await localAddressesOf(host, own);
    if (local.length === 0) return true;
    refused.push(
      `${what} ${target} not contacted: ${local[0]} is a local address (--allow-local-peers to allow)`,
    );
    return false;
  };
  const trackerHost = (url: string): string | undefined => {
    try {
      return new URL(url).hostname;
    } catch {
      return undefined;
    }
  };
  // A peer that does not parse is not dialled at all (see Session.addMagnet).
  const peerHost = (p: string): string | undefined => parseAddress(p)?.host;
  const [t, p] = await Promise.all([
    Promise.all(trackers.map((u) => keep(u, trackerHost(u), 'tracker'))),
    Promise.all(peers.map((x) => keep(x, peerHost(x), 'peer'))),
  ]);
  return {
    trackers: trackers.filter((_, i) => t[i]),
    peers: peers.filter((_, i) => p[i]),
    refused,
  };
}
