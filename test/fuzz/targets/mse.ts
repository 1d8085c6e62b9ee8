// Fuzz target: the MSE handshake machines (src/protocol/mse.ts) and the port's stream classifier.
// The first byte picks the chunk size; the rest is fed to a responder (as if a peer dialled us) and
// to an initiator (as if a dialled peer answered), in chunks. Each may only need more, finish, or
// throw a ProtocolError; streamKind classifies any prefix without throwing.

import { CryptoMethod, MseInitiator, MseResponder, req2Hash, streamKind } from '../../../src/protocol/mse.js';
import { ProtocolError } from '../../../src/protocol/peer-wire.js';
import { check, typedOnly } from '../contract.js';

const INFO_HASH = Buffer.alloc(20, 0xab);
// Fixed keys: the machines are deterministic given their randomness.
const PRIVATE_KEY = Buffer.alloc(20, 0x5a);

export const dictionary = ['\x13BitTorrent protocol', 'GET ', '\x00\x00\x00\x00\x00\x00\x00\x00'];
export const maxLength = 4096;

export function seeds(): Uint8Array[] {
  const a = new MseInitiator({
    infoHash: INFO_HASH,
    provide: CryptoMethod.rc4 | CryptoMethod.plaintext,
    privateKey: PRIVATE_KEY,
    padA: Buffer.alloc(16, 1),
  });
  return [Buffer.concat([Buffer.from([96]), a.start()]), Buffer.from([7, 0, 0, 0])];
}

export function fuzz(data: Buffer): void {
  if (data.length < 1) return;
  const step = 1 + data[0]!;
  const stream = data.subarray(1);
  const kind = streamKind(stream.subarray(0, 20));
  check(kind === undefined || kind === 'peer' || kind === 'http' || kind === 'mse', `streamKind: ${kind}`);
  const machines = [
    new MseResponder({
      findInfoHash: (req2) => (req2Hash(INFO_HASH).equals(req2) ? INFO_HASH : undefined),
      allow: CryptoMethod.rc4 | CryptoMethod.plaintext,
      prefer: 'rc4',
      privateKey: PRIVATE_KEY,
      padB: Buffer.alloc(0),
    }),
    new MseInitiator({
      infoHash: INFO_HASH,
      provide: CryptoMethod.rc4,
      privateKey: PRIVATE_KEY,
      padA: Buffer.alloc(0),
    }),
  ];
  for (const m of machines) {
    m.start();
    typedOnly('MSE handshake', [ProtocolError], () => {
      for (let at = 0; at < stream.length; at += step) {
        if (m.push(stream.subarray(at, at + step)).done) return;
      }
    });
  }
}
