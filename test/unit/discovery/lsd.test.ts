// LsdNode logic without multicast: nodes joined by an in-memory "LAN" that delivers every packet to
// every member (the sender too, as multicast loopback does), and once over real UDP sockets on
// 127.0.0.1 unicast. The real multicast path runs only in network namespaces (test/interop).
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import {
  LsdNode,
  type LsdNodeOptions,
  type LsdPeer,
  type LsdTransport,
  type LsdTransportContext,
  type LsdTransportFactory,
  lsdRefusal,
} from '../../../src/discovery/lsd.js';
import { formatLsdAnnounce, lsdInfoHashesPerPacket, parseLsdAnnounce } from '../../../src/protocol/lsd.js';

const hash = (i: number): Buffer => Buffer.alloc(20, i);
const H1 = hash(1);
const H2 = hash(2);

/** An in-memory LAN: every packet reaches every member, the sender included. */
class Lan {
  readonly members = new Map<string, LsdTransportContext>();
  readonly packets: { from: string; data: Buffer }[] = [];

  join(address: string): LsdTransportFactory {
    return async (ctx) => {
      this.members.set(address, ctx);
      const t: LsdTransport = {
        ipv6: false,
        send: (data) => {
          this.packets.push({ from: address, data });
          for (const m of this.members.values()) m.onPacket(Buffer.from(data), { address, port: 6771 });
        },
        close: async () => {
          this.members.delete(address);
        },
      };
      return [t];
    };
  }

  /** A packet from a host that is not an LsdNode (a foreign client, or garbage). */
  inject(from: string, data: Buffer): void {
    for (const m of this.members.values()) m.onPacket(data, { address: from, port: 6771 });
  }
}

class Clock {
  ms = 1_000_000;
  readonly now = (): number => this.ms;
}

function node(lan: Lan, address: string, clock: Clock, extra: Partial<LsdNodeOptions> = {}): LsdNode {
  return new LsdNode({ port: 6881, transport: lan.join(address), now: clock.now, tickMs: 5, ...extra });
}

function collect(n: LsdNode): [string, LsdPeer][] {
  const found: [string, LsdPeer][] = [];
  n.on('peer:found', (h, p) => found.push([h, p]));
  return found;
}

async function waitFor(cond: () => boolean, what: string, timeoutMs = 2_000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('LsdNode over an in-memory LAN', () => {
  test('two nodes find each other for a shared torrent; their own announces are ignored', async () => {
    const lan = new Lan();
    const clock = new Clock();
    const a = node(lan, '192.168.1.2', clock, { port: 1111 });
    const b = node(lan, '192.168.1.3', clock, { port: 2222 });
    const foundA = collect(a);
    const foundB = collect(b);
    try {
      assert.equal(await a.start(), true);
      assert.equal(await b.start(), true);
      a.add(H1); // nobody else has H1 registered yet: no one reports it
      b.add(H1);
      assert.deepEqual(foundA, [[H1.toString('hex'), { host: '192.168.1.3', port: 2222 }]]);
      assert.deepEqual(foundB, []);
      clock.ms += 5 * 60_000; // a's re-announce
      await waitFor(() => foundB.length === 1, "a's re-announce");
      assert.deepEqual(foundB, [[H1.toString('hex'), { host: '192.168.1.2', port: 1111 }]]);
      // b re-announced too, and five minutes is past the one-minute dedup window: reported again.
      await waitFor(() => foundA.length === 2, "b's re-announce");
      assert.ok(a.stats.ownIgnored >= 1);
      assert.ok(b.stats.ownIgnored >= 1);
      const sent = parseLsdAnnounce(lan.packets[0]!.data);
      assert.equal(sent.cookie, a.cookie);
      assert.equal(sent.port, 1111);
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  test('reports only registered torrents, and each peer once per window', async () => {
    const lan = new Lan();
    const clock = new Clock();
    const a = node(lan, '10.0.0.1', clock, { reannounceIntervalMs: 1e9 });
    const found = collect(a);
    try {
      await a.start();
      a.add(H1);
      const foreign = (port: number, ...hashes: Buffer[]): Buffer =>
        formatLsdAnnounce({ port, infoHashes: hashes, cookie: 'someone-else' });
      lan.inject('10.0.0.9', foreign(9000, H2));
      assert.equal(found.length, 0, 'H2 is not ours');
      lan.inject('10.0.0.9', foreign(9000, H2, H1));
      lan.inject('10.0.0.9', foreign(9000, H1));
      assert.deepEqual(found, [[H1.toString('hex'), { host: '10.0.0.9', port: 9000 }]]);
      lan.inject('10.0.0.9', foreign(9001, H1)); // another port is another peer
      assert.equal(found.length, 2);
      clock.ms += 60_000;
      lan.inject('10.0.0.9', foreign(9000, H1));
      assert.equal(found.length, 3, 'reported again after the window');
      a.remove(H1);
      clock.ms += 60_000;
      lan.inject('10.0.0.9', foreign(9000, H1));
      assert.equal(found.length, 3, 'removed torrents are not reported');
    } finally {
      await a.stop();
    }
  });

  test('malformed packets are counted and ignored; the receive rate is capped', async () => {
    const lan = new Lan();
    const clock = new Clock();
    const a = node(lan, '10.0.0.1', clock, { maxReceivedPerSec: 5 });
    const found = collect(a);
    try {
      await a.start();
      a.add(H1); // our own packet: 1 received
      lan.inject('10.0.0.9', Buffer.from('GET / HTTP/1.1\r\n\r\n'));
      lan.inject('10.0.0.9', Buffer.alloc(2000, 0x41));
      assert.equal(a.stats.malformed, 2);
      const good = formatLsdAnnounce({ port: 9000, infoHashes: [H1], cookie: 'x' });
      for (let i = 0; i < 10; i++) lan.inject(`10.0.1.${i}`, good);
      assert.equal(a.stats.packetsReceived, 5);
      assert.equal(a.stats.rateDropped, 8);
      assert.equal(found.length, 2);
      clock.ms += 1_000;
      lan.inject('10.0.2.1', good);
      assert.equal(found.length, 3, 'a new second, a new budget');
    } finally {
      await a.stop();
    }
  });

  test('one announce per torrent per minute', async () => {
    const lan = new Lan();
    const clock = new Clock();
    const a = node(lan, '10.0.0.1', clock, { tickMs: 60_000 });
    try {
      assert.equal(a.announce([H1]), 0, 'nothing before start');
      await a.start();
      assert.equal(a.announce([H1, H2]), 2);
      assert.equal(lan.packets.length, 1, 'both in one packet');
      assert.deepEqual(parseLsdAnnounce(lan.packets[0]!.data).infoHashes, [H1, H2]);
      clock.ms += 59_999;
      assert.equal(a.announce([H1]), 0);
      assert.equal(a.announce([H1, H1, H2]), 0);
      clock.ms += 1;
      assert.equal(a.announce([H1, H1]), 1);
      assert.equal(lan.packets.length, 2);
      assert.throws(() => a.announce([Buffer.alloc(19)]), RangeError);
    } finally {
      await a.stop();
    }
  });

  test('a global packet budget; registered torrents it held back go out on a later tick', async () => {
    const lan = new Lan();
    const clock = new Clock();
    const a = node(lan, '10.0.0.1', clock, { maxBurstPackets: 2, packetsPerSec: 1 });
    try {
      await a.start();
      const perPacket = lsdInfoHashesPerPacket({ port: 6881, cookie: a.cookie });
      const many = Array.from({ length: perPacket * 3 }, (_, i) => hash(i + 10));
      assert.equal(a.announce(many), perPacket * 2, 'two packets of budget');
      assert.equal(lan.packets.length, 2);
      assert.equal(a.announce(many), 0, 'budget spent (and the first two packets are rate-limited)');
      // add() sends at once while budget lasts; then registered torrents wait for the ticks.
      a.add(H1);
      a.add(H2);
      assert.equal(lan.packets.length, 2);
      await new Promise((r) => setTimeout(r, 30));
      assert.equal(lan.packets.length, 2, 'no refill without time passing');
      clock.ms += 1_000;
      await waitFor(() => lan.packets.length === 3, 'the refilled token');
      assert.deepEqual(parseLsdAnnounce(lan.packets[2]!.data).infoHashes, [H1, H2]);
      clock.ms += 10_000;
      await new Promise((r) => setTimeout(r, 30));
      assert.equal(lan.packets.length, 3, 'nothing else is due');
    } finally {
      await a.stop();
    }
  });

  test('registered torrents are re-announced every period', async () => {
    const lan = new Lan();
    const clock = new Clock();
    const a = node(lan, '10.0.0.1', clock, { reannounceIntervalMs: 300_000 });
    try {
      await a.start();
      a.add(H1);
      assert.equal(lan.packets.length, 1);
      clock.ms += 299_999;
      await new Promise((r) => setTimeout(r, 30));
      assert.equal(lan.packets.length, 1);
      clock.ms += 1;
      await waitFor(() => lan.packets.length === 2, 're-announce');
      a.remove(H1);
      clock.ms += 300_000;
      await new Promise((r) => setTimeout(r, 30));
      assert.equal(lan.packets.length, 2, 'removed torrents are not re-announced');
    } finally {
      await a.stop();
    }
  });

  test('torrents added before start are announced on start', async () => {
    const lan = new Lan();
    const clock = new Clock();
    const a = node(lan, '10.0.0.1', clock);
    try {
      a.add(H1);
      assert.equal(lan.packets.length, 0);
      await a.start();
      assert.equal(lan.packets.length, 1);
    } finally {
      await a.stop();
    }
  });

  test('start and stop are idempotent, restartable, and follow the abort signal', async () => {
    const lan = new Lan();
    const clock = new Clock();
    const controller = new AbortController();
    const a = node(lan, '10.0.0.1', clock, { signal: controller.signal });
    const [s1, s2] = await Promise.all([a.start(), a.start()]);
    assert.equal(s1 && s2, true);
    assert.equal(lan.members.size, 1);
    await a.stop();
    await a.stop();
    assert.equal(a.running, false);
    assert.equal(lan.members.size, 0);
    assert.equal(await a.start(), true);
    assert.equal(lan.members.size, 1);
    controller.abort();
    await waitFor(() => !a.running && lan.members.size === 0, 'stop on abort');
    await a.stop();
  });

  test('stop during start leaves nothing open', async () => {
    const lan = new Lan();
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const inner = lan.join('10.0.0.1');
    const a = new LsdNode({
      port: 1,
      transport: async (ctx) => {
        await gate;
        return inner(ctx);
      },
    });
    const starting = a.start();
    const stopping = a.stop();
    release();
    assert.equal(await starting, false);
    await stopping;
    assert.equal(lan.members.size, 0);
    assert.equal(a.running, false);
  });

  test('a transport that fails to open rejects start, and a later start may succeed', async () => {
    const lan = new Lan();
    let fail = true;
    const inner = lan.join('10.0.0.1');
    const a = new LsdNode({
      port: 1,
      transport: async (ctx) => {
        if (fail) throw new Error('no such interface');
        return inner(ctx);
      },
    });
    await assert.rejects(a.start(), /no such interface/);
    fail = false;
    assert.equal(await a.start(), true);
    await a.stop();
  });
});

describe('safety: the real multicast path stays off on loopback', () => {
  test('start() refuses with a loopback bind or interface address', async () => {
    for (const o of [
      { bindAddress: '127.0.0.1' },
      { bindAddress: '127.5.6.7' },
      { interfaceAddress: '::1' },
      { bindAddress: 'localhost' },
      { interfaceAddress: '::ffff:127.0.0.1' },
      { bindAddress: '10.0.0.1', ipv6Interface: 'lo' },
    ]) {
      const n = new LsdNode({ port: 6881, ...o });
      const reasons: string[] = [];
      n.on('lsd:disabled', (r) => reasons.push(r));
      assert.equal(await n.start(), false, JSON.stringify(o));
      assert.equal(n.running, false);
      assert.equal(reasons.length, 1);
      n.add(H1);
      assert.equal(n.announce([H2]), 0);
      await n.stop();
    }
  });

  test('lsdRefusal', () => {
    assert.match(lsdRefusal({ port: 1, bindAddress: '127.0.0.1' })!, /loopback/);
    assert.match(
      lsdRefusal({ port: 1, bindAddress: '10.0.0.1', multicastAddress: '10.0.0.2' })!,
      /not an IPv4 multicast/,
    );
    assert.match(
      lsdRefusal({ port: 1, bindAddress: '10.0.0.1', multicastAddress: 'ff15::efc0:988f' })!,
      /not an IPv4/,
    );
    assert.equal(lsdRefusal({ port: 1, bindAddress: '10.77.0.2' }), undefined);
    assert.equal(
      lsdRefusal({ port: 1, bindAddress: '10.77.0.2', multicastAddress: '239.192.152.143' }),
      undefined,
    );
  });
});

describe('LsdNode over real UDP sockets (127.0.0.1 unicast)', () => {
  /** A transport that "multicasts" by sending to every registered loopback port, itself included. */
  function udpLan(): { join: () => LsdTransportFactory; sockets: Socket[] } {
    const ports: number[] = [];
    const sockets: Socket[] = [];
    return {
      sockets,
      join: () => async (ctx) => {
        const s = createSocket('udp4');
        sockets.push(s);
        s.on('message', (data, rinfo) => ctx.onPacket(data, { address: rinfo.address, port: rinfo.port }));
        s.bind(0, '127.0.0.1');
        await once(s, 'listening');
        ports.push(s.address().port);
        return [
          {
            ipv6: false,
            send: (packet) => {
              for (const p of ports) s.send(packet, p, '127.0.0.1');
            },
            close: () => new Promise<void>((r) => s.close(() => r())),
          },
        ];
      },
    };
  }

  test('announces cross real sockets; own cookie ignored', async () => {
    const lan = udpLan();
    const a = new LsdNode({ port: 3333, transport: lan.join() });
    const b = new LsdNode({ port: 4444, transport: lan.join() });
    const foundA = collect(a);
    const foundB = collect(b);
    try {
      await a.start();
      await b.start();
      a.add(H1);
      b.add(H1);
      await waitFor(() => foundA.length === 1 && foundB.length === 1, 'both peers');
      await waitFor(() => a.stats.ownIgnored === 1 && b.stats.ownIgnored === 1, 'own packets back');
      assert.deepEqual(foundA, [[H1.toString('hex'), { host: '127.0.0.1', port: 4444 }]]);
      assert.deepEqual(foundB, [[H1.toString('hex'), { host: '127.0.0.1', port: 3333 }]]);
    } finally {
      await a.stop();
      await b.stop();
    }
  });
});
