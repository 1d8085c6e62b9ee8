// `bitswarm download` tells the user why it stalls and what it does: a tracker's failure reason, a
// peer that refuses or closes after the handshake and "no peers known" reach --json, --verbose and
// the summary lines printed without a terminal (every BITSWARM_SUMMARY_SECONDS); "complete" says
// whether the process seeds or exits; --only/--skip choose files and say how many.
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Session } from '../../../src/session/session.js';
import { bitswarmNodeArgs, type JsonChild, runBitswarm, spawnJson } from '../../interop/helpers.js';
import { makeTorrent, peerOf, type SampleTorrent, seeder, tempDir, waitFor } from '../api/helpers.js';

let root: string;
let cleanup: () => Promise<void>;
let tracker: HttpServer;
let trackerUrl: string;
let announces = 0;
let closer: Server;
let closerPort: number;
let refusedPort: number;
let failing: SampleTorrent;
let plain: SampleTorrent;
let seed: Session;

async function listen(server: Server | HttpServer): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const a = server.address();
  return typeof a === 'object' && a ? a.port : 0;
}

before(async () => {
  ({ dir: root, cleanup } = await tempDir('download-why'));
  // A tracker that refuses every torrent with a failure reason.
  tracker = createHttpServer((_req, res) => {
    announces++;
    res.end('d14:failure reason22:torrent not registerede');
  });
  trackerUrl = `http://127.0.0.1:${await listen(tracker)}/announce`;
  // A peer that answers the handshake for whatever torrent, then hangs up.
  closer = createServer((socket: Socket) => {
    socket.once('data', (d: Buffer) => {
      if (d.length >= 48) {
        socket.end(Buffer.concat([d.subarray(0, 48), Buffer.from('-XX0001-closesafter1')]));
      } else socket.destroy();
    });
    socket.on('error', () => undefined);
  });
  closerPort = await listen(closer);
  // A port nobody listens on: connections to it are refused.
  const probe = createServer();
  refusedPort = await listen(probe);
  await new Promise<void>((r) => probe.close(() => r()));
  failing = await makeTorrent(root, 'failing', [200_000], { announce: [[trackerUrl]] });
  plain = await makeTorrent(root, 'plain', [150_000, 60_000, 90_000]);
  seed = await seeder(plain);
});

after(async () => {
  await seed.stop();
  tracker.closeAllConnections();
  await new Promise<void>((r) => tracker.close(() => r()));
  await new Promise<void>((r) => closer.close(() => r()));
  await cleanup();
});

const NET = ['--bind', '127.0.0.1', '--port', '0', '--no-dht', '--no-lsd'];

async function stopChild(c: JsonChild): Promise<void> {
  if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGINT');
  await c.exited;
}

test('a tracker failure, a refused peer and a peer closing after the handshake show in --json', {
  timeout: 60_000,
}, async () => {
  const c = spawnJson(
    bitswarmNodeArgs([
      'download',
      failing.torrentPath,
      '-d',
      join(root, 'dl-failing'),
      '--json',
      '--peer',
      `127.0.0.1:${refusedPort}`,
      '--peer',
      `127.0.0.1:${closerPort}`,
      ...NET,
    ]),
  );
  try {
    const kinds = (k: string) => c.lines.filter((l) => l.event === 'diagnostic' && l.kind === k);
    await waitFor(
      () =>
        kinds('tracker-error').length > 0 &&
        kinds('peer-refused').length > 0 &&
        kinds('peer-closed-after-handshake').length > 0,
      `the three diagnostics (got ${JSON.stringify(c.lines.filter((l) => l.event === 'diagnostic'))}; stderr ${c.stderr()})`,
      30_000,
    );
    const t = kinds('tracker-error')[0]!;
    assert.equal(t.url, trackerUrl);
    assert.match(String(t.message), /^tracker 127\.0\.0\.1:\d+: .*torrent not registered/);
    assert.doesNotMatch(String(t.message), /info_hash=/, 'one short line, not the request URL');
    assert.equal(kinds('peer-refused')[0]!.address, `127.0.0.1:${refusedPort}`);
    assert.match(
      String(kinds('peer-closed-after-handshake')[0]!.message),
      /closed the connection after the handshake/,
    );
    // The progress lines carry the current warnings, the tracker's failure first.
    await waitFor(
      () =>
        c.lines.some(
          (l) =>
            l.event === 'progress' &&
            (l.warnings as string[]).length >= 2 &&
            (l.warnings as string[]).some((w) => /refused the connection/.test(w)),
        ),
      'a progress line with warnings',
      20_000,
    );
    const p = c.lines.filter((l) => l.event === 'progress').at(-1)!;
    const w = (p.warnings as string[]).join(' | ');
    assert.match(w, /torrent not registered/);
    assert.match(w, /refused the connection/);
    assert.ok('etaSec' in p, 'progress has etaSec');
  } finally {
    await stopChild(c);
  }
  assert.ok(announces > 0);
});

test('without a terminal: a summary line every BITSWARM_SUMMARY_SECONDS, with what is wrong; --verbose prints each event', {
  timeout: 60_000,
}, async () => {
  const args = bitswarmNodeArgs([
    'download',
    failing.torrentPath,
    '-d',
    join(root, 'dl-summary'),
    '--verbose',
    '--no-tracker',
    ...NET,
  ]);
  // spawnJson passes this process's environment on; the summary goes to stderr (not a terminal here).
  process.env.BITSWARM_SUMMARY_SECONDS = '0.3';
  const c = spawnJson(args);
  delete process.env.BITSWARM_SUMMARY_SECONDS;
  try {
    await waitFor(
      () => (c.stderr().match(/^\[\d\d:\d\d:\d\d\] downloading/gm) ?? []).length >= 2,
      `two summary lines (stderr: ${c.stderr()})`,
      40_000,
    );
  } finally {
    await stopChild(c);
  }
  const err = c.stderr();
  assert.match(err, /^\[\d\d:\d\d:\d\d\] downloading +0\.0% .*ETA --.*\(.*torrent not registered.*\)$/m);
  assert.match(err, /^tracker 127\.0\.0\.1:\d+: .*torrent not registered$/m, '--verbose: the event itself');
  assert.doesNotMatch(err, /\r|\x1b\[K/, 'no terminal redraws in a log');
});

test('"complete" says the process exits; --only/--skip choose files and say how many', {
  timeout: 60_000,
}, async () => {
  const dir = join(root, 'dl-only');
  const r = await runBitswarm(
    [
      'download',
      plain.torrentPath,
      '-d',
      dir,
      '--only',
      '0,2',
      '--skip',
      '*f2.bin',
      '--peer',
      `127.0.0.1:${peerOf(seed).port}`,
      ...NET,
    ],
    { timeoutMs: 50_000, env: { ...process.env, BITSWARM_SUMMARY_SECONDS: '0.3' } },
  );
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^downloading 1 of 3 files \(146 KiB of 293 KiB\)$/m);
  assert.match(r.stderr, /complete: plain — every chosen piece verified, exiting/);
  assert.doesNotMatch(r.stderr, /now seeding/);
  assert.deepEqual(await readFile(join(dir, 'plain/f0.bin')), plain.files[0]!.bytes);
  // f1 and f2 were skipped: at most the bytes that share a piece with f0 were written.
  const f2 = await stat(join(dir, 'plain/f2.bin')).catch(() => undefined);
  assert.ok(!f2 || f2.blocks * 512 < 90_000, 'f2.bin not downloaded');
  const bad = await runBitswarm(['download', plain.torrentPath, '--only', '7', ...NET]);
  assert.equal(bad.code, 2);
  assert.equal(
    bad.stderr,
    'bitswarm: download: --only: no file 7 (the torrent has files 0–2; see bitswarm info --json)\n',
  );
});

test('no peers known is said, not left as "peers 0" forever', { timeout: 60_000 }, async () => {
  const lone = await makeTorrent(root, 'lone', [50_000]);
  const c = spawnJson(
    bitswarmNodeArgs(['download', lone.torrentPath, '-d', join(root, 'dl-lone'), '--json', ...NET]),
  );
  try {
    await waitFor(
      () => c.lines.some((l) => l.event === 'diagnostic' && l.kind === 'no-peers'),
      `a no-peers diagnostic (stderr ${c.stderr()})`,
      30_000,
    );
    await waitFor(
      () => c.lines.some((l) => l.event === 'progress' && String(l.warnings).includes('no peers known')),
      'no peers known in the progress warnings',
      10_000,
    );
  } finally {
    await stopChild(c);
  }
});

test('while a magnet fetches its metadata, --json prints progress lines: peers and metadata bytes', {
  timeout: 60_000,
}, async () => {
  // Nobody to fetch from yet: the lines still come, every second, saying so.
  const magnet = `magnet:?xt=urn:btih:${plain.metainfo.infoHashHex}`;
  const c = spawnJson(
    bitswarmNodeArgs([
      'download',
      magnet,
      '-d',
      join(root, 'dl-magnet'),
      '--json',
      '--peer',
      `127.0.0.1:${refusedPort}`,
      ...NET,
    ]),
  );
  try {
    await waitFor(
      () => c.lines.filter((l) => l.event === 'progress' && l.state === 'metadata').length >= 2,
      `two metadata progress lines (stdout ${JSON.stringify(c.lines)}; stderr ${c.stderr()})`,
      20_000,
    );
    const p = c.lines.find((l) => l.event === 'progress' && l.state === 'metadata')!;
    assert.equal(p.infoHash, plain.metainfo.infoHashHex);
    assert.equal(p.peers, 0);
    assert.equal(p.metadataBytes, 0);
  } finally {
    await stopChild(c);
  }
});
