// `bitswarm create <path> [-o FILE] [-a URL|host:port]... [--piece-length BYTES] [--private] …`
// Only argument parsing loads up front: for a large input a hash worker starts booting first (tens
// of ms), while the modules that build and print the torrent load.
import { stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename, resolve } from 'node:path';
import { isAnnounce } from '../protocol/announce.js';
import { UsageError } from '../util/errors.js';
import { intOption, parse, sizeOption } from './args.js';
import { refuseExisting, writeNewFile } from './write-new-file.js';

/** Inputs from this size on get a worker (create-torrent's WORKER_THRESHOLD_BYTES, kept in step). */
const PRESTART_MIN_BYTES = 16 * 1024 * 1024;

export async function runCreate(argv: string[]): Promise<number> {
  const { values, positionals } = parse('create', argv);
  if (positionals.length !== 1)
    throw new UsageError('create: expected one <path> (see bitswarm create --help)');
  const path = positionals[0]!;
  const announce = (values.announce ?? []).map((tier) =>
    tier
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );
  for (const tier of announce) {
    for (const a of tier) {
      if (!isAnnounce(a)) {
        throw new UsageError(`create: --announce: "${a}" is neither an http(s)/udp URL nor host:port`);
      }
    }
  }
  const pieceLength = sizeOption('create', 'piece-length', values['piece-length']);
  const chosen = (['v1', 'v2', 'hybrid'] as const).filter((v) => values[v] === true);
  if (chosen.length > 1)
    throw new UsageError(`create: ${chosen.map((v) => `--${v}`).join(' and ')} exclude each other`);
  // v1 by default: Transmission 3.00 cannot load a hybrid, and aria2 1.36 takes another info hash
  // for one (v2-create.test.ts checks both), so a hybrid would shut them out of the swarm.
  const version = chosen[0] ?? 'v1';
  const force = values.force === true;
  // Refused before hashing (minutes for a large input); checked again when the file is written.
  // The default name is createTorrent's: the input's base name.
  const out = values.output ?? `${basename(resolve(path))}.torrent`;
  await refuseExisting('create', out, force);
  const threads = intOption('create', 'threads', values.threads, 0, 64);
  if ((threads ?? availableParallelism()) > 1) {
    const st = await stat(path).catch(() => undefined); // a missing path is createTorrent's to report
    // a folder's size is known only once listed: it gets its worker then
    if (st?.isFile() && st.size > PRESTART_MIN_BYTES) {
      (await import('../storage/hasher-pool.js')).prestartHashWorker();
    }
  }
  const [
    { formatMagnet },
    { magnetHashes, parseMetainfo },
    { createTorrent },
    { formatBytes },
    { VERSION },
    { ProgressBar },
  ] = await Promise.all([
    import('../protocol/magnet.js'),
    import('../protocol/metainfo.js'),
    import('../storage/create-torrent.js'),
    import('../util/format.js'),
    import('../util/version.js'),
    import('./progress.js'),
  ]);
  const bar = new ProgressBar('hashing', process.stderr, !values.quiet && !values.json);
  const created = await createTorrent(path, {
    announce,
    version,
    ...(pieceLength !== undefined ? { pieceLength } : {}),
    ...(threads !== undefined ? { threads } : {}),
    private: values.private ?? false,
    ...(values.comment !== undefined ? { comment: values.comment } : {}),
    webSeeds: values['web-seed'] ?? [],
    createdBy: `bitswarm/${VERSION}`,
    creationDate: values['no-date'] ? null : Math.floor(Date.now() / 1000),
    excludeHidden: values['exclude-hidden'] ?? false,
    onProgress: (done, total) => bar.update(done, total),
  });
  bar.done();
  await writeNewFile('create', out, created.torrent, force);
  const m = parseMetainfo(created.torrent);
  const magnet = formatMagnet({ ...magnetHashes(m), name: m.name, trackers: m.announceList.flat() });
  if (values.json) {
    process.stdout.write(
      `${JSON.stringify({ torrent: out, infoHash: m.infoHashHex, ...(m.infoHashV2 ? { infoHashV2: m.infoHashV2.toString('hex') } : {}), version: m.version, name: m.name, totalLength: m.totalLength, pieceLength: m.pieceLength, pieceCount: m.pieceCount, files: created.files.length, magnet })}\n`,
    );
  } else {
    process.stdout.write(
      `created ${out}\n  name       ${m.name}\n  ${m.version === 'v2' ? 'v2 hash    ' : 'info hash  '}${m.version === 'v2' ? m.infoHashV2?.toString('hex') : m.infoHashHex}${m.version === 'hybrid' ? `\n  v2 hash    ${m.infoHashV2?.toString('hex')}` : ''}\n  size       ${formatBytes(m.totalLength)} in ${created.files.length} file(s)\n  pieces     ${m.pieceCount} × ${formatBytes(m.pieceLength)}\n  magnet     ${magnet}\n`,
    );
  }
  return 0;
}
