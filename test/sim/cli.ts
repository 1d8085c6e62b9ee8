// `npm run sim -- --list` names the scenarios; `npm run sim -- --scenario NAME [--peers N] [--seed S]`
// runs one and prints its summary: the same bytes for the same arguments (the wall time goes to
// stderr). Exit 0 when every check of the scenario holds, 1 when one fails, 2 on bad usage.

import { parseArgs } from 'node:util';
import { SCENARIOS, scenarioNamed } from './scenarios.js';

const USAGE = 'usage: npm run sim -- --list | --scenario NAME [--peers N] [--seed S]';

function fail(message: string): never {
  process.stderr.write(`sim: ${message}\n${USAGE}\n`);
  process.exit(2);
}

function intArg(name: string, value: string | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max)
    fail(`--${name} wants an integer from ${min} to ${max}, not "${value}"`);
  return n;
}

async function main(): Promise<void> {
  let values: { list?: boolean; scenario?: string; peers?: string; seed?: string };
  try {
    ({ values } = parseArgs({
      options: {
        list: { type: 'boolean' },
        scenario: { type: 'string' },
        peers: { type: 'string' },
        seed: { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    fail((err as Error).message);
  }
  if (values.list) {
    for (const s of SCENARIOS)
      process.stdout.write(`${s.name}\t(${s.defaultPeers} peers)\t${s.description}\n`);
    return;
  }
  if (values.scenario === undefined) fail('--scenario or --list is needed');
  const scenario = scenarioNamed(values.scenario);
  if (scenario === undefined) fail(`no scenario "${values.scenario}" (see --list)`);
  const peers = intArg('peers', values.peers, 1, 100_000) ?? scenario.defaultPeers;
  const seed = intArg('seed', values.seed, 0, 2 ** 32 - 1) ?? 1;
  const started = performance.now();
  const result = await scenario.run({ peers, seed });
  const wallMs = performance.now() - started;
  const out = [...result.lines, ...result.checks.map((c) => `check ${c.ok ? 'ok  ' : 'FAIL'} ${c.name}`)];
  process.stdout.write(`${out.join('\n')}\n`);
  process.stderr.write(`wall time ${(wallMs / 1000).toFixed(1)} s\n`);
  process.exitCode = result.checks.every((c) => c.ok) ? 0 : 1;
}

await main();
