// The BitTorrent handshake on a socket: reading the remote handshake before a connection exists
// (the session's port demux needs the info hash to route an incoming peer), and our peer id.

import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { DisconnectReason, FrameReader, type Handshake, ProtocolError } from '../protocol/peer-wire.js';
import { type Clock, realClock } from '../util/clock.js';
import { VERSION } from '../util/version.js';

export interface ReadHandshakeOptions {
  /** Give up when the whole handshake has not arrived by then. Default 10 s. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Default the real clock. */
  clock?: Clock;
}

export interface HandshakeRead {
  handshake: Handshake;
  /** Bytes that arrived after the handshake: the start of the message stream. */
  rest: Buffer;
}

/**
 * Reads the 68-byte handshake from `socket` (paused-mode reads, so nothing is lost to a `data`
 * listener). Leaves the socket paused with any later bytes either in `rest` or still in the socket.
 * Rejects with a ProtocolError: `bad-handshake`, `handshake-timeout`, `remote-closed`,
 * `socket-error` or `aborted`. The caller keeps its own `error` listener on the socket afterwards.
 */
export function readHandshake(socket: Duplex, options: ReadHandshakeOptions = {}): Promise<HandshakeRead> {
  const { signal } = options;
  const clock = options.clock ?? realClock;
  return new Promise((resolve, reject) => {
    const reader = new FrameReader();
    let done = false;
    const finish = (result: HandshakeRead | Error): void => {
      if (done) return;
      done = true;
      clock.clearTimeout(timer);
      socket.off('readable', onReadable);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      socket.off('error', onError);
      signal?.removeEventListener('abort', onAbort);
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    const onReadable = (): void => {
      for (
        let chunk = socket.read() as Buffer | null;
        chunk !== null;
        chunk = socket.read() as Buffer | null
      ) {
        reader.push(chunk);
        let handshake: Handshake | undefined;
        try {
          handshake = reader.nextHandshake();
        } catch (err) {
          finish(err as Error);
          return;
        }
        if (handshake) {
          finish({ handshake, rest: reader.takeRest() });
          return;
        }
      }
    };
    const onEnd = (): void =>
      finish(new ProtocolError(DisconnectReason.remoteClosed, 'connection closed during the handshake'));
    const onError = (err: Error): void =>
      finish(
        new ProtocolError(DisconnectReason.socketError, `socket error during the handshake: ${err.message}`, {
          cause: err,
        }),
      );
    const onAbort = (): void =>
      finish(new ProtocolError(DisconnectReason.aborted, 'handshake aborted', { cause: signal?.reason }));
    const timer = clock.setTimeout(
      () => finish(new ProtocolError(DisconnectReason.handshakeTimeout, 'handshake timed out')),
      options.timeoutMs ?? 10_000,
    );
    if (signal?.aborted) {
      onAbort();
      return;
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.on('readable', onReadable);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
    socket.on('error', onError);
    onReadable();
  });
}

/**
 * Our peer id, Azureus style: `-BM` (bitswarm; `BS` is BTSlave's in the client tables) + four version characters + `-` + 12 random bytes.
 * Version `0.1.0` gives `-BM0100-`.
 */
export function makePeerId(version: string = VERSION): Buffer {
  const parts = version.split(/[.+-]/).slice(0, 4);
  let digits = '';
  for (let i = 0; i < 4; i++) {
    const n = Number.parseInt(parts[i] ?? '0', 10);
    digits += Number.isInteger(n) && n >= 0 && n < 36 ? n.toString(36).toUpperCase() : '0';
  }
  return Buffer.concat([Buffer.from(`-BM${digits}-`, 'latin1'), randomBytes(12)]);
}

/** A client's name guessed from an Azureus-style peer id (`-qB4650-` → `qB 4650`), else undefined. */
export function clientFromPeerId(peerId: Uint8Array): string | undefined {
  const head = Buffer.from(peerId.subarray(0, 8)).toString('latin1');
  const m = /^-([A-Za-z~]{2})([0-9A-Za-z]{4})-$/.exec(head);
  return m ? `${m[1]} ${m[2]}` : undefined;
}
