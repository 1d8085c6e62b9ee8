// The control API: HTTP with JSON, on 127.0.0.1 by default, for the CLI, scripts and the web UI.
//
// Safety: every request but the OpenAPI description carries the token the daemon keeps in its state
// directory (`Authorization: Bearer <token>`); the Host header must name a loopback address or a
// configured host (DNS rebinding); a cross-site Origin is refused; no cookies are read or set; request
// bodies are capped. Errors are JSON `{ "error": { "code", "message" } }` with a 4xx/5xx status.

import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { MagnetError, MetainfoError } from '../protocol/errors.js';
import { ManagerError, type TorrentManager } from '../session/manager.js';
import type { Session } from '../session/session.js';
import { serveFile } from '../stream/http-server.js';
import { errorText, type Logger } from '../util/logger.js';
import { ApiControl, type ApiControlOptions } from './control.js';
import { OPENAPI } from './openapi.js';
import { API_ROOT, PATH_PARAMS, ROUTES, type RouteKey, type RouteSpec, routeKey, SCHEMAS } from './routes.js';
import { type Schema, schemaErrors } from './schema.js';
import { ApiError } from './types.js';
import { WEB_UI_CSP, WEB_UI_FILES } from './web-ui.js';

/** The control layer's options the server passes on as given: onSettings, altSpeeds, nextStart. */
export interface ApiServerOptions extends Pick<ApiControlOptions, 'onSettings' | 'altSpeeds' | 'nextStart'> {
  manager: TorrentManager;
  session: Session;
  /** Where refused requests and internal errors go (default: the session's log). */
  logger?: Logger;
  token: string;
  host?: string;
  port?: number;
  /** Extra Host header values accepted besides loopback (e.g. a LAN name you put in front). */
  allowedHosts?: string[];
  /** Default download folder for adds that do not name one. */
  defaultDir: string;
  /**
   * Folders (absolute) an add's `dir` may be in, besides `defaultDir` (the daemon's --allow-dir).
   * Any other `dir`, a relative one included, is refused with 400.
   */
  allowedDirs?: string[];
  maxBodyBytes?: number;
}

class HttpError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const HEX40 = /^[0-9a-f]{40}$/;
const SMALL_BODY = 64 * 1024;

export class ApiServer {
  readonly #o: ApiServerOptions;
  #server: Server | undefined;
  readonly #streams = new Set<ServerResponse>();
  #progressTimer: NodeJS.Timeout | undefined;
  #address: { host: string; port: number } | undefined;
  readonly #off: (() => void)[] = [];
  readonly #inFlight = new Set<AbortController>();

  readonly #log: Logger;
  /** The operations; this class only routes to them and turns their errors into statuses. */
  readonly #control: ApiControl;

  constructor(options: ApiServerOptions) {
    this.#o = options;
    this.#log = options.logger ?? options.session.log;
    this.#control = new ApiControl({
      manager: options.manager,
      session: options.session,
      defaultDir: options.defaultDir,
      ...(options.allowedDirs ? { allowedDirs: options.allowedDirs } : {}),
      ...(options.onSettings ? { onSettings: options.onSettings } : {}),
      ...(options.altSpeeds ? { altSpeeds: options.altSpeeds } : {}),
      ...(options.nextStart ? { nextStart: options.nextStart } : {}),
    });
  }

  get address(): { host: string; port: number } | undefined {
    return this.#address;
  }

  async start(): Promise<void> {
    const server = createServer({ maxHeaderSize: 16 * 1024 }, (req, res) => {
      // Work a request starts (reading a file) stops when its client goes away or the server stops.
      const ac = new AbortController();
      this.#inFlight.add(ac);
      res.once('close', () => {
        this.#inFlight.delete(ac);
        ac.abort();
      });
      this.#handle(req, res, ac.signal).catch((err: unknown) => this.#fail(req, res, err));
    });
    server.headersTimeout = 10_000;
    server.requestTimeout = 60_000;
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#o.port ?? 0, this.#o.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.#log.warn('API server error', { error: errorText(err) }));
    const a = server.address();
    if (a && typeof a === 'object') this.#address = { host: a.address, port: a.port };
    this.#wireEvents();
  }

  async stop(): Promise<void> {
    for (const off of this.#off.splice(0)) off();
    for (const ac of this.#inFlight) ac.abort();
    this.#inFlight.clear();
    if (this.#progressTimer) clearInterval(this.#progressTimer);
    for (const s of this.#streams) s.end();
    this.#streams.clear();
    const server = this.#server;
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }

  // ------------------------------------------------------------------------------------------------
  // Server-Sent Events

  #wireEvents(): void {
    const m = this.#o.manager;
    const send = (event: string, data: unknown): void => {
      const line = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
      for (const s of this.#streams) s.write(line);
    };
    const onAdded = (h: string): void => send('added', { infoHash: h });
    const onRemoved = (h: string): void => send('removed', { infoHash: h });
    const onStatus = (h: string, status: string): void => send('status', { infoHash: h, status });
    const onComplete = (h: string): void => send('complete', { infoHash: h });
    const onError = (h: string, message: string): void => send('error', { infoHash: h, message });
    m.on('torrent:added', onAdded);
    m.on('torrent:removed', onRemoved);
    m.on('torrent:status', onStatus);
    m.on('torrent:complete', onComplete);
    m.on('torrent:error', onError);
    this.#off.push(
      () => m.off('torrent:added', onAdded),
      () => m.off('torrent:removed', onRemoved),
      () => m.off('torrent:status', onStatus),
      () => m.off('torrent:complete', onComplete),
      () => m.off('torrent:error', onError),
    );
    this.#progressTimer = setInterval(() => {
      if (this.#streams.size === 0) return;
      send('progress', { torrents: m.list() });
    }, 1000);
  }

  // ------------------------------------------------------------------------------------------------

  #fail(req: IncomingMessage, res: ServerResponse, err: unknown): void {
    let status = 500;
    let code = 'ERR_INTERNAL';
    let message = 'internal error';
    if (err instanceof HttpError) ({ status, code, message } = err);
    else if (err instanceof ApiError || err instanceof ManagerError) {
      status = err.code === 'ERR_NOT_FOUND' ? 404 : err.code === 'ERR_CONFLICT' ? 409 : 400;
      code = err.code;
      message = err.message;
    } else if (err instanceof MetainfoError || err instanceof MagnetError) {
      status = 400;
      code = err.code;
      message = err.message;
    } else if (err instanceof Error) message = err.message.split('\n')[0]!;
    // The path without its query (a token may ride there); a 5xx is ours to look into, a 4xx the client's.
    const where = { method: req.method, path: (req.url ?? '').split('?')[0], status, code };
    if (status >= 500) this.#log.error('API request failed', { ...where, error: errorText(err) });
    else this.#log.info('API request refused', { ...where, error: message });
    if (res.headersSent) {
      res.destroy();
      return;
    }
    this.#json(res, status, { error: { code, message } });
  }

  #json(res: ServerResponse, status: number, body: unknown): void {
    const text = `${JSON.stringify(body)}\n`;
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(text),
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
    });
    res.end(text);
  }

  #checkHost(req: IncomingMessage): void {
    const host = req.headers.host;
    if (!host) throw new HttpError(400, 'ERR_HOST', 'missing Host header');
    const name = host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.replace(/:\d+$/, '');
    const loopback = name === 'localhost' || name === '::1' || (isIP(name) === 4 && name.startsWith('127.'));
    if (!loopback && !(this.#o.allowedHosts ?? []).includes(name)) {
      throw new HttpError(
        403,
        'ERR_HOST',
        `Host "${host}" is not allowed (loopback or a configured host only)`,
      );
    }
    const origin = req.headers.origin;
    if (origin !== undefined && !this.#ownOrigin(origin)) {
      throw new HttpError(
        403,
        'ERR_ORIGIN',
        `Origin ${JSON.stringify(origin)} is not allowed (only this daemon's own)`,
      );
    }
  }

  /** The HMAC-SHA256, keyed with the token, that signs a file's stream URL. */
  #signature(hex: string, index: number): string {
    return createHmac('sha256', this.#o.token).update(`${hex}/${index}`).digest('hex');
  }

  #signatureOk(hex: string, index: number, sig: string): boolean {
    const a = Buffer.from(sig);
    const b = Buffer.from(this.#signature(hex, index));
    return a.length === b.length && timingSafeEqual(a, b);
  }

  /** A URL that plays file `index` without the token header, on the Host the request came to. */
  #streamUrl(req: IncomingMessage, hex: string, index: number): string {
    return `http://${req.headers.host}/api/v1/torrents/${hex}/files/${index}/stream?sig=${this.#signature(hex, index)}`;
  }

  /**
   * True for the daemon's own origin: http, this server's port, and a name of this server (its
   * address, `localhost`, a configured host; any loopback address when it listens on all of them).
   * Another loopback port is another site (any local web app or dev server), so it is refused.
   */
  #ownOrigin(origin: string): boolean {
    let u: URL;
    try {
      u = new URL(origin);
    } catch {
      return false;
    }
    const port = Number(u.port || (u.protocol === 'https:' ? 443 : 80));
    if (u.protocol !== 'http:' || port !== this.#address?.port) return false;
    const h = u.hostname.replace(/^\[|\]$/g, '');
    const bound = this.#address.host;
    const wildcard = bound === '0.0.0.0' || bound === '::';
    return (
      h === bound ||
      h === 'localhost' ||
      (wildcard && (h === '::1' || (isIP(h) === 4 && h.startsWith('127.')))) ||
      (this.#o.allowedHosts ?? []).includes(h)
    );
  }

  #checkToken(req: IncomingMessage): void {
    const auth = req.headers.authorization;
    const given = auth?.startsWith('Bearer ') ? auth.slice(7).trim() : undefined;
    const a = Buffer.from(given ?? '');
    const b = Buffer.from(this.#o.token);
    if (a.length !== b.length || !timingSafeEqual(a, b)) {
      throw new HttpError(
        401,
        'ERR_TOKEN',
        'missing or wrong token (Authorization: Bearer <token from the state directory>)',
      );
    }
  }

  /**
   * The JSON object body of a request, at most `limit` bytes, checked against the route's declared
   * body schema (routes.ts, the same table the OpenAPI document is made from): a value of the wrong
   * type is a 400 that names it (`peers[0]: expected string, got 1`).
   */
  async #body(req: IncomingMessage, limit: number, schema?: Schema): Promise<Record<string, unknown>> {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) throw new HttpError(413, 'ERR_TOO_LARGE', `body over ${limit} bytes`);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > limit) throw new HttpError(413, 'ERR_TOO_LARGE', `body over ${limit} bytes`);
      chunks.push(chunk as Buffer);
    }
    if (size === 0) return {};
    let parsed: unknown;
    try {
      parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      throw new HttpError(400, 'ERR_JSON', 'body is not valid JSON');
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new HttpError(400, 'ERR_JSON', 'body must be a JSON object');
    }
    const wrong = schema ? schemaErrors(schema, parsed, SCHEMAS) : [];
    if (wrong.length > 0)
      throw new HttpError(400, 'ERR_BAD_REQUEST', wrong[0]!.replace(/^\$\./, '').replace(/^\$/, 'body'));
    return parsed as Record<string, unknown>;
  }

  async #handle(req: IncomingMessage, res: ServerResponse, signal: AbortSignal): Promise<void> {
    this.#checkHost(req);
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const method = req.method ?? 'GET';
    const page = method === 'GET' ? WEB_UI_FILES.get(path === '/' ? '/index.html' : path) : undefined;
    if (page) {
      // The web UI: public like any login page; it takes the token from the link the daemon prints
      // (or asks for it) and sends it in a header. Scripts and styles only from these files.
      res.writeHead(200, {
        'content-type': page.type,
        'content-length': Buffer.byteLength(page.body),
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
        'x-frame-options': 'DENY',
        'referrer-policy': 'no-referrer',
        'content-security-policy': WEB_UI_CSP,
      });
      res.end(page.body);
      return;
    }
    if (!path.startsWith(`${API_ROOT}/`))
      throw new HttpError(404, 'ERR_NOT_FOUND', `no route ${method} ${path}`);
    const found = matchRoute(method, path);
    if (found?.route.auth === 'token-or-signature') {
      // Players cannot send headers: a URL signed with the token (see #streamUrl) is enough.
      const hex = found.params.hash!;
      const sig = url.searchParams.get('sig');
      if (sig === null || !HEX40.test(hex)) this.#checkToken(req);
      else if (!this.#signatureOk(hex, Number(found.params.index), sig))
        throw new HttpError(
          403,
          'ERR_SIGNATURE',
          'the signature does not match this file (ask …/stream-url again)',
        );
    } else if (found?.route.auth !== 'none') this.#checkToken(req);
    // A torrent route with a malformed info hash is a 400, whichever route it would have been.
    const b = /^\/api\/v1\/torrents\/([^/]+)/.exec(path)?.[1];
    if (b !== undefined) ApiControl.infoHash(b);
    if (!found) throw new HttpError(404, 'ERR_NOT_FOUND', `no route ${method} ${path}`);
    const reply = await this.#handlers[found.key]({
      req,
      res,
      url,
      signal,
      hash: found.params.hash ?? '',
      index: Number(found.params.index ?? 0),
      body: (limit) => this.#body(req, limit, found.route.body),
    });
    if (reply) this.#json(res, reply.status ?? found.route.ok.status, reply.body);
  }

  /** What each route does: a control call, its reply (or a stream written to `res`). */
  readonly #handlers: Readonly<Record<RouteKey, Handler>> = {
    'GET /openapi.json': async () => ({ body: OPENAPI }),
    'GET /session': async () => ({ body: this.#control.sessionStats() }),
    'PUT /session/limits': async ({ body }) => ({
      body: await this.#control.setSessionLimits(await body(SMALL_BODY)),
    }),
    'PUT /session/settings': async ({ body }) => ({
      body: await this.#control.setSessionSettings(await body(SMALL_BODY)),
    }),
    'GET /events': async ({ req, res }) => {
      res.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-store',
        connection: 'keep-alive',
      });
      res.write(`event: hello\ndata: ${JSON.stringify(this.#control.list())}\n\n`);
      this.#streams.add(res);
      req.socket.setTimeout(0);
      res.on('close', () => this.#streams.delete(res));
      return undefined;
    },
    'GET /torrents': async () => ({ body: this.#control.list() }),
    'POST /torrents': async ({ body, signal }) => ({
      body: await this.#control.add(await body(this.#o.maxBodyBytes ?? 24 * 1024 * 1024), signal),
    }),
    'GET /torrents/{hash}': async ({ hash }) => ({ body: this.#control.detail(hash) }),
    'DELETE /torrents/{hash}': async ({ hash, url }) => {
      const del = url.searchParams.get('deleteData');
      return { body: await this.#control.remove(hash, del === '1' || del === 'true') };
    },
    'POST /torrents/{hash}/pause': async ({ hash }) => ({ body: await this.#control.pause(hash) }),
    'POST /torrents/{hash}/resume': async ({ hash }) => ({ body: await this.#control.resume(hash) }),
    'POST /torrents/{hash}/recheck': async ({ hash }) => ({ body: await this.#control.recheck(hash) }),
    'POST /torrents/{hash}/reannounce': async ({ hash }) => ({ body: this.#control.reannounce(hash) }),
    'POST /torrents/{hash}/move': async ({ body, hash }) => ({
      body: await this.#control.move(hash, await body(SMALL_BODY)),
    }),
    'PUT /torrents/{hash}/trackers': async ({ body, hash }) => ({
      body: await this.#control.setTrackers(hash, await body(SMALL_BODY)),
    }),
    'POST /torrents/{hash}/queue': async ({ body, hash }) => ({
      body: this.#control.moveInQueue(hash, await body(SMALL_BODY)),
    }),
    'POST /torrents/{hash}/ban': async ({ body, hash }) => ({
      body: this.#control.banPeer(hash, await body(SMALL_BODY)),
    }),
    'POST /torrents/{hash}/peers': async ({ body, hash }) => ({
      body: this.#control.addPeers(hash, await body(SMALL_BODY)),
    }),
    'PUT /torrents/{hash}/priorities': async ({ body, hash }) => ({
      body: await this.#control.setPriorities(hash, await body(SMALL_BODY)),
    }),
    'PUT /torrents/{hash}/limits': async ({ body, hash }) => ({
      body: await this.#control.setLimits(hash, await body(SMALL_BODY)),
    }),
    'GET /torrents/{hash}/files/{index}/stream-url': async ({ req, hash, index }) => {
      const { path } = this.#control.file(hash, index);
      return { body: { url: this.#streamUrl(req, hash, index), path } };
    },
    'GET /torrents/{hash}/files/{index}/stream': async ({ req, res, hash, index }) => {
      serveFile(req, res, this.#control.active(hash), index);
      return undefined;
    },
  };
}

interface HandlerContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  signal: AbortSignal;
  /** The `{hash}` of the path ('' when the route has none), checked. */
  hash: string;
  /** The `{index}` of the path (0 when the route has none). */
  index: number;
  /** Reads the JSON body (at most `limit` bytes), checked against the route's body schema. */
  body(limit: number): Promise<Record<string, unknown>>;
}

/** A route's work: the JSON reply (status: the route's own unless given), or none when it wrote `res`. */
type Handler = (ctx: HandlerContext) => Promise<{ status?: number; body: unknown } | undefined>;

/** The routes compiled to regular expressions, once. */
const COMPILED = (ROUTES as readonly RouteSpec[]).map((route) => {
  const names: string[] = [];
  const source = `${API_ROOT}${route.path}`
    .replace(/[.*+?^$()|[\]\\]/g, '\\$&')
    .replace(/\\?\{(\w+)\\?\}/g, (_, name: string) => {
      names.push(name);
      return `(${PATH_PARAMS[name]!.pattern})`;
    });
  return { route, key: routeKey(route) as RouteKey, names, re: new RegExp(`^${source}$`) };
});

/** The route of a request (HEAD as GET), with its path parameters. */
function matchRoute(
  method: string,
  path: string,
): { route: RouteSpec; key: RouteKey; params: Record<string, string> } | undefined {
  const m = method === 'HEAD' ? 'GET' : method;
  for (const c of COMPILED) {
    if (c.route.method !== m) continue;
    // HEAD only where a route serves bytes (the stream): elsewhere it is no route, as before.
    if (method === 'HEAD' && c.route.ok.stream === undefined) continue;
    const found = c.re.exec(path);
    if (!found) continue;
    const params: Record<string, string> = {};
    c.names.forEach((n, i) => {
      params[n] = found[i + 1]!;
    });
    return { route: c.route, key: c.key, params };
  }
  return undefined;
}
