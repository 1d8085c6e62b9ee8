// The package as users get it: a copy of the checkout (what a fresh clone holds) is packed with
// `npm pack` (its prepack builds dist/), the tarball is installed globally into a temporary prefix
// and into a temporary app, both offline (the package has no runtime dependencies), and run from
// there: `bitswarm --version`, `create` and `info`; `import { Client } from 'bitswarm'`; the
// README's library example, verbatim; a deep import refused; the type declarations beside the entry.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { cp, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../api/helpers.js';

// dist/test/unit/project → repository root
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], cwd: string, timeoutMs = 300_000): Promise<Run> {
  return new Promise((done) => {
    // npm's own variables of an `npm test` around us (prefix, global, …) must not reach these npm runs.
    const env = Object.fromEntries(
      Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)),
    ) as NodeJS.ProcessEnv;
    execFile(
      cmd,
      args,
      { cwd, env: { ...env, NO_UPDATE_NOTIFIER: '1' }, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        done({ code, stdout, stderr });
      },
    );
  });
}

async function ok(cmd: string, args: string[], cwd: string): Promise<string> {
  const r = await run(cmd, args, cwd);
  assert.equal(r.code, 0, `${cmd} ${args.join(' ')} failed (${r.code}):\n${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

/** The files a fresh clone has: git's tracked and untracked-but-not-ignored files, else a walk. */
async function checkoutFiles(): Promise<string[]> {
  const git = await run('git', ['ls-files', '-co', '--exclude-standard', '-z'], root, 60_000);
  if (git.code === 0 && git.stdout.length > 0)
    return git.stdout.split('\0').filter((f) => f && existsSync(join(root, f)));
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(root, rel))) {
      if (rel === '' && ['node_modules', 'dist', '.git'].includes(name)) continue;
      const r = rel ? `${rel}/${name}` : name;
      if (statSync(join(root, r)).isDirectory()) walk(r);
      else out.push(r);
    }
  };
  walk('');
  return out;
}

let work: string;
let cleanup: () => Promise<void>;
let tarball: string;
let packed: string[];
const npm = 'npm';
const offline = ['--offline', '--no-audit', '--no-fund', '--loglevel=error'];

before(async () => {
  ({ dir: work, cleanup } = await tempDir('package'));
  const clone = join(work, 'clone');
  for (const f of await checkoutFiles()) {
    await mkdir(dirname(join(clone, f)), { recursive: true });
    await cp(join(root, f), join(clone, f));
  }
  // The build tools (dev dependencies) of this checkout: what `npm ci` installs in a fresh clone.
  await symlink(join(root, 'node_modules'), join(clone, 'node_modules'), 'dir');
  const out = await ok(npm, ['pack', '--json', '--pack-destination', work, '--loglevel=error'], clone);
  const info = JSON.parse(out.slice(out.indexOf('['))) as { filename: string; files: { path: string }[] }[];
  tarball = join(work, info[0]!.filename);
  packed = info[0]!.files.map((f) => f.path).sort();
});

after(async () => {
  await cleanup();
});

test('the tarball holds the compiled library and CLI with their declarations, and nothing else', {
  timeout: 600_000,
}, async () => {
  const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8'));
  assert.equal(pkg.dependencies, undefined, 'no runtime dependencies: it installs with Node alone');
  assert.equal(pkg.engines.node, '>=20');
  for (const f of ['package.json', 'README.md', 'LICENSE', 'bin/bitswarm.js'])
    assert.ok(packed.includes(f), f);
  for (const f of ['lib/index.js', 'lib/index.d.ts', 'cli/main.js', 'storage/hash-worker.js'])
    assert.ok(packed.includes(`dist/src/${f}`), f);
  const stray = packed.filter(
    (f) =>
      !['package.json', 'README.md', 'LICENSE', 'bin/bitswarm.js'].includes(f) &&
      !(f.startsWith('dist/src/') && (f.endsWith('.js') || f.endsWith('.d.ts'))),
  );
  assert.deepEqual(stray, [], 'only what the library and the CLI need');
  // Every compiled module has its source: no stale output of a file that no longer exists.
  for (const f of packed.filter((p) => p.startsWith('dist/src/') && p.endsWith('.js'))) {
    assert.ok(existsSync(join(root, f.slice('dist/'.length).replace(/\.js$/, '.ts'))), `${f} has no source`);
  }
  assert.match(await readFile(join(root, 'LICENSE'), 'utf8'), /^MIT License/);
});

test('npm install -g of the tarball gives a bitswarm that runs: --version, create, info', {
  timeout: 600_000,
}, async () => {
  const prefix = join(work, 'prefix');
  await ok(npm, ['install', '-g', '--prefix', prefix, ...offline, tarball], work);
  const bin = join(prefix, 'bin', 'bitswarm');
  const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8'));
  assert.equal((await ok(bin, ['--version'], work)).trim(), pkg.version);
  await writeFile(join(work, 'small.bin'), Buffer.alloc(100_000, 7));
  await ok(
    bin,
    ['create', join(work, 'small.bin'), '-o', join(work, 'small.torrent'), '--no-date', '-q'],
    work,
  );
  const info = JSON.parse(await ok(bin, ['info', join(work, 'small.torrent'), '--json'], work));
  assert.equal(info.name, 'small.bin');
  assert.equal(info.totalLength, 100_000);
  assert.match(info.infoHash, /^[0-9a-f]{40}$/);
  const bad = await run(bin, ['info', join(work, 'missing.torrent')], work);
  assert.equal(bad.code, 2);
  assert.equal(bad.stderr, `bitswarm: ${join(work, 'missing.torrent')}: no such file\n`);
});

test("an app that installs the tarball imports { Client } from 'bitswarm' and runs the README's example", {
  timeout: 600_000,
}, async () => {
  const app = join(work, 'app');
  await mkdir(app);
  await ok(npm, ['init', '-y', '--loglevel=error'], app);
  await ok(npm, ['install', ...offline, tarball], app);
  const installed = join(app, 'node_modules', 'bitswarm');
  const pkg = JSON.parse(await readFile(join(installed, 'package.json'), 'utf8'));
  // The declarations sit beside the entry and are what `types` names.
  assert.equal(pkg.types, './dist/src/lib/index.d.ts');
  assert.equal(pkg.exports['.'].types, pkg.types);
  const dts = await readFile(join(installed, pkg.types), 'utf8');
  assert.match(dts, /\bClient\b/);
  assert.match(
    await readFile(join(installed, 'dist/src/lib/client.d.ts'), 'utf8'),
    /add\(source: string \| Uint8Array/,
  );

  await writeFile(
    join(app, 'check.mjs'),
    `import { Client, Torrent, TorrentFile, UsageError, TorrentError, VERSION } from 'bitswarm';
import { readFileSync } from 'node:fs';
const pkg = JSON.parse(readFileSync(new URL(import.meta.resolve('bitswarm/package.json'))));
if (VERSION !== pkg.version) throw new Error('VERSION ' + VERSION);
for (const c of [Client, Torrent, TorrentFile, UsageError, TorrentError]) if (typeof c !== 'function') throw new Error('missing export');
const client = new Client({ port: 0, bind: '127.0.0.1', dht: false, lsd: false });
await client.ready();
const err = await client.add('nope.torrent').catch((e) => e);
console.log(JSON.stringify({ port: client.port, name: err.name, message: err.message }));
await client.close();
let deep = 'imported';
try { await import('bitswarm/dist/src/cli/main.js'); } catch (e) { deep = e.code; }
console.log(deep);`,
  );
  const [first, deep] = (await ok(process.execPath, ['check.mjs'], app)).trim().split('\n');
  const checked = JSON.parse(first!);
  assert.ok(checked.port > 0);
  assert.deepEqual([checked.name, checked.message], ['UsageError', 'nope.torrent: no such file']);
  assert.equal(deep, 'ERR_PACKAGE_PATH_NOT_EXPORTED', 'nothing internal is reachable by path');

  // The README's example, verbatim.
  const readme = await readFile(join(root, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('\n## Library'));
  const example = /```js\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(example, "the README's Library section has a js example");
  await writeFile(join(app, 'example.mjs'), example);
  const out = await ok(process.execPath, ['example.mjs'], app);
  assert.match(out, /^seeding hello\.txt: magnet:\?xt=urn:btih:[0-9a-f]{40}/);
  assert.match(out, /\nhello\.txt: 650000 bytes\n/);
  assert.match(out, /\n100%\n/);
  assert.match(out, /downloaded, byte-exact\n$/);
});
