// The swarm simulator's scenarios at a size that runs in a few seconds each (full sizes run in CI
// through `npm run sim`), and its promise: the same seed gives the same summary, byte for byte.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SCENARIOS, scenarioNamed } from '../../sim/scenarios.js';

const SIZES: Record<string, number> = {
  'one-seeder': 60,
  'flash-crowd': 60,
  'seeder-leaves': 40,
  'corrupt-peers': 40,
  partition: 40,
  pex: 40,
  churn: 30,
  bound: 30,
  dht: 1000,
};

for (const s of SCENARIOS) {
  test(`scenario ${s.name}: its checks hold`, async () => {
    const peers = SIZES[s.name] ?? 30;
    const r = await s.run({ peers, seed: 7 });
    const failed = r.checks.filter((c) => !c.ok).map((c) => c.name);
    assert.deepEqual(failed, [], r.lines.join('\n'));
    assert.ok(r.checks.length > 0);
  });
}

test('the same seed gives the same summary, a different seed another', async () => {
  const s = scenarioNamed('corrupt-peers')!;
  const a = await s.run({ peers: 20, seed: 11 });
  const b = await s.run({ peers: 20, seed: 11 });
  const c = await s.run({ peers: 20, seed: 12 });
  assert.equal(a.lines.join('\n'), b.lines.join('\n'));
  assert.equal(a.virtualMs, b.virtualMs);
  assert.notEqual(a.lines.join('\n'), c.lines.join('\n'));
});
