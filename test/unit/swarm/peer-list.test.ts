// The peer list on its own (no sockets, time passed in): which known peers are dialled and when
// again, the per-IP limit, the bounds per source, bans scoped to the offender, encryption hints;
// and random operation sequences for its counting invariants.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { FIRST_RETRY_MS } from '../../../src/peer/dial.js';
import {
  HOST_BAN_ENDPOINTS,
  type KnownPeer,
  MAX_CANDIDATES,
  MAX_CANDIDATES_PER_SOURCE,
  PeerList,
  type PeerSource,
} from '../../../src/swarm/peer-list.js';

const addr = (i: number, host = '10.0.0.1') => ({ host, port: 1000 + i });
const keys = (it: Iterable<KnownPeer>) => [...it].map((p) => p.key);

describe('PeerList', () => {
  it('dials known peers oldest first, each once, and again after a back-off that grows', () => {
    const list = new PeerList({ maxPerIp: 8 });
    list.add([addr(1), addr(2)], 'tracker');
    assert.deepEqual(keys(list.dialCandidates(0)), ['10.0.0.1:1001', '10.0.0.1:1002']);
    const p = list.get('10.0.0.1:1001')!;
    list.dialStarted(p);
    assert.equal(list.dialing, 1);
    assert.equal(list.ipCount('10.0.0.1'), 1);
    assert.deepEqual(keys(list.dialCandidates(0)), ['10.0.0.1:1002']);
    list.dialFailed(p, 100);
    assert.equal(list.dialing, 0);
    assert.equal(list.ipCount('10.0.0.1'), 0);
    assert.equal(p.nextTryMs, 100 + FIRST_RETRY_MS);
    assert.ok(!list.dialable(p, 100 + FIRST_RETRY_MS - 1));
    assert.ok(list.dialable(p, 100 + FIRST_RETRY_MS));
    list.dialStarted(p);
    list.dialFailed(p, 5000);
    assert.equal(p.nextTryMs, 5000 + 2 * FIRST_RETRY_MS);
    // A connection that reaches the handshake forgives the failures.
    list.dialStarted(p);
    list.dialSucceeded();
    list.handshaken(p, 'encrypted');
    assert.equal(p.failures, 0);
    assert.equal(p.wire, 'encrypted');
    assert.equal(list.dialing, 0);
    assert.equal(list.ipCount('10.0.0.1'), 1, 'the connection counts until it closes');
  });

  it('when a connection closes: an hour for a fellow seeder, 30 s after a session, a back-off before the handshake', () => {
    const list = new PeerList({ maxPerIp: 8 });
    list.add([addr(1), addr(2), addr(3)], 'dht');
    const [a, b, c] = [1, 2, 3].map((i) => list.get(`10.0.0.1:${1000 + i}`)!) as [
      KnownPeer,
      KnownPeer,
      KnownPeer,
    ];
    const o = { handshaken: true, bothSeeders: false, hungUpOnPlaintext: false, retryEncrypted: false };
    for (const p of [a, b, c]) list.dialStarted(p);
    assert.equal(list.closed(a, 0, { ...o, bothSeeders: true }), false);
    assert.equal(a.nextTryMs, 3_600_000);
    list.closed(b, 0, o);
    assert.equal(b.nextTryMs, 30_000);
    list.closed(c, 0, { ...o, handshaken: false });
    assert.equal(c.failures, 1);
    assert.equal(c.nextTryMs, FIRST_RETRY_MS);
    assert.ok([a, b, c].every((p) => !p.connected));
    list.retryAll();
    assert.equal(keys(list.dialCandidates(0)).length, 3);
  });

  it('a peer that hangs up on plaintext is a hint, and under prefer is tried encrypted at once — once', () => {
    const list = new PeerList({ maxPerIp: 8 });
    list.add([addr(1)], 'manual');
    const p = list.get('10.0.0.1:1001')!;
    const o = { handshaken: false, bothSeeders: false, hungUpOnPlaintext: true, retryEncrypted: true };
    list.dialStarted(p);
    assert.equal(list.closed(p, 0, o), true);
    assert.equal(p.wire, 'encrypted');
    assert.equal(p.nextTryMs, 0);
    assert.deepEqual(list.encryptionHints(), ['10.0.0.1:1001']);
    list.dialStarted(p);
    assert.equal(list.closed(p, 0, o), false, 'the second hint waits for the back-off');
    assert.ok(p.nextTryMs > 0);
    // A dial that fails on our MSE key goes to plaintext at once.
    list.dialStarted(p);
    list.dialFailed(p, 0, { plaintextNow: true });
    assert.equal(p.wire, 'plaintext');
    assert.equal(p.nextTryMs, 0);
    // Hints keep the latest ten.
    for (let i = 2; i < 20; i++) {
      list.add([addr(i)], 'manual');
      const q = list.get(`10.0.0.1:${1000 + i}`)!;
      list.dialStarted(q);
      list.closed(q, 0, o);
    }
    assert.equal(list.encryptionHints().length, 10);
    assert.equal(list.encryptionHints().at(-1), '10.0.0.1:1019');
  });

  it('keeps to the per-IP limit, counting dials, adopted and incoming connections alike', () => {
    const list = new PeerList({ maxPerIp: 2 });
    list.add([addr(1), addr(2), addr(3), addr(1, '10.0.0.2')], 'pex');
    const first = [...list.dialCandidates(0)];
    list.dialStarted(first[0]!);
    list.joinedUnlisted('::ffff:10.0.0.1');
    assert.equal(list.ipCount('10.0.0.1'), 2, 'an IPv4-mapped address counts as the IPv4 one');
    assert.deepEqual(keys(list.dialCandidates(0)), ['10.0.0.2:1001']);
    list.countIp('10.0.0.1', -1);
    assert.deepEqual(keys(list.dialCandidates(0)), ['10.0.0.1:1002', '10.0.0.1:1003', '10.0.0.2:1001']);
    list.joinedListed(list.get('10.0.0.1:1002')!);
    assert.deepEqual(keys(list.dialCandidates(0)), ['10.0.0.2:1001']);
    list.forgetConnections();
    assert.equal(list.ipCount('10.0.0.1'), 0);
  });

  it('bans the endpoint and its peer ids; the host only when several of its endpoints lied', () => {
    const list = new PeerList({ maxPerIp: 8 });
    list.add([addr(1), addr(2), addr(3)], 'tracker');
    assert.equal(list.strike('10.0.0.1:1001', 2, 3), false);
    assert.equal(list.strike('10.0.0.1:1001', 1, 3), true);
    assert.deepEqual(list.ban('10.0.0.1:1001', ['aa']), { added: true });
    assert.deepEqual(list.ban('10.0.0.1:1001', ['bb']), { added: false });
    assert.ok(list.isBannedId('aa') && !list.isBannedId('bb'));
    assert.ok(list.isBannedEndpoint('10.0.0.1:1001') && !list.isBannedHost('10.0.0.1'));
    // The honest peer on the same address is still dialled.
    assert.deepEqual(keys(list.dialCandidates(0)), ['10.0.0.1:1002', '10.0.0.1:1003']);
    assert.equal(HOST_BAN_ENDPOINTS, 2);
    assert.deepEqual(list.ban('10.0.0.1:1002', []), { added: true, host: '10.0.0.1' });
    assert.ok(list.isBannedHost('10.0.0.1'));
    assert.deepEqual(keys(list.dialCandidates(0)), []);
    assert.deepEqual(list.ban('10.0.0.1:1003', []), { added: true }, 'the host was banned already');
    // A web seed is banned by its id alone.
    assert.deepEqual(list.ban('webseed:1', [], false), { added: true });
    assert.deepEqual(list.bannedEndpoints(), [
      '10.0.0.1:1001',
      '10.0.0.1:1002',
      '10.0.0.1:1003',
      'webseed:1',
    ]);
    // IPv6 endpoints parse back to their host.
    list.ban('[2001:db8::1]:6881', []);
    assert.deepEqual(list.ban('[2001:db8::1]:6882', []), { added: true, host: '2001:db8::1' });
  });

  it('bounds what each source adds; the user’s peers are kept, and one the user names becomes theirs', () => {
    const list = new PeerList({ maxPerIp: 8 });
    const many = (n: number, host: string) => Array.from({ length: n }, (_, i) => addr(i, host));
    list.add([addr(0, '192.0.2.1')], 'manual');
    list.add(many(MAX_CANDIDATES_PER_SOURCE + 100, '10.1.0.1'), 'pex');
    assert.equal(list.counts().pex, MAX_CANDIDATES_PER_SOURCE);
    list.add(many(MAX_CANDIDATES_PER_SOURCE, '10.2.0.1'), 'dht');
    list.add(many(300, '10.3.0.1'), 'tracker');
    const c = list.counts();
    assert.equal(c.pex + c.dht + c.tracker, MAX_CANDIDATES);
    assert.equal(c.manual, 1);
    // A connected one is never dropped to make room.
    const kept = list.get(`10.3.0.1:${1000 + 299}`)!;
    list.dialStarted(kept);
    list.add(many(MAX_CANDIDATES_PER_SOURCE, '10.4.0.1'), 'tracker');
    assert.ok(list.get(kept.key), 'the connected candidate stayed');
    list.add([kept.addr], 'manual');
    assert.equal(list.get(kept.key)!.source, 'manual');
  });

  it('random operations keep the counts consistent (dialing, per-IP, sources, bounds)', () => {
    const sources: PeerSource[] = ['manual', 'tracker', 'dht', 'pex'];
    const op = fc.oneof(
      fc.record({
        kind: fc.constant('add' as const),
        i: fc.nat(40),
        h: fc.nat(3),
        s: fc.constantFrom(...sources),
      }),
      fc.record({ kind: fc.constant('dial' as const) }),
      fc.record({ kind: fc.constant('fail' as const), n: fc.nat(10) }),
      fc.record({ kind: fc.constant('ok' as const), n: fc.nat(10) }),
      fc.record({ kind: fc.constant('close' as const), n: fc.nat(10), hs: fc.boolean() }),
      fc.record({ kind: fc.constant('ban' as const), i: fc.nat(40), h: fc.nat(3) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
        const list = new PeerList({ maxPerIp: 3 });
        const dialing: KnownPeer[] = [];
        const open: KnownPeer[] = [];
        let now = 0;
        for (const o of ops) {
          now += 500;
          if (o.kind === 'add') list.add([addr(o.i, `10.0.0.${o.h}`)], o.s);
          else if (o.kind === 'dial') {
            const p = list.dialCandidates(now).next().value;
            if (p) {
              list.dialStarted(p);
              dialing.push(p);
            }
          } else if (o.kind === 'fail' && dialing.length > 0) {
            list.dialFailed(dialing.splice(o.n % dialing.length, 1)[0]!, now);
          } else if (o.kind === 'ok' && dialing.length > 0) {
            const p = dialing.splice(o.n % dialing.length, 1)[0]!;
            list.dialSucceeded();
            list.handshaken(p, 'plaintext');
            open.push(p);
          } else if (o.kind === 'close' && open.length > 0) {
            const p = open.splice(o.n % open.length, 1)[0]!;
            list.countIp(p.addr.host, -1);
            list.closed(p, now, {
              handshaken: o.hs,
              bothSeeders: false,
              hungUpOnPlaintext: false,
              retryEncrypted: false,
            });
          } else if (o.kind === 'ban') list.ban(`10.0.0.${o.h}:${1000 + o.i}`, []);
          assert.equal(list.dialing, dialing.length);
          for (let h = 0; h <= 3; h++) {
            const host = `10.0.0.${h}`;
            const n = [...dialing, ...open].filter((p) => p.addr.host === host).length;
            assert.equal(list.ipCount(host), n);
            assert.ok(n <= 3, 'per-IP limit');
          }
          for (const p of [...dialing, ...open]) assert.ok(p.connected && list.get(p.key) === p);
          for (const p of list.dialCandidates(now)) {
            assert.ok(!p.connected && !list.isBannedEndpoint(p.key) && !list.isBannedHost(p.addr.host));
          }
          const c = list.counts();
          assert.ok(c.tracker + c.dht + c.pex <= MAX_CANDIDATES);
        }
      }),
      { numRuns: 200 },
    );
  });
});
