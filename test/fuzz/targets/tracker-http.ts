// Fuzz target: HTTP tracker messages in both directions. The first byte picks: an announce reply or a
// scrape reply as the client reads them (TrackerReplyError only), or an announce or scrape query as
// the embedded tracker reads it (TrackerRequestError only). An announce query that parses, rebuilt by
// the client's builder, parses to the same request; the peers of a reply survive re-encoding.

import {
  buildAnnounceQuery,
  buildScrapeQuery,
  encodeDictAnnounceReply,
  encodeScrapeReply,
  ipToBytes,
  parseAnnounceQuery,
  parseAnnounceReply,
  parseScrapeQuery,
  parseScrapeReply,
  TrackerReplyError,
  TrackerRequestError,
} from '../../../src/protocol/tracker-http.js';
import { same, selector, typedOnly } from '../contract.js';

export const dictionary = [
  'd8:intervali1800e5:peers',
  '6:peers6',
  '14:failure reason',
  '15:warning message',
  '10:tracker id',
  '12:min interval',
  '8:completei',
  '10:incompletei',
  '5:filesd20:',
  '2:ip9:127.0.0.1',
  '4:porti6881e',
  '7:peer id20:',
  'info_hash=',
  'peer_id=',
  '&port=6881',
  '&uploaded=0',
  '&left=',
  '&event=started',
  '&numwant=',
  '&compact=1',
  '&no_peer_id=1',
  '&ip=',
  '&key=',
  '&trackerid=',
  '%',
  '%ff',
  '+',
];

export function seeds(): Uint8Array[] {
  const hash = Buffer.alloc(20, 0xab);
  const fields = {
    intervalSec: 1800,
    minIntervalSec: 60,
    complete: 3,
    incomplete: 4,
    warning: 'w',
    trackerId: 'x',
  };
  return [
    tagged(0, Buffer.from('d8:intervali1800e5:peers6:\x7f\x00\x00\x01\x1a\xe1e', 'latin1')),
    tagged(
      0,
      encodeDictAnnounceReply(
        fields,
        [{ ip: Uint8Array.from([127, 0, 0, 1]), port: 6881, peerId: hash }],
        false,
      ),
    ),
    tagged(0, Buffer.from('d14:failure reason6:denied8:retry ini5ee')),
    tagged(1, encodeScrapeReply([{ infoHash: hash, complete: 1, downloaded: 2, incomplete: 3 }])),
    tagged(
      2,
      Buffer.from(
        buildAnnounceQuery({
          infoHash: hash,
          peerId: Buffer.from('-BS0001-123456789012'),
          port: 6881,
          uploaded: 10,
          downloaded: 20,
          left: 30,
          event: 'started',
          numwant: 50,
          key: 'k3y',
          trackerId: Buffer.from('tid'),
        }),
        'latin1',
      ),
    ),
    tagged(3, Buffer.from(buildScrapeQuery([hash, Buffer.alloc(20, 1)]), 'latin1')),
  ];
}

function tagged(kind: number, payload: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([kind]), payload]);
}

export function fuzz(data: Buffer): void {
  const [sel, body] = selector(data);
  switch (sel & 3) {
    case 0: {
      const r = typedOnly('parseAnnounceReply', [TrackerReplyError], () => parseAnnounceReply(body));
      if (r === undefined) return;
      const listed = r.peers.map((p) => ({ ip: ipToBytes(p.host)!, port: p.port }));
      const again = parseAnnounceReply(
        encodeDictAnnounceReply({ intervalSec: 1, complete: 0, incomplete: 0 }, listed, true),
      );
      same(again.peers, r.peers, 'peers change through re-encoding');
      return;
    }
    case 1:
      typedOnly('parseScrapeReply', [TrackerReplyError], () => parseScrapeReply(body));
      return;
    case 2: {
      const q = typedOnly('parseAnnounceQuery', [TrackerRequestError], () =>
        parseAnnounceQuery(body.toString('latin1')),
      );
      if (q === undefined || q.left === undefined) return;
      const rebuilt = parseAnnounceQuery(
        buildAnnounceQuery({
          infoHash: q.infoHash,
          peerId: q.peerId,
          port: q.port,
          uploaded: q.uploaded,
          downloaded: q.downloaded,
          left: q.left,
          event: q.event,
          ...(q.numwant !== undefined ? { numwant: q.numwant } : {}),
          ...(q.key !== undefined ? { key: q.key.toString('latin1') } : {}),
          ...(q.trackerId !== undefined ? { trackerId: q.trackerId } : {}),
          compact: q.compact,
        }),
      );
      same(
        { ...rebuilt, noPeerId: q.noPeerId, ip: q.ip },
        q,
        'announce query changes through the client builder',
      );
      return;
    }
    default: {
      const hashes = typedOnly('parseScrapeQuery', [TrackerRequestError], () =>
        parseScrapeQuery(body.toString('latin1'), 74),
      );
      if (hashes === undefined || hashes.length === 0) return;
      same(
        parseScrapeQuery(buildScrapeQuery(hashes), 74),
        hashes,
        'scrape query changes through the builder',
      );
    }
  }
}
