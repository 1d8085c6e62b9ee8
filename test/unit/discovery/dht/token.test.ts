// Write tokens: bound to the requester's IP and the info hash, valid across one rotation of the
// secret (five minutes) and refused after two.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { TOKEN_ROTATE_MS, TokenManager } from '../../../../src/discovery/dht/token.js';

describe('TokenManager', () => {
  const hashA = Buffer.alloc(20, 0xa);
  const hashB = Buffer.alloc(20, 0xb);

  it('accepts a token from the same IP for the same info hash', () => {
    let now = 0;
    const tokens = new TokenManager({ now: () => now, random: randomBytes });
    const t = tokens.issue('10.0.0.1', hashA);
    assert.ok(tokens.verify(t, '10.0.0.1', hashA));
    now = TOKEN_ROTATE_MS - 1;
    assert.ok(tokens.verify(t, '10.0.0.1', hashA));
  });

  it('refuses it for another info hash or from another IP', () => {
    const tokens = new TokenManager({ now: () => 0, random: randomBytes });
    const t = tokens.issue('10.0.0.1', hashA);
    assert.equal(tokens.verify(t, '10.0.0.1', hashB), false);
    assert.equal(tokens.verify(t, '10.0.0.2', hashA), false);
    assert.equal(tokens.verify(t, '::1', hashA), false);
    assert.equal(tokens.verify(Buffer.alloc(8), '10.0.0.1', hashA), false);
    assert.equal(tokens.verify(t.subarray(0, 4), '10.0.0.1', hashA), false);
  });

  it('rotates: the previous secret still counts, the one before does not', () => {
    let now = 0;
    const tokens = new TokenManager({ now: () => now, random: randomBytes });
    const t0 = tokens.issue('10.0.0.1', hashA);
    now = TOKEN_ROTATE_MS; // one rotation
    const t1 = tokens.issue('10.0.0.1', hashA);
    assert.notDeepEqual(t0, t1);
    assert.ok(tokens.verify(t0, '10.0.0.1', hashA), 'previous secret accepted');
    now = 2 * TOKEN_ROTATE_MS; // second rotation
    assert.equal(tokens.verify(t0, '10.0.0.1', hashA), false, 'two rotations old');
    assert.ok(tokens.verify(t1, '10.0.0.1', hashA));
  });

  it('a long silence expires every token at once', () => {
    let now = 0;
    const tokens = new TokenManager({ now: () => now, random: randomBytes });
    const t0 = tokens.issue('10.0.0.1', hashA);
    now = 10 * TOKEN_ROTATE_MS + 1;
    assert.equal(tokens.verify(t0, '10.0.0.1', hashA), false);
  });
});
