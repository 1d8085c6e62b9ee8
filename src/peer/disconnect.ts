// Why a connection ended, and what kind of ending it was. The reasons themselves live beside the
// codec (src/protocol/peer-wire.ts) because the codec throws them; this file classifies them for
// the swarm (ban or not, retry soon or not).

import { DisconnectReason } from '../protocol/peer-wire.js';

export { DisconnectReason, ProtocolError } from '../protocol/peer-wire.js';

export const DisconnectKind = {
  /** The remote peer broke the protocol or misbehaved: count it against the peer. */
  protocol: 'protocol',
  /** Nothing arrived in time: the peer may be slow or gone. */
  timeout: 'timeout',
  /** The network or the remote side ended it. */
  transport: 'transport',
  /** We decided to close it. */
  local: 'local',
} as const;
export type DisconnectKind = (typeof DisconnectKind)[keyof typeof DisconnectKind];

const KIND: Readonly<Record<DisconnectReason, DisconnectKind>> = {
  'bad-handshake': 'protocol',
  'message-too-large': 'protocol',
  'bad-message-length': 'protocol',
  'bitfield-size': 'protocol',
  'bitfield-spare-bits': 'protocol',
  'bad-extended-handshake': 'protocol',
  'info-hash-mismatch': 'protocol',
  'have-out-of-range': 'protocol',
  'unexpected-bitfield': 'protocol',
  'fast-not-negotiated': 'protocol',
  'extended-not-negotiated': 'protocol',
  'unrequested-blocks': 'protocol',
  'invalid-requests': 'protocol',
  'request-flood': 'protocol',
  'pex-flood': 'protocol',
  'bad-extension-message': 'protocol',
  'bad-metadata': 'protocol',
  'encryption-bad-key': 'protocol',
  'encryption-no-sync': 'protocol',
  'encryption-unknown-torrent': 'protocol',
  'encryption-bad-padding': 'protocol',
  'encryption-no-common-method': 'protocol',
  'encryption-timeout': 'timeout',
  'connect-timeout': 'timeout',
  'handshake-timeout': 'timeout',
  'idle-timeout': 'timeout',
  'metadata-timeout': 'timeout',
  'socket-error': 'transport',
  'remote-closed': 'transport',
  'closed-locally': 'local',
  aborted: 'local',
  shutdown: 'local',
  'self-connection': 'local',
  'duplicate-connection': 'local',
  'both-seeders': 'local',
  banned: 'local',
  'connection-limit': 'local',
  'internal-error': 'local',
};

export function disconnectKind(reason: DisconnectReason): DisconnectKind {
  return KIND[reason];
}

/** True when the peer is to blame (a misbehaving or broken client). */
export function isPeerFault(reason: DisconnectReason): boolean {
  return KIND[reason] === DisconnectKind.protocol;
}

export function isDisconnectReason(s: string): s is DisconnectReason {
  return Object.hasOwn(KIND, s);
}

/** The reasons, for iteration in tests and for statistics tables. */
export const ALL_DISCONNECT_REASONS: readonly DisconnectReason[] = Object.values(DisconnectReason);
