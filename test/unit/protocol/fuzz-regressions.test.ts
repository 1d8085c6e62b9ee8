// Inputs that `npm run fuzz` found breaking a decoder's contract, one test each, named for what broke.
// (The fuzz corpus is minimised on every run, so a finding's bytes may not stay in it; they stay here.)

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseAnnounceQuery } from '../../../src/protocol/tracker-http.js';

const HASH = '%ab'.repeat(20);
const PEER = '-BM0001-123456789012';

describe('fuzz regressions', () => {
  test('announce query: numwant=-0 is 0, not -0 (and not the default)', () => {
    const q = parseAnnounceQuery(`info_hash=${HASH}&peer_id=${PEER}&port=1&numwant=-0`);
    assert.ok(Object.is(q.numwant, 0), String(q.numwant));
  });
});
