// Fuzz target: peer-wire messages and their framing. Any byte stream decodes to messages, "need more"
// or a ProtocolError; each decoded message re-encodes to exactly the bytes it took; and a FrameReader
// fed the same stream in arbitrary chunks (plain or transient, one reused buffer) returns the same
// messages and fails at the same point.

import {
  decodeMessage,
  encodeMessage,
  FrameReader,
  type Message,
  ProtocolError,
  type WireLimits,
} from '../../../src/protocol/peer-wire.js';
import { check, same, typedOnly } from '../contract.js';

export const dictionary = [
  '\x00\x00\x00\x00',
  '\x00\x00\x00\x01\x00',
  '\x00\x00\x00\x05\x04',
  '\x00\x00\x00\x0d\x06',
  '\x00\x00\x00\x09\x07',
  '\x00\x00\x00\x03\x09',
  '\x00\x00\x00\x02\x14\x00',
  '\x00\x00\x40\x09\x07',
  '\x00\x00\x00\x02\x05',
  '\x00\x00\x00\x01\x0e',
  '\x00\x00\x00\x0d\x10',
];

export function seeds(): Uint8Array[] {
  const msgs: Message[] = [
    { type: 'keep-alive' },
    { type: 'choke' },
    { type: 'unchoke' },
    { type: 'interested' },
    { type: 'not-interested' },
    { type: 'have', piece: 7 },
    { type: 'bitfield', bits: Uint8Array.from([0xff, 0x80]) },
    { type: 'request', piece: 1, offset: 16384, length: 16384 },
    { type: 'piece', piece: 1, offset: 0, data: Buffer.from('block data') },
    { type: 'cancel', piece: 1, offset: 16384, length: 16384 },
    { type: 'port', port: 6881 },
    { type: 'suggest', piece: 3 },
    { type: 'have-all' },
    { type: 'have-none' },
    { type: 'reject', piece: 1, offset: 0, length: 16384 },
    { type: 'allowed-fast', piece: 2 },
    { type: 'extended', id: 0, payload: Buffer.from('d1:md6:ut_pexi1eee') },
    { type: 'unknown', id: 99, payload: Buffer.from('xyz') },
  ];
  return [
    Buffer.concat([Buffer.from([0, 0, 9]), ...msgs.map(encodeMessage)]),
    ...msgs.map((m) => Buffer.concat([Buffer.from([1, 7, 3]), encodeMessage(m)])),
  ];
}

interface Outcome {
  messages: unknown[];
  failed: boolean;
}

export function fuzz(data: Buffer): void {
  if (data.length < 3) return;
  // Three control bytes: limits, the chunking pattern, the mode.
  const control = data[0]!;
  const step = 1 + data[1]!;
  const transient = (data[2]! & 1) !== 0;
  const stream = data.subarray(3);
  const limits: WireLimits =
    (control & 1) !== 0
      ? {
          pieceCount: control >> 1,
          maxBlockBytes: 64,
          maxExtendedBytes: 64,
          maxUnknownBytes: 16,
          maxBitfieldBytes: 8,
        }
      : {};

  const whole: Outcome = { messages: [], failed: false };
  let offset = 0;
  for (;;) {
    const r = typedOnly('decodeMessage', [ProtocolError], () => decodeMessage(stream, offset, limits));
    if (r === undefined) {
      whole.failed = true;
      break;
    }
    if ('need' in r) {
      check(r.need > 0, `need ${r.need}`);
      break;
    }
    check(r.consumed > 0 && offset + r.consumed <= stream.length, `consumed ${r.consumed} at ${offset}`);
    const bytes = stream.subarray(offset, offset + r.consumed);
    same(
      Buffer.from(encodeMessage(r.message)),
      Buffer.from(bytes),
      `re-encoding ${r.message.type} changes it`,
    );
    whole.messages.push(normalize(r.message));
    offset += r.consumed;
  }

  const reader = new FrameReader({ transient });
  const framed: Outcome = { messages: [], failed: false };
  const shared = Buffer.alloc(256 + step);
  for (let at = 0, i = 0; at < stream.length && !framed.failed; i++) {
    // Varying chunk sizes, as a socket delivers them.
    const size = Math.max(1, (step * (1 + (i % 3))) % 257);
    const chunk = stream.subarray(at, at + size);
    at += chunk.length;
    let view: Uint8Array = chunk;
    if (transient) {
      shared.fill(0xee);
      shared.set(chunk);
      view = shared.subarray(0, chunk.length);
    }
    reader.push(view);
    for (;;) {
      let failed = false;
      const m = typedOnly(
        'FrameReader.nextMessage',
        [ProtocolError],
        () => reader.nextMessage(limits),
        () => {
          failed = true;
        },
      );
      if (failed) framed.failed = true;
      if (m === undefined) break;
      framed.messages.push(normalize(m));
    }
    if (transient) reader.retain();
  }
  same(framed, whole, 'framing in chunks differs from decoding the whole stream');
}

function normalize(m: Message): unknown {
  switch (m.type) {
    case 'piece':
      return { ...m, data: Buffer.from(m.data).toString('hex') };
    case 'bitfield':
      return { ...m, bits: Buffer.from(m.bits).toString('hex') };
    case 'extended':
    case 'unknown':
      return { ...m, payload: Buffer.from(m.payload).toString('hex') };
    default:
      return m;
  }
}
