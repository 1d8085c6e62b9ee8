// `bitswarm info <torrent|magnet> [--json]`

import { loadTorrentArg } from '../lib/source.js';
import { quote } from '../protocol/errors.js';
import { formatMagnet } from '../protocol/magnet.js';
import { type Metainfo, magnetHashes } from '../protocol/metainfo.js';
import { UsageError } from '../util/errors.js';
import { formatBytes } from '../util/format.js';
import { parse } from './args.js';

export function metainfoJson(m: Metainfo) {
  return {
    name: m.name,
    infoHash: m.infoHashHex,
    ...(m.infoHashV2 ? { infoHashV2: m.infoHashV2.toString('hex') } : {}),
    version: m.version,
    totalLength: m.totalLength,
    pieceLength: m.pieceLength,
    pieceCount: m.pieceCount,
    multiFile: m.multiFile,
    files: m.files.map((f) => ({
      path: f.path.join('/'),
      ...(f.rawPath.join('/') !== f.path.join('/') ? { rawPath: f.rawPath.join('/') } : {}),
      length: f.length,
      offset: f.offset,
      padding: f.padding,
      ...(f.attr ? { attr: f.attr } : {}),
    })),
    trackers: m.announceList,
    webSeeds: m.urlList,
    private: m.private,
    comment: m.comment ?? null,
    createdBy: m.createdBy ?? null,
    creationDate: m.creationDate ?? null,
    magnet: formatMagnet({
      ...magnetHashes(m),
      name: m.name,
      trackers: m.announceList.flat(),
    }),
    warnings: m.warnings,
  };
}

/** Text from a torrent shown on a terminal: control characters escaped (no ANSI tricks). */
function safe(s: string): string {
  return /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/.test(s) ? quote(s) : s;
}

function fileTree(m: Metainfo): string[] {
  const lines: string[] = [];
  const seen = new Set<string>();
  for (const f of m.files) {
    if (f.padding) continue;
    for (let d = 1; d < f.path.length; d++) {
      const dir = f.path.slice(0, d).join('/');
      if (!seen.has(dir)) {
        seen.add(dir);
        lines.push(`${'  '.repeat(d)}${f.path[d - 1]}/`);
      }
    }
    lines.push(`${'  '.repeat(f.path.length)}${f.path[f.path.length - 1]}  (${formatBytes(f.length)})`);
  }
  return lines;
}

export async function runInfo(argv: string[]): Promise<number> {
  const { values, positionals } = parse('info', argv);
  if (positionals.length !== 1) throw new UsageError('info: expected one <torrent|magnet>');
  const loaded = await loadTorrentArg(positionals[0]!);
  const out: string[] = [];
  if (loaded.kind === 'magnet') {
    const g = loaded.magnet;
    if (values.json) {
      process.stdout.write(
        `${JSON.stringify({ magnet: true, infoHash: g.infoHashHex, name: g.name ?? null, trackers: g.trackers, peers: g.peers, webSeeds: g.webSeeds, selectOnly: g.selectOnly ?? null, warnings: g.warnings })}\n`,
      );
      return 0;
    }
    out.push(
      `magnet link`,
      `  info hash  ${g.infoHashHex}`,
      `  name       ${g.name ?? '(unknown until metadata is fetched)'}`,
    );
    if (g.trackers.length) out.push('  trackers', ...g.trackers.map((t) => `    ${t}`));
    if (g.peers.length) out.push('  peers', ...g.peers.map((p) => `    ${p}`));
    if (g.webSeeds.length) out.push('  web seeds', ...g.webSeeds.map((w) => `    ${w}`));
    for (const w of g.warnings) out.push(`  warning: ${w}`);
    process.stdout.write(`${out.join('\n')}\n`);
    return 0;
  }
  const m = loaded.metainfo;
  if (values.json) {
    process.stdout.write(`${JSON.stringify(metainfoJson(m), null, 2)}\n`);
    return 0;
  }
  out.push(
    `name        ${m.name}`,
    `version     ${m.version === 'v1' ? 'v1' : m.version === 'v2' ? 'v2 (BEP 52)' : 'hybrid v1 + v2 (BEP 52)'}`,
    ...(m.version !== 'v2' ? [`info hash   ${m.infoHashHex}`] : []),
    ...(m.infoHashV2 ? [`v2 hash     ${m.infoHashV2.toString('hex')}`] : []),
    `size        ${formatBytes(m.totalLength)} (${m.totalLength} bytes)`,
    `pieces      ${m.pieceCount} × ${formatBytes(m.pieceLength)}`,
    `private     ${m.private ? 'yes' : 'no'}`,
  );
  if (m.createdBy) out.push(`created by  ${safe(m.createdBy)}`);
  if (m.creationDate !== undefined) out.push(`created on  ${new Date(m.creationDate * 1000).toISOString()}`);
  if (m.comment) out.push(`comment     ${safe(m.comment)}`);
  out.push(`files       ${m.files.filter((f) => !f.padding).length}`, ...fileTree(m));
  if (m.announceList.length) {
    out.push('trackers');
    m.announceList.forEach((tier, i) => {
      out.push(`  tier ${i + 1}: ${tier.map(safe).join(', ')}`);
    });
  }
  if (m.urlList.length) out.push('web seeds', ...m.urlList.map((u) => `  ${safe(u)}`));
  for (const w of m.warnings) out.push(`warning: ${w}`);
  process.stdout.write(`${out.join('\n')}\n`);
  return 0;
}
