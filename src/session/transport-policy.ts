// Which transport the session dials a peer with: `tcp`, `utp` or `both` (the default).
// With both, a peer that reached us over uTP, or that we reached over uTP before, is dialled over
// uTP first; any other peer over TCP first; when the first one fails, the other is tried (a peer
// with TCP off refuses TCP at once, so it costs one round trip). libtorrent tries uTP first for
// every peer; we start with TCP for peers we know nothing of, because most of what we dial on a
// LAN (and every test's bitswarm) answers TCP, and a uTP SYN to a closed UDP port takes seconds to
// time out, while a refused TCP connection fails at once. A TCP connection the peer closes before
// sending a byte (what libtorrent with TCP off does) also turns that peer to uTP first.

import { type DialOptions, dial } from '../peer/dial.js';
import type { Transport, TransportSocket } from '../peer/transport.js';
import type { UtpManager } from '../peer/utp-manager.js';
import { formatAddress, type PeerAddress } from '../protocol/address.js';
import { setNewest } from '../util/bounded.js';

export type TransportMode = 'tcp' | 'utp' | 'both';

export const TRANSPORT_MODES: readonly TransportMode[] = ['tcp', 'utp', 'both'];

/** Addresses remembered as speaking uTP (bounded; the oldest go first). */
const MAX_REMEMBERED = 4096;
/** How long a failed uTP fallback keeps a peer on TCP only. */
const UTP_FAILED_MS = 10 * 60_000;
/** The uTP dial after a failed TCP one gives up after this long. */
const FALLBACK_UTP_MS = 2_500;

export class SessionTransport implements Transport {
  readonly #mode: TransportMode;
  readonly #utp: UtpManager | undefined;
  readonly #speaksUtp = new Map<string, true>();
  /** Addresses whose uTP fallback failed, and when: not tried over uTP again for a while. */
  readonly #utpFailed = new Map<string, number>();

  constructor(mode: TransportMode, utp: UtpManager | undefined) {
    this.#mode = utp === undefined ? 'tcp' : mode;
    this.#utp = utp;
  }

  /** A peer at this address speaks uTP (it dialled us over uTP, or PEX said so). */
  noteUtp(addr: PeerAddress): void {
    setNewest(this.#speaksUtp, formatAddress(addr), true, MAX_REMEMBERED);
  }

  #noteUtpFailed(key: string): void {
    setNewest(this.#utpFailed, key, Date.now(), MAX_REMEMBERED);
  }

  async connect(addr: PeerAddress, options: DialOptions): Promise<TransportSocket> {
    const utp = this.#utp;
    if (this.#mode === 'tcp' || utp === undefined) return dial(addr, options);
    if (this.#mode === 'utp' || options.via === 'utp') return utp.connect(addr, options);
    const key = formatAddress(addr);
    const utpFirst = this.#speaksUtp.has(key);
    const failedAt = this.#utpFailed.get(key);
    if (!utpFirst && failedAt !== undefined && Date.now() - failedAt < UTP_FAILED_MS)
      return dial(addr, options);
    // After a TCP failure uTP gets a short time: a host that refused TCP answers a SYN within a
    // round trip if it speaks uTP at all (two SYNs, 1 s apart).
    const fallback = { ...options, timeoutMs: Math.min(options.timeoutMs ?? 10_000, FALLBACK_UTP_MS) };
    const first = (): Promise<TransportSocket> =>
      utpFirst ? utp.connect(addr, options) : dial(addr, options);
    const second = (): Promise<TransportSocket> =>
      utpFirst
        ? dial(addr, options)
        : utp.connect(addr, fallback).catch((e: unknown) => {
            this.#noteUtpFailed(key);
            throw e;
          });
    try {
      const socket = await first();
      if (utpFirst) this.#utpFailed.delete(key);
      // A uTP-only peer (libtorrent with TCP off) may accept TCP and close at once, before a byte:
      // the next dial to it goes over uTP first.
      if (!utpFirst) {
        const tcp = socket as TransportSocket & { bytesRead?: number };
        tcp.once('close', () => {
          if (tcp.bytesRead === 0) this.noteUtp(addr);
        });
      }
      return socket;
    } catch (err) {
      if (options.signal?.aborted) throw err;
      // Both failed: the TCP dial's error says it best (refused, unreachable), whichever went first.
      const s = await second().catch((e: unknown) => {
        throw utpFirst ? e : err;
      });
      if (!utpFirst) this.noteUtp(addr);
      return s;
    }
  }
}
