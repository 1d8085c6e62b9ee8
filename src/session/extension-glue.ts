// The BEP 10 extensions of one torrent's connections, glued to the swarm: peer exchange (BEP 11,
// ut_pex — "broadcast the list to all the peers"), serving our metadata (BEP 9, ut_metadata) and
// hole punching (BEP 55, ut_holepunch). The torrent only carries extension messages; the PEX
// decisions live in src/discovery/pex.ts.
//
// Hole punching, as the three roles see it:
// - initiator: a dial to a peer that PEX told us of failed (its NAT dropped our SYN): we ask a peer
//   that told us of it, and supports ut_holepunch, to introduce us (`rendezvous`), at most once a
//   minute per target;
// - relay: a peer asks us to introduce it to one we are connected to: we send `connect` to both,
//   each naming the other (or `error` back: not connected, no support, ourselves);
// - target (and initiator, on the relay's `connect`): we dial the named peer over uTP at once; both
//   sides' packets open their own NAT for the other's.

import { type PexPeer, PexReceiver, PexSender } from '../discovery/pex.js';
import { formatAddress, type PeerAddress, parseAddress } from '../protocol/address.js';
import {
  decodeHolepunch,
  encodeHolepunch,
  HolepunchError,
  type HolepunchMessage,
} from '../protocol/holepunch.js';
import { parseIp } from '../protocol/ip.js';
import { DisconnectReason } from '../protocol/peer-wire.js';
import { decodeUtMetadata, encodeUtMetadata, metadataPiece } from '../protocol/ut-metadata.js';
import type { PeerInfo, Torrent } from '../swarm/torrent.js';
import { setNewest } from '../util/bounded.js';

/** Local ids of the extensions we offer (our extension handshake's `m`). */
export const LOCAL_EXTENSIONS = { ut_metadata: 1, ut_pex: 2, ut_holepunch: 3 } as const;

/** The extensions a torrent offers: ut_holepunch only where we speak uTP (it asks for uTP dials). */
export function localExtensions(utp: boolean): Record<string, number> {
  const { ut_holepunch, ...rest } = LOCAL_EXTENSIONS;
  return utp ? { ...rest, ut_holepunch } : rest;
}

/** A rendezvous is asked for one target at most this often. */
const RENDEZVOUS_EVERY_MS = 60_000;
/** Hole-punch messages (rendezvous and connect) one peer may send per minute; more are ignored. */
const HOLEPUNCH_PER_MINUTE = 20;
/** Targets remembered: who told us of them by PEX, and when we last asked a rendezvous. */
const MAX_PUNCH_TARGETS = 2000;

export interface ExtensionGlueOptions {
  pex: boolean;
  /** Peers known otherwise (e.g. those that announced to our embedded tracker), told by PEX too. */
  extraPeers?: () => PexPeer[];
  /** Our own listen addresses, never learned from PEX. */
  ownAddresses?: PeerAddress[];
  /** A peer PEX says speaks uTP (flag 0x04): the transport may dial it over uTP first. */
  onUtpPeer?: (addr: PeerAddress) => void;
  /** BEP 55 hole punching (needs uTP). Default false. */
  holepunch?: boolean;
  now?: () => number;
}

/** What the glue tells of hole punching, for statistics and tests. */
export interface HolepunchStats {
  rendezvousSent: number;
  /** Rendezvous we relayed (connect sent to both), and refused (error sent). */
  relayed: number;
  refused: number;
  /** `connect` messages we acted on (a uTP dial started), and `error`s received. */
  connects: number;
  errors: number;
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
  readonly holepunchStats: HolepunchStats = {
    rendezvousSent: 0,
    relayed: 0,
    refused: 0,
    connects: 0,
    errors: 0,
  };
  /** Per PEX-learned endpoint: the connections that told us of it (oldest targets dropped first). */
  readonly #toldBy = new Map<string, Set<string>>();
  /** Per target: when we last asked for a rendezvous. */
  readonly #asked = new Map<string, number>();
  /** Per connection: hole-punch messages in the current minute. */
  readonly #punchBudget = new Map<string, { since: number; n: number }>();

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
      else if (name === 'ut_holepunch') this.#onHolepunch(key, payload);
    };
    const onDisconnect = (_address: string, _reason: string, key: string): void => {
      this.#pex.delete(key);
      this.#punchBudget.delete(key);
    };
    const onDialFailed = (address: string): void => this.#askRendezvous(address);
    t.on('peer:extensions', onExtensions);
    t.on('peer:extended', onExtended);
    t.on('peer:disconnect', onDisconnect);
    t.on('peer:dial-failed', onDialFailed);
    this.#off.push(
      () => t.off('peer:extensions', onExtensions),
      () => t.off('peer:extended', onExtended),
      () => t.off('peer:disconnect', onDisconnect),
      () => t.off('peer:dial-failed', onDialFailed),
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
        holepunch: p.supports('ut_holepunch'),
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
      for (const p of verdict.peers) {
        if (p.utp === true) this.#o.onUtpPeer?.({ host: p.host, port: p.port });
        if (this.#punching()) this.#noteToldBy(formatAddress(p), key);
      }
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

  // ---- hole punching (BEP 55) ----

  #punching(): boolean {
    return this.#o.holepunch === true && !this.#torrent.metainfo.private;
  }

  #noteToldBy(target: string, key: string): void {
    const set = this.#toldBy.get(target);
    if (set) set.add(key);
    else setNewest(this.#toldBy, target, new Set([key]), MAX_PUNCH_TARGETS);
  }

  /** Initiator: a dial to `address` failed; a peer that told us of it may introduce us. */
  #askRendezvous(address: string): void {
    if (!this.#punching()) return;
    const told = this.#toldBy.get(address);
    if (!told) return;
    const now = this.#o.now?.() ?? Date.now();
    const last = this.#asked.get(address);
    if (last !== undefined && now - last < RENDEZVOUS_EVERY_MS) return;
    const target = parseAddress(address);
    if (!target) return;
    const relay = this.#torrent.peerList().find((p) => told.has(p.key) && p.supports('ut_holepunch'));
    if (!relay) return;
    setNewest(this.#asked, address, now, MAX_PUNCH_TARGETS);
    this.#sendPunch(relay.key, { type: 'rendezvous', addr: target, errorCode: 0 });
    this.holepunchStats.rendezvousSent++;
  }

  #isOwn(addr: PeerAddress): boolean {
    return (this.#o.ownAddresses ?? []).some((a) => a.host === addr.host && a.port === addr.port);
  }

  #sendPunch(key: string, m: HolepunchMessage): void {
    this.#torrent.sendExtended(key, 'ut_holepunch', encodeHolepunch(m));
  }

  /** A peer's rendezvous or connect counts against its budget; false past it (the message is ignored). */
  #spend(key: string): boolean {
    const now = this.#o.now?.() ?? Date.now();
    const b = this.#punchBudget.get(key);
    if (!b || now - b.since >= 60_000) {
      this.#punchBudget.set(key, { since: now, n: 1 });
      return true;
    }
    return ++b.n <= HOLEPUNCH_PER_MINUTE;
  }

  #onHolepunch(key: string, payload: Uint8Array): void {
    if (!this.#punching()) return;
    let m: HolepunchMessage;
    try {
      m = decodeHolepunch(payload);
    } catch {
      this.#torrent.closePeer(key, DisconnectReason.badExtensionMessage);
      return;
    }
    if (m.type === 'error') {
      this.holepunchStats.errors++;
      return;
    }
    if (!this.#spend(key)) return;
    if (m.type === 'connect') {
      if (m.addr.port === 0 || this.#isOwn(m.addr)) return;
      if (this.#torrent.holepunch(m.addr)) this.holepunchStats.connects++;
      return;
    }
    this.#relay(key, m.addr);
  }

  /** Relay: `key` asks to be introduced to the peer at `target`. */
  #relay(key: string, target: PeerAddress): void {
    const peers = this.#torrent.peerList();
    const from = peers.find((p) => p.key === key);
    if (!from) return;
    const to = this.#relayTarget(key, target, peers);
    if (typeof to === 'number') {
      this.holepunchStats.refused++;
      this.#sendPunch(key, { type: 'error', addr: target, errorCode: to });
      return;
    }
    // Each is named by the endpoint it takes connections on: its address as we see it and the port
    // it listens on (its uTP socket is on that port), else the port it reached us from.
    const endpoint = (p: PeerInfo): PeerAddress => ({
      host: p.host,
      port: p.listenPort ?? parseAddress(p.address)?.port ?? 0,
    });
    this.#sendPunch(to.key, { type: 'connect', addr: endpoint(from), errorCode: 0 });
    this.#sendPunch(key, { type: 'connect', addr: target, errorCode: 0 });
    this.holepunchStats.relayed++;
  }

  /** The connection a rendezvous names, or the BEP 55 error code that refuses it. */
  #relayTarget(key: string, target: PeerAddress, peers: readonly PeerInfo[]): PeerInfo | number {
    if (target.port === 0 || parseIp(target.host) === undefined) return HolepunchError.noSuchPeer;
    if (this.#isOwn(target)) return HolepunchError.noSelf;
    const wanted = formatAddress(target);
    const to = peers.find(
      (p) =>
        p.key !== key && p.host === target.host && (p.listenPort === target.port || p.address === wanted),
    );
    if (!to) return HolepunchError.notConnected;
    return to.supports('ut_holepunch') ? to : HolepunchError.noSupport;
  }
}
