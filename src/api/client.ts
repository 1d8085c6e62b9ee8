// A small client of the control API, used by the CLI's daemon commands. Its calls are typed by the
// route table (routes.ts): a route's key names what its body may hold and what its reply holds.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RouteBody, RouteKey, RouteReply } from './routes.js';

export class ApiClientError extends Error {
  override readonly name = 'ApiClientError';
  readonly code: string;
  readonly status: number;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export interface DaemonAddress {
  host: string;
  port: number;
}

/** Where a daemon with this state directory listens, and its token. */
export async function findDaemon(
  stateDir: string,
  api?: DaemonAddress,
): Promise<{ address: DaemonAddress; token: string }> {
  let token: string;
  try {
    token = (await readFile(join(stateDir, 'api-token'), 'utf8')).trim();
  } catch {
    throw new ApiClientError(
      0,
      'ERR_NO_DAEMON',
      `no daemon state in ${stateDir} (start one with: bitswarm daemon --state ${stateDir})`,
    );
  }
  if (api) return { address: api, token };
  try {
    const a = JSON.parse(await readFile(join(stateDir, 'api.json'), 'utf8')) as DaemonAddress;
    if (typeof a.host === 'string' && typeof a.port === 'number') return { address: a, token };
  } catch {
    // fall through
  }
  throw new ApiClientError(
    0,
    'ERR_NO_DAEMON',
    `no daemon address in ${stateDir}/api.json (is the daemon running?)`,
  );
}

export class ApiClient {
  readonly #base: string;
  readonly #token: string;

  constructor(address: DaemonAddress, token: string) {
    const host = address.host.includes(':') ? `[${address.host}]` : address.host;
    this.#base = `http://${host}:${address.port}/api/v1`;
    this.#token = token;
  }

  /**
   * Calls a route by its key (`'GET /torrents/{hash}'`), its path parameters filled from `params`;
   * resolves with its reply, rejects with an ApiClientError (the daemon's one-line message).
   */
  call<K extends RouteKey>(
    key: K,
    o: { params?: Readonly<Record<string, string | number>>; query?: string; body?: RouteBody<K> } = {},
  ): Promise<RouteReply<K>> {
    const space = key.indexOf(' ');
    const path = key.slice(space + 1).replace(/\{(\w+)\}/g, (_, name: string) => {
      const v = o.params?.[name];
      if (v === undefined) throw new Error(`${key}: no value for {${name}}`);
      return encodeURIComponent(String(v));
    });
    return this.#request(key.slice(0, space), `${path}${o.query ? `?${o.query}` : ''}`, o.body) as Promise<
      RouteReply<K>
    >;
  }

  async #request(method: string, path: string, body?: unknown): Promise<unknown> {
    let res: Response;
    try {
      res = await fetch(`${this.#base}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.#token}`,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    } catch (err) {
      throw new ApiClientError(
        0,
        'ERR_NO_DAEMON',
        `cannot reach the daemon at ${this.#base}: ${((err as Error).cause as Error | undefined)?.message ?? (err as Error).message}`,
      );
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      throw new ApiClientError(res.status, 'ERR_BAD_REPLY', `daemon replied ${res.status} with non-JSON`);
    }
    if (!res.ok) {
      const e = (json as { error?: { code?: string; message?: string } }).error;
      throw new ApiClientError(res.status, e?.code ?? 'ERR_API', e?.message ?? `HTTP ${res.status}`);
    }
    return json;
  }
}
