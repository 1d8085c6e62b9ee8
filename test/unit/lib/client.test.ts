// The library end to end over loopback: a Client seeds a folder (client.seed), a second Client adds
// it by magnet link with the seeder as a peer and downloads it byte-exact; events.once and events.on
// (with break) on a Torrent; pause, resume, remove with its data; file selection; bad input rejected
// with the CLI's line; a state directory reopened by a new Client.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { on, once } from 'node:events';
import { access, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import {
  Client,
  type ClientOptions,
  type Torrent,
  TorrentError,
  type TorrentStatus,
  UsageError,
} from '../../../src/lib/index.js';
import { parseMetainfo } from '../../../src/protocol/metainfo.js';
import { corpusDir } from '../../corpus/corpus-dir.js';
import { pseudoRandomBytes } from '../../interop/helpers.js';
import { tempDir, waitFor } from '../api/helpers.js';

/** Network safety: loopback only, no DHT, no LSD. */
// The seeder's magnet names it on loopback (x.pe): magnet peers on local addresses are contacted only
// on the user's say, which these clients, all on loopback on purpose, give.
const LOOPBACK: ClientOptions = { port: 0, bind: '127.0.0.1', dht: false, lsd: false, allowLocalPeers: true };

let root: string;
let cleanup: () => Promise<void>;
let folder: string;
const files = [
  { path: 'album/a.bin', bytes: pseudoRandomBytes(300_000, 11) },
  { path: 'album/sub/b.bin', bytes: pseudoRandomBytes(150_000, 12) },
  { path: 'album/c.bin', bytes: pseudoRandomBytes(40_000, 13) },
];
let seeder: Client;
let seeded: Torrent;

before(async () => {
  ({ dir: root, cleanup } = await tempDir('lib'));
  folder = join(root, 'src', 'album');
  for (const f of files) {
    await mkdir(join(root, 'src', f.path, '..'), { recursive: true });
    await writeFile(join(root, 'src', f.path), f.bytes);
  }
  seeder = new Client(LOOPBACK);
  await seeder.ready();
  seeded = await seeder.seed(folder, { pieceLength: 16384 });
  if (!seeded.done) await once(seeded, 'done');
});

after(async () => {
  await seeder?.close();
  await cleanup();
});

async function sameBytes(dir: string): Promise<void> {
  for (const f of files) assert.deepEqual(await readFile(join(dir, f.path)), f.bytes, f.path);
}

test('seed makes the torrent in memory; a second client adds its magnet and downloads it byte-exact', {
  timeout: 60_000,
}, async () => {
  assert.match(seeded.infoHash, /^[0-9a-f]{40}$/);
  assert.equal(seeded.name, 'album');
  assert.equal(seeded.length, 490_000);
  assert.equal(seeded.done, true);
  assert.equal(seeded.progress, 1);
  assert.ok(seeded.torrentFile instanceof Uint8Array && seeded.torrentFile.length > 0);
  assert.match(seeded.magnetURI, new RegExp(`^magnet:\\?xt=urn:btih:${seeded.infoHash}&dn=album`));
  // Bound to one address, the magnet carries this peer (x.pe).
  assert.ok(seeded.magnetURI.includes(`x.pe=127.0.0.1%3A${seeder.port}`), seeded.magnetURI);
  assert.deepEqual(
    seeded.files.map((f) => [f.name, f.path, f.length, f.offset]),
    [
      ['a.bin', 'album/a.bin', 300_000, 0],
      ['c.bin', 'album/c.bin', 40_000, 300_000],
      ['b.bin', 'album/sub/b.bin', 150_000, 340_000],
    ],
  );
  assert.equal(seeder.get(seeded.infoHash), seeded);
  assert.deepEqual(seeder.torrents, [seeded]);

  const leecher = new Client(LOOPBACK);
  try {
    await leecher.ready();
    assert.ok(leecher.port > 0);
    const dir = join(root, 'dl-magnet');
    const t = await leecher.add(seeded.magnetURI, { dir });
    assert.equal(t.infoHash, seeded.infoHash);
    assert.equal(leecher.get(t.infoHash.toUpperCase()), t);
    if (!t.hasMetadata) await once(t, 'metadata');
    assert.equal(t.files.length, 3);
    assert.equal(t.length, 490_000);
    if (!t.done) await once(t, 'done');
    assert.equal(t.done, true);
    assert.equal(t.progress, 1);
    assert.equal(t.timeRemaining, 0);
    assert.deepEqual(
      t.files.map((f) => f.progress),
      [1, 1, 1],
    );
    await sameBytes(dir);
    // The metadata came from the seeder: the same info dict (the .torrent's outer keys are not sent).
    assert.equal(parseMetainfo(t.torrentFile!).infoHashHex, seeded.infoHash);
  } finally {
    await leecher.close();
  }
});

/** Resolves when `t` has `status` (event-driven; checks the current status first). */
function statusOf(t: Torrent, status: TorrentStatus, timeoutMs = 30_000): Promise<void> {
  return waitFor(() => t.status === status, `${t.name} to be ${status} (is ${t.status})`, timeoutMs);
}

const exists = (p: string): Promise<boolean> =>
  access(p).then(
    () => true,
    () => false,
  );

test('events.on with break over piece:verified, then done; the .torrent bytes as the source', {
  timeout: 60_000,
}, async () => {
  const leecher = new Client(LOOPBACK);
  try {
    const dir = join(root, 'dl-bytes');
    // Paused first, so that no event is emitted before the iterator listens.
    const t = await leecher.add(seeded.torrentFile!, {
      dir,
      peers: [`127.0.0.1:${seeder.port}`],
      paused: true,
    });
    assert.equal(t.status, 'paused');
    assert.equal(t.files.length, 3, 'a .torrent brings its metadata');
    const seen = new Set<number>();
    const pieces = on(t, 'piece:verified');
    const connected = once(t, 'peer:connect');
    await t.resume();
    // A peer's connection says what carries it and whether it is encrypted.
    const [address, encryption, transport] = await connected;
    assert.equal(address, `127.0.0.1:${seeder.port}`);
    assert.ok(['rc4', 'handshake', 'none'].includes(encryption as string), String(encryption));
    assert.ok(['tcp', 'utp'].includes(transport as string), String(transport));
    for await (const [index] of pieces) {
      assert.ok(Number.isInteger(index) && index >= 0 && index < t.pieceCount);
      seen.add(index as number);
      if (seen.size === 3) break;
    }
    assert.equal(t.listenerCount('piece:verified'), 0, 'break removed the listener');
    if (!t.done) await once(t, 'done');
    assert.equal(t.verifiedBytes, t.length);
    await sameBytes(dir);
  } finally {
    await leecher.close();
  }
});

test('pause keeps what was verified and stops the swarm; resume finishes it without starting over', {
  timeout: 60_000,
}, async () => {
  // 64 KiB/s from this peer: the download takes several seconds, so the pause lands in its middle.
  const leecher = new Client({ ...LOOPBACK, downloadLimitBytesPerSec: 64 * 1024 });
  try {
    const dir = join(root, 'dl-pause');
    const t = await leecher.add(seeded.magnetURI, { dir });
    await once(t, 'piece:verified');
    await t.pause();
    assert.equal(t.status, 'paused');
    assert.equal(t.paused, true);
    assert.equal(t.numPeers, 0);
    assert.equal(t.swarm, undefined, 'no swarm runs while paused');
    const kept = t.verifiedBytes;
    assert.ok(kept > 0 && kept < t.length, `verified ${kept} of ${t.length}`);
    assert.equal(t.done, false);
    assert.equal(t.timeRemaining, Number.POSITIVE_INFINITY);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(t.verifiedBytes, kept, 'nothing arrives while paused');

    const downloadedBeforeResume = t.downloadedBytes;
    await t.resume();
    if (!t.done) await once(t, 'done');
    await sameBytes(dir);
    // What was verified before the pause is not fetched again (a piece in flight may be).
    assert.ok(
      t.downloadedBytes - downloadedBeforeResume <= t.length - kept + 2 * t.pieceLength,
      `downloaded ${t.downloadedBytes - downloadedBeforeResume} after resume, ${t.length - kept} were missing`,
    );
  } finally {
    await leecher.close();
  }
});

test('deselect skips a file, select fetches it; remove keeps the data, remove with deleteData deletes it', {
  timeout: 60_000,
}, async () => {
  const leecher = new Client(LOOPBACK);
  try {
    const dir = join(root, 'dl-select');
    const t = await leecher.add(seeded.magnetURI, { dir, paused: true });
    // A paused magnet has no metadata yet: resume, and pick the files once they are known.
    await t.resume();
    if (!t.hasMetadata) await once(t, 'metadata');
    await t.pause();
    const [a, c, b] = t.files;
    a!.deselect();
    assert.equal(a!.priority, 0);
    await t.resume();
    if (!t.done) await once(t, 'done');
    assert.equal(c!.progress, 1);
    assert.equal(b!.progress, 1);
    // a.bin's last piece is shared with c.bin, so those bytes of it are there; the rest is not.
    assert.ok(a!.progress > 0 && a!.progress < 0.1, `a.bin progress ${a!.progress}`);
    assert.ok(t.progress < 1);
    assert.deepEqual(await readFile(join(dir, 'album/c.bin')), files[2]!.bytes);

    a!.select();
    assert.equal(a!.priority, 4);
    await once(t, 'done');
    assert.equal(a!.progress, 1);
    await sameBytes(dir);

    const removed = once(t, 'removed');
    await leecher.remove(t.infoHash);
    await removed;
    assert.equal(leecher.get(t.infoHash), undefined);
    assert.deepEqual(leecher.torrents, []);
    await sameBytes(dir);

    const again = await leecher.add(seeded.torrentFile!, { dir });
    if (!again.done) await once(again, 'done');
    assert.equal(again.swarm?.downloadedBytes, 0, 'the data on disk was checked, not downloaded again');
    await again.remove({ deleteData: true });
    // Its files were on disk before it first opened them (the torrent removed above made them): not
    // its own, so they stay (issue 19: only what a torrent created is deleted with its data).
    await sameBytes(dir);
    const freshDir = join(root, 'dl-select-fresh');
    const fresh = await leecher.add(seeded.torrentFile!, {
      dir: freshDir,
      peers: [`127.0.0.1:${seeder.port}`],
    });
    if (!fresh.done) await once(fresh, 'done');
    await fresh.remove({ deleteData: true });
    for (const f of files) assert.equal(await exists(join(freshDir, f.path)), false, `${f.path} deleted`);
    assert.equal(await exists(join(freshDir, 'album')), false, 'its emptied folders too');
    assert.equal(await exists(folder), true, "the seeder's data is untouched");
  } finally {
    await leecher.close();
  }
});

/** The compiled CLI beside this compiled test, run as bin/bitswarm.js runs it. */
const MAIN = new URL('../../../src/cli/main.js', import.meta.url).href;
const LAUNCHER = `const { main } = await import(${JSON.stringify(MAIN)});
main(process.argv.slice(1)).then((code) => { process.exitCode = code; });`;

function cliError(args: string[]): Promise<{ code: number | null; line: string }> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      ['--input-type=module', '-e', LAUNCHER, ...args],
      { timeout: 20_000 },
      (err, _stdout, stderr) => {
        done({ code: err && typeof err.code === 'number' ? err.code : 0, line: stderr.trimEnd() });
      },
    );
  });
}

test('bad input rejects with a UsageError whose message is the line the CLI prints for it', {
  timeout: 60_000,
}, async () => {
  const client = new Client(LOOPBACK);
  try {
    const badTorrent = resolve(corpusDir(), 'pieces-length-41.torrent');
    const cases: { source: string; cli: string[] }[] = [
      { source: join(root, 'nope.torrent'), cli: ['download'] },
      { source: badTorrent, cli: ['download'] },
      { source: root, cli: ['download'] },
      { source: 'magnet:?xt=urn:btih:1234', cli: ['download'] },
    ];
    const net = ['--port', '0', '--bind', '127.0.0.1', '--no-dht', '--no-lsd'];
    const runs = await Promise.all(cases.map((c) => cliError([...c.cli, c.source, ...net])));
    for (const [i, c] of cases.entries()) {
      const run = runs[i]!;
      assert.equal(run.code, 2, `the CLI exits 2 for ${c.source}`);
      const err = await client.add(c.source).then(
        () => assert.fail(`${c.source} was accepted`),
        (e: unknown) => e,
      );
      assert.ok(err instanceof UsageError, String(err));
      assert.equal(err.name, 'UsageError');
      assert.equal(err.code, 'ERR_USAGE');
      assert.equal(`bitswarm: ${err.message}`, run.line, c.source);
    }
    // seed() of a missing path: the line of `bitswarm create` for it.
    const missing = join(root, 'missing-folder');
    const createRun = await cliError(['create', missing, '-o', join(root, 'never.torrent')]);
    assert.equal(createRun.code, 2);
    await assert.rejects(client.seed(missing), (e: Error) => {
      assert.ok(e instanceof UsageError);
      assert.equal(`bitswarm: ${e.message}`, createRun.line);
      return true;
    });
    // Bytes that are not a torrent, a bad peer, a bad announce: one line each, typed.
    await assert.rejects(client.add(new Uint8Array([1, 2, 3])), {
      name: 'UsageError',
      message: /^\.torrent bytes: /,
    });
    await assert.rejects(client.add(seeded.magnetURI, { peers: ['no-port'] }), {
      name: 'UsageError',
      message: 'peers: "no-port" is not HOST:PORT',
    });
    await assert.rejects(client.seed(folder, { announce: ['not a tracker'] }), {
      name: 'UsageError',
      message: 'seed: announce: "not a tracker" is neither an http(s)/udp URL nor host:port',
    });
    assert.equal(client.port, 0, 'bad input opened no socket');
    assert.throws(() => new Client({ port: 70000 }), {
      name: 'UsageError',
      message: 'Client: port: 70000 is not a whole number from 0 to 65535',
    });
    // IPv6 peers are written [addr]:port.
    const t = await client.add(seeded.magnetURI, {
      peers: ['[::1]:6881'],
      paused: true,
      dir: join(root, 'v6'),
    });
    assert.equal(t.status, 'paused');
    await t.remove();
  } finally {
    await client.close();
  }
});

test("a torrent's failure: no crash without a listener, kept in torrent.error; once(t, 'done') rejects", {
  timeout: 60_000,
}, async () => {
  const client = new Client(LOOPBACK);
  try {
    // The download folder is a file: storage cannot open.
    const notADir = join(root, 'plain-file');
    await writeFile(notADir, 'x');
    const t = await client.add(seeded.torrentFile!, { dir: notADir });
    await statusOf(t, 'error');
    assert.ok(t.error instanceof TorrentError);
    assert.equal(t.error.code, 'ERR_TORRENT');
    assert.match(t.error.message, /^album: /);
    // With a listener (events.once adds one), the next failure is emitted.
    const done = once(t, 'done');
    await t.resume();
    await assert.rejects(done, (e: Error) => e instanceof TorrentError);
  } finally {
    await client.close();
  }
});

test('a state directory keeps torrents, their progress, pause and file choices across a close and reopen', {
  timeout: 60_000,
}, async () => {
  const stateDir = join(root, 'state');
  const dir = join(root, 'dl-state');
  const first = new Client({ ...LOOPBACK, stateDir });
  let hex: string;
  try {
    const t = await first.add(seeded.magnetURI, { dir });
    hex = t.infoHash;
    if (!t.done) await once(t, 'done');
    t.files[0]!.select(7);
  } finally {
    await first.close();
  }
  const settings = JSON.parse(await readFile(join(stateDir, 'session.json'), 'utf8'));
  assert.equal(typeof settings.port, 'number');

  const second = new Client({ ...LOOPBACK, stateDir });
  try {
    const added: Torrent[] = [];
    second.on('torrent', (t) => added.push(t));
    await second.ready();
    const t = second.get(hex!);
    assert.ok(t, 'the torrent is back');
    assert.deepEqual(added, [t]);
    assert.equal(t.path, dir);
    assert.equal(t.files.length, 3, 'its metadata was kept');
    assert.equal(t.files[0]!.priority, 7, 'its file priorities were kept');
    await statusOf(t, 'seeding');
    assert.equal(t.done, true);
    assert.equal(t.swarm?.downloadedBytes, 0, 'nothing downloaded again');
    await t.pause();
  } finally {
    await second.close();
  }

  // A damaged settings file costs only its torrent, with a warning; a paused torrent stays paused.
  const third = new Client({ ...LOOPBACK, stateDir });
  try {
    const warnings: Error[] = [];
    third.on('warning', (w) => warnings.push(w));
    await writeFile(join(stateDir, 'torrents', `${'ab'.repeat(20)}.json`), '{ damaged');
    await third.ready();
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!.message, /damaged settings, torrent skipped/);
    assert.equal(third.get(hex!)?.status, 'paused');
  } finally {
    await third.close();
  }
});
