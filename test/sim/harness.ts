// A simulated swarm: real Torrents (picker, choker, peer connections, storage in memory, hashing on
// the main thread) and a real tracker (TrackerServer, asked through its HTTP handler), wired through
// the simulated network (SimNetwork's transport) and the virtual clock (SimClock). The harness plays
// the session's part for each peer: it listens, reads the handshake of incoming connections and hands
// them to the torrent, announces to the tracker and passes on the peers it returns.

import { createHash } from 'node:crypto';
import { TrackerServer } from '../../src/discovery/tracker-server.js';
import { readHandshake } from '../../src/peer/handshake.js';
import type { PeerAddress } from '../../src/protocol/address.js';
import { parseAddress } from '../../src/protocol/address.js';
import { buildMetainfo, type Metainfo, parseMetainfo } from '../../src/protocol/metainfo.js';
import { AnnounceEvent, buildAnnounceQuery, parseAnnounceReply } from '../../src/protocol/tracker-http.js';
import { ExtensionGlue, LOCAL_EXTENSIONS } from '../../src/session/extension-glue.js';
import { HasherPool } from '../../src/storage/hasher-pool.js';
import { MemoryStorage } from '../../src/storage/memory-storage.js';
import { Torrent } from '../../src/swarm/torrent.js';
import { Bitfield } from '../../src/util/bitfield.js';
import { prng, SimClock } from './sim-clock.js';
import { type LinkSpec, type SimHost, SimNetwork } from './sim-network.js';

export const PEER_PORT = 6881;
/** The session's tick, which sends the PEX messages that are due. */
const PEX_TICK_MS = 2000;

export type Role = 'seeder' | 'leecher' | 'corrupt';

export interface PeerSpec {
  role: Role;
  link: LinkSpec;
  nat?: boolean;
  /** Virtual time of joining, ms after the start. */
  joinAtMs?: number;
  /** This peer's initial seeding, if not the swarm's. */
  superSeed?: boolean | 'auto';
}

export interface SwarmOptions {
  seed: number;
  totalBytes: number;
  pieceLength: number;
  /** Connections per torrent (default 30). */
  maxConnections?: number;
  /** Seconds between announces (default 60); the tracker says so in its replies. */
  announceIntervalSec?: number;
  /** Peers asked of the tracker per announce (default 30). */
  numwant?: number;
  /** Peer exchange (BEP 11) through the session's glue, ticked every 2 s as the session does (default on). */
  pex?: boolean;
  /** The seeders' initial seeding (BEP 16): 'auto' (the session's default) unless set. */
  superSeed?: boolean | 'auto';
  /** Regular upload slots, fixed (default: sized to each peer's uplink). */
  uploadSlots?: number;
  /** The torrents' cap on bytes of pieces held while assembled and checked (the torrent's default unless set). */
  maxUnverifiedBytes?: number;
  /** Virtual time a leecher's disk takes to write a piece (default 0: at once). */
  writeDelayMs?: number;
}

/** A leecher's storage whose piece writes take virtual time, as a disk's do. */
class SlowDiskStorage extends MemoryStorage {
  constructor(
    m: Metainfo,
    readonly clock: SimClock,
    readonly delayMs: number,
  ) {
    super(m);
  }
  override async writePiece(piece: number, data: Uint8Array): Promise<void> {
    await new Promise<void>((resolve) => this.clock.setTimeout(resolve, this.delayMs));
    return super.writePiece(piece, data);
  }
}

/** A seeder whose storage returns wrong bytes: every block it sends fails its piece's hash. */
class CorruptStorage extends MemoryStorage {
  static async holding(m: Metainfo, data: Buffer): Promise<CorruptStorage> {
    const s = new CorruptStorage(m);
    await s.open();
    for (let p = 0; p < m.pieceCount; p++)
      await s.writePiece(p, data.subarray(p * m.pieceLength, (p + 1) * m.pieceLength));
    return s;
  }
  override async read(piece: number, offset: number, length: number, into?: Buffer): Promise<Buffer> {
    return garble(await super.read(piece, offset, length, into));
  }
  override async readPiece(piece: number, into?: Buffer): Promise<Buffer> {
    return garble(await super.readPiece(piece, into));
  }
}

function garble(b: Buffer): Buffer {
  for (let i = 0; i < b.length; i++) b[i] = b[i]! ^ 0x5a;
  return b;
}

export class SimPeer {
  torrent: Torrent | undefined;
  joinedAtMs: number | undefined;
  completedAtMs: number | undefined;
  leftAtMs: number | undefined;
  /** Hosts this peer banned (an endpoint's host, for an endpoint ban). */
  readonly banned: string[] = [];
  glue: ExtensionGlue | undefined;
  #announceTimer: ReturnType<SimClock['setInterval']> | undefined;
  constructor(
    readonly swarm: SimSwarm,
    readonly index: number,
    readonly host: SimHost,
    readonly spec: PeerSpec,
    readonly peerId: Buffer,
  ) {}

  get role(): Role {
    return this.spec.role;
  }

  get done(): boolean {
    return this.completedAtMs !== undefined;
  }

  async join(): Promise<void> {
    const sw = this.swarm;
    const m = sw.metainfo;
    const seeding = this.role !== 'leecher';
    const storage = seeding
      ? this.role === 'corrupt'
        ? await CorruptStorage.holding(m, sw.data)
        : await MemoryStorage.withData(m, sw.data)
      : sw.options.writeDelayMs
        ? new SlowDiskStorage(m, sw.clock, sw.options.writeDelayMs)
        : new MemoryStorage(m);
    const all = new Bitfield(m.pieceCount);
    for (let i = 0; i < m.pieceCount; i++) all.set(i);
    const torrent = new Torrent({
      metainfo: m,
      storage,
      hasher: sw.hasher,
      peerId: this.peerId,
      port: PEER_PORT,
      maxConnections: sw.options.maxConnections ?? 30,
      random: prng(sw.options.seed * 7919 + this.index),
      clock: sw.clock,
      transport: sw.net.transport(this.host),
      extensions: LOCAL_EXTENSIONS,
      ...(seeding ? { verified: all } : { skipCheck: true }),
      ...(sw.options.uploadSlots !== undefined ? { uploadSlots: sw.options.uploadSlots } : {}),
      ...(sw.options.maxUnverifiedBytes !== undefined
        ? { maxUnverifiedBytes: sw.options.maxUnverifiedBytes }
        : {}),
      // A hostile peer announces every piece it claims (no initial seeding's one offer at a time).
      ...(this.role === 'corrupt'
        ? { superSeed: false }
        : { superSeed: this.spec.superSeed ?? sw.options.superSeed ?? 'auto' }),
    });
    this.torrent = torrent;
    this.joinedAtMs = sw.clock.elapsedMs;
    torrent.on('torrent:complete', () => {
      if (this.completedAtMs !== undefined) return;
      this.completedAtMs = sw.clock.elapsedMs;
      if (this.role !== 'leecher') return;
      sw.leechersDone++;
      this.#announce(AnnounceEvent.completed);
    });
    // An endpoint (host:port) or, once several of its endpoints lied, a whole host.
    torrent.on('peer:banned', (address) => this.banned.push(parseAddress(address)?.host ?? address));
    await torrent.start();
    if (sw.options.pex ?? true) {
      const glue = new ExtensionGlue(torrent, {
        pex: true,
        ownAddresses: [{ host: this.host.ip, port: PEER_PORT }],
        now: () => sw.clock.now(),
      });
      glue.start();
      this.glue = glue;
      const tick = sw.clock.setInterval(() => glue.tick(), PEX_TICK_MS);
      torrent.on('state:changed', (state) => {
        if (state === 'stopped') sw.clock.clearInterval(tick);
      });
    }
    sw.net.listen(this.host, PEER_PORT, (socket) => {
      readHandshake(socket, { clock: sw.clock, timeoutMs: 10_000 }).then(
        ({ handshake, rest }) => {
          if (this.torrent !== torrent || !Buffer.from(handshake.infoHash).equals(m.infoHash))
            socket.destroy();
          else torrent.acceptIncoming(socket, handshake, rest);
        },
        () => socket.destroy(),
      );
    });
    this.#announce(AnnounceEvent.started);
    this.#announceTimer = sw.clock.setInterval(
      () => this.#announce(AnnounceEvent.none),
      (sw.options.announceIntervalSec ?? 60) * 1000,
    );
  }

  /** Leaves the swarm: stops the torrent (its connections close), announces `stopped`, goes offline. */
  async leave(): Promise<void> {
    const t = this.torrent;
    if (t === undefined || this.leftAtMs !== undefined) return;
    this.leftAtMs = this.swarm.clock.elapsedMs;
    this.swarm.clock.clearInterval(this.#announceTimer);
    this.#announce(AnnounceEvent.stopped);
    this.host.listeners.delete(PEER_PORT);
    await t.stop();
    this.swarm.net.setOnline(this.host, false);
  }

  /**
   * Vanishes without a word (a crash, a cable pulled): the host goes offline first, so no connection
   * is closed properly and the other ends find out only by their timeouts.
   */
  async crash(): Promise<void> {
    const t = this.torrent;
    if (t === undefined || this.leftAtMs !== undefined) return;
    this.leftAtMs = this.swarm.clock.elapsedMs;
    this.swarm.clock.clearInterval(this.#announceTimer);
    this.host.listeners.delete(PEER_PORT);
    this.swarm.net.setOnline(this.host, false);
    await t.stop();
  }

  /** An HTTP announce to the tracker: half a round trip there, the reply half a round trip later. */
  #announce(event: AnnounceEvent): void {
    const sw = this.swarm;
    const t = this.torrent;
    if (t === undefined) return;
    const query = buildAnnounceQuery({
      infoHash: sw.metainfo.infoHash,
      peerId: this.peerId,
      port: PEER_PORT,
      uploaded: t.uploadedBytes,
      downloaded: t.downloadedBytes,
      left: t.leftBytes,
      event,
      numwant: sw.options.numwant ?? 30,
    });
    const latency = this.host.link.latencyMs;
    sw.clock.at(latency, () => {
      if (!this.host.online) return;
      const reply = sw.tracker.handleHttp({
        method: 'GET',
        target: `/announce?${query}`,
        remoteAddress: this.host.ip,
      });
      if (event === AnnounceEvent.stopped) return;
      sw.clock.at(latency, () => {
        if (this.torrent !== t || this.leftAtMs !== undefined) return;
        const peers: PeerAddress[] = parseAnnounceReply(reply.body).peers;
        t.addPeers(peers, 'tracker');
      });
    });
  }
}

export class SimSwarm {
  readonly clock = new SimClock();
  readonly net: SimNetwork;
  readonly random: () => number;
  readonly metainfo: Metainfo;
  readonly data: Buffer;
  readonly tracker: TrackerServer;
  readonly hasher = new HasherPool({ threads: 0 });
  readonly peers: SimPeer[] = [];
  /** Leechers that completed (a counter, so run()'s stop condition costs nothing per event). */
  leechersDone = 0;

  constructor(readonly options: SwarmOptions) {
    this.random = prng(options.seed);
    this.net = new SimNetwork(this.clock, prng(options.seed ^ 0x5eed));
    const dataRandom = prng(options.seed + 1);
    this.data = Buffer.alloc(options.totalBytes);
    for (let i = 0; i < this.data.length; i += 4) this.data.writeUInt32LE((dataRandom() * 2 ** 32) >>> 0, i);
    const pieces: Buffer[] = [];
    for (let off = 0; off < this.data.length; off += options.pieceLength) {
      pieces.push(
        createHash('sha1')
          .update(this.data.subarray(off, off + options.pieceLength))
          .digest(),
      );
    }
    this.metainfo = parseMetainfo(
      buildMetainfo({
        name: `sim-${options.seed}`,
        pieceLength: options.pieceLength,
        pieces: Buffer.concat(pieces),
        files: [{ path: [`sim-${options.seed}`], length: options.totalBytes }],
      }),
    );
    const intervalSec = options.announceIntervalSec ?? 60;
    this.tracker = new TrackerServer({
      isTracked: () => true,
      intervalSec,
      minIntervalSec: intervalSec,
      now: () => this.clock.now(),
      random: prng(options.seed ^ 0x7ac4),
    });
  }

  /** Adds a peer on a host of its own (10.x.y.z); it joins at `joinAtMs`. */
  addPeer(spec: PeerSpec): SimPeer {
    const i = this.peers.length;
    const n = i + 1;
    const host = this.net.addHost(`10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`, spec.link, {
      nat: spec.nat ?? false,
    });
    const id = Buffer.alloc(20);
    Buffer.from('-SM0001-', 'latin1').copy(id);
    id.writeUInt32BE(i, 8);
    id.writeUInt32BE((this.random() * 2 ** 32) >>> 0, 12);
    id.writeUInt32BE(this.options.seed >>> 0, 16);
    const peer = new SimPeer(this, i, host, spec, id);
    this.peers.push(peer);
    this.clock.at(spec.joinAtMs ?? 0, () => void peer.join());
    return peer;
  }

  /** The peers of a role (all when undefined). */
  of(role?: Role): SimPeer[] {
    return role === undefined ? this.peers : this.peers.filter((p) => p.role === role);
  }

  /** Runs virtual time until `until` holds or `maxMs` of virtual time have passed. */
  run(until: () => boolean, maxMs: number): Promise<void> {
    return this.clock.run({ until, maxMs });
  }

  /** Stops every torrent. */
  async stop(): Promise<void> {
    for (const p of this.peers) {
      if (p.torrent && p.leftAtMs === undefined) await p.torrent.stop();
    }
    await this.hasher.stop();
  }
}
