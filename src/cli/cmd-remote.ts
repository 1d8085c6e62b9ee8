// The commands that drive a running daemon through its control API:
//   bitswarm add <torrent|magnet> [-d DIR] [--peer HOST:PORT]... [--paused]
//   bitswarm ls | show <hash> | pause <hash> | resume <hash> | rm <hash> [--delete-data]
// They find the daemon through --state (default state directory) or --api HOST:PORT.
// Readable tables on a terminal, --json for scripts. A hash may be given by a unique prefix.
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ApiClient, ApiClientError, findDaemon } from '../api/client.js';
import { loadTorrentArg } from '../lib/source.js';
import { parseAddress } from '../peer/dial.js';
import { isMagnet } from '../protocol/magnet.js';
import type { TorrentView } from '../session/manager.js';
import { defaultStateDir } from '../session/state-store.js';
import { UsageError } from '../util/errors.js';
import { formatBytes, formatRate } from '../util/format.js';
import { parse } from './args.js';

const common = {
  state: { type: 'string' },
  api: { type: 'string' },
  json: { type: 'boolean' },
} as const;

const commonHelp = `  --state DIR              the daemon's state directory (default: the default state directory)
  --api HOST:PORT          the daemon's API address (default: read from <state>/api.json)
  --json                   JSON output`;

export const remoteHelp: Record<string, string> = {
  add: `usage: bitswarm add <torrent|magnet> [-d DIR] [--peer HOST:PORT]... [--paused]\n${commonHelp}`,
  ls: `usage: bitswarm ls\n${commonHelp}`,
  show: `usage: bitswarm show <info-hash>\n${commonHelp}`,
  pause: `usage: bitswarm pause <info-hash>\n${commonHelp}`,
  resume: `usage: bitswarm resume <info-hash>\n${commonHelp}`,
  rm: `usage: bitswarm rm <info-hash> [--delete-data]\n  --delete-data            also delete the torrent's own files\n${commonHelp}`,
};

async function client(values: { state?: string; api?: string }): Promise<ApiClient> {
  const api = values.api !== undefined ? parseAddress(values.api) : undefined;
  if (values.api !== undefined && !api) throw new UsageError(`--api: "${values.api}" is not HOST:PORT`);
  const { address, token } = await findDaemon(resolve(values.state ?? defaultStateDir()), api);
  return new ApiClient(address, token);
}

async function resolveHash(c: ApiClient, given: string | undefined, command: string): Promise<string> {
  if (!given) throw new UsageError(`${command}: expected an <info-hash>`);
  const h = given.toLowerCase();
  if (/^[0-9a-f]{40}$/.test(h)) return h;
  if (!/^[0-9a-f]{4,39}$/.test(h))
    throw new UsageError(`${command}: "${given}" is not an info hash (40 hex digits, or a unique prefix)`);
  const { torrents } = await c.request<{ torrents: TorrentView[] }>('GET', '/torrents');
  const matches = torrents.filter((t) => t.infoHash.startsWith(h));
  if (matches.length === 1) return matches[0]!.infoHash;
  throw new UsageError(
    `${command}: ${matches.length === 0 ? 'no torrent' : 'several torrents'} match "${given}"`,
  );
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  '))
    .join('\n');
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
    t.ratio.toFixed(2),
    t.name,
  ];
}

export async function runRemote(command: string, argv: string[]): Promise<number> {
  const out = (s: string): void => {
    process.stdout.write(`${s}\n`);
  };
  try {
    if (command === 'add') {
      const { values, positionals } = parse('add', argv, {
        ...common,
        dir: { type: 'string', short: 'd' },
        peer: { type: 'string', multiple: true },
        paused: { type: 'boolean' },
      });
      if (positionals.length !== 1) throw new UsageError('add: expected one <torrent|magnet>');
      const arg = positionals[0]!;
      for (const p of values.peer ?? [])
        if (!parseAddress(p)) throw new UsageError(`add: --peer: "${p}" is not HOST:PORT`);
      const body: Record<string, unknown> = {
        ...(values.dir ? { dir: resolve(values.dir) } : {}),
        ...(values.peer ? { peers: values.peer } : {}),
        ...(values.paused ? { paused: true } : {}),
      };
      if (isMagnet(arg)) {
        await loadTorrentArg(arg); // checks the link here, with a one-line error
        body.magnet = arg;
      } else {
        await loadTorrentArg(arg);
        body.torrent = (await readFile(arg)).toString('base64');
      }
      const c = await client(values);
      const r = await c.request<{ infoHash: string; torrent: TorrentView }>('POST', '/torrents', body);
      if (values.json) out(JSON.stringify(r));
      else out(`added ${r.infoHash} ${r.torrent.name} (${r.torrent.status})`);
      return 0;
    }
    if (command === 'ls') {
      const { values, positionals } = parse('ls', argv, common);
      if (positionals.length) throw new UsageError('ls: takes no arguments');
      const c = await client(values);
      const { torrents } = await c.request<{ torrents: TorrentView[] }>('GET', '/torrents');
      if (values.json) out(JSON.stringify({ torrents }));
      else if (torrents.length === 0) out('no torrents');
      else
        out(
          table([
            ['HASH', 'STATUS', 'DONE', 'SIZE', 'DOWN', 'UP', 'PEERS', 'RATIO', 'NAME'],
            ...torrents.map(listLine),
          ]),
        );
      return 0;
    }
    if (command === 'show') {
      const { values, positionals } = parse('show', argv, common);
      const c = await client(values);
      const h = await resolveHash(c, positionals[0], 'show');
      const d = await c.request<
        TorrentView & {
          files: { index: number; path: string; length: number; priority: number; verifiedBytes: number }[];
          peers: {
            address: string;
            client: string;
            downloadRate: number;
            uploadRate: number;
            seed: boolean;
            encryption?: 'rc4' | 'handshake' | 'none';
          }[];
          encryptionHints?: string[];
          trackers: string[][];
          pieceCount: number | null;
          pieceLength: number | null;
        }
      >('GET', `/torrents/${h}`);
      if (values.json) {
        out(JSON.stringify(d));
        return 0;
      }
      out(
        `${d.name}\n  info hash  ${d.infoHash}\n  status     ${d.status}${d.error ? ` (${d.error})` : ''}\n  done       ${d.percent.toFixed(1)}% of ${d.totalLength === null ? '?' : formatBytes(d.totalLength)}${d.pieceCount !== null ? ` in ${d.pieceCount} pieces of ${formatBytes(d.pieceLength ?? 0)}` : ''}\n  rates      ↓ ${formatRate(d.downloadRate)}  ↑ ${formatRate(d.uploadRate)}\n  totals     ${formatBytes(d.downloadedBytes)} down, ${formatBytes(d.uploadedBytes)} up, ratio ${d.ratio.toFixed(2)}\n  folder     ${d.dir}`,
      );
      if (d.files.length) {
        out('files');
        const prio = (p: number): string => (p === 0 ? 'skip' : p >= 6 ? 'high' : p <= 2 ? 'low' : 'normal');
        out(
          table(
            d.files.map((f) => [
              `  ${f.index}`,
              prio(f.priority),
              `${f.length ? ((100 * f.verifiedBytes) / f.length).toFixed(0) : 100}%`,
              formatBytes(f.length),
              f.path,
            ]),
          ),
        );
      }
      if (d.trackers.length) {
        out('trackers');
        d.trackers.forEach((tier, i) => {
          out(`  tier ${i + 1}: ${tier.join(', ')}`);
        });
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
      for (const peer of d.encryptionHints ?? []) {
        out(`note: peer ${peer} closed after the handshake; it may require encryption`);
      }
      return 0;
    }
    if (command === 'pause' || command === 'resume') {
      const { values, positionals } = parse(command, argv, common);
      const c = await client(values);
      const h = await resolveHash(c, positionals[0], command);
      const v = await c.request<TorrentView>('POST', `/torrents/${h}/${command}`);
      if (values.json) out(JSON.stringify(v));
      else out(`${command === 'pause' ? 'paused' : 'resumed'} ${v.infoHash} ${v.name} (${v.status})`);
      return 0;
    }
    if (command === 'rm') {
      const { values, positionals } = parse('rm', argv, { ...common, 'delete-data': { type: 'boolean' } });
      const c = await client(values);
      const h = await resolveHash(c, positionals[0], 'rm');
      const r = await c.request<{ removed: string; deletedData: boolean }>(
        'DELETE',
        `/torrents/${h}${values['delete-data'] ? '?deleteData=1' : ''}`,
      );
      if (values.json) out(JSON.stringify(r));
      else out(`removed ${r.removed}${r.deletedData ? ' and its files' : ''}`);
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
