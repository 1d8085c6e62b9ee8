// `bitswarm download <torrent|magnet> [-d DIR] [--peer HOST:PORT]... [--seed] [--json]` and
// `bitswarm seed <torrent> -d DIR`: one session, one torrent, live progress.

import { resolve } from 'node:path';
import { loadTorrentArg } from '../lib/source.js';
import type { Metainfo } from '../protocol/metainfo.js';
import type { DiagnosticEvent } from '../session/diagnostics.js';
import { etaSeconds, TorrentManager } from '../session/manager.js';
import type { Session } from '../session/session.js';
import { StateLock } from '../session/state-lock.js';
import { StateStore } from '../session/state-store.js';
import type { Torrent } from '../swarm/torrent.js';
import { UsageError } from '../util/errors.js';
import { formatBytes, formatDuration, formatRate } from '../util/format.js';
import { errorText, type Logger, silentLogger } from '../util/logger.js';
import { parse } from './args.js';
import { defaultDownloadDir } from './config.js';
import { type FileSelection, selectFiles } from './file-select.js';
import { readNetOptions, startSession } from './net-options.js';
import { onStopSignal } from './stop-signal.js';

export interface RunOptions {
  mode: string;
  json: boolean;
  quiet: boolean;
  keepSeeding: boolean;
  /** One line per diagnostic event (tracker replies and errors, refused peers, …). */
  verbose?: boolean;
  /** File priorities for the torrent once its file list is known (`--only`, `--skip`); throws a UsageError. */
  select?: (t: Torrent) => number[];
}

/** Redraws of the live line, at most this often (a check of 1,261 pieces a second drew 1,261 times). */
export const REDRAW_MS = 100;

/** Seconds between summary lines when stderr is not a terminal (as aria2 does); BITSWARM_SUMMARY_SECONDS overrides. */
export function summaryIntervalMs(env: NodeJS.ProcessEnv = process.env): number {
  const v = Number(env.BITSWARM_SUMMARY_SECONDS);
  return env.BITSWARM_SUMMARY_SECONDS !== undefined && Number.isFinite(v) && v > 0 ? v * 1000 : 30_000;
}

/** Output of a running command: a live line on a terminal, JSON lines with --json. */
export class Reporter {
  readonly #o: RunOptions;
  readonly #err: NodeJS.WriteStream;
  readonly #now: () => number;
  #line = false;
  #lastDrawMs = Number.NEGATIVE_INFINITY;
  constructor(o: RunOptions, io: { stderr?: NodeJS.WriteStream; now?: () => number } = {}) {
    this.#o = o;
    this.#err = io.stderr ?? process.stderr;
    this.#now = io.now ?? Date.now;
  }
  get tty(): boolean {
    return this.#err.isTTY === true && !this.#o.json && !this.#o.quiet;
  }
  /** Plain lines for logs: not a terminal, and neither --json nor --quiet. */
  get plain(): boolean {
    return this.#err.isTTY !== true && !this.#o.json && !this.#o.quiet;
  }
  json(obj: Record<string, unknown>): void {
    if (this.#o.json) process.stdout.write(`${JSON.stringify({ time: Date.now(), ...obj })}\n`);
  }
  say(line: string): void {
    if (this.#o.json || this.#o.quiet) return;
    this.#err.write(`${this.#line ? '\n' : ''}${line}\n`);
    this.#line = false;
  }
  /** A line for --verbose. */
  detail(line: string): void {
    if (this.#o.verbose) this.say(line);
  }
  /** Redraws the live line, at most every REDRAW_MS unless `force`. */
  live(line: string, force = false): void {
    if (!this.tty) return;
    const now = this.#now();
    if (!force && now - this.#lastDrawMs < REDRAW_MS) return;
    this.#lastDrawMs = now;
    this.#err.write(`\r${line}\x1b[K`);
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
  const started = Date.now();
  const code = await new Promise<number>((resolve) => {
    // Ctrl-C or SIGTERM: the same clean stop, then 130 or 143 (the shell's code for that signal).
    const offSignals = onStopSignal((sig, exitCode) => {
      r.say(`${sig}: stopping`);
      resolve(exitCode);
    });
    ac.signal.addEventListener('abort', offSignals);
    let lastSummaryMs = Date.now();
    const summaryMs = summaryIntervalMs();
    const progress = (): void => {
      if (!torrent) {
        // A magnet's info dict is on its way: progress lines say from how many peers, how much.
        const f = session.fetching()[0];
        if (!f) return;
        const size = f.metadataSize === undefined ? '?' : formatBytes(f.metadataSize);
        const line = `fetching metadata… peers ${f.peers}  ${formatBytes(f.metadataBytes)} of ${size}`;
        r.json({
          event: 'progress',
          state: 'metadata',
          infoHash: f.infoHashHex,
          peers: f.peers,
          metadataBytes: f.metadataBytes,
          ...(f.metadataSize !== undefined ? { metadataSize: f.metadataSize } : {}),
        });
        const now = Date.now();
        if (r.plain && now - lastSummaryMs >= summaryMs) {
          lastSummaryMs = now;
          r.say(`[${new Date(now).toISOString().slice(11, 19)}] ${line}`);
        }
        r.live(line, true);
        return;
      }
      const m = torrent.metainfo;
      const now = Date.now();
      const have = torrent.verifiedBytes;
      const down = torrent.downloadMeter.rate(now);
      const up = torrent.uploadMeter.rate(now);
      // Of the wanted bytes: with files skipped, 100% is every chosen file.
      const left = torrent.leftBytes;
      const wanted = have + left;
      const pct = wanted > 0 ? (100 * have) / wanted : 100;
      const eta = etaSeconds(left, down);
      const warnings = session.diagnosticsOf(m.infoHashHex)?.warnings(now) ?? [];
      const line = `${torrent.state.padEnd(11)} ${pct.toFixed(1).padStart(5)}%  ↓ ${formatRate(down).padStart(11)}  ↑ ${formatRate(up).padStart(11)}  peers ${torrent.peerCount}  ETA ${formatDuration(eta ?? Number.NaN)}`;
      if (r.plain && now - lastSummaryMs >= summaryMs) {
        // No terminal (systemd, CI): a summary line now and then, as aria2 does.
        lastSummaryMs = now;
        r.say(
          `[${new Date(now).toISOString().slice(11, 19)}] ${line.replace(/ {2,}/g, '  ')}  ${formatBytes(have)} of ${formatBytes(wanted)}${warnings.length ? `  (${warnings.join('; ')})` : ''}`,
        );
      }
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
        etaSec: eta,
        warnings,
      });
      // The live line keeps its short form: the first warning only.
      r.live(`${line}${warnings[0] ? `  ⚠ ${warnings[0]}` : ''}`, true);
    };
    const timer = setInterval(progress, Math.max(REDRAW_MS, Math.min(1000, summaryMs)));
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
      t.on('check:progress', (c, total) => r.live(`checking ${c}/${total} pieces`, c === total));
      if (o.select) {
        try {
          t.setFilePriorities(o.select(t));
        } catch (err) {
          r.say(`error: ${(err as Error).message}`);
          r.json({ event: 'error', message: (err as Error).message });
          resolve(2);
        }
      }
      const diag = session.diagnosticsOf(m.infoHashHex);
      const onDiagnostic = (d: DiagnosticEvent): void => {
        r.detail(d.message);
        r.json({
          event: 'diagnostic',
          kind: d.kind,
          message: d.message,
          ...(d.url ? { url: d.url } : {}),
          ...(d.address ? { address: d.address } : {}),
        });
      };
      diag?.on('diagnostic', onDiagnostic);
      ac.signal.addEventListener('abort', () => diag?.off('diagnostic', onDiagnostic));
      t.on('peer:banned', (address, scope) => {
        r.say(
          scope === 'host'
            ? `banned every peer at ${address}: several of its peers sent data that failed the hash check`
            : `banned ${address}: sent data that failed the hash check`,
        );
        r.json({ event: 'banned', peer: address, scope });
      });
      t.on('peer:connect', (peer, encryption, transport) =>
        r.json({ event: 'peer', peer, encryption, transport }),
      );
      t.on('peer:encryption-hint', (peer) => {
        r.say(`peer ${peer} closed after the handshake; it may require encryption`);
        r.json({ event: 'encryption-hint', peer, encryption: session.encryption });
      });
      t.on('torrent:verified', () => {
        r.json({ event: 'verified', seconds: (Date.now() - started) / 1000 });
      });
      t.on('torrent:complete', () => {
        progress();
        const secs = (Date.now() - started) / 1000;
        r.say(
          `complete: ${m.name} — every ${o.select ? 'chosen ' : ''}piece verified, ${o.keepSeeding ? 'now seeding (Ctrl-C stops)' : 'exiting'} (${formatBytes(t.downloadedBytes)} downloaded in ${formatDuration(secs)})`,
        );
        r.json({
          event: 'complete',
          downloaded: t.downloadedBytes,
          uploaded: t.uploadedBytes,
          seconds: secs,
          holepunch: session.holepunchStats,
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

export async function runDownload(
  argv: string[],
  mode: 'download' | 'seed' = 'download',
  log: Logger = silentLogger,
): Promise<number> {
  // seed takes a subset of download's options: read them with download's types.
  const { values, positionals } = parse(mode, argv) as ReturnType<typeof parse<'download'>>;
  if (positionals.length !== 1)
    throw new UsageError(`${mode}: expected one <torrent${mode === 'download' ? '|magnet' : ''}>`);
  if (mode === 'seed' && !values.dir) throw new UsageError('seed: -d DIR is required (where the data is)');
  const net = readNetOptions(mode, values);
  const loaded = await loadTorrentArg(positionals[0]!);
  if (loaded.kind === 'magnet' && mode === 'seed')
    throw new UsageError('seed: needs a .torrent, not a magnet link');
  const dir = values.dir ?? defaultDownloadDir('.');
  // --only / --skip: checked now for a .torrent (exit 2 before any socket), once the metadata is in for a magnet.
  let chosen: FileSelection | undefined;
  const choose = (m: Metainfo): FileSelection | undefined => {
    const sel = selectFiles(mode, m, values.only, values.skip);
    if (sel && !values.json && !values.quiet)
      process.stderr.write(
        `downloading ${sel.chosen} of ${sel.total} files (${formatBytes(sel.chosenBytes)} of ${formatBytes(m.totalLength)})\n`,
      );
    return sel;
  };
  if (loaded.kind === 'torrent') chosen = choose(loaded.metainfo);
  const select =
    values.only !== undefined || values.skip?.length
      ? (t: Torrent): number[] => {
          chosen ??= choose(t.metainfo);
          return chosen!.priorities;
        }
      : undefined;
  const opts: RunOptions = {
    mode,
    json: values.json === true,
    quiet: values.quiet === true,
    verbose: values.verbose === true,
    keepSeeding: mode === 'seed' || values.seed === true,
    ...(select ? { select } : {}),
  };
  // A state directory belongs to one process: refused while a daemon (or another download) holds it.
  const lock = values.state ? await StateLock.acquire(resolve(values.state), 'download') : undefined;
  const session = await startSession(net, {
    logger: log,
    ...(values.state ? { stateDir: values.state } : {}),
  }).catch(async (err: unknown) => {
    await lock?.release();
    throw err;
  });
  session.on('magnet:refused', (_hex, why) => process.stderr.write(`bitswarm: warning: ${why}\n`));
  if (values.state) {
    // With a state directory the download survives a stop or a crash: resume data is kept there.
    const store = new StateStore(values.state, log);
    const manager = new TorrentManager({ session, store });
    const hex = loaded.kind === 'magnet' ? loaded.magnet.infoHashHex : loaded.metainfo.infoHashHex;
    return runTorrent(
      session,
      opts,
      async (attach) => {
        manager.on('torrent:active', (h, t) => {
          if (h !== hex) return;
          attach(t);
          // Keep the choice for the next start.
          if (select)
            void manager
              .setFilePriorities(hex, select(t))
              .catch((err: unknown) =>
                log.warn('file choice not saved', { torrent: hex, error: errorText(err) }),
              );
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
            ...(chosen ? { priorities: chosen.priorities } : {}),
            ...(loaded.kind === 'magnet' ? { magnet: loaded.magnet } : { metainfo: loaded.metainfo }),
          });
        } else {
          if (manager.recordOf(hex)?.paused) await manager.resume(hex);
          manager.addPeers(hex, net.peers);
        }
      },
      () => manager.stop(),
    ).finally(() => lock?.release());
  }
  return runTorrent(session, opts, (attach, signal) => {
    const common = {
      dir,
      peers: net.peers,
      onTorrent: attach,
      ...(values.sequential ? { sequential: true } : {}),
      ...(chosen ? { torrentOptions: { filePriorities: chosen.priorities } } : {}),
    };
    if (loaded.kind === 'magnet') return session.addMagnet(loaded.magnet, { ...common, signal });
    return session.add(loaded.metainfo as Metainfo, common);
  });
}
