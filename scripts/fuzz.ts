// Coverage-guided fuzzing of the protocol decoders (`npm run fuzz`).
//
// Each target (test/fuzz/targets/<name>.ts) runs in its own child process for a set time. The child
// mutates inputs (bit flips, byte and integer changes, dictionary tokens, splices of two inputs) and
// keeps every input that reaches code not reached before, as V8's block coverage of dist/src/ tells
// it after each run (node:inspector, Profiler.takePreciseCoverage). An input for which the target
// throws anything but a typed error of its decoder, or runs for seconds, is a finding: it is saved
// under test/fuzz/crashes/<target>/ and the run exits 1 with its path.
//
// Why not Jazzer.js: @jazzer.js/core 4.0.0 ships its libFuzzer addon prebuilt against glibc 2.38 and
// GCC 13's libstdc++ (this Debian 12 has 2.36 and GCC 12); older versions download the addon, or the
// LLVM sources to build it, from GitHub at install time. The targets keep Jazzer.js's shape
// (`export function fuzz(data: Buffer)`): moving to it where it installs changes the runner only.
//
// Usage: node dist/scripts/fuzz.js [--seconds N] [--target NAME]... [--jobs N] [--ci] [--no-write]
//        (--jobs: targets fuzzed at once, default the number of cores)
//        node dist/scripts/fuzz.js --target NAME --reproduce FILE
//        node dist/scripts/fuzz.js --list

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { Session } from 'node:inspector';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { FuzzTarget } from '../test/fuzz/contract.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TARGETS_DIR = path.join(ROOT, 'dist/test/fuzz/targets');
const CORPUS_DIR = path.join(ROOT, 'test/fuzz/corpus');
const CRASH_DIR = path.join(ROOT, 'test/fuzz/crashes');
const DEFAULT_SECONDS = 60;
const CI_SECONDS = 30;
const DEFAULT_MAX_LENGTH = 4096;
/** One input running this long is a finding (a quadratic decoder blocks the event loop). */
const SLOW_INPUT_MS = 2000;
/** A child that outlives its time by this much is hung on one input. */
const HANG_GRACE_MS = 60_000;

class UsageError extends Error {}

interface Options {
  seconds: number;
  targets: string[];
  write: boolean;
  worker: boolean;
  reproduce: string | undefined;
  list: boolean;
  /** Targets fuzzed at once. */
  jobs: number;
}

function parseArgs(argv: string[]): Options {
  const envSeconds = process.env.FUZZ_SECONDS;
  let seconds: number | undefined;
  let ci = false;
  const o: Options = {
    seconds: 0,
    targets: [],
    write: true,
    worker: false,
    reproduce: undefined,
    list: false,
    jobs: availableParallelism(),
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${arg} needs a value`);
      return v;
    };
    if (arg === '--seconds') {
      const v = value();
      seconds = Number(v);
      if (!Number.isFinite(seconds) || seconds <= 0)
        throw new UsageError(`--seconds: not a positive number: ${v}`);
    } else if (arg === '--target') o.targets.push(value());
    else if (arg === '--ci') ci = true;
    else if (arg === '--no-write') o.write = false;
    else if (arg === '--worker') o.worker = true;
    else if (arg === '--reproduce') o.reproduce = value();
    else if (arg === '--list') o.list = true;
    else if (arg === '--jobs') {
      const v = value();
      o.jobs = Number(v);
      if (!Number.isInteger(o.jobs) || o.jobs < 1)
        throw new UsageError(`--jobs: not a positive integer: ${v}`);
    } else throw new UsageError(`unknown argument: ${arg}`);
  }
  if (seconds === undefined && envSeconds !== undefined) {
    seconds = Number(envSeconds);
    if (!Number.isFinite(seconds) || seconds <= 0)
      throw new UsageError(`FUZZ_SECONDS: not a positive number`);
  }
  o.seconds = seconds ?? (ci ? CI_SECONDS : DEFAULT_SECONDS);
  // CI fuzzes from the checked-in corpus and leaves the tree as it was.
  if (ci) o.write = false;
  const known = allTargets();
  for (const t of o.targets) {
    if (!known.includes(t)) throw new UsageError(`no fuzz target ${t} (known: ${known.join(', ')})`);
  }
  if (o.targets.length === 0) o.targets = known;
  if (o.reproduce !== undefined && o.targets.length !== 1)
    throw new UsageError('--reproduce needs one --target');
  return o;
}

function allTargets(): string[] {
  if (!fs.existsSync(TARGETS_DIR))
    throw new UsageError(`no compiled targets in ${TARGETS_DIR}: run npm run build`);
  return fs
    .readdirSync(TARGETS_DIR)
    .filter((f) => f.endsWith('.js'))
    .map((f) => f.slice(0, -3))
    .sort();
}

async function loadTarget(name: string): Promise<FuzzTarget> {
  return (await import(pathToFileURL(path.join(TARGETS_DIR, `${name}.js`)).href)) as FuzzTarget;
}

function sha1(b: Uint8Array): string {
  return createHash('sha1').update(b).digest('hex');
}

/** The corpus files of a target (seeds the fuzzer found before). */
function readCorpus(name: string): Buffer[] {
  const dir = path.join(CORPUS_DIR, name);
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .sort()
    .map((f) => fs.readFileSync(path.join(dir, f)));
}

// ---------------------------------------------------------------------------------------------------
// Coverage: V8's block counters of the code under test, as a set of features per run

class Coverage {
  readonly #session = new Session();
  readonly #scripts = new Map<string, number>();

  constructor() {
    this.#session.connect();
    this.#post('Profiler.enable');
    this.#post('Profiler.startPreciseCoverage', { callCount: true, detailed: true });
  }

  // The same-thread inspector session answers synchronously.
  #post(method: string, params?: object): unknown {
    let result: unknown;
    let error: Error | null = null;
    this.#session.post(method, params, (err, res) => {
      error = err;
      result = res;
    });
    if (error) throw error;
    return result;
  }

  /** Features of what ran since the last call: (block, log2 bucket of its count), for code in dist/src/. */
  take(): number[] {
    const { result } = this.#post('Profiler.takePreciseCoverage') as {
      result: { url: string; functions: { ranges: { startOffset: number; count: number }[] }[] }[];
    };
    const features: number[] = [];
    for (const script of result) {
      if (!script.url.includes('/dist/src/')) continue;
      let id = this.#scripts.get(script.url);
      if (id === undefined) {
        id = this.#scripts.size;
        this.#scripts.set(script.url, id);
      }
      for (const fn of script.functions) {
        for (const r of fn.ranges) {
          if (r.count > 0) features.push(((id * 0x100000 + r.startOffset) * 16 + bucket(r.count)) | 0);
        }
      }
    }
    return features;
  }
}

function bucket(count: number): number {
  if (count < 4) return count;
  if (count < 8) return 4;
  if (count < 16) return 5;
  if (count < 32) return 6;
  if (count < 128) return 7;
  return 8;
}

// ---------------------------------------------------------------------------------------------------
// Mutations

const INTERESTING_8 = [0, 1, 0x7f, 0x80, 0xff, 0x13, 0x30, 0x3a, 0x64, 0x65, 0x69, 0x6c];
const INTERESTING_32 = [
  0, 1, 2, 5, 13, 0x4000, 0x4001, 0x7fff, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff,
];
const INTERESTING_TEXT = [
  '0',
  '1',
  '-1',
  '-0',
  '00',
  '20',
  '255',
  '65535',
  '65536',
  '2147483648',
  '4294967296',
];
INTERESTING_TEXT.push('9007199254740993', '99999999999999999999', '1e3', '0x10');

class Mutator {
  readonly #dict: Buffer[];
  readonly #maxLength: number;

  constructor(dictionary: readonly (string | Uint8Array)[], maxLength: number) {
    this.#dict = dictionary.map((d) => Buffer.from(d as string));
    this.#maxLength = maxLength;
  }

  mutate(input: Buffer, other: () => Buffer): Buffer {
    let b = input;
    const rounds = 1 + rand(5);
    for (let i = 0; i < rounds; i++) b = this.#once(b, other);
    return b.length > this.#maxLength ? b.subarray(0, this.#maxLength) : b;
  }

  #once(b: Buffer, other: () => Buffer): Buffer {
    const at = rand(b.length + 1);
    switch (rand(b.length === 0 ? 3 : 12)) {
      case 0:
        return splice(b, at, 0, Buffer.from([randByte()]));
      case 1: {
        const d = this.#dict.length > 0 ? this.#dict[rand(this.#dict.length)]! : Buffer.from([randByte()]);
        return splice(b, at, 0, d);
      }
      case 2: {
        const o = other();
        const from = rand(o.length + 1);
        return splice(b, at, 0, o.subarray(from, from + 1 + rand(64)));
      }
      case 3: {
        const c = Buffer.from(b);
        c[rand(b.length)]! ^= 1 << rand(8);
        return c;
      }
      case 4: {
        const c = Buffer.from(b);
        c[rand(b.length)] = randByte();
        return c;
      }
      case 5:
        return splice(b, rand(b.length), 1 + rand(Math.min(16, b.length)), Buffer.alloc(0));
      case 6: {
        // A chunk of the input repeated elsewhere (lengths and nesting grow this way).
        const from = rand(b.length);
        return splice(b, at, 0, b.subarray(from, from + 1 + rand(32)));
      }
      case 7: {
        const d = this.#dict.length > 0 ? this.#dict[rand(this.#dict.length)]! : Buffer.from([randByte()]);
        return splice(b, Math.min(at, b.length - 1), d.length, d);
      }
      case 8: {
        // A big-endian integer field set to an edge value.
        const width = [1, 2, 4][rand(3)]!;
        if (b.length < width) return b;
        const c = Buffer.from(b);
        const v = INTERESTING_32[rand(INTERESTING_32.length)]! % 2 ** (8 * width);
        c.writeUIntBE(v, rand(b.length - width + 1), width);
        return c;
      }
      case 9: {
        // A decimal number in the text replaced by an edge value.
        const text = b.toString('latin1');
        const runs = [...text.matchAll(/-?\d+/g)];
        if (runs.length === 0) return splice(b, at, 0, Buffer.from(pick(INTERESTING_TEXT)));
        const run = runs[rand(runs.length)]!;
        return splice(b, run.index, run[0].length, Buffer.from(pick(INTERESTING_TEXT)));
      }
      case 10:
        return b.subarray(0, rand(b.length));
      default: {
        // Crossover: a prefix of this input, a suffix of another.
        const o = other();
        return Buffer.concat([b.subarray(0, at), o.subarray(rand(o.length + 1))]);
      }
    }
  }
}

function rand(n: number): number {
  return Math.floor(Math.random() * n);
}
function randByte(): number {
  return Math.random() < 0.5 ? INTERESTING_8[rand(INTERESTING_8.length)]! : rand(256);
}
function pick<T>(a: readonly T[]): T {
  return a[rand(a.length)]!;
}
function splice(b: Buffer, at: number, remove: number, insert: Uint8Array): Buffer {
  return Buffer.concat([b.subarray(0, at), insert, b.subarray(at + remove)]);
}

// ---------------------------------------------------------------------------------------------------
// The child: fuzz one target

class Finding extends Error {
  constructor(
    message: string,
    readonly input: Buffer,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

async function worker(name: string, seconds: number, write: boolean): Promise<number> {
  const target = await loadTarget(name);
  const coverage = new Coverage();
  const mutator = new Mutator(target.dictionary ?? [], target.maxLength ?? DEFAULT_MAX_LENGTH);
  const crashDir = path.join(CRASH_DIR, name);
  fs.mkdirSync(crashDir, { recursive: true });
  // The input being run, on disk, so that the parent can save it if this process dies or hangs.
  const currentFd = fs.openSync(path.join(crashDir, 'current'), 'w');

  const run = (input: Buffer): number[] => {
    fs.ftruncateSync(currentFd, 0);
    fs.writeSync(currentFd, input, 0, input.length, 0);
    const t0 = performance.now();
    try {
      target.fuzz(input);
    } catch (err) {
      coverage.take();
      throw new Finding(err instanceof Error ? err.message : String(err), input, { cause: err });
    }
    const ms = performance.now() - t0;
    const features = coverage.take();
    if (ms > SLOW_INPUT_MS) throw new Finding(`one input ran for ${Math.round(ms)} ms`, input);
    return features;
  };

  const seen = new Set<number>();
  const corpus: Buffer[] = [];
  const consider = (input: Buffer): void => {
    if (addNew(seen, run(input))) corpus.push(input);
  };

  const started = performance.now();
  let execs = 0;
  try {
    const initial = [...(target.seeds?.() ?? []).map((s) => Buffer.from(s)), ...readCorpus(name)];
    for (const input of initial) {
      consider(input);
      execs++;
    }
    if (corpus.length === 0) consider(Buffer.alloc(0));
    const seeded = corpus.length;
    const deadline = started + seconds * 1000;
    let nextReport = performance.now() + 10_000;
    const other = (): Buffer => corpus[rand(corpus.length)]!;
    for (;;) {
      for (let i = 0; i < 64; i++) {
        consider(mutator.mutate(other(), other));
        execs++;
      }
      const now = performance.now();
      if (now >= deadline) break;
      if (now >= nextReport) {
        nextReport = now + 10_000;
        log(
          name,
          `${execs} runs (${Math.round(execs / ((now - started) / 1000))}/s), corpus ${corpus.length}, features ${seen.size}`,
        );
      }
    }
    const elapsed = (performance.now() - started) / 1000;
    let kept = corpus;
    if (write) kept = save(name, minimise(corpus, run));
    log(
      name,
      `done: ${execs} runs in ${elapsed.toFixed(0)} s (${Math.round(execs / elapsed)}/s), ` +
        `${corpus.length - seeded} new inputs, features ${seen.size}, corpus ${kept.length}` +
        (write ? ` (saved, ${kept.reduce((s, b) => s + b.length, 0)} bytes)` : ''),
    );
    fs.closeSync(currentFd);
    fs.rmSync(path.join(crashDir, 'current'), { force: true });
    return 0;
  } catch (err) {
    if (!(err instanceof Finding)) throw err;
    fs.closeSync(currentFd);
    fs.rmSync(path.join(crashDir, 'current'), { force: true });
    const file = path.join(crashDir, `crash-${sha1(err.input)}`);
    fs.writeFileSync(file, err.input);
    reportFinding(name, err.message, file, err.cause);
    return 1;
  }
}

/** The smallest inputs that together reach every feature the corpus reaches (greedy, shortest first). */
function minimise(corpus: Buffer[], run: (input: Buffer) => number[]): Buffer[] {
  const seen = new Set<number>();
  const kept: Buffer[] = [];
  for (const input of [...corpus].sort((a, b) => a.length - b.length || Buffer.compare(a, b))) {
    if (addNew(seen, run(input))) kept.push(input);
  }
  return kept;
}

/** Adds the features to `seen`; whether any was new. */
function addNew(seen: Set<number>, features: number[]): boolean {
  const before = seen.size;
  for (const f of features) seen.add(f);
  return seen.size > before;
}

/** Writes the corpus as test/fuzz/corpus/<target>/<sha1>, removing files no longer in it. */
function save(name: string, kept: Buffer[]): Buffer[] {
  const dir = path.join(CORPUS_DIR, name);
  fs.mkdirSync(dir, { recursive: true });
  const names = new Set(kept.map((b) => sha1(b)));
  for (const f of fs.readdirSync(dir)) if (!names.has(f)) fs.rmSync(path.join(dir, f));
  for (const b of kept) {
    const file = path.join(dir, sha1(b));
    if (!fs.existsSync(file)) fs.writeFileSync(file, b);
  }
  return kept;
}

function log(name: string, line: string): void {
  process.stdout.write(`fuzz ${name}: ${line}\n`);
}

function reportFinding(name: string, message: string, file: string, cause: unknown): void {
  const rel = path.relative(process.cwd(), file);
  process.stdout.write(`fuzz ${name}: FINDING: ${message.split('\n')[0]}\n`);
  process.stdout.write(`  input: ${rel}\n`);
  process.stdout.write(`  again: node dist/scripts/fuzz.js --target ${name} --reproduce ${rel}\n`);
  const stack =
    cause instanceof Error ? (cause.cause instanceof Error ? cause.cause : cause).stack : undefined;
  if (stack) process.stdout.write(`${stack.split('\n').slice(0, 8).join('\n')}\n`);
}

async function reproduce(name: string, file: string): Promise<number> {
  const target = await loadTarget(name);
  let input: Buffer;
  try {
    input = fs.readFileSync(file);
  } catch {
    throw new UsageError(`cannot read ${file}`);
  }
  try {
    target.fuzz(input);
  } catch (err) {
    console.log(`fuzz ${name}: FINDING with ${file}`);
    console.log(err);
    return 1;
  }
  console.log(`fuzz ${name}: ${file} passes`);
  return 0;
}

// ---------------------------------------------------------------------------------------------------
// The parent: one child per target, one after another

function runChild(name: string, o: Options): Promise<number> {
  const args = [fileURLToPath(import.meta.url), '--worker', '--target', name, '--seconds', String(o.seconds)];
  if (!o.write) args.push('--no-write');
  const child = spawn(process.execPath, args, { stdio: 'inherit' });
  let hung = false;
  const timer = setTimeout(
    () => {
      hung = true;
      child.kill('SIGKILL');
    },
    o.seconds * 1000 + HANG_GRACE_MS,
  );
  return new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0 || code === 1) return resolve(code);
      // The child died on one input (out of memory, an abort) or hung: that input is the finding.
      const current = path.join(CRASH_DIR, name, 'current');
      const why = hung ? 'hung' : `died (${signal ?? `exit ${code}`})`;
      if (!fs.existsSync(current)) {
        log(name, `FINDING: the fuzzing process ${why}, input unknown`);
        return resolve(1);
      }
      const input = fs.readFileSync(current);
      const file = path.join(CRASH_DIR, name, `crash-${sha1(input)}`);
      fs.renameSync(current, file);
      reportFinding(name, `the fuzzing process ${why} on this input`, file, undefined);
      resolve(1);
    });
  });
}

async function main(): Promise<number> {
  const o = parseArgs(process.argv.slice(2));
  if (o.list) {
    console.log(o.targets.join('\n'));
    return 0;
  }
  if (o.reproduce !== undefined) return reproduce(o.targets[0]!, o.reproduce);
  if (o.worker) return worker(o.targets[0]!, o.seconds, o.write);
  // One child per target, as many at once as the machine has cores (each is single-threaded).
  const failed: string[] = [];
  const queue = [...o.targets];
  const lane = async (): Promise<void> => {
    for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
      if ((await runChild(name, o)) !== 0) failed.push(name);
    }
  };
  await Promise.all(Array.from({ length: Math.min(o.jobs, queue.length) }, lane));
  failed.sort();
  if (failed.length > 0) {
    console.log(
      `fuzz: findings in ${failed.join(', ')} (inputs under ${path.relative(process.cwd(), CRASH_DIR)}/)`,
    );
    return 1;
  }
  console.log(`fuzz: ${o.targets.length} targets, ${o.seconds} s each, no findings`);
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError) {
      console.error(`fuzz: ${err.message}`);
      process.exitCode = 2;
    } else {
      console.error(`fuzz: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      process.exitCode = 1;
    }
  },
);
