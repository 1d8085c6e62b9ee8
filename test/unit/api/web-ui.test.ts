// The web UI page: served at / without a token (it asks for one), locked down by its headers, and
// it talks to the API only with the token in a header.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ApiServer } from '../../../src/api/server.js';
import { TorrentManager } from '../../../src/session/manager.js';
import type { Session } from '../../../src/session/session.js';
import { loopbackSession, rawRequest, tempDir } from './helpers.js';

let session: Session;
let manager: TorrentManager;
let server: ApiServer;
let cleanup: () => Promise<void>;
let port: number;

before(async () => {
  const t = await tempDir('webui');
  cleanup = t.cleanup;
  session = await loopbackSession();
  manager = new TorrentManager({ session });
  server = new ApiServer({ manager, session, token: 'a'.repeat(64), defaultDir: t.dir });
  await server.start();
  port = server.address!.port;
});

after(async () => {
  await server.stop();
  await manager.stop();
  await session.stop();
  await cleanup();
});

test('GET / serves the page without a token, with a CSP, no framing and no cookie', async () => {
  const r = await rawRequest(port, 'GET', '/');
  assert.equal(r.status, 200);
  assert.match(String(r.headers['content-type']), /^text\/html/);
  assert.match(String(r.headers['content-security-policy']), /default-src 'self'/);
  assert.equal(r.headers['x-frame-options'], 'DENY');
  assert.equal(r.headers['set-cookie'], undefined);
  assert.match(r.text, /<title>bitswarm<\/title>/);
  // The token travels in the Authorization header, not in URLs or cookies.
  assert.match(r.text, /authorization: 'Bearer ' \+ token/);
  assert.doesNotMatch(r.text, /document\.cookie|new EventSource/);
});

test('the page is still subject to the Host check (DNS rebinding)', async () => {
  const r = await rawRequest(port, 'GET', '/', { headers: { host: 'evil.example' } });
  assert.equal(r.status, 403);
});

test('the API behind the page still needs the token', async () => {
  const r = await rawRequest(port, 'GET', '/api/v1/torrents');
  assert.equal(r.status, 401);
  const ok = await rawRequest(port, 'GET', '/api/v1/torrents', {
    headers: { authorization: `Bearer ${'a'.repeat(64)}` },
  });
  assert.equal(ok.status, 200);
  assert.deepEqual(ok.json, { torrents: [] });
});
