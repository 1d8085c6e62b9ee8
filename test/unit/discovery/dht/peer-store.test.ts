// Peer store: expiry after 30 minutes, re-announce refreshes, bounds on torrents and on peers per
// torrent (the oldest goes), newest-first answers capped at the asked number.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PEER_TTL_MS, PeerStore } from '../../../../src/discovery/dht/peer-store.js';

const peer = (n: number) => ({ host: `10.0.0.${n}`, port: 6881 });

describe('PeerStore', () => {
  it('stores and answers newest first, at most the asked number', () => {
    const s = new PeerStore();
    for (let i = 1; i <= 5; i++) s.add('aa', peer(i), i);
    assert.deepEqual(s.get('aa', 3, 10), [peer(5), peer(4), peer(3)]);
    assert.deepEqual(s.get('bb', 3, 10), []);
  });

  it('expires peers after 30 minutes; a re-announce refreshes', () => {
    const s = new PeerStore();
    s.add('aa', peer(1), 0);
    s.add('aa', peer(2), 1000);
    s.add('aa', peer(1), 2000); // re-announce
    assert.equal(s.get('aa', 10, PEER_TTL_MS + 500).length, 2);
    assert.deepEqual(s.get('aa', 10, PEER_TTL_MS + 1000), [peer(1)]);
    s.expire(PEER_TTL_MS + 2000);
    assert.equal(s.torrentCount, 0, 'an emptied torrent is forgotten');
  });

  it('bounds peers per torrent: the oldest is evicted', () => {
    const s = new PeerStore({ maxPeersPerTorrent: 3 });
    for (let i = 1; i <= 5; i++) s.add('aa', peer(i), i);
    assert.equal(s.peerCount('aa'), 3);
    assert.deepEqual(s.get('aa', 10, 10), [peer(5), peer(4), peer(3)]);
  });

  it('bounds torrents: the least recently announced is evicted', () => {
    const s = new PeerStore({ maxTorrents: 2 });
    s.add('aa', peer(1), 1);
    s.add('bb', peer(1), 2);
    s.add('aa', peer(2), 3); // aa is fresher now
    s.add('cc', peer(1), 4);
    assert.equal(s.torrentCount, 2);
    assert.equal(s.peerCount('bb'), 0);
    assert.equal(s.peerCount('aa'), 2);
    assert.equal(s.peerCount('cc'), 1);
  });

  it('stays bounded under a flood of announces', () => {
    const s = new PeerStore({ maxTorrents: 50, maxPeersPerTorrent: 20 });
    for (let i = 0; i < 20_000; i++)
      s.add(
        (i % 97).toString(16),
        { host: `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`, port: (i % 65535) + 1 },
        i,
      );
    assert.equal(s.torrentCount, 50);
    for (let h = 0; h < 97; h++) assert.ok(s.peerCount(h.toString(16)) <= 20);
  });
});
