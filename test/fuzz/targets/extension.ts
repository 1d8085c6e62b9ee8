// Fuzz target: extension-protocol payloads (BEP 10): the extension handshake, ut_metadata (BEP 9),
// ut_pex (BEP 11) and ut_holepunch (BEP 55). The first byte picks the decoder. Each payload decodes or
// throws its typed error (ProtocolError, UtMetadataError, PexError, HolepunchDecodeError); what
// decodes re-encodes to a payload that decodes to the same thing; a stream of ut_metadata data messages feeds a MetadataAssembler without other errors.

import { createHash } from 'node:crypto';
import { decodeExtensionHandshake, encodeExtensionHandshake } from '../../../src/protocol/extension.js';
import { decodeHolepunch, encodeHolepunch, HolepunchDecodeError } from '../../../src/protocol/holepunch.js';
import { ProtocolError } from '../../../src/protocol/peer-wire.js';
import { decodePex, encodePex, PexError } from '../../../src/protocol/pex.js';
import {
  decodeUtMetadata,
  encodeUtMetadata,
  MetadataAssembler,
  UtMetadataError,
  type UtMetadataMessage,
} from '../../../src/protocol/ut-metadata.js';
import { check, same, selector, typedOnly } from '../contract.js';

export const dictionary = [
  'd1:md11:ut_metadatai1e6:ut_pexi2ee',
  '13:metadata_sizei',
  '1:pi6881e',
  '4:reqqi250e',
  '1:v',
  '6:yourip4:',
  '8:msg_typei1e',
  '5:piecei0e',
  '10:total_sizei',
  '5:added',
  '7:added.f',
  '7:dropped',
  '6:added6',
  '8:dropped6',
  'ee',
];

export function seeds(): Uint8Array[] {
  const pex = encodePex({
    added: [{ host: '127.0.0.1', port: 6881, flags: 0x10 }],
    dropped: [{ host: '127.0.0.2', port: 1 }],
    added6: [{ host: '::1', port: 6882, flags: 0 }],
    dropped6: [],
  });
  return [
    tagged0(
      encodeExtensionHandshake({
        m: { ut_metadata: 1, ut_pex: 2 },
        v: 'bitswarm 0.1',
        p: 6881,
        reqq: 250,
        metadataSize: 31337,
      }),
    ),
    tagged0(encodeExtensionHandshake({ m: {}, yourip: Uint8Array.from([127, 0, 0, 1]) })),
    tagged(1, encodeUtMetadata({ type: 'request', piece: 0 })),
    tagged(1, encodeUtMetadata({ type: 'reject', piece: 2 })),
    tagged(1, encodeUtMetadata({ type: 'data', piece: 0, totalSize: 5, data: Buffer.from('hello') })),
    tagged(2, pex),
    tagged(3, Buffer.from('d8:msg_typei1e5:piecei0e10:total_sizei3eeabc')),
    tagged(4, encodeHolepunch({ type: 'rendezvous', addr: { host: '11.22.2.1', port: 6881 }, errorCode: 0 })),
    tagged(4, encodeHolepunch({ type: 'error', addr: { host: '2001:db8::1', port: 1 }, errorCode: 2 })),
  ];
}

function tagged(kind: number, payload: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([kind]), payload]);
}
function tagged0(payload: Uint8Array): Buffer {
  return tagged(0, payload);
}

export function fuzz(data: Buffer): void {
  const [sel, payload] = selector(data);
  switch (sel % 5) {
    case 0:
      handshake(payload);
      break;
    case 1:
      utMetadata(payload);
      break;
    case 2:
      pex(payload);
      break;
    case 3:
      assemble(payload);
      break;
    default:
      holepunch(payload);
  }
}

function handshake(payload: Buffer): void {
  const h = typedOnly('decodeExtensionHandshake', [ProtocolError], () => decodeExtensionHandshake(payload));
  if (h === undefined) return;
  const { raw: _raw, ...fields } = h;
  const again = decodeExtensionHandshake(encodeExtensionHandshake(fields));
  const { raw: _raw2, ...fields2 } = again;
  same(fields2, fields, 'extension handshake changes through encode and decode');
}

function utMetadata(payload: Buffer): void {
  const m = typedOnly('decodeUtMetadata', [UtMetadataError], () => decodeUtMetadata(payload));
  if (m === undefined || m.type === 'unknown') return;
  const again = decodeUtMetadata(encodeUtMetadata(m));
  same(plain(again), plain(m), 'ut_metadata message changes through encode and decode');
}

function pex(payload: Buffer): void {
  const m = typedOnly('decodePex', [PexError], () => decodePex(payload));
  if (m === undefined) return;
  same(decodePex(encodePex(m)), m, 'ut_pex message changes through encode and decode');
}

function holepunch(payload: Buffer): void {
  const m = typedOnly('decodeHolepunch', [HolepunchDecodeError], () => decodeHolepunch(payload));
  if (m === undefined) return;
  same(decodeHolepunch(encodeHolepunch(m)), m, 'ut_holepunch message changes through encode and decode');
}

/** Data messages, one after another (each a bencoded header and its piece), into one assembler. */
function assemble(stream: Buffer): void {
  let assembler: MetadataAssembler | undefined;
  let at = 0;
  while (at < stream.length) {
    const len = stream[at]! * 64 + 1;
    const payload = stream.subarray(at + 1, at + 1 + len);
    at += 1 + len;
    const m = typedOnly('decodeUtMetadata', [UtMetadataError], () => decodeUtMetadata(payload));
    if (m?.type !== 'data') continue;
    if (assembler === undefined) {
      const size = m.totalSize;
      // The info hash of the bytes this message would complete, so that a whole blob can match.
      const hash = createHash('sha1').update(m.data).digest();
      assembler = typedOnly(
        'new MetadataAssembler',
        [UtMetadataError],
        () => new MetadataAssembler(size, hash),
      );
      if (assembler === undefined) return;
    }
    const a = assembler;
    const r = typedOnly('MetadataAssembler.add', [UtMetadataError], () =>
      a.add(m.piece, m.data, m.totalSize),
    );
    if (r?.status === 'complete') check(r.info.length === a.metadataSize, `assembled ${r.info.length} bytes`);
  }
}

function plain(m: UtMetadataMessage): unknown {
  return m.type === 'data' ? { ...m, data: Buffer.from(m.data).toString('hex') } : m;
}
