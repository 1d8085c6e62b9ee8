// Starts a session on a port: the one asked for, or — when none was asked for — the usual BitTorrent
// port 6881 and the next free ones, then any free port. The CLI's commands and the library's Client
// share it, so both have the defaults a user on a real network expects.
import { Session, SessionError, type SessionOptions } from './session.js';

export const DEFAULT_PORT = 6881;

export async function startSession(port: number | undefined, options: SessionOptions = {}): Promise<Session> {
  const candidates = port !== undefined ? [port] : [DEFAULT_PORT, DEFAULT_PORT + 1, DEFAULT_PORT + 2, 0];
  let last: unknown;
  for (const p of candidates) {
    const s = new Session({ ...options, port: p });
    try {
      await s.start();
      return s;
    } catch (err) {
      last = err;
      await s.stop();
      if (port !== undefined) throw err;
    }
  }
  throw last instanceof Error ? last : new SessionError('cannot listen');
}
