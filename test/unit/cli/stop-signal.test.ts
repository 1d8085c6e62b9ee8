// Issue 20, fault 6: Ctrl-C exits 130 and SIGTERM 143 (the shell's convention, 128 + the signal's
// number), after the same clean stop, for every long-running command; and a stop is bounded: a
// tracker that never answers `stopped` delays it by at most the deadline, and a second signal ends
// it at once with the same code.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { bitswarmNodeArgs, type JsonChild, spawnJson } from '../../interop/helpers.js';
import { makeTorrent, type SampleTorrent, tempDir, waitFor } from '../api/helpers.js';

const NET = ['--bind', '127.0.0.1', '--no-dht', '--port', '0', '--json'];

let root: string;
let cleanup: () => Promise<void>;
let sample: SampleTorrent;
/** A torrent whose tracker answers the first announce and never answers `stopped`. */
let mute: SampleTorrent;
let silent: Server;

before(async () => {
  ({ dir: root, cleanup } = await tempDir('stop-signal'));
  sample = await makeTorrent(root, 'data', [100_000], { single: true });
  // A client that got no answer to `started` may skip `stopped`: answer every announce but that one.
  silent = createServer((req, res) => {
    if (req.url?.includes('event=stopped')) return;
    res.end('d8:intervali1800e5:peers0:e');
  });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
  const port = (silent.address() as { port: number }).port;
  mute = await makeTorrent(root, 'mute', [50_000], {
    single: true,
    announce: [[`http://127.0.0.1:${port}/announce`]],
  });
});

after(async () => {
  silent.closeAllConnections();
  await new Promise<void>((r) => silent.close(() => r()));
  await cleanup();
});

/** Starts `bitswarm <args>` and waits for its JSON event `ready`. */
async function start(args: readonly string[], ready: string): Promise<JsonChild> {
  const c = spawnJson(bitswarmNodeArgs(args));
  try {
    await waitFor(() => c.lines.some((l) => l.event === ready), `${args[0]} to be ready`, 15_000);
  } catch (err) {
    c.child.kill('SIGKILL');
    throw new Error(`${(err as Error).message}: ${c.stderr()}`);
  }
  return c;
}

/** Sends the signals (the second after `gapMs`), returns the exit and how long it took. */
async function stop(c: JsonChild, signals: NodeJS.Signals[], gapMs = 150) {
  const t0 = Date.now();
  const killer = setTimeout(() => c.child.kill('SIGKILL'), 20_000);
  c.child.kill(signals[0]);
  const second = signals[1] !== undefined ? setTimeout(() => c.child.kill(signals[1]), gapMs) : undefined;
  const e = await c.exited;
  clearTimeout(killer);
  clearTimeout(second);
  return { ...e, ms: Date.now() - t0 };
}

const commands: { name: string; args: () => string[]; ready: string }[] = [
  // A download with no peer: it runs until stopped.
  {
    name: 'download',
    args: () => ['download', sample.torrentPath, '-d', join(root, 'dl'), ...NET],
    ready: 'start',
  },
  { name: 'seed', args: () => ['seed', sample.torrentPath, '-d', sample.dataDir, ...NET], ready: 'start' },
  {
    name: 'share',
    args: () => [
      'share',
      join(sample.dataDir, sample.files[0]!.path),
      '-o',
      join(root, 'shared.torrent'),
      // Run twice (SIGINT, then SIGTERM): the second run writes the same .torrent again.
      '--force',
      ...NET,
    ],
    ready: 'start',
  },
  {
    name: 'stream',
    args: () => ['stream', sample.torrentPath, '-d', join(root, 'st'), '--http', '127.0.0.1:0', ...NET],
    ready: 'serving',
  },
  {
    name: 'tracker',
    args: () => ['tracker', '--bind', '127.0.0.1', '--port', '0', '--json'],
    ready: 'listening',
  },
  {
    name: 'daemon',
    args: () => ['daemon', '--state', join(root, 'state'), '-d', join(root, 'dd'), ...NET],
    ready: 'listening',
  },
];

for (const c of commands) {
  test(`${c.name}: SIGINT exits 130, SIGTERM exits 143, within a few seconds`, {
    timeout: 60_000,
  }, async () => {
    for (const [signal, code] of [
      ['SIGINT', 130],
      ['SIGTERM', 143],
    ] as const) {
      const child = await start(c.args(), c.ready);
      const e = await stop(child, [signal]);
      assert.equal(e.code, code, `${c.name} ${signal}: ${child.stderr()}`);
      assert.ok(e.ms < 5000, `${c.name} ${signal}: exit took ${e.ms} ms`);
    }
  });
}

test('a stop whose tracker never answers is bounded; a second signal ends it at once', {
  timeout: 60_000,
}, async () => {
  const args = ['download', mute.torrentPath, '-d', join(root, 'mute'), ...NET];
  // Once the tracker answered `started` (a diagnostic line says so), a stop announces `stopped`.
  const once = await start(args, 'diagnostic');
  const e1 = await stop(once, ['SIGTERM']);
  assert.equal(e1.code, 143, once.stderr());
  assert.ok(e1.ms < 5000, `exit took ${e1.ms} ms`);
  const twice = await start(args, 'diagnostic');
  const e2 = await stop(twice, ['SIGINT', 'SIGINT']);
  assert.equal(e2.code, 130, twice.stderr());
  assert.ok(e2.ms < e1.ms, `a second signal (${e2.ms} ms) is quicker than one (${e1.ms} ms)`);
});
