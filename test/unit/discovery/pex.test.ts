// Per-connection PEX logic: what PexSender tells one connection over time (diffs, pacing, caps, never
// the remote itself) and what PexReceiver accepts (flood verdicts, address filtering), plus a
// property: a receiver that applies every message ends up knowing exactly the sender's swarm.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  isDialableUnicast,
  PEX_INTERVAL_MS,
  PEX_MAX_ADDED,
  PexDropReason,
  type PexPeer,
  PexReceiver,
  PexSender,
} from '../../../src/discovery/pex.js';
import { encode } from '../../../src/protocol/bencode.js';
import { decodePex, encodePex, PexFlag, type PexMessage, parseIp } from '../../../src/protocol/pex.js';

const peer = (host: string, port: number, seed = false, reachable = true): PexPeer => ({
  host,
  port,
  seed,
  reachable,
});
const REMOTE = { host: '10.0.0.99', port: 6881 };

function v4Peers(n: number, from = 1): PexPeer[] {
  return Array.from({ length: n }, (_, i) => peer(`10.1.${(from + i) >> 8}.${(from + i) & 0xff}`, 7000));
}

describe('PexSender', () => {
  test('first message at once, with flags, never the remote itself; then one a minute', () => {
    const s = new PexSender(REMOTE);
    assert.equal(s.due(0), true);
    const swarm = [
      peer('10.0.0.1', 1000, true, true),
      peer('10.0.0.2', 2000, false, false),
      peer(REMOTE.host, REMOTE.port),
    ];
    const bytes = s.next(swarm, 1_000);
    assert.ok(bytes);
    assert.deepEqual(decodePex(bytes), {
      added: [
        { host: '10.0.0.1', port: 1000, flags: PexFlag.seed | PexFlag.reachable },
        { host: '10.0.0.2', port: 2000, flags: 0 },
      ],
      dropped: [],
      added6: [],
      dropped6: [],
    });
    assert.equal(s.due(1_000 + PEX_INTERVAL_MS - 1), false);
    assert.equal(s.next([...swarm, peer('10.0.0.3', 3)], 1_000 + PEX_INTERVAL_MS - 1), undefined);
    assert.equal(s.due(1_000 + PEX_INTERVAL_MS), true);
  });

  test('a peer connected over uTP goes out with flag 0x04 (BEP 11), read back as utp', () => {
    const s = new PexSender(REMOTE);
    const bytes = s.next([{ ...peer('10.0.0.7', 7), utp: true }, peer('10.0.0.8', 8)], 0);
    assert.ok(bytes);
    assert.deepEqual(decodePex(bytes).added, [
      { host: '10.0.0.7', port: 7, flags: PexFlag.reachable | PexFlag.utp },
      { host: '10.0.0.8', port: 8, flags: PexFlag.reachable },
    ]);
    const v = new PexReceiver().receive(bytes, 0);
    assert.equal(v.verdict, 'ok');
    assert.deepEqual(v.verdict === 'ok' ? v.peers.map((p) => [p.host, p.utp === true]) : [], [
      ['10.0.0.7', true],
      ['10.0.0.8', false],
    ]);
  });

  test('sends the diff: new peers added, gone peers dropped, nothing when nothing changed', () => {
    const s = new PexSender(REMOTE);
    const a = peer('10.0.0.1', 1);
    const b = peer('10.0.0.2', 2);
    const c = peer('2001:db8::3', 3);
    assert.ok(s.next([a, b], 0));
    let t = PEX_INTERVAL_MS;
    assert.equal(s.nextMessage([a, b], t), undefined, 'no change, no message');
    assert.equal(s.due(t), true, 'still due after an empty round');
    const m = s.nextMessage([b, c], t);
    assert.deepEqual(m, {
      added: [],
      dropped: [{ host: '10.0.0.1', port: 1 }],
      added6: [{ host: '2001:db8::3', port: 3, flags: PexFlag.reachable }],
      dropped6: [],
    });
    t += PEX_INTERVAL_MS;
    assert.deepEqual(s.nextMessage([a], t), {
      added: [{ host: '10.0.0.1', port: 1, flags: PexFlag.reachable }],
      dropped: [{ host: '10.0.0.2', port: 2 }],
      added6: [],
      dropped6: [{ host: '2001:db8::3', port: 3 }],
    });
  });

  test('at most 50 added per message, reachable peers first, the rest later', () => {
    const s = new PexSender(REMOTE);
    const unreachable = v4Peers(30, 500).map((p) => ({ ...p, reachable: false }));
    const swarm = [...unreachable, ...v4Peers(100)];
    const first = s.nextMessage(swarm, 0)!;
    assert.equal(first.added.length, PEX_MAX_ADDED);
    assert.ok(first.added.every((e) => e.flags & PexFlag.reachable));
    const second = s.nextMessage(swarm, PEX_INTERVAL_MS)!;
    assert.equal(second.added.length, PEX_MAX_ADDED);
    const third = s.nextMessage(swarm, 2 * PEX_INTERVAL_MS)!;
    assert.equal(third.added.length, 30);
    assert.equal(new Set([...first.added, ...second.added, ...third.added].map((e) => e.host)).size, 130);
    assert.equal(s.toldCount, 130);
  });

  test('IPv4-mapped addresses go in the IPv4 list; host names, port 0 and duplicates are skipped', () => {
    const s = new PexSender({ host: '::ffff:10.0.0.99', port: 6881 });
    const m = s.nextMessage(
      [
        peer('::ffff:10.0.0.5', 5),
        peer('10.0.0.5', 5),
        peer('10.0.0.99', 6881), // the remote, spelled the other way
        peer('example.com', 6),
        peer('10.0.0.7', 0),
        peer('2001:DB8:0::8', 8),
      ],
      0,
    );
    assert.deepEqual(m, {
      added: [{ host: '10.0.0.5', port: 5, flags: PexFlag.reachable }],
      dropped: [],
      added6: [{ host: '2001:db8::8', port: 8, flags: PexFlag.reachable }],
      dropped6: [],
    });
  });
});

describe('PexReceiver', () => {
  const payload = (msg: Partial<PexMessage>): Uint8Array =>
    encodePex({ added: [], dropped: [], added6: [], dropped6: [], ...msg });

  test('returns the peers learned and dropped, with seed, reachable and uTP flags', () => {
    const r = new PexReceiver();
    const v = r.receive(
      payload({
        added: [{ host: '10.0.0.1', port: 1, flags: PexFlag.seed }],
        added6: [{ host: '2001:db8::2', port: 2, flags: PexFlag.reachable | PexFlag.utp }],
        dropped: [{ host: '10.0.0.3', port: 3 }],
      }),
      0,
    );
    assert.deepEqual(v, {
      verdict: 'ok',
      peers: [
        { host: '10.0.0.1', port: 1, seed: true, reachable: false },
        { host: '2001:db8::2', port: 2, seed: false, reachable: true, utp: true },
      ],
      dropped: [{ host: '10.0.0.3', port: 3 }],
    });
  });

  test('a second message within 45 s is a flood; at 45 s it is fine', () => {
    const r = new PexReceiver();
    assert.equal(r.receive(payload({}), 1_000).verdict, 'ok');
    const v = r.receive(payload({}), 1_000 + 44_999);
    assert.equal(v.verdict, 'drop');
    assert.equal(v.verdict === 'drop' && v.reason, PexDropReason.floodRate);
    const r2 = new PexReceiver();
    assert.equal(r2.receive(payload({}), 0).verdict, 'ok');
    assert.equal(r2.receive(payload({}), 45_000).verdict, 'ok');
  });

  test('more than 100 added peers in one message, or an over-cap list, is a flood', () => {
    const added = (n: number) => v4Peers(n).map((p) => ({ host: p.host, port: p.port, flags: 0 }));
    assert.equal(new PexReceiver().receive(payload({ added: added(100) }), 0).verdict, 'ok');
    const over = new PexReceiver().receive(
      payload({
        added: added(60),
        added6: [
          { host: '::2', port: 1, flags: 0 },
          ...added(40).map((e, i) => ({ ...e, host: `2001:db8::${i + 10}` })),
        ],
      }),
      0,
    );
    assert.equal(over.verdict === 'drop' && over.reason, PexDropReason.floodSize);
    const strict = new PexReceiver({ maxAdded: 50 }).receive(payload({ added: added(51) }), 0);
    assert.equal(strict.verdict === 'drop' && strict.reason, PexDropReason.floodSize);
    const hugeDropped = encode(new Map([['dropped', new Uint8Array(6 * 201)]]));
    const v = new PexReceiver().receive(hugeDropped, 0);
    assert.equal(v.verdict === 'drop' && v.reason, PexDropReason.floodSize);
  });

  test('a malformed payload drops the connection', () => {
    for (const bad of [Buffer.from('garbage'), encode(new Map([['added', new Uint8Array(5)]]))]) {
      const v = new PexReceiver().receive(bad, 0);
      assert.equal(v.verdict === 'drop' && v.reason, PexDropReason.malformed);
    }
  });

  test('filters port 0, non-unicast, link-local IPv6, our own address and duplicates', () => {
    const r = new PexReceiver({ ownAddresses: [{ host: '192.168.1.10', port: 6881 }] });
    const hosts = [
      ['192.168.1.10', 6881], // us
      ['192.168.1.10', 6882], // same host, other port: another client
      ['10.0.0.1', 0],
      ['0.0.0.0', 1],
      ['0.1.2.3', 1],
      ['224.0.0.1', 1],
      ['239.192.152.143', 6771],
      ['240.0.0.1', 1],
      ['255.255.255.255', 1],
      ['127.0.0.1', 7000], // loopback stays: swarms on one machine
      ['10.0.0.2', 2],
      ['10.0.0.2', 2],
    ] as const;
    const hosts6 = [
      ['::', 1],
      ['ff02::1', 1],
      ['fe80::1', 1],
      ['::ffff:10.0.0.2', 2], // mapped duplicate of 10.0.0.2:2
      ['::ffff:224.0.0.1', 1],
      ['::1', 9],
      ['2001:db8::1', 1],
    ] as const;
    const v = r.receive(
      payload({
        added: hosts.map(([host, port]) => ({ host, port, flags: 0 })),
        added6: hosts6.map(([host, port]) => ({ host, port, flags: 0 })),
      }),
      0,
    );
    assert.equal(v.verdict, 'ok');
    assert.deepEqual(v.verdict === 'ok' && v.peers.map((p) => `${p.host} ${p.port}`), [
      '192.168.1.10 6882',
      '127.0.0.1 7000',
      '10.0.0.2 2',
      '::1 9',
      '2001:db8::1 1',
    ]);
  });

  test('isDialableUnicast', () => {
    const yes = [
      '1.1.1.1',
      '10.0.0.1',
      '127.0.0.1',
      '223.255.255.255',
      '::1',
      '2001:db8::1',
      'fc00::1',
      '::ffff:8.8.8.8',
    ];
    const no = [
      '0.0.0.0',
      '224.0.0.0',
      '255.255.255.255',
      '::',
      'ff05::2',
      'fe80::1',
      'febf::1',
      '::ffff:0.0.0.1',
    ];
    for (const h of yes) assert.equal(isDialableUnicast(parseIp(h)!), true, h);
    for (const h of no) assert.equal(isDialableUnicast(parseIp(h)!), false, h);
  });
});

describe('sender and receiver together', () => {
  test('property: after every change settles, the receiver knows exactly the swarm minus itself', () => {
    const host = fc.oneof(
      fc.integer({ min: 1, max: 40 }).map((i) => `10.2.0.${i}`),
      fc.integer({ min: 1, max: 40 }).map((i) => `2001:db8::${i.toString(16)}`),
    );
    const swarmState = fc.uniqueArray(
      fc.record({
        host,
        port: fc.integer({ min: 6881, max: 6883 }),
        seed: fc.boolean(),
        reachable: fc.boolean(),
      }),
      { selector: (p) => `${p.host} ${p.port}`, maxLength: 120 },
    );
    fc.assert(
      fc.property(fc.array(swarmState, { minLength: 1, maxLength: 6 }), (states) => {
        const remote = { host: '10.2.0.1', port: 6881 };
        const sender = new PexSender(remote);
        const receiver = new PexReceiver();
        const known = new Map<string, PexPeer>();
        let t = 0;
        const round = (swarm: PexPeer[]): void => {
          const bytes = sender.next(swarm, t);
          if (bytes) {
            const v = receiver.receive(bytes, t);
            assert.equal(v.verdict, 'ok');
            if (v.verdict !== 'ok') return;
            for (const d of v.dropped) known.delete(`${d.host} ${d.port}`);
            for (const p of v.peers) known.set(`${p.host} ${p.port}`, p);
          }
          t += PEX_INTERVAL_MS;
        };
        for (const swarm of states) {
          round(swarm);
          // Enough rounds to flush the 50-per-message cap.
          for (let i = 0; i < 3; i++) round(swarm);
          const expected = swarm
            .filter((p) => !(p.host === remote.host && p.port === remote.port))
            .map((p) => `${p.host} ${p.port}`)
            .sort();
          assert.deepEqual([...known.keys()].sort(), expected);
        }
      }),
      { numRuns: 200 },
    );
  });
});
