// Where the malformed-torrent corpus is: it sits in the source tree, while tests run from the
// compiled tree (dist/test/...), so it is looked up beside both.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export function corpusDir(): string {
  const candidates = [
    fileURLToPath(new URL('../../../test/corpus/torrents/', import.meta.url)),
    resolve('test/corpus/torrents'),
  ];
  const dir = candidates.find((d) => existsSync(resolve(d, 'EXPECTED.json')));
  if (!dir) throw new Error(`corpus not found in ${candidates.join(' or ')}`);
  return resolve(dir);
}
