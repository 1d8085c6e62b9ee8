// Every fuzz target over its seeds and its checked-in corpus (test/fuzz/corpus/<target>/): each input
// the fuzzer ever kept, and each one that once broke a decoder, must pass the target's contract.
// `npm run fuzz` searches for new inputs; this replays the old ones in every test run, in seconds.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { FuzzTarget } from '../../fuzz/contract.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const TARGETS_DIR = path.resolve(here, '../../fuzz/targets');
const CORPUS_DIR = path.resolve(here, '../../../../test/fuzz/corpus');

const names = fs
  .readdirSync(TARGETS_DIR)
  .filter((f) => f.endsWith('.js'))
  .map((f) => f.slice(0, -3))
  .sort();

describe('fuzz corpus replay', () => {
  test('there is a target per decoder', () => {
    for (const name of ['bencode', 'metainfo', 'magnet', 'peer-wire', 'handshake', 'extension', 'krpc']) {
      assert.ok(names.includes(name), name);
    }
    for (const name of ['tracker-http', 'tracker-udp', 'lsd']) assert.ok(names.includes(name), name);
  });

  for (const name of names) {
    test(name, async () => {
      const target = (await import(pathToFileURL(path.join(TARGETS_DIR, `${name}.js`)).href)) as FuzzTarget;
      const dir = path.join(CORPUS_DIR, name);
      const files = fs.existsSync(dir) ? fs.readdirSync(dir).sort() : [];
      const inputs = [
        ...(target.seeds?.() ?? []).map((s, i) => ({ what: `seed ${i}`, data: Buffer.from(s) })),
        ...files.map((f) => ({ what: path.join(dir, f), data: fs.readFileSync(path.join(dir, f)) })),
      ];
      assert.ok(inputs.length > 0, `no seeds and no corpus for ${name}`);
      for (const { what, data } of inputs) {
        assert.doesNotThrow(() => target.fuzz(data), `${name}: ${what}`);
      }
    });
  }
});
