// One web seed (BEP 19): fetches byte ranges of a torrent's data from one url-list entry, over a few
// keep-alive connections ("lanes", one request at a time each). A range that spans files becomes one
// request per file; padding files are zeros and never requested. Redirects are followed (at most
// `maxRedirects` per request, http and https only) and the final URL of each file remembered.
// It implements the swarm's RangeSource (src/swarm/web-seeds.ts): the swarm picks, verifies, backs
// off and bans; this only moves bytes and says precisely why a request failed.

import type { Metainfo } from '../protocol/metainfo.js';
import { type BodySink, HttpConnection, type HttpHead, retryAfterMs, WebSeedError } from './http-client.js';
import { fileSegments, webSeedFileUrl } from './url.js';

export interface WebSeedOptions {
  localAddress?: string;
  /** Connections to the server at once (default 4). */
  connections?: number;
  /** No byte for this long fails a request (default 20 s). */
  stallTimeoutMs?: number;
  maxRedirects?: number;
  maxHeaderBytes?: number;
}

export interface RangeFetch {
  lane: number;
  start: number;
  length: number;
  signal: AbortSignal;
  /** The bytes in order; a positive result pauses reading that many ms (rate limits). */
  onData(chunk: Uint8Array): number;
}

const ZEROS = new Uint8Array(64 * 1024);

export class WebSeedClient {
  readonly url: string;
  readonly lanes: number;
  readonly #m: Pick<Metainfo, 'files' | 'multiFile'>;
  readonly #o: Required<Omit<WebSeedOptions, 'localAddress'>> & { localAddress?: string };
  readonly #conns: (HttpConnection | undefined)[];
  /** Where a file's URL was redirected to last: asked there directly next time. */
  readonly #resolved = new Map<string, URL>();
  #stopped = false;

  constructor(url: string, metainfo: Pick<Metainfo, 'files' | 'multiFile'>, options: WebSeedOptions = {}) {
    this.url = url;
    this.#m = metainfo;
    this.#o = {
      connections: options.connections ?? 4,
      stallTimeoutMs: options.stallTimeoutMs ?? 20_000,
      maxRedirects: options.maxRedirects ?? 5,
      maxHeaderBytes: options.maxHeaderBytes ?? 16 * 1024,
      ...(options.localAddress !== undefined ? { localAddress: options.localAddress } : {}),
    };
    this.lanes = Math.max(1, this.#o.connections);
    this.#conns = new Array<HttpConnection | undefined>(this.lanes).fill(undefined);
  }

  /** Fetches bytes [start, start + length) of the torrent's data on one lane. */
  async fetch(req: RangeFetch): Promise<void> {
    if (this.#stopped) throw new WebSeedError('aborted', 'web seed stopped');
    for (const seg of fileSegments(this.#m, req.start, req.length)) {
      if (req.signal.aborted) throw new WebSeedError('aborted', 'aborted');
      if (seg.padding) {
        for (let left = seg.length; left > 0; ) {
          const n = Math.min(left, ZEROS.length);
          req.onData(ZEROS.subarray(0, n));
          left -= n;
        }
        continue;
      }
      const file = this.#m.files[seg.file]!;
      const sink: BodySink = { data: req.onData };
      await this.#get(req.lane, file.rawPath, seg.offset, seg.length, file.length, sink, req.signal);
    }
  }

  async #get(
    lane: number,
    rawPath: readonly string[],
    offset: number,
    length: number,
    fileLength: number,
    sink: BodySink,
    signal: AbortSignal,
  ): Promise<void> {
    let named: URL;
    try {
      named = webSeedFileUrl(this.url, this.#m.multiFile, rawPath);
    } catch (err) {
      throw new WebSeedError('protocol', (err as Error).message, { permanent: true });
    }
    let url = this.#resolved.get(named.href) ?? named;
    for (let hops = 0; ; hops++) {
      const conn = this.#conn(lane, url);
      let head: HttpHead | undefined;
      try {
        head = await conn.get(url, offset, length, fileLength, sink, signal);
      } catch (err) {
        // A remembered redirect that fails is forgotten: the named URL is asked again next time.
        if (url !== named) this.#resolved.delete(named.href);
        throw err;
      }
      if (head === undefined) {
        if (url !== named) this.#resolved.set(named.href, url);
        return;
      }
      const { status, headers } = head;
      const location = headers.get('location');
      if (status >= 300 && status < 400 && status !== 304 && location !== undefined) {
        if (hops >= this.#o.maxRedirects)
          throw new WebSeedError(
            'redirect',
            `more than ${this.#o.maxRedirects} redirects from ${named.href}`,
            {
              permanent: true,
              status,
            },
          );
        let next: URL;
        try {
          next = new URL(location, url);
        } catch {
          throw new WebSeedError('redirect', `${status} to a malformed Location`, { status });
        }
        if (next.protocol !== 'http:' && next.protocol !== 'https:')
          throw new WebSeedError('scheme', `redirect to scheme ${next.protocol} refused`, {
            permanent: true,
            status,
          });
        url = next;
        continue;
      }
      if (url !== named) this.#resolved.delete(named.href);
      const retry = retryAfterMs(headers.get('retry-after'), Date.now());
      throw new WebSeedError('status', `HTTP ${status} for ${url.href}`, {
        status,
        ...(retry !== undefined ? { retryAfterMs: retry } : {}),
      });
    }
  }

  /** The lane's connection to the URL's origin (another origin closes the lane's old one). */
  #conn(lane: number, url: URL): HttpConnection {
    const cur = this.#conns[lane];
    if (cur && !cur.closed && cur.origin === url.origin) return cur;
    cur?.close();
    const conn = new HttpConnection(new URL(url.origin), {
      stallTimeoutMs: this.#o.stallTimeoutMs,
      maxHeaderBytes: this.#o.maxHeaderBytes,
      ...(this.#o.localAddress !== undefined ? { localAddress: this.#o.localAddress } : {}),
    });
    this.#conns[lane] = conn;
    return conn;
  }

  /** Closes every connection; requests in flight fail with `aborted`. */
  stop(): void {
    this.#stopped = true;
    for (const c of this.#conns) c?.close();
  }
}
