// The control API's shapes, shared by the control layer (control.ts), the router (server.ts), the
// route table that the OpenAPI document is generated from (routes.ts) and the CLI's client: what a
// request carries and what a reply holds. No I/O here.

import type { PortMapStatus } from '../discovery/port-mapper.js';
import type { DeleteReport, TorrentView } from '../session/manager.js';

export type { TorrentView } from '../session/manager.js';

/**
 * A refused operation, by condition: the router turns the code into a status (ERR_BAD_REQUEST 400,
 * ERR_NOT_FOUND 404, ERR_CONFLICT 409); the message is the one line the client shows.
 */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  readonly code: ApiErrorCode;
  constructor(code: ApiErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

export type ApiErrorCode = 'ERR_BAD_REQUEST' | 'ERR_NOT_FOUND' | 'ERR_CONFLICT';

/** Every error reply's body. */
export interface ErrorReply {
  error: { code: string; message: string };
}

/** A request body: a JSON object, not yet checked (the control layer checks each field it reads). */
export type JsonBody = Readonly<Record<string, unknown>>;

export interface Limits {
  uploadLimitBytesPerSec: number;
  downloadLimitBytesPerSec: number;
}

export interface SessionStats {
  port: number;
  peerId: string;
  encryption: string;
  torrents: number;
  downloading: number;
  seeding: number;
  paused: number;
  queued: number;
  downloadRate: number;
  uploadRate: number;
  downloadedBytes: number;
  uploadedBytes: number;
  peers: number;
  dhtNodes: number;
  /** Whether the router forwards our port (UPnP, NAT-PMP/PCP), or why not; null when mapping is off. */
  portMapping: PortMapStatus | null;
  limits: Limits & { maxActiveDownloads: number; maxActiveSeeds: number; maxConnections: number };
}

export interface FileDetail {
  index: number;
  path: string;
  length: number;
  padding: boolean;
  priority: number;
  verifiedBytes: number;
}

/** One torrent in full: its view, its files, peers, pieces, trackers, web seeds and limits. */
export type TorrentDetail = Omit<TorrentView, 'peers'> & {
  pieceLength: number | null;
  pieceCount: number | null;
  /** Base64 of the bitfield of verified pieces (null: not known yet). */
  pieces: string | null;
  private: boolean;
  comment: string | null;
  /** BEP 52: 'v1', 'v2' or 'hybrid' (null: metadata not known yet). */
  metaVersion: 'v1' | 'v2' | 'hybrid' | null;
  /** The full SHA-256 info hash of a v2 or hybrid torrent, hex (`infoHash` is its v1 or truncated form). */
  infoHashV2: string | null;
  /** The metainfo's `created by` and `creation date` (seconds since 1970). */
  createdBy: string | null;
  creationDate: number | null;
  magnet: string;
  files: FileDetail[];
  /** The connected peers (address, client, rates, flags; see Torrent.peers()). */
  peers: unknown[];
  /** Endpoints banned: by the user, or for sending data that failed the hash check. */
  bannedPeers: string[];
  encryptionHints: string[];
  webSeeds: unknown[];
  trackers: unknown[];
  /** The session's port mapping, as in SessionStats. */
  portMapping: PortMapStatus | null;
  limits: Limits & { seedRatio: number | null; seedTimeSec: number | null };
};

export interface AddReply {
  infoHash: string;
  torrent: TorrentView;
}

export interface RemoveReply extends DeleteReport {
  removed: string;
  deletedData: boolean;
}

export interface StreamUrlReply {
  url: string;
  path: string;
}
