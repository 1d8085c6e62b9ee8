// Re-dial timing (issue 21): a refused or reset dial is tried again after about 1 s, then the wait
// doubles, as libtorrent does; a peer the user named never waits more than 30 s.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { retryDelayMs } from '../../../src/peer/dial.js';

test('the first retry comes after 1 s, then the wait doubles up to 5 minutes', () => {
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6].map((n) => retryDelayMs(n, false)),
    [1_000, 2_000, 4_000, 8_000, 16_000, 32_000],
  );
  assert.equal(retryDelayMs(20, false), 300_000);
  assert.equal(retryDelayMs(10_000, false), 300_000);
});

test('a hand-given peer is retried at least every 30 s', () => {
  assert.equal(retryDelayMs(1, true), 1_000);
  assert.equal(retryDelayMs(5, true), 16_000);
  assert.equal(retryDelayMs(6, true), 30_000);
  assert.equal(retryDelayMs(1_000, true), 30_000);
});
