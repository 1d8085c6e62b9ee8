// The library and `.part` names: with a file deselected, the bytes it shares with a wanted file's
// piece sit in `<name>.part` (incomplete, as Transmission leaves it) and read back through
// createReadStream; `partSuffix: false` writes the same bytes under the file's own name.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { lstat, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Client, type ClientOptions, type Torrent } from '../../../src/lib/index.js';
import { pseudoRandomBytes } from '../../interop/helpers.js';
import { tempDir } from '../api/helpers.js';

const LOOPBACK: ClientOptions = { port: 0, bind: '127.0.0.1', dht: false, lsd: false, allowLocalPeers: true };
const A = pseudoRandomBytes(300_000, 21);
const C = pseudoRandomBytes(40_000, 22);

let root: string;
let cleanup: () => Promise<void>;
let seeder: Client;
let seeded: Torrent;

before(async () => {
  ({ dir: root, cleanup } = await tempDir('lib-part'));
  await mkdir(join(root, 'src', 'album'), { recursive: true });
  await writeFile(join(root, 'src', 'album', 'a.bin'), A);
  await writeFile(join(root, 'src', 'album', 'c.bin'), C);
  seeder = new Client(LOOPBACK);
  await seeder.ready();
  seeded = await seeder.seed(join(root, 'src', 'album'), { pieceLength: 16384 });
  if (!seeded.done) await once(seeded, 'done');
});
after(async () => {
  await seeder?.close();
  await cleanup();
});

const exists = (p: string): Promise<boolean> =>
  lstat(p).then(
    () => true,
    () => false,
  );

async function withoutA(options: ClientOptions, dir: string): Promise<void> {
  const client = new Client(options);
  try {
    const t = await client.add(seeded.torrentFile!, {
      dir,
      paused: true,
      peers: [`127.0.0.1:${seeder.port}`],
    });
    t.files.find((f) => f.name === 'a.bin')!.deselect();
    await t.resume();
    if (!t.done) await once(t, 'done');
    // a.bin's last piece (from 294,912) is shared with c.bin: verified, readable.
    const a = t.files.find((f) => f.name === 'a.bin')!;
    const chunks: Buffer[] = [];
    for await (const chunk of a.createReadStream({ start: 294_912, end: 299_999 }))
      chunks.push(chunk as Buffer);
    assert.deepEqual(Buffer.concat(chunks), A.subarray(294_912));
  } finally {
    await client.close();
  }
}

test('a deselected file with bytes of a shared piece stays a.bin.part, and reads back', {
  timeout: 30_000,
}, async () => {
  const dir = join(root, 'dl');
  await withoutA(LOOPBACK, dir);
  assert.equal(await exists(join(dir, 'album', 'a.bin.part')), true);
  assert.equal(await exists(join(dir, 'album', 'a.bin')), false);
  assert.equal(await exists(join(dir, 'album', 'c.bin')), true, 'the complete file has its name');
});

test('partSuffix: false writes a.bin under its own name', { timeout: 30_000 }, async () => {
  const dir = join(root, 'dl-plain');
  await withoutA({ ...LOOPBACK, partSuffix: false }, dir);
  assert.equal(await exists(join(dir, 'album', 'a.bin')), true);
  assert.equal(await exists(join(dir, 'album', 'a.bin.part')), false);
});
