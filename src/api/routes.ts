// The control API's route table: every route with its method, path, what it takes and what it
// answers, and the schemas of the bodies. One source: the router (server.ts) dispatches by it, the
// OpenAPI document (openapi.ts) is generated from it, and the contract test checks every route's
// real replies against the schemas declared here. Data only: no handlers, no I/O.

import { type FromSchema, ref, type Schema } from './schema.js';

/** An object whose properties are all in every reply (each `required`). */
const whole = <const P extends Record<string, Schema>>(properties: P) => ({
  type: 'object' as const,
  required: Object.keys(properties) as (keyof P & string)[],
  properties,
});

/** One torrent as lists show it (`peers`: how many are connected). */
const TORRENT = whole({
  infoHash: { type: 'string' },
  name: { type: 'string' },
  status: {
    type: 'string',
    enum: [
      'fetching-metadata',
      'queued',
      'checking',
      'downloading',
      'seeding',
      'paused',
      'finished',
      'error',
    ],
  },
  error: { type: 'string', nullable: true },
  dir: { type: 'string' },
  totalLength: { type: 'integer', nullable: true },
  verifiedBytes: { type: 'integer' },
  leftBytes: { type: 'integer', nullable: true },
  percent: { type: 'number' },
  downloadRate: { type: 'integer' },
  uploadRate: { type: 'integer' },
  peers: { type: 'integer' },
  uploadedBytes: { type: 'integer' },
  downloadedBytes: { type: 'integer' },
  ratio: { type: 'number' },
  addedAtMs: { type: 'integer' },
  queuePosition: { type: 'integer', minimum: 1, description: 'its place in the queue, 1 first' },
  etaSec: {
    type: 'integer',
    nullable: true,
    description: 'seconds to completion at the current rate',
  },
  warnings: {
    type: 'array',
    items: { type: 'string' },
    description:
      'why it may stall now: tracker errors, no peers known, refused peers, peers closing after the handshake',
  },
}) satisfies Schema;

/** The details of one torrent say more than its row: `peers` is the list, not the count. */
const { peers: _peerCount, ...TORRENT_BUT_PEERS } = TORRENT.properties;

/** The alternative speeds' schedule (a reply has all of it; a change, some). */
const SCHEDULE = {
  enabled: { type: 'boolean' },
  days: {
    type: 'array',
    items: { type: 'integer', minimum: 0, maximum: 6 },
    description: 'weekdays the window begins on, 0 Sunday … 6 Saturday',
  },
  beginMinute: { type: 'integer', minimum: 0, maximum: 1439, description: 'minutes after midnight' },
  endMinute: {
    type: 'integer',
    minimum: 0,
    maximum: 1439,
    description: 'minutes after midnight; before beginMinute: the window runs past midnight',
  },
} as const satisfies Record<string, Schema>;

const DISCOVERY = {
  dht: { type: 'boolean' },
  lsd: { type: 'boolean' },
  pex: { type: 'boolean' },
} as const satisfies Record<string, Schema>;

const ALT_SPEED = {
  enabled: { type: 'boolean' },
  uploadLimitBytesPerSec: { type: 'integer', minimum: 0 },
  downloadLimitBytesPerSec: { type: 'integer', minimum: 0 },
} as const satisfies Record<string, Schema>;

/** The schemas that request and reply bodies refer to (OpenAPI `components.schemas`). */
export const SCHEMAS = {
  Error: {
    type: 'object',
    required: ['error'],
    properties: {
      error: {
        type: 'object',
        required: ['code', 'message'],
        properties: { code: { type: 'string' }, message: { type: 'string' } },
      },
    },
  },
  Torrent: TORRENT,
  TorrentList: {
    type: 'object',
    required: ['torrents'],
    properties: { torrents: { type: 'array', items: ref('Torrent') } },
  },
  TorrentDetail: {
    description: 'a Torrent with its files, peers, pieces, limits, trackers and web seeds',
    ...whole({
      ...TORRENT_BUT_PEERS,
      pieceLength: { type: 'integer', nullable: true },
      pieceCount: { type: 'integer', nullable: true },
      pieces: {
        type: 'string',
        format: 'byte',
        nullable: true,
        description: 'base64 of the bitfield of verified pieces',
      },
      private: { type: 'boolean' },
      comment: { type: 'string', nullable: true },
      metaVersion: { type: 'string', enum: ['v1', 'v2', 'hybrid'], nullable: true },
      infoHashV2: {
        type: 'string',
        pattern: '^[0-9a-f]{64}$',
        nullable: true,
        description: 'BEP 52: the SHA-256 info hash of a v2 or hybrid torrent',
      },
      createdBy: { type: 'string', nullable: true },
      creationDate: { type: 'integer', nullable: true, description: 'seconds since 1970' },
      magnet: { type: 'string' },
      files: {
        type: 'array',
        items: whole({
          index: { type: 'integer' },
          path: { type: 'string' },
          length: { type: 'integer' },
          padding: { type: 'boolean' },
          priority: { type: 'integer', minimum: 0, maximum: 7 },
          verifiedBytes: { type: 'integer' },
        }),
      },
      peers: {
        type: 'array',
        description: 'the connected peers',
        items: whole({
          address: { type: 'string' },
          seed: { type: 'boolean' },
          downloadRate: { type: 'number' },
          uploadRate: { type: 'number' },
          client: { type: 'string' },
          encryption: {
            type: 'string',
            enum: ['rc4', 'handshake', 'none'],
            description: 'rc4: the stream is encrypted; handshake: only the handshake was',
          },
          transport: { type: 'string', enum: ['tcp', 'utp'] },
        }),
      },
      bannedPeers: { type: 'array', items: { type: 'string' } },
      encryptionHints: {
        type: 'array',
        items: { type: 'string' },
        description: 'peers that closed after our plaintext handshake: they may require encryption',
      },
      webSeeds: {
        type: 'array',
        items: whole({
          url: { type: 'string' },
          state: { type: 'string', enum: ['active', 'idle', 'backoff', 'banned'] },
          reason: { type: 'string', nullable: true },
          retryAtMs: { type: 'integer', nullable: true },
          downloadedBytes: { type: 'integer' },
          downloadRate: { type: 'number' },
          failures: { type: 'integer' },
        }),
      },
      trackers: {
        type: 'array',
        items: whole({
          url: { type: 'string' },
          tier: { type: 'integer' },
          status: { type: 'string', enum: ['not-contacted', 'working', 'error'] },
          lastAnnounceAtMs: { type: 'integer', nullable: true },
          lastResult: { type: 'string', nullable: true },
          lastError: { type: 'string', nullable: true },
          nextAnnounceAtMs: { type: 'integer', nullable: true },
          peers: { type: 'integer', nullable: true },
          seeders: { type: 'integer', nullable: true },
          leechers: { type: 'integer', nullable: true },
        }),
      },
      portMapping: ref('PortMapping'),
      limits: whole({
        uploadLimitBytesPerSec: { type: 'integer' },
        downloadLimitBytesPerSec: { type: 'integer' },
        seedRatio: { type: 'number', nullable: true },
        seedTimeSec: { type: 'number', nullable: true },
      }),
    }),
  },
  PortMapping: {
    type: 'object',
    nullable: true,
    description:
      "the router's port forwarding: mapping (method upnp|natpmp|pcp, gateway, externalIp, externalPort, udp, leaseSec) once made, each method's last failure, pending while the first attempt runs; null when mapping is off",
    required: ['failures', 'pending'],
    properties: {
      mapping: {
        type: 'object',
        required: ['method', 'gateway', 'externalIp', 'externalPort', 'udp', 'leaseSec'],
        properties: {
          method: { type: 'string', enum: ['upnp', 'natpmp', 'pcp'] },
          gateway: { type: 'string' },
          externalIp: { type: 'string' },
          externalPort: { type: 'integer' },
          udp: { type: 'boolean' },
          leaseSec: { type: 'integer' },
        },
      },
      failures: {
        type: 'array',
        items: {
          type: 'object',
          required: ['method', 'message'],
          properties: { method: { type: 'string', enum: ['upnp', 'natpmp'] }, message: { type: 'string' } },
        },
      },
      pending: { type: 'boolean' },
    },
  },
  AltSpeed: {
    description:
      'the alternative ("turtle") speeds: on or off now, their limits (0: none), and the schedule that switches them on when its window begins and off when it ends (local time; a switch in between holds until the next edge)',
    ...whole({ ...ALT_SPEED, schedule: whole(SCHEDULE) }),
  },
  SessionStats: whole({
    port: { type: 'integer' },
    peerId: { type: 'string' },
    encryption: { type: 'string', enum: ['prefer', 'require', 'off'] },
    torrents: { type: 'integer' },
    downloading: { type: 'integer' },
    seeding: { type: 'integer' },
    paused: { type: 'integer' },
    queued: { type: 'integer' },
    downloadRate: { type: 'number' },
    uploadRate: { type: 'number' },
    downloadedBytes: { type: 'integer' },
    uploadedBytes: { type: 'integer' },
    peers: { type: 'integer' },
    dhtNodes: { type: 'integer' },
    portMapping: ref('PortMapping'),
    limits: whole({
      uploadLimitBytesPerSec: { type: 'integer' },
      downloadLimitBytesPerSec: { type: 'integer' },
      maxActiveDownloads: { type: 'integer' },
      maxActiveSeeds: { type: 'integer' },
      maxConnections: { type: 'integer' },
    }),
    altSpeed: ref('AltSpeed'),
    effectiveLimits: {
      description: 'the session-wide rate limits in force: the alternative ones while turtle is on',
      ...whole({
        uploadLimitBytesPerSec: { type: 'integer' },
        downloadLimitBytesPerSec: { type: 'integer' },
      }),
    },
    discovery: {
      description: 'the discovery methods running now',
      ...whole(DISCOVERY),
    },
    downloadDir: { type: 'string', description: 'where a torrent added without a folder goes' },
    nextStart: {
      description: 'the listen port and discovery switches saved for the next start of the daemon',
      ...whole({ port: { type: 'integer' }, ...DISCOVERY }),
    },
    pendingRestart: {
      type: 'array',
      items: { type: 'string', enum: ['port', 'dht', 'lsd', 'pex'] },
      description: 'saved settings that take effect when the daemon restarts',
    },
  }),
  SessionSettings: {
    type: 'object',
    description:
      'the session settings to change (each optional); kept in the state directory. altSpeed applies at once, downloadDir to the next add (inside an allowed folder), port and the discovery switches at the next start',
    properties: {
      altSpeed: {
        type: 'object',
        properties: { ...ALT_SPEED, schedule: { type: 'object', properties: SCHEDULE } },
      },
      port: { type: 'integer', minimum: 1, maximum: 65535 },
      ...DISCOVERY,
      downloadDir: { type: 'string', description: 'absolute' },
    },
  },
  AddReply: {
    type: 'object',
    required: ['infoHash', 'torrent'],
    properties: { infoHash: { type: 'string', pattern: '^[0-9a-f]{40}$' }, torrent: ref('Torrent') },
  },
  RemoveReply: {
    type: 'object',
    required: ['removed', 'deletedData', 'deleted', 'kept'],
    properties: {
      removed: { type: 'string' },
      deletedData: { type: 'boolean' },
      deleted: { type: 'array', items: { type: 'string' } },
      kept: {
        type: 'array',
        items: {
          type: 'object',
          required: ['path', 'reason'],
          properties: { path: { type: 'string' }, reason: { type: 'string' } },
        },
      },
    },
  },
  StreamUrl: {
    type: 'object',
    required: ['url', 'path'],
    properties: { url: { type: 'string' }, path: { type: 'string' } },
  },
  AddRequest: {
    type: 'object',
    description:
      'One of torrent (base64 of the .torrent bytes), magnet, or path (a .torrent on the daemon host).',
    properties: {
      torrent: { type: 'string', format: 'byte' },
      magnet: { type: 'string' },
      path: {
        type: 'string',
        description: 'a regular file of at most 128 MiB (a FIFO or a device is refused)',
      },
      dir: {
        type: 'string',
        description:
          "absolute; inside the daemon's default download folder or a folder it was started with --allow-dir (else 400)",
      },
      paused: { type: 'boolean' },
      sequential: { type: 'boolean', description: 'download pieces in order' },
      chooseFiles: {
        type: 'boolean',
        description:
          'a magnet: fetch its metadata, then rest paused with nothing downloaded, so its files can be chosen (priorities) before resume',
      },
      peers: { type: 'array', items: { type: 'string', description: 'HOST:PORT' } },
      priorities: { type: 'array', items: { type: 'integer', minimum: 0, maximum: 7 } },
      uploadLimitBytesPerSec: { type: 'integer' },
      downloadLimitBytesPerSec: { type: 'integer' },
      seedRatio: { type: 'number' },
      seedTimeSec: { type: 'number' },
    },
  },
} as const satisfies Record<string, Schema>;

/** How a route is authorised: the token header, nothing (public), or the token or a signed URL. */
export type RouteAuth = 'token' | 'none' | 'token-or-signature';

export interface RouteSpec {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Under the API's root; `{hash}` (an info hash) and `{index}` (a file index) are parameters. */
  readonly path: string;
  readonly summary: string;
  readonly auth: RouteAuth;
  readonly query?: readonly {
    readonly name: string;
    readonly schema: Schema;
    readonly description?: string;
  }[];
  /** The JSON request body. */
  readonly body?: Schema;
  /** The success reply: its status and, for JSON, its schema; `stream` for bytes or events. */
  readonly ok: {
    readonly status: number;
    readonly description: string;
    readonly schema?: Schema;
    readonly stream?: string;
  };
  /** Error replies beyond the common ones (400, 401, 403, 404). */
  readonly errors?: Readonly<Record<string, string>>;
}

/** The patterns of the path parameters (a bad info hash is a 400, checked by the router). */
export const PATH_PARAMS: Readonly<Record<string, { pattern: string; schema: Schema }>> = {
  hash: { pattern: '[^/]+', schema: { type: 'string', pattern: '^[0-9a-f]{40}$' } },
  index: { pattern: '\\d{1,9}', schema: { type: 'integer', minimum: 0 } },
};

/** A request body: an object with these (optional) properties. */
const object = <const P extends Record<string, Schema>>(properties: P) => ({
  type: 'object' as const,
  properties,
});

const limitsBody = object({
  uploadLimitBytesPerSec: { type: 'integer' },
  downloadLimitBytesPerSec: { type: 'integer' },
  seedRatio: { type: 'number', nullable: true },
  seedTimeSec: { type: 'number', nullable: true },
});

export const API_ROOT = '/api/v1';

/** `POST /torrents/{hash}/VERB`: an action on one torrent, answered with its row. */
const action = <V extends string>(verb: V, summary: string) =>
  ({
    method: 'POST',
    path: `/torrents/{hash}/${verb}`,
    summary,
    auth: 'token',
    ok: { status: 200, description: 'Torrent', schema: ref('Torrent') },
  }) as const;

export const ROUTES = [
  {
    method: 'GET',
    path: '/openapi.json',
    summary: 'this description',
    auth: 'none',
    ok: { status: 200, description: 'OpenAPI 3', schema: { type: 'object' } },
  },
  {
    method: 'GET',
    path: '/session',
    summary: 'session statistics and limits',
    auth: 'token',
    ok: { status: 200, description: 'stats', schema: ref('SessionStats') },
  },
  {
    method: 'PUT',
    path: '/session/limits',
    summary: 'set session-wide limits',
    auth: 'token',
    body: object({
      uploadLimitBytesPerSec: { type: 'integer' },
      downloadLimitBytesPerSec: { type: 'integer' },
      maxActiveDownloads: { type: 'integer' },
      maxActiveSeeds: { type: 'integer' },
      maxConnections: { type: 'integer' },
    }),
    ok: { status: 200, description: 'stats', schema: ref('SessionStats') },
  },
  {
    method: 'PUT',
    path: '/session/settings',
    summary:
      'change session settings: alternative speeds and their schedule, default download folder, listen port and discovery switches (DHT, LSD, PEX); kept in the state directory',
    auth: 'token',
    body: ref('SessionSettings'),
    ok: { status: 200, description: 'stats', schema: ref('SessionStats') },
  },
  {
    method: 'GET',
    path: '/events',
    summary: 'Server-Sent Events: hello, added, removed, status, complete, error, progress (every second)',
    auth: 'token',
    ok: { status: 200, description: 'text/event-stream', stream: 'text/event-stream' },
  },
  {
    method: 'GET',
    path: '/torrents',
    summary: 'list torrents',
    auth: 'token',
    ok: { status: 200, description: '{ torrents: Torrent[] }', schema: ref('TorrentList') },
  },
  {
    method: 'POST',
    path: '/torrents',
    summary: 'add a torrent (bytes, magnet or path)',
    auth: 'token',
    body: ref('AddRequest'),
    ok: { status: 201, description: '{ infoHash, torrent }', schema: ref('AddReply') },
    errors: { '409': 'the torrent is already there (the error names its folder)' },
  },
  {
    method: 'GET',
    path: '/torrents/{hash}',
    summary:
      'one torrent: files, peers, pieces, limits, warnings, trackers (each: url, tier, status not-contacted|working|error, lastAnnounceAtMs, lastResult, lastError, nextAnnounceAtMs, peers, seeders, leechers) and webSeeds (each: url, state active|idle|backoff|banned, reason, retryAtMs, downloadedBytes, downloadRate, failures)',
    auth: 'token',
    ok: { status: 200, description: 'details', schema: ref('TorrentDetail') },
  },
  {
    method: 'DELETE',
    path: '/torrents/{hash}',
    summary:
      'remove; ?deleteData=1 also deletes the files and folders this torrent created (never a file that was there before it, never through a symlink); the reply lists `deleted` and `kept` ({ path, reason })',
    auth: 'token',
    query: [{ name: 'deleteData', schema: { type: 'string', enum: ['0', '1'] } }],
    ok: { status: 200, description: 'removed', schema: ref('RemoveReply') },
  },
  action('pause', 'pause'),
  action('resume', 'resume'),
  action('recheck', 'check the data again'),
  action('reannounce', 'announce to the trackers (and the DHT) now'),
  {
    method: 'POST',
    path: '/torrents/{hash}/move',
    summary:
      "move the torrent's files to another folder (rename, or copy and delete across file systems; rolled back on failure); it goes on from there",
    auth: 'token',
    body: object({ dir: { type: 'string', description: 'absolute folder path' } }),
    ok: { status: 200, description: 'Torrent', schema: ref('Torrent') },
  },
  {
    method: 'PUT',
    path: '/torrents/{hash}/trackers',
    summary:
      'replace its trackers: tiers (BEP 12) of http, https or udp URLs, tried tier by tier; kept in its record, announced to at once if it runs',
    auth: 'token',
    body: {
      type: 'object',
      required: ['tiers'],
      properties: { tiers: { type: 'array', items: { type: 'array', items: { type: 'string' } } } },
    },
    ok: { status: 200, description: 'details', schema: ref('TorrentDetail') },
  },
  {
    method: 'POST',
    path: '/torrents/{hash}/queue',
    summary:
      'move it in the queue (the order in which queued torrents start): to the top or the bottom, or one place up or down',
    auth: 'token',
    body: {
      type: 'object',
      required: ['move'],
      properties: { move: { type: 'string', enum: ['top', 'up', 'down', 'bottom'] } },
    },
    ok: { status: 200, description: 'Torrent', schema: ref('Torrent') },
  },
  {
    method: 'POST',
    path: '/torrents/{hash}/ban',
    summary: 'ban a peer by its endpoint: disconnected, never dialled nor accepted again; kept in its record',
    auth: 'token',
    body: {
      type: 'object',
      required: ['peer'],
      properties: { peer: { type: 'string', description: 'HOST:PORT, IPv6 as [ADDR]:PORT' } },
    },
    ok: { status: 200, description: 'details', schema: ref('TorrentDetail') },
  },
  {
    method: 'POST',
    path: '/torrents/{hash}/peers',
    summary:
      'add peers by address: dialled now if the torrent runs, and kept in its record for its next start',
    auth: 'token',
    body: object({
      peers: { type: 'array', items: { type: 'string', description: 'HOST:PORT, IPv6 as [ADDR]:PORT' } },
    }),
    ok: { status: 200, description: 'Torrent', schema: ref('Torrent') },
  },
  {
    method: 'PUT',
    path: '/torrents/{hash}/priorities',
    summary:
      'file priorities: 0 skip, 1 low, 4 normal, 7 high; either one per file, by index ({ priorities }), or one for some files ({ files: [indexes], priority })',
    auth: 'token',
    body: object({
      priorities: { type: 'array', items: { type: 'integer' } },
      files: { type: 'array', items: { type: 'integer' } },
      priority: { type: 'integer' },
    }),
    ok: { status: 200, description: 'details', schema: ref('TorrentDetail') },
  },
  {
    method: 'GET',
    path: '/torrents/{hash}/files/{index}/stream-url',
    summary: "a URL that plays the file without the token header (signed with the daemon's token)",
    auth: 'token',
    ok: { status: 200, description: 'the URL and the file path', schema: ref('StreamUrl') },
  },
  {
    method: 'GET',
    path: '/torrents/{hash}/files/{index}/stream',
    summary:
      'the file, while it downloads, with Range (206, 416); `sig` from stream-url replaces the token; 403 for a wrong signature; HEAD too',
    auth: 'token-or-signature',
    query: [{ name: 'sig', schema: { type: 'string' } }],
    ok: { status: 200, description: 'the bytes', stream: 'application/octet-stream' },
    errors: { '206': 'a range of the bytes', '409': 'the torrent is not active (paused or queued)' },
  },
  {
    method: 'PUT',
    path: '/torrents/{hash}/limits',
    summary: 'per-torrent rate limits and seeding goals',
    auth: 'token',
    body: limitsBody,
    ok: { status: 200, description: 'details', schema: ref('TorrentDetail') },
  },
] as const satisfies readonly RouteSpec[];

type Route = (typeof ROUTES)[number];
/** A route's key: `METHOD /path`, as the router's handler table names it. */
export type RouteKey = Route extends infer R
  ? R extends { method: infer M extends string; path: infer P extends string }
    ? `${M} ${P}`
    : never
  : never;

type Components = typeof SCHEMAS;
/** The type of the JSON a schema of this table describes. */
export type Json<S> = FromSchema<S, Components>;
/** The type of a named schema (a component). */
export type Model<N extends keyof Components> = Json<Components[N]>;
type RouteOf<K extends RouteKey> = K extends `${infer M} ${infer P}`
  ? Extract<Route, { method: M; path: P }>
  : never;
/** What a route's request body may hold (undefined: it takes none). */
export type RouteBody<K extends RouteKey> = RouteOf<K> extends { body: infer B } ? Json<B> : undefined;
/** What a route's success reply holds (never: it streams). */
export type RouteReply<K extends RouteKey> = RouteOf<K> extends { ok: { schema: infer S } } ? Json<S> : never;

export function routeKey(r: RouteSpec): string {
  return `${r.method} ${r.path}`;
}
