// KRPC codec: the BEP 5 example messages, compact node/peer formats, addresses, and typed errors
// (with the transaction id when it can be read) for malformed input of every kind.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decodeCompactNodes,
  decodeCompactPeer,
  decodeKrpc,
  encodeCompactNodes,
  encodeCompactPeer,
  encodeKrpc,
  formatIp,
  KrpcError,
  KrpcErrorCode,
  type KrpcMessage,
  parseIp,
} from '../../../src/protocol/krpc.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const ID_A = b('abcdefghij0123456789');
const ID_M = b('mnopqrstuvwxyz123456');

describe('KRPC: BEP 5 example messages', () => {
  const vectors: [string, string, KrpcMessage][] = [
    [
      'ping query',
      'd1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe',
      { kind: 'query', t: b('aa'), id: ID_A, method: 'ping' },
    ],
    [
      'ping response',
      'd1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re',
      { kind: 'response', t: b('aa'), id: ID_M },
    ],
    [
      'error',
      'd1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee',
      { kind: 'error', t: b('aa'), errorCode: 201, message: 'A Generic Error Ocurred' },
    ],
    [
      'find_node query',
      'd1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz123456e1:q9:find_node1:t2:aa1:y1:qe',
      { kind: 'query', t: b('aa'), id: ID_A, method: 'find_node', target: ID_M },
    ],
    [
      'get_peers query',
      'd1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz123456e1:q9:get_peers1:t2:aa1:y1:qe',
      { kind: 'query', t: b('aa'), id: ID_A, method: 'get_peers', infoHash: ID_M },
    ],
    [
      'get_peers response with values',
      'd1:rd2:id20:abcdefghij01234567895:token8:aoeusnth6:valuesl6:axje.u6:idhtnmee1:t2:aa1:y1:re',
      {
        kind: 'response',
        t: b('aa'),
        id: ID_A,
        token: b('aoeusnth'),
        values: [
          { host: '97.120.106.101', port: 0x2e75 },
          { host: '105.100.104.116', port: 0x6e6d },
        ],
      },
    ],
    [
      'announce_peer query with implied_port',
      'd1:ad2:id20:abcdefghij012345678912:implied_porti1e9:info_hash20:mnopqrstuvwxyz1234564:porti6881e5:token8:aoeusnthe1:q13:announce_peer1:t2:aa1:y1:qe',
      {
        kind: 'query',
        t: b('aa'),
        id: ID_A,
        method: 'announce_peer',
        infoHash: ID_M,
        port: 6881,
        token: b('aoeusnth'),
        impliedPort: true,
      },
    ],
  ];
  for (const [name, wire, msg] of vectors) {
    it(`${name}: decodes and re-encodes byte for byte`, () => {
      assert.deepEqual(decodeKrpc(b(wire)), msg);
      assert.equal(encodeKrpc(msg).toString('latin1'), wire);
    });
  }

  it('find_node response with compact nodes', () => {
    const nodes = [
      { id: ID_A, host: '127.0.0.1', port: 6881 },
      { id: ID_M, host: '10.1.2.3', port: 1 },
    ];
    const wire = encodeKrpc({ kind: 'response', t: b('xy'), id: ID_M, nodes });
    const raw = decodeKrpc(wire);
    assert.equal(raw.kind, 'response');
    assert.deepEqual(raw.kind === 'response' && raw.nodes, nodes);
    // 2 × 26 bytes of compact node info
    assert.ok(wire.includes(b('5:nodes52:')));
  });

  it('BEP 42 `ip` of a response: the compact address of the asker, round trip (v4 and v6)', () => {
    for (const ip of [
      { host: '127.0.0.1', port: 6881 },
      { host: '2001:db8::1', port: 51413 },
    ]) {
      const wire = encodeKrpc({ kind: 'response', t: b('xy'), id: ID_M, ip, v: b('BM\x00\x01') });
      const raw = decodeKrpc(wire);
      assert.deepEqual(raw.kind === 'response' && raw.ip, ip);
      assert.ok(wire.includes(b(`2:ip${ip.host.includes(':') ? 18 : 6}:`)));
    }
    // An `ip` of an odd length is ignored, as an optional field we cannot use.
    const odd = decodeKrpc(b('d2:ip3:abc1:rd2:id20:abcdefghij0123456789e1:t2:aa1:y1:re'));
    assert.equal(odd.kind === 'response' && odd.ip, undefined);
  });

  it('accepts dict keys out of order (other clients do not always sort)', () => {
    const m = decodeKrpc(b('d1:y1:q1:t2:aa1:q4:ping1:ad2:id20:abcdefghij0123456789ee'));
    assert.equal(m.kind, 'query');
    assert.equal(m.kind === 'query' && m.method, 'ping');
  });

  it('reads an unknown method as such (the node answers 204)', () => {
    const m = decodeKrpc(b('d1:ad2:id20:abcdefghij0123456789e1:q6:vote!!1:t2:aa1:y1:qe'));
    assert.deepEqual(m, { kind: 'query', t: b('aa'), id: ID_A, method: 'unknown', name: 'vote!!' });
  });

  it('keeps v (client version), ro and want', () => {
    const m = decodeKrpc(
      b(
        'd1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz1234564:wantl2:n42:n62:n9ee1:q9:find_node2:roi1e1:t2:aa1:v4:LT011:y1:qe',
      ),
    );
    assert.deepEqual(m, {
      kind: 'query',
      t: b('aa'),
      v: b('LT01'),
      id: ID_A,
      ro: true,
      method: 'find_node',
      target: ID_M,
      want: ['n4', 'n6'],
    });
  });

  it('skips values entries of an odd length instead of failing the answer', () => {
    const m = decodeKrpc(b('d1:rd2:id20:abcdefghij01234567896:valuesl6:axje.u3:abc6:idhtnmee1:t2:aa1:y1:re'));
    assert.equal(m.kind === 'response' && m.values?.length, 2);
  });
});

describe('KRPC: malformed input throws KrpcError', () => {
  const cases: [string, string, { t?: string; y?: string }][] = [
    ['not bencode', 'hello', {}],
    ['not a dict', 'li1ei2ee', {}],
    ['empty dict', 'de', {}],
    ['t not a string', 'd1:ti1e1:y1:qe', {}],
    ['t too long', `d1:t40:${'x'.repeat(40)}1:y1:qe`, {}],
    ['missing y', 'd1:t2:aae', { t: 'aa' }],
    ['y of a wrong kind', 'd1:t2:aa1:y1:ze', { t: 'aa', y: 'z' }],
    ['y not a string', 'd1:t2:aa1:yi1ee', { t: 'aa' }],
    ['query without q', 'd1:ad2:id20:abcdefghij0123456789e1:t2:aa1:y1:qe', { t: 'aa', y: 'q' }],
    ['query without a', 'd1:q4:ping1:t2:aa1:y1:qe', { t: 'aa', y: 'q' }],
    ['query with a short id', 'd1:ad2:id3:abce1:q4:ping1:t2:aa1:y1:qe', { t: 'aa', y: 'q' }],
    ['a is a list', 'd1:ali1ee1:q4:ping1:t2:aa1:y1:qe', { t: 'aa', y: 'q' }],
    [
      'find_node without target',
      'd1:ad2:id20:abcdefghij0123456789e1:q9:find_node1:t2:aa1:y1:qe',
      { t: 'aa', y: 'q' },
    ],
    [
      'announce_peer with a port out of range',
      'd1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz1234564:porti70000e5:token1:xe1:q13:announce_peer1:t2:aa1:y1:qe',
      { t: 'aa', y: 'q' },
    ],
    [
      'announce_peer without token',
      'd1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz1234564:porti1ee1:q13:announce_peer1:t2:aa1:y1:qe',
      { t: 'aa', y: 'q' },
    ],
    ['response without r', 'd1:t2:aa1:y1:re', { t: 'aa', y: 'r' }],
    [
      'response nodes not a multiple of 26',
      'd1:rd2:id20:abcdefghij01234567895:nodes5:abcdee1:t2:aa1:y1:re',
      { t: 'aa', y: 'r' },
    ],
    ['error without e', 'd1:t2:aa1:y1:ee', { t: 'aa', y: 'e' }],
    ['error code not an int', 'd1:el3:abc3:defe1:t2:aa1:y1:ee', { t: 'aa', y: 'e' }],
    ['huge declared string', 'd1:t2:aa1:y1:q1:a999999999:', {}],
  ];
  for (const [name, wire, expect] of cases) {
    it(name, () => {
      assert.throws(
        () => decodeKrpc(b(wire)),
        (err: unknown) => {
          assert.ok(err instanceof KrpcError, String(err));
          assert.equal(err.code, 'ERR_KRPC');
          assert.equal(err.krpcCode, KrpcErrorCode.protocol);
          assert.equal(err.transactionId?.toString('latin1'), expect.t);
          assert.equal(err.messageType, expect.y);
          return true;
        },
      );
    });
  }

  it('refuses a packet over 8 KiB before decoding it', () => {
    const big = Buffer.concat([b('d1:t2:aa1:y1:q1:x9000:'), Buffer.alloc(9000), b('e')]);
    assert.throws(() => decodeKrpc(big), KrpcError);
  });
});

describe('KRPC: addresses and compact formats', () => {
  it('parses and formats IPv4 and IPv6 literals', () => {
    assert.deepEqual(parseIp('1.2.3.4'), Buffer.from([1, 2, 3, 4]));
    for (const bad of [
      '1.2.3',
      '1.2.3.256',
      '01.2.3.4',
      'a.b.c.d',
      'example.org',
      '',
      '1::2::3',
      '1:2:3:4:5:6:7:8:9',
    ]) {
      assert.equal(parseIp(bad), undefined, bad);
    }
    const cases: [string, string][] = [
      ['::1', '::1'],
      ['::', '::'],
      ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
      ['2001:db8:0:1:0:0:0:1', '2001:db8:0:1::1'],
      ['fe80::1:0:0:1', 'fe80::1:0:0:1'],
      ['::ffff:1.2.3.4', '::ffff:1.2.3.4'], // RFC 5952 §5: IPv4-mapped in dotted form
      ['1:0:2:0:3:0:4:0', '1:0:2:0:3:0:4:0'],
    ];
    for (const [input, formatted] of cases) {
      const bytes = parseIp(input);
      assert.ok(bytes, input);
      assert.equal(bytes.length, 16);
      assert.equal(formatIp(bytes), formatted);
      assert.deepEqual(parseIp(formatted), bytes);
    }
  });

  it('compact peers: 6 bytes IPv4, 18 bytes IPv6', () => {
    assert.deepEqual(
      encodeCompactPeer({ host: '127.0.0.1', port: 6881 }),
      Buffer.from([127, 0, 0, 1, 0x1a, 0xe1]),
    );
    assert.deepEqual(decodeCompactPeer(Buffer.from([10, 0, 0, 2, 0, 80])), { host: '10.0.0.2', port: 80 });
    const six = encodeCompactPeer({ host: '::1', port: 1 });
    assert.equal(six.length, 18);
    assert.deepEqual(decodeCompactPeer(six), { host: '::1', port: 1 });
    assert.throws(() => decodeCompactPeer(Buffer.alloc(5)), KrpcError);
    assert.throws(() => encodeCompactPeer({ host: 'example.org', port: 1 }), TypeError);
  });

  it('compact nodes: 26 bytes IPv4, 38 bytes IPv6', () => {
    const four = encodeCompactNodes([{ id: ID_A, host: '1.2.3.4', port: 5 }]);
    assert.equal(four.length, 26);
    assert.deepEqual(decodeCompactNodes(four), [{ id: ID_A, host: '1.2.3.4', port: 5 }]);
    const six = encodeCompactNodes([{ id: ID_A, host: '2001:db8::7', port: 5 }]);
    assert.equal(six.length, 38);
    assert.deepEqual(decodeCompactNodes(six, 6), [{ id: ID_A, host: '2001:db8::7', port: 5 }]);
    assert.throws(() => decodeCompactNodes(six, 4), KrpcError);
    assert.throws(
      () =>
        encodeCompactNodes([
          { id: ID_A, host: '1.2.3.4', port: 5 },
          { id: ID_M, host: '::1', port: 5 },
        ]),
      TypeError,
    );
  });
});
