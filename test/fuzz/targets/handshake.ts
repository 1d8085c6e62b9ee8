// Fuzz target: the handshake reader. The first bytes of a connection give a handshake, "need more"
// or a ProtocolError (as soon as the protocol string is wrong); a handshake re-encodes to its 68
// bytes, and a FrameReader fed the stream in chunks reads the same handshake and then messages.

import {
  decodeHandshake,
  encodeHandshake,
  FrameReader,
  HANDSHAKE_BYTES,
  ProtocolError,
} from '../../../src/protocol/peer-wire.js';
import { check, same, typedOnly } from '../contract.js';

const PREFIX = '\x13BitTorrent protocol';
export const dictionary = [PREFIX, '\x13', 'BitTorrent', '\x00\x00\x00\x00\x00\x10\x00\x05'];

export function seeds(): Uint8Array[] {
  const h = encodeHandshake({
    reserved: Uint8Array.from([0, 0, 0, 0, 0, 0x10, 0, 0x05]),
    infoHash: Buffer.alloc(20, 0xab),
    peerId: Buffer.from('-BS0001-123456789012'),
  });
  return [
    Buffer.concat([Buffer.from([5]), h]),
    Buffer.concat([Buffer.from([20]), h, Buffer.from([0, 0, 0, 1, 2, 0, 0, 0, 0])]),
    Buffer.concat([Buffer.from([1]), h.subarray(0, 30)]),
  ];
}

export function fuzz(data: Buffer): void {
  if (data.length < 1) return;
  const step = 1 + data[0]!;
  const stream = data.subarray(1);
  let failedWhole = false;
  const r = typedOnly(
    'decodeHandshake',
    [ProtocolError],
    () => decodeHandshake(stream),
    () => {
      failedWhole = true;
    },
  );
  if (r !== undefined && 'message' in r) {
    check(r.consumed === HANDSHAKE_BYTES, `handshake of ${r.consumed} bytes`);
    same(
      encodeHandshake(r.message),
      Buffer.from(stream.subarray(0, HANDSHAKE_BYTES)),
      're-encoding the handshake changes it',
    );
  } else if (r !== undefined) {
    check(
      r.need > 0 && r.need <= HANDSHAKE_BYTES - stream.length,
      `need ${r.need} with ${stream.length} bytes`,
    );
  }

  const reader = new FrameReader();
  let got: unknown;
  let failed = false;
  for (let at = 0; at < stream.length && got === undefined && !failed; at += step) {
    reader.push(stream.subarray(at, at + step));
    got = typedOnly(
      'FrameReader.nextHandshake',
      [ProtocolError],
      () => reader.nextHandshake(),
      () => {
        failed = true;
      },
    );
  }
  check(failed === failedWhole, `chunked reader ${failed ? 'failed' : 'passed'}, whole decode did not`);
  if (r !== undefined && 'message' in r) same(got, r.message, 'chunked handshake differs');
  else check(got === undefined, 'chunked reader found a handshake the whole decode did not');
  if (got !== undefined) {
    // What follows the handshake is the message stream, handed on intact.
    const rest = reader.takeRest();
    const after = stream.subarray(HANDSHAKE_BYTES);
    check(Buffer.from(after).subarray(0, rest.length).equals(rest), 'bytes after the handshake changed');
  }
}
