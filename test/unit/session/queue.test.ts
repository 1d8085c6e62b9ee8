// The queue decision (queue.ts), table-driven: which queued torrents start, given what runs and the
// download and seed slots.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type QueueItem, torrentsToStart } from '../../../src/session/queue.js';

const item = (id: string, order: number, o: Partial<QueueItem> = {}): QueueItem => ({
  id,
  order,
  active: false,
  queued: true,
  complete: false,
  ...o,
});

const cases: { name: string; items: QueueItem[]; downloads: number; seeds: number; start: string[] }[] = [
  { name: 'nothing queued', items: [], downloads: 5, seeds: 5, start: [] },
  {
    name: 'oldest first, up to the download slots',
    items: [item('c', 3), item('a', 1), item('b', 2)],
    downloads: 2,
    seeds: 5,
    start: ['a', 'b'],
  },
  {
    name: 'running downloads hold their slots; a start in flight counts as running',
    items: [
      item('run', 1, { active: true, queued: false }),
      item('flight', 2, { active: true }),
      item('q', 3),
    ],
    downloads: 2,
    seeds: 5,
    start: [],
  },
  {
    name: 'seeds and downloads have their own slots',
    items: [
      item('d1', 1, { active: true, queued: false }),
      item('s1', 2, { complete: true }),
      item('d2', 3),
      item('s2', 4, { complete: true }),
    ],
    downloads: 1,
    seeds: 1,
    start: ['s1'],
  },
  {
    name: 'paused and errored torrents (not queued) never start',
    items: [item('p', 1, { queued: false }), item('q', 2)],
    downloads: 5,
    seeds: 5,
    start: ['q'],
  },
  {
    name: 'zero slots start nothing',
    items: [item('a', 1), item('s', 2, { complete: true })],
    downloads: 0,
    seeds: 0,
    start: [],
  },
  {
    name: 'a complete running torrent takes a seed slot, not a download slot',
    items: [item('seed', 1, { active: true, queued: false, complete: true }), item('d', 2)],
    downloads: 1,
    seeds: 1,
    start: ['d'],
  },
];

for (const c of cases) {
  test(`queue: ${c.name}`, () => {
    assert.deepEqual(
      torrentsToStart(c.items, { maxActiveDownloads: c.downloads, maxActiveSeeds: c.seeds }),
      c.start,
    );
  });
}

test('queue: the decision does not depend on the order of the input', () => {
  const items = [
    item('a', 1),
    item('b', 2, { complete: true }),
    item('c', 3),
    item('d', 4, { active: true }),
  ];
  const limits = { maxActiveDownloads: 2, maxActiveSeeds: 1 };
  const want = torrentsToStart(items, limits);
  assert.deepEqual(want, ['a', 'b']);
  assert.deepEqual(torrentsToStart([...items].reverse(), limits), want);
});
