// Reading a .torrent from a path (issue 19: `info /dev/zero` read until memory ran out): regular
// files only, at most the cap + 1 byte whatever the file's size claims, and abortable.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { readTorrentBytes, readTorrentFile, TorrentFileError } from '../../../src/session/torrent-file.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bitswarm-torrent-file-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function refused(message: string) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof TorrentFileError, String(err));
    assert.equal(err.message, message);
    return true;
  };
}

test('devices, FIFOs and folders are refused without a read', async () => {
  const fifo = join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  await assert.rejects(readTorrentBytes('/dev/zero'), refused('is a device, not a regular file'));
  await assert.rejects(readTorrentBytes('/dev/urandom'), refused('is a device, not a regular file'));
  await assert.rejects(readTorrentBytes(fifo), refused('is a FIFO, not a regular file'));
  await assert.rejects(readTorrentBytes(dir), refused('is a folder, not a .torrent'));
  await assert.rejects(readTorrentBytes(join(dir, 'none')), refused('no such file'));
});

test('the cap: a file of exactly the cap is read, a byte more is refused, before or during the read', async () => {
  const f = join(dir, 'capped');
  await writeFile(f, Buffer.alloc(1000, 0x61));
  assert.equal((await readTorrentBytes(f, { maxBytes: 1000 })).length, 1000);
  await assert.rejects(
    readTorrentBytes(f, { maxBytes: 999 }),
    refused('is 1000 bytes, more than the 999 a torrent may be'),
  );
  // /proc files say they are empty and are not: the size is only a hint, the read stops at cap + 1.
  await assert.rejects(
    readTorrentBytes('/proc/self/status', { maxBytes: 100 }),
    refused('is more than the 100 bytes a torrent may be'),
  );
});

test('the read stops when its signal is aborted, before or while it runs', async () => {
  const f = join(dir, 'big');
  await writeFile(f, '');
  await truncate(f, 8 * 1024 * 1024);
  await assert.rejects(readTorrentBytes(f, { signal: AbortSignal.abort() }), { name: 'AbortError' });
  const ac = new AbortController();
  // 2,048 reads of 4 KiB, each a round trip to the thread pool: the abort lands among them.
  const reading = readTorrentBytes(f, { signal: ac.signal, chunkBytes: 4096 });
  setImmediate(() => ac.abort());
  await assert.rejects(reading, { name: 'AbortError' });
});

test('a file that is not a torrent: "not a torrent file", none of its bytes in the message', async () => {
  const f = join(dir, 'text.torrent');
  await writeFile(f, 'rosebud');
  await assert.rejects(readTorrentFile(f), (err: unknown) => {
    assert.equal((err as Error).message, 'not a torrent file: bad bencode at byte 0');
    return true;
  });
});
