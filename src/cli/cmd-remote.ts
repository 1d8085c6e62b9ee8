// The commands that drive a running daemon through its control API (usage in commands.ts):
//   add, ls, show, pause, resume (--all), rm, limits, prio, recheck, move, reannounce, set.
// They find the daemon through --state (default state directory) or --api HOST:PORT.
// Readable tables on a terminal, --json for scripts. A hash may be given by a unique prefix.
import { resolve } from 'node:path';
import { ApiClient, ApiClientError, findDaemon } from '../api/client.js';
import type { PortMapStatus } from '../discovery/port-mapper.js';
import { loadTorrentArg } from '../lib/source.js';
import { parseAddress } from '../protocol/address.js';
import { quote } from '../protocol/errors.js';
import type { TrackerStatus } from '../session/diagnostics.js';
import type { TorrentView } from '../session/manager.js';
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
  const { torrents } = await c.request<{ torrents: TorrentView[] }>('GET', '/torrents');
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

function eta(t: Pick<TorrentView, 'etaSec'>): string {
  return t.etaSec === null ? '--' : formatDuration(t.etaSec);
}

function listLine(t: TorrentView): string[] {
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

/** The session settings `set` changes: CLI name → API field, and how to read the value. */
const SETTINGS = {
  'download-limit': { field: 'downloadLimitBytesPerSec', kind: 'rate' },
  'upload-limit': { field: 'uploadLimitBytesPerSec', kind: 'rate' },
  'max-active-downloads': { field: 'maxActiveDownloads', kind: 'count' },
  'max-active-seeds': { field: 'maxActiveSeeds', kind: 'count' },
  'max-connections': { field: 'maxConnections', kind: 'count' },
} as const;

interface SessionReply {
  limits: Record<(typeof SETTINGS)[keyof typeof SETTINGS]['field'], number>;
}

interface Detail extends Omit<TorrentView, 'peers'> {
  portMapping?: PortMapStatus | null;
  files: { index: number; path: string; length: number; priority: number; verifiedBytes: number }[];
  peers: {
    address: string;
    client: string;
    downloadRate: number;
    uploadRate: number;
    seed: boolean;
    encryption?: 'rc4' | 'handshake' | 'none';
  }[];
  /** Peers that closed after our plaintext handshake: they may require encryption. */
  encryptionHints?: string[];
  /** Web seeds (BEP 19) and how they do. */
  webSeeds?: {
    url: string;
    state: string;
    reason: string | null;
    retryAtMs: number | null;
    downloadedBytes: number;
    downloadRate: number;
  }[];
  trackers: TrackerStatus[];
  pieceCount: number | null;
  pieceLength: number | null;
  limits: { uploadLimitBytesPerSec: number; downloadLimitBytesPerSec: number };
}

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
      const r = await c
        .request<{ infoHash: string; torrent: TorrentView }>('POST', '/torrents', body)
        .catch((err: unknown) => {
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
      const { torrents } = await c.request<{ torrents: TorrentView[] }>('GET', '/torrents');
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
      const d = await c.request<Detail>('GET', `/torrents/${h}`);
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
        hashes = (await c.request<{ torrents: TorrentView[] }>('GET', '/torrents')).torrents.map(
          (t) => t.infoHash,
        );
      } else {
        if (positionals.length > 1) throw new UsageError(`${command}: expected one <info-hash> (or --all)`);
        hashes = [await resolveHash(c, positionals[0], command)];
      }
      const views: TorrentView[] = [];
      for (const h of hashes) views.push(await c.request<TorrentView>('POST', `/torrents/${h}/${command}`));
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
      const r = await c.request<{
        removed: string;
        deletedData: boolean;
        deleted?: string[];
        kept?: { path: string; reason: string }[];
      }>('DELETE', `/torrents/${h}${values['delete-data'] ? '?deleteData=1' : ''}`);
      if (values.json) {
        out(JSON.stringify(r));
        return 0;
      }
      const deleted = r.deleted ?? [];
      const kept = r.kept ?? [];
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
          ? await c.request<Detail>('PUT', `/torrents/${h}/limits`, body)
          : await c.request<Detail>('GET', `/torrents/${h}`);
        limits = d.limits;
        what = `${d.infoHash.slice(0, 8)} ${d.name}`;
      } else {
        const r = set
          ? await c.request<SessionReply>('PUT', '/session/limits', body)
          : await c.request<SessionReply>('GET', '/session');
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
      const before = await c.request<Detail>('GET', `/torrents/${h}`);
      const count = before.files.reduce((n, f) => Math.max(n, f.index + 1), 0);
      if (count === 0) throw new UsageError('prio: the torrent has no file list yet (metadata not fetched)');
      const files = parseIndexList('prio', 'file indexes', list, count);
      const d = await c.request<Detail>('PUT', `/torrents/${h}/priorities`, {
        files,
        priority: PRIORITY[level as keyof typeof PRIORITY],
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
      const v = await c.request<TorrentView>('POST', `/torrents/${h}/${command}`);
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
      const v = await c.request<TorrentView>('POST', `/torrents/${h}/move`, {
        dir: resolve(positionals[1]!),
      });
      if (values.json) out(JSON.stringify(v));
      else out(`moved ${v.infoHash} ${v.name} to ${v.dir}`);
      return 0;
    }
    if (command === 'set') {
      const { values, positionals } = parse('set', argv);
      const c = await client(values);
      if (positionals.length === 0) {
        const r = await c.request<SessionReply>('GET', '/session');
        if (values.json) out(JSON.stringify(r.limits));
        else
          for (const [name, spec] of Object.entries(SETTINGS)) {
            const v = r.limits[spec.field];
            out(`${name.padEnd(22)} ${spec.kind === 'rate' ? rateText(v) : v}`);
          }
        return 0;
      }
      if (positionals.length !== 2)
        throw new UsageError('set: expected <key> <value> (bitswarm set lists the keys)');
      const [key, raw] = positionals as [string, string];
      const spec = (SETTINGS as Record<string, (typeof SETTINGS)[keyof typeof SETTINGS]>)[key];
      if (!spec)
        throw new UsageError(`set: unknown key "${key}" (keys: ${Object.keys(SETTINGS).join(', ')})`);
      const value =
        spec.kind === 'rate'
          ? sizeOption('set', key, raw)!
          : intOption('set', key, raw, key === 'max-connections' ? 1 : 0, 1_000_000)!;
      const r = await c.request<SessionReply>('PUT', '/session/limits', { [spec.field]: value });
      if (values.json) out(JSON.stringify(r.limits));
      else out(`${key} = ${spec.kind === 'rate' ? rateText(r.limits[spec.field]) : r.limits[spec.field]}`);
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
