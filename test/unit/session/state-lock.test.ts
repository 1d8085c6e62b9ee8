// Issue 20, fault 3: one process per state directory. A second daemon, a `download --state` and a
// library Client on a directory a daemon holds are refused with one line that names the holder; the
// first daemon keeps running with its api.json. A lock whose holder died is taken over.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { access, readFile, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Client } from '../../../src/lib/client.js';
import { StateLock, StateLockError } from '../../../src/session/state-lock.js';
import { runBitswarm } from '../../interop/helpers.js';
import { daemonApi, makeTorrent, type SampleTorrent, startDaemonJson, tempDir } from '../api/helpers.js';

let root: string;
let cleanup: () => Promise<void>;
let sample: SampleTorrent;

before(async () => {
  ({ dir: root, cleanup } = await tempDir('state-lock'));
  sample = await makeTorrent(root, 'locked', [30_000], { single: true });
});

after(async () => {
  await cleanup();
});

/** The pid of a process that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(r.stdout.toString());
}

test('the lock: held once, names its holder and API, released, taken over from a dead holder', async () => {
  const dir = join(root, 'unit');
  const lock = await StateLock.acquire(dir, 'daemon');
  await assert.rejects(StateLock.acquire(dir, 'client'), (err: Error) => {
    assert.ok(err instanceof StateLockError);
    assert.equal(err.message, `a daemon already runs on ${dir} (pid ${process.pid})`);
    return true;
  });
  await lock.setApi({ host: '127.0.0.1', port: 9091 });
  await assert.rejects(StateLock.acquire(dir, 'download'), {
    message: `a daemon already runs on ${dir} (pid ${process.pid}, api 127.0.0.1:9091)`,
  });
  await lock.release();
  await assert.rejects(access(join(dir, 'lock')));
  const again = await StateLock.acquire(dir, 'download');
  await again.release();

  // A holder killed with -9 left its lock: stale.
  await writeFile(join(dir, 'lock'), JSON.stringify({ kind: 'daemon', pid: deadPid() }));
  const taken = await StateLock.acquire(dir, 'daemon');
  assert.equal(JSON.parse(await readFile(join(dir, 'lock'), 'utf8')).pid, process.pid);
  await taken.release();

  // An empty lock is being written: held for a few seconds, stale after.
  await writeFile(join(dir, 'lock'), '');
  await assert.rejects(StateLock.acquire(dir, 'daemon'), StateLockError);
  const old = new Date(Date.now() - 60_000);
  await utimes(join(dir, 'lock'), old, old);
  const late = await StateLock.acquire(dir, 'daemon');
  await late.release();
});

test('a second daemon, a download --state and a Client on a daemon-held state directory are refused', {
  timeout: 60_000,
}, async () => {
  const state = join(root, 'state');
  const first = await startDaemonJson({ state, downloads: join(root, 'dl') });
  try {
    const { host, port } = first.lines.find((l) => l.event === 'listening')!.api as {
      host: string;
      port: number;
    };
    const line = `bitswarm: a daemon already runs on ${state} (pid ${first.child.pid}, api ${host}:${port})\n`;
    const net = ['--bind', '127.0.0.1', '--no-dht', '--port', '0'];
    const second = await runBitswarm(['daemon', '--state', state, ...net, '-d', join(root, 'dl2')]);
    assert.equal(second.code, 1, second.stderr);
    assert.equal(second.stderr, line);
    const dl = await runBitswarm([
      'download',
      sample.torrentPath,
      '--state',
      state,
      '-d',
      join(root, 'x'),
      ...net,
    ]);
    assert.equal(dl.code, 1, dl.stderr);
    assert.equal(dl.stderr, line);
    const client = new Client({ stateDir: state, port: 0, bind: '127.0.0.1', dht: false });
    await assert.rejects(client.ready(), { message: line.slice('bitswarm: '.length, -1) });
    await client.close();
    // The first daemon still runs, its api.json in place.
    const api = await daemonApi(state);
    assert.equal((await api('GET', '/torrents')).status, 200);
    const apiJson = JSON.parse(await readFile(join(state, 'api.json'), 'utf8')) as { pid: number };
    assert.equal(apiJson.pid, first.child.pid);
  } finally {
    first.child.kill('SIGTERM');
    await first.exited;
  }
  // Once it stopped, the directory is free again.
  await assert.rejects(access(join(state, 'lock')));
  const client = new Client({ stateDir: state, port: 0, bind: '127.0.0.1', dht: false });
  await client.ready();
  await client.close();
});
