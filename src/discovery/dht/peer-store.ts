// The peers other nodes announced to us (announce_peer), answered to get_peers. Bounded in both
// directions: at most `maxTorrents` info hashes and `maxPeersPerTorrent` peers each; when full, the
// oldest entry goes. Entries expire after 30 minutes unless re-announced. Maps keep insertion order,
// and an update re-inserts, so the first entry is always the oldest.

import type { Peer } from '../../protocol/krpc.js';
import { setNewest } from '../../util/bounded.js';

export const PEER_TTL_MS = 30 * 60 * 1000;

export interface PeerStoreOptions {
  maxTorrents?: number;
  maxPeersPerTorrent?: number;
  ttlMs?: number;
}

interface Entry {
  peer: Peer;
  addedMs: number;
}

export class PeerStore {
  readonly maxTorrents: number;
  readonly maxPeersPerTorrent: number;
  readonly ttlMs: number;
  /** info hash (hex) → peer key → entry. */
  readonly #torrents = new Map<string, Map<string, Entry>>();

  constructor(options: PeerStoreOptions = {}) {
    this.maxTorrents = options.maxTorrents ?? 2000;
    this.maxPeersPerTorrent = options.maxPeersPerTorrent ?? 500;
    this.ttlMs = options.ttlMs ?? PEER_TTL_MS;
  }

  get torrentCount(): number {
    return this.#torrents.size;
  }

  peerCount(infoHashHex: string): number {
    return this.#torrents.get(infoHashHex)?.size ?? 0;
  }

  add(infoHashHex: string, peer: Peer, nowMs: number): void {
    const peers = this.#torrents.get(infoHashHex) ?? new Map<string, Entry>();
    setNewest(this.#torrents, infoHashHex, peers, this.maxTorrents);
    setNewest(
      peers,
      `${peer.host}|${peer.port}`,
      { peer: { host: peer.host, port: peer.port }, addedMs: nowMs },
      this.maxPeersPerTorrent,
    );
  }

  /**
   * Up to `max` live peers of a torrent, newest first (newest are likeliest still there). Expired
   * entries met on the way are dropped.
   */
  get(infoHashHex: string, max: number, nowMs: number): Peer[] {
    const peers = this.#torrents.get(infoHashHex);
    if (!peers) return [];
    this.#expireTorrent(infoHashHex, peers, nowMs);
    const all = [...peers.values()];
    const out: Peer[] = [];
    for (let i = all.length - 1; i >= 0 && out.length < max; i--) out.push({ ...all[i]!.peer });
    return out;
  }

  /** Drops every expired entry (the node calls this from its maintenance tick). */
  expire(nowMs: number): void {
    for (const [hash, peers] of [...this.#torrents]) this.#expireTorrent(hash, peers, nowMs);
  }

  #expireTorrent(hash: string, peers: Map<string, Entry>, nowMs: number): void {
    for (const [key, e] of peers) {
      if (nowMs - e.addedMs < this.ttlMs) break; // ordered oldest first: the rest are younger
      peers.delete(key);
    }
    if (peers.size === 0) this.#torrents.delete(hash);
  }
}
