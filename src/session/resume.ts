// Resume data: what a torrent's record keeps so that a restart does not hash again what was verified
// (the verified pieces as a bitfield, each file's size and mtime then) and where it starts from (the
// peers it knew). Written by the manager when a torrent stops or at intervals; trusted at the next
// start only while every file still has the size and mtime it had (else the data is checked again).

import { resolve } from 'node:path';
import type { Metainfo } from '../protocol/metainfo.js';
import { pieceLengthOf } from '../storage/storage.js';
import type { Torrent } from '../swarm/torrent.js';
import { Bitfield } from '../util/bitfield.js';
import { fileFingerprints, type TorrentRecord } from './state-store.js';

/** Keeps the addresses a torrent knows in its record: the peers it starts from next time. */
export function rememberPeers(record: TorrentRecord, t: Torrent): void {
  const peers = t.knownAddresses().slice(0, 50);
  if (peers.length) record.peers = peers;
}

/** Resume data saying every piece is verified, when no file changed since `sinceMs` (else undefined). */
export async function unchangedSince(
  m: Metainfo,
  dir: string,
  sinceMs: number,
): Promise<NonNullable<TorrentRecord['resume']> | undefined> {
  // Coarse file-system clocks (1 s, 2 s on FAT) could date a write during hashing before it began.
  const margin = 2000;
  const files = await fileFingerprints(m.files.map((f, i) => (f.padding ? '' : filePaths(m, dir)[i]!)));
  const changed = m.files.some(
    (f, i) => !f.padding && (files[i]!.size !== f.length || files[i]!.mtimeMs >= sinceMs - margin),
  );
  if (changed) return undefined;
  return { pieces: Buffer.from(Bitfield.full(m.pieceCount).buffer).toString('base64'), files };
}

export function isValidResume(resume: TorrentRecord['resume'], m: Metainfo): boolean {
  if (!resume || typeof resume.pieces !== 'string' || !Array.isArray(resume.files)) return false;
  const bytes = Buffer.from(resume.pieces, 'base64');
  if (bytes.length !== Math.ceil(m.pieceCount / 8) || !Bitfield.spareBitsClear(m.pieceCount, bytes))
    return false;
  return resume.files.length === m.files.length;
}

export function resumeBitfield(resume: NonNullable<TorrentRecord['resume']>, m: Metainfo): Bitfield {
  return new Bitfield(m.pieceCount, Buffer.from(resume.pieces, 'base64'));
}

export function resumeComplete(resume: NonNullable<TorrentRecord['resume']>, m: Metainfo): boolean {
  return isValidResume(resume, m) && resumeBitfield(resume, m).complete;
}

export function resumeVerifiedBytes(resume: NonNullable<TorrentRecord['resume']>, m: Metainfo): number {
  if (!isValidResume(resume, m)) return 0;
  const bf = resumeBitfield(resume, m);
  let n = 0;
  for (const i of bf.indices()) n += pieceLengthOf(m, i);
  return n;
}

export function filePaths(m: Metainfo, dir: string): string[] {
  return m.files.map((f) => resolve(dir, ...f.path));
}

export async function makeResume(
  bitfield: Bitfield,
  m: Metainfo,
  dir: string,
): Promise<NonNullable<TorrentRecord['resume']>> {
  return {
    pieces: Buffer.from(bitfield.buffer).toString('base64'),
    files: await fileFingerprints(m.files.map((f, i) => (f.padding ? '' : filePaths(m, dir)[i]!))),
  };
}

/** The resume pieces when every file still has the size and mtime it had then; else undefined. */
export async function trustedPieces(record: TorrentRecord, m: Metainfo): Promise<Bitfield | undefined> {
  const resume = record.resume;
  if (!resume || !isValidResume(resume, m)) return undefined;
  const now = await fileFingerprints(m.files.map((f, i) => (f.padding ? '' : filePaths(m, record.dir)[i]!)));
  for (let i = 0; i < now.length; i++) {
    const a = now[i]!;
    const b = resume.files[i]!;
    if (m.files[i]!.padding) continue;
    if (a.size !== b.size || a.mtimeMs !== b.mtimeMs) return undefined;
  }
  return resumeBitfield(resume, m);
}
