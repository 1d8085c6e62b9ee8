// Issue 20, fault 1: on a host where LSD cannot join its multicast group (here a network namespace
// with only loopback, where addMembership fails with ENODEV), download, seed, the daemon and the
// library Client run on with a warning instead of exiting 1. Skipped where `unshare --net` is not
// allowed (it needs root or user namespaces).
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { BITSWARM_MAIN_URL, bitswarmNodeArgs } from '../../interop/helpers.js';
import { differences, makeTorrent, type SampleTorrent, tempDir, waitFor } from '../api/helpers.js';

const canUnshare = spawnSync('unshare', ['--net', 'true']).status === 0;

let root: string;
let cleanup: () => Promise<void>;
let sample: SampleTorrent;
/** A process that holds a network namespace with only loopback (up): children join it with nsenter. */
let holder: ChildProcess | undefined;

interface Child {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exited: Promise<number | null>;
}

/** `node <args>` inside the namespace. */
function inNamespace(nodeArgs: readonly string[]): Child {
  const child = spawn('nsenter', [`--net=/proc/${holder!.pid}/ns/net`, process.execPath, ...nodeArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => {
    out += s;
  });
  child.stderr!.setEncoding('utf8').on('data', (s: string) => {
    err += s;
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, out: () => out, err: () => err, exited };
}

before(async () => {
  ({ dir: root, cleanup } = await tempDir('no-multicast'));
  sample = await makeTorrent(root, 'lan', [200_000], { single: true });
  if (!canUnshare) return;
  holder = spawn('unshare', ['--net', 'sh', '-c', 'ip link set lo up && echo up && exec sleep 300'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let said = '';
  holder.stdout!.on('data', (b: Buffer) => {
    said += b.toString();
  });
  await waitFor(() => said.includes('up'), 'the namespace');
});

after(async () => {
  holder?.kill('SIGKILL');
  await cleanup();
});

test('seed and download run without multicast: LSD is a warning, the download completes', {
  skip: canUnshare ? false : 'unshare --net is not allowed here',
  timeout: 60_000,
}, async () => {
  // No --bind: LSD is on (a loopback bind turns it off before it tries).
  const seed = inNamespace(
    bitswarmNodeArgs([
      'seed',
      sample.torrentPath,
      '-d',
      sample.dataDir,
      '--port',
      '7101',
      '--no-dht',
      '--json',
    ]),
  );
  try {
    await waitFor(() => seed.out().includes('"event":"start"'), 'the seeder to start', 15_000).catch(
      (e: Error) => {
        throw new Error(`${e.message}: ${seed.err()}${seed.out()}`);
      },
    );
    // --json: the warning is an event on stdout, not a line on stderr.
    const warning = seed
      .out()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { event: string; message?: string })
      .find((e) => e.event === 'warning');
    assert.match(warning?.message ?? '', /^LSD is off: .*ENODEV/);
    const out = join(root, 'out');
    const dl = inNamespace(
      bitswarmNodeArgs([
        'download',
        sample.torrentPath,
        '-d',
        out,
        '--port',
        '7102',
        '--no-dht',
        '--peer',
        '127.0.0.1:7101',
      ]),
    );
    const code = await dl.exited;
    assert.equal(code, 0, dl.err());
    const lines = dl.err().split('\n');
    assert.equal(lines.filter((l) => l.includes('LSD')).length, 1, dl.err());
    assert.match(dl.err(), /^bitswarm: warning: LSD is off: LSD udp4 setup failed: addMembership ENODEV$/m);
    assert.deepEqual(await differences(sample, out), []);
  } finally {
    seed.child.kill('SIGKILL');
    await seed.exited;
  }
});

test('the daemon starts without multicast, with the warning', {
  skip: canUnshare ? false : 'unshare --net is not allowed here',
  timeout: 30_000,
}, async () => {
  const d = inNamespace(
    bitswarmNodeArgs([
      'daemon',
      '--state',
      join(root, 'state'),
      '--port',
      '0',
      '--no-dht',
      '-d',
      join(root, 'dl'),
    ]),
  );
  try {
    await waitFor(() => d.err().includes('bitswarm daemon: port'), 'the daemon to listen', 15_000).catch(
      (e: Error) => {
        throw new Error(`${e.message}: ${d.err()}`);
      },
    );
    assert.match(d.err(), /^bitswarm: warning: LSD is off: .*ENODEV$/m);
  } finally {
    d.child.kill('SIGKILL');
    await d.exited;
  }
});

test('the library Client starts without multicast and emits a warning', {
  skip: canUnshare ? false : 'unshare --net is not allowed here',
  timeout: 30_000,
}, async () => {
  const lib = new URL('../lib/index.js', BITSWARM_MAIN_URL).href;
  const script = `import(${JSON.stringify(lib)}).then(async ({ Client }) => {
    const c = new Client({ port: 0, dht: false });
    const w = [];
    c.on('warning', (e) => w.push(e.message));
    await c.ready();
    console.log(JSON.stringify({ port: c.port, warnings: w }));
    await c.close();
  });`;
  const c = inNamespace(['-e', script]);
  assert.equal(await c.exited, 0, c.err());
  const got = JSON.parse(c.out()) as { port: number; warnings: string[] };
  assert.ok(got.port > 0);
  assert.equal(got.warnings.length, 1);
  assert.match(got.warnings[0]!, /^LSD is off: .*ENODEV/);
});
