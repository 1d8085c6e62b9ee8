// The web UI page: served at / without a token (it asks for one), locked down by its headers, and
// it talks to the API only with the token in a header.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Script } from 'node:vm';
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
  const csp = String(r.headers['content-security-policy']);
  assert.match(csp, /default-src 'self'/);
  assert.match(csp, /script-src 'self'/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/, 'no inline code runs');
  assert.equal(r.headers['x-frame-options'], 'DENY');
  assert.equal(r.headers['set-cookie'], undefined);
  assert.match(r.text, /<title>bitswarm<\/title>/);
  assert.match(r.text, /<script src="\/app\.js" defer><\/script>/);
  assert.doesNotMatch(r.text, /<script>|<style>| style="/, 'nothing inline');
});

test('the script and the style sheet are served beside it; the script parses', async () => {
  const js = await rawRequest(port, 'GET', '/app.js');
  assert.equal(js.status, 200);
  assert.match(String(js.headers['content-type']), /^text\/javascript/);
  assert.doesNotThrow(() => new Script(js.text, { filename: 'app.js' }));
  // The token travels in the Authorization header, not in URLs or cookies.
  assert.match(js.text, /authorization: 'Bearer ' \+ token/);
  assert.doesNotMatch(js.text, /document\.cookie|new EventSource/);
  const css = await rawRequest(port, 'GET', '/app.css');
  assert.equal(css.status, 200);
  assert.match(String(css.headers['content-type']), /^text\/css/);
  assert.match(css.text, /prefers-color-scheme: dark/);
  assert.equal((await rawRequest(port, 'POST', '/app.js')).status, 404);
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
