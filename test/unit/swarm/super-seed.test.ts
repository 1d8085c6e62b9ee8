// Initial seeding (BEP 16): each piece offered to one peer at a time, rarest first, a peer's new
// offers held back until it passes on what it got, starving peers served anyway once the swarm holds
// every piece, offers kept while the peer works through them, departures undone;
// plus a random run of a whole swarm in which every peer completes and the seeder sends each piece
// about once.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { SuperSeed } from '../../../src/swarm/super-seed.js';
import { mulberry32 } from '../prng.js';

const make = (pieceCount: number, extra: Partial<ConstructorParameters<typeof SuperSeed>[0]> = {}) =>
  new SuperSeed({ pieceCount, random: mulberry32(1), ...extra });

describe('super-seeding', () => {
  it('offers each piece to one peer only, up to the pipeline of each', () => {
    const ss = make(10, { maxPendingPerPeer: 2 });
    ss.addPeer('a', 0);
    ss.addPeer('b', 0);
    const offers = ss.offers(0);
    assert.equal(offers.length, 4);
    assert.equal(new Set(offers.map((o) => o.piece)).size, 4, 'four distinct pieces');
    assert.deepEqual(offers.filter((o) => o.peer === 'a').length, 2, 'two outstanding each (the pipeline)');
    assert.deepEqual(ss.offers(0), [], 'nothing more until a peer announces one');
    ss.checkInvariants();
  });

  it('offers nothing a peer holds, and a new piece once it announces the offered one', () => {
    const ss = make(4, { maxPendingPerPeer: 1 });
    ss.addPeer('a', 0);
    ss.peerBitfield('a', (i) => i === 0 || i === 1, 0);
    const [first] = ss.offers(0);
    assert.ok(first && first.piece >= 2);
    ss.peerHas('a', first.piece, 10);
    const [second] = ss.offers(10);
    assert.ok(second && second.piece >= 2 && second.piece !== first.piece);
    ss.peerHas('a', second.piece, 20);
    assert.deepEqual(ss.offers(20), [], 'a holds every piece');
    ss.checkInvariants();
  });

  it('holds back a peer that does not pass pieces on, and frees it when another peer announces them', () => {
    const ss = make(20, { maxPendingPerPeer: 1, maxHeldPerPeer: 2 });
    ss.addPeer('a', 0);
    ss.addPeer('b', 0);
    const got: number[] = [];
    for (let k = 0; k < 2; k++) {
      const o = ss.offers(k).find((x) => x.peer === 'a')!;
      ss.peerHas('a', o.piece, k);
      got.push(o.piece);
    }
    assert.equal(
      ss.offers(2).filter((o) => o.peer === 'a').length,
      0,
      'two pieces held, none passed on: no more',
    );
    ss.peerHas('b', got[0]!, 3); // b got it from a
    assert.equal(ss.offers(3).filter((o) => o.peer === 'a').length, 1, 'passed on: one more');
    ss.checkInvariants();
  });

  it('does not offer a piece some peer holds, unless the asking peer is starving', () => {
    const ss = make(2, { maxPendingPerPeer: 2, starveAfterMs: 1000 });
    ss.addPeer('a', 0);
    ss.peerBitfield('a', () => true, 0);
    ss.addPeer('b', 0);
    assert.deepEqual(ss.offers(500), [], 'a has them all: b gets them from a');
    const late = ss.offers(1500);
    assert.deepEqual(
      late.map((o) => o.peer),
      ['b', 'b'],
      'b heard nothing for 1 s: offered what a has',
    );
    ss.checkInvariants();
  });

  it('a starving peer gets no second copy while some piece is held by nobody', () => {
    const ss = make(5, { maxPendingPerPeer: 2, starveAfterMs: 1000 });
    ss.addPeer('a', 0);
    ss.addPeer('b', 0);
    ss.peerBitfield('a', (i) => i < 2, 0);
    const first = ss.offers(0);
    const toA = first.filter((o) => o.peer === 'a').map((o) => o.piece);
    assert.equal(first.length, 3, 'the three pieces nobody holds, one offer each');
    assert.equal(toA.length, 2);
    // b announces its offer; a's are still on their way (a asks for their blocks all along).
    for (const o of first) if (o.peer === 'b') ss.peerHas('b', o.piece, 100);
    for (const t of [600, 1200, 1800]) ss.peerRequested('a', t);
    assert.deepEqual(
      ss.offers(2000),
      [],
      'b is starving, but what a holds is not worth a second copy while a piece is held by nobody',
    );
    for (const p of toA) ss.peerHas('a', p, 2100);
    const last = ss.offers(2200);
    assert.ok(
      last.some((o) => o.peer === 'b' && ss.availability(o.piece) > 0),
      'every piece held: starving b now gets what a holds',
    );
    ss.checkInvariants();
  });

  it('a lone leecher that cannot pass pieces on still gets the whole torrent', () => {
    const ss = make(12, { maxPendingPerPeer: 2, maxHeldPerPeer: 2, starveAfterMs: 1000 });
    ss.addPeer('a', 0);
    const all = () => Array.from({ length: 12 }, (_, i) => ss.availability(i)).every((a) => a === 1);
    let now = 0;
    for (; now < 60_000 && !all(); now += 100) {
      for (const o of ss.offers(now)) ss.peerHas(o.peer, o.piece, now);
    }
    for (let i = 0; i < 12; i++) assert.equal(ss.availability(i), 1, `piece ${i}`);
    assert.ok(now < 1000, `nobody to pass pieces on to: no wait for starvation (took ${now} ms)`);
    ss.checkInvariants();
  });

  it('automatic: a peer alone for releaseLoneAfterMs is released, told every piece, and offered nothing', () => {
    const ss = make(8, { maxPendingPerPeer: 2, releaseLoneAfterMs: 3000 });
    ss.addPeer('a', 0);
    const first = ss.offers(0);
    assert.equal(first.length, 2);
    assert.equal(ss.offers(2999).length, 0);
    assert.equal(ss.released.length, 0, 'not yet alone long enough');
    ss.offers(3000);
    assert.deepEqual(
      ss.released.map((r) => r.peer),
      ['a'],
    );
    const told = ss.released[0]!.told;
    assert.deepEqual(
      [...told.keys()].filter((i) => told[i]),
      first.map((o) => o.piece).sort((x, y) => x - y),
      'the caller announces the rest: what it was told so far',
    );
    assert.ok(
      Array.from({ length: 8 }, (_, i) => ss.told('a', i)).every(Boolean),
      'released: everything counts as told',
    );
    assert.deepEqual(ss.pendingOf('a'), []);
    ss.peerHas('a', 5, 3100); // asked us, as of any seeder
    assert.deepEqual(ss.offers(3100), [], 'no offers to a released peer');
    ss.checkInvariants();
  });

  it('automatic: two peers together are not released, and a newcomer is not offered what a released peer holds', () => {
    const ss = make(4, { maxPendingPerPeer: 1, releaseLoneAfterMs: 1000, starveAfterMs: 60_000 });
    ss.addPeer('a', 0);
    ss.addPeer('b', 500);
    ss.offers(500);
    ss.offers(5000);
    assert.equal(ss.released.length, 0, 'never alone');
    ss.removePeer('b', 5000);
    ss.offers(5900);
    assert.equal(ss.released.length, 0, 'alone for 900 ms only');
    ss.offers(6000);
    assert.deepEqual(
      ss.released.map((r) => r.peer),
      ['a'],
      'alone from when b left',
    );
    ss.peerBitfield('a', (i) => i < 3, 6000);
    assert.equal(ss.foreignSource, false, 'what a released peer got, it got from us');
    ss.addPeer('c', 6100);
    assert.deepEqual(
      ss.offers(6100).map((o) => [o.peer, o.piece]),
      [['c', 3]],
      'the one piece nobody holds',
    );
    ss.checkInvariants();
  });

  it('a lone peer is offered the pieces in order', () => {
    const ss = make(64, { maxPendingPerPeer: 4 });
    ss.addPeer('a', 0);
    assert.deepEqual(
      ss.offers(0).map((o) => o.piece),
      [0, 1, 2, 3],
    );
  });

  it('an interested peer that asked keeps initial seeding when an offer expires; the piece is free again', () => {
    const ss = make(2, { maxPendingPerPeer: 1, starveAfterMs: 1000, interested: (p) => p === 'a' });
    ss.addPeer('a', 0);
    ss.addPeer('b', 0);
    const [oa] = ss.offers(0).filter((o) => o.peer === 'a');
    ss.peerRequested('a', 10);
    ss.peerRequested('b', 1400); // b is taking up its offer
    ss.offers(1500);
    assert.equal(ss.released.length, 0, 'a still wants it (it may fetch it elsewhere)');
    assert.deepEqual(ss.pendingOf('a'), [], 'the offer left its pipeline');
    ss.peerHas('b', 1 - oa!.piece, 1600);
    assert.deepEqual(
      ss
        .offers(1600)
        .filter((o) => o.peer === 'b')
        .map((o) => o.piece),
      [oa!.piece],
      'the expired piece is offered to b',
    );
    ss.checkInvariants();
  });

  it('peers that never ask lock no piece away from a starving newcomer, and leave initial seeding', () => {
    const ss = make(4, { maxPendingPerPeer: 2, starveAfterMs: 1000, interested: () => true });
    ss.addPeer('hog1', 0);
    ss.addPeer('hog2', 0);
    assert.equal(ss.offers(0).length, 4, 'every piece is offered to a hog');
    ss.addPeer('c', 100);
    assert.deepEqual(ss.offers(100), [], 'nothing is free');
    const late = ss.offers(1100).filter((o) => o.peer === 'c');
    assert.equal(late.length, 2, 'starving, c is offered pieces the hogs only sit on');
    assert.deepEqual(
      ss.released.map((r) => r.peer).sort(),
      ['hog1', 'hog2'],
      'their offers expired and they never asked',
    );
    ss.checkInvariants();
  });

  it('a bitfield with a piece never offered is another source; pieces passed on from our offers are not', () => {
    const ss = make(6, { maxPendingPerPeer: 2 });
    ss.addPeer('a', 0);
    const offered = ss.offers(0).map((o) => o.piece);
    for (const piece of offered) ss.peerHas('a', piece, 1);
    ss.addPeer('b', 2);
    ss.peerBitfield('b', (i) => offered.includes(i), 2);
    assert.equal(ss.foreignSource, false, 'b has them from a, a from us');
    ss.addPeer('c', 3);
    const other = [0, 1, 2, 3, 4, 5].find((i) => !offered.includes(i) && !ss.told('b', i))!;
    ss.peerBitfield('c', (i) => i === other, 3);
    assert.equal(ss.foreignSource, true, `piece ${other} was never offered`);
  });

  it('offers expire only while the peer asks for nothing: a busy pipeline is kept', () => {
    const ss = make(8, { maxPendingPerPeer: 2, starveAfterMs: 1000, busy: (p) => p === 'c' });
    ss.addPeer('a', 0);
    ss.addPeer('b', 0);
    ss.addPeer('c', 0);
    ss.offers(0);
    for (let t = 0; t <= 3000; t += 200) ss.peerRequested('a', t);
    ss.offers(3000);
    assert.deepEqual(
      ss.released.map((r) => r.peer),
      ['b'],
      'a asked all along, c still waits for what it asked: both keep their offers; b asked nothing',
    );
    assert.equal(ss.pendingOf('a').length, 2);
    assert.equal(ss.pendingOf('c').length, 2);
    ss.checkInvariants();
  });

  it('offers rarest first and again what a departed peer took away', () => {
    const ss = make(3, { maxPendingPerPeer: 1 });
    ss.addPeer('a', 0);
    ss.addPeer('b', 0);
    ss.peerBitfield('b', (i) => i === 0, 0);
    const [o] = ss.offers(0).filter((x) => x.peer === 'a');
    assert.notEqual(o!.piece, 0, 'a piece nobody has comes first');
    ss.peerHas('a', o!.piece, 1);
    ss.removePeer('a', 1);
    assert.equal(ss.availability(o!.piece), 0);
    ss.addPeer('c', 2);
    const again = ss.offers(2).map((x) => x.piece);
    assert.ok(again.includes(o!.piece) || ss.pendingOf('b').includes(o!.piece), 'offered again');
    ss.checkInvariants();
  });

  it('a random swarm: everyone completes, the seeder sends each piece about once', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 60 }),
        fc.integer({ min: 2, max: 12 }),
        fc.integer({ min: 1, max: 2 ** 31 }),
        (pieces, peers, seed) => {
          const random = mulberry32(seed);
          const ss = new SuperSeed({ pieceCount: pieces, maxPendingPerPeer: 2, maxHeldPerPeer: 4, random });
          const ids = Array.from({ length: peers }, (_, i) => `p${i}`);
          const has = new Map(ids.map((id) => [id, new Set<number>()]));
          for (const id of ids) ss.addPeer(id, 0);
          const offered = new Map(ids.map((id) => [id, new Set<number>()]));
          let fromSeeder = 0;
          for (let now = 0; now < 100_000; now += 100) {
            for (const o of ss.offers(now)) offered.get(o.peer)!.add(o.piece);
            // Each step, every peer downloads one piece: an offered one from the seeder, or one a
            // random other peer holds.
            for (const id of ids) {
              const mine = has.get(id)!;
              const fromUs = [...offered.get(id)!].find((p) => !mine.has(p));
              let piece = fromUs;
              if (piece === undefined) {
                const other = ids[Math.floor(random() * peers)]!;
                piece = [...has.get(other)!].find((p) => !mine.has(p));
              } else fromSeeder++;
              if (piece === undefined) continue;
              mine.add(piece);
              ss.peerHas(id, piece, now);
            }
            if (ids.every((id) => has.get(id)!.size === pieces)) break;
          }
          ss.checkInvariants();
          for (const id of ids) assert.equal(has.get(id)!.size, pieces, `${id} completes`);
          // Starving fallbacks can repeat a piece; most are sent once.
          assert.ok(fromSeeder <= pieces * 2, `seeder sent ${fromSeeder} pieces for ${pieces}`);
        },
      ),
      { numRuns: 60 },
    );
  });
});
