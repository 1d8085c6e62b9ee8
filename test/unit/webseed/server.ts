// A real HTTP file server for the web seed tests (node:http on 127.0.0.1): files under a folder,
// answered with Range (206), keep-alive; `hook` lets a test make it misbehave on purpose (lie,
// redirect, stall, answer 503) before the honest answer.
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { join, normalize, sep } from 'node:path';

export interface FileServer {
  url: string;
  port: number;
  /** Requests seen, in order: method, decoded path, Range header and the client's address. */
  requests: { path: string; range: string | undefined; remote: string | undefined }[];
  /** Return true when the hook answered the request itself. */
  hook: ((req: IncomingMessage, res: ServerResponse, path: string) => boolean) | undefined;
  /** Rewrites the body of an honest answer (a lying server). */
  mangle: ((path: string, start: number, body: Buffer) => Buffer) | undefined;
  /** Body bytes per second (0: as fast as it goes). */
  rateBytesPerSec: number;
  close(): Promise<void>;
}

export async function startFileServer(root: string): Promise<FileServer> {
  const sockets = new Set<Socket>();
  const fs: FileServer = {
    url: '',
    port: 0,
    requests: [],
    hook: undefined,
    mangle: undefined,
    rateBytesPerSec: 0,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server: Server = createServer((req, res) => {
    void (async () => {
      const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
      fs.requests.push({ path, range: req.headers.range, remote: req.socket.remoteAddress });
      if (fs.hook?.(req, res, path)) return;
      const file = normalize(join(root, path));
      if (!file.startsWith(root + sep)) {
        res.writeHead(403).end();
        return;
      }
      const data = await readFile(file).catch(() => undefined);
      if (!data) {
        res.writeHead(404).end();
        return;
      }
      const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
      let start = 0;
      let end = data.length - 1;
      if (m) {
        start = Number(m[1]);
        end = Math.min(Number(m[2]), data.length - 1);
        if (start > end) {
          res.writeHead(416, { 'content-range': `bytes */${data.length}` }).end();
          return;
        }
      }
      let body: Buffer = data.subarray(start, end + 1);
      if (fs.mangle) body = fs.mangle(path, start, Buffer.from(body));
      res.writeHead(m ? 206 : 200, {
        'content-length': body.length,
        ...(m ? { 'content-range': `bytes ${start}-${end}/${data.length}` } : {}),
      });
      if (fs.rateBytesPerSec <= 0) {
        res.end(body);
        return;
      }
      const step = Math.max(1024, Math.floor(fs.rateBytesPerSec / 20));
      for (let o = 0; o < body.length && !res.destroyed; o += step) {
        res.write(body.subarray(o, o + step));
        await new Promise((r) => setTimeout(r, 50));
      }
      res.end();
    })();
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  fs.port = typeof addr === 'object' && addr ? addr.port : 0;
  fs.url = `http://127.0.0.1:${fs.port}`;
  return fs;
}
