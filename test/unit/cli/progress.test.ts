// The live progress line redraws at most 10 times a second (a check of 1,261 pieces a second drew
// 1,261 times), and the rate shown under a download limit is the rate measured (a 40M limit read
// ~50 MiB/s for its first seconds: the limiter let a whole second of the rate through at once).
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { REDRAW_MS, Reporter } from '../../../src/cli/cmd-download.js';
import { RateMeter } from '../../../src/util/rate-meter.js';
import { TokenBucket } from '../../../src/util/token-bucket.js';
import { loopbackSession, makeTorrent, peerOf, seeder, tempDir } from '../api/helpers.js';

/** A stream that says it is a terminal and counts the writes. */
function fakeTty(): { stream: NodeJS.WriteStream; writes: string[] } {
  const writes: string[] = [];
  const w = new Writable({
    write(chunk, _enc, cb) {
      writes.push(String(chunk));
      cb();
    },
  }) as unknown as NodeJS.WriteStream;
  Object.assign(w, { isTTY: true, columns: 100 });
  // Writable.write is async-callback based; count synchronously instead.
  (w as unknown as { write: (s: string) => boolean }).write = (s: string) => {
    writes.push(s);
    return true;
  };
  return { stream: w, writes };
}

test('the live line redraws at most every 100 ms, whatever the number of updates', () => {
  let now = 1_000_000;
  const { stream, writes } = fakeTty();
  const r = new Reporter(
    { mode: 'download', json: false, quiet: false, keepSeeding: false },
    { stderr: stream, now: () => now },
  );
  // 1,261 "checking" updates spread over one second, as a fast check makes them.
  for (let i = 1; i <= 1261; i++) {
    now = 1_000_000 + Math.floor((i * 1000) / 1261);
    r.live(`checking ${i}/1261 pieces`, i === 1261);
  }
  assert.ok(writes.length <= 1000 / REDRAW_MS + 2, `${writes.length} redraws in one second`);
  assert.ok(writes.length >= 5, 'it still redraws');
  assert.match(writes.at(-1)!, /checking 1261\/1261 pieces/, 'the last state is drawn (forced)');
  // Not a terminal: no live line at all.
  const plain = fakeTty();
  Object.assign(plain.stream, { isTTY: false });
  const r2 = new Reporter(
    { mode: 'download', json: false, quiet: false, keepSeeding: false },
    { stderr: plain.stream },
  );
  r2.live('x', true);
  assert.equal(plain.writes.length, 0);
  assert.equal(r2.plain, true);
});

test('a steady stream reads its rate, not ~5% less (the newest bucket counts for its elapsed part)', () => {
  const m = new RateMeter({ windowMs: 5000, bucketMs: 250 });
  // 40 MiB/s in 16 KiB blocks, read 10 ms into a bucket.
  const block = 16 * 1024;
  const gapMs = (block / (40 * 1024 * 1024)) * 1000;
  let t = 0;
  for (; t < 20_000; t += gapMs) m.add(block, Math.floor(t));
  const r = m.rate(20_010) / (1024 * 1024);
  assert.ok(r > 39.2 && r < 40.8, `rate ${r.toFixed(2)} MiB/s`);
});

test('a limit lets at most an eighth of a second of its rate through at once', () => {
  const b = new TokenBucket(40 * 1024 * 1024, undefined, 0);
  assert.equal(b.available(0), 5 * 1024 * 1024);
  const small = new TokenBucket(100, undefined, 0);
  assert.equal(small.available(0), 64 * 1024, 'at least 64 KiB, whatever the rate');
});

test('under --download-limit the rate shown never reads far above the limit', {
  timeout: 60_000,
}, async () => {
  const { dir, cleanup } = await tempDir('rate-limit');
  const limit = 2 * 1024 * 1024;
  const sample = await makeTorrent(dir, 'limited', [6 * 1024 * 1024], { pieceLength: 64 * 1024 });
  const s = await seeder(sample);
  const l = await loopbackSession({ downloadLimitBytesPerSec: limit });
  try {
    const t = await l.add(sample.metainfo, { dir: `${dir}/dl`, peers: [peerOf(s)] });
    const shown: number[] = [];
    const started = Date.now();
    await new Promise<void>((resolve) => {
      const iv = setInterval(() => {
        shown.push(t.downloadMeter.rate(Date.now()));
        if (t.complete) {
          clearInterval(iv);
          resolve();
        }
      }, 100);
    });
    const secs = (Date.now() - started) / 1000;
    const max = Math.max(...shown);
    // Before: the first seconds showed up to twice the limit (a whole second's burst on top).
    assert.ok(max <= limit * 1.2, `shown up to ${(max / limit).toFixed(2)}× the limit`);
    // And the limit holds over the whole run (6 MiB at 2 MiB/s, minus the small burst).
    assert.ok(secs >= 2.5, `took ${secs.toFixed(1)} s`);
  } finally {
    await l.stop();
    await s.stop();
    await cleanup();
  }
});
