// Loopback sockets and event waits for the peer connection tests.
import { once } from 'node:events';
import { createServer, type Server, Socket } from 'node:net';
import type { PeerConnection, PeerConnectionEvents } from '../../../src/peer/connection.js';

/** A connected TCP pair on 127.0.0.1. The server is closed once the pair exists. */
export async function socketPair(): Promise<[client: Socket, server: Socket]> {
  const server: Server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const addr = server.address();
  if (!addr || typeof addr === 'string') throw new Error('no address');
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const client = new Socket();
  client.connect(addr.port, '127.0.0.1');
  const [[serverSide]] = await Promise.all([accepted, once(client, 'connect')]);
  server.close();
  return [client, serverSide];
}

/** Resolves with the event's arguments, or rejects after timeoutMs. */
export function waitFor<K extends keyof PeerConnectionEvents & string>(
  conn: PeerConnection,
  name: K,
  timeoutMs = 3000,
): Promise<PeerConnectionEvents[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      conn.off(name, listener);
      reject(new Error(`timed out waiting for ${name}`));
    }, timeoutMs);
    const listener = (...args: PeerConnectionEvents[K]): void => {
      clearTimeout(timer);
      conn.off(name, listener);
      resolve(args);
    };
    conn.on(name, listener);
  });
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Collects raw bytes a scripted peer receives. */
export class Sink {
  chunks: Buffer[] = [];
  constructor(socket: Socket) {
    socket.on('data', (c: Buffer) => this.chunks.push(c));
  }
  get bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}
