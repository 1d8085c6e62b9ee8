// `bitswarm stream <torrent|magnet> [-d DIR] [--http HOST:PORT] [--file N] [--player CMD]`: downloads
// with a reader's priorities and serves the files over HTTP with Range while they download; prints
// each file's URL (stdout, one per line), serves until SIGINT/SIGTERM, or until the player exits.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadTorrentArg } from '../lib/source.js';
import { formatAddress, parseAddress } from '../protocol/address.js';
import type { Metainfo } from '../protocol/metainfo.js';
import { claimMediaEnds } from '../stream/file-reader.js';
import { createStreamHandler, streamPath } from '../stream/http-server.js';
import { isMedia } from '../stream/media-type.js';
import type { Torrent } from '../swarm/torrent.js';
import { UsageError } from '../util/errors.js';
import { formatRate } from '../util/format.js';
import { type Logger, silentLogger } from '../util/logger.js';
import { intOption, parse } from './args.js';
import { Reporter } from './cmd-download.js';
import { readNetOptions, startSession } from './net-options.js';
import { onStopSignal } from './stop-signal.js';

function httpOption(v: string | undefined): { host: string; port: number } {
  if (v === undefined) return { host: '127.0.0.1', port: 0 };
  const a = parseAddress(v, { allowPortZero: true });
  if (!a) throw new UsageError(`stream: --http: "${v}" is not HOST:PORT`);
  return a;
}

export async function runStream(argv: string[], log: Logger = silentLogger): Promise<number> {
  const { values, positionals } = parse('stream', argv);
  if (positionals.length !== 1) throw new UsageError('stream: expected one <torrent|magnet>');
  const http = httpOption(values.http);
  const fileArg = intOption('stream', 'file', values.file, 0, 1_000_000);
  const player = values.player?.trim().split(/\s+/).filter(Boolean);
  if (player !== undefined && player.length === 0) throw new UsageError('stream: --player: empty command');
  const net = readNetOptions('stream', values);
  const loaded = await loadTorrentArg(positionals[0]!);
  if (loaded.kind === 'torrent') checkFile(loaded.metainfo, fileArg);
  const r = new Reporter({
    mode: 'stream',
    json: values.json === true,
    quiet: values.quiet === true,
    keepSeeding: true,
  });
  const session = await startSession(net, { logger: log });
  const server = createServer(
    createStreamHandler({ get: (hex) => session.get(hex), list: () => session.torrents }),
  );
  const ac = new AbortController();
  const releases: (() => void)[] = [];
  try {
    server.listen(http.port, http.host);
    await Promise.race([
      once(server, 'listening'),
      once(server, 'error').then(([err]) => {
        throw new Error(`stream: cannot serve HTTP on ${formatAddress(http)}: ${(err as Error).message}`);
      }),
    ]);
    const addr = server.address() as AddressInfo;
    const base = `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
    return await new Promise<number>((resolve) => {
      ac.signal.addEventListener(
        'abort',
        onStopSignal((_sig, exitCode) => resolve(exitCode)),
      );
      const attach = (t: Torrent): void => {
        const m = t.metainfo;
        try {
          checkFile(m, fileArg);
        } catch (err) {
          process.stderr.write(`bitswarm: ${(err as Error).message}\n`);
          resolve(2);
          return;
        }
        const served = m.files.flatMap((f, i) =>
          f.padding || (fileArg !== undefined && i !== fileArg) ? [] : [i],
        );
        if (fileArg !== undefined) t.setFilePriorities(m.files.map((_, i) => (i === fileArg ? 7 : 1)));
        for (const i of served) releases.push(claimMediaEnds(t, i));
        const urls = served.map((i) => ({
          index: i,
          path: m.files[i]!.path.join('/'),
          url: base + streamPath(t, i),
        }));
        if (values.json)
          r.json({
            event: 'serving',
            infoHash: m.infoHashHex,
            name: m.name,
            port: session.port,
            files: urls,
          });
        else for (const u of urls) process.stdout.write(`${u.url}\t${u.path}\n`);
        r.say(
          `bitswarm stream: ${m.name}: serving ${urls.length} file(s) on ${base}/ (peers on port ${session.port})`,
        );
        if (player) {
          const pick = urls.find((u) => isMedia(u.path)) ?? urls[0];
          if (!pick) {
            resolve(1);
            return;
          }
          const child = spawn(player[0]!, [...player.slice(1), pick.url], {
            stdio: ['ignore', 'inherit', 'inherit'],
          });
          child.on('error', (err) => {
            process.stderr.write(`bitswarm: stream: --player: ${err.message}\n`);
            resolve(1);
          });
          child.on('exit', (code) => resolve(code === 0 ? 0 : 1));
          ac.signal.addEventListener('abort', () => child.kill('SIGTERM'));
        }
        const timer = setInterval(() => {
          const now = Date.now();
          const pct = m.totalLength > 0 ? (100 * t.verifiedBytes) / m.totalLength : 100;
          r.live(
            `${t.state.padEnd(11)} ${pct.toFixed(1).padStart(5)}%  ↓ ${formatRate(t.downloadMeter.rate(now)).padStart(11)}  peers ${t.peerCount}`,
          );
          r.json({
            event: 'progress',
            state: t.state,
            verifiedBytes: t.verifiedBytes,
            percent: Number(pct.toFixed(2)),
            peers: t.peerCount,
          });
        }, 1000);
        ac.signal.addEventListener('abort', () => clearInterval(timer));
        t.on('torrent:error', (err) => {
          process.stderr.write(`bitswarm: ${err.message}\n`);
          resolve(1);
        });
      };
      const common = { dir: values.dir ?? '.', peers: net.peers, onTorrent: attach };
      const added =
        loaded.kind === 'magnet'
          ? session.addMagnet(loaded.magnet, { ...common, signal: ac.signal })
          : session.add(loaded.metainfo as Metainfo, common);
      added.catch((err: Error) => {
        if (ac.signal.aborted) return;
        process.stderr.write(`bitswarm: ${err.message}\n`);
        resolve(1);
      });
    });
  } finally {
    ac.abort();
    for (const release of releases) release();
    server.closeAllConnections();
    server.close();
    await session.stop();
  }
}

function checkFile(m: Metainfo, index: number | undefined): void {
  if (index === undefined) return;
  const f = m.files[index];
  if (f === undefined || f.padding)
    throw new UsageError(`stream: --file ${index}: the torrent has files 0–${m.files.length - 1}`);
}
