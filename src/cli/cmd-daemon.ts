// `bitswarm daemon [--state DIR] [--port N] [--api HOST:PORT]`: one session for many torrents, its
// state kept in the state directory, driven through the control API (and the CLI commands that use it).
import { mkdir, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { ApiServer } from '../api/server.js';
import { parseAddress } from '../peer/dial.js';
import { TorrentManager } from '../session/manager.js';
import { defaultStateDir, type SessionSettings, StateStore } from '../session/state-store.js';
import { UsageError } from '../util/errors.js';
import { intOption, parse } from './args.js';
import { Reporter } from './cmd-download.js';
import { defaultDownloadDir } from './config.js';
import { readNetOptions, startSession } from './net-options.js';

export async function runDaemon(argv: string[]): Promise<number> {
  const { values, positionals } = parse('daemon', argv);
  if (positionals.length > 0) throw new UsageError('daemon: takes no arguments (see bitswarm daemon --help)');
  const api = values.api !== undefined ? parseAddress(values.api) : undefined;
  if (values.api !== undefined && !api)
    throw new UsageError(`daemon: --api: "${values.api}" is not HOST:PORT`);
  const stateDir = resolve(values.state ?? defaultStateDir());
  const store = new StateStore(stateDir);
  await store.open();
  const saved = await store.loadSettings();
  const settings: SessionSettings = { ...saved };
  const net = readNetOptions('daemon', values);
  if (net.port !== undefined) settings.port = net.port;
  if (net.session.uploadLimitBytesPerSec !== undefined)
    settings.uploadLimitBytesPerSec = net.session.uploadLimitBytesPerSec;
  if (net.session.downloadLimitBytesPerSec !== undefined)
    settings.downloadLimitBytesPerSec = net.session.downloadLimitBytesPerSec;
  const mad = intOption('daemon', 'max-active-downloads', values['max-active-downloads'], 0, 10_000);
  const mas = intOption('daemon', 'max-active-seeds', values['max-active-seeds'], 0, 100_000);
  const mc = intOption('daemon', 'max-connections', values['max-connections'], 1, 100_000);
  if (mad !== undefined) settings.maxActiveDownloads = mad;
  if (mas !== undefined) settings.maxActiveSeeds = mas;
  if (mc !== undefined) settings.maxConnections = mc;

  const session = await startSession(
    { ...net, port: settings.port },
    {
      ...(settings.uploadLimitBytesPerSec !== undefined
        ? { uploadLimitBytesPerSec: settings.uploadLimitBytesPerSec }
        : {}),
      ...(settings.downloadLimitBytesPerSec !== undefined
        ? { downloadLimitBytesPerSec: settings.downloadLimitBytesPerSec }
        : {}),
      ...(settings.maxConnections !== undefined ? { maxConnections: settings.maxConnections } : {}),
      stateDir,
    },
  );
  settings.port = session.port;
  await store.saveSettings(settings);
  const manager = new TorrentManager({
    session,
    store,
    ...(settings.maxActiveDownloads !== undefined ? { maxActiveDownloads: settings.maxActiveDownloads } : {}),
    ...(settings.maxActiveSeeds !== undefined ? { maxActiveSeeds: settings.maxActiveSeeds } : {}),
  });
  const r = new Reporter({
    mode: 'daemon',
    json: values.json === true,
    quiet: values.quiet === true,
    verbose: values.verbose === true,
    keepSeeding: true,
  });
  const started = Date.now();
  const warnings = await manager.load();
  for (const w of warnings) r.say(`warning: ${w}`);
  manager.start();
  const defaultDir = resolve(values.dir ?? defaultDownloadDir(join(homedir(), 'Downloads')));
  await mkdir(defaultDir, { recursive: true }).catch(() => undefined);
  const server = new ApiServer({
    manager,
    session,
    token: await store.token(),
    host: api?.host ?? '127.0.0.1',
    port: api?.port ?? 0,
    allowedHosts: values['api-allow-host'] ?? [],
    defaultDir,
  });
  try {
    await server.start();
  } catch (err) {
    await manager.stop();
    await session.stop();
    throw new UsageError(
      `daemon: cannot listen for the API on ${values.api ?? '127.0.0.1'}: ${(err as Error).message}`,
    );
  }
  const addr = server.address!;
  await store.writeAtomic(
    join(stateDir, 'api.json'),
    JSON.stringify({ host: addr.host, port: addr.port, pid: process.pid }),
  );
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
  });

  await new Promise<void>((resolveStop) => {
    process.once('SIGINT', () => resolveStop());
    process.once('SIGTERM', () => resolveStop());
  });
  r.say('stopping: saving state and telling trackers');
  // Bounded: a daemon exits within a few seconds whatever the trackers do.
  const deadline = setTimeout(() => process.exit(1), 8000);
  deadline.unref();
  await server.stop();
  await manager.stop();
  await session.stop();
  await rm(join(stateDir, 'api.json'), { force: true });
  clearTimeout(deadline);
  return 0;
}
