// setNewest: a Map kept as the most recent `max` entries, a key set again becoming the newest.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setNewest } from '../../../src/util/bounded.js';

test('setNewest keeps the newest entries; setting a key again makes it the newest', () => {
  const m = new Map<string, number>();
  for (const [k, v] of [
    ['a', 1],
    ['b', 2],
    ['c', 3],
  ] as const)
    setNewest(m, k, v, 3);
  setNewest(m, 'a', 4, 3); // a is the newest now: b is the oldest
  setNewest(m, 'd', 5, 3);
  assert.deepEqual(
    [...m],
    [
      ['c', 3],
      ['a', 4],
      ['d', 5],
    ],
  );
});
