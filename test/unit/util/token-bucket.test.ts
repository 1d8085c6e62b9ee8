import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TokenBucket } from '../../../src/util/token-bucket.js';

test('a bucket starts full, refills at its rate and caps at its burst', () => {
  const b = new TokenBucket(1000, 2000, 0);
  assert.equal(b.tryTake(2000, 0), true);
  assert.equal(b.tryTake(1, 0), false);
  assert.equal(b.waitMs(500, 0), 500);
  assert.equal(b.tryTake(500, 500), true);
  assert.equal(b.available(100_000), 2000);
});

test('take() may leave debt that later refills repay', () => {
  const b = new TokenBucket(1000, 1000, 0);
  b.take(3000, 0);
  assert.equal(b.available(0), -2000);
  assert.equal(b.waitMs(1000, 0), 3000);
  assert.equal(b.available(3000), 1000);
});

test('rate 0 is unlimited', () => {
  const b = new TokenBucket(0);
  assert.equal(b.tryTake(1e12, 0), true);
  assert.equal(b.waitMs(1e12, 0), 0);
  assert.equal(b.available(0), Number.POSITIVE_INFINITY);
});

test('over a long run the average rate is the configured rate', () => {
  const b = new TokenBucket(10_000, 16_384, 0);
  let sent = 0;
  for (let t = 0; t <= 60_000; t += 7) if (b.tryTake(1000, t)) sent += 1000;
  const rate = sent / 60;
  assert.ok(rate > 9_500 && rate < 10_600, `rate ${rate}`);
});
