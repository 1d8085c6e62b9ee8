// Shared helpers for interop tests against real BitTorrent tools (mktorrent, libtorrent's Python
// binding, Transmission): temp dirs, child processes with timeouts, the bitswarm CLI as a child, and
// tool detection. A missing tool skips the test on a developer's machine but fails it in CI
// (CI=true), so a broken install step cannot turn the interop suite green by skipping it.

import { type ChildProcess, spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access, mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd?: string;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  input?: string;
}

export class RunError extends Error {
  override readonly name = 'RunError';
  readonly code = 'ERR_INTEROP_RUN';
}

/** Runs a program to completion and collects its output; kills it (and fails) after `timeoutMs`. */
export function run(cmd: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new RunError(`${cmd}: ${e.message}`, { cause: e }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const result = {
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      };
      if (timedOut) reject(new RunError(`${cmd} ${args.join(' ')}: timed out after ${timeoutMs} ms`));
      else resolve(result);
    });
    child.stdin.end(options.input ?? '');
  });
}

/** Like `run`, but a non-zero exit is an error that carries the program's stderr. */
export async function runOk(
  cmd: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const r = await run(cmd, args, options);
  if (r.code !== 0) {
    throw new RunError(
      `${cmd} ${args.join(' ')}: exit ${r.code ?? r.signal}\n${r.stderr.trim()}\n${r.stdout.trim()}`,
    );
  }
  return r;
}

/** The compiled CLI entry beside this file's compiled copy (dist/test/interop → dist/src/cli). */
export const BITSWARM_MAIN_URL = new URL('../../src/cli/main.js', import.meta.url);

/** The `bitswarm` executable of the repository (bin/bitswarm.js), as users run it. */
export const BITSWARM_BIN_PATH = fileURLToPath(new URL('../../../bin/bitswarm.js', import.meta.url));

/**
 * Node arguments that run the bitswarm CLI from this build: an inline runner that imports `main`
 * by absolute URL, so it works wherever the build lives. With `reportUsage`, the child prints
 * `maxrss-kib=N cpu-ms=M` as its last stderr line: peak RSS and user+system CPU time of the whole
 * process, worker threads included. The peak RSS is Linux's VmHWM where there is one: getrusage's
 * maxRSS survives execve, so a child would report its parent's size when the parent is larger.
 */
export function bitswarmNodeArgs(args: readonly string[], reportUsage = false): string[] {
  const report = reportUsage
    ? `process.on('exit', () => {
        const u = process.resourceUsage();
        let kib = u.maxRSS;
        try {
          const m = /^VmHWM:\\s*(\\d+) kB/m.exec(require('node:fs').readFileSync('/proc/self/status', 'utf8'));
          if (m) kib = Number(m[1]);
        } catch {}
        process.stderr.write('maxrss-kib=' + kib + ' cpu-ms=' + Math.round((u.userCPUTime + u.systemCPUTime) / 1000) + '\\n');
      });`
    : '';
  // CommonJS eval with a dynamic import: `--input-type=module` would be inherited by worker threads,
  // which refuse it.
  const script = `${report}import(${JSON.stringify(BITSWARM_MAIN_URL.href)}).then(async ({ main }) => { process.exitCode = await main(process.argv.slice(1)); });`;
  return ['-e', script, '--', ...args];
}

/** Runs `bitswarm <args>` in a child process (process.execPath, this build). */
export function runBitswarm(args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return run(process.execPath, bitswarmNodeArgs(args), options);
}

/** Python with libtorrent: Debian's python3-libtorrent lives under /usr/bin/python3, not pyenv's. */
export const PYTHON = process.env.BITSWARM_PYTHON ?? '/usr/bin/python3';

/** Runs an inline Python script with UTF-8 output whatever the locale. */
export function runPython(script: string, args: readonly string[], options: RunOptions = {}) {
  return runOk(PYTHON, ['-c', script, ...args], {
    ...options,
    env: { ...(options.env ?? process.env), PYTHONIOENCODING: 'utf-8', PYTHONUTF8: '1' },
  });
}

/** Whether `name` is an executable on PATH (or an executable absolute path). */
export async function hasExecutable(name: string): Promise<boolean> {
  const candidates = name.includes('/')
    ? [name]
    : (process.env.PATH ?? '')
        .split(delimiter)
        .filter(Boolean)
        .map((dir) => join(dir, name));
  for (const c of candidates) {
    try {
      await access(c, constants.X_OK);
      return true;
    } catch {
      // not here; try the next PATH entry
    }
  }
  return false;
}

/** Whether PYTHON can import libtorrent. */
export async function hasPythonLibtorrent(): Promise<boolean> {
  if (!(await hasExecutable(PYTHON))) return false;
  try {
    const r = await run(PYTHON, ['-c', 'import libtorrent'], { timeoutMs: 20_000 });
    return r.code === 0;
  } catch {
    return false;
  }
}

/** Tools a test needs, each with how to detect it. */
export type ToolCheck = Record<string, () => Promise<boolean>>;

/** Names of the tools in `checks` that are missing here. */
export async function missingTools(checks: ToolCheck): Promise<string[]> {
  const missing: string[] = [];
  for (const [name, check] of Object.entries(checks)) if (!(await check())) missing.push(name);
  return missing;
}

export const inCI = (): boolean => Boolean(process.env.CI) && process.env.CI !== 'false';

/**
 * The `skip` option for node:test: a reason when tools are missing on a developer's machine,
 * `false` when all are present or in CI (where the test then runs and `assertTools` fails it).
 */
export function skipUnlessCI(missing: readonly string[]): string | false {
  if (missing.length === 0 || inCI()) return false;
  return `missing tools: ${missing.join(', ')}`;
}

/** Fails with a clear message when tools are missing (reached only in CI, see skipUnlessCI). */
export function assertTools(missing: readonly string[]): void {
  if (missing.length > 0) {
    throw new Error(`interop tools missing in CI: ${missing.join(', ')} (install them in .ci/run)`);
  }
}

/** A fresh temp dir and its removal. */
export async function makeTempDir(prefix: string): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `bitswarm-${prefix}-`));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * Deterministic pseudo-random bytes (xorshift32 per 32-bit word): the same seed gives the same
 * content on every machine, fast enough to generate large files.
 */
export function pseudoRandomBytes(length: number, seed: number): Buffer {
  const words = new Uint32Array(Math.ceil(length / 4));
  let x = seed >>> 0 || 0x9e3779b9;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    words[i] = x;
  }
  return Buffer.from(words.buffer, 0, length);
}

/** A child process whose stdout is JSON lines (a bitswarm command with --json), collected as parsed. */
export interface JsonChild {
  child: ChildProcess;
  lines: Record<string, unknown>[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr: () => string;
}

/**
 * Spawns `node <args>` and collects its JSON stdout lines and its stderr text. A line that is not
 * JSON throws, unless `skipBadLines` (a child killed with SIGKILL may leave half a line).
 */
export function spawnJson(
  nodeArgs: readonly string[],
  options: {
    skipBadLines?: boolean;
    /** How to start `node` (e.g. inside a network namespace); stdout and stderr must be pipes. */
    spawn?: (cmd: string, args: readonly string[]) => ChildProcess;
  } = {},
): JsonChild {
  const child = options.spawn
    ? options.spawn(process.execPath, nodeArgs)
    : spawn(process.execPath, nodeArgs, { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Record<string, unknown>[] = [];
  let buf = '';
  let err = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (s: string) => {
    buf += s;
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch (e) {
        if (!options.skipBadLines) throw e;
      }
    }
  });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (s: string) => {
    err += s;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.once('exit', (code, signal) => r({ code, signal })),
  );
  return { child, lines, exited, stderr: () => err };
}

/** A TCP relay to 127.0.0.1:`port` that counts the connections it takes. */
export interface CountingRelay {
  port: number;
  count(): number;
  close(): Promise<void>;
}

/**
 * A relay in front of a peer, to count how many connections reach it; past `max` connections the
 * rest are reset (a peer that takes one connection only).
 */
export async function countingRelay(port: number, max = Infinity): Promise<CountingRelay> {
  let n = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    n++;
    if (n > max) {
      client.resetAndDestroy();
      return;
    }
    const upstream = connect({ host: '127.0.0.1', port });
    sockets.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('the relay has no port');
  return {
    port: addr.port,
    count: () => n,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
