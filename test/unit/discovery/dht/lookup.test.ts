// Iterative lookup over a synthetic network of 500 ids where every node answers with the k closest
// ids it knows (a random half of the network): the lookup never has more than alpha = 3 queries in
// flight, finds the true k closest ids, and copes with nodes that never answer.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { iterativeLookup } from '../../../../src/discovery/dht/lookup.js';
import { bigIntToId, type Contact, idToBigInt } from '../../../../src/discovery/dht/routing-table.js';

const ids = Array.from({ length: 500 }, (_, i) => createHash('sha1').update(`node ${i}`).digest());
const contacts: Contact[] = ids.map((id, i) => ({ id, host: `10.0.${i >> 8}.${i & 255}`, port: 6881 }));
const byDistance = (target: Buffer, list: Contact[]): Contact[] => {
  const t = idToBigInt(target);
  return [...list].sort((a, b) => {
    const da = idToBigInt(a.id) ^ t;
    const db = idToBigInt(b.id) ^ t;
    return da < db ? -1 : da > db ? 1 : 0;
  });
};
// Each node knows a fixed pseudo-random half of the network.
const knows = contacts.map((_, i) => contacts.filter((_, j) => j !== i && (i * 7 + j * 13) % 2 === 0));

describe('iterativeLookup', () => {
  for (const deadShare of [0, 0.2]) {
    it(`finds the k closest ids with at most 3 queries in flight (${deadShare * 100}% dead nodes)`, async () => {
      const target = createHash('sha1').update(`target ${deadShare}`).digest();
      const dead = new Set(contacts.filter((_, i) => (i * 31) % 100 < deadShare * 100).map((c) => c.host));
      let inFlight = 0;
      let maxInFlight = 0;
      const result = await iterativeLookup({
        target,
        seeds: contacts.slice(0, 8),
        query: async (c) => {
          inFlight++;
          maxInFlight = Math.max(maxInFlight, inFlight);
          await new Promise((r) => setImmediate(r));
          inFlight--;
          if (dead.has(c.host)) return undefined;
          const i = contacts.indexOf(c);
          return { nodes: byDistance(target, knows[i]!).slice(0, 8), token: Buffer.from([i & 255]) };
        },
      });
      assert.equal(maxInFlight, 3);
      const expected = byDistance(
        target,
        contacts.filter((c) => !dead.has(c.host)),
      ).slice(0, 8);
      assert.deepEqual(
        result.closest.map((c) => c.contact.host),
        expected.map((c) => c.host),
      );
      assert.ok(result.closest.every((c) => c.token !== undefined));
      assert.ok(result.queried < 120, `${result.queried} queries`);
    });
  }

  it('collects peers from values, deduplicated, and reports each batch once', async () => {
    const target = createHash('sha1').update('peers').digest();
    const batches: string[][] = [];
    const result = await iterativeLookup({
      target,
      seeds: contacts.slice(0, 3),
      query: async () => ({
        nodes: [],
        values: [
          { host: '1.2.3.4', port: 1 },
          { host: '1.2.3.4', port: 1 },
        ],
      }),
      onPeers: (p) => batches.push(p.map((x) => `${x.host}:${x.port}`)),
    });
    assert.deepEqual(result.peers, [{ host: '1.2.3.4', port: 1 }]);
    assert.deepEqual(batches, [['1.2.3.4:1']]);
  });

  it('never queries the excluded id (ours), and stops at maxQueries', async () => {
    const target = createHash('sha1').update('bounded').digest();
    const asked: string[] = [];
    let fresh = 0;
    const result = await iterativeLookup({
      target,
      seeds: contacts.slice(0, 8),
      exclude: contacts[3]!.id,
      maxQueries: 10,
      query: async (c) => {
        asked.push(c.host);
        // A hostile node answers with an endless supply of fresh ids, each closer than the last.
        return {
          nodes: Array.from({ length: 8 }, () => {
            const d = 1n << BigInt(150 - fresh++);
            return { id: bigIntToId(idToBigInt(target) ^ d), host: '10.9.9.9', port: fresh };
          }),
        };
      },
    });
    assert.equal(result.queried, 10);
    assert.ok(!asked.includes(contacts[3]!.host));
  });

  it('an aborted signal ends the lookup', async () => {
    const ac = new AbortController();
    const p = iterativeLookup({
      target: ids[0]!,
      seeds: contacts.slice(0, 8),
      signal: ac.signal,
      query: () => new Promise(() => {}),
    });
    ac.abort();
    const r = await p;
    assert.deepEqual(r.closest, []);
  });
});
