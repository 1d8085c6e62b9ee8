// uTP (BEP 29): the packet codec, and two connection managers joined by a simulated link on a
// virtual clock (loss, reordering, duplicates, sequence wrap-around, FIN, RESET), and a hostile
// peer (acks for unsent data, a window of 0 forever, random connection ids, a SYN flood).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { DialError } from '../../../src/peer/dial.js';
import { UtpManager, type UtpManagerOptions } from '../../../src/peer/utp-manager.js';
import type { UtpSocket } from '../../../src/peer/utp-socket.js';
import {
  decodeUtpPacket,
  encodeUtpPacket,
  looksLikeUtp,
  seqDiff,
  seqLess,
  UtpPacketError,
  UtpType,
} from '../../../src/protocol/utp.js';
import { SimClock } from '../../sim/sim-clock.js';
import { mulberry32 } from '../prng.js';

describe('uTP packet codec', () => {
  const base = {
    type: UtpType.data,
    connectionId: 0xbeef,
    timestampUs: 0x12345678,
    timestampDiffUs: 0x9abcdef0,
    windowBytes: 1 << 20,
    seqNr: 0xffff,
    ackNr: 7,
    payload: Buffer.from('hello'),
  };

  test('round trip with and without a selective ack', () => {
    for (const p of [
      base,
      { ...base, type: UtpType.state, payload: Buffer.alloc(0), sack: Buffer.from([1, 0, 0, 0x80]) },
    ]) {
      const bytes = encodeUtpPacket(p);
      assert.ok(looksLikeUtp(bytes));
      const d = decodeUtpPacket(bytes);
      assert.deepEqual(
        { ...d, payload: Buffer.from(d.payload), ...(d.sack ? { sack: Buffer.from(d.sack) } : {}) },
        p,
      );
    }
  });

  test('known header bytes', () => {
    const bytes = encodeUtpPacket({ ...base, type: UtpType.syn, payload: Buffer.alloc(0) });
    assert.equal(bytes.toString('hex'), `4100beef123456789abcdef000100000ffff0007`);
  });

  test('bad packets throw UtpPacketError, each saying what', () => {
    const good = encodeUtpPacket(base);
    const cases: [string, Buffer, RegExp][] = [
      ['truncated', good.subarray(0, 19), /shorter than its 20-byte header/],
      ['version 2', Buffer.concat([Buffer.from([0x02]), good.subarray(1)]), /version 2/],
      ['type 5', Buffer.concat([Buffer.from([0x51]), good.subarray(1)]), /type 5/],
      [
        'extension overruns',
        Buffer.concat([Buffer.from([0x01, 0x01]), good.subarray(2, 20), Buffer.from([0, 200, 1, 2])]),
        /overruns/,
      ],
      [
        'extension header cut',
        Buffer.concat([Buffer.from([0x01, 0x02]), good.subarray(2, 20), Buffer.from([0])]),
        /truncated/,
      ],
      // Each extension names the next as 2: a chain that never ends within the packet's bounds.
      [
        'looping chain',
        Buffer.concat([
          Buffer.from([0x01, 0x02]),
          good.subarray(2, 20),
          Buffer.from([2, 0, 2, 0, 2, 0, 2, 0, 2, 0, 2, 0, 2, 0, 2, 0, 2, 0, 2, 0]),
        ]),
        /chain longer/,
      ],
      [
        'sack of 3 bytes',
        Buffer.concat([Buffer.from([0x01, 0x01]), good.subarray(2, 20), Buffer.from([0, 3, 1, 2, 3])]),
        /multiple of 4/,
      ],
    ];
    for (const [name, bytes, re] of cases) {
      assert.throws(
        () => decodeUtpPacket(bytes),
        (e: unknown) => e instanceof UtpPacketError && re.test(e.message),
        name,
      );
    }
  });

  test('random bytes throw only UtpPacketError', () => {
    const rnd = mulberry32(29);
    for (let i = 0; i < 5000; i++) {
      const b = Buffer.alloc(Math.floor(rnd() * 60));
      for (let j = 0; j < b.length; j++) b[j] = Math.floor(rnd() * 256);
      if (b.length > 0 && rnd() < 0.7) b[0] = (Math.floor(rnd() * 5) << 4) | 1;
      try {
        decodeUtpPacket(b);
      } catch (e) {
        assert.ok(e instanceof UtpPacketError, String(e));
      }
    }
  });

  test('16-bit sequence numbers wrap', () => {
    assert.equal(seqDiff(2, 0xfffe), 4);
    assert.equal(seqDiff(0xfffe, 2), -4);
    assert.ok(seqLess(0xffff, 0));
    assert.ok(!seqLess(0, 0xffff));
  });
});

interface Link {
  /** Drop (true) or deliver a datagram; may also reorder via `delayMs`. */
  filter?: (msg: Buffer, from: 'a' | 'b') => boolean;
  delayMs?: (from: 'a' | 'b') => number;
  duplicate?: () => boolean;
}

function pair(clock: SimClock, link: Link = {}, extra: Partial<UtpManagerOptions> = {}) {
  const incoming: UtpSocket[] = [];
  let a: UtpManager;
  let b: UtpManager;
  const deliver =
    (to: () => UtpManager, from: 'a' | 'b', port: number) => (chunks: readonly Uint8Array[]) => {
      const msg = Buffer.concat(chunks);
      if (link.filter?.(msg, from)) return;
      const copies = link.duplicate?.() ? 2 : 1;
      for (let i = 0; i < copies; i++)
        clock.at(link.delayMs?.(from) ?? 5, () => to().handlePacket(msg, { address: '10.0.0.1', port }));
    };
  const common = { clock, nowUs: () => clock.now() * 1000, defer: (fn: () => void) => void clock.at(0, fn) };
  a = new UtpManager({ ...common, ...extra, send: (c) => deliver(() => b, 'a', 1)(c) });
  b = new UtpManager({
    ...common,
    ...extra,
    send: (c) => deliver(() => a, 'b', 2)(c),
    onIncoming: (s) => incoming.push(s),
  });
  return { a, b, incoming };
}

async function collect(clock: SimClock, s: UtpSocket, bytes: number, maxMs = 600_000): Promise<Buffer> {
  const got: Buffer[] = [];
  let n = 0;
  s.on('data', (c: Buffer) => {
    got.push(c);
    n += c.length;
  });
  await clock.run({ until: () => n >= bytes, maxMs: clock.elapsedMs + maxMs });
  return Buffer.concat(got);
}

/** Writes `bytes` random bytes on `from`; `to` must read them back byte for byte (returned). */
async function sendChecked(clock: SimClock, from: UtpSocket, to: UtpSocket, bytes: number): Promise<Buffer> {
  const data = randomBytes(bytes);
  from.write(data);
  const got = await collect(clock, to, data.length);
  assert.ok(got.equals(data), 'byte for byte');
  return got;
}

async function connect(clock: SimClock, m: UtpManager): Promise<UtpSocket> {
  const p = m.connect({ host: '10.0.0.1', port: 2 }, { timeoutMs: 10_000 });
  let s: UtpSocket | undefined;
  let err: unknown;
  p.then(
    (x) => (s = x),
    (e) => (err = e),
  );
  await clock.run({ until: () => s !== undefined || err !== undefined, maxMs: clock.elapsedMs + 60_000 });
  if (err) throw err;
  assert.ok(s);
  return s;
}

describe('uTP connections on a simulated link', () => {
  test('both directions, byte for byte, across the 16-bit wrap', async () => {
    const clock = new SimClock();
    let r = 0xfff0;
    const { a, b, incoming } = pair(
      clock,
      {},
      {
        random16: () => {
          r += 3;
          return r & 0xffff;
        },
      },
    );
    const s = await connect(clock, a);
    await clock.run({ until: () => incoming.length === 1, maxMs: clock.elapsedMs + 1000 });
    const t = incoming[0]!;
    const up = randomBytes(300_000);
    const down = randomBytes(200_000);
    s.write(up);
    t.write(down);
    const [gotUp, gotDown] = await Promise.all([
      collect(clock, t, up.length),
      collect(clock, s, down.length),
    ]);
    assert.ok(gotUp.equals(up));
    assert.ok(gotDown.equals(down));
    a.stop();
    b.stop();
  });

  test('5% loss, reordering and duplicates: still byte for byte', async () => {
    const clock = new SimClock();
    const rnd = mulberry32(7);
    const { a, b, incoming } = pair(clock, {
      filter: () => rnd() < 0.05,
      delayMs: () => 5 + Math.floor(rnd() * 20),
      duplicate: () => rnd() < 0.03,
    });
    const s = await connect(clock, a);
    await clock.run({ until: () => incoming.length === 1, maxMs: clock.elapsedMs + 5000 });
    const got = await sendChecked(clock, s, incoming[0]!, 400_000);
    assert.equal(got.length, 400_000);
    assert.ok(a.stats.retransmit > 0);
    a.stop();
    b.stop();
  });

  test('LEDBAT: a link that queues (delay grows with load) keeps the queueing delay near 100 ms', async () => {
    const clock = new SimClock();
    // A 1 MB/s bottleneck from a to b: each packet waits for those queued before it.
    let busyUntil = 0;
    const { a, b, incoming } = pair(clock, {
      delayMs: (from) => {
        if (from === 'b') return 5;
        const now = clock.elapsedMs;
        busyUntil = Math.max(busyUntil, now) + 1.4;
        return 5 + (busyUntil - now);
      },
    });
    const s = await connect(clock, a);
    await clock.run({ until: () => incoming.length === 1, maxMs: clock.elapsedMs + 5000 });
    await sendChecked(clock, s, incoming[0]!, 4_000_000);
    const qd = s.stats.queueDelayUs;
    assert.ok(qd > 30_000 && qd < 200_000, `queueing delay ${qd} µs`);
    a.stop();
    b.stop();
  });

  /**
   * Sends `bytes` from a to b, dropping the first data packet a sends at or after each time of
   * `dropAtMs`; returns the window cuts seen (a's window falling by more than a third between two of
   * its data packets), with their times.
   */
  async function cutsFor(bytes: number, dropAtMs: number[]): Promise<number[]> {
    const clock = new SimClock();
    const pending = [...dropAtMs];
    const cuts: number[] = [];
    let s: UtpSocket | undefined;
    let last = 0;
    const { a, b, incoming } = pair(clock, {
      filter: (msg, from) => {
        if (from !== 'a' || msg[0]! >> 4 !== UtpType.data || s === undefined) return false;
        const cwnd = s.stats.cwndBytes;
        if (cwnd < last * (2 / 3)) cuts.push(clock.elapsedMs);
        last = cwnd;
        if (pending.length > 0 && clock.elapsedMs >= pending[0]!) {
          pending.shift();
          return true;
        }
        return false;
      },
    });
    s = await connect(clock, a);
    await clock.run({ until: () => incoming.length === 1, maxMs: clock.elapsedMs + 5000 });
    await sendChecked(clock, s, incoming[0]!, bytes);
    a.stop();
    b.stop();
    return cuts;
  }

  test('a burst of packets reaches the reader as one chunk, with one ack', async () => {
    const clock = new SimClock();
    let dataPackets = 0;
    let acks = 0;
    const { a, b, incoming } = pair(clock, {
      filter: (msg, from) => {
        if (from === 'a' && msg[0]! >> 4 === UtpType.data) dataPackets++;
        if (from === 'b' && msg[0]! >> 4 === UtpType.state) acks++;
        return false;
      },
    });
    const s = await connect(clock, a);
    await clock.run({ until: () => incoming.length === 1, maxMs: clock.elapsedMs + 5000 });
    const t = incoming[0]!;
    let chunks = 0;
    t.on('data', () => chunks++);
    acks = 0;
    await sendChecked(clock, s, t, 2_000_000);
    // Each window's packets leave together and arrive at one time: one push and one ack per window.
    assert.ok(chunks * 4 < dataPackets, `${chunks} chunks for ${dataPackets} packets`);
    assert.ok(acks * 4 < dataPackets, `${acks} acks for ${dataPackets} packets`);
    a.stop();
    b.stop();
  });

  test('a loss cuts the window once per 100 ms, however many windows the losses span', async () => {
    // A round trip is 10 ms: the second loss is in a later window, 30 ms after the first (no
    // further cut); the third 200 ms after it (a cut).
    const cuts = await cutsFor(8_000_000, [300, 330, 500]);
    assert.equal(cuts.length, 2, `cuts at ${cuts.join(', ')} ms`);
    assert.ok(cuts[0]! >= 300 && cuts[0]! < 330, `first cut at ${cuts[0]} ms`);
    assert.ok(cuts[1]! >= 500, `second cut at ${cuts[1]} ms`);
  });

  test('a loss after more than half the sequence space of clean sending still cuts the window', async () => {
    // About 45,000 packets without a loss by 2.1 s: a mark of the last cut that stayed at the start
    // would lie "ahead" across the 16-bit wrap, and no loss would cut until the sequence wrapped.
    const cuts = await cutsFor(110_000_000, [2_100, 2_300, 2_500]);
    assert.equal(cuts.length, 3, `cuts at ${cuts.join(', ')} ms`);
  });

  test('FIN: end() on one side ends the other; RESET: a stopped manager resets its peers', async () => {
    const clock = new SimClock();
    const { a, b, incoming } = pair(clock);
    const s = await connect(clock, a);
    await clock.run({ until: () => incoming.length === 1, maxMs: clock.elapsedMs + 1000 });
    const t = incoming[0]!;
    let ended = false;
    t.on('end', () => (ended = true));
    t.resume();
    s.resume();
    s.end(Buffer.from('bye'));
    await clock.run({ until: () => ended, maxMs: clock.elapsedMs + 5000 });
    assert.ok(ended);
    await clock.run({
      until: () => a.connectionCount === 0 && b.connectionCount === 0,
      maxMs: clock.elapsedMs + 30_000,
    });
    assert.equal(a.connectionCount, 0);
    assert.equal(b.connectionCount, 0);

    const s2 = await connect(clock, a);
    let err: NodeJS.ErrnoException | undefined;
    s2.on('error', (e) => (err = e));
    b.stop();
    await clock.run({ until: () => err !== undefined, maxMs: clock.elapsedMs + 5000 });
    assert.equal(err?.code, 'ECONNRESET');
    a.stop();
  });

  test('a dial nobody answers fails with a DialError (ETIMEDOUT)', async () => {
    const clock = new SimClock();
    const { a, b } = pair(clock, { filter: () => true });
    await assert.rejects(
      connect(clock, a),
      (e: unknown) => e instanceof DialError && /timed out/.test(e.message),
    );
    assert.equal(a.connectionCount, 0);
    a.stop();
    b.stop();
  });
});

describe('uTP path MTU discovery', () => {
  /** Sends `bytes` from a to b over `link`; the largest datagram a sent, and what b got. */
  async function transfer(clock: SimClock, link: Link, bytes: number) {
    let largest = 0;
    const { a, b, incoming } = pair(clock, {
      ...link,
      filter: (msg, from) => {
        if (from === 'a') largest = Math.max(largest, msg.length);
        return link.filter?.(msg, from) ?? false;
      },
    });
    const s = await connect(clock, a);
    await clock.run({ until: () => incoming.length === 1, maxMs: clock.elapsedMs + 5000 });
    await sendChecked(clock, s, incoming[0]!, bytes);
    return { a, b, s, largest };
  }

  test('writes made while corked are cut into full packets across them (no packet for a lone header)', async () => {
    const clock = new SimClock();
    const sizes: number[] = [];
    const { a, b, incoming } = pair(clock, {
      filter: (msg, from) => {
        if (from === 'a' && msg.length > 20) sizes.push(msg.length);
        return false;
      },
    });
    const s = await connect(clock, a);
    await clock.run({ until: () => incoming.length === 1, maxMs: clock.elapsedMs + 5000 });
    // As the peer wire sends blocks: per block a 13-byte header, then 16 KiB, eight in one tick.
    const parts: Buffer[] = [];
    for (let i = 0; i < 8; i++) parts.push(randomBytes(13), randomBytes(16384));
    s.cork();
    for (const p of parts) s.write(p);
    process.nextTick(() => s.uncork());
    const want = Buffer.concat(parts);
    const got = await collect(clock, incoming[0]!, want.length);
    assert.ok(got.equals(want));
    // Full packets (1,404 bytes, then 1,472 after the probe), and one short one: the end.
    assert.equal(sizes.filter((n) => n < 1404).length, 1, `datagrams: ${sizes.join(',')}`);
    a.stop();
    b.stop();
  });

  test('a path that carries 1,500-byte packets: packets grow to 1,472 bytes at the first probe', async () => {
    const clock = new SimClock();
    const { a, b, s, largest } = await transfer(clock, {}, 2_000_000);
    assert.equal(largest, 1472);
    assert.equal(s.stats.packetBytes, 1472);
    a.stop();
    b.stop();
  });

  test('a path of 1,450 bytes that says so (ICMP; the kernel fragments what is bigger): packets stay at the floor', async () => {
    const clock = new SimClock();
    // The first datagram over 1,450 bytes is dropped (the router's ICMP teaches the kernel the path
    // MTU); after that the kernel fragments bigger ones, and they arrive: one probe, no second.
    let dropped = 0;
    let bigAfter = 0;
    const { a, b, s, largest } = await transfer(
      clock,
      {
        filter: (msg) => {
          if (msg.length <= 1450) return false;
          if (dropped === 0) {
            dropped++;
            return true;
          }
          bigAfter++;
          return false;
        },
      },
      3_000_000,
    );
    assert.equal(largest, 1472, 'the probe');
    assert.equal(bigAfter, 1, 'only the probe again (resent as it was)');
    assert.equal(s.stats.packetBytes, 1404);
    // The host is remembered: a new connection sends no probe.
    bigAfter = 0;
    const s2 = await connect(clock, a);
    s2.write(randomBytes(1_000_000));
    await clock.run({
      until: () => s2.stats.inflightBytes === 0 && s2.writableLength === 0,
      maxMs: clock.elapsedMs + 60_000,
    });
    assert.equal(bigAfter, 0);
    a.stop();
    b.stop();
  });

  test('a path that drops packets over 1,450 bytes silently: the connection fails, the next one probes no more', async () => {
    const clock = new SimClock();
    const filter = (msg: Buffer) => msg.length > 1450;
    const { a, b, incoming } = pair(clock, { filter });
    const s = await connect(clock, a);
    let err: NodeJS.ErrnoException | undefined;
    s.on('error', (e) => (err = e));
    s.write(randomBytes(2_000_000));
    await clock.run({ until: () => err !== undefined, maxMs: clock.elapsedMs + 120_000 });
    assert.match(err?.message ?? '', /path drops packets of 1472 bytes/);
    // The same host again: packets stay at the floor, and the data arrives.
    const s2 = await connect(clock, a);
    await clock.run({ until: () => incoming.length === 2, maxMs: clock.elapsedMs + 5000 });
    await sendChecked(clock, s2, incoming[1]!, 1_000_000);
    assert.equal(s2.stats.packetBytes, 1404);
    a.stop();
    b.stop();
  });
});

describe('uTP against hostile input', () => {
  const from = { address: '10.9.9.9', port: 9 };
  const hdr = (o: Partial<Parameters<typeof encodeUtpPacket>[0]>) =>
    encodeUtpPacket({
      type: UtpType.state,
      connectionId: 1,
      timestampUs: 1,
      timestampDiffUs: 0,
      windowBytes: 65536,
      seqNr: 100,
      ackNr: 0,
      payload: Buffer.alloc(0),
      ...o,
    });

  test('random connection ids and garbage cost only a counter', () => {
    const clock = new SimClock();
    const sent: unknown[] = [];
    const m = new UtpManager({ clock, send: (c) => sent.push(c), onIncoming: () => undefined });
    for (let i = 0; i < 1000; i++)
      m.handlePacket(hdr({ connectionId: i, type: i % 2 ? UtpType.data : UtpType.state }), from);
    m.handlePacket(Buffer.from([0x41, 0x00]), from);
    m.handlePacket(Buffer.from([0x42, ...Buffer.alloc(30)]), from);
    assert.equal(m.stats.unknownConnection, 1000);
    assert.equal(m.stats.notUtp, 2);
    assert.equal(m.connectionCount, 0);
    assert.equal(sent.length, 0);
    m.stop();
  });

  test('a SYN flood is bounded by maxConnections', () => {
    const clock = new SimClock();
    const accepted: UtpSocket[] = [];
    const m = new UtpManager({
      clock,
      send: () => undefined,
      onIncoming: (s) => accepted.push(s),
      maxConnections: 50,
    });
    for (let i = 0; i < 10_000; i++)
      m.handlePacket(hdr({ type: UtpType.syn, connectionId: i }), {
        address: '10.9.9.9',
        port: 1000 + (i % 5000),
      });
    assert.equal(m.connectionCount, 50);
    assert.equal(accepted.length, 50);
    assert.equal(m.stats.synRefused, 10_000 - 50);
    m.stop();
  });

  test('acks for unsent data are ignored; a window of 0 forever times the connection out', async () => {
    const clock = new SimClock();
    const out: Buffer[] = [];
    const accepted: UtpSocket[] = [];
    const m = new UtpManager({
      clock,
      nowUs: () => clock.now() * 1000,
      send: (c) => out.push(Buffer.concat(c)),
      onIncoming: (s) => accepted.push(s),
      limits: { zeroWindowTimeoutMs: 20_000 },
    });
    // A SYN with connection id 10: we answer on id 10 and expect packets on id 11.
    m.handlePacket(hdr({ type: UtpType.syn, connectionId: 10, seqNr: 500 }), from);
    const s = accepted[0]!;
    const synAck = decodeUtpPacket(out[0]!);
    assert.equal(synAck.type, UtpType.state);
    assert.equal(synAck.ackNr, 500);
    assert.equal(synAck.connectionId, 10);
    let err: NodeJS.ErrnoException | undefined;
    s.on('error', (e) => (err = e));
    // An ack for a packet we never sent.
    m.handlePacket(hdr({ connectionId: 11, seqNr: 501, ackNr: (synAck.seqNr + 100) & 0xffff }), from);
    assert.equal(m.stats.ackUnsent, 1);
    // The peer says its window is 0 and keeps acking nothing, forever.
    m.handlePacket(
      hdr({ connectionId: 11, seqNr: 501, ackNr: (synAck.seqNr - 1) & 0xffff, windowBytes: 0 }),
      from,
    );
    s.write(Buffer.alloc(100_000));
    const keep = clock.setInterval(
      () =>
        m.handlePacket(
          hdr({ connectionId: 11, seqNr: 501, ackNr: (synAck.seqNr - 1) & 0xffff, windowBytes: 0 }),
          from,
        ),
      1000,
    );
    await clock.run({ until: () => err !== undefined, maxMs: 120_000 });
    clock.clearInterval(keep);
    assert.equal(err?.code, 'ETIMEDOUT');
    assert.ok(clock.elapsedMs < 60_000, `${clock.elapsedMs} ms`);
    assert.equal(m.connectionCount, 0);
    m.stop();
  });

  test('payload beyond the receive buffer is dropped, not held', () => {
    const clock = new SimClock();
    const accepted: UtpSocket[] = [];
    const out: Buffer[] = [];
    const m = new UtpManager({
      clock,
      send: (c) => out.push(Buffer.concat(c)),
      onIncoming: (s) => accepted.push(s),
      limits: { receiveBufferBytes: 64 * 1024 },
    });
    m.handlePacket(hdr({ type: UtpType.syn, connectionId: 10, seqNr: 500 }), from);
    const ack = (decodeUtpPacket(out[0]!).seqNr - 1) & 0xffff;
    // Nobody reads: out-of-order and in-order packets past 64 KiB are dropped.
    for (let i = 0; i < 200; i++)
      m.handlePacket(
        hdr({
          type: UtpType.data,
          connectionId: 11,
          seqNr: 501 + i,
          ackNr: ack,
          payload: Buffer.alloc(1000),
        }),
        from,
      );
    assert.ok(accepted[0]!.readableLength <= 64 * 1024);
    assert.ok(m.stats.dropped > 0);
    m.stop();
  });
});
