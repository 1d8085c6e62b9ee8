// Enforces the layer table of DESIGN.md: each folder of src/ imports only from the folders it may.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

// dist/test/unit/project → repository root
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
const src = join(root, 'src');

const allowed: Record<string, readonly string[]> = {
  protocol: [],
  util: ['protocol'],
  storage: ['protocol', 'util'],
  peer: ['protocol', 'util'],
  swarm: ['protocol', 'util', 'storage', 'peer'],
  discovery: ['protocol', 'util'],
  // Web seeds (BEP 19): an HTTP client for byte ranges; the session hands it to the swarm.
  webseed: ['protocol', 'util'],
  stream: ['protocol', 'util', 'storage', 'swarm'],
  session: ['protocol', 'util', 'storage', 'peer', 'swarm', 'discovery', 'webseed'],
  api: ['protocol', 'util', 'storage', 'peer', 'swarm', 'discovery', 'session', 'stream', 'webseed'],
  // The library (the package's public entry), above the session beside the API; the CLI uses it.
  lib: ['protocol', 'util', 'storage', 'peer', 'swarm', 'discovery', 'session', 'stream', 'webseed'],
  cli: [
    'protocol',
    'util',
    'storage',
    'peer',
    'swarm',
    'discovery',
    'session',
    'api',
    'lib',
    'stream',
    'webseed',
  ],
};
// Modules of Node that mean I/O, timers or process state: not allowed in the pure protocol layer.
const impureNodeModules =
  /^(node:)?(fs|fs\/promises|net|dgram|http|https|http2|tls|child_process|worker_threads|timers|timers\/promises|dns|os|process|cluster)$/;

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return walk(p);
    return p.endsWith('.ts') ? [p] : [];
  });
}

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  const re = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;
  for (let m = re.exec(text); m; m = re.exec(text)) out.push((m[1] ?? m[2])!);
  return out;
}

test('every src/ folder is a known layer', () => {
  for (const name of readdirSync(src)) {
    if (statSync(join(src, name)).isDirectory())
      assert.ok(name in allowed, `unknown layer folder src/${name}`);
  }
});

test('imports point down the layer table only', () => {
  const violations: string[] = [];
  for (const file of walk(src)) {
    const layer = relative(src, file).split(sep)[0]!;
    for (const spec of importsOf(file)) {
      if (spec.startsWith('.')) {
        const target = resolve(dirname(file), spec);
        const rel = relative(src, target);
        if (rel.startsWith('..')) {
          violations.push(`${relative(root, file)} imports ${spec} (outside src)`);
          continue;
        }
        const targetLayer = rel.split(sep)[0]!;
        if (targetLayer !== layer && !allowed[layer]?.includes(targetLayer)) {
          violations.push(`${relative(root, file)} (${layer}) imports ${spec} (${targetLayer})`);
        }
      } else if (layer === 'protocol' && impureNodeModules.test(spec)) {
        violations.push(`${relative(root, file)} (protocol must be pure) imports ${spec}`);
      }
    }
  }
  assert.deepEqual(violations, []);
});

// Inside the API: the control layer, the shared types, the route table, its schemas and the OpenAPI
// document know no HTTP; only the router (server.ts) and the client speak it.
const httpFree = ['control.ts', 'types.ts', 'routes.ts', 'schema.ts', 'openapi.ts'];
const httpModules = /^(node:)?(http|https|http2|net)$|\/server\.js$|\/client\.js$/;

test("the API's control layer, types and route table import no HTTP and not the router", () => {
  const violations: string[] = [];
  for (const name of httpFree) {
    for (const spec of importsOf(join(src, 'api', name)))
      if (httpModules.test(spec)) violations.push(`src/api/${name} imports ${spec}`);
  }
  assert.deepEqual(violations, []);
});

// The session's parts that decide or keep data stand alone: the queue decision is a pure function
// (imports nothing); resume data and a torrent's files on disk know neither the manager nor the session.
test('the queue decision is pure; resume data and data moves do not call up into the manager', () => {
  assert.deepEqual(importsOf(join(src, 'session', 'queue.ts')), []);
  const up = /\/(manager|session|metadata-fetcher)\.js$/;
  const violations = ['resume.ts', 'torrent-data.ts'].flatMap((name) =>
    importsOf(join(src, 'session', name))
      .filter((spec) => up.test(spec))
      .map((spec) => `src/session/${name} imports ${spec}`),
  );
  assert.deepEqual(violations, []);
});

// The swarm runs on what it is given (DESIGN.md, issue 17): connections from a transport, time from a
// clock. None of its modules opens a socket, reads the real time or sets a real timer; the simulator
// drives them all in virtual time. A peer connection, its handshakes and the uTP connections read
// time from the clock they are given too (the TCP dialler is the real transport: real sockets, real timers).
test('the swarm layer touches no socket, no real clock and no real timer; the peer wire no real clock', () => {
  const socketModules = /^(node:)?(net|dgram|http|https|tls)$/;
  const realTime = /\bDate\.now\(|\bperformance\.now\(|(^|[^.\w])(setTimeout|setInterval)\(/;
  const violations: string[] = [];
  const peerWire = ['connection.ts', 'handshake.ts', 'encryption.ts', 'disconnect.ts', 'utp-manager.ts'];
  for (const file of [...walk(join(src, 'swarm')), ...peerWire.map((f) => join(src, 'peer', f))]) {
    if (!file.endsWith('.ts')) continue;
    const name = relative(root, file);
    if (file.includes(`${sep}swarm${sep}`))
      for (const spec of importsOf(file))
        if (socketModules.test(spec)) violations.push(`${name} imports ${spec}`);
    readFileSync(file, 'utf8')
      .split('\n')
      .forEach((line, i) => {
        const code = line.replace(/\/\/.*$/, '');
        if (!/^\s*\*/.test(code) && realTime.test(code)) violations.push(`${name}:${i + 1}: ${line.trim()}`);
      });
  }
  assert.deepEqual(violations, []);
  // The check sees what it looks for.
  assert.ok(realTime.test('const t = Date.now();') && realTime.test('  setTimeout(f, 1);'));
  assert.ok(!realTime.test('this.#clock.setTimeout(f, 1);'));
});

// The log is passed in: no module keeps one of its own, and only the CLI writes to stderr for it.
test('no module makes a logger that writes on its own (the log is passed down)', () => {
  const offenders = walk(src).filter((f) => {
    const t = readFileSync(f, 'utf8');
    return /^[^*/\n]*\bnew Logger\(/m.test(t) && !/src[/\\](cli|util)[/\\]/.test(f);
  });
  assert.deepEqual(
    offenders.map((f) => relative(root, f)),
    [],
  );
});

test('the layer check itself catches a violation', () => {
  // guards against a regex that silently matches nothing
  const sample = `import { x } from '../session/session.js';\nexport { y } from './y.js';`;
  const re = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+['"]([^'"]+)['"]/g;
  const found = [...sample.matchAll(re)].map((m) => m[1]);
  assert.deepEqual(found, ['../session/session.js', './y.js']);
  assert.ok(importsOf(join(src, 'cli', 'main.ts')).some((s) => s.includes('cmd-create')));
});
