// BEP 47 padding (issue 16): the blocks of a hybrid torrent that hold only padding are zeros no file
// keeps; a leecher fills them in instead of asking a peer, so neither side spends a byte on them, and
// the pieces still verify (v1 SHA-1 over the zeros, v2 merkle over the files).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { Geometry, paddingBlocks } from '../../../src/protocol/geometry.js';
import { differences, loopbackSession, seededSample } from '../api/helpers.js';

// 64 KiB pieces: each file but the last is padded to a piece boundary, most pads a few blocks long.
const fx = seededSample('padding', 'padded', [100_000, 20_000, 150_000, 5_000, 70_000], {
  version: 'hybrid',
  pieceLength: 65_536,
});

test('blocks of padding only are filled in, never asked for: the bytes moved are the files', {
  timeout: 30_000,
}, async () => {
  const m = fx.sample.metainfo;
  const g = new Geometry(m);
  const pads = paddingBlocks(g, m.files);
  const padBytes = [...pads].reduce((n, i) => n + g.requestRef(i).length, 0);
  const fileBytes = m.files.filter((f) => !f.padding).reduce((n, f) => n + f.length, 0);
  assert.ok(pads.size >= 8, `only ${pads.size} padding blocks in the sample`);
  // What is neither a file nor a whole padding block: the parts of blocks that padding shares.
  const shared = m.totalLength - fileBytes - padBytes;
  assert.ok(shared >= 0 && shared < 16_384 * m.files.length);
  const leecher = await loopbackSession();
  try {
    const dir = join(fx.root, 'dl');
    const t = await leecher.add(m, { dir, peers: [{ host: '127.0.0.1', port: fx.seed.port }] });
    await new Promise<void>((resolve) =>
      t.complete ? resolve() : t.once('torrent:complete', () => resolve()),
    );
    assert.deepEqual(await differences(fx.sample, dir), []);
    assert.equal(t.downloadedBytes, m.totalLength - padBytes, 'padding blocks were downloaded');
    assert.equal(t.wastedBytes, 0);
    const served = fx.seed.get(m.infoHashHex)!.uploadedBytes;
    assert.equal(served, m.totalLength - padBytes);
  } finally {
    await leecher.stop();
  }
});
