// `bitswarm info` on every file of the malformed-torrent corpus: exit 2 and exactly one line
// `bitswarm: <file>: <field>: <what>` (no stack trace) for rejected files, exit 0 for files whose
// paths the policy sanitizes; a missing file is exit 2, one line.
//
// A process per file costs ~0.1 s of CPU each, so the whole corpus runs through main() in one child
// process (capturing its output per call), and a sample of files also runs as real processes to hold
// the process-level contract (exit status, stderr).

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';
import { corpusDir } from '../../corpus/corpus-dir.js';

type Expect = { error: string } | { paths: string[]; warning?: string };
interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The compiled CLI next to this compiled test, wherever the outDir is. */
const MAIN = new URL('../../../src/cli/main.js', import.meta.url).href;
// The same thing bin/bitswarm.js does, importing this build's main instead of dist/'s.
const LAUNCHER = `
const { main } = await import(${JSON.stringify(MAIN)});
main(process.argv.slice(1)).then(
  (code) => { process.exitCode = code; },
  (err) => { process.stderr.write('bitswarm: ' + (err instanceof Error ? err.message : String(err)) + '\\n'); process.exitCode = 1; },
);`;

function bitswarm(args: string[]): Promise<Run> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      ['--input-type=module', '-e', LAUNCHER, ...args],
      { timeout: 20_000, maxBuffer: 4 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
        done({ code, stdout, stderr });
      },
    );
  });
}

// Runs `main(['info', file])` for every file given, capturing what each call writes and returns, the
// way bin/bitswarm.js would turn it into an exit status; prints the results as JSON at the end.
const BATCH = `
const { main } = await import(${JSON.stringify(MAIN)});
const out = process.stdout.write.bind(process.stdout);
const results = {};
for (const file of process.argv.slice(1)) {
  const run = { stdout: '', stderr: '' };
  process.stdout.write = (chunk) => { run.stdout += String(chunk); return true; };
  process.stderr.write = (chunk) => { run.stderr += String(chunk); return true; };
  try {
    run.code = await main(['info', file]);
  } catch (err) {
    run.stderr += 'bitswarm: ' + (err instanceof Error ? err.message : String(err)) + '\\n';
    run.code = 1;
  }
  results[file] = run;
}
process.stdout.write = out;
out(JSON.stringify(results));`;

async function runBatch(paths: string[]): Promise<Record<string, Run>> {
  const run = await new Promise<Run>((done) => {
    execFile(
      process.execPath,
      ['--input-type=module', '-e', BATCH, ...paths],
      { timeout: 60_000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => done({ code: err ? null : 0, stdout, stderr }),
    );
  });
  assert.equal(run.code, 0, run.stderr);
  return JSON.parse(run.stdout) as Record<string, Run>;
}

function assertOneLine(run: Run, prefix: string): string {
  assert.doesNotMatch(run.stderr, / {4}at /, 'no stack trace');
  const lines = run.stderr.split('\n');
  assert.equal(lines.length, 2, `exactly one line on stderr: ${JSON.stringify(run.stderr)}`);
  assert.equal(lines[1], '');
  assert.ok(
    lines[0]!.startsWith(prefix),
    `${JSON.stringify(lines[0])} should start with ${JSON.stringify(prefix)}`,
  );
  return lines[0]!.slice(prefix.length);
}

describe('bitswarm info on bad input', () => {
  const dir = corpusDir();
  const expected = JSON.parse(readFileSync(resolve(dir, 'EXPECTED.json'), 'utf8')) as Record<string, Expect>;
  const files = Object.keys(expected).sort();

  function check(f: string, run: Run): void {
    const want = expected[f]!;
    const path = resolve(dir, f);
    if ('error' in want) {
      assert.equal(run.code, 2, `${f}: exit code (stderr ${JSON.stringify(run.stderr)})`);
      assert.equal(run.stdout, '', `${f}: nothing on stdout`);
      const rest = assertOneLine(run, `bitswarm: ${path}: `);
      // `<field>: <what>`; whole-file problems read `bad bencode: <what> at byte N`, `not a torrent: …`.
      assert.match(rest, /^[^:]+: .+/, `${f}: "<field>: <what>" in ${JSON.stringify(rest)}`);
      assert.ok(
        rest.includes(want.error),
        `${f}: ${JSON.stringify(rest)} should include ${JSON.stringify(want.error)}`,
      );
    } else {
      assert.equal(run.code, 0, `${f}: exit code (stderr ${JSON.stringify(run.stderr)})`);
      assert.equal(run.stderr, '', `${f}: nothing on stderr`);
      assert.match(run.stdout, /^name {8}/);
      // No raw control character from the torrent reaches the terminal (paths and warnings are escaped).
      assert.doesNotMatch(
        run.stdout,
        /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/,
        `${f}: control characters on stdout`,
      );
    }
  }

  it(`every corpus file: exit 2 with one line for rejects, exit 0 for sanitized paths (${files.length} files)`, async () => {
    const results = await runBatch(files.map((f) => resolve(dir, f)));
    for (const f of files) check(f, results[resolve(dir, f)]!);
  });

  // The real processes start together, up front; each test awaits its own.
  const sample = [
    'pieces-length-41.torrent',
    'nesting-10000-deep.torrent',
    'v2-only.torrent',
    'path-dotdot.torrent',
  ];
  const sampleRuns = Promise.all(sample.map((f) => bitswarm(['info', resolve(dir, f)])));
  const missing = resolve(dir, 'does-not-exist.torrent');
  const missingRun = bitswarm(['info', missing]);
  const folderRun = bitswarm(['info', dir]);
  const magnetRun = bitswarm(['info', 'magnet:?xt=urn:btih:1234']);
  const debugRun = bitswarm(['info', resolve(dir, 'pieces-length-41.torrent'), '--debug']);

  it('as separate processes: a sample of rejected and sanitized files', async () => {
    const runs = await sampleRuns;
    for (const [i, f] of sample.entries()) check(f, runs[i]!);
  });

  it('a missing file: exit 2, one line naming it', async () => {
    const run = await missingRun;
    assert.equal(run.code, 2);
    assert.equal(assertOneLine(run, `bitswarm: ${missing}: `), 'no such file');
  });

  it('a folder instead of a file: exit 2, one line', async () => {
    const run = await folderRun;
    assert.equal(run.code, 2);
    assertOneLine(run, `bitswarm: ${dir}: `);
  });

  it('a bad magnet link: exit 2, one line', async () => {
    const run = await magnetRun;
    assert.equal(run.code, 2);
    assert.match(assertOneLine(run, 'bitswarm: '), /^magnet link: xt: "1234" is not a 40-digit hex/);
  });

  it('--debug adds the stack trace', async () => {
    const run = await debugRun;
    assert.equal(run.code, 2);
    assert.match(run.stderr, / {4}at /);
  });
});
