// Reading a torrent's file while it downloads from a rate-limited seeder: exact bytes, waits for
// verified pieces, claims move with a seek, a destroyed reader drops its claim, several readers.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { createFileReadStream, FileReader } from '../../../src/stream/file-reader.js';
import { pseudoRandom } from '../../interop/fixtures.js';
import { collect, streamSwarm } from './helpers.js';

const PIECE = 32 * 1024;

test('a stream that must wait returns exactly the file bytes, whole and in ranges', {
  timeout: 120_000,
}, async () => {
  const data = pseudoRandom('wait', 40 * PIECE + 1234);
  const s = await streamSwarm([{ name: 'data.bin', bytes: data }], {
    pieceLength: PIECE,
    uploadLimit: 512 * 1024,
  });
  try {
    let firstChunkWhileIncomplete: boolean | undefined;
    const whole = createFileReadStream(s.leecher, 0);
    const parts: Buffer[] = [];
    for await (const chunk of whole) {
      firstChunkWhileIncomplete ??= !s.leecher.complete;
      parts.push(chunk as Buffer);
    }
    assert.ok(Buffer.concat(parts).equals(data), 'the stream returned other bytes than the file');
    assert.equal(firstChunkWhileIncomplete, true, 'the first bytes came only after the whole download');
    // Ranges, end inclusive as in fs: across piece boundaries, one byte, the last byte.
    for (const [start, end] of [
      [PIECE - 10, 3 * PIECE + 10],
      [0, 0],
      [data.length - 1, data.length - 1],
      [12345, data.length - 1],
    ] as const) {
      const got = await collect(createFileReadStream(s.leecher, 0, { start, end }));
      assert.ok(got.equals(data.subarray(start, end + 1)), `range ${start}-${end}`);
    }
    assert.throws(() => createFileReadStream(s.leecher, 0, { start: 0, end: data.length }), /outside file 0/);
    assert.throws(() => createFileReadStream(s.leecher, 1), /file 1 does not exist/);
  } finally {
    await s.stop();
  }
});

test('several readers at once each get their own bytes', { timeout: 120_000 }, async () => {
  const a = pseudoRandom('a', 20 * PIECE + 7);
  const b = pseudoRandom('b', 15 * PIECE - 3);
  const s = await streamSwarm(
    [
      { name: 'a.bin', bytes: a },
      { name: 'b.bin', bytes: b },
      { name: 'empty.bin', bytes: Buffer.alloc(0) },
    ],
    { pieceLength: PIECE, uploadLimit: 768 * 1024 },
  );
  try {
    const idx = (name: string): number => s.metainfo.files.findIndex((f) => f.path.at(-1) === name);
    const [ga, gb, gb2, ge] = await Promise.all([
      collect(createFileReadStream(s.leecher, idx('a.bin'))),
      collect(createFileReadStream(s.leecher, idx('b.bin'), { start: 5000 })),
      collect(createFileReadStream(s.leecher, idx('b.bin'), { start: 9 * PIECE, end: 11 * PIECE })),
      collect(createFileReadStream(s.leecher, idx('empty.bin'))),
    ]);
    assert.ok(ga.equals(a));
    assert.ok(gb.equals(b.subarray(5000)));
    assert.ok(gb2.equals(b.subarray(9 * PIECE, 11 * PIECE + 1)));
    assert.equal(ge.length, 0);
    // Async iteration of the file's bytes, straight from the reader's Readable.
    let n = 0;
    for await (const chunk of createFileReadStream(s.leecher, idx('a.bin'), { start: 100, end: 199 }))
      n += (chunk as Buffer).length;
    assert.equal(n, 100);
  } finally {
    await s.stop();
  }
});

test('a seek moves the claim: pieces near the reader are verified before pieces far away', {
  timeout: 120_000,
}, async () => {
  const pieces = 100;
  const data = pseudoRandom('seek', pieces * PIECE);
  const s = await streamSwarm([{ name: 'seek.bin', bytes: data }], {
    pieceLength: PIECE,
    uploadLimit: 256 * 1024,
  });
  try {
    const reader = new FileReader(s.leecher, 0, { windowBytes: 4 * PIECE });
    const first = await reader.read();
    assert.ok(first?.equals(data.subarray(0, PIECE)));
    const target = 80 * PIECE;
    reader.seek(target);
    const atSeek = s.verifiedOrder.length;
    const got: Buffer[] = [];
    for (let i = 0; i < 4; i++) got.push((await reader.read())!);
    reader.close();
    assert.ok(Buffer.concat(got).equals(data.subarray(target, target + 4 * PIECE)));
    // The four pieces read after the seek were verified among the first ones after it: at most the
    // requests already on their way when the claim moved (the pipeline) came in between.
    const after = s.verifiedOrder.slice(atSeek);
    for (const p of [80, 81, 82, 83]) {
      const k = after.indexOf(p);
      assert.ok(
        k >= 0 && k < 4 + 12,
        `piece ${p} was verified ${k + 1}th after the seek: ${after.join(',')}`,
      );
    }
    // And far from everything: most of the torrent is not there yet.
    assert.ok(s.verifiedOrder.length < pieces / 2, `${s.verifiedOrder.length} of ${pieces} pieces verified`);
    // The window before the seek (pieces 1–3) had been claimed; after it, 80–83 were.
    assert.deepEqual(s.leecher.claimedPieces, []);
  } finally {
    await s.stop();
  }
});

test('a destroyed reader drops its claim; the download goes on', { timeout: 120_000 }, async () => {
  const data = pseudoRandom('drop', 60 * PIECE);
  const s = await streamSwarm([{ name: 'drop.bin', bytes: data }], {
    pieceLength: PIECE,
    uploadLimit: 256 * 1024,
  });
  try {
    const stream = createFileReadStream(s.leecher, 0, { start: 40 * PIECE, windowBytes: 4 * PIECE });
    stream.resume();
    await new Promise<void>((resolve) => s.leecher.once('piece:verified', () => resolve()));
    assert.ok(s.leecher.claimedPieces.length > 0, 'the reader claimed nothing');
    assert.ok(s.leecher.claimedPieces.every((p) => p >= 40 && p < 44 + 1));
    stream.destroy();
    await once(stream, 'close');
    assert.deepEqual(s.leecher.claimedPieces, []);
    // A reader waiting on a piece when the torrent stops fails instead of hanging.
    const waiting = new FileReader(s.leecher, 0, { start: 59 * PIECE });
    const rejected = assert.rejects(waiting.read(), /torrent (is )?stopped/);
    await s.leecherSession.remove(s.metainfo.infoHashHex);
    await rejected;
  } finally {
    await s.stop();
  }
});
