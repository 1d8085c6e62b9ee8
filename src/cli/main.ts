// The `bitswarm` command: dispatch, and the exit-code contract (0 ok, 1 runtime failure,
// 2 bad usage or bad input; one line per error, a stack trace only with --debug).

import { VERSION } from '../util/version.js';

// Commands load on demand: `bitswarm create` should not pay for the session's modules.
type Command = {
  load: () => Promise<{ run: (argv: string[]) => Promise<number>; help: string }>;
  summary: string;
};

const commands: Record<string, Command> = {
  create: {
    load: async () => {
      const m = await import('./cmd-create.js');
      return { run: m.runCreate, help: m.createHelp };
    },
    summary: 'create a .torrent from a file or folder',
  },
  info: {
    load: async () => {
      const m = await import('./cmd-info.js');
      return { run: m.runInfo, help: m.infoHelp };
    },
    summary: 'show what a .torrent or magnet link holds',
  },
  download: {
    load: async () => {
      const m = await import('./cmd-download.js');
      return { run: (a) => m.runDownload(a, 'download'), help: m.downloadHelp };
    },
    summary: 'download a torrent (and seed it with --seed)',
  },
  seed: {
    load: async () => {
      const m = await import('./cmd-download.js');
      return { run: (a) => m.runDownload(a, 'seed'), help: m.seedHelp };
    },
    summary: 'check data on disk and serve it to peers',
  },
  stream: {
    load: async () => {
      const m = await import('./cmd-stream.js');
      return { run: m.runStream, help: m.streamHelp };
    },
    summary: 'download and serve the files over HTTP while they download (for players)',
  },
  share: {
    load: async () => {
      const m = await import('./cmd-share.js');
      return { run: m.runShare, help: m.shareHelp };
    },
    summary: 'share a file or folder: create a torrent tracked by this peer and seed it',
  },
  tracker: {
    load: async () => {
      const m = await import('./cmd-tracker.js');
      return { run: m.runTracker, help: m.trackerHelp };
    },
    summary: 'run the tracker alone (HTTP and UDP on one port)',
  },
  daemon: {
    load: async () => {
      const m = await import('./cmd-daemon.js');
      return { run: m.runDaemon, help: m.daemonHelp };
    },
    summary: 'run a session for many torrents, with state and a control API',
  },
  ...Object.fromEntries(
    (
      [
        ['add', 'add a torrent or magnet link to the daemon'],
        ['ls', "list the daemon's torrents"],
        ['show', 'show one torrent of the daemon: files, peers, trackers'],
        ['pause', 'pause a torrent of the daemon'],
        ['resume', 'resume a torrent of the daemon'],
        ['rm', 'remove a torrent from the daemon (--delete-data: and its files)'],
      ] as const
    ).map(([name, summary]) => [
      name,
      {
        load: async () => {
          const m = await import('./cmd-remote.js');
          return { run: (a: string[]) => m.runRemote(name, a), help: m.remoteHelp[name]! };
        },
        summary,
      },
    ]),
  ),
};

/** Error codes that mean the user's input was bad (exit 2), not that something failed (exit 1). */
const BAD_INPUT_CODES = new Set(['ERR_USAGE', 'ERR_METAINFO', 'ERR_MAGNET', 'ERR_BENCODE', 'ERR_CREATE']);

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
    process.stdout.write(`${(await cmd.load()).help}\n`);
    return 0;
  }
  try {
    return await (await cmd.load()).run(rest);
  } catch (err) {
    const code = (err as { code?: unknown } | null)?.code;
    const bad = typeof code === 'string' && BAD_INPUT_CODES.has(code);
    const msg = err instanceof Error ? err.message : String(err);
    process.stderr.write(`bitswarm: ${msg.split('\n')[0]}\n`);
    if (debug && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
    return bad ? 2 : 1;
  }
}
