// Serves HTTP/1.x tracker requests on one TCP connection that someone else accepted (the session's
// port demux, or a plain net server): reads each request head with a size and a time limit, hands it
// to the tracker, writes the reply. A tracker request is a GET with no body, so this is a small
// purpose-built reader rather than node:http (which would want to own the listening socket).
//
// Keep-alive: HTTP/1.1 connections stay open unless the client sends `Connection: close`; HTTP/1.0
// ones only with `Connection: keep-alive`. Pipelined requests are answered in order. Between
// requests the connection may idle for `headerTimeoutMs`, then it is closed silently.
// Limits: a request head longer than `maxRequestBytes` gets 413, one not complete within
// `headerTimeoutMs` of its first byte gets 408, anything unparsable or with a body gets 400 — each
// followed by closing the connection. When the peer stops reading our replies, reading its requests
// pauses until the replies drain, so a pipelining client cannot make us buffer without bound.

import type { Socket } from 'node:net';
import type { HttpTrackerRequest, HttpTrackerResponse } from './tracker-server.js';

export interface HttpRequestHandler {
  handleHttp(req: HttpTrackerRequest): HttpTrackerResponse;
}

export interface ServeHttpOptions {
  /** Largest request head (request line and headers). */
  maxRequestBytes?: number;
  /** Time allowed for a request head to arrive, and for an idle keep-alive connection. */
  headerTimeoutMs?: number;
  /** Bytes the caller already read from the socket (e.g. the demux's peek), served first. */
  initialData?: Buffer;
  /** Unsent reply bytes at which reading pauses. */
  maxPendingWriteBytes?: number;
}

const STATUS_TEXT: Record<number, string> = {
  200: 'OK',
  400: 'Bad Request',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  413: 'Content Too Large',
  500: 'Internal Server Error',
};

const HEAD_END = Buffer.from('\r\n\r\n');
const CLOSE_GRACE_MS = 2000;

/** Serves tracker requests on `socket` until either side closes it. */
export function serveHttpConnection(
  socket: Socket,
  tracker: HttpRequestHandler,
  options: ServeHttpOptions = {},
): void {
  const maxRequestBytes = options.maxRequestBytes ?? 8 * 1024;
  const headerTimeoutMs = options.headerTimeoutMs ?? 10_000;
  const maxPendingWriteBytes = options.maxPendingWriteBytes ?? 256 * 1024;
  let buf: Buffer = Buffer.alloc(0);
  let scanFrom = 0;
  let closing = false;

  const onTimeout = (): void => {
    if (buf.length > 0) respondAndClose(408, 'request head not received in time\n');
    else socket.destroy();
  };
  let timer: NodeJS.Timeout | undefined = setTimeout(onTimeout, headerTimeoutMs);

  let graceTimer: NodeJS.Timeout | undefined;
  const cleanup = (): void => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
  };
  /** Half-closes; a client that never closes its side must not hold the socket. */
  const endSoon = (): void => {
    socket.end();
    graceTimer = setTimeout(() => socket.destroy(), CLOSE_GRACE_MS);
    graceTimer.unref();
  };

  const write = (status: number, headers: Record<string, string>, body: Buffer, keepAlive: boolean): void => {
    let head = `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Status'}\r\n`;
    for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
    head += `Content-Length: ${body.length}\r\nConnection: ${keepAlive ? 'keep-alive' : 'close'}\r\n\r\n`;
    const out = Buffer.allocUnsafe(Buffer.byteLength(head, 'latin1') + body.length);
    const n = out.write(head, 0, 'latin1');
    body.copy(out, n);
    socket.write(out);
  };

  const respondAndClose = (status: number, message: string): void => {
    if (closing) return;
    closing = true;
    cleanup();
    buf = Buffer.alloc(0);
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    write(status, { 'Content-Type': 'text/plain' }, Buffer.from(message), false);
    endSoon();
  };

  const serve = (): void => {
    while (!closing) {
      if (socket.writableLength > maxPendingWriteBytes) {
        socket.pause();
        socket.once('drain', () => {
          if (closing) return;
          socket.resume();
          serve();
        });
        return;
      }
      const end = buf.indexOf(HEAD_END, scanFrom);
      if (end === -1) {
        if (buf.length > maxRequestBytes) respondAndClose(413, 'request head too large\n');
        else scanFrom = Math.max(0, buf.length - 3);
        return;
      }
      if (end + 4 > maxRequestBytes) {
        respondAndClose(413, 'request head too large\n');
        return;
      }
      const head = buf.toString('latin1', 0, end);
      buf = buf.subarray(end + 4);
      scanFrom = 0;
      const lines = head.split('\r\n');
      const m = /^([A-Z]{1,16}) (\S+) HTTP\/1\.([01])$/.exec(lines[0] ?? '');
      if (m === null) {
        respondAndClose(400, 'malformed request line\n');
        return;
      }
      let keepAlive = m[3] === '1';
      let hasBody = false;
      for (let i = 1; i < lines.length; i++) {
        const line = lines[i]!;
        const colon = line.indexOf(':');
        if (colon <= 0) {
          respondAndClose(400, 'malformed header\n');
          return;
        }
        const name = line.slice(0, colon).trim().toLowerCase();
        const value = line
          .slice(colon + 1)
          .trim()
          .toLowerCase();
        if (name === 'connection') {
          if (value.includes('close')) keepAlive = false;
          else if (value.includes('keep-alive')) keepAlive = true;
        } else if ((name === 'content-length' && value !== '0') || name === 'transfer-encoding') {
          hasBody = true;
        }
      }
      if (hasBody) {
        respondAndClose(400, 'tracker requests have no body\n');
        return;
      }
      const remoteAddress = socket.remoteAddress;
      if (remoteAddress === undefined) {
        closing = true;
        cleanup();
        socket.destroy();
        return;
      }
      const res = tracker.handleHttp({ method: m[1]!, target: m[2]!, remoteAddress });
      if (!socket.writable) return;
      write(res.status, res.headers, res.body, keepAlive);
      if (!keepAlive) {
        closing = true;
        cleanup();
        endSoon();
        return;
      }
      // The next request (or idling) gets a fresh allowance.
      timer?.refresh();
    }
  };

  const onData = (chunk: Buffer): void => {
    if (closing) return;
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    serve();
  };

  socket.on('data', onData);
  socket.on('error', () => socket.destroy());
  socket.on('close', () => {
    closing = true;
    cleanup();
    // A pending timer would keep the closed socket alive (and, under load, thousands of them).
    if (graceTimer !== undefined) clearTimeout(graceTimer);
  });
  if (options.initialData !== undefined && options.initialData.length > 0) onData(options.initialData);
}
