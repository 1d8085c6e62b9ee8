// `bitswarm download <torrent|magnet> [-d DIR] [--peer HOST:PORT]... [--seed] [--json]` and
// `bitswarm seed <torrent> -d DIR`: one session, one torrent, live progress.

import { loadTorrentArg } from '../lib/source.js';
import type { Metainfo } from '../protocol/metainfo.js';
import { TorrentManager } from '../session/manager.js';
import type { Session } from '../session/session.js';
import { StateStore } from '../session/state-store.js';
import type { Torrent } from '../swarm/torrent.js';
import { UsageError } from '../util/errors.js';
import { formatBytes, formatDuration, formatRate } from '../util/format.js';
import { parse } from './args.js';
import { netHelp, netOptions, readNetOptions, startSession } from './net-options.js';

export const downloadHelp = `usage: bitswarm download <torrent|magnet> [options]
  -d, --dir DIR            download directory (default: the current one)
  --state DIR              keep resume data and settings there: a stopped or killed download
                           resumes where it left off when run again with the same --state
  --seed                   keep seeding after the download completes (until Ctrl-C)
  --sequential             download pieces in order
  --json                   progress as JSON lines on stdout
  -q, --quiet              no progress display
${netHelp}`;

export const seedHelp = `usage: bitswarm seed <torrent> -d DIR [options]
  -d, --dir DIR            where the data is
  --json                   progress as JSON lines on stdout
${netHelp}`;

export interface RunOptions {
  mode: string;
  json: boolean;
  quiet: boolean;
  keepSeeding: boolean;
}

/** Output of a running command: a live line on a terminal, JSON lines with --json. */
export class Reporter {
  readonly #o: RunOptions;
  #line = false;
  constructor(o: RunOptions) {
    this.#o = o;
  }
  get tty(): boolean {
    return process.stderr.isTTY === true && !this.#o.json && !this.#o.quiet;
  }
  json(obj: Record<string, unknown>): void {
    if (this.#o.json) process.stdout.write(`${JSON.stringify({ time: Date.now(), ...obj })}\n`);
  }
  say(line: string): void {
    if (this.#o.json || this.#o.quiet) return;
    process.stderr.write(`${this.#line ? '\n' : ''}${line}\n`);
    this.#line = false;
  }
  live(line: string): void {
    if (!this.tty) return;
    process.stderr.write(`\r${line}\x1b[K`);
    this.#line = true;
  }
}

/**
 * Runs one torrent in a session until it completes (or, when seeding, until SIGINT/SIGTERM).
 * `add` adds the torrent and calls `attach` with it before it starts. Resolves with the exit code.
 */
export async function runTorrent(
  session: Session,
  o: RunOptions,
  add: (attach: (t: Torrent) => void, signal: AbortSignal) => Promise<unknown>,
  beforeStop?: () => Promise<void>,
): Promise<number> {
  const r = new Reporter(o);
  const ac = new AbortController();
  let torrent: Torrent | undefined;
  let finished = false;
  const started = Date.now();
  const code = await new Promise<number>((resolve) => {
    const onSignal = (sig: string): void => {
      r.say(`${sig}: stopping`);
      resolve(finished ? 0 : 1);
    };
    const onInt = (): void => onSignal('SIGINT');
    const onTerm = (): void => onSignal('SIGTERM');
    process.once('SIGINT', onInt);
    process.once('SIGTERM', onTerm);
    ac.signal.addEventListener('abort', () => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
    });
    const progress = (): void => {
      if (!torrent) {
        r.live('fetching metadata…');
        return;
      }
      const m = torrent.metainfo;
      const now = Date.now();
      const have = torrent.verifiedBytes;
      const down = torrent.downloadMeter.rate(now);
      const up = torrent.uploadMeter.rate(now);
      const pct = m.totalLength > 0 ? (100 * have) / m.totalLength : 100;
      const eta = down > 0 ? (m.totalLength - have) / down : Number.NaN;
      r.json({
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
      r.live(
        `${torrent.state.padEnd(11)} ${pct.toFixed(1).padStart(5)}%  ↓ ${formatRate(down).padStart(11)}  ↑ ${formatRate(up).padStart(11)}  peers ${torrent.peerCount}  ETA ${torrent.complete ? '0s' : formatDuration(eta)}`,
      );
    };
    const timer = setInterval(progress, 1000);
    ac.signal.addEventListener('abort', () => clearInterval(timer));
    const attach = (t: Torrent): void => {
      torrent = t;
      const m = t.metainfo;
      r.say(
        `bitswarm ${o.mode}: ${m.name} (${formatBytes(m.totalLength)}, ${m.pieceCount} pieces), port ${session.port}`,
      );
      r.json({
        event: 'start',
        infoHash: m.infoHashHex,
        name: m.name,
        port: session.port,
        totalLength: m.totalLength,
      });
      t.on('check:progress', (c, total) => r.live(`checking ${c}/${total} pieces`));
      t.on('peer:banned', (host) => {
        r.say(`banned ${host}: sent data that failed the hash check`);
        r.json({ event: 'banned', host });
      });
      t.on('peer:connect', (peer, encryption) => r.json({ event: 'peer', peer, encryption }));
      t.on('peer:encryption-hint', (peer) => {
        r.say(`peer ${peer} closed after the handshake; it may require encryption`);
        r.json({ event: 'encryption-hint', peer, encryption: session.encryption });
      });
      t.on('torrent:verified', () => {
        r.json({ event: 'verified', seconds: (Date.now() - started) / 1000 });
      });
      t.on('torrent:complete', () => {
        finished = true;
        progress();
        const secs = (Date.now() - started) / 1000;
        r.say(
          `complete: ${m.name} — every piece verified, now seeding (${formatBytes(t.downloadedBytes)} downloaded in ${formatDuration(secs)})`,
        );
        r.json({
          event: 'complete',
          downloaded: t.downloadedBytes,
          uploaded: t.uploadedBytes,
          seconds: secs,
        });
        if (!o.keepSeeding) resolve(0);
      });
      t.on('torrent:error', (err) => {
        r.say(`error: ${err.message}`);
        r.json({ event: 'error', message: err.message });
        resolve(1);
      });
    };
    add(attach, ac.signal).catch((err: Error) => {
      if (ac.signal.aborted) return;
      r.say(`error: ${err.message}`);
      r.json({ event: 'error', message: err.message });
      resolve(1);
    });
  });
  ac.abort();
  await beforeStop?.();
  await session.stop();
  return code;
}

export async function runDownload(argv: string[], mode: 'download' | 'seed' = 'download'): Promise<number> {
  const { values, positionals } = parse(mode, argv, {
    dir: { type: 'string', short: 'd' },
    state: { type: 'string' },
    seed: { type: 'boolean' },
    sequential: { type: 'boolean' },
    json: { type: 'boolean' },
    quiet: { type: 'boolean', short: 'q' },
    ...netOptions,
  });
  if (positionals.length !== 1)
    throw new UsageError(`${mode}: expected one <torrent${mode === 'download' ? '|magnet' : ''}>`);
  if (mode === 'seed' && !values.dir) throw new UsageError('seed: -d DIR is required (where the data is)');
  const net = readNetOptions(mode, values);
  const loaded = await loadTorrentArg(positionals[0]!);
  if (loaded.kind === 'magnet' && mode === 'seed')
    throw new UsageError('seed: needs a .torrent, not a magnet link');
  const session = await startSession(net, values.state ? { stateDir: values.state } : {});
  const dir = values.dir ?? '.';
  if (values.state) {
    // With a state directory the download survives a stop or a crash: resume data is kept there.
    const store = new StateStore(values.state);
    const manager = new TorrentManager({ session, store });
    const hex = loaded.kind === 'magnet' ? loaded.magnet.infoHashHex : loaded.metainfo.infoHashHex;
    const opts = {
      mode,
      json: values.json === true,
      quiet: values.quiet === true,
      keepSeeding: mode === 'seed' || values.seed === true,
    };
    return runTorrent(
      session,
      opts,
      async (attach) => {
        manager.on('torrent:active', (h, t) => {
          if (h === hex) attach(t);
        });
        manager.on('torrent:error', (h, message) => {
          if (h === hex) process.stderr.write(`bitswarm: ${message}\n`);
        });
        for (const w of await manager.load()) process.stderr.write(`bitswarm: warning: ${w}\n`);
        manager.start();
        if (!manager.has(hex)) {
          await manager.add({
            dir,
            peers: net.peers,
            ...(values.sequential ? { sequential: true } : {}),
            ...(loaded.kind === 'magnet' ? { magnet: loaded.magnet } : { metainfo: loaded.metainfo }),
          });
        } else {
          if (manager.recordOf(hex)?.paused) await manager.resume(hex);
          manager.addPeers(hex, net.peers);
        }
      },
      () => manager.stop(),
    );
  }
  const opts = {
    mode,
    json: values.json === true,
    quiet: values.quiet === true,
    keepSeeding: mode === 'seed' || values.seed === true,
  };
  return runTorrent(session, opts, (attach, signal) => {
    const common = {
      dir,
      peers: net.peers,
      onTorrent: attach,
      ...(values.sequential ? { sequential: true } : {}),
    };
    if (loaded.kind === 'magnet') return session.addMagnet(loaded.magnet, { ...common, signal });
    return session.add(loaded.metainfo as Metainfo, common);
  });
}
