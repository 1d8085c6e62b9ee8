// The simulator's network and clock on their own: timers in virtual time, a connection's bytes
// arriving in order after the link's latency and rate, refused and unreachable dials.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PeerConnection } from '../../../src/peer/connection.js';
import { DialError } from '../../../src/peer/dial.js';
import { SimClock } from '../../sim/sim-clock.js';
import { SimNetwork, type SimSocket } from '../../sim/sim-network.js';

test('the virtual clock runs timers in order of due time, then of setting, and intervals until cleared', async () => {
  const clock = new SimClock();
  const t0 = clock.now();
  const seen: string[] = [];
  clock.setTimeout(() => seen.push(`b${clock.now() - t0}`), 20);
  clock.setTimeout(() => seen.push(`a${clock.now() - t0}`), 10);
  clock.setTimeout(() => seen.push(`c${clock.now() - t0}`), 20);
  const dropped = clock.setTimeout(() => seen.push('never'), 5);
  clock.clearTimeout(dropped);
  let n = 0;
  const iv = clock.setInterval(() => {
    seen.push(`i${clock.now() - t0}`);
    if (++n === 3) clock.clearInterval(iv);
  }, 15);
  await clock.run();
  assert.deepEqual(seen, ['a10', 'i15', 'b20', 'c20', 'i30', 'i45']);
  assert.equal(clock.elapsedMs, 45);
});

test('a connection carries bytes in order, after latency and at the link rate', async () => {
  const clock = new SimClock();
  const net = new SimNetwork(clock, () => 0.5);
  const link = { upBytesPerSec: 100_000, downBytesPerSec: 1_000_000, latencyMs: 10 };
  const a = net.addHost('10.0.0.1', link);
  const b = net.addHost('10.0.0.2', link);
  const got: { at: number; bytes: number }[] = [];
  let server: SimSocket | undefined;
  net.listen(b, 80, (s) => {
    server = s;
    s.on('data', (chunk: Buffer) => got.push({ at: clock.elapsedMs, bytes: chunk.length }));
  });
  const t = net.transport(a);
  let connectedAt = -1;
  void t.connect({ host: '10.0.0.2', port: 80 }, {}).then((s) => {
    connectedAt = clock.elapsedMs;
    s.write(Buffer.alloc(10_000, 1));
    s.write(Buffer.alloc(10_000, 2));
    s.end();
  });
  await clock.run();
  assert.equal(connectedAt, 40); // a round trip: 2 × (10 + 10)
  assert.equal(server?.remoteAddress, '10.0.0.1');
  assert.deepEqual(
    got.map((g) => g.bytes),
    [10_000, 10_000],
  );
  // 10 kB at 100 kB/s up is 100 ms, then 20 ms across, then 10 ms down at 1 MB/s.
  assert.equal(Math.round(got[0]!.at), 40 + 100 + 20 + 10);
  assert.equal(Math.round(got[1]!.at), 40 + 200 + 20 + 10);
});

test('a dial to a closed port is refused; to a NAT, an absent host or across a partition it times out', async () => {
  const clock = new SimClock();
  const net = new SimNetwork(clock, () => 0.5);
  const link = { upBytesPerSec: 1e6, downBytesPerSec: 1e6, latencyMs: 5 };
  const a = net.addHost('10.0.0.1', link);
  net.addHost('10.0.0.2', link);
  net.addHost('10.0.0.3', link, { nat: true });
  const far = net.addHost('10.0.0.4', link);
  net.listen(far, 1, () => undefined);
  net.setGroup(far, 1);
  const t = net.transport(a);
  const outcome = (port: number, host: string) =>
    t.connect({ host, port }, { timeoutMs: 1000 }).then(
      () => 'connected',
      (e: unknown) =>
        `${(e as DialError).name} ${(e as { cause: { code: string } }).cause.code} ${clock.elapsedMs}`,
    );
  const results = Promise.all([
    outcome(1, '10.0.0.2'),
    outcome(1, '10.0.0.3'),
    outcome(1, '10.0.0.9'),
    outcome(1, '10.0.0.4'),
  ]);
  await clock.run();
  assert.deepEqual(await results, [
    'DialError ECONNREFUSED 20',
    'DialError ETIMEDOUT 1000',
    'DialError ETIMEDOUT 1000',
    'DialError ETIMEDOUT 1000',
  ]);
  assert.ok(DialError);
});

test('bytes never overtake each other, even when a small chunk finds the downlink almost free', async () => {
  // A 16 KiB chunk takes 16.4 ms on a 1 MB/s uplink, 6 ms across and 17.2 ms in a 0.95 MB/s downlink
  // (due at 39.6 ms); 13 bytes written at 33 ms arrive at 39.0 ms, less than 1 ms before it is done.
  const clock = new SimClock();
  const net = new SimNetwork(clock, () => 0.5);
  const a = net.addHost('10.0.0.1', { upBytesPerSec: 1e6, downBytesPerSec: 1e6, latencyMs: 3 });
  const b = net.addHost('10.0.0.2', { upBytesPerSec: 1e6, downBytesPerSec: 0.95e6, latencyMs: 3 });
  const got: Buffer[] = [];
  net.listen(b, 1, (s) => s.on('data', (c: Buffer) => got.push(c)));
  const big = Buffer.alloc(16_384, 1);
  const small = Buffer.alloc(13, 2);
  void net
    .transport(a)
    .connect({ host: '10.0.0.2', port: 1 }, {})
    .then((s) => {
      const t0 = clock.elapsedMs;
      s.write(big);
      clock.setTimeout(() => s.write(small), 33 - (clock.elapsedMs - t0));
    });
  await clock.run();
  assert.ok(Buffer.concat(got).equals(Buffer.concat([big, small])));
});

test('a peer connection keeps time by the clock it is given: its handshake times out in virtual time', async () => {
  const clock = new SimClock();
  const net = new SimNetwork(clock, () => 0.5);
  const link = { upBytesPerSec: 1e6, downBytesPerSec: 1e6, latencyMs: 10 };
  const a = net.addHost('10.0.0.1', link);
  const b = net.addHost('10.0.0.2', link);
  net.listen(b, 1, () => undefined); // accepts, never answers
  let closed: [string, number] | undefined;
  const started = performance.now();
  void net
    .transport(a)
    .connect({ host: '10.0.0.2', port: 1 }, {})
    .then((socket) => {
      const conn = PeerConnection.outgoing(socket, {
        infoHash: Buffer.alloc(20, 1),
        peerId: Buffer.alloc(20, 2),
        clock,
      });
      conn.on('connection:close', (reason) => {
        closed = [reason, clock.elapsedMs];
      });
    });
  await clock.run();
  assert.deepEqual(closed, ['handshake-timeout', 40 + 10_000]);
  assert.ok(performance.now() - started < 2_000, 'virtual seconds, not real ones');
});
