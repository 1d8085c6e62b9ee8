// A simulated network of 20 DHT nodes wired in memory: bootstrap, announce from one node, lookups
// from every other node find it; lookups converge on the k closest nodes; re-announce on a virtual
// clock keeps a torrent findable past the 30-minute peer expiry; dead nodes cost only timeouts.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { idToBigInt } from '../../../../src/discovery/dht/routing-table.js';
import { SimNet, type SimNode } from './sim-net.js';

const infoHash = createHash('sha1').update('a torrent').digest();
const MIN = 60 * 1000;

async function buildNet(
  count: number,
  now: () => number,
  chain = false,
): Promise<{ net: SimNet; nodes: SimNode[] }> {
  const net = new SimNet();
  const nodes: SimNode[] = [];
  for (let i = 0; i < count; i++) {
    const host = `127.0.0.${i + 1}`;
    const boot = i === 0 ? [] : [chain ? nodes[i - 1]! : nodes[0]!];
    nodes.push(
      net.add(host, 6881, {
        now,
        bootstrap: boot.map((b) => ({ host: b.host, port: b.port })),
        queryTimeoutMs: 100,
        rateLimitPerSec: 1000,
      }),
    );
  }
  for (const n of nodes) await n.node.start();
  return { net, nodes };
}

describe('DHT: simulated network of 20 nodes', () => {
  const nets: SimNet[] = [];
  after(() => {
    for (const n of nets) n.stopAll();
  });

  it('a torrent announced by one node is found by lookups from every other', async () => {
    const { net, nodes } = await buildNet(20, Date.now);
    nets.push(net);
    for (const n of nodes) assert.ok(n.node.nodeCount >= 8, `node ${n.host} knows ${n.node.nodeCount} nodes`);

    const announcer = nodes[7]!;
    const done = new Promise<number>((resolve) =>
      announcer.node.once('announce:done', (_h, count) => resolve(count)),
    );
    announcer.node.announce(infoHash); // implied_port: the port our packets come from
    const reached = await done;
    assert.ok(reached >= 6, `announced to ${reached} nodes`);

    for (const n of nodes) {
      if (n === announcer) continue;
      const found: string[] = [];
      const onFound = (hex: string, peers: { host: string; port: number }[]): void => {
        if (hex === infoHash.toString('hex')) found.push(...peers.map((p) => `${p.host}:${p.port}`));
      };
      n.node.on('peers:found', onFound);
      const peers = await n.node.lookup(infoHash);
      n.node.off('peers:found', onFound);
      assert.deepEqual(
        peers.map((p) => `${p.host}:${p.port}`),
        [`${announcer.host}:${announcer.port}`],
        `lookup from ${n.host}`,
      );
      assert.deepEqual(found, [`${announcer.host}:${announcer.port}`], 'emitted as found');
    }
  });

  it('the announce lands on the k closest nodes to the info hash', async () => {
    const { net, nodes } = await buildNet(20, Date.now, true);
    nets.push(net);
    await nodes[3]!.node.lookup(infoHash, { announce: true, port: 5000 });
    await net.settle();
    const target = idToBigInt(infoHash);
    const byDistance = [...nodes].sort((a, b) => {
      const da = idToBigInt(a.node.nodeId) ^ target;
      const db = idToBigInt(b.node.nodeId) ^ target;
      return da < db ? -1 : da > db ? 1 : 0;
    });
    const holders = nodes.filter((n) => n.node.peerStore.peerCount(infoHash.toString('hex')) > 0);
    // Every one of the 8 closest (other than the announcer itself) stores the peer.
    const closest = byDistance.filter((n) => n !== nodes[3]).slice(0, 8);
    for (const c of closest)
      assert.ok(holders.includes(c), `${c.host} is among the k closest but holds nothing`);
    assert.ok(holders.length <= 8);
    const stored = closest[0]!.node.peerStore.get(infoHash.toString('hex'), 10, Date.now());
    assert.deepEqual(stored, [{ host: nodes[3]!.host, port: 5000 }]);
  });

  it('re-announce on a virtual clock keeps the torrent findable past the 30-minute expiry', async () => {
    let now = 1_000_000;
    const clock = (): number => now;
    const { net, nodes } = await buildNet(20, clock);
    nets.push(net);
    const announcer = nodes[12]!;
    const first = new Promise<void>((r) => announcer.node.once('announce:done', () => r()));
    announcer.node.announce(infoHash, 7000);
    await first;

    // 31 minutes without maintenance: every stored peer has expired.
    now += 31 * MIN;
    assert.deepEqual(await nodes[1]!.node.lookup(infoHash), []);

    // The maintenance tick sees the announce is due (15 min) and announces again.
    const again = new Promise<void>((r) => announcer.node.once('announce:done', () => r()));
    announcer.node.tick();
    await again;
    assert.deepEqual(await nodes[1]!.node.lookup(infoHash), [{ host: announcer.host, port: 7000 }]);

    // unannounce: the next tick does not announce, and 31 minutes later it is gone.
    announcer.node.unannounce(infoHash);
    now += 31 * MIN;
    announcer.node.tick();
    await net.settle();
    assert.deepEqual(await nodes[2]!.node.lookup(infoHash), []);
  });

  it('lookups still succeed when a quarter of the nodes go silent', async () => {
    const { net, nodes } = await buildNet(20, Date.now);
    nets.push(net);
    const announcer = nodes[0]!;
    await announcer.node.lookup(infoHash, { announce: true, port: 6000 });
    // Five nodes die (not the announcer): their queries time out, and they turn bad in tables.
    for (const n of nodes.slice(15)) net.down.add(`${n.host}:${n.port}`);
    for (const n of nodes.slice(1, 15)) {
      const peers = await n.node.lookup(infoHash);
      assert.deepEqual(peers, [{ host: announcer.host, port: 6000 }], `lookup from ${n.host}`);
    }
  });
});
