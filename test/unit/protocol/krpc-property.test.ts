// KRPC property tests: decode∘encode is the identity on every message the model can express, and
// any bytes at all (random, or a valid message cut or corrupted) decode or throw KrpcError only.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  decodeKrpc,
  encodeKrpc,
  formatIp,
  KrpcError,
  type KrpcMessage,
  type NodeInfo,
  type Peer,
} from '../../../src/protocol/krpc.js';

const bytes = (min: number, max: number) =>
  fc.uint8Array({ minLength: min, maxLength: max }).map((u) => Buffer.from(u));
const id = bytes(20, 20);
const ipv4 = fc.uint8Array({ minLength: 4, maxLength: 4 }).map(formatIp);
const ipv6 = fc.uint8Array({ minLength: 16, maxLength: 16 }).map(formatIp);
const port = fc.integer({ min: 0, max: 65535 });
// fc.record builds null-prototype objects; the decoder builds plain ones.
const plain = <T extends object>(o: T): T => ({ ...o });
const peer: fc.Arbitrary<Peer> = fc.record({ host: fc.oneof(ipv4, ipv6), port }).map(plain);
const node4: fc.Arbitrary<NodeInfo> = fc.record({ id, host: ipv4, port }).map(plain);
const node6: fc.Arbitrary<NodeInfo> = fc.record({ id, host: ipv6, port }).map(plain);
const want = fc.subarray(['n4', 'n6'] as ('n4' | 'n6')[]);

const base = fc.record({ t: bytes(1, 32), v: fc.option(bytes(0, 16), { nil: undefined }) });
const strip = <T extends object>(o: T): T =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;

const query: fc.Arbitrary<KrpcMessage> = fc
  .tuple(
    base,
    id,
    fc.boolean(),
    fc.oneof(
      fc.constant({ method: 'ping' as const }),
      fc.record({
        method: fc.constant('find_node' as const),
        target: id,
        want: fc.option(want, { nil: undefined }),
      }),
      fc.record({
        method: fc.constant('get_peers' as const),
        infoHash: id,
        want: fc.option(want, { nil: undefined }),
      }),
      fc.record({
        method: fc.constant('announce_peer' as const),
        infoHash: id,
        port,
        token: bytes(1, 64),
        impliedPort: fc.boolean(),
      }),
      fc.record({
        method: fc.constant('unknown' as const),
        name: fc
          .string({ minLength: 1, maxLength: 32, unit: 'binary-ascii' })
          .filter((s) => !['ping', 'find_node', 'get_peers', 'announce_peer'].includes(s)),
      }),
    ),
  )
  .map(
    ([bs, i, ro, m]) =>
      strip({ ...bs, kind: 'query', id: i, ro: ro ? true : undefined, ...m }) as KrpcMessage,
  );

const response: fc.Arbitrary<KrpcMessage> = fc
  .record({
    b: base,
    id,
    nodes: fc.option(fc.array(node4, { maxLength: 8 }), { nil: undefined }),
    nodes6: fc.option(fc.array(node6, { maxLength: 8 }), { nil: undefined }),
    values: fc.option(fc.array(peer, { maxLength: 50 }), { nil: undefined }),
    token: fc.option(bytes(0, 64), { nil: undefined }),
  })
  .map(({ b, ...r }) => strip({ ...b, kind: 'response', ...r }) as KrpcMessage);

const error: fc.Arbitrary<KrpcMessage> = fc
  .record({ b: base, errorCode: fc.integer({ min: -1e9, max: 1e9 }), message: fc.string({ maxLength: 100 }) })
  .map(({ b, ...e }) => strip({ ...b, kind: 'error', ...e }) as KrpcMessage);

const message = fc.oneof(query, response, error);

function decodesOrTypedError(input: Uint8Array): void {
  try {
    decodeKrpc(input);
  } catch (err) {
    assert.ok(err instanceof KrpcError, `unexpected ${String(err)}`);
  }
}

describe('KRPC properties', () => {
  it('decode(encode(m)) = m', () => {
    fc.assert(
      fc.property(message, (m) => {
        assert.deepEqual(decodeKrpc(encodeKrpc(m)), m);
      }),
      { numRuns: 2000 },
    );
  });

  it('encode(decode(bytes)) = bytes for canonical encodings', () => {
    fc.assert(
      fc.property(message, (m) => {
        const wire = encodeKrpc(m);
        assert.deepEqual(encodeKrpc(decodeKrpc(wire)), wire);
      }),
      { numRuns: 500 },
    );
  });

  it('random bytes: a message or a KrpcError, nothing else', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), decodesOrTypedError), { numRuns: 5000 });
  });

  it('valid messages cut short or corrupted: a message or a KrpcError', () => {
    fc.assert(
      fc.property(message, fc.nat(), fc.nat(255), fc.boolean(), (m, at, byte, cut) => {
        const wire = Buffer.from(encodeKrpc(m));
        const i = at % wire.length;
        if (cut) decodesOrTypedError(wire.subarray(0, i));
        else {
          wire[i] = byte;
          decodesOrTypedError(wire);
        }
      }),
      { numRuns: 3000 },
    );
  });
});
