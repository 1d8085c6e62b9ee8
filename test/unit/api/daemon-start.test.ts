// Issue 19: a daemon that cannot start stops everything it started and exits 1 with one line (with a
// read-only state directory or an `api-token` that is a folder it printed the error but kept the
// peer port open, without an API, until SIGKILL); and a stop signal ends the daemon within two
// seconds even with requests in flight (reading /dev/zero for the API, it ignored SIGTERM).
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { bitswarmNodeArgs } from '../../interop/helpers.js';
import { daemonApi, freePort, startDaemonJson, tempDir, waitFor } from './helpers.js';

let root: string;
let cleanup: () => Promise<void>;

before(async () => {
  ({ dir: root, cleanup } = await tempDir('daemon-start'));
});

after(async () => {
  await cleanup();
});

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/** Runs `bitswarm daemon` on loopback (through `wrapper` when given); resolves when it exits. */
function daemon(args: readonly string[], wrapper: readonly string[] = []): Promise<Exit> {
  const argv = [
    ...bitswarmNodeArgs([
      'daemon',
      '--bind',
      '127.0.0.1',
      '--no-dht',
      '--no-lsd',
      '-d',
      join(root, 'dl'),
      ...args,
    ]),
  ];
  const [cmd, ...rest] =
    wrapper.length > 0 ? [...wrapper, process.execPath, ...argv] : [process.execPath, ...argv];
  return new Promise((resolve) => {
    const child = spawn(cmd!, rest, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => {
      stderr += s;
    });
    // A daemon that does not exit fails the test (and is not left behind).
    const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.once('exit', (code, signal) => {
      clearTimeout(killer);
      resolve({ code, signal, stderr });
    });
  });
}

function oneLine(e: Exit, pattern: RegExp): void {
  assert.equal(e.signal, null, `the daemon did not exit by itself (killed by ${e.signal}): ${e.stderr}`);
  assert.equal(e.code, 1, e.stderr);
  const lines = e.stderr.split('\n');
  assert.equal(lines.length, 2, `one line on stderr: ${JSON.stringify(e.stderr)}`);
  assert.doesNotMatch(e.stderr, / {4}at /, 'no stack trace');
  assert.match(lines[0]!, pattern);
}

/** The port can be listened on again: nothing of the daemon holds it. */
async function portFree(port: number): Promise<void> {
  const s: Server = createServer();
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => resolve());
  });
  await new Promise<void>((resolve) => s.close(() => resolve()));
}

/** A state directory that already holds a daemon's files (settings, token, torrents). */
async function existingState(name: string): Promise<string> {
  const state = join(root, name);
  await mkdir(join(state, 'torrents'), { recursive: true });
  await writeFile(join(state, 'session.json'), '{}');
  await writeFile(join(state, 'api-token'), `${'ab'.repeat(32)}\n`, { mode: 0o600 });
  return state;
}

test('a read-only state directory: exit 1, one line, no port left open', { timeout: 30_000 }, async () => {
  const state = await existingState('state-ro');
  const port = await freePort();
  let e: Exit;
  if (process.getuid?.() === 0) {
    // Root writes through file modes: a read-only bind mount in a mount namespace of its own.
    const script = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"';
    e = await daemon(
      ['--state', state, '--port', String(port)],
      ['unshare', '-m', 'sh', '-c', script, 'sh', state],
    );
  } else {
    execFileSync('chmod', ['-R', 'a-w', state]);
    try {
      e = await daemon(['--state', state, '--port', String(port)]);
    } finally {
      execFileSync('chmod', ['-R', 'u+w', state]);
    }
  }
  oneLine(e, /^bitswarm: daemon: state directory .*state-ro: E(ROFS|ACCES)/);
  await portFree(port);
});

test('an api-token that is a folder: exit 1, one line, no port left open', { timeout: 30_000 }, async () => {
  const state = join(root, 'state-token-dir');
  await mkdir(join(state, 'api-token'), { recursive: true });
  const port = await freePort();
  const e = await daemon(['--state', state, '--port', String(port)]);
  oneLine(e, /^bitswarm: daemon: the API token in .*: .*api-token is not a regular file/);
  await portFree(port);
});

test('the API port in use: exit 1, one line, the peer port closed again', { timeout: 30_000 }, async () => {
  const taken: Server = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', () => resolve()));
  const apiPort = (taken.address() as { port: number }).port;
  try {
    const port = await freePort();
    const e = await daemon([
      '--state',
      join(root, 'state-api-taken'),
      '--port',
      String(port),
      '--api',
      `127.0.0.1:${apiPort}`,
    ]);
    oneLine(
      e,
      new RegExp(`^bitswarm: daemon: cannot listen for the API on 127\\.0\\.0\\.1:${apiPort}: .*EADDRINUSE`),
    );
    await portFree(port);
  } finally {
    await new Promise<void>((resolve) => taken.close(() => resolve()));
  }
});

test('SIGTERM with requests in flight (/dev/zero, a FIFO, a body that never ends, an event stream): exit 143 within 2 s', {
  timeout: 60_000,
}, async () => {
  const state = join(root, 'state-busy');
  const fifo = join(root, 'never.torrent');
  execFileSync('mkfifo', [fifo]);
  const d = await startDaemonJson({ state, downloads: join(root, 'dl-busy') });
  let killed = false;
  try {
    const api = await daemonApi(state);
    const { port } = d.lines.find((l) => l.event === 'listening')!.api as { port: number };
    // Refused at once, whatever the file would give: a device, a FIFO nobody writes to.
    const zero = await api('POST', '/torrents', { path: '/dev/zero' });
    assert.equal(zero.status, 400, zero.text);
    const message = (r: { json: unknown }): string =>
      (r.json as { error: { message: string } }).error.message;
    assert.equal(message(zero), 'path: "/dev/zero": is a device, not a regular file');
    const pipe = await api('POST', '/torrents', { path: fifo });
    assert.equal(pipe.status, 400, pipe.text);
    assert.equal(message(pipe), `path: ${JSON.stringify(fifo)}: is a FIFO, not a regular file`);
    // Still in flight at the signal: a body promised at 10 MB of which a few bytes came, and the
    // event stream.
    const token = (await import('node:fs')).readFileSync(join(state, 'api-token'), 'utf8').trim();
    const slow = request({
      host: '127.0.0.1',
      port,
      method: 'POST',
      path: '/api/v1/torrents',
      headers: {
        host: `127.0.0.1:${port}`,
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        'content-length': String(10_000_000),
      },
    });
    slow.on('error', () => undefined);
    slow.write('{"torrent":"');
    const events = request({
      host: '127.0.0.1',
      port,
      path: '/api/v1/events',
      headers: { host: `127.0.0.1:${port}`, authorization: `Bearer ${token}` },
    });
    events.on('error', () => undefined);
    const hello = new Promise<void>((resolve) =>
      events.on('response', (res) => {
        res.on('error', () => undefined);
        res.once('data', () => resolve());
      }),
    );
    events.end();
    await hello;
    await waitFor(() => slow.socket !== null && slow.socket !== undefined, 'the slow request to connect');
    const t0 = Date.now();
    d.child.kill('SIGTERM');
    const killer = setTimeout(() => {
      killed = true;
      d.child.kill('SIGKILL');
    }, 15_000);
    const e = await d.exited;
    clearTimeout(killer);
    const ms = Date.now() - t0;
    console.log(`# SIGTERM with requests in flight: exited in ${ms} ms (code ${e.code})`);
    slow.destroy();
    events.destroy();
    assert.equal(killed, false, 'the daemon had to be killed');
    assert.equal(e.code, 143, d.stderr());
    // The daemon's own deadline is 1.8 s; the margin is for a busy machine starting the process.
    assert.ok(ms < 2500, `exit took ${ms} ms`);
  } finally {
    if (d.child.exitCode === null) d.child.kill('SIGKILL');
  }
});
