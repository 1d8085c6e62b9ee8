// The commands that drive a running daemon through its control API (usage in commands.ts):
//   add, ls, show, pause, resume (--all), rm, limits, prio, recheck, move, reannounce, set.
// They find the daemon through --state (default state directory) or --api HOST:PORT.
// Readable tables on a terminal, --json for scripts. A hash may be given by a unique prefix.
import { resolve } from 'node:path';
import { ApiClient, ApiClientError, findDaemon } from '../api/client.js';
import type { RouteBody, RouteReply } from '../api/routes.js';
import { loadTorrentArg } from '../lib/source.js';
import { parseAddress } from '../protocol/address.js';
import { quote } from '../protocol/errors.js';
import { defaultStateDir } from '../session/state-store.js';
import { UsageError } from '../util/errors.js';
import { formatBytes, formatDuration, formatRate } from '../util/format.js';
import { type Logger, silentLogger } from '../util/logger.js';
import { intOption, parse, sizeOption } from './args.js';
import { parseIndexList } from './file-select.js';
import { portMappingStatusText } from './port-mapping-text.js';

async function client(values: { state?: string; api?: string }): Promise<ApiClient> {
  const api = values.api !== undefined ? parseAddress(values.api) : undefined;
  if (values.api !== undefined && !api) throw new UsageError(`--api: "${values.api}" is not HOST:PORT`);
  const { address, token } = await findDaemon(resolve(values.state ?? defaultStateDir()), api);
  return new ApiClient(address, token);
}

/** Hex digits a hash prefix needs at least (shorter ones match too much by chance). */
export const MIN_PREFIX = 4;

/** The one hash of `hashes` that `given` (a full hash or a prefix of MIN_PREFIX+ hex digits) names. */
export function matchHash(given: string | undefined, hashes: readonly string[], command: string): string {
  if (!given)
    throw new UsageError(
      `${command}: expected an <info-hash> (40 hex digits, or a unique prefix of ${MIN_PREFIX} or more)`,
    );
  const h = given.toLowerCase();
  if (!/^[0-9a-f]+$/.test(h) || h.length > 40)
    throw new UsageError(
      `${command}: "${given}" is not an info hash (40 hex digits, or a unique prefix of ${MIN_PREFIX} or more)`,
    );
  if (h.length < MIN_PREFIX)
    throw new UsageError(
      `${command}: "${given}" is too short: give at least ${MIN_PREFIX} hex digits of the info hash`,
    );
  const matches = hashes.filter((x) => x.startsWith(h));
  if (matches.length === 1) return matches[0]!;
  if (matches.length === 0)
    throw new UsageError(`${command}: no torrent matches "${given}" (see bitswarm ls)`);
  throw new UsageError(
    `${command}: "${given}" is ambiguous: ${matches.length} torrents match (${matches
      .slice(0, 4)
      .map((x) => x.slice(0, 12))
      .join(', ')}${matches.length > 4 ? ', …' : ''}); give more digits`,
  );
}

async function resolveHash(c: ApiClient, given: string | undefined, command: string): Promise<string> {
  // Bad input is told before asking the daemon anything.
  if (!given || given.length < MIN_PREFIX || !/^[0-9a-f]+$/i.test(given) || given.length > 40)
    return matchHash(given, [], command);
  if (given.length === 40) return given.toLowerCase();
  const { torrents } = await c.call('GET /torrents');
  return matchHash(
    given,
    torrents.map((t) => t.infoHash),
    command,
  );
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  '))
    .join('\n');
}

function eta(t: Pick<Row, 'etaSec'>): string {
  return t.etaSec === null ? '--' : formatDuration(t.etaSec);
}

function listLine(t: Row): string[] {
  return [
    t.infoHash.slice(0, 8),
    t.status,
    `${t.percent.toFixed(1)}%`,
    t.totalLength === null ? '?' : formatBytes(t.totalLength),
    formatRate(t.downloadRate),
    formatRate(t.uploadRate),
    String(t.peers),
    eta(t),
    t.ratio.toFixed(2),
    `${t.name}${t.warnings[0] ? `  ⚠ ${t.warnings[0]}` : ''}`,
  ];
}

const PRIORITY = { skip: 0, low: 1, normal: 4, high: 7 } as const;
const prioName = (p: number): string => (p === 0 ? 'skip' : p >= 6 ? 'high' : p <= 2 ? 'low' : 'normal');

type Stats = RouteReply<'GET /session'>;
type Change =
  | { route: 'PUT /session/limits'; body: RouteBody<'PUT /session/limits'> }
  | { route: 'PUT /session/settings'; body: RouteBody<'PUT /session/settings'> };

/**
 * The session settings `set` shows and changes: how each reads its value from the session's stats,
 * and which request a new value makes. `restart`: saved now, in effect at the daemon's next start.
 */
interface Setting {
  show: (s: Stats) => string;
  change: (key: string, raw: string) => Change;
  restart?: 'port' | 'dht' | 'lsd' | 'pex';
}

const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
const limit = (field: 'downloadLimitBytesPerSec' | 'uploadLimitBytesPerSec'): Setting => ({
  show: (s) => rateText(s.limits[field]),
  change: (key, raw) => ({
    route: 'PUT /session/limits',
    body: { [field]: setValue(key, () => sizeOption('set', key, raw)!) },
  }),
});
const count = (field: 'maxActiveDownloads' | 'maxActiveSeeds' | 'maxConnections', min: number): Setting => ({
  show: (s) => String(s.limits[field]),
  change: (key, raw) => ({
    route: 'PUT /session/limits',
    body: { [field]: setValue(key, () => intOption('set', key, raw, min, 1_000_000)!) },
  }),
});
const altLimit = (field: 'downloadLimitBytesPerSec' | 'uploadLimitBytesPerSec'): Setting => ({
  show: (s) => rateText(s.altSpeed[field]),
  change: (key, raw) => ({
    route: 'PUT /session/settings',
    body: { altSpeed: { [field]: setValue(key, () => sizeOption('set', key, raw)!) } },
  }),
});
const discovery = (k: 'dht' | 'lsd' | 'pex'): Setting => ({
  show: (s) => onOff(s.nextStart[k]),
  change: (key, raw) => ({ route: 'PUT /session/settings', body: { [k]: readOnOff(key, raw) } }),
  restart: k,
});

const SETTINGS: Readonly<Record<string, Setting>> = {
  'download-limit': limit('downloadLimitBytesPerSec'),
  'upload-limit': limit('uploadLimitBytesPerSec'),
  'max-active-downloads': count('maxActiveDownloads', 0),
  'max-active-seeds': count('maxActiveSeeds', 0),
  'max-connections': count('maxConnections', 1),
  turtle: {
    show: (s) => onOff(s.altSpeed.enabled),
    change: (key, raw) => ({
      route: 'PUT /session/settings',
      body: { altSpeed: { enabled: readOnOff(key, raw) } },
    }),
  },
  'alt-download-limit': altLimit('downloadLimitBytesPerSec'),
  'alt-upload-limit': altLimit('uploadLimitBytesPerSec'),
  schedule: {
    show: (s) => {
      const w = s.altSpeed.schedule;
      return w.enabled ? `${clock(w.beginMinute)}-${clock(w.endMinute)}` : 'off';
    },
    change: (key, raw) => ({
      route: 'PUT /session/settings',
      body: { altSpeed: { schedule: readWindow(key, raw) } },
    }),
  },
  'schedule-days': {
    show: (s) => daysText(s.altSpeed.schedule.days),
    change: (key, raw) => ({
      route: 'PUT /session/settings',
      body: { altSpeed: { schedule: { days: readDays(key, raw) } } },
    }),
  },
  port: {
    show: (s) => String(s.nextStart.port),
    change: (key, raw) => ({
      route: 'PUT /session/settings',
      body: { port: setValue(key, () => intOption('set', key, raw, 1, 65535)!) },
    }),
    restart: 'port',
  },
  dht: discovery('dht'),
  lsd: discovery('lsd'),
  pex: discovery('pex'),
  'download-dir': {
    show: (s) => s.downloadDir,
    change: (_key, raw) => ({ route: 'PUT /session/settings', body: { downloadDir: resolve(raw) } }),
  },
};

/** `set --json`: the session's limits, alternative speeds, saved port and switches, folder. */
function settingsJson(s: Stats): Record<string, unknown> {
  return {
    ...s.limits,
    altSpeed: s.altSpeed,
    ...s.nextStart,
    downloadDir: s.downloadDir,
    pendingRestart: s.pendingRestart,
  };
}

/** A value read as an option would be, its error naming the key (`set: port: …`, not `--port`). */
function setValue<T>(key: string, read: () => T): T {
  try {
    return read();
  } catch (err) {
    if (err instanceof UsageError)
      throw new UsageError(err.message.replace(`set: --${key}:`, `set: ${key}:`));
    throw err;
  }
}

const onOff = (b: boolean): string => (b ? 'on' : 'off');

function readOnOff(key: string, raw: string): boolean {
  if (raw === 'on' || raw === 'off') return raw === 'on';
  throw new UsageError(`set: ${key}: expected on or off, got "${raw}"`);
}

const clock = (m: number): string =>
  `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;

/** `off`, `on`, or a window `HH:MM-HH:MM` (local time; an end before the begin runs past midnight), which turns it on. */
function readWindow(
  key: string,
  raw: string,
): { enabled: boolean; beginMinute?: number; endMinute?: number } {
  if (raw === 'on' || raw === 'off') return { enabled: raw === 'on' };
  const m = /^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$/.exec(raw);
  const minutes = m ? [Number(m[1]) * 60 + Number(m[2]), Number(m[3]) * 60 + Number(m[4])] : [];
  if (!m || Number(m[1]) > 23 || Number(m[3]) > 23 || Number(m[2]) > 59 || Number(m[4]) > 59)
    throw new UsageError(`set: ${key}: expected off, on or HH:MM-HH:MM (e.g. 09:00-17:00), got "${raw}"`);
  return { enabled: true, beginMinute: minutes[0]!, endMinute: minutes[1]! };
}

/** `all`, `weekdays`, `weekends`, or days and ranges of them: `mon-fri`, `sat,sun`. */
function readDays(key: string, raw: string): number[] {
  const named: Record<string, number[]> = {
    all: [0, 1, 2, 3, 4, 5, 6],
    weekdays: [1, 2, 3, 4, 5],
    weekends: [0, 6],
  };
  if (named[raw]) return named[raw];
  const days = new Set<number>();
  for (const part of raw.toLowerCase().split(',')) {
    const ends = part.split('-').map((d) => WEEKDAYS.indexOf(d as (typeof WEEKDAYS)[number]));
    const from = ends[0]!;
    const to = ends[ends.length - 1]!;
    if (from < 0 || to < 0 || ends.length > 2)
      throw new UsageError(
        `set: ${key}: "${part}" is not a day or a range of days (sun, mon, …, sat; all, weekdays, weekends)`,
      );
    for (let d = from; ; d = (d + 1) % 7) {
      days.add(d);
      if (d === to) break;
    }
  }
  return [...days].sort();
}

function daysText(days: readonly number[]): string {
  if (days.length === 7) return 'all';
  return days.map((d) => WEEKDAYS[d]).join(',');
}

/** A torrent's row, as lists show it. */
type Row = RouteReply<'GET /torrents'>['torrents'][number];

function rateText(n: number): string {
  return n > 0 ? formatRate(n) : 'unlimited';
}

function when(ms: number | null): string {
  if (ms === null) return '--';
  const s = Math.round((ms - Date.now()) / 1000);
  return s >= 0 ? `in ${formatDuration(s)}` : `${formatDuration(-s)} ago`;
}

export async function runRemote(
  command: string,
  argv: string[],
  _log: Logger = silentLogger,
): Promise<number> {
  const out = (s: string): void => {
    process.stdout.write(`${s}\n`);
  };
  try {
    if (command === 'add') {
      const { values, positionals } = parse('add', argv);
      if (positionals.length !== 1) throw new UsageError('add: expected one <torrent|magnet>');
      const arg = positionals[0]!;
      for (const p of values.peer ?? [])
        if (!parseAddress(p)) throw new UsageError(`add: --peer: "${p}" is not HOST:PORT`);
      const body: Record<string, unknown> = {
        ...(values.dir ? { dir: resolve(values.dir) } : {}),
        ...(values.peer ? { peers: values.peer } : {}),
        ...(values.paused ? { paused: true } : {}),
      };
      // Checked here, with a one-line error; a file is read once (a regular file, size-capped).
      const loaded = await loadTorrentArg(arg);
      if (loaded.kind === 'magnet') body.magnet = arg;
      else body.torrent = Buffer.from(loaded.bytes).toString('base64');
      const c = await client(values);
      const r = await c.call('POST /torrents', { body }).catch((err: unknown) => {
        // Already there (409): not bad input, the daemon's state; exit 1 with the daemon's line.
        if (err instanceof ApiClientError && err.status === 409)
          throw Object.assign(new Error(err.message), { code: 'ERR_DAEMON' });
        throw err;
      });
      if (values.json) out(JSON.stringify(r));
      else out(`added ${r.infoHash} ${r.torrent.name} (${r.torrent.status})`);
      return 0;
    }
    if (command === 'ls') {
      const { values, positionals } = parse('ls', argv);
      if (positionals.length) throw new UsageError('ls: takes no arguments');
      const c = await client(values);
      const { torrents } = await c.call('GET /torrents');
      if (values.json) out(JSON.stringify({ torrents }));
      else if (torrents.length === 0) out('no torrents');
      else
        out(
          table([
            ['HASH', 'STATUS', 'DONE', 'SIZE', 'DOWN', 'UP', 'PEERS', 'ETA', 'RATIO', 'NAME'],
            ...torrents.map(listLine),
          ]),
        );
      return 0;
    }
    if (command === 'show') {
      const { values, positionals } = parse('show', argv);
      const c = await client(values);
      const h = await resolveHash(c, positionals[0], 'show');
      const d = await c.call('GET /torrents/{hash}', { params: { hash: h } });
      if (values.json) {
        out(JSON.stringify(d));
        return 0;
      }
      out(
        `${d.name}\n  info hash  ${d.infoHash}\n  status     ${d.status}${d.error ? ` (${d.error})` : ''}\n  done       ${d.percent.toFixed(1)}% of ${d.totalLength === null ? '?' : formatBytes(d.totalLength)}${d.pieceCount !== null ? ` in ${d.pieceCount} pieces of ${formatBytes(d.pieceLength ?? 0)}` : ''}\n  rates      ↓ ${formatRate(d.downloadRate)}  ↑ ${formatRate(d.uploadRate)}\n  ETA        ${eta(d)}\n  limits     ↓ ${rateText(d.limits.downloadLimitBytesPerSec)}  ↑ ${rateText(d.limits.uploadLimitBytesPerSec)}\n  totals     ${formatBytes(d.downloadedBytes)} down, ${formatBytes(d.uploadedBytes)} up, ratio ${d.ratio.toFixed(2)}\n  folder     ${d.dir}\n  router     ${portMappingStatusText(d.portMapping)}`,
      );
      if (d.warnings.length) {
        out('warnings');
        for (const w of d.warnings) out(`  ${w}`);
      }
      if (d.files.length) {
        out('files');
        out(
          table(
            d.files.map((f) => [
              `  ${f.index}`,
              prioName(f.priority),
              `${f.length ? ((100 * f.verifiedBytes) / f.length).toFixed(0) : 100}%`,
              formatBytes(f.length),
              f.path,
            ]),
          ),
        );
      }
      if (d.trackers.length) {
        out('trackers');
        out(
          table(
            d.trackers.map((t) => [
              `  ${t.tier + 1}`,
              t.url,
              t.status,
              t.status === 'error' ? `error: ${t.lastError}` : (t.lastResult ?? '--'),
              `next announce ${when(t.nextAnnounceAtMs)}`,
            ]),
          ),
        );
      }
      if (d.peers.length) {
        out('peers');
        out(
          table(
            d.peers.map((p) => [
              `  ${p.address}`,
              p.seed ? 'seed' : 'leech',
              `↓ ${formatRate(p.downloadRate)}`,
              `↑ ${formatRate(p.uploadRate)}`,
              p.encryption === 'rc4' ? 'RC4' : p.encryption === 'handshake' ? 'MSE' : 'plain',
              p.client,
            ]),
          ),
        );
      }
      if (d.webSeeds?.length) {
        out('web seeds');
        out(
          table(
            d.webSeeds.map((w) => [
              `  ${w.url}`,
              w.state === 'backoff' ? `backing off (retry ${when(w.retryAtMs)})` : w.state,
              formatBytes(w.downloadedBytes),
              `↓ ${formatRate(w.downloadRate)}`,
              w.reason ?? '',
            ]),
          ),
        );
      }
      for (const peer of d.encryptionHints ?? []) {
        out(`note: peer ${peer} closed after the handshake; it may require encryption`);
      }
      return 0;
    }
    if (command === 'pause' || command === 'resume') {
      const { values, positionals } = parse(command, argv);
      const c = await client(values);
      let hashes: string[];
      if (values.all) {
        if (positionals.length) throw new UsageError(`${command}: give an <info-hash> or --all, not both`);
        hashes = (await c.call('GET /torrents')).torrents.map((t) => t.infoHash);
      } else {
        if (positionals.length > 1) throw new UsageError(`${command}: expected one <info-hash> (or --all)`);
        hashes = [await resolveHash(c, positionals[0], command)];
      }
      const views: Row[] = [];
      for (const h of hashes)
        views.push(await c.call(`POST /torrents/{hash}/${command}`, { params: { hash: h } }));
      if (values.json) out(JSON.stringify(values.all ? { torrents: views } : views[0]));
      else if (views.length === 0) out('no torrents');
      else
        for (const v of views)
          out(`${command === 'pause' ? 'paused' : 'resumed'} ${v.infoHash} ${v.name} (${v.status})`);
      return 0;
    }
    if (command === 'rm') {
      const { values, positionals } = parse('rm', argv);
      const c = await client(values);
      const h = await resolveHash(c, positionals[0], 'rm');
      const r = await c.call('DELETE /torrents/{hash}', {
        params: { hash: h },
        ...(values['delete-data'] ? { query: 'deleteData=1' } : {}),
      });
      if (values.json) {
        out(JSON.stringify(r));
        return 0;
      }
      const { deleted, kept } = r;
      if (!r.deletedData) out(`removed ${r.removed} (its files are kept)`);
      else {
        const files = deleted.filter((p) => !p.endsWith('/')).length;
        const folders = deleted.length - files;
        out(
          `removed ${r.removed}; deleted ${files} file(s) and ${folders} folder(s) it created${kept.length ? `, kept ${kept.length}:` : ''}`,
        );
        // Paths come from the torrent: escaped, so that they cannot drive the terminal.
        const shown = (p: string): string =>
          /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/.test(p) ? quote(p) : p;
        for (const k of kept.slice(0, 50)) out(`kept ${shown(k.path)}: ${k.reason}`);
        if (kept.length > 50) out(`… and ${kept.length - 50} more kept`);
      }
      return 0;
    }
    if (command === 'limits') {
      const { values, positionals } = parse('limits', argv);
      if (positionals.length > 1) throw new UsageError('limits: expected at most one <info-hash>');
      const down = sizeOption('limits', 'down', values.down);
      const up = sizeOption('limits', 'up', values.up);
      const body = {
        ...(down !== undefined ? { downloadLimitBytesPerSec: down } : {}),
        ...(up !== undefined ? { uploadLimitBytesPerSec: up } : {}),
      };
      const set = down !== undefined || up !== undefined;
      const c = await client(values);
      let limits: { downloadLimitBytesPerSec: number; uploadLimitBytesPerSec: number };
      let what: string;
      if (positionals[0] !== undefined) {
        const h = await resolveHash(c, positionals[0], 'limits');
        const d = set
          ? await c.call('PUT /torrents/{hash}/limits', { params: { hash: h }, body })
          : await c.call('GET /torrents/{hash}', { params: { hash: h } });
        limits = d.limits;
        what = `${d.infoHash.slice(0, 8)} ${d.name}`;
      } else {
        const r = set ? await c.call('PUT /session/limits', { body }) : await c.call('GET /session');
        limits = r.limits;
        what = 'session';
      }
      if (values.json)
        out(
          JSON.stringify({
            downloadLimitBytesPerSec: limits.downloadLimitBytesPerSec,
            uploadLimitBytesPerSec: limits.uploadLimitBytesPerSec,
          }),
        );
      else
        out(
          `${what}: ↓ ${rateText(limits.downloadLimitBytesPerSec)}  ↑ ${rateText(limits.uploadLimitBytesPerSec)}`,
        );
      return 0;
    }
    if (command === 'prio') {
      const { values, positionals } = parse('prio', argv);
      if (positionals.length !== 3)
        throw new UsageError(
          'prio: expected <info-hash> <file-indexes> skip|low|normal|high (e.g. prio 4d42b93b 0,2-4 high)',
        );
      const [hash, list, level] = positionals as [string, string, string];
      if (!Object.hasOwn(PRIORITY, level))
        throw new UsageError(`prio: "${level}" is not a priority (skip, low, normal or high)`);
      const c = await client(values);
      const h = await resolveHash(c, hash, 'prio');
      const before = await c.call('GET /torrents/{hash}', { params: { hash: h } });
      const count = before.files.reduce((n, f) => Math.max(n, f.index + 1), 0);
      if (count === 0) throw new UsageError('prio: the torrent has no file list yet (metadata not fetched)');
      const files = parseIndexList('prio', 'file indexes', list, count);
      const d = await c.call('PUT /torrents/{hash}/priorities', {
        params: { hash: h },
        body: { files, priority: PRIORITY[level as keyof typeof PRIORITY] },
      });
      if (values.json) out(JSON.stringify({ infoHash: d.infoHash, files: d.files }));
      else
        out(
          `${d.infoHash.slice(0, 8)}: ${files.length} file${files.length === 1 ? '' : 's'} set to ${level}`,
        );
      return 0;
    }
    if (command === 'recheck' || command === 'reannounce') {
      const { values, positionals } = parse(command, argv);
      if (positionals.length > 1) throw new UsageError(`${command}: expected one <info-hash>`);
      const c = await client(values);
      const h = await resolveHash(c, positionals[0], command);
      const v = await c.call(`POST /torrents/{hash}/${command}`, { params: { hash: h } });
      if (values.json) out(JSON.stringify(v));
      else
        out(
          command === 'recheck'
            ? `rechecking ${v.infoHash} ${v.name}`
            : `announcing ${v.infoHash} ${v.name} to its trackers${v.status === 'paused' ? ' (paused: nothing to announce)' : ''}`,
        );
      return 0;
    }
    if (command === 'move') {
      const { values, positionals } = parse('move', argv);
      if (positionals.length !== 2) throw new UsageError('move: expected <info-hash> <dir>');
      const c = await client(values);
      const h = await resolveHash(c, positionals[0], 'move');
      const v = await c.call('POST /torrents/{hash}/move', {
        params: { hash: h },
        body: { dir: resolve(positionals[1]!) },
      });
      if (values.json) out(JSON.stringify(v));
      else out(`moved ${v.infoHash} ${v.name} to ${v.dir}`);
      return 0;
    }
    if (command === 'set') {
      const { values, positionals } = parse('set', argv);
      const c = await client(values);
      const line = (key: string, spec: Setting, st: Stats): string =>
        `${key.padEnd(22)} ${spec.show(st)}${spec.restart && st.pendingRestart.includes(spec.restart) ? ' (after the daemon restarts)' : ''}`;
      if (positionals.length === 0) {
        const st = await c.call('GET /session');
        if (values.json) out(JSON.stringify(settingsJson(st)));
        else for (const [key, spec] of Object.entries(SETTINGS)) out(line(key, spec, st));
        return 0;
      }
      if (positionals.length !== 2)
        throw new UsageError('set: expected <key> <value> (bitswarm set lists the keys)');
      const [key, raw] = positionals as [string, string];
      const spec = Object.hasOwn(SETTINGS, key) ? SETTINGS[key] : undefined;
      if (!spec)
        throw new UsageError(`set: unknown key "${key}" (keys: ${Object.keys(SETTINGS).join(', ')})`);
      const change = spec.change(key, raw);
      const st =
        change.route === 'PUT /session/limits'
          ? await c.call(change.route, { body: change.body })
          : await c.call(change.route, { body: change.body });
      if (values.json) out(JSON.stringify(settingsJson(st)));
      else out(line(key, spec, st).replace(/^(\S+) +/, '$1 = '));
      return 0;
    }
    throw new UsageError(`unknown command ${command}`);
  } catch (err) {
    if (err instanceof ApiClientError) {
      // A daemon that is not there is a runtime failure (1); a request it refused is bad input (2).
      const e = new Error(err.message) as Error & { code: string };
      e.code = err.status >= 400 && err.status < 500 && err.status !== 401 ? 'ERR_USAGE' : 'ERR_DAEMON';
      throw e;
    }
    throw err;
  }
}
