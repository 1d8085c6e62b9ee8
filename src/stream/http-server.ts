// Serving the files of torrents over HTTP while they download: `/<infoHash>/<fileIndex>` (and
// `/<infoHash>/<fileIndex>/<any name>`, for players that look at the URL's extension), with Range
// (206, Content-Range, Accept-Ranges, Content-Length, Content-Type by extension, HEAD). The body is a
// file read stream: it waits for pieces and claims them. A client that goes away destroys its stream,
// which drops its claim. `GET /` lists the torrents and their files' URLs as JSON.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream';
import { createFileReadStream, type ReadableTorrent } from './file-reader.js';
import { parseRange } from './http-range.js';
import { contentTypeOf } from './media-type.js';

export interface StreamLookup {
  /** The torrent with this info hash (40 lowercase hex digits), if it is served. */
  get(infoHashHex: string): ReadableTorrent | undefined;
  /** The torrents listed at `/`. */
  list(): readonly ReadableTorrent[];
}

/** The path of a file's stream: `/<infoHash>/<index>/<file name, URL-encoded>`. */
export function streamPath(torrent: ReadableTorrent, fileIndex: number): string {
  const f = torrent.metainfo.files[fileIndex];
  const name = f?.path[f.path.length - 1] ?? '';
  return `/${torrent.metainfo.infoHashHex}/${fileIndex}${name ? `/${encodeURIComponent(name)}` : ''}`;
}

function plain(
  res: ServerResponse,
  status: number,
  text: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', ...headers });
  res.end(`${text}\n`);
}

/**
 * Answers a GET or HEAD of file `fileIndex` of `torrent`, honouring Range. The response waits for
 * pieces; a client that closes the connection cancels the read and its claim.
 */
export function serveFile(
  req: IncomingMessage,
  res: ServerResponse,
  torrent: ReadableTorrent,
  fileIndex: number,
): void {
  const f = torrent.metainfo.files[fileIndex];
  if (f === undefined || f.padding) {
    plain(res, 404, `no file ${fileIndex} in this torrent`);
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    plain(res, 405, 'only GET and HEAD', { Allow: 'GET, HEAD' });
    return;
  }
  const size = f.length;
  // If-Range without a validator we could match: serve the whole file (RFC 9110 §13.1.5).
  const range =
    req.headers['if-range'] !== undefined ? { kind: 'whole' as const } : parseRange(req.headers.range, size);
  const headers: Record<string, string | number> = {
    'Accept-Ranges': 'bytes',
    'Content-Type': contentTypeOf(f.path[f.path.length - 1] ?? ''),
    'Cache-Control': 'no-store',
  };
  if (range.kind === 'unsatisfiable') {
    res.writeHead(416, { ...headers, 'Content-Range': `bytes */${size}`, 'Content-Length': 0 });
    res.end();
    return;
  }
  const start = range.kind === 'partial' ? range.start : 0;
  const end = range.kind === 'partial' ? range.end : size - 1;
  headers['Content-Length'] = end - start + 1;
  if (range.kind === 'partial') headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
  res.writeHead(range.kind === 'partial' ? 206 : 200, headers);
  if (req.method === 'HEAD' || end < start) {
    res.end();
    return;
  }
  const body = createFileReadStream(torrent, fileIndex, { start, end });
  // pipeline destroys the body when the client goes away (res 'close' before the end): claim dropped.
  pipeline(body, res, () => undefined);
}

/** A request handler for `http.createServer`: the listing at `/` and the files' streams. */
export function createStreamHandler(
  lookup: StreamLookup,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    let path: string;
    try {
      path = new URL(req.url ?? '/', 'http://x').pathname;
    } catch {
      plain(res, 400, 'bad URL');
      return;
    }
    if (path === '/') {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        plain(res, 405, 'only GET and HEAD', { Allow: 'GET, HEAD' });
        return;
      }
      const body = JSON.stringify(
        lookup.list().map((t) => ({
          infoHash: t.metainfo.infoHashHex,
          name: t.metainfo.name,
          files: t.metainfo.files.flatMap((f, index) =>
            f.padding ? [] : [{ index, path: f.path.join('/'), length: f.length, url: streamPath(t, index) }],
          ),
        })),
      );
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    const m = /^\/([0-9a-fA-F]{40})\/(\d{1,9})(?:\/[^/]*)?$/.exec(path);
    if (!m) {
      plain(res, 404, 'not found: use /<infoHash>/<fileIndex>');
      return;
    }
    const torrent = lookup.get(m[1]!.toLowerCase());
    if (!torrent) {
      plain(res, 404, `no torrent ${m[1]!.toLowerCase()} here`);
      return;
    }
    serveFile(req, res, torrent, Number(m[2]));
  };
}
