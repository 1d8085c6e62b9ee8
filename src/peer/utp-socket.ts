// One uTP connection (BEP 29) as a byte stream: what the peer wire reads and writes, like a TCP
// socket. Packets arrive through onPacket (the manager routes them by address and connection id)
// and leave through the `send` callback; time comes from a Clock and the manager's tick.
//
// Sending: writes are cut into packets of at most UTP_PAYLOAD_BYTES when the window allows
// (min(congestion window, the peer's receive window)); a write's callback runs once all of its
// bytes are in packets, which is the backpressure (and lets the caller reuse the buffer).
// Packet size: every datagram fits MTU_FLOOR_BYTES (a selective ack that would not fit beside a full
// payload is cut, and a STATE carries it whole). Path MTU discovery, after libtorrent's, is one
// probe: a full packet of `maxPacketBytes` (1,500-byte Ethernet less the IP and UDP headers) once
// the window holds several packets. Acked at its first try, every packet grows to that size. Lost,
// the path's MTU is smaller, and this connection (and, through the manager, the host) stays at the
// floor: Node can neither set the don't-fragment bit nor read the path MTU, and once the router's
// ICMP has taught the kernel the path MTU, bigger datagrams leave in fragments and arrive, so a
// binary search would settle on fragmented sizes. A lost probe is resent as it is (its sequence
// number holds its bytes); where the path drops it silently every time (no ICMP: a black hole),
// the connection fails at its third try.
// Unacked packets stay in `#out` until a cumulative or selective ack; a timeout (from the measured
// RTT, at least 500 ms, doubling) resends them, as do 3 duplicate acks (fast retransmit).
// Congestion control is LEDBAT: one-way delay samples (the peer's timestamp difference) against a
// base delay (their minimum over the last minutes) steer the window toward 100 ms of queueing delay.
// Receiving: in-order payload is pushed at once; packets ahead of a gap wait in a bounded reorder
// buffer; the advertised window is what is left of the receive buffer.
//
// Invariants: seq numbers in #out lie in (#ackedSeq, #seqNr] (the FIN takes #seqNr without
// advancing it, as libtorrent does); #inflightBytes counts the bytes of the packets of #out that
// were sent and are not marked for resend.

import { Duplex } from 'node:stream';
import {
  encodeUtpHeader,
  MAX_SACK_BYTES,
  seqAdd,
  seqDiff,
  seqLess,
  type UtpPacket,
  UtpType,
} from '../protocol/utp.js';
import type { Clock } from '../util/clock.js';

/**
 * Datagram bytes any packet may have without path MTU discovery: libutp's (µTorrent's) 1,402 for
 * IPv4 after tunnel and PPPoE headers, rounded up to a whole selective ack (what bitswarm sent before
 * it discovered path MTUs: 1,350 of payload, the header and a 34-byte selective ack).
 */
export const MTU_FLOOR_BYTES = 1404;
const PACKET_OVERHEAD = 20;
/** Payload bytes of a packet that fills MTU_FLOOR_BYTES (its selective ack, if any, is cut). */
export const UTP_PAYLOAD_BYTES = MTU_FLOOR_BYTES - PACKET_OVERHEAD;
/** A packet bigger than the floor sent this often without an ack: the path drops it (a black hole). */
const PROBE_TRIES = 3;
const MIN_TIMEOUT_MS = 500;
const SYN_TIMEOUT_MS = 1000;
const TARGET_DELAY_US = 100_000;
/** Window growth per RTT at zero delay, bytes (libtorrent's utp_gain_factor). */
const GAIN_BYTES = 3000;
const MAX_CWND_BYTES = 1024 * 1024;
const MAX_OUT_PACKETS = 2048;
const DUP_ACK_LIMIT = 3;
/** The window is cut for loss at most this often (libtorrent's cwnd_reduce_timer): losses bunch. */
const LOSS_CUT_INTERVAL_MS = 100;
/** Minutes of base-delay history: the base is the least delay seen over this span. */
const DELAY_HISTORY_MINUTES = 10;

export interface UtpLimits {
  /** Receive buffer of one connection: in-order bytes not yet read plus the reorder buffer. */
  receiveBufferBytes: number;
  /** Timeouts in a row (each doubling) before the connection is given up. */
  maxTimeouts: number;
  /** SYN resends before a dial fails. */
  synResends: number;
  /** Nothing heard from the peer for this long: the connection is dead. */
  idleTimeoutMs: number;
  /** The peer's window stays 0 with data waiting for this long: the connection is given up. */
  zeroWindowTimeoutMs: number;
  /** A packet (an ack) is sent when nothing was sent for this long, to keep NAT mappings. */
  keepAliveMs: number;
  /** How long a closed connection stays to get its last packets and FIN acked. */
  lingerMs: number;
}

export const DEFAULT_UTP_LIMITS: UtpLimits = {
  receiveBufferBytes: 1024 * 1024,
  maxTimeouts: 6,
  synResends: 2,
  idleTimeoutMs: 120_000,
  zeroWindowTimeoutMs: 60_000,
  keepAliveMs: 29_000,
  lingerMs: 10_000,
};

/** Bytes held by all connections of a manager (receive buffers); new payload beyond `max` is dropped. */
export interface UtpBudget {
  used: number;
  max: number;
}

export interface UtpSocketOptions {
  clock: Clock;
  nowUs: () => number;
  send: (chunks: readonly Uint8Array[]) => void;
  /** Runs `fn` after the packets already received are handled (coalesces acks). */
  defer: (fn: () => void) => void;
  remoteAddress: string;
  remotePort: number;
  recvId: number;
  sendId: number;
  /** Initial sequence number (random). */
  seqNr: number;
  limits: UtpLimits;
  budget: UtpBudget;
  /** The manager forgets this connection (after it closed and lingered). */
  onGone: () => void;
  /** Counts what a hostile or broken peer sent. */
  count: (what: UtpCounter) => void;
  /** Largest datagram to probe for (path MTU discovery); none beyond MTU_FLOOR_BYTES when absent. */
  maxPacketBytes?: number;
  /** The path dropped a probe: this host's connections should probe no further than `bytes`. */
  onPathMtu?: (bytes: number) => void;
}

export type UtpCounter = 'invalid' | 'ackUnsent' | 'dropped' | 'timeout' | 'reset' | 'retransmit';

export class UtpError extends Error {
  override readonly name = 'UtpError';
  constructor(
    message: string,
    readonly code: 'ECONNRESET' | 'ETIMEDOUT' | 'ECONNREFUSED' | 'ECONNABORTED',
  ) {
    super(message);
  }
}

interface OutPacket {
  type: UtpType;
  payload: Uint8Array;
  sentMs: number;
  transmissions: number;
  needResend: boolean;
}

interface PendingWrite {
  buf: Uint8Array;
  offset: number;
  cb: (err?: Error | null) => void;
}

/** The minimum of one-way delay samples over the last minutes (32-bit µs values of another clock). */
export class DelayHistory {
  #base: number | undefined;
  #currentMin: number | undefined;
  readonly #minutes: number[] = [];
  #lastStepMs = 0;

  get base(): number | undefined {
    return this.#base;
  }

  /** Adds a sample; returns it less the base delay. */
  add(sampleUs: number, nowMs: number): number {
    if (this.#base === undefined) {
      this.#lastStepMs = nowMs;
      this.#base = sampleUs;
      this.#currentMin = sampleUs;
    }
    if (nowMs - this.#lastStepMs >= 60_000) {
      this.#lastStepMs = nowMs;
      this.#minutes.push(this.#currentMin ?? sampleUs);
      if (this.#minutes.length > DELAY_HISTORY_MINUTES) this.#minutes.shift();
      this.#currentMin = sampleUs;
      this.#base = sampleUs;
      for (const m of this.#minutes) if (less32(m, this.#base)) this.#base = m;
    }
    if (this.#currentMin === undefined || less32(sampleUs, this.#currentMin)) this.#currentMin = sampleUs;
    if (less32(sampleUs, this.#base)) this.#base = sampleUs;
    return (sampleUs - this.#base) >>> 0;
  }
}

function noop(): void {}

function less32(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}

type State = 'syn-sent' | 'connected' | 'closing' | 'closed';

export class UtpSocket extends Duplex {
  /** What carries the peer wire on this connection (TransportSocket.transport). */
  readonly transport = 'utp' as const;
  readonly #o: UtpSocketOptions;
  #state: State = 'syn-sent';
  /** Next sequence number to send. */
  #seqNr: number;
  /** Last sequence number received in order. */
  #ackNr = 0;
  /** Every packet up to this one is acked by the peer. */
  #ackedSeq: number;
  readonly #out = new Map<number, OutPacket>();
  #inflightBytes = 0;
  #cwnd = 2 * (UTP_PAYLOAD_BYTES + PACKET_OVERHEAD);
  #slowStart = true;
  #advWnd = UTP_PAYLOAD_BYTES;
  #rttMs = 0;
  #rttVarMs = 800;
  #rtoMs = SYN_TIMEOUT_MS;
  #timeouts = 0;
  #timeoutAtMs = 0;
  #dupAcks = 0;
  #fastResendSeq: number;
  #lossSeq: number;
  /** No loss cuts the window again before this time. */
  #nextLossCutMs = 0;
  #replyMicro = 0;
  readonly #ourDelay = new DelayHistory();
  readonly #delaySamples: number[] = [];
  /** Latest one-way delay above base, µs (statistics). */
  #queueDelayUs = 0;
  readonly #reorder = new Map<number, Uint8Array>();
  #reorderBytes = 0;
  #eofSeq: number | undefined;
  #eofPushed = false;
  #finSent = false;
  #pending: PendingWrite[] = [];
  /** Bytes of #pending not yet in packets. */
  #pendingBytes = 0;
  #finalCb: ((err?: Error | null) => void) | undefined;
  #lastSendMs: number;
  #lastRecvMs: number;
  #zeroWindowSinceMs: number | undefined;
  #advertised = 0;
  /** An ack is owed (sent after the packets already received are handled, unless data carries it). */
  #ackScheduled = false;
  /** #afterReceive is queued (through the `defer` option). */
  #deferPending = false;
  /** In-order payload of this burst of packets, pushed to the reader as one chunk by #afterReceive. */
  #inbox: Uint8Array[] = [];
  #inboxBytes = 0;
  #lingerUntilMs = 0;
  #synSeq = 0;
  #idleMs = 0;
  #idleCb: (() => void) | undefined;
  #lastActivityMs: number;
  #connectCb: ((err?: UtpError) => void) | undefined;
  #budgetHeld = 0;
  /** Path MTU discovery: datagram bytes packets have, the size to probe, and the probe out. */
  #mtuFloor = MTU_FLOOR_BYTES;
  #mtuCeiling: number;
  #probeSeq: number | undefined;
  #probeLost = false;

  constructor(o: UtpSocketOptions) {
    super({ allowHalfOpen: false, readableHighWaterMark: 256 * 1024, writableHighWaterMark: 64 * 1024 });
    this.#o = o;
    this.#mtuCeiling = Math.max(MTU_FLOOR_BYTES, o.maxPacketBytes ?? MTU_FLOOR_BYTES);
    this.#seqNr = o.seqNr & 0xffff;
    this.#ackedSeq = seqAdd(this.#seqNr, -1);
    this.#fastResendSeq = this.#seqNr;
    this.#lossSeq = this.#ackedSeq;
    const now = o.clock.now();
    this.#lastSendMs = now;
    this.#lastRecvMs = now;
    this.#lastActivityMs = now;
  }

  get remoteAddress(): string {
    return this.#o.remoteAddress;
  }

  get remotePort(): number {
    return this.#o.remotePort;
  }

  get remoteFamily(): string {
    return this.#o.remoteAddress.includes(':') ? 'IPv6' : 'IPv4';
  }

  /** For statistics and tests: window, RTT and delay. */
  get stats(): {
    cwndBytes: number;
    rttMs: number;
    timeoutMs: number;
    queueDelayUs: number;
    inflightBytes: number;
    /** Datagram bytes packets have now (path MTU discovery). */
    packetBytes: number;
  } {
    return {
      packetBytes: this.#mtuFloor,
      cwndBytes: Math.round(this.#cwnd),
      rttMs: this.#rttMs,
      timeoutMs: this.#rtoMs,
      queueDelayUs: this.#queueDelayUs,
      inflightBytes: this.#inflightBytes,
    };
  }

  get connected(): boolean {
    return this.#state === 'connected';
  }

  /** net.Socket's idle timeout: `cb` once nothing was read or written for `ms` (0 turns it off). */
  setTimeout(ms: number, cb?: () => void): this {
    this.#idleMs = ms;
    if (cb) this.#idleCb = cb;
    this.#lastActivityMs = this.#o.clock.now();
    return this;
  }

  setNoDelay(): this {
    return this;
  }

  setKeepAlive(): this {
    return this;
  }

  /** Starts an outgoing connection: the SYN carries our receive id. */
  startConnect(cb: (err?: UtpError) => void): void {
    this.#connectCb = cb;
    this.#initiator = true;
    this.#synSeq = this.#seqNr;
    const p: OutPacket = {
      type: UtpType.syn,
      payload: new Uint8Array(0),
      sentMs: 0,
      transmissions: 0,
      needResend: false,
    };
    this.#out.set(this.#seqNr, p);
    this.#transmit(this.#seqNr, p);
    this.#seqNr = seqAdd(this.#seqNr, 1);
    this.#timeoutAtMs = this.#o.clock.now() + SYN_TIMEOUT_MS;
  }

  /** Accepts an incoming SYN: answers with a STATE whose seq_nr our first data packet will carry. */
  acceptSyn(syn: UtpPacket): void {
    this.#state = 'connected';
    this.#synSeq = syn.seqNr;
    this.#ackNr = syn.seqNr;
    this.#advWnd = syn.windowBytes > 0 ? syn.windowBytes : UTP_PAYLOAD_BYTES;
    this.#noteTimestamp(syn);
    this.#rtoMs = MIN_TIMEOUT_MS * 2;
    this.#sendState();
  }

  /** A packet of this connection (decoded by the manager). */
  onPacket(p: UtpPacket): void {
    if (this.#state === 'closed') return;
    const now = this.#o.clock.now();
    if (p.type === UtpType.syn) {
      // Our STATE got lost: the same SYN again is answered again; any other is ignored.
      if (!this.#initiator && p.seqNr === this.#synSeq) this.#sendState();
      else this.#o.count('invalid');
      return;
    }
    // The last seq we sent (the FIN does not advance #seqNr).
    const lastSent = this.#finSent ? this.#seqNr : seqAdd(this.#seqNr, -1);
    if (seqLess(lastSent, p.ackNr) || seqLess(p.ackNr, seqAdd(this.#ackedSeq, -DUP_ACK_LIMIT - 64))) {
      // Acks for packets never sent (or ancient ones): a forged or broken packet, dropped whole.
      this.#o.count('ackUnsent');
      return;
    }
    this.#lastRecvMs = now;
    if (p.type === UtpType.reset) {
      this.#fail(
        this.#state === 'syn-sent'
          ? new UtpError('uTP connection refused', 'ECONNREFUSED')
          : new UtpError('uTP connection reset by peer', 'ECONNRESET'),
      );
      return;
    }
    this.#noteTimestamp(p);
    if (this.#state === 'syn-sent') {
      if (p.ackNr !== this.#synSeq || (p.type !== UtpType.state && p.type !== UtpType.data)) return;
      this.#state = 'connected';
      this.#ackNr = seqAdd(p.seqNr, -1);
      this.#rtoMs = MIN_TIMEOUT_MS * 2;
    }
    this.#advWnd = p.windowBytes;
    if (p.windowBytes > 0) this.#zeroWindowSinceMs = undefined;
    else if (this.#zeroWindowSinceMs === undefined && this.#pending.length > 0) this.#zeroWindowSinceMs = now;
    let delayUs: number | undefined;
    const diff = p.timestampDiffUs;
    if (diff !== 0 && diff !== 0x7fffffff) {
      delayUs = this.#ourDelay.add(diff, now);
      this.#delaySamples.push(delayUs);
      if (this.#delaySamples.length > 3) this.#delaySamples.shift();
    }
    if (p.ackNr === this.#ackedSeq && this.#out.size > 0 && p.type === UtpType.state) this.#dupAcks++;
    const prevInflight = this.#inflightBytes;
    let ackedBytes = 0;
    let minRttMs = Number.POSITIVE_INFINITY;
    if (seqLess(this.#ackedSeq, p.ackNr)) {
      for (let s = seqAdd(this.#ackedSeq, 1); ; s = seqAdd(s, 1)) {
        const r = this.#ack(s, now);
        if (r !== undefined) {
          ackedBytes += r.bytes;
          minRttMs = Math.min(minRttMs, r.rttMs);
        }
        if (s === p.ackNr) break;
      }
      if (seqLess(this.#fastResendSeq, seqAdd(p.ackNr, 1))) this.#fastResendSeq = seqAdd(p.ackNr, 1);
      // Acked packets cannot be lost: the mark moves with the acks, so that it never falls half the
      // sequence space behind (where the wrap-around comparison would turn, and no loss would cut).
      if (seqLess(this.#lossSeq, p.ackNr)) this.#lossSeq = p.ackNr;
      this.#ackedSeq = p.ackNr;
      this.#dupAcks = 0;
    }
    if (p.sack !== undefined) {
      const r = this.#selectiveAck(p.ackNr, p.sack, now);
      ackedBytes += r.bytes;
      minRttMs = Math.min(minRttMs, r.rttMs);
    }
    this.#timeouts = 0;
    this.#timeoutAtMs = now + this.#rtoMs;
    if (this.#dupAcks >= DUP_ACK_LIMIT && this.#fastResendSeq === seqAdd(this.#ackedSeq, 1)) {
      const lost = this.#out.get(this.#fastResendSeq);
      if (lost) this.#resendLost(this.#fastResendSeq, lost);
      this.#fastResendSeq = seqAdd(this.#fastResendSeq, 1);
    }
    if (ackedBytes > 0 && delayUs !== undefined && prevInflight > 0) {
      let d = Math.min(...this.#delaySamples);
      if (Number.isFinite(minRttMs)) d = Math.min(d, minRttMs * 1000);
      this.#ledbat(ackedBytes, d, prevInflight);
    }

    if (p.type === UtpType.fin) {
      if (this.#eofSeq === undefined && !seqLess(p.seqNr, seqAdd(this.#ackNr, 1))) this.#eofSeq = p.seqNr;
      this.#drainReorder();
      this.#scheduleAck();
    } else if (p.type === UtpType.data) {
      this.#receiveData(p.seqNr, p.payload, now);
    }
    if (this.#connectCb !== undefined && this.#state === 'connected') {
      const cb = this.#connectCb;
      this.#connectCb = undefined;
      cb();
    }
    this.#flush(now);
    this.#maybeGone();
  }

  #initiator = false;

  #noteTimestamp(p: UtpPacket): void {
    if (p.timestampUs !== 0) this.#replyMicro = (this.#o.nowUs() - p.timestampUs) >>> 0;
  }

  /** Removes an acked packet; its payload bytes and RTT (when sent once) for the window and timer. */
  #ack(seq: number, now: number): { bytes: number; rttMs: number } | undefined {
    const p = this.#out.get(seq);
    if (p === undefined) return undefined;
    this.#out.delete(seq);
    if (seq === this.#probeSeq) {
      // Through at its first try: packets grow to it. (Lost first, the ceiling came down then.)
      if (!this.#probeLost) this.#mtuFloor = this.#mtuCeiling;
      this.#probeSeq = undefined;
      this.#probeLost = false;
    }
    if (!p.needResend) this.#inflightBytes -= p.payload.length + PACKET_OVERHEAD;
    let rttMs = Number.POSITIVE_INFINITY;
    if (p.transmissions === 1) {
      rttMs = Math.max(0, now - p.sentMs);
      if (this.#rttMs === 0 && this.#rttVarMs === 800) {
        this.#rttMs = rttMs;
        this.#rttVarMs = rttMs / 2;
      } else {
        const delta = this.#rttMs - rttMs;
        this.#rttVarMs += (Math.abs(delta) - this.#rttVarMs) / 4;
        this.#rttMs += (rttMs - this.#rttMs) / 8;
      }
      this.#rtoMs = Math.max(MIN_TIMEOUT_MS, this.#rttMs + 4 * this.#rttVarMs);
    }
    return { bytes: p.payload.length, rttMs };
  }

  #selectiveAck(ackNr: number, mask: Uint8Array, now: number): { bytes: number; rttMs: number } {
    let bytes = 0;
    let rttMs = Number.POSITIVE_INFINITY;
    let sacked = 0;
    // Walk from the highest bit down: a packet with 3 or more acked ones after it is lost.
    for (let i = mask.length * 8 - 1; i >= 0; i--) {
      const seq = seqAdd(ackNr, 2 + i);
      if (seqLess(this.#seqNr, seq) || (!this.#finSent && seq === this.#seqNr)) continue;
      if ((mask[i >> 3]! >> (i & 7)) & 1) {
        sacked++;
        const r = this.#ack(seq, now);
        if (r !== undefined) {
          bytes += r.bytes;
          rttMs = Math.min(rttMs, r.rttMs);
        }
      } else if (sacked >= DUP_ACK_LIMIT) {
        const p = this.#out.get(seq);
        if (p !== undefined && p.transmissions === 1 && !p.needResend) this.#resendLost(seq, p);
      }
    }
    if (sacked >= DUP_ACK_LIMIT) {
      const first = seqAdd(ackNr, 1);
      const p = this.#out.get(first);
      if (p !== undefined && p.transmissions === 1 && !p.needResend) this.#resendLost(first, p);
    }
    return { bytes, rttMs };
  }

  #resendLost(seq: number, p: OutPacket): void {
    this.#o.count('retransmit');
    if (seq === this.#probeSeq) {
      // A lost probe says the path's MTU is below it, not that the link is congested.
      this.#probeLostNow();
    } else if (seqLess(this.#lossSeq, seq)) {
      // One window cut per window of data (as TCP and libtorrent do), and at most one per
      // LOSS_CUT_INTERVAL_MS (as libtorrent does: at short RTTs one burst of loss spans windows).
      const now = this.#o.clock.now();
      if (now >= this.#nextLossCutMs) {
        this.#nextLossCutMs = now + LOSS_CUT_INTERVAL_MS;
        this.#cwnd = Math.max(this.#cwnd / 2, UTP_PAYLOAD_BYTES + PACKET_OVERHEAD);
        this.#slowStart = false;
        this.#lossSeq = seqAdd(this.#seqNr, -1);
      }
    }
    this.#transmit(seq, p);
  }

  /** The probe was lost: no more probes, here or (the manager) to this host. */
  #probeLostNow(): void {
    if (this.#probeLost) return;
    this.#probeLost = true;
    this.#o.onPathMtu?.(this.#mtuFloor);
    this.#mtuCeiling = this.#mtuFloor;
  }

  /** The probe's size when one may go now: none out, none lost, several packets in the window. */
  #probeSize(): number | undefined {
    if (this.#probeSeq !== undefined || this.#mtuCeiling <= this.#mtuFloor) return undefined;
    // In a window of several packets, those around it tell its loss from congestion (libtorrent's rule).
    return this.#cwnd > 3 * this.#mtuFloor ? this.#mtuCeiling : undefined;
  }

  /** LEDBAT: the window grows while the queueing delay is under target and shrinks above it. */
  #ledbat(ackedBytes: number, delayUs: number, prevInflight: number): void {
    this.#queueDelayUs = delayUs;
    const offTarget = TARGET_DELAY_US - delayUs;
    const windowFactor = Math.min(ackedBytes, prevInflight) / Math.max(this.#cwnd, prevInflight);
    const linear = (GAIN_BYTES * windowFactor * offTarget) / TARGET_DELAY_US;
    if (this.#slowStart) {
      // Slow start doubles the window each RTT until the delay reaches the target.
      if (offTarget > 0 && ackedBytes > linear) this.#cwnd += ackedBytes;
      else this.#slowStart = false;
    } else {
      this.#cwnd += linear;
    }
    this.#cwnd = Math.min(MAX_CWND_BYTES, Math.max(UTP_PAYLOAD_BYTES + PACKET_OVERHEAD, this.#cwnd));
  }

  #receiveData(seq: number, payload: Uint8Array, now: number): void {
    this.#scheduleAck();
    if (payload.length === 0) return;
    if (this.#eofSeq !== undefined && !seqLess(seq, this.#eofSeq)) return;
    const ahead = seqDiff(seq, this.#ackNr);
    if (ahead <= 0) return; // a duplicate: acked again
    if (this.#eofPushed) return;
    this.#lastActivityMs = now;
    const budget = this.#o.budget;
    const held = this.readableLength + this.#inboxBytes + this.#reorderBytes;
    if (
      held + payload.length > this.#o.limits.receiveBufferBytes ||
      budget.used + payload.length > budget.max
    ) {
      // Beyond the window we advertised (or the manager's total): dropped, resent later.
      this.#o.count('dropped');
      return;
    }
    if (ahead === 1) {
      this.#ackNr = seq;
      this.#deliver(payload);
      this.#drainReorder();
      return;
    }
    if (ahead > MAX_SACK_BYTES * 8 || this.#reorder.has(seq)) return;
    this.#reorder.set(seq, payload);
    this.#reorderBytes += payload.length;
    this.#hold(payload.length);
  }

  #drainReorder(): void {
    for (;;) {
      const next = seqAdd(this.#ackNr, 1);
      const p = this.#reorder.get(next);
      if (p === undefined) break;
      this.#reorder.delete(next);
      this.#reorderBytes -= p.length;
      this.#hold(-p.length);
      this.#ackNr = next;
      this.#deliver(p);
    }
    if (this.#eofSeq !== undefined && seqAdd(this.#ackNr, 1) === this.#eofSeq) {
      this.#ackNr = this.#eofSeq;
      for (const p of this.#reorder.values()) this.#hold(-p.length);
      this.#reorder.clear();
      this.#reorderBytes = 0;
      if (!this.#eofPushed) {
        this.#eofPushed = true;
        this.#pushInbox();
        if (!this.destroyed) this.push(null);
      }
    }
  }

  /**
   * In-order payload for the reader. A window's packets arrive in bursts (a dozen per event-loop
   * turn at 50 ms): they go to the reader as one chunk after the burst, with the ack, instead of one
   * stream push and one peer-wire parse per 1,452 bytes.
   */
  #deliver(payload: Uint8Array): void {
    if (this.destroyed || this.#state === 'closing') return;
    this.#inbox.push(payload);
    this.#inboxBytes += payload.length;
    this.#defer();
  }

  #pushInbox(): void {
    if (this.#inboxBytes === 0) return;
    const chunks = this.#inbox;
    const bytes = this.#inboxBytes;
    this.#inbox = [];
    this.#inboxBytes = 0;
    if (this.destroyed || this.#state === 'closing') return;
    this.push(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, bytes));
  }

  #hold(bytes: number): void {
    this.#budgetHeld += bytes;
    this.#o.budget.used += bytes;
  }

  #recvWindow(): number {
    return Math.max(
      0,
      this.#o.limits.receiveBufferBytes - this.readableLength - this.#inboxBytes - this.#reorderBytes,
    );
  }

  #scheduleAck(): void {
    this.#ackScheduled = true;
    this.#defer();
  }

  #defer(): void {
    if (this.#deferPending) return;
    this.#deferPending = true;
    this.#o.defer(() => this.#afterReceive());
  }

  /** After a burst of packets: the payload to the reader, then the ack (its window counts the read). */
  #afterReceive(): void {
    this.#deferPending = false;
    this.#pushInbox();
    // A data packet may have carried the ack meanwhile (#transmit clears #ackScheduled).
    if (this.#ackScheduled && this.#state !== 'closed') this.#sendState();
  }

  /** Our selective ack in at most `room` bytes (whole 4-byte words); #sackCut: bits did not fit. */
  #sack(room: number): Uint8Array | undefined {
    this.#sackCut = false;
    if (this.#reorder.size === 0) return undefined;
    let maxBit = -1;
    for (const seq of this.#reorder.keys()) maxBit = Math.max(maxBit, seqDiff(seq, this.#ackNr) - 2);
    if (maxBit < 0) return undefined;
    const want = Math.min(MAX_SACK_BYTES, (Math.floor(maxBit / 32) + 1) * 4);
    const len = Math.min(want, Math.floor(Math.max(0, room) / 4) * 4);
    this.#sackCut = len < want;
    if (len === 0) return undefined;
    const mask = new Uint8Array(len);
    for (const seq of this.#reorder.keys()) {
      const bit = seqDiff(seq, this.#ackNr) - 2;
      if (bit >= 0 && bit < len * 8) mask[bit >> 3]! |= 1 << (bit & 7);
    }
    return mask;
  }

  #sackCut = false;

  /** A packet's header; `sackRoom`: bytes its selective ack may take (with its 2-byte extension header). */
  #header(type: UtpType, seq: number, sackRoom = MAX_SACK_BYTES + 2): Buffer {
    const wnd = this.#recvWindow();
    this.#advertised = wnd;
    return encodeUtpHeader(
      {
        type,
        connectionId: type === UtpType.syn ? this.#o.recvId : this.#o.sendId,
        timestampUs: this.#o.nowUs() >>> 0,
        timestampDiffUs: this.#replyMicro,
        windowBytes: wnd,
        seqNr: seq,
        ackNr: type === UtpType.syn ? 0 : this.#ackNr,
      },
      type === UtpType.syn ? undefined : this.#sack(sackRoom - 2),
    );
  }

  #sendState(): void {
    this.#ackScheduled = false;
    this.#lastSendMs = this.#o.clock.now();
    this.#o.send([this.#header(UtpType.state, this.#seqNr)]);
  }

  #transmit(seq: number, p: OutPacket): void {
    if (this.#state === 'closed') return;
    const size = PACKET_OVERHEAD + p.payload.length;
    if (size > this.#mtuFloor && p.transmissions >= PROBE_TRIES) {
      // A probe never acked: the path drops packets this big without a word (a black hole). Its
      // bytes cannot go in smaller packets: the connection ends (the host gets no more probes).
      this.#fail(new UtpError(`uTP path drops packets of ${size} bytes (path MTU)`, 'ETIMEDOUT'));
      return;
    }
    const now = this.#o.clock.now();
    if (p.needResend || p.transmissions === 0) this.#inflightBytes += p.payload.length + PACKET_OVERHEAD;
    p.needResend = false;
    p.transmissions++;
    p.sentMs = now;
    this.#lastSendMs = now;
    this.#ackScheduled = false; // every packet carries our ack
    const head = this.#header(p.type, seq, Math.max(this.#mtuFloor, size) - size);
    this.#o.send(p.payload.length > 0 ? [head, p.payload] : [head]);
    // The selective ack did not fit beside the payload: a STATE carries it whole.
    if (this.#sackCut) this.#scheduleAck();
    if (this.#out.size === 1 || this.#timeoutAtMs < now) this.#timeoutAtMs = now + this.#rtoMs;
  }

  /** Sends what the window allows: packets marked for resend first, then new data, then the FIN. */
  #flush(now: number): void {
    // A write callback may write again at once (the stream's next buffered chunk): that nested
    // call only asks the running one for another round, so packets keep their byte order.
    if (this.#flushing) {
      this.#flushAgain = true;
      return;
    }
    this.#flushing = true;
    try {
      do {
        this.#flushAgain = false;
        this.#flushOnce(now);
      } while (this.#flushAgain);
    } finally {
      this.#flushing = false;
    }
  }

  #flushing = false;
  #flushAgain = false;

  #flushOnce(now: number): void {
    if (this.#state !== 'connected' && this.#state !== 'closing') return;
    const window = Math.min(this.#cwnd, this.#advWnd);
    for (const [seq, p] of this.#out) {
      if (!p.needResend) continue;
      if (this.#inflightBytes > 0 && this.#inflightBytes + p.payload.length > window) return;
      this.#o.count('retransmit');
      this.#transmit(seq, p);
      if ((this.#state as State) === 'closed') return;
    }
    const maxPayload = this.#mtuFloor - PACKET_OVERHEAD;
    while (this.#pending.length > 0 && !this.#finSent && this.#out.size < MAX_OUT_PACKETS) {
      let room = Math.min(maxPayload, window - this.#inflightBytes - PACKET_OVERHEAD);
      if (room <= 0) {
        if (this.#advWnd === 0 && this.#zeroWindowSinceMs === undefined) this.#zeroWindowSinceMs = now;
        break;
      }
      const queued = this.#pendingBytes;
      // Small packets only when nothing is in flight (the rest waits for a full one: Nagle).
      if (room < maxPayload && room < queued && this.#inflightBytes > 0) break;
      room = Math.min(room, queued);
      // Path MTU discovery: a full packet may go out bigger, as the probe.
      const probeBytes = room === maxPayload ? this.#probeSize() : undefined;
      const probe =
        probeBytes !== undefined &&
        probeBytes - PACKET_OVERHEAD <= queued &&
        probeBytes - PACKET_OVERHEAD <= window - this.#inflightBytes - PACKET_OVERHEAD;
      if (probe) {
        room = probeBytes - PACKET_OVERHEAD;
        this.#probeSeq = this.#seqNr;
      }
      const payload = Buffer.allocUnsafe(room);
      const written: PendingWrite[] = [];
      let filled = 0;
      while (filled < room) {
        const w = this.#pending[0]!;
        const n = Math.min(room - filled, w.buf.length - w.offset);
        payload.set(w.buf.subarray(w.offset, w.offset + n), filled);
        filled += n;
        w.offset += n;
        this.#pendingBytes -= n;
        if (w.offset === w.buf.length) written.push(this.#pending.shift()!);
      }
      const p: OutPacket = { type: UtpType.data, payload, sentMs: now, transmissions: 0, needResend: false };
      this.#out.set(this.#seqNr, p);
      this.#transmit(this.#seqNr, p);
      this.#seqNr = seqAdd(this.#seqNr, 1);
      this.#lastActivityMs = now;
      for (const w of written) w.cb();
    }
    if (
      this.#pending.length === 0 &&
      !this.#finSent &&
      (this.#finalCb !== undefined || this.#state === 'closing')
    ) {
      this.#finSent = true;
      const p: OutPacket = {
        type: UtpType.fin,
        payload: new Uint8Array(0),
        sentMs: now,
        transmissions: 0,
        needResend: false,
      };
      this.#out.set(this.#seqNr, p);
      this.#transmit(this.#seqNr, p);
      const cb = this.#finalCb;
      this.#finalCb = undefined;
      cb?.();
    }
  }

  /** Timers, from the manager's tick: resends on timeout, zero window, idle, keep-alive, linger. */
  tick(now: number): void {
    if (this.#state === 'closed') return;
    if (this.#state === 'closing' && now >= this.#lingerUntilMs) {
      this.#close();
      return;
    }
    if (this.#out.size > 0 && now >= this.#timeoutAtMs) this.#onTimeout(now);
    if ((this.#state as State) === 'closed') return;
    if (this.#state === 'connected') {
      if (now - this.#lastRecvMs > this.#o.limits.idleTimeoutMs) {
        this.#fail(new UtpError('uTP connection timed out (nothing heard)', 'ETIMEDOUT'));
        return;
      }
      if (
        this.#zeroWindowSinceMs !== undefined &&
        now - this.#zeroWindowSinceMs > this.#o.limits.zeroWindowTimeoutMs
      ) {
        this.#fail(new UtpError("uTP peer's receive window stayed closed", 'ETIMEDOUT'));
        return;
      }
      if (
        this.#advWnd === 0 &&
        this.#out.size === 0 &&
        this.#pending.length > 0 &&
        now >= this.#timeoutAtMs
      ) {
        // Zero window probe: one packet as if the window had opened (its ack tells the real window).
        this.#advWnd = UTP_PAYLOAD_BYTES;
        this.#timeoutAtMs = now + this.#rtoMs;
        this.#flush(now);
      }
      if (now - this.#lastSendMs >= this.#o.limits.keepAliveMs) this.#sendState();
      if (this.#idleMs > 0 && now - this.#lastActivityMs >= this.#idleMs) {
        this.#lastActivityMs = now;
        this.#idleCb?.();
        this.emit('timeout');
      }
      // The reader made room since the window we last advertised was small: say so.
      if (this.#advertised < UTP_PAYLOAD_BYTES * 4 && this.#recvWindow() >= UTP_PAYLOAD_BYTES * 4)
        this.#sendState();
    }
  }

  #onTimeout(now: number): void {
    this.#timeouts++;
    this.#o.count('timeout');
    if (this.#state === 'syn-sent') {
      if (this.#timeouts > this.#o.limits.synResends) {
        this.#fail(new UtpError('uTP connect timed out', 'ETIMEDOUT'));
        return;
      }
      const syn = this.#out.get(this.#synSeq);
      if (syn) this.#transmit(this.#synSeq, syn);
      this.#timeoutAtMs = now + SYN_TIMEOUT_MS * 2 ** this.#timeouts;
      return;
    }
    if (this.#timeouts > this.#o.limits.maxTimeouts) {
      if (this.#state === 'closing') this.#close();
      else this.#fail(new UtpError('uTP connection timed out (no acks)', 'ETIMEDOUT'));
      return;
    }
    // Everything in flight counts as lost: the window restarts from one packet, and losses found
    // later among those packets cut it no further (libtorrent's rule).
    if (this.#probeSeq !== undefined) this.#probeLostNow();
    this.#cwnd = UTP_PAYLOAD_BYTES + PACKET_OVERHEAD;
    this.#slowStart = true;
    this.#lossSeq = seqAdd(this.#seqNr, -1);
    for (const p of this.#out.values()) {
      if (!p.needResend && p.transmissions > 0) {
        p.needResend = true;
        this.#inflightBytes -= p.payload.length + PACKET_OVERHEAD;
      }
    }
    this.#rtoMs = Math.min(this.#rtoMs * 2, 60_000);
    this.#timeoutAtMs = now + this.#rtoMs;
    const first = this.#out.entries().next().value;
    if (first !== undefined) {
      this.#o.count('retransmit');
      this.#transmit(first[0], first[1]);
    }
  }

  override _write(chunk: Uint8Array, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this._writev([{ chunk }], cb);
  }

  /**
   * What was written while the stream was corked (the peer wire corks for a tick: a piece message's
   * header and its block, say) comes in one call, so packets are cut across the writes: not a
   * 13-byte packet for the header before the block's.
   */
  override _writev(chunks: { chunk: Uint8Array }[], cb: (err?: Error | null) => void): void {
    if (this.#state === 'closed' || this.#state === 'closing') {
      cb(new UtpError('uTP connection is closed', 'ECONNABORTED'));
      return;
    }
    let last: PendingWrite | undefined;
    for (const { chunk } of chunks) {
      if (chunk.length === 0) continue;
      last = { buf: chunk, offset: 0, cb: noop };
      this.#pending.push(last);
      this.#pendingBytes += chunk.length;
    }
    if (last === undefined) {
      cb();
      return;
    }
    // In order: the last one's callback runs once every byte of the call is in packets.
    last.cb = cb;
    this.#flush(this.#o.clock.now());
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.#finalCb = cb;
    this.#flush(this.#o.clock.now());
  }

  override _read(): void {
    // The reader took bytes: a window we advertised as (nearly) shut is open again.
    if (
      this.#state === 'connected' &&
      this.#advertised < UTP_PAYLOAD_BYTES * 4 &&
      this.#recvWindow() >= UTP_PAYLOAD_BYTES * 4
    )
      this.#scheduleAck();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#finalCb = undefined;
    if (this.#connectCb !== undefined) {
      const c = this.#connectCb;
      this.#connectCb = undefined;
      c(new UtpError('uTP connect aborted', 'ECONNABORTED'));
    }
    if (this.#state === 'connected') {
      // Like a TCP close: what is already in packets is still delivered, then the FIN; the
      // connection lingers (without a stream) until that is acked or the linger time ends.
      this.#state = 'closing';
      this.#lingerUntilMs = this.#o.clock.now() + this.#o.limits.lingerMs;
      this.#flush(this.#o.clock.now());
      this.#maybeGone();
    } else if (this.#state === 'syn-sent') {
      this.#close();
    }
    cb(err);
  }

  #maybeGone(): void {
    // Gone once our FIN is acked and the peer's FIN is in (acked by us): until then we stay to
    // answer its resends (or until the linger time ends).
    const peerDone = this.#eofSeq !== undefined && this.#ackNr === this.#eofSeq;
    if (this.#state === 'closing' && this.#out.size === 0 && this.#finSent && peerDone) {
      if (this.#ackScheduled) this.#sendState(); // the ack of its FIN, before we forget it
      this.#close();
    }
  }

  /** A fatal condition: a RESET, a timeout. The stream errors (the manager forgets it). */
  #fail(err: UtpError): void {
    this.#o.count(err.code === 'ECONNRESET' || err.code === 'ECONNREFUSED' ? 'reset' : 'timeout');
    if (this.#connectCb !== undefined) {
      const c = this.#connectCb;
      this.#connectCb = undefined;
      this.#close();
      c(err);
      this.destroy();
      return;
    }
    const wasOpen = this.#state === 'connected';
    this.#close();
    if (wasOpen && !this.destroyed) this.destroy(err);
  }

  /** Sends a RESET (a packet for a connection we do not know, answered by the manager). */
  sendReset(): void {
    this.#o.send([this.#header(UtpType.reset, this.#seqNr)]);
  }

  #close(): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#out.clear();
    this.#inflightBytes = 0;
    this.#reorder.clear();
    this.#reorderBytes = 0;
    this.#inbox = [];
    this.#inboxBytes = 0;
    this.#o.budget.used -= this.#budgetHeld;
    this.#budgetHeld = 0;
    this.#o.onGone();
  }
}
