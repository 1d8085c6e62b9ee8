// The command table: every command of `bitswarm`, its usage line, its options and examples. One
// source of truth: argument parsing (args.ts), `--help` and `bitswarm help CMD`, shell completion
// (completion.ts), the config file's keys (config.ts) and the README check (a test) all read it.
// No command module is imported here: `bitswarm create` must not pay for the session's modules.

/** One option. `arg` names its value in help (absent for flags); `complete` hints shell completion. */
export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  readonly multiple?: boolean;
  readonly arg?: string;
  readonly help: string;
  readonly complete?: 'file' | 'dir' | readonly string[];
}

export interface CommandSpec {
  /** What follows `bitswarm <name>` in the usage line (the README's table shows the same). */
  readonly usage: string;
  readonly summary: string;
  readonly options: Readonly<Record<string, OptionSpec>>;
  readonly examples: readonly string[];
  /** What the positional arguments are, for completion. */
  readonly positional?: 'file' | 'dir' | 'hash' | 'command' | 'shell' | 'none';
}

const net = {
  port: {
    type: 'string',
    arg: 'N',
    help: 'TCP and UDP port for peers, the tracker and the DHT (default 6881, or the next free one)',
  },
  bind: { type: 'string', arg: 'ADDR', help: 'address to listen on and connect from (default: all)' },
  peer: { type: 'string', multiple: true, arg: 'HOST:PORT', help: 'a peer to connect to (repeatable)' },
  'no-dht': { type: 'boolean', help: 'turn the DHT off' },
  'no-lsd': { type: 'boolean', help: 'turn local service discovery off' },
  'no-pex': { type: 'boolean', help: 'turn peer exchange off' },
  'no-upnp': { type: 'boolean', help: 'do not ask the router to forward the port with UPnP IGD' },
  'no-natpmp': { type: 'boolean', help: 'do not ask the router to forward the port with NAT-PMP / PCP' },
  'no-tracker': { type: 'boolean', help: 'do not run the embedded tracker on the port' },
  'open-tracker': { type: 'boolean', help: 'the embedded tracker tracks any info hash, not only ours' },
  'dht-bootstrap': {
    type: 'string',
    multiple: true,
    arg: 'HOST:PORT',
    help: 'DHT bootstrap node (repeatable; replaces the default list; "none" starts a new DHT)',
  },
  'upload-limit': { type: 'string', arg: 'RATE', help: 'cap upload, bytes per second (e.g. 500K, 2M)' },
  'download-limit': { type: 'string', arg: 'RATE', help: 'cap download, bytes per second' },
  'max-per-ip': {
    type: 'string',
    arg: 'N',
    help: 'most connections of a torrent to one IP address (default 8)',
  },
  'super-seed': {
    type: 'boolean',
    help: 'initial seeding (BEP 16) always: a torrent that starts complete offers each piece to one leecher at a time, again only once it was passed on (by default it does so while it is the only source and more than one leecher is there)',
  },
  'no-super-seed': {
    type: 'boolean',
    help: 'no initial seeding: every peer hears of every piece at once',
  },
  'allow-local-peers': {
    type: 'boolean',
    help: "let magnet links name trackers and peers on loopback, link-local or this machine's own addresses (refused by default; --peer is always allowed)",
  },
  encryption: {
    type: 'string',
    arg: 'MODE',
    complete: ['prefer', 'require', 'off'],
    help: 'protocol encryption (MSE/PE): prefer (default: an encrypted handshake first, plaintext for peers without it; the data is RC4 when the other side asks for it), require (encrypted only, both ways), off (dial plaintext; encrypted peers are still accepted)',
  },
  transport: {
    type: 'string',
    arg: 'MODE',
    complete: ['both', 'tcp', 'utp'],
    help: 'peer connections over tcp, utp (BEP 29, on the UDP port) or both (default: both accepted; dial TCP first, uTP first for peers known to speak it, the other one when the first fails)',
  },
} as const satisfies Record<string, OptionSpec>;

const output = {
  json: { type: 'boolean', help: 'JSON lines on stdout' },
  quiet: { type: 'boolean', short: 'q', help: 'no progress display' },
  verbose: {
    type: 'boolean',
    short: 'v',
    help: 'one line per event: tracker replies and errors, refused peers, …',
  },
} as const satisfies Record<string, OptionSpec>;

/** Commands that write downloaded data (download, stream, seed, share, daemon). */
const data = {
  'no-part-suffix': {
    type: 'boolean',
    help: 'write incomplete files under their own names (default: <name>.part until every piece of the file is verified)',
  },
} as const satisfies Record<string, OptionSpec>;

const remote = {
  state: {
    type: 'string',
    arg: 'DIR',
    complete: 'dir',
    help: "the daemon's state directory (default: $XDG_STATE_HOME/bitswarm)",
  },
  api: {
    type: 'string',
    arg: 'HOST:PORT',
    help: "the daemon's API address (default: read from <state>/api.json)",
  },
  json: { type: 'boolean', help: 'JSON output' },
} as const satisfies Record<string, OptionSpec>;

const all = { all: { type: 'boolean', help: 'every torrent of the daemon' } } as const satisfies Record<
  string,
  OptionSpec
>;

/** pause and resume: one torrent by its hash, or all of them. */
function oneOrAll<V extends 'pause' | 'resume'>(verb: V) {
  return {
    usage: `${verb} <info-hash>|--all`,
    summary: `${verb} a torrent of the daemon (or all)`,
    positional: 'hash',
    options: { ...all, ...remote },
    examples: [`bitswarm ${verb} 4d42b93b`, `bitswarm ${verb} --all`],
  } as const;
}

export const COMMANDS = {
  create: {
    usage:
      'create <path> [-o FILE] [-a URL|host:port]... [--piece-length BYTES] [--private] [--comment TEXT] [--web-seed URL]... [--v1 | --v2 | --hybrid] [--exclude-hidden] [--no-date] [--threads N] [--force] [-q] [--json]',
    summary: 'create a .torrent from a file or folder',
    positional: 'file',
    options: {
      output: {
        type: 'string',
        short: 'o',
        arg: 'FILE',
        complete: 'file',
        help: 'where to write the .torrent (default: <name>.torrent)',
      },
      announce: {
        type: 'string',
        short: 'a',
        multiple: true,
        arg: 'URL',
        help: 'tracker URL or host:port (repeatable: one tier each; commas join a tier)',
      },
      'piece-length': {
        type: 'string',
        arg: 'BYTES',
        help: 'piece length, a power of two ≥ 16384 (default: about 1,000–2,000 pieces)',
      },
      private: { type: 'boolean', help: 'set the private flag (BEP 27)' },
      comment: { type: 'string', arg: 'TEXT', help: 'free-form comment' },
      'web-seed': { type: 'string', multiple: true, arg: 'URL', help: 'web seed (BEP 19), repeatable' },
      v1: { type: 'boolean', help: 'a v1 torrent (BEP 3), the default: every client reads it' },
      v2: { type: 'boolean', help: 'a v2-only torrent (BEP 52: SHA-256 merkle trees per file)' },
      hybrid: {
        type: 'boolean',
        help: "a hybrid v1 + v2 torrent (BEP 52; libtorrent's info hashes; Transmission 3.00 and aria2 cannot use it)",
      },
      'exclude-hidden': { type: 'boolean', help: 'leave out files and folders whose names start with a dot' },
      'no-date': { type: 'boolean', help: 'omit the creation date (reproducible output)' },
      threads: { type: 'string', arg: 'N', help: 'hashing threads (default: all cores for large inputs)' },
      force: { type: 'boolean', help: 'overwrite the .torrent if it exists (refused by default)' },
      quiet: { type: 'boolean', short: 'q', help: 'no progress bar' },
      json: { type: 'boolean', help: 'print the result as JSON' },
    },
    examples: [
      'bitswarm create ./photos -a 192.168.1.10:6881',
      'bitswarm create big.iso -o big.torrent --piece-length 1M',
      'bitswarm create ./photos --hybrid',
    ],
  },
  info: {
    usage: 'info <torrent|magnet> [--json]',
    summary: 'show what a .torrent or magnet link holds',
    positional: 'file',
    options: { json: { type: 'boolean', help: 'print it as JSON' } },
    examples: ['bitswarm info photos.torrent', "bitswarm info 'magnet:?xt=urn:btih:…' --json"],
  },
  download: {
    usage:
      'download <torrent|magnet> [-d DIR] [--peer HOST:PORT]... [--seed] [--state DIR] [--sequential] [--only LIST] [--skip GLOB]... [--json]',
    summary: 'download a torrent (and seed it with --seed)',
    positional: 'file',
    options: {
      dir: {
        type: 'string',
        short: 'd',
        arg: 'DIR',
        complete: 'dir',
        help: 'download directory (default: $XDG_DOWNLOAD_DIR, else the current one)',
      },
      state: {
        type: 'string',
        arg: 'DIR',
        complete: 'dir',
        help: 'keep resume data there: a stopped or killed download resumes where it left off',
      },
      seed: { type: 'boolean', help: 'keep seeding after the download completes (until Ctrl-C)' },
      sequential: { type: 'boolean', help: 'download pieces in order' },
      only: {
        type: 'string',
        arg: 'LIST',
        help: 'download only these files, by index (as `info` numbers them): 1,3-5',
      },
      skip: {
        type: 'string',
        multiple: true,
        arg: 'GLOB',
        help: 'skip the files whose path matches (repeatable): *.nfo, extras/**',
      },
      ...output,
      ...data,
      ...net,
    },
    examples: [
      'bitswarm download photos.torrent -d ~/Downloads',
      'bitswarm download big.torrent --only 0,2-4 --skip "*.txt"',
      "bitswarm download 'magnet:?xt=urn:btih:…' --seed --state ~/.local/state/bitswarm-dl",
    ],
  },
  stream: {
    usage: 'stream <torrent|magnet> [-d DIR] [--http HOST:PORT] [--file N] [--player CMD] [--json]',
    summary: 'download and serve the files over HTTP while they download (for players)',
    positional: 'file',
    options: {
      dir: {
        type: 'string',
        short: 'd',
        arg: 'DIR',
        complete: 'dir',
        help: 'download directory (default: $XDG_DOWNLOAD_DIR, else the current one)',
      },
      http: {
        type: 'string',
        arg: 'HOST:PORT',
        help: 'where to serve the files (default 127.0.0.1 and a free port)',
      },
      file: {
        type: 'string',
        arg: 'N',
        help: 'serve and prioritise file N only (its index, as `bitswarm info` lists them)',
      },
      player: {
        type: 'string',
        arg: 'CMD',
        help: "start CMD with the file's URL as its last argument (e.g. mpv); stream exits when it does",
      },
      ...output,
      ...data,
      ...net,
    },
    examples: [
      'bitswarm stream movie.torrent --player mpv',
      "bitswarm stream 'magnet:?xt=urn:btih:…' --file 0",
    ],
  },
  seed: {
    usage: 'seed <torrent> -d DIR [--peer HOST:PORT]...',
    summary: 'check data on disk and serve it to peers',
    positional: 'file',
    options: {
      dir: { type: 'string', short: 'd', arg: 'DIR', complete: 'dir', help: 'where the data is' },
      ...output,
      ...data,
      ...net,
    },
    examples: ['bitswarm seed photos.torrent -d ~/'],
  },
  share: {
    usage: 'share <path> [--port N] [-o FILE] [--force] [--announce-host HOST]',
    summary: 'share a file or folder: create a torrent tracked by this peer and seed it',
    positional: 'file',
    options: {
      output: {
        type: 'string',
        short: 'o',
        arg: 'FILE',
        complete: 'file',
        help: 'where to write the .torrent (default: <name>.torrent here)',
      },
      'announce-host': {
        type: 'string',
        arg: 'HOST',
        help: "the address other peers reach this one at (default: --bind, or this machine's first LAN address)",
      },
      private: { type: 'boolean', help: 'set the private flag' },
      force: { type: 'boolean', help: 'overwrite the .torrent if it exists (refused by default)' },
      ...output,
      ...data,
      ...net,
    },
    examples: ['bitswarm share ./photos', 'bitswarm share ./photos --announce-host 192.168.1.20 --port 7000'],
  },
  tracker: {
    usage: 'tracker [--port N]',
    summary: 'run the tracker alone (HTTP and UDP on one port)',
    positional: 'none',
    options: { json: output.json, quiet: output.quiet, ...net },
    examples: ['bitswarm tracker --port 6969'],
  },
  daemon: {
    usage:
      'daemon [--state DIR] [--port N] [--api HOST:PORT] [-d DIR] [--allow-dir DIR]... [--max-active-downloads N] [--max-active-seeds N] [--max-connections N] [--log-file FILE]',
    summary: 'run a session for many torrents, with state and a control API',
    positional: 'none',
    options: {
      state: {
        type: 'string',
        arg: 'DIR',
        complete: 'dir',
        help: 'state directory (default: $XDG_STATE_HOME/bitswarm or ~/.local/state/bitswarm)',
      },
      api: {
        type: 'string',
        arg: 'HOST:PORT',
        help: 'where the control API listens (default 127.0.0.1, a free port; written to <state>/api.json)',
      },
      'api-allow-host': {
        type: 'string',
        multiple: true,
        arg: 'NAME',
        help: 'also accept this Host header (repeatable)',
      },
      'allow-dir': {
        type: 'string',
        multiple: true,
        arg: 'DIR',
        complete: 'dir',
        help: 'the API may also download into DIR and the folders inside it (repeatable; by default only into the default download directory)',
      },
      dir: {
        type: 'string',
        short: 'd',
        arg: 'DIR',
        complete: 'dir',
        help: 'default download directory (default: $XDG_DOWNLOAD_DIR, else ~/Downloads)',
      },
      'max-active-downloads': {
        type: 'string',
        arg: 'N',
        help: 'torrents downloading at once (default 5; the rest are queued)',
      },
      'max-active-seeds': { type: 'string', arg: 'N', help: 'torrents seeding at once (default 20)' },
      'max-connections': {
        type: 'string',
        arg: 'N',
        help: 'peer connections over all torrents (default 500)',
      },
      'log-file': {
        type: 'string',
        arg: 'FILE',
        complete: 'file',
        help: 'append the log (JSON lines, at --log-level) to FILE instead of writing it on stderr',
      },
      ...output,
      ...data,
      ...net,
    },
    examples: [
      'bitswarm daemon',
      'bitswarm daemon --state /srv/bt/state -d /srv/bt/data --api 127.0.0.1:9091',
    ],
  },
  add: {
    usage: 'add <torrent|magnet> [-d DIR] [--peer HOST:PORT]... [--paused]',
    summary: 'add a torrent or magnet link to the daemon',
    positional: 'file',
    options: {
      dir: {
        type: 'string',
        short: 'd',
        arg: 'DIR',
        complete: 'dir',
        help: "download directory (default: the daemon's)",
      },
      peer: net.peer,
      paused: { type: 'boolean', help: 'add it paused' },
      ...remote,
    },
    examples: ['bitswarm add photos.torrent -d ~/Downloads'],
  },
  ls: {
    usage: 'ls',
    summary: "list the daemon's torrents",
    positional: 'none',
    options: remote,
    examples: ['bitswarm ls', 'bitswarm ls --json'],
  },
  show: {
    usage: 'show <info-hash>',
    summary: 'show one torrent of the daemon: files, peers, trackers, web seeds, warnings',
    positional: 'hash',
    options: remote,
    examples: ['bitswarm show 4d42b93b'],
  },
  pause: oneOrAll('pause'),
  resume: oneOrAll('resume'),
  rm: {
    usage: 'rm <info-hash> [--delete-data]',
    summary: 'remove a torrent from the daemon (--delete-data: and its files)',
    positional: 'hash',
    options: { 'delete-data': { type: 'boolean', help: "also delete the torrent's own files" }, ...remote },
    examples: ['bitswarm rm 4d42b93b --delete-data'],
  },
  limits: {
    usage: 'limits [<info-hash>] [--down RATE] [--up RATE]',
    summary: 'show or set rate limits: of the session, or of one torrent',
    positional: 'hash',
    options: {
      down: { type: 'string', arg: 'RATE', help: 'download limit, bytes per second (500K, 2M; 0: none)' },
      up: { type: 'string', arg: 'RATE', help: 'upload limit, bytes per second (0: none)' },
      ...remote,
    },
    examples: ['bitswarm limits', 'bitswarm limits --down 2M --up 500K', 'bitswarm limits 4d42b93b --down 0'],
  },
  prio: {
    usage: 'prio <info-hash> <file-indexes> skip|low|normal|high',
    summary: "set the priority of a torrent's files (indexes as `show` lists them: 0,2-4)",
    positional: 'hash',
    options: remote,
    examples: ['bitswarm prio 4d42b93b 0,2-4 high', 'bitswarm prio 4d42b93b 5 skip'],
  },
  recheck: {
    usage: 'recheck <info-hash>',
    summary: "check a torrent's data on disk again",
    positional: 'hash',
    options: remote,
    examples: ['bitswarm recheck 4d42b93b'],
  },
  move: {
    usage: 'move <info-hash> <dir>',
    summary: "move a torrent's data to another folder; it goes on from there",
    positional: 'hash',
    options: remote,
    examples: ['bitswarm move 4d42b93b /mnt/big/films'],
  },
  reannounce: {
    usage: 'reannounce <info-hash>',
    summary: 'announce a torrent to its trackers now',
    positional: 'hash',
    options: remote,
    examples: ['bitswarm reannounce 4d42b93b'],
  },
  set: {
    usage: 'set [<key> <value>]',
    summary: "show or change the daemon's session settings",
    positional: 'none',
    options: remote,
    examples: ['bitswarm set', 'bitswarm set max-active-downloads 3', 'bitswarm set download-limit 4M'],
  },
  help: {
    usage: 'help [<command>]',
    summary: "show a command's help",
    positional: 'command',
    options: {},
    examples: ['bitswarm help download'],
  },
  completion: {
    usage: 'completion bash|zsh|fish',
    summary: 'print a shell completion script',
    positional: 'shell',
    options: {},
    examples: [
      'bitswarm completion bash > ~/.local/share/bash-completion/completions/bitswarm',
      'bitswarm completion fish | source',
    ],
  },
} as const satisfies Record<string, CommandSpec>;

export type CommandName = keyof typeof COMMANDS;

export function isCommand(name: string): name is CommandName {
  return Object.hasOwn(COMMANDS, name);
}

/** Options every command takes, handled before the command runs. */
export const GLOBAL_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  config: {
    type: 'string',
    arg: 'FILE',
    complete: 'file',
    help: 'read defaults from FILE (default: $XDG_CONFIG_HOME/bitswarm/config.json)',
  },
  debug: { type: 'boolean', help: 'print stack traces with errors' },
  'log-level': {
    type: 'string',
    arg: 'LEVEL',
    complete: ['error', 'warn', 'info', 'debug', 'trace'],
    help: 'what goes to the log on stderr: error, warn (default), info, debug or trace (the daemon writes JSON lines)',
  },
  verbose: {
    type: 'boolean',
    short: 'v',
    help: 'log at info level (same as --log-level info); with download, seed, share, stream and daemon also one line per event',
  },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
};

function optionLabel(name: string, o: OptionSpec): string {
  return `${o.short ? `-${o.short}, ` : ''}--${name}${o.arg ? ` ${o.arg}` : ''}`;
}

/** Wraps `text` to `width` columns, each line after the first indented by `indent`. */
function wrap(text: string, width: number, indent: number): string {
  const words = text.split(' ');
  const lines: string[] = [];
  let line = '';
  for (const w of words) {
    if (line && line.length + 1 + w.length > width) {
      lines.push(line);
      line = w;
    } else line = line ? `${line} ${w}` : w;
  }
  if (line) lines.push(line);
  return lines.join(`\n${' '.repeat(indent)}`);
}

export function optionLines(options: Readonly<Record<string, OptionSpec>>): string {
  const col = 27;
  return Object.entries(options)
    .map(([name, o]) => {
      const label = `  ${optionLabel(name, o)}`;
      const help = wrap(o.help, 100 - col, col);
      return label.length < col - 1 ? `${label.padEnd(col)}${help}` : `${label}\n${' '.repeat(col)}${help}`;
    })
    .join('\n');
}

/** The text `bitswarm CMD --help` and `bitswarm help CMD` print. */
export function commandHelp(name: CommandName): string {
  const c: CommandSpec = COMMANDS[name];
  const parts = [`usage: bitswarm ${c.usage}`, '', `${c.summary[0]!.toUpperCase()}${c.summary.slice(1)}.`];
  if (Object.keys(c.options).length) parts.push('', 'options:', optionLines(c.options));
  parts.push('', 'examples:', ...c.examples.map((e) => `  ${e}`));
  return parts.join('\n');
}
