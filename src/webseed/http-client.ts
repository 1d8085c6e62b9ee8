// A small HTTP/1.1 client for web seeds (BEP 19): one keep-alive connection to one origin, one GET
// with a Range at a time (no pipelining), the body handed over as it is read, in views of one read
// buffer shared by the process (the caller copies what it keeps). Node's `http` module costs a
// stream, an IncomingMessage and a 64 KiB allocation per read; at loopback speeds that is most of
// the CPU. Everything a server says is bounded: the header size, the body (exactly the bytes asked
// for, checked against Content-Length and Content-Range before a byte is taken), the time between
// reads.

import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { VERSION } from '../util/version.js';

/** Why a request failed: the web seed's status shows the message; `permanent` ones are not retried. */
export const WebSeedErrorCode = {
  connect: 'connect',
  timeout: 'timeout',
  status: 'status',
  protocol: 'protocol',
  length: 'length',
  closed: 'closed',
  redirect: 'redirect',
  scheme: 'scheme',
  aborted: 'aborted',
} as const;
export type WebSeedErrorCode = (typeof WebSeedErrorCode)[keyof typeof WebSeedErrorCode];

export class WebSeedError extends Error {
  override readonly name = 'WebSeedError';
  readonly code: WebSeedErrorCode;
  /** The server's Retry-After (503, 429), bounded. */
  readonly retryAfterMs: number | undefined;
  /** Retrying cannot help (the server ignores Range, refers to a scheme we do not speak, loops). */
  readonly permanent: boolean;
  readonly status: number | undefined;
  constructor(
    code: WebSeedErrorCode,
    message: string,
    extra: { retryAfterMs?: number; permanent?: boolean; status?: number; cause?: unknown } = {},
  ) {
    super(message, extra.cause !== undefined ? { cause: extra.cause } : undefined);
    this.code = code;
    this.retryAfterMs = extra.retryAfterMs;
    this.permanent = extra.permanent ?? false;
    this.status = extra.status;
  }
}

export interface HttpConnectionOptions {
  /** Address to dial from (the session's --bind). */
  localAddress?: string;
  /** No byte for this long (connecting, waiting for the head, reading the body) fails the request. */
  stallTimeoutMs: number;
  /** Largest response head (status line and headers). */
  maxHeaderBytes: number;
}

/** A response that carries no body we take: a redirect or an error status. */
export interface HttpHead {
  status: number;
  headers: Map<string, string>;
}

/**
 * Where a body goes. A positive result of `data` pauses reading that many ms (rate limits).
 *
 * There is no reading straight into a piece's memory: Node asks an `onread` buffer function for the
 * next read's memory right after the previous read, and what runs meanwhile (a peer's copy of the
 * same block, the piece verified and its buffer reused for the next piece) would have the late
 * bytes land on memory that is another's by then (seen: a block of the next piece overwritten
 * after its hash check, so a wrong file passed as complete).
 */
export interface BodySink {
  /** Bytes read into the shared buffer: the view is valid only until it returns. */
  data(chunk: Uint8Array): number;
}

/**
 * Bytes per read. One buffer serves every web seed connection of the process: a read callback runs
 * to its end before the next read of any socket, and its consumer copies what it keeps.
 */
const READ_BYTES = 1024 * 1024;
let sharedRead: Buffer | undefined;

const RETRY_AFTER_MAX_MS = 3_600_000;

type Phase = 'idle' | 'head' | 'body';

/** One connection to `origin` (`http://host:port` or `https://…`); reconnects when the server closed it. */
export class HttpConnection {
  readonly origin: string;
  readonly #url: URL;
  readonly #o: HttpConnectionOptions;
  #socket: Socket | undefined;
  #phase: Phase = 'idle';
  #head: Buffer[] = [];
  #headBytes = 0;
  #remaining = 0;
  #keepAlive = false;
  #sink: BodySink | undefined;
  #expect: { start: number; length: number; fileLength: number | undefined } | undefined;
  #settle: ((err: Error | undefined, head?: HttpHead) => void) | undefined;
  #stall: NodeJS.Timeout | undefined;
  #pauseTimer: NodeJS.Timeout | undefined;
  #closed = false;
  /** The request in flight, and whether it went out on a connection an earlier request used. */
  #request = '';
  #reused = false;

  constructor(origin: URL, options: HttpConnectionOptions) {
    this.#url = origin;
    this.origin = origin.origin;
    this.#o = options;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * GET `url` (of this origin) for bytes [start, start + length) of a file of `fileLength` bytes (when
   * known). Resolves with undefined once the body went to `sink`, or with the head of a response
   * that has no body for us (3xx, 4xx, 5xx; the connection is closed then). Rejects with a
   * WebSeedError: the server answered something else than what was asked, or stalled.
   */
  get(
    url: URL,
    start: number,
    length: number,
    fileLength: number | undefined,
    sink: BodySink,
    signal: AbortSignal,
  ): Promise<HttpHead | undefined> {
    if (this.#closed) return Promise.reject(new WebSeedError('closed', 'connection closed'));
    if (this.#phase !== 'idle') return Promise.reject(new Error('a request is already in flight'));
    if (signal.aborted) return Promise.reject(new WebSeedError('aborted', 'aborted'));
    return new Promise<HttpHead | undefined>((resolve, reject) => {
      const onAbort = (): void => this.#fail(new WebSeedError('aborted', 'aborted'));
      signal.addEventListener('abort', onAbort, { once: true });
      this.#settle = (err, head) => {
        signal.removeEventListener('abort', onAbort);
        this.#settle = undefined;
        if (err) reject(err);
        else resolve(head);
      };
      this.#sink = sink;
      this.#expect = { start, length, fileLength };
      this.#phase = 'head';
      this.#head = [];
      this.#headBytes = 0;
      const path = `${url.pathname}${url.search}`;
      const req =
        `GET ${path} HTTP/1.1\r\nHost: ${url.host}\r\nRange: bytes=${start}-${start + length - 1}\r\n` +
        `User-Agent: bitswarm/${VERSION}\r\nAccept-Encoding: identity\r\nConnection: keep-alive\r\n\r\n`;
      this.#request = req;
      this.#reused = this.#socket !== undefined;
      const socket = this.#socket ?? this.#open();
      this.#armStall();
      socket.write(req);
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#stall);
    clearTimeout(this.#pauseTimer);
    this.#socket?.destroy();
    this.#socket = undefined;
    this.#settle?.(new WebSeedError('aborted', 'connection closed'));
  }

  #open(): Socket {
    const u = this.#url;
    const https = u.protocol === 'https:';
    const port = u.port ? Number(u.port) : https ? 443 : 80;
    // An IPv6 literal comes bracketed in a URL.
    const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
    const local = this.#o.localAddress !== undefined ? { localAddress: this.#o.localAddress } : {};
    let socket: Socket;
    if (https) {
      socket = tlsConnect({ host, port, servername: host, ...local });
      socket.on('data', (chunk: Buffer) => this.#onRead(chunk));
    } else {
      sharedRead ??= Buffer.allocUnsafeSlow(READ_BYTES);
      socket = netConnect({
        host,
        port,
        noDelay: true,
        ...local,
        onread: {
          buffer: sharedRead,
          callback: (n: number, buf: Uint8Array): boolean => {
            this.#onRead(buf.subarray(0, n));
            // false stops reading until #pause's timer resumes the socket (a download limit).
            return this.#pauseTimer === undefined;
          },
        },
      });
    }
    let connected = false;
    let error: NodeJS.ErrnoException | undefined;
    socket.once(https ? 'secureConnect' : 'connect', () => {
      connected = true;
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      error = err;
    });
    socket.on('close', () => {
      if (this.#socket !== socket) return; // replaced or given up already
      this.#socket = undefined;
      if (this.#phase === 'idle' || this.#closed) return;
      if (this.#phase === 'head' && this.#reused && this.#headBytes === 0) {
        // The server ended an idle keep-alive connection as we sent: once more on a fresh one.
        this.#reused = false;
        this.#open().write(this.#request);
        return;
      }
      const why = error ? (error.code ?? error.message) : 'closed the connection';
      if (!connected)
        this.#fail(new WebSeedError('connect', `${this.origin}: ${why}`, error ? { cause: error } : {}));
      else this.#fail(new WebSeedError('closed', `${this.origin}: ${why} mid-response`));
    });
    this.#socket = socket;
    return socket;
  }

  #armStall(): void {
    if (this.#stall) this.#stall.refresh();
    else {
      this.#stall = setTimeout(() => {
        this.#stall = undefined;
        if (this.#phase !== 'idle' && this.#pauseTimer === undefined)
          this.#fail(
            new WebSeedError('timeout', `${this.origin} sent nothing for ${this.#o.stallTimeoutMs} ms`),
          );
      }, this.#o.stallTimeoutMs);
    }
  }

  #fail(err: WebSeedError): void {
    clearTimeout(this.#stall);
    this.#stall = undefined;
    clearTimeout(this.#pauseTimer);
    this.#pauseTimer = undefined;
    this.#phase = 'idle';
    this.#sink = undefined;
    // Whatever was in flight on this socket is unknown now: the next request starts on a new one.
    this.#socket?.destroy();
    this.#socket = undefined;
    this.#settle?.(err);
  }

  #done(head: HttpHead | undefined): void {
    clearTimeout(this.#stall);
    this.#stall = undefined;
    this.#phase = 'idle';
    this.#sink = undefined;
    if (head !== undefined || !this.#keepAlive) {
      // A body we do not read (redirect, error) or a server that closes: a fresh connection next time.
      this.#socket?.destroy();
      this.#socket = undefined;
    }
    this.#settle?.(undefined, head);
  }

  #onRead(chunk: Uint8Array): void {
    if (this.#phase === 'idle') {
      // Bytes nobody asked for: the server is out of step with us.
      if (chunk.length > 0)
        this.#fail(new WebSeedError('protocol', `${this.origin} sent bytes after a response`));
      return;
    }
    this.#armStall();
    if (this.#phase === 'head') {
      const rest = this.#readHead(chunk);
      if (rest === undefined || (this.#phase as Phase) !== 'body') return;
      chunk = rest;
    }
    if (chunk.length === 0) return;
    if (chunk.length > this.#remaining) {
      this.#fail(
        new WebSeedError('length', `${this.origin} sent more than the ${this.#expect?.length} bytes asked`),
      );
      return;
    }
    this.#remaining -= chunk.length;
    const waitMs = this.#sink!.data(chunk);
    if ((this.#phase as Phase) !== 'body') return; // the sink failed the request (aborted)
    if (this.#remaining === 0) this.#done(undefined);
    else if (waitMs > 0) this.#pause(waitMs);
  }

  #pause(waitMs: number): void {
    const socket = this.#socket;
    if (!socket || this.#pauseTimer) return;
    socket.pause();
    this.#pauseTimer = setTimeout(() => {
      this.#pauseTimer = undefined;
      if (this.#phase === 'idle') return;
      this.#armStall();
      socket.resume();
    }, waitMs);
  }

  /** Collects the head; on its end parses it and returns the bytes after it (undefined: need more). */
  #readHead(chunk: Uint8Array): Uint8Array | undefined {
    const prevTail = this.#headBytes;
    this.#head.push(Buffer.from(chunk.subarray(0, Math.min(chunk.length, this.#o.maxHeaderBytes + 4))));
    this.#headBytes += chunk.length;
    const all = this.#head.length === 1 ? this.#head[0]! : Buffer.concat(this.#head);
    const end = all.indexOf('\r\n\r\n', Math.max(0, prevTail - 3));
    if (end < 0) {
      if (this.#headBytes > this.#o.maxHeaderBytes)
        this.#fail(
          new WebSeedError('protocol', `${this.origin}: response head over ${this.#o.maxHeaderBytes} bytes`),
        );
      else this.#head = [all];
      return undefined;
    }
    if (end > this.#o.maxHeaderBytes) {
      this.#fail(
        new WebSeedError('protocol', `${this.origin}: response head over ${this.#o.maxHeaderBytes} bytes`),
      );
      return undefined;
    }
    this.#head = [];
    const head = parseHead(all.subarray(0, end).toString('latin1'));
    if (head === undefined) {
      this.#fail(new WebSeedError('protocol', `${this.origin}: malformed response head`));
      return undefined;
    }
    const consumed = end + 4 - prevTail;
    const rest = chunk.subarray(consumed);
    this.#onHead(head);
    return rest;
  }

  #onHead(h: HttpHead & { version: string }): void {
    const { status, headers } = h;
    const connection = headers.get('connection')?.toLowerCase() ?? '';
    this.#keepAlive = h.version === '1.1' ? !connection.includes('close') : connection.includes('keep-alive');
    if (status < 200) {
      this.#fail(new WebSeedError('protocol', `${this.origin}: unexpected ${status}`));
      return;
    }
    if (status >= 300) {
      this.#done({ status, headers });
      return;
    }
    const exp = this.#expect!;
    if (headers.has('transfer-encoding')) {
      this.#fail(new WebSeedError('protocol', `${this.origin}: a ${status} without Content-Length`));
      return;
    }
    const cl = headers.get('content-length');
    const contentLength = cl !== undefined && /^\d{1,15}$/.test(cl) ? Number(cl) : -1;
    if (status === 206) {
      const cr = /^bytes (\d{1,15})-(\d{1,15})\/(\d{1,15}|\*)$/.exec(headers.get('content-range') ?? '');
      if (!cr || Number(cr[1]) !== exp.start || Number(cr[2]) !== exp.start + exp.length - 1) {
        this.#fail(
          new WebSeedError(
            'length',
            `${this.origin}: asked bytes ${exp.start}-${exp.start + exp.length - 1}, got ${headers.get('content-range') ?? 'no Content-Range'}`,
          ),
        );
        return;
      }
      if (exp.fileLength !== undefined && cr[3] !== '*' && Number(cr[3]) !== exp.fileLength) {
        this.#fail(
          new WebSeedError(
            'length',
            `${this.origin}: the file is ${cr[3]} bytes, the torrent says ${exp.fileLength}`,
          ),
        );
        return;
      }
    } else if (status === 200) {
      // No Range support: usable only when we asked for the whole file.
      if (exp.start !== 0 || exp.fileLength === undefined || exp.length !== exp.fileLength) {
        this.#fail(
          new WebSeedError('status', `${this.origin} ignores Range requests (200 for a byte range)`, {
            permanent: true,
            status,
          }),
        );
        return;
      }
    } else {
      this.#fail(new WebSeedError('status', `${this.origin}: unexpected ${status}`, { status }));
      return;
    }
    if (contentLength !== exp.length) {
      this.#fail(
        new WebSeedError(
          'length',
          `${this.origin}: Content-Length ${cl ?? 'missing'}, asked ${exp.length} bytes`,
        ),
      );
      return;
    }
    this.#remaining = exp.length;
    this.#phase = 'body';
  }
}

/** Status line and headers (names lower-cased; a repeated header keeps its first value). */
function parseHead(text: string): (HttpHead & { version: string }) | undefined {
  const lines = text.split('\r\n');
  const m = /^HTTP\/(1\.[01]) (\d{3})(?: .*)?$/.exec(lines[0] ?? '');
  if (!m) return undefined;
  const headers = new Map<string, string>();
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    if (colon <= 0) return undefined;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (!headers.has(name)) headers.set(name, line.slice(colon + 1).trim());
  }
  return { version: m[1]!, status: Number(m[2]), headers };
}

/** Retry-After in milliseconds (seconds or an HTTP date), bounded; undefined when absent or unreadable. */
export function retryAfterMs(value: string | undefined, nowMs: number): number | undefined {
  if (value === undefined) return undefined;
  let ms: number;
  if (/^\d{1,10}$/.test(value.trim())) ms = Number(value.trim()) * 1000;
  else {
    const t = Date.parse(value);
    if (Number.isNaN(t)) return undefined;
    ms = t - nowMs;
  }
  return Math.max(0, Math.min(RETRY_AFTER_MAX_MS, ms));
}
