// What the session writes to its log about the parts it composes: a torrent's errors, bans, failed
// pieces, dials and disconnects; a tracker client's errors and replies; LSD's socket errors; dropped
// DHT packets. The lower layers only emit typed events (they never call up, nor log); this module
// turns those events into records with their context (the torrent's info hash, the peer, the URL).

import type { DhtNode } from '../discovery/dht/dht-node.js';
import type { LsdNode } from '../discovery/lsd.js';
import type { TrackerClient } from '../discovery/tracker-client.js';
import type { Torrent } from '../swarm/torrent.js';
import { errorText, type Logger } from '../util/logger.js';

/** Logs a torrent's events (for its whole life: they go with it when it is dropped). */
export function logTorrent(log: Logger, torrent: Torrent): void {
  const l = log.child({ torrent: torrent.metainfo.infoHashHex });
  torrent.on('torrent:error', (err) => l.error('torrent stopped by an error', { error: errorText(err) }));
  torrent.on('piece:lost', (piece, err) => l.warn('verified piece lost', { piece, error: errorText(err) }));
  torrent.on('piece:failed', (piece, peers) => l.info('piece failed its hash check', { piece, peers }));
  torrent.on('peer:banned', (peer, scope, reason) =>
    l.info(reason === 'user' ? 'peer banned by the user' : 'peer banned (bad data)', { peer, scope }),
  );
  torrent.on('peer:dial-failed', (peer, code, message) =>
    l.debug('dial failed', { peer, code, error: message }),
  );
  torrent.on('peer:disconnect', (peer, reason, _key, info) =>
    l.debug('peer disconnected', { peer, reason, ...(info.error ? { error: info.error } : {}) }),
  );
  torrent.on('peer:connect', (peer, encryption) => l.trace('peer connected', { peer, encryption }));
  torrent.on('webseed:state', (url, state, reason) =>
    l.debug('web seed state', { url, state, ...(reason ? { reason } : {}) }),
  );
}

/** Logs a tracker client's failures (info: a stall's first suspect) and replies (debug). */
export function logTrackerClient(log: Logger, client: TrackerClient, infoHashHex: string): void {
  client.on('tracker:error', (url, err) =>
    log.info('tracker announce failed', { torrent: infoHashHex, url, error: errorText(err) }),
  );
  client.on('tracker:reply', (url, info) =>
    log.debug('tracker replied', { torrent: infoHashHex, url, ...info }),
  );
}

/** LSD's socket errors (the node goes on; a send to a gone interface, say). */
export function logLsd(log: Logger, lsd: LsdNode): void {
  lsd.on('lsd:error', (err) => log.debug('LSD socket error', { error: errorText(err) }));
  lsd.on('lsd:disabled', (reason) => log.info('LSD disabled', { reason }));
}

/** DHT packets dropped (malformed, rate limited, …): trace, one line each. */
export function logDht(log: Logger, dht: DhtNode): void {
  dht.on('packet:dropped', (reason, from) =>
    log.trace('DHT packet dropped', { reason, peer: `${from.host}:${from.port}` }),
  );
}
