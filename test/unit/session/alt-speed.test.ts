// The alternative ("turtle") speeds and their schedule: the window (on chosen weekdays, past midnight
// too), the switch at its edges only (a user's switch holds until the next edge), what is applied
// to the session's buckets, and what session.json keeps.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  AltSpeeds,
  altSpeedsFor,
  inScheduleWindow,
  NO_SCHEDULE,
  type RatePair,
  savedSpeeds,
} from '../../../src/session/alt-speed.js';

/** Local time: 2026-12-07 is a Monday (getDay 1). */
const at = (day: number, hh: number, mm = 0): Date => new Date(2026, 11, 6 + day, hh, mm);

test('the window: its weekdays, its begin inclusive and end exclusive, past midnight into the next day', () => {
  const office = { enabled: true, days: [1, 2, 3, 4, 5], beginMinute: 9 * 60, endMinute: 17 * 60 };
  assert.equal(at(1, 12).getDay(), 1);
  assert.equal(inScheduleWindow(office, at(1, 9)), true);
  assert.equal(inScheduleWindow(office, at(1, 8, 59)), false);
  assert.equal(inScheduleWindow(office, at(1, 16, 59)), true);
  assert.equal(inScheduleWindow(office, at(1, 17)), false);
  assert.equal(inScheduleWindow(office, at(0, 12)), false, 'Sunday is not chosen');
  assert.equal(inScheduleWindow({ ...office, enabled: false }, at(1, 12)), false);
  const night = { enabled: true, days: [5], beginMinute: 22 * 60, endMinute: 6 * 60 };
  assert.equal(inScheduleWindow(night, at(5, 23)), true, 'Friday night');
  assert.equal(inScheduleWindow(night, at(6, 5, 59)), true, 'into Saturday morning');
  assert.equal(inScheduleWindow(night, at(6, 6)), false);
  assert.equal(inScheduleWindow(night, at(5, 5)), false, "Friday morning belongs to Thursday's window");
  assert.equal(inScheduleWindow(night, at(6, 23)), false, 'Saturday is not chosen');
  assert.equal(
    inScheduleWindow({ ...night, endMinute: night.beginMinute }, at(5, 23)),
    false,
    'an empty window',
  );
});

test('the schedule switches at the edges; a switch by the user holds until the next edge', () => {
  const applied: RatePair[] = [];
  const speeds = new AltSpeeds(
    {
      normal: { uploadLimitBytesPerSec: 0, downloadLimitBytesPerSec: 0 },
      alt: { uploadLimitBytesPerSec: 10_000, downloadLimitBytesPerSec: 50_000 },
      enabled: false,
      schedule: { enabled: true, days: [1], beginMinute: 9 * 60, endMinute: 17 * 60 },
    },
    (e) => applied.push(e),
  );
  assert.deepEqual(applied, [{ uploadLimitBytesPerSec: 0, downloadLimitBytesPerSec: 0 }], 'applied at once');
  // Started inside the window: the first tick turns it on.
  assert.equal(speeds.tick(at(1, 10)), true);
  assert.equal(speeds.state.enabled, true);
  assert.deepEqual(speeds.effective, { uploadLimitBytesPerSec: 10_000, downloadLimitBytesPerSec: 50_000 });
  assert.deepEqual(applied.at(-1), speeds.effective);
  // The user turns it off inside the window: it stays off until the window ends and begins again.
  speeds.set({ enabled: false });
  assert.equal(speeds.tick(at(1, 11)), false);
  assert.equal(speeds.state.enabled, false);
  assert.equal(speeds.tick(at(1, 17)), false, 'the end of the window: already off');
  // The user turns it on after the window: it holds until the next edge (the next window's start
  // leaves it on; that window's end turns it off).
  speeds.set({ enabled: true });
  assert.equal(speeds.tick(at(1, 20)), false);
  assert.equal(speeds.state.enabled, true);
  assert.equal(speeds.tick(at(8, 9)), false, 'next Monday: the window begins, already on');
  assert.equal(speeds.tick(at(8, 17)), true, 'its end turns it off');
  assert.equal(speeds.state.enabled, false);
  assert.deepEqual(applied.at(-1), { uploadLimitBytesPerSec: 0, downloadLimitBytesPerSec: 0 });
  // The normal limits change while turtle is off: applied; the alternative ones wait for turtle.
  speeds.set({ normal: { downloadLimitBytesPerSec: 1_000_000 }, alt: { uploadLimitBytesPerSec: 5_000 } });
  assert.deepEqual(applied.at(-1), { uploadLimitBytesPerSec: 0, downloadLimitBytesPerSec: 1_000_000 });
  // A schedule switched off never switches; a new schedule is followed from the next tick.
  speeds.set({ schedule: { enabled: false } });
  assert.equal(speeds.tick(at(15, 10)), false);
  speeds.set({ schedule: { enabled: true, days: [1] } });
  assert.equal(speeds.tick(at(15, 10)), true, 'inside the new window: on');
  assert.deepEqual(speeds.effective, { uploadLimitBytesPerSec: 5_000, downloadLimitBytesPerSec: 50_000 });
});

test("session.json's fields make the speeds and come back from them; absent: no limit, off, no schedule", () => {
  const rates = { up: -1, down: -1 };
  const buckets = {
    uploadLimit: {
      setRate: (r: number) => {
        rates.up = r;
      },
    },
    downloadLimit: {
      setRate: (r: number) => {
        rates.down = r;
      },
    },
  };
  const empty = altSpeedsFor(buckets, {});
  assert.deepEqual(rates, { up: 0, down: 0 });
  assert.deepEqual(empty.state.schedule, NO_SCHEDULE);
  const saved = {
    uploadLimitBytesPerSec: 100,
    downloadLimitBytesPerSec: 200,
    altSpeedEnabled: true,
    altUploadLimitBytesPerSec: 10,
    altDownloadLimitBytesPerSec: 20,
    altSpeedSchedule: { enabled: true, days: [0, 6], beginMinute: 60, endMinute: 120 },
  };
  const speeds = altSpeedsFor(buckets, saved);
  assert.deepEqual(rates, { up: 10, down: 20 }, 'turtle on: the alternative limits are in force');
  assert.deepEqual(savedSpeeds(speeds.state), saved);
  // What it keeps is a copy: a later change does not reach into it.
  const kept = savedSpeeds(speeds.state);
  speeds.set({ schedule: { days: [3] } });
  assert.deepEqual(kept.altSpeedSchedule.days, [0, 6]);
  assert.deepEqual(saved.altSpeedSchedule.days, [0, 6], "the caller's object is not changed either");
});
