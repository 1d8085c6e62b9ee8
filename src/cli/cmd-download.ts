// `bitswarm download <torrent> [-d DIR] [--peer HOST:PORT]... [--seed] [--json]` and
// `bitswarm seed <torrent> -d DIR`: one session, one torrent, live progress.

import { Session, SessionError } from '../session/session.js';
import type { Torrent } from '../swarm/torrent.js';
import { UsageError } from '../util/errors.js';
import { formatBytes, formatDuration, formatRate } from '../util/format.js';
import { parse } from './args.js';
import { loadTorrentArg } from './load.js';
import { netHelp, netOptions, readNetOptions } from './net-options.js';

export const downloadHelp = `usage: bitswarm download <torrent> [options]
  -d, --dir DIR            download directory (default: the current one)
  --seed                   keep seeding after the download completes (until Ctrl-C)
  --sequential             download pieces in order
  --json                   progress as JSON lines on stdout
${netHelp}`;

export const seedHelp = `usage: bitswarm seed <torrent> -d DIR [options]
  -d, --dir DIR            where the data is
  --json                   progress as JSON lines on stdout
${netHelp}`;

const DEFAULT_PORT = 6881;

export async function startSession(port: number | undefined, bind: string | undefined): Promise<Session> {
  const candidates = port !== undefined ? [port] : [DEFAULT_PORT, DEFAULT_PORT + 1, DEFAULT_PORT + 2, 0];
  let last: unknown;
  for (const p of candidates) {
    const s = new Session({ port: p, ...(bind ? { bind } : {}) });
    try {
      await s.start();
      return s;
    } catch (err) {
      last = err;
      await s.stop();
      if (port !== undefined) throw err;
    }
  }
  throw last instanceof Error ? last : new SessionError('cannot listen');
}

export async function runDownload(argv: string[], mode: 'download' | 'seed' = 'download'): Promise<number> {
  const { values, positionals } = parse(mode, argv, {
    dir: { type: 'string', short: 'd' },
    seed: { type: 'boolean' },
    sequential: { type: 'boolean' },
    json: { type: 'boolean' },
    quiet: { type: 'boolean', short: 'q' },
    ...netOptions,
  });
  if (positionals.length !== 1) throw new UsageError(`${mode}: expected one <torrent>`);
  if (mode === 'seed' && !values.dir) throw new UsageError('seed: -d DIR is required (where the data is)');
  const net = readNetOptions(mode, values);
  const loaded = await loadTorrentArg(positionals[0]!);
  if (loaded.kind === 'magnet') {
    throw new UsageError(
      `${mode}: magnet links need metadata exchange, which is not supported yet; use a .torrent`,
    );
  }
  const m = loaded.metainfo;
  const keepSeeding = mode === 'seed' || values.seed === true;
  const json = values.json === true;
  const out = (obj: Record<string, unknown>): void => {
    if (json) process.stdout.write(`${JSON.stringify({ time: Date.now(), ...obj })}\n`);
  };
  const say = (line: string): void => {
    if (!json && !values.quiet) process.stderr.write(`${line}\n`);
  };

  const session = await startSession(net.port, net.bind);
  say(
    `bitswarm ${mode}: ${m.name} (${formatBytes(m.totalLength)}, ${m.pieceCount} pieces), port ${session.port}`,
  );
  out({
    event: 'start',
    infoHash: m.infoHashHex,
    name: m.name,
    port: session.port,
    totalLength: m.totalLength,
  });

  let torrent: Torrent | undefined;
  let finished = false;
  let timer: NodeJS.Timeout | undefined;
  const done = new Promise<number>((resolve) => {
    const stop = (sig: string): void => {
      say(`\n${sig}: stopping`);
      resolve(finished ? 0 : 1);
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
    const started = Date.now();
    let line = false;
    const tty = process.stderr.isTTY && !json && !values.quiet;
    const progress = (): void => {
      if (!torrent) return;
      const now = Date.now();
      const have = torrent.verifiedBytes;
      const down = torrent.downloadMeter.rate(now);
      const up = torrent.uploadMeter.rate(now);
      const pct = m.totalLength > 0 ? (100 * have) / m.totalLength : 100;
      const eta = down > 0 ? (m.totalLength - have) / down : Number.NaN;
      if (json) {
        out({
          event: 'progress',
          state: torrent.state,
          verifiedBytes: have,
          percent: Number(pct.toFixed(2)),
          downloadRate: Math.round(down),
          uploadRate: Math.round(up),
          peers: torrent.peerCount,
          downloaded: torrent.downloadedBytes,
          uploaded: torrent.uploadedBytes,
        });
      } else if (tty) {
        process.stderr.write(
          `\r${torrent.state.padEnd(11)} ${pct.toFixed(1).padStart(5)}%  ↓ ${formatRate(down).padStart(11)}  ↑ ${formatRate(up).padStart(11)}  peers ${torrent.peerCount}  ETA ${torrent.complete ? '0s' : formatDuration(eta)}\x1b[K`,
        );
        line = true;
      }
    };
    timer = setInterval(progress, 1000);
    const attach = (t: Torrent): void => {
      torrent = t;
      t.on('check:progress', (c, total) => {
        if (tty) process.stderr.write(`\rchecking ${c}/${total} pieces\x1b[K`);
      });
      t.on('peer:banned', (host) => {
        say(`${line ? '\n' : ''}banned ${host}: sent data that failed the hash check`);
        out({ event: 'banned', host });
      });
      t.on('torrent:complete', () => {
        finished = true;
        progress();
        const secs = (Date.now() - started) / 1000;
        say(
          `${line ? '\n' : ''}complete: ${m.name} — every piece verified, now seeding (${formatBytes(t.downloadedBytes)} downloaded in ${formatDuration(secs)})`,
        );
        out({ event: 'complete', downloaded: t.downloadedBytes, uploaded: t.uploadedBytes, seconds: secs });
        line = false;
        if (!keepSeeding) resolve(0);
      });
      t.on('torrent:error', (err) => {
        say(`${line ? '\n' : ''}error: ${err.message}`);
        out({ event: 'error', message: err.message });
        resolve(1);
      });
    };
    session
      .add(m, {
        dir: values.dir ?? '.',
        peers: net.peers,
        onTorrent: attach,
        ...(values.sequential ? { sequential: true } : {}),
      })
      .catch((err: Error) => {
        say(`error: ${err.message}`);
        out({ event: 'error', message: err.message });
        resolve(1);
      });
  });
  const code = await done;
  clearInterval(timer);
  await session.stop();
  return code;
}
