// The BEP 10 extensions of one torrent's connections, glued to the swarm: peer exchange (BEP 11,
// ut_pex — "broadcast the list to all the peers") and serving our metadata (BEP 9, ut_metadata).
// The torrent only carries extension messages; the decisions live in src/discovery/pex.ts.

import { type PexPeer, PexReceiver, PexSender } from '../discovery/pex.js';
import type { PeerAddress } from '../protocol/address.js';
import { DisconnectReason } from '../protocol/peer-wire.js';
import { decodeUtMetadata, encodeUtMetadata, metadataPiece } from '../protocol/ut-metadata.js';
import type { Torrent } from '../swarm/torrent.js';

/** Local ids of the extensions we offer (our extension handshake's `m`). */
export const LOCAL_EXTENSIONS = { ut_metadata: 1, ut_pex: 2 } as const;

export interface ExtensionGlueOptions {
  pex: boolean;
  /** Peers known otherwise (e.g. those that announced to our embedded tracker), told by PEX too. */
  extraPeers?: () => PexPeer[];
  /** Our own listen addresses, never learned from PEX. */
  ownAddresses?: PeerAddress[];
  /** A peer PEX says speaks uTP (flag 0x04): the transport may dial it over uTP first. */
  onUtpPeer?: (addr: PeerAddress) => void;
  now?: () => number;
}

interface PeerPex {
  sender: PexSender;
  receiver: PexReceiver;
}

export class ExtensionGlue {
  readonly #torrent: Torrent;
  readonly #o: ExtensionGlueOptions;
  readonly #pex = new Map<string, PeerPex>();
  readonly #off: (() => void)[] = [];
  /** Peers learned by PEX, counted for statistics. */
  learnedByPex = 0;

  constructor(torrent: Torrent, options: ExtensionGlueOptions) {
    this.#torrent = torrent;
    this.#o = options;
  }

  start(): void {
    const t = this.#torrent;
    const onExtensions = (key: string): void => {
      if (!this.#o.pex || this.#pex.has(key)) return;
      const info = t.peerList().find((p) => p.key === key);
      if (!info?.supports('ut_pex') || t.metainfo.private) return;
      this.#pex.set(key, {
        sender: new PexSender({ host: info.host, port: info.listenPort ?? 0 }),
        receiver: new PexReceiver({ ownAddresses: this.#o.ownAddresses ?? [] }),
      });
    };
    const onExtended = (key: string, name: string, payload: Uint8Array): void => {
      if (name === 'ut_pex') this.#onPex(key, payload);
      else if (name === 'ut_metadata') this.#onMetadata(key, payload);
    };
    const onDisconnect = (_address: string, _reason: string, key: string): void => {
      this.#pex.delete(key);
    };
    t.on('peer:extensions', onExtensions);
    t.on('peer:extended', onExtended);
    t.on('peer:disconnect', onDisconnect);
    this.#off.push(
      () => t.off('peer:extensions', onExtensions),
      () => t.off('peer:extended', onExtended),
      () => t.off('peer:disconnect', onDisconnect),
    );
  }

  stop(): void {
    for (const off of this.#off.splice(0)) off();
    this.#pex.clear();
  }

  /** Sends the PEX messages that are due. Called about every few seconds by the session. */
  tick(): void {
    if (this.#pex.size === 0) return;
    const now = this.#o.now?.() ?? Date.now();
    const current: PexPeer[] = [];
    for (const p of this.#torrent.peerList()) {
      if (p.listenPort === undefined || p.listenPort === 0) continue;
      current.push({
        host: p.host,
        port: p.listenPort,
        seed: p.seed,
        reachable: p.outgoing,
        utp: p.transport === 'utp',
      });
    }
    if (this.#o.extraPeers) current.push(...this.#o.extraPeers());
    for (const [key, state] of this.#pex) {
      if (!state.sender.due(now)) continue;
      const payload = state.sender.next(current, now);
      if (payload) this.#torrent.sendExtended(key, 'ut_pex', payload);
    }
  }

  #onPex(key: string, payload: Uint8Array): void {
    const state = this.#pex.get(key);
    if (!state) return;
    const verdict = state.receiver.receive(payload, this.#o.now?.() ?? Date.now());
    if (verdict.verdict === 'drop') {
      this.#torrent.closePeer(key, DisconnectReason.pexFlood);
      return;
    }
    if (verdict.peers.length > 0) {
      this.learnedByPex += verdict.peers.length;
      for (const p of verdict.peers) if (p.utp === true) this.#o.onUtpPeer?.({ host: p.host, port: p.port });
      this.#torrent.addPeers(
        verdict.peers.map((p) => ({ host: p.host, port: p.port })),
        'pex',
      );
    }
  }

  #onMetadata(key: string, payload: Uint8Array): void {
    let msg: ReturnType<typeof decodeUtMetadata>;
    try {
      msg = decodeUtMetadata(payload);
    } catch {
      this.#torrent.closePeer(key, DisconnectReason.badExtensionMessage);
      return;
    }
    if (msg.type !== 'request') return;
    const info = this.#torrent.metainfo.infoBytes;
    const data = this.#torrent.metainfo.private ? undefined : metadataPiece(info, msg.piece);
    const reply = data
      ? encodeUtMetadata({ type: 'data', piece: msg.piece, totalSize: info.length, data })
      : encodeUtMetadata({ type: 'reject', piece: msg.piece });
    this.#torrent.sendExtended(key, 'ut_metadata', reply);
  }
}
