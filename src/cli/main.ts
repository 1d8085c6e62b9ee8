// The `bitswarm` command: dispatch, and the exit-code contract (0 ok, 1 runtime failure,
// 2 bad usage or bad input; one line per error, a stack trace only with --debug).

import { CreateError } from '../storage/create-torrent.js';
import { BencodeError, MagnetError, MetainfoError, UsageError } from '../util/errors.js';
import { VERSION } from '../util/version.js';
import { createHelp, runCreate } from './cmd-create.js';
import { downloadHelp, runDownload, seedHelp } from './cmd-download.js';
import { infoHelp, runInfo } from './cmd-info.js';

type Command = { run: (argv: string[]) => Promise<number>; help: string; summary: string };

const commands: Record<string, Command> = {
  create: { run: runCreate, help: createHelp, summary: 'create a .torrent from a file or folder' },
  info: { run: runInfo, help: infoHelp, summary: 'show what a .torrent or magnet link holds' },
  download: {
    run: (a) => runDownload(a, 'download'),
    help: downloadHelp,
    summary: 'download a torrent (and seed it with --seed)',
  },
  seed: {
    run: (a) => runDownload(a, 'seed'),
    help: seedHelp,
    summary: 'check data on disk and serve it to peers',
  },
};

function usage(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`);
  return `bitswarm ${VERSION}: a BitTorrent peer — client, server and tracker at once\n\nusage: bitswarm <command> [options]\n\ncommands:\n${lines.join('\n')}\n\nbitswarm <command> --help shows a command's options. --debug prints stack traces.`;
}

export async function main(argv: string[]): Promise<number> {
  const debug = argv.includes('--debug');
  const args = argv.filter((a) => a !== '--debug');
  const [name, ...rest] = args;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${usage()}\n`);
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-V') {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const cmd = commands[name];
  if (!cmd) {
    process.stderr.write(`bitswarm: unknown command "${name}" (see bitswarm --help)\n`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${cmd.help}\n`);
    return 0;
  }
  try {
    return await cmd.run(rest);
  } catch (err) {
    const bad =
      err instanceof UsageError ||
      err instanceof MetainfoError ||
      err instanceof MagnetError ||
      err instanceof BencodeError ||
      err instanceof CreateError;
    const msg = err instanceof Error ? err.message : String(err);
    process.stderr.write(`bitswarm: ${msg.split('\n')[0]}\n`);
    if (debug && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
    return bad ? 2 : 1;
  }
}
