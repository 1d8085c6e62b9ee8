// `bitswarm daemon` prints the web UI's log-in link: the daemon's own address, the token of its
// state directory in the fragment (never sent to the server), and the page at that address.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { bitswarmNodeArgs } from '../../interop/helpers.js';
import { rawRequest, tempDir } from '../api/helpers.js';

test('the daemon prints a link that logs the browser in', { timeout: 30_000 }, async () => {
  const { dir, cleanup } = await tempDir('login-link');
  const state = join(dir, 'state');
  const args = ['daemon', '--state', state, '-d', join(dir, 'dl'), '--bind', '127.0.0.1', '--port', '0'];
  const child = spawn(process.execPath, bitswarmNodeArgs([...args, '--no-dht', '--no-lsd']), {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  try {
    let err = '';
    child.stderr.setEncoding('utf8');
    const link = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no web UI line in: ${err}`)), 20_000);
      child.stderr.on('data', (s: string) => {
        err += s;
        const m = /^web UI \(logs this browser in\): (\S+)$/m.exec(err);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
      child.once('exit', () => reject(new Error(`the daemon exited: ${err}`)));
    });
    const token = (await readFile(join(state, 'api-token'), 'utf8')).trim();
    const api = JSON.parse(await readFile(join(state, 'api.json'), 'utf8')) as { port: number };
    assert.equal(link, `http://127.0.0.1:${api.port}/#/?token=${token}`);
    const page = await rawRequest(api.port, 'GET', '/');
    assert.equal(page.status, 200);
    assert.match(page.text, /<title>bitswarm<\/title>/);
  } finally {
    child.kill('SIGTERM');
    await exited;
    await cleanup();
  }
});
