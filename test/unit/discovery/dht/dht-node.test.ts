// One DhtNode as a responder, driven by raw KRPC packets: the four queries, tokens (other info hash,
// other IP), implied_port, bounded replies, and hostile input: malformed KRPC of every kind, our own
// id, spoofed replies, a get_peers flood from one address. Also state export/import and stop().

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { afterEach, describe, it } from 'node:test';
import { DHT_BOOTSTRAP_NODES, DhtNode, type DhtNodeOptions } from '../../../../src/discovery/dht/dht-node.js';
import {
  decodeKrpc,
  encodeKrpc,
  KrpcErrorCode,
  type KrpcMessage,
  type KrpcQuery,
} from '../../../../src/protocol/krpc.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const idOf = (s: string): Buffer => createHash('sha1').update(s).digest();
const HASH = idOf('torrent');
const OTHER_HASH = idOf('another torrent');

interface Sent {
  msg: Buffer;
  host: string;
  port: number;
}

const nodes: DhtNode[] = [];
afterEach(() => {
  for (const n of nodes.splice(0)) n.stop();
});

function makeNode(opts: Partial<DhtNodeOptions> = {}): { node: DhtNode; sent: Sent[] } {
  const sent: Sent[] = [];
  const node = new DhtNode({
    nodeId: idOf('self'),
    send: (msg, host, port) => sent.push({ msg, host, port }),
    queryTimeoutMs: 50,
    ...opts,
  });
  nodes.push(node);
  return { node, sent };
}

let tid = 0;
type QueryFields = KrpcQuery extends infer T ? (T extends unknown ? Omit<T, 'kind' | 't'> : never) : never;
function query(q: QueryFields): { packet: Buffer; t: Buffer } {
  const t = Buffer.from([0xa0, tid++ & 0xff]);
  return { packet: encodeKrpc({ kind: 'query', t, ...q } as KrpcQuery), t };
}

/** Sends a packet and returns the node's reply to it (matched by transaction id), if any. */
function ask(
  node: DhtNode,
  sent: Sent[],
  packet: Buffer,
  from = { address: '10.0.0.5', port: 4000 },
  t?: Buffer,
): KrpcMessage | undefined {
  const before = sent.length;
  node.handlePacket(packet, from);
  const replies = sent
    .slice(before)
    .filter((s) => s.host === from.address && s.port === from.port)
    .map((s) => decodeKrpc(s.msg))
    .filter((m) => m.kind !== 'query' && (t === undefined || m.t.equals(t)));
  assert.ok(replies.length <= 1);
  return replies[0];
}

const REMOTE = idOf('remote');

describe('DhtNode as responder', () => {
  it('answers ping with its id and the transaction id', () => {
    const { node, sent } = makeNode();
    const { packet, t } = query({ method: 'ping', id: REMOTE });
    const r = ask(node, sent, packet, undefined, t);
    assert.equal(r?.kind, 'response');
    assert.ok(r?.kind === 'response' && r.id.equals(node.nodeId) && r.t.equals(t));
    // The stranger is pinged back (its address must answer before it enters the routing table).
    const ping = sent.map((s) => decodeKrpc(s.msg)).find((m) => m.kind === 'query');
    assert.equal(ping?.kind === 'query' && ping.method, 'ping');
  });

  it('a stranger that answers our ping enters the routing table and is returned by find_node', () => {
    const { node, sent } = makeNode();
    const from = { address: '10.0.0.5', port: 4000 };
    ask(node, sent, query({ method: 'ping', id: REMOTE }).packet, from);
    const ping = sent.map((s) => decodeKrpc(s.msg)).find((m) => m.kind === 'query')!;
    node.handlePacket(encodeKrpc({ kind: 'response', t: ping.t, id: REMOTE }), from);
    assert.equal(node.nodeCount, 1);
    const { packet, t } = query({ method: 'find_node', id: idOf('asker'), target: REMOTE });
    const r = ask(node, sent, packet, { address: '10.0.0.9', port: 1 }, t);
    assert.ok(r?.kind === 'response');
    assert.deepEqual(r.nodes, [{ id: REMOTE, host: '10.0.0.5', port: 4000 }]);
    assert.equal(r.nodes6, undefined, 'an IPv4 requester gets IPv4 nodes only');
  });

  it("replies carry `v` and the asker's `ip` (BEP 42), and never list the asker to itself", () => {
    const { node, sent } = makeNode({ version: b('BM\x00\x01') });
    const from = { address: '10.0.0.5', port: 4000 };
    ask(node, sent, query({ method: 'ping', id: REMOTE }).packet, from);
    const ping = sent.map((s) => decodeKrpc(s.msg)).find((m) => m.kind === 'query')!;
    node.handlePacket(encodeKrpc({ kind: 'response', t: ping.t, id: REMOTE }), from);
    assert.equal(node.nodeCount, 1);
    // The node in the table asks for nodes (and peers) near itself: it is not told about itself.
    for (const q of [
      query({ method: 'find_node', id: REMOTE, target: REMOTE }),
      query({ method: 'get_peers', id: REMOTE, infoHash: REMOTE }),
    ]) {
      const r = ask(node, sent, q.packet, from, q.t);
      assert.ok(r?.kind === 'response');
      assert.deepEqual(r.nodes, []);
      assert.deepEqual(r.ip, { host: '10.0.0.5', port: 4000 });
      assert.deepEqual(r.v, b('BM\x00\x01'));
    }
    // Another asker is told about it.
    const other = query({ method: 'find_node', id: idOf('asker'), target: REMOTE });
    const r2 = ask(node, sent, other.packet, { address: '10.0.0.9', port: 1 }, other.t);
    assert.ok(r2?.kind === 'response');
    assert.deepEqual(r2.nodes, [{ id: REMOTE, host: '10.0.0.5', port: 4000 }]);
    assert.deepEqual(r2.ip, { host: '10.0.0.9', port: 1 });
    // Errors carry them too.
    const bad = query({
      method: 'announce_peer',
      id: REMOTE,
      infoHash: HASH,
      port: 1,
      token: b('nope'),
      impliedPort: false,
    });
    const e = ask(node, sent, bad.packet, from, bad.t);
    assert.ok(e?.kind === 'error');
    assert.deepEqual(e.ip, { host: '10.0.0.5', port: 4000 });
  });

  it('get_peers gives a token; announce_peer with it stores the peer; get_peers then returns values', () => {
    const { node, sent } = makeNode();
    const from = { address: '10.0.0.5', port: 4000 };
    const gp = query({ method: 'get_peers', id: REMOTE, infoHash: HASH });
    const r1 = ask(node, sent, gp.packet, from, gp.t);
    assert.ok(r1?.kind === 'response' && r1.token && r1.values === undefined);
    assert.deepEqual(r1.nodes, [], 'no peers yet: nodes instead');
    const ap = query({
      method: 'announce_peer',
      id: REMOTE,
      infoHash: HASH,
      port: 6881,
      token: r1.token,
      impliedPort: false,
    });
    const r2 = ask(node, sent, ap.packet, from, ap.t);
    assert.equal(r2?.kind, 'response');
    const gp2 = query({ method: 'get_peers', id: idOf('x'), infoHash: HASH });
    const r3 = ask(node, sent, gp2.packet, { address: '10.0.0.6', port: 1 }, gp2.t);
    assert.ok(r3?.kind === 'response');
    assert.deepEqual(r3.values, [{ host: '10.0.0.5', port: 6881 }]);
  });

  it('implied_port stores the source port of the announce', () => {
    const { node, sent } = makeNode();
    const from = { address: '10.0.0.5', port: 4321 };
    const gp = query({ method: 'get_peers', id: REMOTE, infoHash: HASH });
    const r1 = ask(node, sent, gp.packet, from, gp.t);
    assert.ok(r1?.kind === 'response' && r1.token);
    const ap = query({
      method: 'announce_peer',
      id: REMOTE,
      infoHash: HASH,
      port: 1,
      token: r1.token,
      impliedPort: true,
    });
    assert.equal(ask(node, sent, ap.packet, from, ap.t)?.kind, 'response');
    assert.deepEqual(node.peerStore.get(HASH.toString('hex'), 10, Date.now()), [
      { host: '10.0.0.5', port: 4321 },
    ]);
  });

  it('refuses a token reused for another info hash, or from another IP (203)', () => {
    const { node, sent } = makeNode();
    const from = { address: '10.0.0.5', port: 4000 };
    const gp = query({ method: 'get_peers', id: REMOTE, infoHash: HASH });
    const r1 = ask(node, sent, gp.packet, from, gp.t);
    assert.ok(r1?.kind === 'response' && r1.token);
    const other = query({
      method: 'announce_peer',
      id: REMOTE,
      infoHash: OTHER_HASH,
      port: 1,
      token: r1.token,
      impliedPort: false,
    });
    const e1 = ask(node, sent, other.packet, from, other.t);
    assert.ok(e1?.kind === 'error' && e1.errorCode === KrpcErrorCode.protocol, JSON.stringify(e1));
    const stolen = query({
      method: 'announce_peer',
      id: idOf('thief'),
      infoHash: HASH,
      port: 1,
      token: r1.token,
      impliedPort: false,
    });
    const e2 = ask(node, sent, stolen.packet, { address: '10.0.0.66', port: 4000 }, stolen.t);
    assert.ok(e2?.kind === 'error' && e2.errorCode === KrpcErrorCode.protocol);
    assert.equal(node.peerStore.torrentCount, 0);
  });

  it('unknown methods get 204', () => {
    const { node, sent } = makeNode();
    const { packet, t } = query({ method: 'unknown', name: 'sample_infohashes', id: REMOTE });
    const r = ask(node, sent, packet, undefined, t);
    assert.ok(r?.kind === 'error' && r.errorCode === KrpcErrorCode.methodUnknown);
  });

  it('get_peers answers stay bounded: at most 50 values, a small multiple of the query', () => {
    const { node, sent } = makeNode({ rateLimitPerSec: 10_000 });
    for (let i = 0; i < 300; i++) {
      const from = { address: `10.1.${i >> 8}.${i & 255}`, port: 5000 };
      const gp = query({ method: 'get_peers', id: idOf(`r${i}`), infoHash: HASH });
      const r = ask(node, sent, gp.packet, from, gp.t);
      assert.ok(r?.kind === 'response' && r.token);
      const ap = query({
        method: 'announce_peer',
        id: idOf(`r${i}`),
        infoHash: HASH,
        port: 6881,
        token: r.token,
        impliedPort: false,
      });
      ask(node, sent, ap.packet, from, ap.t);
    }
    const gp = query({ method: 'get_peers', id: idOf('asker'), infoHash: HASH });
    const before = sent.length;
    node.handlePacket(gp.packet, { address: '10.9.9.9', port: 1 });
    const reply = sent.slice(before).find((s) => s.host === '10.9.9.9')!;
    const r = decodeKrpc(reply.msg);
    assert.ok(r.kind === 'response' && r.values);
    assert.equal(r.values.length, 50);
    assert.ok(
      reply.msg.length <= 6 * gp.packet.length,
      `${reply.msg.length} bytes for a ${gp.packet.length}-byte query`,
    );
  });
});

describe('DhtNode under hostile input', () => {
  const from = { address: '10.0.0.5', port: 4000 };

  it('malformed KRPC: 203 when a transaction id can be read (and it is not a reply), else silence', () => {
    const { node, sent } = makeNode();
    const dropped: string[] = [];
    node.on('packet:dropped', (reason) => dropped.push(reason));
    const silent = [
      b(''),
      b('garbage'),
      b('i42e'),
      b('li1ei2ee'),
      b('de'),
      b('d1:ti5e1:y1:qe'),
      b('d1:t2:aa1:y1:r1:rd2:id3:abcee'), // a malformed reply is never answered
      b('d1:t2:aa1:y1:e1:e3:xyze'),
      b(`d1:t2:aa1:y1:q1:a${'9'.repeat(12)}:`), // a huge declared string
      Buffer.concat([b('d1:t2:aa1:y1:q1:x9000:'), Buffer.alloc(9000), b('e')]), // over 8 KiB
      Buffer.alloc(20_000, 0x64), // 'dddd…': deep nesting, oversized
      b('l'.repeat(5000)),
    ];
    for (const p of silent)
      assert.equal(ask(node, sent, p, from), undefined, p.subarray(0, 40).toString('latin1'));
    const answered = [
      b('d1:t2:aae'), // missing y
      b('d1:t2:aa1:yi1ee'), // y of a wrong type
      b('d1:t2:aa1:y1:qe'), // query without q or a
      b('d1:ad2:id2:xxe1:q4:ping1:t2:aa1:y1:qe'), // short id
      b('d1:ai5e1:q4:ping1:t2:aa1:y1:qe'), // a is not a dict
      b('d1:ad2:id20:abcdefghij01234567899:info_hash3:abce1:q9:get_peers1:t2:aa1:y1:qe'),
    ];
    for (const p of answered) {
      const r = ask(node, sent, p, from);
      assert.ok(r?.kind === 'error' && r.errorCode === 203 && r.t.equals(b('aa')), p.toString('latin1'));
      assert.ok(sent.at(-1)!.msg.length < 120, 'error replies stay small');
    }
    assert.equal(
      dropped.filter((d) => d === 'malformed' || d === 'too-large').length,
      silent.length + answered.length,
    );
    assert.equal(node.nodeCount, 0);
  });

  it('drops packets carrying our own node id', () => {
    const { node, sent } = makeNode();
    const dropped: string[] = [];
    node.on('packet:dropped', (reason) => dropped.push(reason));
    const { packet } = query({ method: 'get_peers', id: node.nodeId, infoHash: HASH });
    assert.equal(ask(node, sent, packet, from), undefined);
    node.handlePacket(encodeKrpc({ kind: 'response', t: b('zz'), id: node.nodeId }), from);
    assert.deepEqual(dropped, ['own-id', 'own-id']);
    assert.equal(sent.length, 0);
  });

  it('a get_peers flood from one address is rate-limited; others are still answered', () => {
    const { node, sent } = makeNode({ rateLimitPerSec: 10, now: () => 1000 });
    let answered = 0;
    for (let i = 0; i < 5000; i++) {
      const gp = query({ method: 'get_peers', id: idOf(`f${i % 50}`), infoHash: HASH });
      if (ask(node, sent, gp.packet, { address: '10.6.6.6', port: 1000 + (i % 100) }, gp.t)) answered++;
    }
    assert.equal(answered, 20, 'the burst (twice the rate), then nothing');
    const gp = query({ method: 'get_peers', id: idOf('honest'), infoHash: HASH });
    assert.equal(ask(node, sent, gp.packet, { address: '10.7.7.7', port: 1 }, gp.t)?.kind, 'response');
  });

  it('the rate limit refills with time', () => {
    let now = 0;
    const { node, sent } = makeNode({ rateLimitPerSec: 10, now: () => now });
    const count = (): number => {
      let n = 0;
      for (let i = 0; i < 100; i++) {
        const p = query({ method: 'ping', id: REMOTE });
        if (ask(node, sent, p.packet, from, p.t)) n++;
      }
      return n;
    };
    assert.equal(count(), 20);
    now += 500;
    assert.equal(count(), 5);
  });

  it('ignores replies from another address than the one queried (spoofing)', async () => {
    const { node, sent } = makeNode();
    const answered = node.ping('10.0.0.8', 6881);
    const q = decodeKrpc(sent.at(-1)!.msg);
    const dropped: string[] = [];
    node.on('packet:dropped', (reason) => dropped.push(reason));
    node.handlePacket(encodeKrpc({ kind: 'response', t: q.t, id: REMOTE }), {
      address: '10.0.0.9',
      port: 6881,
    });
    node.handlePacket(encodeKrpc({ kind: 'response', t: q.t, id: REMOTE }), {
      address: '10.0.0.8',
      port: 6882,
    });
    assert.deepEqual(dropped, ['unexpected-response', 'unexpected-response']);
    node.handlePacket(encodeKrpc({ kind: 'response', t: q.t, id: REMOTE }), {
      address: '10.0.0.8',
      port: 6881,
    });
    assert.equal(await answered, true);
    assert.equal(node.nodeCount, 1);
  });

  it('a ping nobody answers resolves false after the timeout', async () => {
    const { node } = makeNode({ queryTimeoutMs: 20 });
    assert.equal(await node.ping('10.0.0.8', 6881), false);
  });
});

describe('DhtNode state and lifecycle', () => {
  it('exportState / importState round trip (JSON-able), adopting the saved id before start', async () => {
    const { node, sent } = makeNode();
    for (let i = 0; i < 5; i++) {
      const p = node.ping(`10.0.0.${i + 1}`, 6881);
      const q = decodeKrpc(sent.at(-1)!.msg);
      node.handlePacket(encodeKrpc({ kind: 'response', t: q.t, id: idOf(`n${i}`) }), {
        address: `10.0.0.${i + 1}`,
        port: 6881,
      });
      await p;
    }
    const state = JSON.parse(JSON.stringify(node.exportState()));
    assert.equal(state.id, node.nodeId.toString('hex'));
    assert.equal(state.nodes.length, 5);

    const sent2: Sent[] = [];
    const fresh = new DhtNode({
      send: (msg, host, port) => sent2.push({ msg, host, port }),
      queryTimeoutMs: 20,
    });
    nodes.push(fresh);
    fresh.importState({
      ...state,
      nodes: [...state.nodes, { host: 'not-an-ip', port: 1 }, { host: '1.2.3.4', port: 0 }, 7],
    });
    assert.ok(fresh.nodeId.equals(node.nodeId));
    await fresh.start(); // the saved nodes are queried (find_node for our id); nobody answers here
    const targets = sent2.map((s) => `${s.host}:${s.port}`).sort();
    assert.deepEqual(
      targets,
      state.nodes.map((n: { host: string; port: number }) => `${n.host}:${n.port}`).sort(),
    );
    fresh.importState({ id: 'zz', nodes: 'nope' }); // garbage is ignored
  });

  it('stop() ends pending queries and lookups, and is idempotent', async () => {
    const { node, sent } = makeNode({ queryTimeoutMs: 60_000 });
    const p = node.ping('10.0.0.8', 6881);
    const l = node.lookup(HASH);
    assert.equal(sent.length, 1);
    node.stop();
    node.stop();
    assert.equal(await p, false);
    assert.deepEqual(await l, []);
    node.handlePacket(query({ method: 'ping', id: REMOTE }).packet, { address: '10.0.0.5', port: 1 });
    assert.equal(sent.length, 1, 'a stopped node sends nothing');
  });

  it('an abort signal stops the node', async () => {
    const ac = new AbortController();
    const { node } = makeNode({ signal: ac.signal, queryTimeoutMs: 60_000 });
    const p = node.ping('10.0.0.8', 6881);
    ac.abort();
    assert.equal(await p, false);
  });

  it('bootstrap host names go through the injected resolver', async () => {
    const resolved: string[] = [];
    const { node, sent } = makeNode({
      bootstrap: [{ host: 'bootstrap.invalid', port: 6881 }],
      resolve: async (host) => {
        resolved.push(host);
        return ['127.0.0.1'];
      },
      queryTimeoutMs: 20,
    });
    await node.start();
    assert.deepEqual(resolved, ['bootstrap.invalid']);
    const q = decodeKrpc(sent[0]!.msg);
    assert.deepEqual([sent[0]!.host, sent[0]!.port], ['127.0.0.1', 6881]);
    assert.ok(q.kind === 'query' && q.method === 'find_node' && q.target.equals(node.nodeId));
  });

  it('maintenance on a virtual clock: questionable nodes are pinged, stale buckets refreshed', async () => {
    let now = 0;
    const { node, sent } = makeNode({ now: () => now, queryTimeoutMs: 20 });
    node.addNode('10.0.0.8', 6881); // as after a BEP 5 PORT message
    const q = decodeKrpc(sent.at(-1)!.msg);
    assert.ok(q.kind === 'query' && q.method === 'ping');
    node.handlePacket(encodeKrpc({ kind: 'response', t: q.t, id: REMOTE }), {
      address: '10.0.0.8',
      port: 6881,
    });
    assert.equal(node.nodeCount, 1);
    await new Promise((r) => setImmediate(r)); // the ping settles
    const before = sent.length;
    node.tick();
    assert.equal(sent.length, before, 'nothing due yet');
    now += 16 * 60 * 1000;
    node.tick();
    const methods = sent.slice(before).map((s) => {
      const m = decodeKrpc(s.msg);
      return m.kind === 'query' ? m.method : m.kind;
    });
    assert.ok(methods.includes('ping'), 'the quiet node is pinged');
    assert.ok(methods.includes('find_node'), 'the stale bucket is refreshed');
    // Nobody answers: after two failed queries the node is bad and no longer handed out.
    await new Promise((r) => setTimeout(r, 60));
    node.tick();
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(node.table.closest(REMOTE, 8).length, 0);
  });

  it('the public bootstrap list is host names, never IP literals', () => {
    assert.ok(DHT_BOOTSTRAP_NODES.length >= 3);
    for (const n of DHT_BOOTSTRAP_NODES) {
      assert.match(n.host, /^[a-z.]+$/);
      assert.equal(n.port, 6881);
    }
  });
});
