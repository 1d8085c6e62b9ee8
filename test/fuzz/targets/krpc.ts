// Fuzz target: KRPC (BEP 5 DHT messages, with BEP 32/43 fields). Any packet decodes or throws
// KrpcError; a decoded message re-encodes to a packet that decodes to the same message.

import { decodeKrpc, encodeKrpc, KrpcError } from '../../../src/protocol/krpc.js';
import { same, typedOnly } from '../contract.js';

export const dictionary = [
  '1:t2:aa',
  '1:y1:q',
  '1:y1:r',
  '1:y1:e',
  '1:q4:ping',
  '1:q9:find_node',
  '1:q9:get_peers',
  '1:q13:announce_peer',
  '1:ad2:id20:',
  '1:rd2:id20:',
  '6:target20:',
  '9:info_hash20:',
  '5:token',
  '4:porti6881e',
  '12:implied_porti1e',
  '5:nodes26:',
  '6:nodes638:',
  '6:valuesl6:',
  '4:wantl2:n42:n6e',
  '2:roi1e',
  '1:eli201e',
  '1:v4:',
  'ee',
];

export function seeds(): Uint8Array[] {
  const id = Buffer.alloc(20, 0x11);
  const t = Buffer.from('aa');
  const messages = [
    encodeKrpc({ kind: 'query', t, id, method: 'ping' }),
    encodeKrpc({ kind: 'query', t, id, method: 'find_node', target: id, want: ['n4', 'n6'] }),
    encodeKrpc({ kind: 'query', t, id, method: 'get_peers', infoHash: id, ro: true }),
    encodeKrpc({
      kind: 'query',
      t,
      id,
      method: 'announce_peer',
      infoHash: id,
      port: 6881,
      token: Buffer.from('tok'),
      impliedPort: true,
    }),
    encodeKrpc({
      kind: 'response',
      t,
      id,
      token: Buffer.from('tok'),
      nodes: [{ id, host: '127.0.0.1', port: 6881 }],
      nodes6: [{ id, host: '::1', port: 6881 }],
      values: [{ host: '127.0.0.2', port: 6882 }],
    }),
    encodeKrpc({ kind: 'error', t, errorCode: 201, message: 'A Generic Error Ocurred' }),
  ];
  return messages;
}

export function fuzz(data: Buffer): void {
  const m = typedOnly('decodeKrpc', [KrpcError], () => decodeKrpc(data));
  if (m === undefined) return;
  same(decodeKrpc(encodeKrpc(m)), m, 'KRPC message changes through encode and decode');
}
