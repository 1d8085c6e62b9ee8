// Peer exchange logic (BEP 11), per connection and without timers: the caller passes `nowMs`.
//
// PexSender turns "the peers connected in this swarm right now" into the next ut_pex payload for one
// connection: the diff against what that connection was already told, at most one message a minute,
// at most `maxAdded` new peers per message (the rest follow in later messages), never the remote
// peer itself. PexReceiver checks what a connection sends us: too frequent or too large messages are
// flooding and cost the connection; otherwise it returns the usable addresses it learned.
//
// `current` should list dialable addresses: for a connection the remote opened, its listen port (from
// the extension handshake's `p`), not the socket's ephemeral port; leave such peers out when unknown.

import {
  decodePex,
  encodePex,
  formatIp,
  isV4Mapped,
  type PexAddress,
  type PexEntry,
  PexError,
  PexErrorReason,
  PexFlag,
  type PexMessage,
  parseIp,
} from '../protocol/pex.js';

export type { PexAddress } from '../protocol/pex.js';

export interface PexPeer {
  host: string;
  port: number;
  /** A seed (or upload-only): flag 0x02. */
  seed: boolean;
  /** We reached it with an outgoing connection, so others can too: flag 0x10. */
  reachable: boolean;
  /** It speaks uTP (BEP 29; we are connected to it over uTP): flag 0x04. */
  utp?: boolean;
  /** It supports BEP 55 hole punching (ut_holepunch in its extension handshake): flag 0x08. */
  holepunch?: boolean;
}

/** BEP 11: send at most one message a minute per connection. */
export const PEX_INTERVAL_MS = 60_000;
/** BEP 11: at most 50 added peers per message. */
export const PEX_MAX_ADDED = 50;
/** Incoming messages closer together than this are flooding (the minute, less generous jitter). */
export const PEX_MIN_RECEIVE_INTERVAL_MS = 45_000;
/** Added peers accepted per incoming message: BEP 11's 50 plus libtorrent's 100-entry messages. */
export const PEX_MAX_RECEIVED_ADDED = 100;

export interface PexSenderOptions {
  intervalMs?: number;
  maxAdded?: number;
  /** Dropped peers per message; the rest follow later (default 100). */
  maxDropped?: number;
}

interface Canonical {
  key: string;
  v4: boolean;
  entry: PexEntry;
}

/** The canonical form of an address we may put on the wire, or undefined when it cannot go. */
function canonical(host: string, port: number, flags = 0): Canonical | undefined {
  if (!Number.isInteger(port) || port < 1 || port > 0xffff) return undefined;
  let ip = parseIp(host);
  if (ip === undefined) return undefined;
  // Dual-stack sockets report IPv4 peers as ::ffff:a.b.c.d; they belong in the IPv4 lists.
  if (isV4Mapped(ip)) ip = ip.subarray(12);
  const text = formatIp(ip);
  const v4 = ip.length === 4;
  return { key: v4 ? `${text}:${port}` : `[${text}]:${port}`, v4, entry: { host: text, port, flags } };
}

function flagsOf(p: PexPeer): number {
  return (
    (p.seed ? PexFlag.seed : 0) |
    (p.reachable ? PexFlag.reachable : 0) |
    (p.utp === true ? PexFlag.utp : 0) |
    (p.holepunch === true ? PexFlag.holepunch : 0)
  );
}

export class PexSender {
  readonly #selfKey: string | undefined;
  readonly #intervalMs: number;
  readonly #maxAdded: number;
  readonly #maxDropped: number;
  /** What this connection has been told and not told dropped: key → entry. A told peer whose
   * flags change (became a seed) is not re-sent: BEP 11 has no update, and flags are hints. */
  readonly #told = new Map<string, Canonical>();
  #lastSentMs: number | undefined;

  /** @param remote the peer at the other end of this connection, never told about itself. */
  constructor(remote: PexAddress, options: PexSenderOptions = {}) {
    this.#selfKey = canonical(remote.host, remote.port)?.key;
    this.#intervalMs = options.intervalMs ?? PEX_INTERVAL_MS;
    this.#maxAdded = options.maxAdded ?? PEX_MAX_ADDED;
    this.#maxDropped = options.maxDropped ?? 100;
  }

  /** True when a message may be sent now (the first at once, then one per interval). */
  due(nowMs: number): boolean {
    return this.#lastSentMs === undefined || nowMs - this.#lastSentMs >= this.#intervalMs;
  }

  /** How many peers this connection currently knows from us. */
  get toldCount(): number {
    return this.#told.size;
  }

  /**
   * The next message as a decoded structure, and the state updated as if it was sent. Undefined when
   * not due or when nothing changed (then nothing is recorded and it stays due).
   */
  nextMessage(current: readonly PexPeer[], nowMs: number): PexMessage | undefined {
    if (!this.due(nowMs)) return undefined;
    const now = new Map<string, Canonical>();
    for (const p of current) {
      const c = canonical(p.host, p.port, flagsOf(p));
      if (c === undefined || c.key === this.#selfKey || now.has(c.key)) continue;
      now.set(c.key, c);
    }
    const fresh = [...now.values()].filter((c) => !this.#told.has(c.key));
    // Reachable peers first: they are the ones the remote can dial.
    fresh.sort((a, b) => (b.entry.flags & PexFlag.reachable) - (a.entry.flags & PexFlag.reachable));
    const added = fresh.slice(0, this.#maxAdded);
    const gone = [...this.#told.values()].filter((c) => !now.has(c.key)).slice(0, this.#maxDropped);
    if (added.length === 0 && gone.length === 0) return undefined;

    const msg: PexMessage = { added: [], dropped: [], added6: [], dropped6: [] };
    for (const c of added) {
      (c.v4 ? msg.added : msg.added6).push(c.entry);
      this.#told.set(c.key, c);
    }
    for (const c of gone) {
      (c.v4 ? msg.dropped : msg.dropped6).push({ host: c.entry.host, port: c.entry.port });
      this.#told.delete(c.key);
    }
    this.#lastSentMs = nowMs;
    return msg;
  }

  /** The next ut_pex payload (see `nextMessage`). */
  next(current: readonly PexPeer[], nowMs: number): Uint8Array | undefined {
    const msg = this.nextMessage(current, nowMs);
    return msg === undefined ? undefined : encodePex(msg);
  }
}

// ---------------------------------------------------------------------------------------------------

export const PexDropReason = {
  /** A second message sooner than the minimum interval. */
  floodRate: 'pex-flood-rate',
  /** Too many added peers, too many entries in a list, or a payload too large. */
  floodSize: 'pex-flood-size',
  /** Not a valid ut_pex payload. */
  malformed: 'pex-malformed',
} as const;
export type PexDropReason = (typeof PexDropReason)[keyof typeof PexDropReason];

export type PexVerdict =
  | { verdict: 'ok'; peers: PexPeer[]; dropped: PexAddress[] }
  | { verdict: 'drop'; reason: PexDropReason; message: string };

export interface PexReceiverOptions {
  minIntervalMs?: number;
  /** Most added peers (IPv4 and IPv6 together) per message. */
  maxAdded?: number;
  /** Our own listen addresses: never returned as peers. */
  ownAddresses?: readonly PexAddress[];
}

export class PexReceiver {
  readonly #minIntervalMs: number;
  readonly #maxAdded: number;
  readonly #own: Set<string>;
  #lastMs: number | undefined;

  constructor(options: PexReceiverOptions = {}) {
    this.#minIntervalMs = options.minIntervalMs ?? PEX_MIN_RECEIVE_INTERVAL_MS;
    this.#maxAdded = options.maxAdded ?? PEX_MAX_RECEIVED_ADDED;
    this.#own = new Set();
    for (const a of options.ownAddresses ?? []) {
      const c = canonical(a.host, a.port);
      if (c !== undefined) this.#own.add(c.key);
    }
  }

  receive(payload: Uint8Array, nowMs: number): PexVerdict {
    if (this.#lastMs !== undefined && nowMs - this.#lastMs < this.#minIntervalMs) {
      return {
        verdict: 'drop',
        reason: PexDropReason.floodRate,
        message: `two PEX messages ${nowMs - this.#lastMs} ms apart`,
      };
    }
    this.#lastMs = nowMs;
    let msg: PexMessage;
    try {
      msg = decodePex(payload);
    } catch (err) {
      if (!(err instanceof PexError)) throw err;
      const flood = err.reason === PexErrorReason.tooManyEntries || err.reason === PexErrorReason.tooLarge;
      return {
        verdict: 'drop',
        reason: flood ? PexDropReason.floodSize : PexDropReason.malformed,
        message: err.message,
      };
    }
    const addedCount = msg.added.length + msg.added6.length;
    if (addedCount > this.#maxAdded) {
      return {
        verdict: 'drop',
        reason: PexDropReason.floodSize,
        message: `${addedCount} added peers in one message, more than ${this.#maxAdded}`,
      };
    }
    const seen = new Set<string>();
    const peers: PexPeer[] = [];
    for (const e of [...msg.added, ...msg.added6]) {
      const c = this.#usable(e.host, e.port);
      if (c === undefined || seen.has(c.key)) continue;
      seen.add(c.key);
      peers.push({
        host: c.entry.host,
        port: c.entry.port,
        seed: (e.flags & PexFlag.seed) !== 0,
        reachable: (e.flags & PexFlag.reachable) !== 0,
        ...((e.flags & PexFlag.utp) !== 0 ? { utp: true } : {}),
      });
    }
    const dropped: PexAddress[] = [];
    for (const a of [...msg.dropped, ...msg.dropped6]) {
      const c = this.#usable(a.host, a.port);
      if (c !== undefined) dropped.push({ host: c.entry.host, port: c.entry.port });
    }
    return { verdict: 'ok', peers, dropped };
  }

  #usable(host: string, port: number): Canonical | undefined {
    const c = canonical(host, port);
    if (c === undefined || this.#own.has(c.key)) return undefined;
    return isDialableUnicast(parseIp(c.entry.host)!) ? c : undefined;
  }
}

/**
 * True for addresses one can dial: not unspecified, multicast, broadcast or reserved, and for IPv6
 * not link-local (useless without the zone id the compact form cannot carry). Loopback and private
 * ranges pass: swarms on one machine or one LAN exchange exactly those.
 */
export function isDialableUnicast(ip: Uint8Array): boolean {
  if (ip.length === 4) {
    const a = ip[0]!;
    return a !== 0 && a < 224; // 0/8 "this network"; 224/4 multicast; 240/4 reserved and broadcast
  }
  if (isV4Mapped(ip)) return isDialableUnicast(ip.subarray(12));
  if (ip[0] === 0xff) return false; // multicast
  if (ip[0] === 0xfe && (ip[1]! & 0xc0) === 0x80) return false; // fe80::/10 link-local
  return !ip.every((b) => b === 0); // :: unspecified
}
