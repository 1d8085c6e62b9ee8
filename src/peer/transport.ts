// Where connections come from: a transport dials a peer address and hands back a connected stream.
// TCP (dial.ts) is the default; the swarm simulator (test/sim) passes an in-process network, and
// uTP can come in the same way. Nothing below the session dials a socket itself.

import type { Duplex } from 'node:stream';
import type { PeerAddress } from '../protocol/address.js';
import { type DialOptions, dial } from './dial.js';

/** A connected byte stream and the address of its other end (what net.Socket offers). */
export interface TransportSocket extends Duplex {
  readonly remoteAddress?: string | undefined;
  readonly remotePort?: number | undefined;
  /** Which protocol carries it: uTP sockets say 'utp'; absent means TCP (net.Socket). */
  readonly transport?: 'tcp' | 'utp';
}

export interface Transport {
  /**
   * Connects to `addr`; resolves once connected. Rejects with a DialError (its `cause.code` an errno
   * such as ECONNREFUSED or ETIMEDOUT) when the peer cannot be reached within `options.timeoutMs`.
   */
  connect(addr: PeerAddress, options: DialOptions): Promise<TransportSocket>;
}

/** TCP through node:net, with the shared read buffer when asked (DialOptions.sharedReads). */
export const tcpTransport: Transport = { connect: dial };
