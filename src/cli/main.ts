// The `bitswarm` command: dispatch, and the exit-code contract (0 ok, 1 runtime failure,
// 2 bad usage or bad input; one line per error, a stack trace only with --debug).
// What the commands are and what they take lives in commands.ts; here, only how each one runs.

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

type Run = (argv: string[]) => Promise<number>;

// Commands load on demand: `bitswarm create` should not pay for the session's modules.
const remote =
  (name: string): (() => Promise<Run>) =>
  async () => {
    const m = await import('./cmd-remote.js');
    return (a) => m.runRemote(name, a);
  };

const runners: Record<CommandName, () => Promise<Run>> = {
  create: async () => (await import('./cmd-create.js')).runCreate,
  info: async () => (await import('./cmd-info.js')).runInfo,
  download: async () => {
    const m = await import('./cmd-download.js');
    return (a) => m.runDownload(a, 'download');
  },
  seed: async () => {
    const m = await import('./cmd-download.js');
    return (a) => m.runDownload(a, 'seed');
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

/** Takes `--config FILE` / `--config=FILE` out of the arguments (it is for main, not the command). */
function takeConfig(args: string[]): { args: string[]; config: string | undefined } {
  const out: string[] = [];
  let config: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      out.push(...args.slice(i));
      break;
    }
    if (a === '--config') {
      config = args[++i];
      if (config === undefined)
        throw Object.assign(new Error('--config needs a value (--config FILE)'), { code: 'ERR_USAGE' });
    } else if (a.startsWith('--config=')) config = a.slice('--config='.length);
    else out.push(a);
  }
  return { args: out, config };
}

export async function main(argv: string[]): Promise<number> {
  const debug = argv.includes('--debug');
  try {
    const { args, config } = takeConfig(argv.filter((a) => a !== '--debug'));
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
    return await (await runners[name]())(rest);
  } catch (err) {
    const code = (err as { code?: unknown } | null)?.code;
    const bad = typeof code === 'string' && BAD_INPUT_CODES.has(code);
    const msg = err instanceof Error ? err.message : String(err);
    process.stderr.write(`bitswarm: ${msg.split('\n')[0]}\n`);
    if (debug && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
    return bad ? 2 : 1;
  }
}
