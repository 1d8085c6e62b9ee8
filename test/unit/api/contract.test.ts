// The API from one schema (issue 13, issue 17 item 5): every route of the route table answers what
// the table declares (status and, for JSON, a body matching its schema); the OpenAPI document is the
// table's; and the control layer is callable without HTTP (its errors are typed, not statuses).
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ApiControl } from '../../../src/api/control.js';
import { OPENAPI } from '../../../src/api/openapi.js';
import { API_ROOT, ROUTES, type RouteSpec, routeKey, SCHEMAS } from '../../../src/api/routes.js';
import { schemaErrors } from '../../../src/api/schema.js';
import { ApiError } from '../../../src/api/types.js';
import {
  apiServerIn,
  makeTorrent,
  type RawReply,
  rawRequest,
  type SampleTorrent,
  tempDir,
} from './helpers.js';

let root: string;
let cleanup: () => Promise<void>;
let api: Awaited<ReturnType<typeof apiServerIn>>;
let sample: SampleTorrent;

before(async () => {
  ({ dir: root, cleanup } = await tempDir('api-contract'));
  sample = await makeTorrent(root, 'k', [70_000, 30_000], { announce: [['http://127.0.0.1:9/announce']] });
  api = await apiServerIn(root);
});

after(async () => {
  await api.stop();
  await cleanup();
});

function call(method: string, path: string, body?: unknown): Promise<RawReply> {
  return rawRequest(api.port, method, `${API_ROOT}${path}`, {
    headers: { authorization: `Bearer ${api.token}`, 'content-type': 'application/json' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
}

/** The status and content type of a reply that does not end (the event stream), then it is closed. */
function head(path: string): Promise<{ status: number; type: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: api.port,
        path: `${API_ROOT}${path}`,
        headers: { host: `127.0.0.1:${api.port}`, authorization: `Bearer ${api.token}` },
      },
      (res) => {
        resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']) });
        req.destroy();
      },
    );
    req.on('error', reject);
    req.end();
  });
}

test('every route answers its declared status with a body that matches its schema', {
  timeout: 30_000,
}, async () => {
  const hex = sample.metainfo.infoHashHex;
  const moved = join(root, 'moved');
  await mkdir(moved, { recursive: true });
  // One real request per route, in an order that keeps the torrent there until DELETE.
  const requests: [key: string, method: string, path: string, body?: unknown][] = [
    ['GET /openapi.json', 'GET', '/openapi.json'],
    ['GET /session', 'GET', '/session'],
    ['PUT /session/limits', 'PUT', '/session/limits', { uploadLimitBytesPerSec: 0 }],
    [
      'PUT /session/settings',
      'PUT',
      '/session/settings',
      {
        altSpeed: {
          uploadLimitBytesPerSec: 1000,
          schedule: { enabled: false, days: [1, 2], beginMinute: 60, endMinute: 30 },
        },
        pex: true,
      },
    ],
    [
      'POST /torrents',
      'POST',
      '/torrents',
      { torrent: sample.torrentBytes.toString('base64'), dir: sample.dataDir },
    ],
    ['GET /torrents', 'GET', '/torrents'],
    ['GET /torrents/{hash}', 'GET', `/torrents/${hex}`],
    ['PUT /torrents/{hash}/priorities', 'PUT', `/torrents/${hex}/priorities`, { priorities: [4, 7] }],
    [
      'PUT /torrents/{hash}/limits',
      'PUT',
      `/torrents/${hex}/limits`,
      { seedRatio: 2, uploadLimitBytesPerSec: 0 },
    ],
    ['POST /torrents/{hash}/reannounce', 'POST', `/torrents/${hex}/reannounce`],
    ['POST /torrents/{hash}/peers', 'POST', `/torrents/${hex}/peers`, { peers: ['127.0.0.1:9', '[::1]:9'] }],
    ['POST /torrents/{hash}/queue', 'POST', `/torrents/${hex}/queue`, { move: 'top' }],
    ['POST /torrents/{hash}/ban', 'POST', `/torrents/${hex}/ban`, { peer: '127.0.0.1:9' }],
    [
      'PUT /torrents/{hash}/trackers',
      'PUT',
      `/torrents/${hex}/trackers`,
      { tiers: [['http://127.0.0.1:9/announce'], ['udp://127.0.0.1:9']] },
    ],
    ['GET /torrents/{hash}/files/{index}/stream-url', 'GET', `/torrents/${hex}/files/1/stream-url`],
    ['POST /torrents/{hash}/pause', 'POST', `/torrents/${hex}/pause`],
    ['POST /torrents/{hash}/move', 'POST', `/torrents/${hex}/move`, { dir: moved }],
    ['POST /torrents/{hash}/resume', 'POST', `/torrents/${hex}/resume`],
    ['POST /torrents/{hash}/recheck', 'POST', `/torrents/${hex}/recheck`],
  ];
  const seen = new Set<string>();
  for (const [key, method, path, body] of requests) {
    const route = (ROUTES as readonly RouteSpec[]).find((r) => routeKey(r) === key);
    assert.ok(route, `${key} is a route`);
    const r = await call(method, path, body);
    assert.equal(r.status, route.ok.status, `${key}: status (${r.text.slice(0, 200)})`);
    assert.deepEqual(
      schemaErrors(route.ok.schema ?? {}, r.json, SCHEMAS),
      [],
      `${key}: the reply matches its schema`,
    );
    seen.add(key);
  }
  // The byte routes: the event stream, and a file through its signed URL once the torrent runs again.
  const events = await head('/events');
  assert.deepEqual(events, { status: 200, type: 'text/event-stream' });
  seen.add('GET /events');
  const urlReply = await call('GET', `/torrents/${hex}/files/1/stream-url`);
  const signed = new URL((urlReply.json as { url: string }).url);
  for (let i = 0; i < 200 && api.manager.torrentOf(hex) === undefined; i++)
    await new Promise((r) => setTimeout(r, 25));
  const file = await rawRequest(api.port, 'GET', `${signed.pathname}${signed.search}`);
  assert.equal(file.status, 200);
  assert.equal(Buffer.byteLength(file.text, 'latin1') > 0, true);
  seen.add('GET /torrents/{hash}/files/{index}/stream');
  const del = (ROUTES as readonly RouteSpec[]).find((r) => routeKey(r) === 'DELETE /torrents/{hash}')!;
  const removed = await call('DELETE', `/torrents/${hex}`);
  assert.equal(removed.status, del.ok.status);
  assert.deepEqual(schemaErrors(del.ok.schema!, removed.json, SCHEMAS), []);
  seen.add('DELETE /torrents/{hash}');
  assert.deepEqual(
    (ROUTES as readonly RouteSpec[]).map(routeKey).filter((k) => !seen.has(k)),
    [],
    'every route of the table was called',
  );
  // Errors have the Error schema.
  const bad = await call('GET', `/torrents/${'0'.repeat(40)}`);
  assert.equal(bad.status, 404);
  assert.deepEqual(schemaErrors(SCHEMAS.Error, bad.json, SCHEMAS), []);
});

test('the OpenAPI document is generated from the table: one operation per route, the same schemas', () => {
  const ops = Object.entries(OPENAPI.paths).flatMap(([p, o]) =>
    Object.keys(o)
      .filter((k) => k !== 'parameters')
      .map((m) => `${m.toUpperCase()} ${p.slice(API_ROOT.length)}`),
  );
  assert.deepEqual(ops.sort(), (ROUTES as readonly RouteSpec[]).map(routeKey).sort());
  assert.equal(OPENAPI.components.schemas, SCHEMAS);
});

test('the control layer runs without HTTP: checks its input and throws typed errors', async () => {
  const control = new ApiControl({ manager: api.manager, session: api.session, defaultDir: root });
  assert.throws(
    () => ApiControl.infoHash('xyz'),
    (e: unknown) => e instanceof ApiError && e.code === 'ERR_BAD_REQUEST',
  );
  await assert.rejects(
    control.add(
      { dir: '/elsewhere', magnet: 'magnet:?xt=urn:btih:' + '1'.repeat(40) },
      new AbortController().signal,
    ),
    (e: unknown) =>
      e instanceof ApiError && e.code === 'ERR_BAD_REQUEST' && /not inside an allowed folder/.test(e.message),
  );
  await assert.rejects(
    control.setSessionLimits({ maxConnections: -1 }),
    (e: unknown) => e instanceof ApiError,
  );
  const stats = control.sessionStats();
  assert.deepEqual(schemaErrors(SCHEMAS.SessionStats, stats, SCHEMAS), []);
  assert.equal(stats.port, api.session.port);
});
