// The DHT's routing table is saved in the state directory and reused at the next start.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Session } from '../../../src/session/session.js';

async function until(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('a session saves its routing table in dht.json on stop and starts from it again', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'bitswarm-dht-state-'));
  const opts = {
    port: 0,
    bind: '127.0.0.1',
    dhtRateLimitPerSec: 100_000,
    tracker: false,
    lsd: false,
  } as const;
  const root = new Session({ ...opts, dhtBootstrap: [] });
  const sessions: Session[] = [root];
  try {
    await root.start();
    const first = new Session({
      ...opts,
      dhtBootstrap: [{ host: '127.0.0.1', port: root.port }],
      stateDir: dir,
    });
    sessions.push(first);
    await first.start();
    await until(() => (first.dht?.nodeCount ?? 0) > 0, 'the first session to join');
    const id = first.dht!.nodeId.toString('hex');
    await first.stop();
    const saved = JSON.parse(await readFile(join(dir, 'dht.json'), 'utf8')) as {
      id: string;
      nodes: { host: string; port: number }[];
    };
    assert.equal(saved.id, id);
    assert.ok(
      saved.nodes.some((n) => n.host === '127.0.0.1' && n.port === root.port),
      JSON.stringify(saved),
    );
    // No bootstrap node at all this time: the saved table is the only way in.
    const again = new Session({ ...opts, dhtBootstrap: [], stateDir: dir });
    sessions.push(again);
    await again.start();
    await until(
      () => (again.dht?.nodeCount ?? 0) > 0,
      'the restarted session to rejoin from its saved table',
    );
    assert.equal(again.dht!.nodeId.toString('hex'), id, 'the node id is kept across restarts');
  } finally {
    await Promise.all(sessions.map((s) => s.stop()));
    await rm(dir, { recursive: true, force: true });
  }
});
