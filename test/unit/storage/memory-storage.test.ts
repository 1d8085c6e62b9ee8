// MemoryStorage: the compliance suite, plus its seeding shortcut.

import assert from 'node:assert/strict';
import { it } from 'node:test';
import { MemoryStorage } from '../../../src/storage/memory-storage.js';
import { PADDED, runStorageCompliance } from './compliance.js';
import { makeTorrent, rejectsWithCode } from './helpers.js';

runStorageCompliance({
  name: 'MemoryStorage',
  create: async (metainfo) => {
    const storage = new MemoryStorage(metainfo);
    return {
      storage,
      reopen: () => storage,
      fileExists: async (i) => storage.fileExists(i),
      cleanup: async () => {},
    };
  },
  runs: 100,
});

it('MemoryStorage.withData holds a whole torrent, padding left out', async () => {
  const t = makeTorrent({ pieceLength: 16, files: PADDED });
  const s = await MemoryStorage.withData(t.metainfo, t.data);
  for (let p = 0; p < t.metainfo.pieceCount; p++) assert.deepEqual(await s.readPiece(p), t.piece(p));
  assert.deepEqual(
    t.metainfo.files.map((_, i) => s.fileExists(i)),
    t.metainfo.files.map((f) => !f.padding),
  );
  await rejectsWithCode(MemoryStorage.withData(t.metainfo, t.data.subarray(1)), 'ERR_STORAGE_RANGE');
  await s.close();
});
