// `bitswarm daemon [--state DIR] [--port N] [--api HOST:PORT]`: one session for many torrents, its
// state kept in the state directory, driven through the control API (and the CLI commands that use it).
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { ApiServer } from '../api/server.js';
import { parseAddress } from '../protocol/address.js';
import { altSpeedsFor } from '../session/alt-speed.js';
import { TorrentManager } from '../session/manager.js';
import { StateLock, StateLockError } from '../session/state-lock.js';
import { defaultStateDir, type SessionSettings, StateStore } from '../session/state-store.js';
import { UsageError } from '../util/errors.js';
import { errorText, jsonLine, Logger, lineSink, silentLogger } from '../util/logger.js';
import { intOption, parse } from './args.js';
import { Reporter } from './cmd-download.js';
import { defaultDownloadDir } from './config.js';
import { readNetOptions, startSession } from './net-options.js';
import { stopSignal } from './stop-signal.js';

/**
 * The daemon's log: JSON lines at the level the command line chose, on stderr (what a service
 * manager collects) or appended to --log-file.
 */
async function daemonLog(
  level: Logger['level'],
  file: string | undefined,
): Promise<{ log: Logger; close(): Promise<void> }> {
  if (file === undefined) {
    const log = new Logger({ level, sink: lineSink((l) => process.stderr.write(l), jsonLine) });
    return { log, close: async () => undefined };
  }
  const out = createWriteStream(resolve(file), { flags: 'a', mode: 0o600 });
  await new Promise<void>((ok, fail) => {
    out.once('open', () => ok());
    out.once('error', (err) =>
      fail(new UsageError(`daemon: --log-file: cannot open ${file}: ${errorText(err)}`)),
    );
  });
  // A write error later (a full disk) is not worth stopping the daemon for; the log is best effort.
  out.on('error', () => undefined);
  const log = new Logger({ level, sink: lineSink((l) => out.write(l), jsonLine) });
  return { log, close: () => new Promise<void>((ok) => out.end(() => ok())) };
}

export async function runDaemon(argv: string[], cliLog: Logger = silentLogger): Promise<number> {
  const { values, positionals } = parse('daemon', argv);
  if (positionals.length > 0) throw new UsageError('daemon: takes no arguments (see bitswarm daemon --help)');
  const api = values.api !== undefined ? parseAddress(values.api, { allowPortZero: true }) : undefined;
  if (values.api !== undefined && !api)
    throw new UsageError(`daemon: --api: "${values.api}" is not HOST:PORT`);
  const allowDirs = (values['allow-dir'] ?? []).map((d) => resolve(d));
  const stateDir = resolve(values.state ?? defaultStateDir());
  const net = readNetOptions('daemon', values);
  const mad = intOption('daemon', 'max-active-downloads', values['max-active-downloads'], 0, 10_000);
  const mas = intOption('daemon', 'max-active-seeds', values['max-active-seeds'], 0, 100_000);
  const mc = intOption('daemon', 'max-connections', values['max-connections'], 1, 100_000);
  const r = new Reporter({
    mode: 'daemon',
    json: values.json === true,
    quiet: values.quiet === true,
    verbose: values.verbose === true,
    keepSeeding: true,
  });
  const started = Date.now();
  const logging = await daemonLog(cliLog.level, values['log-file']);
  const log = logging.log;
  const teardownLog = (): Promise<void> => logging.close();
  log.info('daemon starting', { state: stateDir });

  // Start-up: whatever fails, everything started so far is stopped again (in reverse order) and the
  // daemon exits 1 with one line; no port stays open without an API. What needs only the state
  // directory (writable, a token) comes before any port is opened.
  const teardown: (() => Promise<unknown>)[] = [];
  const step = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      // The start-up error is what the user sees; a step that cannot be undone is logged.
      for (const undo of teardown.reverse())
        await undo().catch((e: unknown) => log.warn('start-up step not undone', { error: errorText(e) }));
      const why = err instanceof Error ? err.message.split('\n')[0] : String(err);
      throw new DaemonStartError(`daemon: ${what}: ${why}`, { cause: err });
    }
  };
  // One process per state directory: a second daemon (or a download --state) is refused here.
  // Refused as is (the line names the holder); any other failure says which directory.
  const lock = await StateLock.acquire(stateDir, 'daemon').catch((err: unknown) => {
    if (err instanceof StateLockError) throw err;
    return step(`state directory ${stateDir}`, () => Promise.reject(err));
  });
  teardown.push(teardownLog, () => lock.release());
  const store = new StateStore(stateDir, log);
  const settings = await step(`state directory ${stateDir}`, async () => {
    await store.open();
    const s: SessionSettings = { ...(await store.loadSettings()) };
    if (net.port !== undefined) s.port = net.port;
    if (net.session.uploadLimitBytesPerSec !== undefined)
      s.uploadLimitBytesPerSec = net.session.uploadLimitBytesPerSec;
    if (net.session.downloadLimitBytesPerSec !== undefined)
      s.downloadLimitBytesPerSec = net.session.downloadLimitBytesPerSec;
    if (mad !== undefined) s.maxActiveDownloads = mad;
    if (mas !== undefined) s.maxActiveSeeds = mas;
    if (mc !== undefined) s.maxConnections = mc;
    if (values.dir !== undefined) {
      s.downloadDir = resolve(values.dir);
      s.downloadRoot = s.downloadDir;
    }
    // --no-dht, --no-lsd, --no-pex switch off for this start and the next ones (`set dht on` again).
    for (const k of ['dht', 'lsd', 'pex'] as const) if (values[`no-${k}`] === true) s[k] = false;
    await store.saveSettings(s); // fails here, before any port, when the folder is read-only
    return s;
  });
  const token = await step(`the API token in ${stateDir}`, () => store.token());
  const session = await step('starting the session', () =>
    startSession(
      {
        ...net,
        port: settings.port,
        session: {
          ...net.session,
          dht: settings.dht !== false,
          lsd: settings.lsd !== false,
          pex: settings.pex !== false,
        },
      },
      {
        ...(settings.uploadLimitBytesPerSec !== undefined
          ? { uploadLimitBytesPerSec: settings.uploadLimitBytesPerSec }
          : {}),
        ...(settings.downloadLimitBytesPerSec !== undefined
          ? { downloadLimitBytesPerSec: settings.downloadLimitBytesPerSec }
          : {}),
        ...(settings.maxConnections !== undefined ? { maxConnections: settings.maxConnections } : {}),
        // Told `stopped` within a second, so that a stop signal ends the daemon within two.
        trackerStopTimeoutMs: 1000,
        stateDir,
        logger: log,
      },
    ),
  );
  teardown.push(() => session.stop());
  session.on('magnet:refused', (hex, why) => r.say(`warning: ${hex.slice(0, 8)}: ${why}`));
  settings.port = session.port;
  await step(`state directory ${stateDir}`, () => store.saveSettings(settings));
  const manager = new TorrentManager({
    session,
    store,
    ...(settings.maxActiveDownloads !== undefined ? { maxActiveDownloads: settings.maxActiveDownloads } : {}),
    ...(settings.maxActiveSeeds !== undefined ? { maxActiveSeeds: settings.maxActiveSeeds } : {}),
  });
  teardown.push(() => manager.stop());
  const warnings = await step('loading the torrents', () => manager.load());
  for (const w of warnings) r.say(`warning: ${w}`);
  manager.start();
  // -d, or the one a previous start was given or the API set (kept in session.json), or the
  // configured default; the API may choose folders inside the last -d (or that default) too.
  const root =
    settings.downloadRoot ??
    settings.downloadDir ??
    resolve(defaultDownloadDir(join(homedir(), 'Downloads')));
  const defaultDir = settings.downloadDir ?? root;
  await mkdir(defaultDir, { recursive: true }).catch((err: unknown) =>
    log.warn('default download directory not created', { dir: defaultDir, error: errorText(err) }),
  );
  // The normal and alternative speeds, and the schedule that switches between them (checked twice a
  // minute; a switch it makes is kept, as the user's own would be).
  const speeds = altSpeedsFor(session, settings);
  const followSchedule = async (): Promise<void> => {
    if (!speeds.tick(new Date())) return;
    settings.altSpeedEnabled = speeds.state.enabled;
    log.info('alternative speeds switched by the schedule', { on: speeds.state.enabled });
    await store
      .saveSettings(settings)
      .catch((err: unknown) => log.warn('session settings not saved', { error: errorText(err) }));
  };
  await followSchedule();
  const scheduleTimer = setInterval(() => void followSchedule(), 30_000);
  scheduleTimer.unref();
  teardown.push(async () => clearInterval(scheduleTimer));
  const server = new ApiServer({
    manager,
    session,
    token,
    host: api?.host ?? '127.0.0.1',
    port: api?.port ?? 0,
    allowedHosts: values['api-allow-host'] ?? [],
    defaultDir,
    allowedDirs: [root, ...allowDirs],
    altSpeeds: speeds,
    nextStart: () => settings,
    // Limits and settings set through the API outlive a restart.
    onSettings: async (changed) => {
      Object.assign(settings, changed);
      await store.saveSettings(settings);
    },
  });
  await step(`cannot listen for the API on ${values.api ?? '127.0.0.1'}`, () => server.start());
  teardown.push(() => server.stop());
  const addr = server.address!;
  const apiJson = join(stateDir, 'api.json');
  await step(`state directory ${stateDir}`, async () => {
    await lock.setApi(addr);
    await store.writeAtomic(apiJson, JSON.stringify({ host: addr.host, port: addr.port, pid: process.pid }));
  });
  manager.on('torrent:status', (h, s) => r.json({ event: 'status', infoHash: h, status: s }));
  // Why a torrent may stall, as it happens: --verbose lines and --json `diagnostic` events.
  manager.on('torrent:active', (h) => {
    session.diagnosticsOf(h)?.on('diagnostic', (d) => {
      r.detail(`${h.slice(0, 8)} ${d.message}`);
      r.json({ event: 'diagnostic', infoHash: h, kind: d.kind, message: d.message });
    });
  });
  manager.on('torrent:complete', (h) => {
    r.say(`complete: ${manager.view(h).name}`);
    r.json({ event: 'complete', infoHash: h });
  });
  const count = manager.list().length;
  // Listening for the stop signals before saying it listens: a signal right after `listening` is a
  // clean stop, not a kill. Bounded from the signal on: the process ends within STOP_DEADLINE_MS
  // whatever trackers, disks or requests in flight do; a second signal ends it at once. Either way
  // with 130 (SIGINT) or 143.
  const stopped = stopSignal(STOP_DEADLINE_MS);
  // The web UI's login link: the token rides in the fragment, which the browser never sends; the
  // page keeps it for the tab and takes it out of the address bar.
  const shown = addr.host === '0.0.0.0' ? '127.0.0.1' : addr.host === '::' ? '::1' : addr.host;
  const webUi = `http://${shown.includes(':') ? `[${shown}]` : shown}:${addr.port}/#/?token=${token}`;
  r.say(
    `bitswarm daemon: port ${session.port}, web UI and API http://${addr.host}:${addr.port}/ (token in ${join(stateDir, 'api-token')}), ${count} torrent(s) loaded in ${Date.now() - started} ms`,
  );
  r.json({
    event: 'listening',
    port: session.port,
    api: addr,
    state: stateDir,
    torrents: count,
    loadMs: Date.now() - started,
    webUi,
  });
  r.say(`web UI (logs this browser in): ${webUi}`);

  const { signal, exitCode } = await stopped;
  r.say(`${signal}: stopping: saving state and telling trackers`);
  clearInterval(scheduleTimer);
  await server.stop();
  await manager.stop();
  await session.stop();
  await rm(apiJson, { force: true });
  await lock.release();
  log.info('daemon stopped', { signal });
  await logging.close();
  // Stopped cleanly; should anything still hold the event loop, it does not hold the process.
  setTimeout(() => process.exit(exitCode), 200).unref();
  return exitCode;
}

/** A start-up failure (exit 1, one line): the state directory, the ports, the API. */
class DaemonStartError extends Error {
  override readonly name = 'DaemonStartError';
  readonly code = 'ERR_DAEMON_START';
}

/** From the stop signal to the end of the process, at most. */
const STOP_DEADLINE_MS = 1800;
