// The command table as users meet it: the README's command table and every `--help` agree with it;
// `bitswarm help CMD` shows that command's help; an unknown option is one line with a suggestion
// (exit 2); the completion scripts are valid shell; the config file gives defaults and a bad one is
// one line naming the file and the key.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse, suggestOption } from '../../../src/cli/args.js';
import { COMMANDS, type CommandName } from '../../../src/cli/commands.js';
import { bashCompletion, fishCompletion, zshCompletion } from '../../../src/cli/completion.js';
import { defaultDownloadDir, EMPTY_CONFIG, loadConfig, useConfig } from '../../../src/cli/config.js';
import { main } from '../../../src/cli/main.js';
import { runBitswarm } from '../../interop/helpers.js';

const README = new URL('../../../../README.md', import.meta.url);

/** Runs main() in this process and captures what it writes. */
async function capture(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  let stdout = '';
  let stderr = '';
  process.stdout.write = ((c: string | Uint8Array) => {
    stdout += String(c);
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = ((c: string | Uint8Array) => {
    stderr += String(c);
    return true;
  }) as typeof process.stderr.write;
  try {
    const code = await main(args);
    return { code, stdout, stderr };
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
}

/** The usage cells of the README's command table (the code in the first column, `\|` unescaped). */
async function readmeUsages(): Promise<string[]> {
  const text = await readFile(README, 'utf8');
  const start = text.indexOf('| command | what it does | example |');
  assert.ok(start >= 0, 'README has the command table');
  const rows = text.slice(start).split('\n').slice(2);
  const out: string[] = [];
  for (const row of rows) {
    if (!row.startsWith('|')) break;
    const first = row.split(/(?<!\\)\|/)[1]!.trim();
    const m = /^`(.*)`$/.exec(first);
    assert.ok(m, `README row's first cell is one code span: ${first}`);
    out.push(m[1]!.replace(/\\\|/g, '|'));
  }
  return out;
}

describe('the command table, the README and --help', () => {
  test('the README lists every command with the usage line --help prints, and nothing else', async () => {
    const usages = await readmeUsages();
    const names = Object.keys(COMMANDS) as CommandName[];
    assert.deepEqual(
      usages.map((u) => u.split(' ')[0]),
      names,
      'the README table has one row per command, in the order of the command table',
    );
    for (const name of names) {
      const help = await capture([name, '--help']);
      assert.equal(help.code, 0);
      const first = help.stdout.split('\n')[0]!;
      assert.equal(
        first,
        `usage: bitswarm ${usages[names.indexOf(name)]}`,
        `README and ${name} --help agree`,
      );
    }
  });

  test('every option in a usage line exists, and every command has examples in --help', async () => {
    for (const [name, c] of Object.entries(COMMANDS)) {
      for (const m of c.usage.matchAll(/(?<![\w-])(--?[a-z][\w-]*)/g)) {
        const flag = m[1]!;
        const opts = Object.entries(c.options as Record<string, { short?: string }>);
        const known = flag.startsWith('--')
          ? opts.some(([n]) => `--${n}` === flag)
          : opts.some(([, o]) => o.short !== undefined && `-${o.short}` === flag);
        assert.ok(known, `${name}: usage names ${flag}, which is not among its options`);
      }
      const help = await capture(['help', name]);
      assert.equal(help.code, 0);
      assert.match(help.stdout, new RegExp(`^usage: bitswarm ${name}`));
      assert.match(help.stdout, /\nexamples:\n {2}bitswarm /, `${name} --help has examples`);
      assert.equal(help.stdout, (await capture([name, '--help'])).stdout, 'help CMD and CMD --help agree');
    }
  });

  test('bitswarm help download shows the download options; help of an unknown command is exit 2', async () => {
    const h = await capture(['help', 'download']);
    assert.equal(h.code, 0);
    assert.match(h.stdout, /--only LIST/);
    assert.match(h.stdout, /--skip GLOB/);
    const bad = await capture(['help', 'downlaod']);
    assert.equal(bad.code, 2);
    assert.equal(bad.stderr.trim().split('\n').length, 1);
  });
});

describe('unknown options', () => {
  test('one line with a suggestion and exit 2, never the argument parser text', async () => {
    const r = await runBitswarm(['download', 'x.torrent', '--peers', '127.0.0.1:1']);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, 'bitswarm: unknown option --peers for download; did you mean --peer?\n');
    const r2 = await capture(['ls', '--jsn']);
    assert.equal(r2.code, 2);
    assert.equal(r2.stderr, 'bitswarm: unknown option --jsn for ls; did you mean --json?\n');
    const r3 = await capture(['create', 'x', '--zzzzzz']);
    assert.equal(r3.stderr, 'bitswarm: unknown option --zzzzzz for create; see bitswarm help create\n');
    const r4 = await capture(['download', 'x.torrent', '--dir']);
    assert.equal(r4.code, 2);
    assert.equal(r4.stderr, 'bitswarm: download: --dir needs a value (--dir DIR)\n');
    assert.doesNotMatch(r.stderr + r2.stderr + r3.stderr + r4.stderr, /positional|To specify/);
  });

  test('suggestions come from the command’s own options', () => {
    const o = COMMANDS.download.options;
    assert.equal(suggestOption('--peers', o), 'peer');
    assert.equal(suggestOption('--sequental', o), 'sequential');
    assert.equal(suggestOption('--download-limt', o), 'download-limit');
    assert.equal(suggestOption('--frobnicate', o), undefined);
  });
});

describe('shell completion', () => {
  test('bash, zsh and fish scripts are generated from the table and parse', async (t) => {
    const bash = bashCompletion();
    for (const name of Object.keys(COMMANDS))
      assert.ok(bash.includes(`    ${name})`), `bash completes ${name}`);
    assert.ok(bash.includes('--download-limit') && bash.includes('--only'));
    execFileSync('bash', ['-n'], { input: bash });
    // The script also loads and completes in a real bash.
    const words = execFileSync(
      'bash',
      [
        '-c',
        `${bash}\nCOMP_WORDS=(bitswarm downl); COMP_CWORD=1; _bitswarm; echo "\${COMPREPLY[@]}"; COMP_WORDS=(bitswarm download --pe); COMP_CWORD=2; _bitswarm; echo "\${COMPREPLY[@]}"`,
      ],
      { encoding: 'utf8' },
    );
    assert.deepEqual(words.trim().split('\n'), ['download', '--peer']);
    const r = await runBitswarm(['completion', 'bash']);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, bash);
    for (const [shell, text] of [
      ['zsh', zshCompletion()],
      ['fish', fishCompletion()],
    ] as const) {
      assert.ok(text.includes('download'));
      const has = spawnSync('sh', ['-c', `command -v ${shell}`]).status === 0;
      if (!has) {
        t.diagnostic(`${shell} is not installed: only generated, not checked with ${shell} -n`);
        continue;
      }
      const check = spawnSync(shell, ['-n'], { input: text, encoding: 'utf8' });
      assert.equal(check.status, 0, `${shell} -n: ${check.stderr}`);
    }
    const bad = await capture(['completion', 'tcsh']);
    assert.equal(bad.code, 2);
  });
});

describe('the config file', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bitswarm-config-'));
  });
  after(async () => {
    useConfig(EMPTY_CONFIG);
    await rm(dir, { recursive: true, force: true });
  });

  test('gives defaults for any option; a command section wins; the command line wins over both', async () => {
    const file = join(dir, 'config.json');
    await writeFile(
      file,
      JSON.stringify({
        port: 7000,
        'no-dht': true,
        peer: '127.0.0.1:1',
        download: { port: '7001', skip: ['*.txt'] },
      }),
    );
    useConfig(loadConfig(file));
    const d = parse('download', ['x.torrent']).values;
    assert.equal(d.port, '7001');
    assert.equal(d['no-dht'], true);
    assert.deepEqual(d.peer, ['127.0.0.1:1']);
    assert.deepEqual(d.skip, ['*.txt']);
    assert.equal(parse('seed', ['x.torrent']).values.port, '7000');
    assert.equal(parse('download', ['x.torrent', '--port', '9']).values.port, '9');
    useConfig(EMPTY_CONFIG);
    // Found at $XDG_CONFIG_HOME/bitswarm/config.json by a real process: the port comes from there.
    await writeFile(file, JSON.stringify({ json: true }));
    const xdg = join(dir, 'xdg');
    await (await import('node:fs/promises')).mkdir(join(xdg, 'bitswarm'), { recursive: true });
    await writeFile(
      join(xdg, 'bitswarm', 'config.json'),
      JSON.stringify({ 'piece-length': '32K', 'no-date': true }),
    );
    const data = join(dir, 'data.bin');
    await writeFile(data, Buffer.alloc(100_000, 7));
    const r = await runBitswarm(['create', data, '-o', join(dir, 'c.torrent'), '--json'], {
      env: { ...process.env, XDG_CONFIG_HOME: xdg },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { pieceLength: number }).pieceLength, 32 * 1024);
    // --config FILE chooses another file.
    const r2 = await runBitswarm(['--config', file, 'info', join(dir, 'c.torrent')]);
    assert.equal(r2.code, 0, r2.stderr);
    assert.doesNotThrow(() => JSON.parse(r2.stdout), 'json: true from --config FILE');
  });

  test('a bad config file is one line naming the file and the key, exit 2', async () => {
    const cases: [unknown, RegExp][] = [
      [{ prot: 1 }, /config\.json: key "prot": no command has an option --prot/],
      [{ 'no-dht': 'yes' }, /config\.json: key "no-dht": expected true or false/],
      [
        { download: { only: 3, bogus: 1 } },
        /config\.json: key "download\.bogus": download has no option --bogus/,
      ],
      [{ port: [1, 2] }, /config\.json: key "port": --port takes one value, not a list/],
    ];
    for (const [content, re] of cases) {
      const file = join(dir, 'config.json');
      await writeFile(file, JSON.stringify(content));
      const r = await capture(['--config', file, 'ls']);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stderr.trim().split('\n').length, 1);
      assert.match(r.stderr, re);
      assert.ok(r.stderr.includes(file), 'names the file');
    }
    await writeFile(join(dir, 'config.json'), '{ "port": 1, }');
    const r = await capture(['--config', join(dir, 'config.json'), 'ls']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /config\.json: not valid JSON/);
    const missing = await capture(['--config', join(dir, 'nope.json'), 'ls']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /nope\.json: cannot read the config file \(ENOENT\)/);
  });

  test('the default download folder follows XDG_DOWNLOAD_DIR, then user-dirs.dirs', async () => {
    assert.equal(defaultDownloadDir('.', { XDG_DOWNLOAD_DIR: '/srv/dl' }), '/srv/dl');
    const xdg = join(dir, 'ud');
    await (await import('node:fs/promises')).mkdir(xdg, { recursive: true });
    await writeFile(
      join(xdg, 'user-dirs.dirs'),
      '# written by xdg-user-dirs-update\nXDG_DOWNLOAD_DIR="$HOME/Telechargements"\n',
    );
    assert.equal(
      defaultDownloadDir('.', { XDG_CONFIG_HOME: xdg }),
      join((await import('node:os')).homedir(), 'Telechargements'),
    );
    assert.equal(defaultDownloadDir('.', { XDG_CONFIG_HOME: join(dir, 'none') }), '.');
  });
});
