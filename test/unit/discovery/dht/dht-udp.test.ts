// 20 DHT nodes over real UDP sockets on 127.0.0.1 (each socket's 'message' calls handlePacket, as
// the session's demux will): bootstrap as a chain, one node announces, every other node finds it.
// All sockets are closed and all nodes stopped at the end.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { after, describe, it } from 'node:test';
import { DhtNode } from '../../../../src/discovery/dht/dht-node.js';

const infoHash = createHash('sha1').update('udp torrent').digest();

describe('DHT over UDP on 127.0.0.1', () => {
  const sockets: Socket[] = [];
  const nodes: DhtNode[] = [];
  after(async () => {
    for (const n of nodes) n.stop();
    await Promise.all(sockets.map((s) => new Promise<void>((r) => s.close(() => r()))));
  });

  it('20 nodes: bootstrap chain, announce, lookup from every other node', async () => {
    const ports: number[] = [];
    for (let i = 0; i < 20; i++) {
      const socket = createSocket('udp4');
      sockets.push(socket);
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.bind(0, '127.0.0.1', () => resolve());
      });
      const port = socket.address().port;
      ports.push(port);
      const node = new DhtNode({
        send: (msg, host, toPort) => socket.send(msg, toPort, host),
        // Every node shares 127.0.0.1 here, so the per-IP limit must allow the whole swarm.
        rateLimitPerSec: 100_000,
        queryTimeoutMs: 1000,
        bootstrap: i === 0 ? [] : [{ host: '127.0.0.1', port: ports[i - 1]! }],
      });
      socket.on('message', (msg, rinfo) => {
        if (msg[0] === 0x64) node.handlePacket(msg, rinfo); // 'd': DHT (the session's demux rule)
      });
      nodes.push(node);
    }
    for (const n of nodes) await n.start();
    for (const n of nodes) assert.ok(n.nodeCount >= 5, `a node knows only ${n.nodeCount} nodes`);

    const announcer = nodes[10]!;
    const done = new Promise<number>((r) => announcer.once('announce:done', (_h, count) => r(count)));
    announcer.announce(infoHash, 51413);
    assert.ok((await done) >= 6);

    for (const n of nodes) {
      if (n === announcer) continue;
      assert.deepEqual(await n.lookup(infoHash), [{ host: '127.0.0.1', port: 51413 }]);
    }

    // The state a session would save: JSON-able, our id and live nodes.
    const state = JSON.parse(JSON.stringify(nodes[0]!.exportState()));
    assert.equal(state.nodes.length, nodes[0]!.nodeCount);
    assert.ok(state.nodes.every((x: { host: string }) => x.host === '127.0.0.1'));
  });
});
