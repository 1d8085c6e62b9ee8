// Sliding-window rate meter on a virtual clock.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RateMeter } from '../../../src/util/rate-meter.js';

test('a steady stream measures its rate', () => {
  const m = new RateMeter({ windowMs: 5000, bucketMs: 250 });
  const t0 = 1_000_000;
  for (let t = 0; t <= 10_000; t += 100) m.add(1000, t0 + t); // 10 kB/s
  const r = m.rate(t0 + 10_000);
  assert.ok(r > 9000 && r < 11_000, `rate ${r}`);
  assert.equal(m.total, 101 * 1000);
});

test('the rate decays to zero once the window has passed', () => {
  const m = new RateMeter({ windowMs: 1000, bucketMs: 100 });
  m.add(5000, 0);
  assert.ok(m.rate(500) > 0);
  assert.equal(m.rate(1200), 0);
  assert.equal(m.rate(1_000_000), 0);
});

test('a young meter divides by the time since its first sample, not the whole window', () => {
  const m = new RateMeter({ windowMs: 10_000, bucketMs: 250 });
  m.add(1000, 0);
  m.add(1000, 750);
  const r = m.rate(750);
  assert.equal(r, 2000); // 2000 bytes over 1 s (750 ms + the current bucket)
});

test('no samples: zero; a clock stepping back does not break it', () => {
  const m = new RateMeter();
  assert.equal(m.rate(123), 0);
  m.add(100, 10_000);
  m.add(100, 9_000);
  assert.ok(m.rate(10_000) > 0);
  assert.throws(() => new RateMeter({ bucketMs: 0 }), RangeError);
});
