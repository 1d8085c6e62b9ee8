// What tells the user why a torrent stalls: the status of each tracker (last result, last error,
// next announce), peers that refused a connection or closed it right after the handshake, and "no
// peers known". The swarm (Torrent) and discovery (TrackerClient) layers emit typed events; the
// session composes them here into per-tracker status, a short list of current warnings (progress
// line, `show`, the API) and one `diagnostic` event per happening (--verbose, --json).

import type { TrackerClient, TrackerReplyInfo } from '../discovery/tracker-client.js';
import type { PeerCloseInfo, Torrent } from '../swarm/torrent.js';
import { TypedEmitter } from '../util/typed-events.js';

export const DiagnosticKind = {
  trackerReply: 'tracker-reply',
  trackerError: 'tracker-error',
  peerRefused: 'peer-refused',
  peerUnreachable: 'peer-unreachable',
  peerClosed: 'peer-closed-after-handshake',
  noPeers: 'no-peers',
} as const;
export type DiagnosticKind = (typeof DiagnosticKind)[keyof typeof DiagnosticKind];

export interface DiagnosticEvent {
  kind: DiagnosticKind;
  message: string;
  atMs: number;
  url?: string;
  address?: string;
}

export interface TrackerStatus {
  url: string;
  tier: number;
  status: 'not-contacted' | 'working' | 'error';
  lastAnnounceAtMs: number | null;
  lastResult: string | null;
  lastError: string | null;
  nextAnnounceAtMs: number | null;
  peers: number | null;
  seeders: number | null;
  leechers: number | null;
}

/** Every tracker of the tiers, none contacted yet (also what a torrent that does not run shows). */
export function notContacted(tiers: readonly (readonly string[])[]): TrackerStatus[] {
  return tiers.flatMap((tier, i) =>
    tier.map((url) => ({
      url,
      tier: i,
      status: 'not-contacted' as const,
      lastAnnounceAtMs: null,
      lastResult: null,
      lastError: null,
      nextAnnounceAtMs: null,
      peers: null,
      seeders: null,
      leechers: null,
    })),
  );
}

export interface DiagnosticsEvents extends Record<string, unknown[]> {
  diagnostic: [DiagnosticEvent];
}

/** Events older than this no longer count as a current warning. */
const RECENT_MS = 60_000;
/** A downloading torrent with no address for this long is told to the user. */
const NO_PEERS_AFTER_MS = 5_000;

/** Short host:port of a tracker URL, for one-line messages. */
function trackerName(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

export class TorrentDiagnostics extends TypedEmitter<DiagnosticsEvents> {
  readonly #trackers = new Map<string, TrackerStatus>();
  #client: TrackerClient | undefined;
  readonly #refused = new Map<string, number>();
  readonly #closed = new Map<string, number>();
  #noPeersSinceMs: number | undefined;
  #noPeersTold = false;
  readonly #off: (() => void)[] = [];
  /** The listeners on the current tracker client (replaced with it). */
  readonly #trackerOff: (() => void)[] = [];

  constructor(tiers: readonly (readonly string[])[]) {
    super();
    for (const t of notContacted(tiers)) this.#trackers.set(t.url, t);
  }

  #tell(e: Omit<DiagnosticEvent, 'atMs'>): void {
    this.emit('diagnostic', { ...e, atMs: Date.now() });
  }

  /** New tiers (the user edited them): trackers kept keep their status; new ones are not contacted yet. */
  setTiers(tiers: readonly (readonly string[])[]): void {
    const before = new Map(this.#trackers);
    this.#trackers.clear();
    for (const t of notContacted(tiers)) {
      const kept = before.get(t.url);
      this.#trackers.set(t.url, kept ? { ...kept, tier: t.tier } : t);
    }
    for (const off of this.#trackerOff.splice(0)) off();
    this.#client = undefined;
  }

  attachTracker(client: TrackerClient): void {
    for (const off of this.#trackerOff.splice(0)) off();
    this.#client = client;
    const onReply = (url: string, info: TrackerReplyInfo): void => {
      const t = this.#trackers.get(url);
      if (!t) return;
      const result = `${info.peers} peer${info.peers === 1 ? '' : 's'}${info.complete !== undefined ? `, ${info.complete} seeders` : ''}${info.incomplete !== undefined ? `, ${info.incomplete} leechers` : ''}`;
      Object.assign(t, {
        status: 'working',
        lastAnnounceAtMs: Date.now(),
        lastResult: result,
        lastError: null,
        peers: info.peers,
        seeders: info.complete ?? null,
        leechers: info.incomplete ?? null,
      });
      this.#tell({
        kind: DiagnosticKind.trackerReply,
        url,
        message: `tracker ${trackerName(url)}: ${result}`,
      });
    };
    const onError = (url: string, err: Error): void => {
      const t = this.#trackers.get(url);
      if (!t) return;
      // The error names the URL (and the HTTP error the whole request URL): keep what follows them.
      const what = err.message.replace(/^(?:(?:https?|udp):\/\/\S+: )+/i, '') || err.message;
      Object.assign(t, { status: 'error', lastAnnounceAtMs: Date.now(), lastError: what, lastResult: null });
      this.#tell({ kind: DiagnosticKind.trackerError, url, message: `tracker ${trackerName(url)}: ${what}` });
    };
    client.on('tracker:reply', onReply);
    client.on('tracker:error', onError);
    this.#trackerOff.push(
      () => client.off('tracker:reply', onReply),
      () => client.off('tracker:error', onError),
    );
  }

  attachTorrent(t: Torrent): void {
    const onDialFailed = (address: string, code: string, message: string): void => {
      const refused = code === 'ECONNREFUSED';
      if (refused) this.#refused.set(address, Date.now());
      this.#tell({
        kind: refused ? DiagnosticKind.peerRefused : DiagnosticKind.peerUnreachable,
        address,
        message: refused
          ? `peer ${address} refused the connection`
          : `peer ${address} unreachable (${code === 'ERR_DIAL' ? message : code})`,
      });
    };
    const onDisconnect = (address: string, reason: string, _key: string, info: PeerCloseInfo): void => {
      if (!info.handshaken || info.payloadBytes > 0) return;
      if (reason !== 'remote-closed' && reason !== 'socket-error') return;
      this.#closed.set(address, Date.now());
      this.#tell({
        kind: DiagnosticKind.peerClosed,
        address,
        message: `peer ${address} closed the connection after the handshake${info.error ? ` (${info.error})` : ''}`,
      });
    };
    t.on('peer:dial-failed', onDialFailed);
    t.on('peer:disconnect', onDisconnect);
    this.#off.push(
      () => t.off('peer:dial-failed', onDialFailed),
      () => t.off('peer:disconnect', onDisconnect),
    );
  }

  /** Called on the session's tick: notices a torrent that wants data and knows no peer (nor a usable web seed). */
  check(t: Torrent, nowMs: number): void {
    const wants = t.state === 'downloading';
    // A web seed that is not banned is a source too (BEP 19).
    const none =
      wants &&
      t.peerCount === 0 &&
      t.knownAddresses().length === 0 &&
      !t.webSeeds().some((w) => w.state !== 'banned');
    if (!none) {
      this.#noPeersSinceMs = undefined;
      this.#noPeersTold = false;
      return;
    }
    this.#noPeersSinceMs ??= nowMs;
    if (!this.#noPeersTold && nowMs - this.#noPeersSinceMs >= NO_PEERS_AFTER_MS) {
      this.#noPeersTold = true;
      this.#tell({ kind: DiagnosticKind.noPeers, message: this.#noPeersText() });
    }
  }

  #noPeersText(): string {
    const trackers = this.#trackers.size;
    return trackers === 0
      ? 'no peers known (no tracker; waiting for the DHT, LSD or --peer)'
      : 'no peers known (trackers gave none)';
  }

  trackers(): TrackerStatus[] {
    const next = this.#client?.nextAnnounceAtMs ?? null;
    return [...this.#trackers.values()].map((t) => ({
      ...t,
      nextAnnounceAtMs:
        t.status === 'not-contacted' && t.lastAnnounceAtMs === null && next === null ? null : next,
    }));
  }

  /** What is wrong now, shortest first in importance order; empty when nothing is. */
  warnings(nowMs: number): string[] {
    const out: string[] = [];
    if (this.#noPeersTold) out.push(this.#noPeersText());
    const all = [...this.#trackers.values()];
    const failing = all.filter((t) => t.status === 'error');
    if (failing.length > 0 && !all.some((t) => t.status === 'working')) {
      const t = failing[0]!;
      out.push(
        `tracker ${trackerName(t.url)}: ${t.lastError}${failing.length > 1 ? ` (and ${failing.length - 1} more failing)` : ''}`,
      );
    }
    const recent = (m: Map<string, number>): number => {
      for (const [k, at] of m) if (nowMs - at > RECENT_MS) m.delete(k);
      return m.size;
    };
    const refused = recent(this.#refused);
    if (refused > 0) out.push(`${refused} peer${refused === 1 ? '' : 's'} refused the connection`);
    const closed = recent(this.#closed);
    if (closed > 0) out.push(`${closed} peer${closed === 1 ? '' : 's'} closed after the handshake`);
    return out;
  }

  stop(): void {
    for (const off of [...this.#off.splice(0), ...this.#trackerOff.splice(0)]) off();
  }
}
