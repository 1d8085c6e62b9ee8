// The control API: HTTP with JSON, on 127.0.0.1 by default, for the CLI, scripts and the web UI.
//
// Safety: every request but the OpenAPI description carries the token the daemon keeps in its state
// directory (`Authorization: Bearer <token>`); the Host header must name a loopback address or a
// configured host (DNS rebinding); a cross-site Origin is refused; no cookies are read or set; request
// bodies are capped. Errors are JSON `{ "error": { "code", "message" } }` with a 4xx/5xx status.

import { createHmac, timingSafeEqual } from 'node:crypto';
import { realpath } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { parseAddress } from '../protocol/address.js';
import { MagnetError, MetainfoError } from '../protocol/errors.js';
import { formatMagnet, isMagnet, parseMagnet } from '../protocol/magnet.js';
import { magnetHashes } from '../protocol/metainfo.js';
import { notContacted } from '../session/diagnostics.js';
import { ManagerError, type TorrentManager } from '../session/manager.js';
import type { Session } from '../session/session.js';
import type { SessionSettings } from '../session/state-store.js';
import { parseTorrentBytes, readTorrentBytes, TorrentFileError } from '../session/torrent-file.js';
import { isInside } from '../storage/file-storage.js';
import { serveFile } from '../stream/http-server.js';
import { OPENAPI } from './openapi.js';
import { WEB_UI_CSP, WEB_UI_FILES } from './web-ui.js';

export interface ApiServerOptions {
  manager: TorrentManager;
  session: Session;
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
  /** Called with the session settings a request changed (PUT /session/limits), to keep them. */
  onSettings?: (changed: Partial<SessionSettings>) => Promise<void>;
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
const STREAM_ROUTE = /^\/api\/v1\/torrents\/([0-9a-f]{40})\/files\/(\d{1,9})\/stream$/;
const SMALL_BODY = 64 * 1024;

export class ApiServer {
  readonly #o: ApiServerOptions;
  #server: Server | undefined;
  readonly #streams = new Set<ServerResponse>();
  #progressTimer: NodeJS.Timeout | undefined;
  #address: { host: string; port: number } | undefined;
  readonly #off: (() => void)[] = [];
  readonly #inFlight = new Set<AbortController>();

  constructor(options: ApiServerOptions) {
    this.#o = options;
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
      this.#handle(req, res, ac.signal).catch((err: unknown) => this.#fail(res, err));
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
    server.on('error', () => undefined);
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

  #fail(res: ServerResponse, err: unknown): void {
    let status = 500;
    let code = 'ERR_INTERNAL';
    let message = 'internal error';
    if (err instanceof HttpError) ({ status, code, message } = err);
    else if (err instanceof ManagerError) {
      status = err.code === 'ERR_NOT_FOUND' ? 404 : err.code === 'ERR_CONFLICT' ? 409 : 400;
      code = err.code;
      message = err.message;
    } else if (err instanceof MetainfoError || err instanceof MagnetError) {
      status = 400;
      code = err.code;
      message = err.message;
    } else if (err instanceof Error) message = err.message.split('\n')[0]!;
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

  async #body(req: IncomingMessage, limit: number): Promise<Record<string, unknown>> {
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
    if (method === 'GET' && path === '/api/v1/openapi.json') {
      this.#json(res, 200, OPENAPI);
      return;
    }
    if (!path.startsWith('/api/v1/')) throw new HttpError(404, 'ERR_NOT_FOUND', `no route ${method} ${path}`);
    const stream = STREAM_ROUTE.exec(path);
    if (stream && (method === 'GET' || method === 'HEAD')) {
      // Players cannot send headers: a URL signed with the token (see #streamUrl) is enough.
      const [, hex, index] = stream as unknown as [string, string, string];
      const sig = url.searchParams.get('sig');
      if (sig === null) this.#checkToken(req);
      else if (!this.#signatureOk(hex, Number(index), sig))
        throw new HttpError(
          403,
          'ERR_SIGNATURE',
          'the signature does not match this file (ask …/stream-url again)',
        );
      const t = this.#o.manager.torrentOf(hex);
      if (!t) {
        this.#o.manager.view(hex); // 404 when the daemon does not have it
        throw new HttpError(409, 'ERR_CONFLICT', `torrent ${hex} is not active (paused or queued)`);
      }
      serveFile(req, res, t, Number(index));
      return;
    }
    this.#checkToken(req);
    const m = this.#o.manager;
    const parts = path.slice('/api/v1/'.length).split('/');
    const [a, b, c] = parts;

    if (a === 'session' && b === undefined && method === 'GET') {
      this.#json(res, 200, this.#sessionStats());
      return;
    }
    if (a === 'session' && b === 'limits' && method === 'PUT') {
      const body = await this.#body(req, SMALL_BODY);
      const s = this.#o.session;
      const up = optInt(body, 'uploadLimitBytesPerSec');
      const down = optInt(body, 'downloadLimitBytesPerSec');
      if (up !== undefined) s.uploadLimit.setRate(up);
      if (down !== undefined) s.downloadLimit.setRate(down);
      const maxActiveDownloads = optInt(body, 'maxActiveDownloads');
      const maxActiveSeeds = optInt(body, 'maxActiveSeeds');
      m.setQueueLimits({
        ...(maxActiveDownloads !== undefined ? { maxActiveDownloads } : {}),
        ...(maxActiveSeeds !== undefined ? { maxActiveSeeds } : {}),
      });
      const maxConnections = optInt(body, 'maxConnections');
      if (maxConnections !== undefined) s.connectionBudget.max = maxConnections;
      // Kept in the state directory: a restart brings them back.
      await this.#o.onSettings?.({
        ...(up !== undefined ? { uploadLimitBytesPerSec: up } : {}),
        ...(down !== undefined ? { downloadLimitBytesPerSec: down } : {}),
        ...(maxActiveDownloads !== undefined ? { maxActiveDownloads } : {}),
        ...(maxActiveSeeds !== undefined ? { maxActiveSeeds } : {}),
        ...(maxConnections !== undefined ? { maxConnections } : {}),
      });
      this.#json(res, 200, this.#sessionStats());
      return;
    }
    if (a === 'events' && b === undefined && method === 'GET') {
      res.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-store',
        connection: 'keep-alive',
      });
      res.write(`event: hello\ndata: ${JSON.stringify({ torrents: m.list() })}\n\n`);
      this.#streams.add(res);
      req.socket.setTimeout(0);
      res.on('close', () => this.#streams.delete(res));
      return;
    }
    if (a === 'torrents' && b === undefined) {
      if (method === 'GET') {
        this.#json(res, 200, { torrents: m.list() });
        return;
      }
      if (method === 'POST') {
        const body = await this.#body(req, this.#o.maxBodyBytes ?? 24 * 1024 * 1024);
        const hex = await this.#add(body, signal);
        this.#json(res, 201, { infoHash: hex, torrent: m.view(hex) });
        return;
      }
    }
    if (a === 'torrents' && b !== undefined) {
      if (!HEX40.test(b))
        throw new HttpError(400, 'ERR_BAD_REQUEST', `"${b}" is not a 40-digit hex info hash`);
      if (c === undefined && method === 'GET') {
        this.#json(res, 200, this.#detail(b));
        return;
      }
      if (c === undefined && method === 'DELETE') {
        const del = url.searchParams.get('deleteData');
        const deleteData = del === '1' || del === 'true';
        const report = await m.remove(b, { deleteData });
        // `deleted`: what went; `kept`: what stayed and why (not created by this torrent, a symlink…).
        this.#json(res, 200, { removed: b, deletedData: deleteData, ...report });
        return;
      }
      if (method === 'POST' && (c === 'pause' || c === 'resume' || c === 'recheck')) {
        await m[c](b);
        this.#json(res, 200, m.view(b));
        return;
      }
      const d = parts[3];
      if (
        method === 'GET' &&
        c === 'files' &&
        d !== undefined &&
        /^\d{1,9}$/.test(d) &&
        parts[4] === 'stream-url'
      ) {
        const files = m.metainfoOf(b)?.files;
        if (!files) m.view(b); // 404 for an unknown torrent
        const f = files?.[Number(d)];
        if (!f || f.padding) throw new HttpError(404, 'ERR_NOT_FOUND', `torrent ${b} has no file ${d}`);
        this.#json(res, 200, { url: this.#streamUrl(req, b, Number(d)), path: f.path.join('/') });
        return;
      }
      if (method === 'PUT' && c === 'priorities') {
        const body = await this.#body(req, SMALL_BODY);
        if (body.files !== undefined || body.priority !== undefined) {
          // Some files only: { files: [indexes], priority: n }.
          const f = body.files;
          const n = body.priority;
          if (
            !Array.isArray(f) ||
            !f.every((x) => Number.isInteger(x)) ||
            !Number.isInteger(n) ||
            (n as number) < 0 ||
            (n as number) > 7
          )
            throw new HttpError(
              400,
              'ERR_BAD_REQUEST',
              'files/priority: expected an array of file indexes and a priority from 0 (skip) to 7 (high)',
            );
          await m.setFilePriority(b, f as number[], n as number);
          this.#json(res, 200, this.#detail(b));
          return;
        }
        const p = body.priorities;
        if (!Array.isArray(p) || !p.every((x) => typeof x === 'number')) {
          throw new HttpError(
            400,
            'ERR_BAD_REQUEST',
            'priorities: expected an array of numbers (0 skip … 4 normal … 7 high)',
          );
        }
        await m.setFilePriorities(b, p as number[]);
        this.#json(res, 200, this.#detail(b));
        return;
      }
      if (method === 'POST' && c === 'reannounce') {
        m.reannounce(b);
        this.#json(res, 200, m.view(b));
        return;
      }
      if (method === 'POST' && c === 'move') {
        const body = await this.#body(req, SMALL_BODY);
        // The same allow-list as an add: the API never writes outside the folders the user allowed.
        await m.move(b, await this.#allowedDir(body.dir));
        this.#json(res, 200, m.view(b));
        return;
      }
      if (method === 'PUT' && c === 'limits') {
        const body = await this.#body(req, SMALL_BODY);
        const up = optInt(body, 'uploadLimitBytesPerSec');
        const down = optInt(body, 'downloadLimitBytesPerSec');
        const ratio = optNullableNumber(body, 'seedRatio');
        const time = optNullableNumber(body, 'seedTimeSec');
        await m.setLimits(b, {
          ...(up !== undefined ? { uploadLimitBytesPerSec: up } : {}),
          ...(down !== undefined ? { downloadLimitBytesPerSec: down } : {}),
          ...(ratio !== undefined ? { seedRatio: ratio } : {}),
          ...(time !== undefined ? { seedTimeSec: time } : {}),
        });
        this.#json(res, 200, this.#detail(b));
        return;
      }
    }
    throw new HttpError(404, 'ERR_NOT_FOUND', `no route ${method} ${path}`);
  }

  async #add(body: Record<string, unknown>, signal: AbortSignal): Promise<string> {
    const m = this.#o.manager;
    const dir = body.dir === undefined ? this.#o.defaultDir : await this.#allowedDir(body.dir);
    const peers = Array.isArray(body.peers)
      ? body.peers.map((p) => {
          const a = typeof p === 'string' ? parseAddress(p) : undefined;
          if (!a) throw new HttpError(400, 'ERR_BAD_REQUEST', `peers: "${String(p)}" is not HOST:PORT`);
          return a;
        })
      : [];
    const common = {
      dir,
      peers,
      paused: body.paused === true,
      ...(body.sequential === true ? { sequential: true } : {}),
      // Adding what is there answers 409: the new folder and settings would be silently ignored.
      refuseExisting: true,
      ...(Array.isArray(body.priorities) ? { priorities: body.priorities as number[] } : {}),
      ...(optInt(body, 'uploadLimitBytesPerSec') !== undefined
        ? { uploadLimitBytesPerSec: optInt(body, 'uploadLimitBytesPerSec')! }
        : {}),
      ...(optInt(body, 'downloadLimitBytesPerSec') !== undefined
        ? { downloadLimitBytesPerSec: optInt(body, 'downloadLimitBytesPerSec')! }
        : {}),
      ...(typeof body.seedRatio === 'number' ? { seedRatio: body.seedRatio } : {}),
      ...(typeof body.seedTimeSec === 'number' ? { seedTimeSec: body.seedTimeSec } : {}),
    };
    if (typeof body.magnet === 'string') {
      if (!isMagnet(body.magnet)) throw new HttpError(400, 'ERR_BAD_REQUEST', 'magnet: not a magnet link');
      return m.add({ ...common, magnet: parseMagnet(body.magnet) });
    }
    let bytes: Buffer;
    if (typeof body.torrent === 'string') bytes = Buffer.from(body.torrent, 'base64');
    else if (typeof body.path === 'string') {
      if (isMagnet(body.path)) return m.add({ ...common, magnet: parseMagnet(body.path) });
      try {
        // A regular file of at most the torrent-size cap, read until the request goes away.
        bytes = await readTorrentBytes(body.path, { signal });
      } catch (err) {
        if (signal.aborted) throw err;
        const why = err instanceof TorrentFileError ? err.message : 'cannot read';
        throw new HttpError(400, 'ERR_BAD_REQUEST', `path: ${JSON.stringify(body.path)}: ${why}`);
      }
    } else
      throw new HttpError(
        400,
        'ERR_BAD_REQUEST',
        'give "torrent" (base64 .torrent bytes), "magnet" or "path"',
      );
    return m.add({ ...common, metainfo: parseTorrentBytes(bytes) });
  }

  /** `dir` when it is an absolute folder inside an allowed one (symlinks resolved); 400 otherwise. */
  async #allowedDir(dir: unknown): Promise<string> {
    if (typeof dir !== 'string' || dir === '' || dir.includes('\0') || !isAbsolute(dir)) {
      throw new HttpError(
        400,
        'ERR_BAD_REQUEST',
        `dir: expected an absolute folder, got ${JSON.stringify(dir)}`,
      );
    }
    const allowed = [this.#o.defaultDir, ...(this.#o.allowedDirs ?? [])].map((d) => resolve(d));
    const real = await realLocation(resolve(dir));
    for (const a of allowed) {
      const realA = await realLocation(a);
      if (real === realA || isInside(realA, real)) return resolve(dir);
    }
    throw new HttpError(
      400,
      'ERR_BAD_REQUEST',
      `dir: ${JSON.stringify(dir)} is not inside an allowed folder (${allowed.join(', ')}; the daemon allows more with --allow-dir)`,
    );
  }

  #sessionStats() {
    const s = this.#o.session;
    const list = this.#o.manager.list();
    const sum = (k: 'downloadRate' | 'uploadRate' | 'uploadedBytes' | 'downloadedBytes' | 'peers'): number =>
      list.reduce((n, t) => n + t[k], 0);
    const count = (status: string): number => list.filter((t) => t.status === status).length;
    return {
      port: s.port,
      peerId: s.peerId.toString('latin1').slice(0, 8),
      encryption: s.encryption,
      torrents: list.length,
      downloading: count('downloading'),
      seeding: count('seeding'),
      paused: count('paused'),
      queued: count('queued'),
      downloadRate: sum('downloadRate'),
      uploadRate: sum('uploadRate'),
      downloadedBytes: sum('downloadedBytes'),
      uploadedBytes: sum('uploadedBytes'),
      peers: sum('peers'),
      dhtNodes: s.dht?.nodeCount ?? 0,
      limits: {
        uploadLimitBytesPerSec: s.uploadLimit.rateBytesPerSec,
        downloadLimitBytesPerSec: s.downloadLimit.rateBytesPerSec,
        maxActiveDownloads: this.#o.manager.maxActiveDownloads,
        maxActiveSeeds: this.#o.manager.maxActiveSeeds,
        maxConnections: s.connectionBudget.max,
      },
    };
  }

  #detail(hex: string) {
    const m = this.#o.manager;
    const view = m.view(hex);
    const meta = m.metainfoOf(hex);
    const t = m.torrentOf(hex);
    const record = m.recordOf(hex);
    const progress = t?.fileProgress();
    return {
      ...view,
      pieceLength: meta?.pieceLength ?? null,
      pieceCount: meta?.pieceCount ?? null,
      pieces: t ? Buffer.from(t.bitfield.buffer).toString('base64') : (record?.resume?.pieces ?? null),
      private: meta?.private ?? false,
      comment: meta?.comment ?? null,
      magnet: formatMagnet({
        ...(meta ? magnetHashes(meta) : { infoHash: Buffer.from(hex, 'hex') }),
        name: view.name,
        trackers: (meta?.announceList ?? []).flat(),
      }),
      files: (meta?.files ?? [])
        .map((f, i) => ({
          index: i,
          path: f.path.join('/'),
          length: f.length,
          padding: f.padding,
          priority: record?.priorities?.[i] ?? 4,
          verifiedBytes: progress?.[i] ?? 0,
        }))
        .filter((f) => !f.padding),
      peers: t?.peers() ?? [],
      encryptionHints: t?.encryptionHints() ?? [],
      // BEP 19: each web seed's URL, state (active, idle, backoff, banned) with the reason, bytes downloaded.
      webSeeds:
        t?.webSeeds() ??
        (meta?.urlList ?? []).map((url) => ({
          url,
          state: 'idle',
          reason: null,
          retryAtMs: null,
          downloadedBytes: 0,
          downloadRate: 0,
          failures: 0,
        })),
      // Each tracker with its last result or error and the next announce (not running: not contacted).
      trackers: this.#o.session.diagnosticsOf(hex)?.trackers() ?? notContacted(meta?.announceList ?? []),
      limits: {
        uploadLimitBytesPerSec: record?.uploadLimitBytesPerSec ?? 0,
        downloadLimitBytesPerSec: record?.downloadLimitBytesPerSec ?? 0,
        seedRatio: record?.seedRatio ?? null,
        seedTimeSec: record?.seedTimeSec ?? null,
      },
    };
  }
}

/** The real path of `path`: its deepest existing ancestor through realpath, the rest appended. */
async function realLocation(path: string): Promise<string> {
  const rest: string[] = [];
  for (let p = path; ; p = dirname(p)) {
    try {
      return join(await realpath(p), ...rest.reverse());
    } catch {
      if (dirname(p) === p) return path;
      rest.push(basename(p));
    }
  }
}

function optInt(body: Record<string, unknown>, key: string): number | undefined {
  const v = body[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new HttpError(400, 'ERR_BAD_REQUEST', `${key}: expected a whole number ≥ 0`);
  }
  return v;
}

function optNullableNumber(body: Record<string, unknown>, key: string): number | null | undefined {
  const v = body[key];
  if (v === undefined || v === null) return v as null | undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
    throw new HttpError(400, 'ERR_BAD_REQUEST', `${key}: expected a number ≥ 0 or null`);
  }
  return v;
}
