// Choker decisions: tit-for-tat slots while leeching, round robin while seeding, the optimistic
// unchoke and its 30 s rotation, snubbed peers, seeders; plus random peer sets for the general rules.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  type ChokerPeer,
  type ChokerState,
  decideUnchokes,
  isSnubbed,
  OPTIMISTIC_INTERVAL_MS,
  RATE_SLOTS_MAX,
  RATE_SLOTS_STEP,
  RATE_SLOTS_THRESHOLD,
  rateBasedSlots,
  SNUB_AFTER_MS,
} from '../../../src/swarm/choker.js';
import { mulberry32 } from '../prng.js';

type PeerExtra = { [K in keyof ChokerPeer]?: ChokerPeer[K] | undefined };

/** A long-connected interested leecher unchoked long ago; `lastUnchokedAtMs: undefined` means never. */
function peer(id: string, rate: number, extra: PeerExtra = {}): ChokerPeer {
  const { lastUnchokedAtMs, ...rest } = extra;
  const p: ChokerPeer = {
    id,
    interested: true,
    downloadRateBytesPerSec: rate,
    uploadRateBytesPerSec: 0,
    snubbed: false,
    connectedAtMs: -1_000_000,
    isSeed: false,
    ...(rest as Partial<ChokerPeer>),
  };
  if (!('lastUnchokedAtMs' in extra)) p.lastUnchokedAtMs = -1_000_000;
  else if (lastUnchokedAtMs !== undefined) p.lastUnchokedAtMs = lastUnchokedAtMs;
  return p;
}

const fresh: ChokerState = { optimisticSinceMs: 0 };

describe('decideUnchokes while leeching', () => {
  it('gives the regular slots to the interested peers that upload to us fastest', () => {
    const peers = [
      peer('a', 100),
      peer('b', 500),
      peer('c', 300),
      peer('d', 50),
      peer('e', 900),
      peer('f', 10),
      peer('lazy', 10_000, { interested: false }),
      peer('seed', 20_000, { isSeed: true }),
    ];
    const d = decideUnchokes(peers, { slots: 4, seeding: false, nowMs: 0, random: mulberry32(1) }, fresh);
    assert.deepEqual(d.regular, ['e', 'b', 'c', 'a']);
    assert.equal(d.unchoke.size, 5);
    assert.ok(d.state.optimistic === 'd' || d.state.optimistic === 'f');
    assert.ok(d.unchoke.has(d.state.optimistic));
    assert.ok(!d.unchoke.has('lazy'));
    assert.ok(!d.unchoke.has('seed'));
  });

  it('never gives a snubbed peer a regular slot, though it may be the optimistic one', () => {
    const peers = [peer('fast-but-snubbed', 10_000, { snubbed: true }), peer('a', 1), peer('b', 2)];
    const d = decideUnchokes(peers, { slots: 4, seeding: false, nowMs: 0, random: mulberry32(3) }, fresh);
    assert.deepEqual(new Set(d.regular), new Set(['a', 'b']));
    assert.equal(d.state.optimistic, 'fast-but-snubbed');
  });

  it('keeps current holders on equal rates, then prefers those unchoked longest ago', () => {
    const peers = [
      peer('new', 0, { lastUnchokedAtMs: undefined }),
      peer('old', 0, { lastUnchokedAtMs: 5 }),
      peer('holder', 0, { lastUnchokedAtMs: 100 }),
      peer('recent', 0, { lastUnchokedAtMs: 90 }),
    ];
    const d = decideUnchokes(
      peers,
      { slots: 2, seeding: false, nowMs: 200, random: mulberry32(4) },
      { optimisticSinceMs: 0, regularSinceMs: { holder: 100 } },
    );
    assert.deepEqual(d.regular, ['holder', 'new']);
    assert.equal(d.state.regularSinceMs?.holder, 100, 'a holder keeps the start of its turn');
    assert.equal(d.state.regularSinceMs?.new, 200);
  });

  it('honours a configurable number of slots, zero included', () => {
    const peers = ['a', 'b', 'c', 'd', 'e', 'f', 'g'].map((id, i) => peer(id, i));
    for (const slots of [0, 1, 3, 6, 10]) {
      const d = decideUnchokes(peers, { slots, seeding: false, nowMs: 0, random: mulberry32(slots) }, fresh);
      assert.equal(d.regular.length, Math.min(slots, 7));
      assert.equal(d.unchoke.size, Math.min(slots + 1, 7));
    }
  });
});

describe('optimistic unchoke', () => {
  it('rotates every 30 s, not sooner', () => {
    const peers = ['r1', 'r2', 'x', 'y', 'z'].map((id) => peer(id, id.startsWith('r') ? 1000 : 0));
    const random = mulberry32(9);
    let state: ChokerState = fresh;
    const history: { t: number; o: string | undefined }[] = [];
    for (let t = 0; t <= 180_000; t += 10_000) {
      const d = decideUnchokes(peers, { slots: 2, seeding: false, nowMs: t, random }, state);
      state = d.state;
      history.push({ t, o: state.optimistic });
      assert.ok(state.optimistic !== undefined && ['x', 'y', 'z'].includes(state.optimistic));
    }
    for (let i = 1; i < history.length; i++) {
      const changed = history[i]!.o !== history[i - 1]!.o;
      const onBoundary = history[i]!.t % OPTIMISTIC_INTERVAL_MS === 0;
      // t = 0 chose it; it changes exactly at every 30 s boundary, to someone else.
      assert.equal(changed, onBoundary, `t=${history[i]!.t}`);
    }
  });

  it('picks again at once when the optimistic peer leaves or loses interest', () => {
    const peers = [peer('r', 100), peer('x', 0), peer('y', 0)];
    const d1 = decideUnchokes(peers, { slots: 1, seeding: false, nowMs: 0, random: mulberry32(1) }, fresh);
    const first = d1.state.optimistic!;
    const rest = peers.map((p) => (p.id === first ? { ...p, interested: false } : p));
    const d2 = decideUnchokes(
      rest,
      { slots: 1, seeding: false, nowMs: 5_000, random: mulberry32(1) },
      d1.state,
    );
    assert.notEqual(d2.state.optimistic, first);
    assert.equal(d2.state.optimisticSinceMs, 5_000);
  });

  it('weights newly connected peers three times', () => {
    const now = 1_000_000;
    const peers = [
      peer('r', 100),
      peer('new', 0, { connectedAtMs: now - 5_000, lastUnchokedAtMs: undefined }),
      peer('old', 0),
    ];
    const random = mulberry32(77);
    let newCount = 0;
    const trials = 4000;
    for (let i = 0; i < trials; i++) {
      const d = decideUnchokes(peers, { slots: 1, seeding: false, nowMs: now, random }, fresh);
      if (d.state.optimistic === 'new') newCount++;
    }
    const share = newCount / trials;
    assert.ok(share > 0.7 && share < 0.8, `new peer chosen ${share} of the time, expected about 0.75`);
  });
});

describe('decideUnchokes while seeding', () => {
  for (const seed of [1, 2, 3, 11, 26])
    it(`never unchokes seeders and shares the unchoked time evenly (seed ${seed})`, () => {
      const ids = ['a', 'b', 'c', 'd', 'e', 'f'];
      const lastUnchoked = new Map<string, number | undefined>(ids.map((id) => [id, undefined]));
      const random = mulberry32(seed);
      let state: ChokerState = fresh;
      let unchoked = new Set<string>();
      const unchokedTime = new Map<string, number>(ids.map((id) => [id, 0]));
      const heldSince = new Map<string, number>();
      for (let t = 0; t <= 600_000; t += 10_000) {
        const peers: ChokerPeer[] = [
          ...ids.map((id) =>
            // Upload rates differ wildly: round robin ignores them.
            peer(id, 0, {
              uploadRateBytesPerSec: id === 'a' ? 1e6 : 10,
              lastUnchokedAtMs: lastUnchoked.get(id),
            }),
          ),
          peer('seed1', 0, { isSeed: true }),
          peer('seed2', 0, { isSeed: true, interested: false }),
        ];
        const d = decideUnchokes(peers, { slots: 2, seeding: true, nowMs: t, random }, state);
        state = d.state;
        assert.ok(!d.unchoke.has('seed1') && !d.unchoke.has('seed2'));
        assert.equal(d.regular.length, 2);
        assert.equal(d.unchoke.size, 3);
        for (const id of d.unchoke) if (!unchoked.has(id)) lastUnchoked.set(id, t);
        for (const id of d.unchoke) unchokedTime.set(id, unchokedTime.get(id)! + 10_000);
        for (const id of d.regular) {
          if (!heldSince.has(id)) heldSince.set(id, t);
          // With others waiting, nobody keeps a regular slot longer than one 30 s turn.
          assert.ok(t - heldSince.get(id)! < 30_000, `${id} held a slot since ${heldSince.get(id)} at ${t}`);
        }
        for (const id of [...heldSince.keys()]) if (!d.regular.includes(id)) heldSince.delete(id);
        unchoked = d.unchoke;
      }
      // 61 rounds × 3 unchoked × 10 s shared by 6 peers = 305 s each.
      const times = [...unchokedTime.values()];
      const msg = `uneven turns: ${JSON.stringify([...unchokedTime])}`;
      assert.ok(Math.min(...times) >= 290_000, msg);
      assert.ok(Math.max(...times) - Math.min(...times) <= 20_000, msg);
    });

  it('lets a peer keep its slot past its turn when nobody else wants one', () => {
    const peers = [peer('a', 0), peer('b', 0)];
    let state: ChokerState = fresh;
    for (let t = 0; t <= 120_000; t += 10_000) {
      const d = decideUnchokes(peers, { slots: 2, seeding: true, nowMs: t, random: mulberry32(t) }, state);
      assert.deepEqual(new Set(d.unchoke), new Set(['a', 'b']));
      state = d.state;
    }
  });
});

describe('isSnubbed', () => {
  const table: [number | undefined, number, number | undefined, boolean][] = [
    [undefined, 1_000_000, undefined, false],
    [0, SNUB_AFTER_MS - 1, undefined, false],
    [0, SNUB_AFTER_MS, undefined, true],
    [1_000, 61_000, undefined, true],
    [1_000, 30_000, 20_000, true],
    [1_000, 20_000, 20_000, false],
  ];
  for (const [last, now, after, want] of table)
    it(`last block ${last}, now ${now}, after ${after ?? 'default'} → ${want}`, () => {
      assert.equal(after === undefined ? isSnubbed(last, now) : isSnubbed(last, now, after), want);
    });
});

describe('decideUnchokes properties', () => {
  const peerArb = fc.record({
    id: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'),
    interested: fc.boolean(),
    downloadRateBytesPerSec: fc.nat({ max: 1e6 }),
    uploadRateBytesPerSec: fc.nat({ max: 1e6 }),
    snubbed: fc.boolean(),
    connectedAtMs: fc.nat({ max: 1e6 }),
    isSeed: fc.boolean(),
  });
  it('unchokes at most slots + 1 interested non-seeds, regular ones never snubbed while leeching', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(peerArb, { maxLength: 10 }), { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 0, max: 6 }),
        fc.boolean(),
        fc.integer(),
        (rounds, slots, seeding, seed) => {
          const random = mulberry32(seed);
          let state: ChokerState = fresh;
          let now = 0;
          for (const peers of rounds) {
            now += 10_000;
            const d = decideUnchokes(peers, { slots, seeding, nowMs: now, random }, state);
            state = d.state;
            const byId = new Map<string, (typeof peers)[number]>();
            for (const p of peers) if (!byId.has(p.id)) byId.set(p.id, p); // the first of a duplicate id counts
            const eligible = [...byId.values()].filter((p) => p.interested && !p.isSeed);
            assert.ok(d.unchoke.size <= slots + 1);
            assert.ok(d.regular.length <= slots);
            for (const id of d.unchoke) {
              const p = byId.get(id);
              assert.ok(p && eligible.includes(p), `unchoked ${id} that is not an interested non-seed`);
            }
            for (const id of d.regular) if (!seeding) assert.ok(!eligible.find((p) => p.id === id)!.snubbed);
            if (state.optimistic !== undefined) assert.ok(!d.regular.includes(state.optimistic));
            // Work-conserving: unused slots only when nobody else could take them.
            const regularPool = seeding ? eligible : eligible.filter((p) => !p.snubbed);
            assert.equal(d.regular.length, Math.min(slots, regularPool.length));
            if (eligible.length > d.regular.length) assert.ok(state.optimistic !== undefined);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('upload slots sized to the uplink (rate-based)', () => {
  const share = (capacity: number, slots: number): number[] =>
    Array.from({ length: slots }, () => capacity / slots);

  it('at the start (no rates yet) and on a slow uplink: the minimum', () => {
    assert.equal(rateBasedSlots([], 4), 4);
    assert.equal(rateBasedSlots([0, 0, 0], 4), 4);
    assert.equal(rateBasedSlots(share(20_000, 4), 4), 4, '20 kB/s shared by 4: 5 kB/s each');
  });

  it('a full uplink settles near √(capacity / step): more slots for a faster uplink', () => {
    for (const capacity of [100_000, 1_000_000, 5_000_000]) {
      // Iterate as the choker does, round after round, the uplink shared evenly by the slots.
      let slots = 4;
      for (let round = 0; round < 100; round++) slots = rateBasedSlots(share(capacity, slots), 4);
      const settled = Math.sqrt(capacity / RATE_SLOTS_STEP);
      assert.ok(
        Math.abs(slots - settled) <= 2 || slots === RATE_SLOTS_MAX,
        `${capacity} B/s: ${slots} slots, about ${settled.toFixed(1)} expected`,
      );
    }
  });

  it('peers slower than their share (their own link) leave room for more', () => {
    // A 5 MB/s uplink, peers that take 30 kB/s each: each still counts until 30 kB/s < 1 KiB + k·2 KiB.
    const slots = rateBasedSlots(
      Array.from({ length: 40 }, () => 30_000),
      4,
    );
    assert.equal(slots, 16, '15 peers count (30 kB/s ≥ 1 KiB + 14 · 2 KiB), and one more to probe');
  });

  it("from the uplink's capacity at once: the most slots that each still get their due", () => {
    for (const capacity of [100_000, 2_500_000]) {
      const slots = rateBasedSlots([], 4, capacity);
      const settled = Math.sqrt(capacity / RATE_SLOTS_STEP);
      assert.ok(
        Math.abs(slots - settled) <= 1.5,
        `${capacity} B/s: ${slots} slots, about ${settled.toFixed(1)}`,
      );
      assert.ok(capacity / slots >= RATE_SLOTS_THRESHOLD + (slots - 1) * RATE_SLOTS_STEP);
      assert.ok(capacity / (slots + 1) < RATE_SLOTS_THRESHOLD + slots * RATE_SLOTS_STEP);
    }
    assert.equal(rateBasedSlots([], 4, 12_000), 4, 'a slow uplink: the minimum');
  });

  it('never above the maximum', () => {
    assert.equal(
      rateBasedSlots(
        Array.from({ length: 500 }, () => 1e9),
        4,
      ),
      RATE_SLOTS_MAX,
    );
  });
});
