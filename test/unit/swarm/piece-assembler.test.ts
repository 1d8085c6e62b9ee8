// The piece assembler on its own, on memory storage: blocks in any order make a piece that is
// checked, written and passed to the pass hook with its good block digests; a bad piece goes to the
// fail hook with its senders and is not written; web seed runs gathered in parts; pieces dropped for
// an untrusted sender; the memory held counted and given back; v2 pieces checked by their layer.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { Geometry } from '../../../src/protocol/geometry.js';
import { HasherPool } from '../../../src/storage/hasher-pool.js';
import { MemoryStorage } from '../../../src/storage/memory-storage.js';
import { PieceAssembler, type VerifyHooks } from '../../../src/swarm/piece-assembler.js';
import type { FailedPiece } from '../../../src/swarm/smart-ban.js';
import { memoryTorrent, memoryTorrentV2 } from '../session/scripted-peer.js';

const B = 16 * 1024;
const hasher = new HasherPool({ threads: 0 });
after(() => hasher.stop());

function hooks() {
  const failed: FailedPiece[] = [];
  const passed: { piece: number; digest0: Buffer | undefined }[] = [];
  const h: VerifyHooks = {
    failed: (f) => failed.push(f),
    passed: (piece, good) => passed.push({ piece, digest0: good(0, B) }),
  };
  return { h, failed, passed };
}

async function setup(t = memoryTorrent(5 * 64 * 1024 + 1000, 64 * 1024)) {
  const storage = new MemoryStorage(t.metainfo);
  await storage.open();
  const ac = new AbortController();
  const geometry = new Geometry(t.metainfo);
  const asm = new PieceAssembler({ metainfo: t.metainfo, geometry, storage, hasher, signal: ac.signal });
  const block = (piece: number, offset: number, length = B) =>
    t.data.subarray(
      piece * t.metainfo.pieceLength + offset,
      piece * t.metainfo.pieceLength + offset + length,
    );
  return { t, storage, asm, ac, block };
}

describe('PieceAssembler', () => {
  it('assembles blocks in any order, checks, writes and passes the piece', async () => {
    const { t, storage, asm, block } = await setup();
    for (const b of [2, 0, 3, 1]) asm.add(1, b * B, block(1, b * B), `peer${b}:1`);
    assert.equal(asm.unverifiedBytes, 64 * 1024);
    const { h, failed, passed } = hooks();
    assert.equal(await asm.verify(1, h), 'passed');
    assert.equal(failed.length, 0);
    assert.deepEqual(passed[0]?.digest0, createHash('sha1').update(block(1, 0)).digest());
    assert.deepEqual(await storage.read(1, 0, 64 * 1024), Buffer.from(block(1, 0, 64 * 1024)));
    assert.equal(asm.unverifiedBytes, 0);
    assert.equal(await asm.verify(1, h), undefined, 'nothing left to check');
    // The short last piece.
    const last = t.metainfo.pieceCount - 1;
    asm.add(last, 0, block(last, 0, 1000), 'a:1');
    assert.equal(await asm.verify(last, h), 'passed');
  });

  it('fails a bad piece to the fail hook with its senders, and writes nothing', async () => {
    const { storage, asm, block } = await setup();
    const bad = Buffer.from(block(2, B));
    bad[5]! ^= 1;
    asm.add(2, 0, block(2, 0), 'a:1');
    asm.add(2, B, bad, 'b:2');
    asm.add(2, 2 * B, block(2, 2 * B), 'a:1');
    asm.add(2, 3 * B, block(2, 3 * B), 'a:1');
    const { h, failed, passed } = hooks();
    assert.equal(await asm.verify(2, h), 'failed');
    assert.equal(passed.length, 0);
    const f = failed[0]!;
    assert.deepEqual([...f.senders].sort(), ['a:1', 'b:2']);
    assert.equal(f.blocks.get(B), 'b:2');
    assert.deepEqual(
      f.digest(B, B),
      createHash('sha1').update(bad).digest(),
      'the digest of what was received',
    );
    await assert.rejects(storage.read(2, 0, B), { code: 'ERR_STORAGE_MISSING' });
    assert.equal(asm.unverifiedBytes, 0);
  });

  it('gathers a web seed run in parts, copied from the read buffer, and drops pieces of an untrusted sender', async () => {
    const { asm, block } = await setup();
    // The first block in two parts, from a buffer that the next read reuses.
    const read = Buffer.alloc(B);
    read.set(block(0, 0, 10_000));
    assert.equal(asm.gather(0, 0, read.subarray(0, 10_000)), undefined, 'not a whole block yet');
    read.set(block(0, 10_000, B - 10_000));
    const whole = asm.gather(0, 10_000, read.subarray(0, B - 10_000))!;
    read.fill(0xee); // the next read: what was gathered is a copy
    assert.equal(whole.placed, true);
    assert.deepEqual(Buffer.from(whole.bytes), Buffer.from(block(0, 0)));
    asm.add(0, 0, whole.bytes, 'webseed:1', { inOrder: true, placed: true });
    for (const b of [1, 2, 3]) {
      const part = asm.gather(0, b * B, block(0, b * B))!;
      asm.add(0, b * B, part.bytes, 'webseed:1', { inOrder: true, placed: part.placed });
    }
    assert.equal(await asm.verify(0, hooks().h), 'passed');
    // A piece half in from an untrusted sender is dropped; one from others stays.
    asm.add(3, 0, block(3, 0), 'liar:1');
    asm.add(4, 0, block(4, 0), 'honest:1');
    assert.deepEqual(asm.dropFrom(new Set(['liar:1'])), [3]);
    assert.equal(asm.unverifiedBytes, 64 * 1024);
    asm.clear();
    assert.equal(asm.unverifiedBytes, 0);
  });

  it('checks v2 pieces against their merkle layer', async () => {
    const { asm, block } = await setup(memoryTorrentV2(4 * 64 * 1024, 64 * 1024));
    for (const b of [0, 1, 2, 3]) asm.add(0, b * B, block(0, b * B), 'a:1');
    assert.equal(await asm.verify(0, hooks().h), 'passed');
    const bad = Buffer.from(block(1, 0));
    bad[0]! ^= 1;
    asm.add(1, 0, bad, 'a:1');
    for (const b of [1, 2, 3]) asm.add(1, b * B, block(1, b * B), 'a:1');
    assert.equal(await asm.verify(1, hooks().h), 'failed');
  });

  it('v2 leaves hashed as blocks come, in any order, resent, and a short last piece', async () => {
    // 3 pieces and 20,000 bytes: the last piece holds one whole leaf and one short one.
    const { asm, block, storage, t } = await setup(memoryTorrentV2(3 * 64 * 1024 + 20_000, 64 * 1024));
    for (const b of [3, 1, 0, 2]) asm.add(0, b * B, block(0, b * B), 'a:1');
    assert.equal(await asm.verify(0, hooks().h), 'passed', 'out of order');
    const bad = Buffer.from(block(1, 2 * B));
    bad[100]! ^= 1;
    for (const b of [0, 1]) asm.add(1, b * B, block(1, b * B), 'a:1');
    asm.add(1, 2 * B, bad, 'liar:1');
    asm.add(1, 2 * B, block(1, 2 * B), 'b:1');
    asm.add(1, 3 * B, block(1, 3 * B), 'a:1');
    assert.equal(await asm.verify(1, hooks().h), 'passed', 'the good copy of a block sent twice counts');
    asm.add(3, 0, block(3, 0), 'a:1');
    asm.add(3, B, block(3, B, 20_000 - B), 'a:1');
    assert.equal(await asm.verify(3, hooks().h), 'passed', 'the file’s short end');
    assert.deepEqual(
      await storage.read(3, 0, 20_000),
      t.data.subarray(3 * 64 * 1024),
      'what passed was written',
    );
    const bad2 = Buffer.from(block(2, 3 * B));
    bad2[B - 1]! ^= 1;
    for (const b of [0, 1, 2]) asm.add(2, b * B, block(2, b * B), 'a:1');
    asm.add(2, 3 * B, bad2, 'a:1');
    assert.equal(await asm.verify(2, hooks().h), 'failed', 'the last byte of the last leaf is checked');
  });

  it('v2 pieces larger than the incremental bound are checked whole', async () => {
    const { asm, block } = await setup(memoryTorrentV2(2 * 512 * 1024, 512 * 1024));
    for (let b = 0; b < 32; b++) asm.add(1, b * B, block(1, b * B), 'a:1');
    assert.equal(await asm.verify(1, hooks().h), 'passed');
    for (let b = 0; b < 32; b++) {
      const x = Buffer.from(block(0, b * B));
      if (b === 31) x[0]! ^= 1;
      asm.add(0, b * B, x, 'a:1');
    }
    assert.equal(await asm.verify(0, hooks().h), 'failed');
  });
});
