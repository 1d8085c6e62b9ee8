// `bitswarm info` on every file of the malformed-torrent corpus: exit 2 and exactly one line
// `bitswarm: <file>: <field>: <what>` (no stack trace) for rejected files, exit 0 for files whose
// paths the policy sanitizes; a missing file is exit 2, one line.
//
// A process per file costs ~0.1 s of CPU each, so the whole corpus runs through main() in one child
// process (capturing its output per call), and a sample of files also runs as real processes to hold
// the process-level contract (exit status, stderr).

import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { MetainfoError } from '../../../src/protocol/errors.js';
import { parseMetainfo } from '../../../src/protocol/metainfo.js';
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

/** True when parseMetainfo rejects the file as a whole (bad bencode, not a dictionary), not a field. */
function wholeFile(path: string): boolean {
  try {
    parseMetainfo(readFileSync(path));
  } catch (err) {
    return err instanceof MetainfoError && err.field === '';
  }
  return false;
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
      // `<field>: <what>`; a file that is not bencode, or not a dictionary, reads `not a torrent
      // file: …` with no byte of its content (issue 19: the API's message showed a file's first byte).
      assert.match(rest, /^[^:]+: .+/, `${f}: "<field>: <what>" in ${JSON.stringify(rest)}`);
      if (wholeFile(path)) {
        assert.match(
          rest,
          /^not a torrent file: (bad bencode at byte \d+|it is not a bencoded dictionary)$/,
          `${f}: ${JSON.stringify(rest)}`,
        );
      } else {
        assert.ok(
          rest.includes(want.error),
          `${f}: ${JSON.stringify(rest)} should include ${JSON.stringify(want.error)}`,
        );
      }
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
    'v2-layer-wrong-root.torrent',
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

// Issue 19: `bitswarm info /dev/zero` read until memory ran out (11.5 GB at 90 s). A .torrent path is
// read as a regular file of at most the torrent-size cap; anything else is refused with one line.
describe('bitswarm info on endless and special files', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'bitswarm-bad-input-'));
  const fifo = join(tmp, 'pipe.torrent');
  execFileSync('mkfifo', [fifo]);
  const secret = join(tmp, 'secret.txt');
  writeFileSync(secret, 'rosebud: the password is hunter2\n');
  const huge = join(tmp, 'huge.torrent');
  writeFileSync(huge, '');
  truncateSync(huge, 200 * 1024 * 1024); // sparse: 200 MiB, more than the 128 MiB cap
  after(() => rmSync(tmp, { recursive: true, force: true }));

  const runs = {
    zero: bitswarm(['info', '/dev/zero']),
    fifo: bitswarm(['info', fifo]),
    secret: bitswarm(['info', secret]),
    huge: bitswarm(['info', huge]),
    manyTrackers: bitswarm([
      'info',
      `magnet:?xt=urn:btih:${'a'.repeat(40)}${'&tr=http://x.example/a'.repeat(600)}`,
    ]),
    hugeSo: bitswarm(['info', `magnet:?xt=urn:btih:${'a'.repeat(40)}&so=0-4294967295`]),
  };

  it('/dev/zero: exit 2 at once, "is a device"', async () => {
    const run = await runs.zero;
    assert.equal(run.code, 2, run.stderr);
    assert.equal(assertOneLine(run, 'bitswarm: /dev/zero: '), 'is a device, not a regular file');
  });

  it('a FIFO nobody writes to: exit 2 at once (the open does not wait for a writer)', async () => {
    const run = await runs.fifo;
    assert.equal(run.code, 2, run.stderr);
    assert.equal(assertOneLine(run, `bitswarm: ${fifo}: `), 'is a FIFO, not a regular file');
  });

  it('a text file: "not a torrent file", and none of its bytes in the message', async () => {
    const run = await runs.secret;
    assert.equal(run.code, 2, run.stderr);
    assert.equal(assertOneLine(run, `bitswarm: ${secret}: `), 'not a torrent file: bad bencode at byte 0');
    assert.doesNotMatch(run.stderr, /0x72|rosebud|"r"/);
  });

  it('a file over the torrent-size cap: exit 2 without reading it', async () => {
    const run = await runs.huge;
    assert.equal(run.code, 2, run.stderr);
    assert.match(assertOneLine(run, `bitswarm: ${huge}: `), /^is 209715200 bytes, more than the 134217728/);
  });

  it('a magnet with 600 tr= or a huge so= range: exit 2, one line', async () => {
    const many = await runs.manyTrackers;
    assert.equal(many.code, 2, many.stderr);
    assert.match(assertOneLine(many, 'bitswarm: magnet link: '), /^tr: 600 trackers, more than the 500/);
    const so = await runs.hugeSo;
    assert.equal(so.code, 2, so.stderr);
    assert.equal(assertOneLine(so, 'bitswarm: magnet link: '), 'so: selects more than 100000 files');
  });
});
