// Interop of the tracker client with Debian's opentracker on 127.0.0.1: announces over HTTP and over
// UDP see each other's peers, and scrapes over both protocols count them. Debian's build serves only
// whitelisted info hashes, so the test writes a whitelist (`-w`) with the one it uses.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { chmod, writeFile } from 'node:fs/promises';
import { get } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { TrackerClient } from '../../src/discovery/tracker-client.js';
import type { PeerAddress } from '../../src/protocol/tracker-http.js';
import { freePort } from './clients.js';
import { assertTools, hasExecutable, makeTempDir, missingTools, skipUnlessCI } from './helpers.js';

const missing = await missingTools({ opentracker: () => hasExecutable('opentracker') });
const HASH = Buffer.from('c0ffee00'.repeat(5), 'hex');

async function waitForTcp(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`opentracker did not listen on ${port} within ${timeoutMs} ms`);
}

/** opentracker loads its whitelist in a thread after it starts listening: wait until it serves HASH. */
async function waitForWhitelist(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const hash = [...HASH].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
  const url = `http://127.0.0.1:${port}/announce?info_hash=${hash}&peer_id=-XX0000-000000000000&port=1&left=0&event=stopped`;
  while (Date.now() < deadline) {
    const body = await new Promise<string>((resolve) => {
      get(url, (res) => {
        let text = '';
        res.on('data', (b: Buffer) => {
          text += b.toString('latin1');
        });
        res.on('end', () => resolve(text));
      }).on('error', () => resolve('failure reason'));
    });
    if (!body.includes('failure reason')) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('opentracker did not load its whitelist in time');
}

function client(n: number, url: string): TrackerClient {
  return new TrackerClient({
    infoHash: HASH,
    peerId: Buffer.from(`-BM0001-${String(n).padStart(12, '0')}`),
    port: 6000 + n,
    tiers: [[url]],
    getStats: () => ({ uploaded: 0, downloaded: 0, left: n === 1 ? 0 : 100 }),
    timeoutMs: 3000,
    udpRetransmitMs: 500,
  });
}

async function announce(c: TrackerClient): Promise<PeerAddress[]> {
  const peers = new Promise<PeerAddress[]>((resolve, reject) => {
    c.once('tracker:reply', (_url, info) => {
      if (info.peers === 0) resolve([]);
    });
    c.once('peers:found', resolve);
    c.once('tracker:error', (_url, err) => reject(err));
  });
  c.start();
  return peers;
}

test('TrackerClient against opentracker over HTTP and UDP', { skip: skipUnlessCI(missing) }, async () => {
  assertTools(missing);
  const tmp = await makeTempDir('opentracker');
  const port = await freePort();
  const whitelist = join(tmp.dir, 'whitelist');
  await writeFile(whitelist, `${HASH.toString('hex')}\n`);
  // opentracker drops privileges (to nobody) before it reads the whitelist, and chroots to its cwd.
  await chmod(tmp.dir, 0o755);
  await chmod(whitelist, 0o644);
  let ot: ChildProcess | undefined;
  const clients: TrackerClient[] = [];
  try {
    ot = spawn('opentracker', ['-i', '127.0.0.1', '-p', String(port), '-P', String(port), '-w', whitelist], {
      stdio: ['ignore', 'ignore', 'pipe'],
      cwd: tmp.dir,
    });
    let stderr = '';
    ot.stderr?.on('data', (b: Buffer) => {
      stderr += b.toString();
    });
    await waitForTcp(port, 5000).catch((err: Error) => {
      throw new Error(`${err.message}\n${stderr}`);
    });
    await waitForWhitelist(port, 5000);
    const http = `http://127.0.0.1:${port}/announce`;
    const udp = `udp://127.0.0.1:${port}`;

    const seed = client(1, http);
    const leecherUdp = client(2, udp);
    const leecherHttp = client(3, http);
    clients.push(seed, leecherUdp, leecherHttp);

    // opentracker may list the announcing peer itself: compare the others.
    const others = (peers: PeerAddress[], self: number) =>
      peers
        .filter((p) => p.port !== self)
        .map((p) => `${p.host}:${p.port}`)
        .sort();
    assert.deepEqual(others(await announce(seed), 6001), []);
    assert.deepEqual(others(await announce(leecherUdp), 6002), ['127.0.0.1:6001']);
    assert.deepEqual(others(await announce(leecherHttp), 6003), ['127.0.0.1:6001', '127.0.0.1:6002']);
    for (const c of [leecherHttp, leecherUdp]) {
      const s = await c.scrape();
      assert.equal(s?.complete, 1);
      assert.equal(s?.incomplete, 2);
    }
    await leecherUdp.stop();
    const after = await leecherHttp.scrape();
    assert.equal(after?.incomplete, 1, 'stopped over UDP removed the peer');
  } finally {
    await Promise.all(clients.map((c) => c.stop()));
    if (ot !== undefined && ot.exitCode === null) {
      const exited = new Promise((resolve) => ot?.once('exit', resolve));
      ot.kill('SIGTERM');
      await exited;
    }
    await tmp.cleanup();
  }
});
