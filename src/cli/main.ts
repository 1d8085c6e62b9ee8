// The `bitswarm` command: dispatch, and the exit-code contract (0 ok, 1 runtime failure,
// 2 bad usage or bad input; one line per error, a stack trace only with --debug).
// What the commands are and what they take lives in commands.ts; here, only how each one runs.

import { humanLine, Logger, type LogLevel, lineSink, parseLogLevel } from '../util/logger.js';
import { VERSION } from '../util/version.js';
import {
  COMMANDS,
  type CommandName,
  commandHelp,
  GLOBAL_OPTIONS,
  isCommand,
  optionLines,
} from './commands.js';
import { loadConfig, useConfig } from './config.js';

/** A command runs with its arguments and the log (human lines on stderr; the daemon makes its own). */
type Run = (argv: string[], log: Logger) => Promise<number>;

// Commands load on demand: `bitswarm create` should not pay for the session's modules.
const remote =
  (name: string): (() => Promise<Run>) =>
  async () => {
    const m = await import('./cmd-remote.js');
    return (a, log) => m.runRemote(name, a, log);
  };

const runners: Record<CommandName, () => Promise<Run>> = {
  create: async () => (await import('./cmd-create.js')).runCreate,
  info: async () => (await import('./cmd-info.js')).runInfo,
  download: async () => {
    const m = await import('./cmd-download.js');
    return (a, log) => m.runDownload(a, 'download', log);
  },
  seed: async () => {
    const m = await import('./cmd-download.js');
    return (a, log) => m.runDownload(a, 'seed', log);
  },
  stream: async () => (await import('./cmd-stream.js')).runStream,
  share: async () => (await import('./cmd-share.js')).runShare,
  tracker: async () => (await import('./cmd-tracker.js')).runTracker,
  daemon: async () => (await import('./cmd-daemon.js')).runDaemon,
  add: remote('add'),
  ls: remote('ls'),
  show: remote('show'),
  pause: remote('pause'),
  resume: remote('resume'),
  rm: remote('rm'),
  limits: remote('limits'),
  prio: remote('prio'),
  recheck: remote('recheck'),
  move: remote('move'),
  reannounce: remote('reannounce'),
  set: remote('set'),
  help: async () => runHelp,
  completion: async () => (await import('./completion.js')).runCompletion,
};

/** Error codes that mean the user's input was bad (exit 2), not that something failed (exit 1). */
const BAD_INPUT_CODES = new Set(['ERR_USAGE', 'ERR_METAINFO', 'ERR_MAGNET', 'ERR_BENCODE', 'ERR_CREATE']);

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(11)} ${c.summary}`);
  return `bitswarm ${VERSION}: a BitTorrent peer — client, server and tracker at once

usage: bitswarm <command> [options]

commands:
${lines.join('\n')}

options of every command:
${optionLines(GLOBAL_OPTIONS)}

examples:
  bitswarm share ./photos
  bitswarm download photos.torrent -d ~/Downloads --seed
  bitswarm help download`;
}

async function runHelp(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    process.stdout.write(`${usage()}\n`);
    return 0;
  }
  if (rest.length || !isCommand(name)) {
    process.stderr.write(`bitswarm: help: unknown command "${argv.join(' ')}" (see bitswarm help)\n`);
    return 2;
  }
  process.stdout.write(`${commandHelp(name)}\n`);
  return 0;
}

/**
 * Takes the global option `--NAME VALUE` / `--NAME=VALUE` out of the arguments (it is for main, not
 * the command); `flags` (no value) are taken out too and counted. Stops at `--`.
 */
function takeGlobal(
  args: string[],
  name: string,
  arg: string,
  flags: readonly string[] = [],
): { args: string[]; value: string | undefined; flagged: boolean } {
  const out: string[] = [];
  let value: string | undefined;
  let flagged = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      out.push(...args.slice(i));
      break;
    }
    if (a === `--${name}`) {
      value = args[++i];
      if (value === undefined)
        throw Object.assign(new Error(`--${name} needs a value (--${name} ${arg})`), { code: 'ERR_USAGE' });
    } else if (a.startsWith(`--${name}=`)) value = a.slice(name.length + 3);
    else if (flags.includes(a)) flagged = true;
    else out.push(a);
  }
  return { args: out, value, flagged };
}

/**
 * `--log-level LEVEL` (every command's, handled here) and `-v`/`--verbose`: the flag stays in the
 * arguments of the commands whose table has it (their one line per event). `--log-level` wins over
 * `-v`; without either the log shows warnings and errors.
 */
function takeLogging(command: CommandName, args: string[]): { args: string[]; level: LogLevel } {
  const own = Object.hasOwn(COMMANDS[command].options, 'verbose');
  const t = takeGlobal(args, 'log-level', 'LEVEL', own ? [] : ['-v', '--verbose']);
  const verbose = t.flagged || (own && t.args.some((a) => a === '-v' || a === '--verbose'));
  const level = t.value !== undefined ? parseLogLevel(t.value) : verbose ? 'info' : 'warn';
  return { args: t.args, level };
}

export async function main(argv: string[]): Promise<number> {
  const debug = argv.includes('--debug');
  try {
    const { args, value: config } = takeGlobal(
      argv.filter((a) => a !== '--debug'),
      'config',
      'FILE',
    );
    const [name, ...rest] = args;
    if (name === undefined || name === '--help' || name === '-h') {
      process.stdout.write(`${usage()}\n`);
      return name === undefined ? 2 : 0;
    }
    if (name === '--version' || name === '-V') {
      process.stdout.write(`${VERSION}\n`);
      return 0;
    }
    if (!isCommand(name)) {
      process.stderr.write(`bitswarm: unknown command "${name}" (see bitswarm help)\n`);
      return 2;
    }
    if (rest.includes('--help') || rest.includes('-h')) {
      process.stdout.write(`${commandHelp(name)}\n`);
      return 0;
    }
    useConfig(loadConfig(config));
    const logging = takeLogging(name, rest);
    const log = new Logger({
      level: logging.level,
      sink: lineSink((line) => process.stderr.write(line), humanLine),
    });
    return await (await runners[name]())(logging.args, log);
  } catch (err) {
    const code = (err as { code?: unknown } | null)?.code;
    const bad = typeof code === 'string' && BAD_INPUT_CODES.has(code);
    const msg = err instanceof Error ? err.message : String(err);
    process.stderr.write(`bitswarm: ${msg.split('\n')[0]}\n`);
    if (debug && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
    return bad ? 2 : 1;
  }
}
