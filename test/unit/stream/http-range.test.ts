// The Range header as a stream server answers it: one range → 206, several or unknown syntax →
// the whole resource, past the end or any range of an empty resource → 416.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseRange, type RangeAnswer } from '../../../src/stream/http-range.js';

const whole: RangeAnswer = { kind: 'whole' };
const none: RangeAnswer = { kind: 'unsatisfiable' };
const part = (start: number, end: number): RangeAnswer => ({ kind: 'partial', start, end });

test('Range header cases (size, header → answer)', () => {
  const cases: [number, string | undefined, RangeAnswer][] = [
    [1000, undefined, whole],
    [1000, 'bytes=0-99', part(0, 99)],
    [1000, 'bytes=0-', part(0, 999)],
    [1000, 'bytes=500-', part(500, 999)],
    [1000, 'bytes=999-', part(999, 999)],
    [1000, 'bytes=999-999', part(999, 999)],
    [1000, 'bytes=990-5000', part(990, 999)],
    [1000, 'bytes=-500', part(500, 999)],
    [1000, 'bytes=-1', part(999, 999)],
    [1000, 'bytes=-5000', part(0, 999)],
    [1000, 'bytes=-0', none],
    [1000, 'bytes=1000-', none],
    [1000, 'bytes=1000-1000', none],
    [1000, 'bytes=5000-6000', none],
    [0, 'bytes=0-', none],
    [0, 'bytes=-10', none],
    [0, undefined, whole],
    [1, 'bytes=0-0', part(0, 0)],
    [1, 'bytes=-1', part(0, 0)],
    [1000, 'BYTES = 10 - 20', part(10, 20)],
    // Several ranges: the whole file (200).
    [1000, 'bytes=0-1,5-9', whole],
    // Syntax we do not understand is ignored.
    [1000, 'bytes=9-1', whole],
    [1000, 'bytes=a-b', whole],
    [1000, 'items=0-1', whole],
    [1000, 'bytes=-', whole],
    [1000, 'bytes=', whole],
    [1000, `bytes=0-${'9'.repeat(30)}`, part(0, 999)],
  ];
  for (const [size, header, want] of cases)
    assert.deepEqual(parseRange(header, size), want, `size ${size}, Range ${header}`);
});
