// An in-memory UDP network for DHT tests: each node's `send` delivers to the addressed node's
// handlePacket on a later turn of the event loop (setImmediate), from the sender's address. Nodes
// can be taken down (their packets vanish both ways) to test timeouts and replacement.

import { DhtNode, type DhtNodeOptions } from '../../../../src/discovery/dht/dht-node.js';

export interface SimNode {
  node: DhtNode;
  host: string;
  port: number;
}

export class SimNet {
  readonly #nodes = new Map<string, DhtNode>();
  readonly down = new Set<string>();
  packets = 0;
  bytes = 0;
  #inFlight = 0;

  add(host: string, port: number, options: Omit<DhtNodeOptions, 'send'>): SimNode {
    const from = { address: host, port };
    const node = new DhtNode({
      ...options,
      send: (msg, toHost, toPort) => {
        this.packets++;
        this.bytes += msg.length;
        const key = `${toHost}:${toPort}`;
        if (this.down.has(`${host}:${port}`) || this.down.has(key)) return;
        const copy = Buffer.from(msg);
        this.#inFlight++;
        setImmediate(() => {
          this.#inFlight--;
          this.#nodes.get(key)?.handlePacket(copy, from);
        });
      },
    });
    this.#nodes.set(`${host}:${port}`, node);
    return { node, host, port };
  }

  /** Resolves once no packet is waiting for delivery. */
  async settle(): Promise<void> {
    while (this.#inFlight > 0) await new Promise((r) => setImmediate(r));
  }

  stopAll(): void {
    for (const n of this.#nodes.values()) n.stop();
  }
}
