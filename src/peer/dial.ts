// Opens an outgoing TCP connection with a connect timeout and an abort signal.
import { isIP, Socket } from 'node:net';

export interface PeerAddress {
  host: string;
  port: number;
}

export function formatAddress(a: PeerAddress): string {
  return isIP(a.host) === 6 ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/** Parses `host:port` or `[v6]:port`. Returns undefined when it is not one. */
export function parseAddress(s: string): PeerAddress | undefined {
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$/.exec(s) ?? /^([^:[\]\s]+):(\d{1,5})$/.exec(s);
  if (!m) return undefined;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return undefined;
  return { host: m[1]!, port };
}

export interface DialOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  localAddress?: string;
}

export class DialError extends Error {
  override readonly name = 'DialError';
  readonly code = 'ERR_DIAL';
}

export function dial(addr: PeerAddress, options: DialOptions = {}): Promise<Socket> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  return new Promise((resolve, reject) => {
    const socket = new Socket();
    let settled = false;
    const finish = (err?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      socket.off('error', onError);
      if (err) {
        socket.destroy();
        reject(err);
      } else resolve(socket);
    };
    const onError = (err: Error): void =>
      finish(new DialError(`${formatAddress(addr)}: ${err.message}`, { cause: err }));
    const onAbort = (): void => finish(new DialError(`${formatAddress(addr)}: aborted`));
    const timer = setTimeout(
      () => finish(new DialError(`${formatAddress(addr)}: connect timed out`)),
      timeoutMs,
    );
    if (options.signal?.aborted) return onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('error', onError);
    socket.setNoDelay(true);
    socket.connect({
      host: addr.host,
      port: addr.port,
      ...(options.localAddress ? { localAddress: options.localAddress } : {}),
    });
    socket.once('connect', () => finish());
  });
}
