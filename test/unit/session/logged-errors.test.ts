// Errors that used to be caught and dropped now reach the log that the session was given, with
// their context: a tracker that refuses the announce, a storage write that fails, a bad API request,
// a damaged settings file. And `--log-level` chooses what the CLI writes on stderr.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ApiServer } from '../../../src/api/server.js';
import { TorrentManager } from '../../../src/session/manager.js';
import { StateStore } from '../../../src/session/state-store.js';
import { StorageError, StorageErrorCode } from '../../../src/storage/errors.js';
import { HasherPool } from '../../../src/storage/hasher-pool.js';
import { MemoryStorage } from '../../../src/storage/memory-storage.js';
import { Torrent } from '../../../src/swarm/torrent.js';
import { Logger, type LogRecord } from '../../../src/util/logger.js';
import { bitswarmNodeArgs } from '../../interop/helpers.js';
import {
  daemonApi,
  freePort,
  loopbackSession,
  makeTorrent,
  peerOf,
  rawRequest,
  seeder,
  startDaemonJson,
  tempDir,
  waitFor,
} from '../api/helpers.js';
import { memoryTorrent } from './scripted-peer.js';

let root: string;
let cleanup: () => Promise<void>;

before(async () => {
  ({ dir: root, cleanup } = await tempDir('logged-errors'));
});

after(async () => {
  await cleanup();
});

function capture(level: Logger['level'] = 'trace'): { logger: Logger; records: LogRecord[] } {
  const records: LogRecord[] = [];
  return { logger: new Logger({ level, sink: (r) => records.push(r) }), records };
}

test('a tracker that refuses the announce is logged with the torrent and the URL', async () => {
  const closed = await freePort();
  const announce = `http://127.0.0.1:${closed}/announce`;
  const sample = await makeTorrent(root, 'tracked', [20_000], { announce: [[announce]] });
  const { logger, records } = capture('info');
  const s = await loopbackSession({ logger, trackerClient: true, trackerRetryMinMs: 60_000 });
  try {
    await s.add(sample.metainfo, { dir: join(root, 'tracked-dl') });
    await waitFor(
      () => records.some((r) => r.msg === 'tracker announce failed'),
      'the tracker error in the log',
    );
    const r = records.find((x) => x.msg === 'tracker announce failed')!;
    assert.equal(r.level, 'info');
    assert.equal(r.fields.torrent, sample.metainfo.infoHashHex);
    assert.equal(r.fields.url, announce);
    assert.match(String(r.fields.error), /refused|ECONNREFUSED/i);
  } finally {
    await s.stop();
  }
});

test('a storage write that fails is logged as an error of that torrent', async () => {
  const sample = await makeTorrent(root, 'blocked', [40_000, 10_000]);
  const seed = await seeder(sample);
  const { logger, records } = capture('info');
  const leech = await loopbackSession({ logger });
  // A disk that fails every write (EIO), as a full or failing disk does.
  const storage = new (class extends MemoryStorage {
    override writePiece(): Promise<void> {
      return Promise.reject(new StorageError(StorageErrorCode.Io, '/disk/blocked', 'EIO: i/o error, write'));
    }
  })(sample.metainfo);
  try {
    await leech.add(sample.metainfo, { dir: join(root, 'blocked-dl'), storage, peers: [peerOf(seed)] });
    await waitFor(
      () => records.some((r) => r.level === 'error' && r.fields.torrent === sample.metainfo.infoHashHex),
      'the storage error in the log',
    );
    const r = records.find((x) => x.level === 'error')!;
    assert.equal(r.msg, 'torrent stopped by an error');
    assert.match(String(r.fields.error), /EIO: i\/o error, write/);
  } finally {
    await leech.stop();
    await seed.stop();
  }
});

test('a bad API request and a damaged settings file are logged', async () => {
  const state = join(root, 'state');
  await mkdir(state, { recursive: true });
  await writeFile(join(state, 'session.json'), '{ not json');
  const { logger, records } = capture('info');
  const store = new StateStore(state, logger);
  await store.open();
  assert.deepEqual(await store.loadSettings(), {}, 'defaults, as before');
  const damaged = records.find((r) => r.msg.startsWith('damaged session settings'));
  assert.ok(damaged, 'the damaged file is logged');
  assert.equal(damaged.level, 'warn');
  assert.equal(damaged.fields.file, join(state, 'session.json'));

  const session = await loopbackSession({ logger });
  const manager = new TorrentManager({ session, store });
  const server = new ApiServer({ manager, session, token: await store.token(), defaultDir: root });
  try {
    await server.start();
    const reply = await rawRequest(server.address!.port, 'POST', '/api/v1/torrents?token=secret', {
      headers: { authorization: `Bearer ${await store.token()}`, 'content-type': 'application/json' },
      body: '{ nope',
    });
    assert.equal(reply.status, 400);
    const r = records.find((x) => x.msg === 'API request refused');
    assert.ok(r, 'the refused request is logged');
    assert.deepEqual(
      { method: r.fields.method, path: r.fields.path, status: r.fields.status, code: r.fields.code },
      { method: 'POST', path: '/api/v1/torrents', status: 400, code: 'ERR_JSON' },
      'the path is logged without its query',
    );
  } finally {
    await server.stop();
    await manager.stop();
    await session.stop();
  }
});

/** Runs `bitswarm download` until its stderr matches `until` (or 4 s pass), then stops it. */
function downloadStderr(args: readonly string[], until: RegExp): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, bitswarmNodeArgs(['download', ...args]), {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    const stop = setTimeout(() => child.kill('SIGTERM'), 4000);
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => {
      stderr += s;
      if (until.test(stderr)) child.kill('SIGTERM');
    });
    child.once('exit', () => {
      clearTimeout(stop);
      resolve(stderr);
    });
  });
}

test('--log-level chooses what the CLI logs on stderr (human lines)', async () => {
  const closed = await freePort();
  const sample = await makeTorrent(root, 'cli', [20_000], {
    announce: [[`http://127.0.0.1:${closed}/announce`]],
  });
  const common = [sample.torrentPath, '-d', join(root, 'cli-dl'), '--bind', '127.0.0.1', '--port', '0'];
  const net = ['--no-dht', '--no-lsd', '-q'];
  const info = await downloadStderr([...common, ...net, '--log-level', 'info'], /tracker announce failed/);
  assert.match(
    info,
    new RegExp(
      `^bitswarm: info: tracker announce failed torrent=${sample.metainfo.infoHashHex} url=http`,
      'm',
    ),
  );
  const quiet = await downloadStderr([...common, ...net], /tracker announce failed/);
  assert.doesNotMatch(quiet, /tracker announce failed/, 'not at the default level (warn)');
  const bad = await downloadStderr([...common, '--log-level', 'loud'], /./);
  assert.match(bad, /--log-level: "loud" is not a log level/);
});

test('the daemon writes its log as JSON lines to --log-file', async () => {
  const state = join(root, 'dstate');
  const file = join(root, 'daemon.log');
  const d = await startDaemonJson({
    state,
    downloads: join(root, 'ddl'),
    args: ['--no-lsd', '--log-level', 'info', '--log-file', file],
  });
  try {
    const api = await daemonApi(state);
    assert.equal((await api('GET', `/torrents/${'0'.repeat(40)}`)).status, 404);
  } finally {
    d.child.kill('SIGTERM');
    await d.exited;
  }
  const lines = (await readFile(file, 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(
    lines.map((l) => l.msg),
    ['daemon starting', 'API request refused', 'daemon stopped'],
  );
  assert.equal(lines[1]!.level, 'info');
  assert.equal(lines[1]!.status, 404);
  assert.match(String(lines[0]!.time), /^\d{4}-\d\d-\d\dT/);
  assert.doesNotMatch(d.stderr(), /"msg"/, 'the log went to the file, not stderr');
});

test('stopped while its files open: no "flush at stop failed", and the files end closed', async () => {
  const { metainfo } = memoryTorrent(4 * 16 * 1024, 16 * 1024, 7);
  // Files that take a moment to open, as a slow disk's do.
  let opened!: () => void;
  class SlowOpen extends MemoryStorage {
    override async open(): Promise<void> {
      await new Promise<void>((r) => {
        opened = r;
      });
      await super.open();
    }
  }
  const storage = new SlowOpen(metainfo);
  const { logger, records } = capture('warn');
  const hasher = new HasherPool({ threads: 0 });
  const torrent = new Torrent({ metainfo, storage, hasher, peerId: Buffer.alloc(20, 3), logger });
  const starting = torrent.start();
  await waitFor(() => opened !== undefined, 'the storage opening');
  await torrent.stop();
  opened();
  await starting;
  await hasher.stop();
  assert.deepEqual(
    records.map((r) => r.msg),
    [],
    'nothing was written, so nothing to flush and nothing to warn about',
  );
  await assert.rejects(
    storage.read(0, 0, 1),
    (e: unknown) => e instanceof StorageError && e.code === StorageErrorCode.Closed,
  );
});
