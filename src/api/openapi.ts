// The OpenAPI description of the control API, served at GET /api/v1/openapi.json.

const hash = {
  name: 'hash',
  in: 'path',
  required: true,
  schema: { type: 'string', pattern: '^[0-9a-f]{40}$' },
};
const ok = (description: string) => ({ description, content: { 'application/json': {} } });
/** A JSON request body: an object with these properties. */
const jsonBody = (properties: Record<string, unknown>) => ({
  content: { 'application/json': { schema: { type: 'object', properties } } },
});
const errors = {
  '400': {
    description: 'bad request',
    content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
  },
  '401': { description: 'missing or wrong token' },
  '403': { description: 'Host or Origin not allowed' },
  '404': { description: 'no such torrent or route' },
};

export const OPENAPI = {
  openapi: '3.0.3',
  info: {
    title: 'bitswarm control API',
    version: '1',
    description:
      'Local control of a bitswarm daemon. Every request but this description needs `Authorization: Bearer <token>`, ' +
      "the token being the file `api-token` in the daemon's state directory. The Host header must be a loopback " +
      'address (or a configured host).',
  },
  servers: [{ url: 'http://127.0.0.1:6880' }],
  components: {
    securitySchemes: { token: { type: 'http', scheme: 'bearer' } },
    schemas: {
      Error: {
        type: 'object',
        properties: {
          error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } } },
        },
      },
      Torrent: {
        type: 'object',
        properties: {
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
        },
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
          peers: { type: 'array', items: { type: 'string', description: 'HOST:PORT' } },
          priorities: { type: 'array', items: { type: 'integer', minimum: 0, maximum: 7 } },
          uploadLimitBytesPerSec: { type: 'integer' },
          downloadLimitBytesPerSec: { type: 'integer' },
          seedRatio: { type: 'number' },
          seedTimeSec: { type: 'number' },
        },
      },
    },
  },
  security: [{ token: [] }],
  paths: {
    '/api/v1/openapi.json': {
      get: { summary: 'this description', security: [], responses: { '200': ok('OpenAPI 3') } },
    },
    '/api/v1/session': {
      get: {
        summary:
          "session statistics and limits, and portMapping: the router's port forwarding (mapping: method upnp|natpmp|pcp, gateway, externalIp, externalPort, udp, leaseSec; failures: each method's reason; pending), null when off",
        responses: { '200': ok('stats'), ...errors },
      },
    },
    '/api/v1/session/limits': {
      put: {
        summary: 'set session-wide limits',
        requestBody: jsonBody({
          uploadLimitBytesPerSec: { type: 'integer' },
          downloadLimitBytesPerSec: { type: 'integer' },
          maxActiveDownloads: { type: 'integer' },
          maxActiveSeeds: { type: 'integer' },
          maxConnections: { type: 'integer' },
        }),
        responses: { '200': ok('stats'), ...errors },
      },
    },
    '/api/v1/events': {
      get: {
        summary:
          'Server-Sent Events: hello, added, removed, status, complete, error, progress (every second)',
        responses: { '200': { description: 'text/event-stream' }, ...errors },
      },
    },
    '/api/v1/torrents': {
      get: { summary: 'list torrents', responses: { '200': ok('{ torrents: Torrent[] }'), ...errors } },
      post: {
        summary: 'add a torrent (bytes, magnet or path)',
        requestBody: {
          content: { 'application/json': { schema: { $ref: '#/components/schemas/AddRequest' } } },
        },
        responses: {
          '201': ok('{ infoHash, torrent }'),
          '409': {
            description: 'the torrent is already there (the error names its folder)',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
          },
          ...errors,
        },
      },
    },
    '/api/v1/torrents/{hash}': {
      parameters: [hash],
      get: {
        summary:
          'one torrent: files, peers, pieces, limits, warnings, trackers (each: url, tier, status not-contacted|working|error, lastAnnounceAtMs, lastResult, lastError, nextAnnounceAtMs, peers, seeders, leechers) and webSeeds (each: url, state active|idle|backoff|banned, reason, retryAtMs, downloadedBytes, downloadRate, failures)',
        responses: { '200': ok('details'), ...errors },
      },
      delete: {
        summary:
          'remove; ?deleteData=1 also deletes the files and folders this torrent created (never a file that was there before it, never through a symlink); the reply lists `deleted` and `kept` ({ path, reason })',
        parameters: [{ name: 'deleteData', in: 'query', schema: { type: 'string', enum: ['0', '1'] } }],
        responses: { '200': ok('removed'), ...errors },
      },
    },
    '/api/v1/torrents/{hash}/pause': {
      parameters: [hash],
      post: { summary: 'pause', responses: { '200': ok('Torrent'), ...errors } },
    },
    '/api/v1/torrents/{hash}/resume': {
      parameters: [hash],
      post: { summary: 'resume', responses: { '200': ok('Torrent'), ...errors } },
    },
    '/api/v1/torrents/{hash}/recheck': {
      parameters: [hash],
      post: { summary: 'check the data again', responses: { '200': ok('Torrent'), ...errors } },
    },
    '/api/v1/torrents/{hash}/reannounce': {
      parameters: [hash],
      post: {
        summary: 'announce to the trackers (and the DHT) now',
        responses: { '200': ok('Torrent'), ...errors },
      },
    },
    '/api/v1/torrents/{hash}/move': {
      parameters: [hash],
      post: {
        summary:
          "move the torrent's files to another folder (rename, or copy and delete across file systems; rolled back on failure); it goes on from there",
        requestBody: jsonBody({ dir: { type: 'string', description: 'absolute folder path' } }),
        responses: { '200': ok('Torrent'), ...errors },
      },
    },
    '/api/v1/torrents/{hash}/priorities': {
      parameters: [hash],
      put: {
        summary:
          'file priorities: 0 skip, 1 low, 4 normal, 7 high; either one per file, by index ({ priorities }), or one for some files ({ files: [indexes], priority })',
        requestBody: jsonBody({
          priorities: { type: 'array', items: { type: 'integer' } },
          files: { type: 'array', items: { type: 'integer' } },
          priority: { type: 'integer' },
        }),
        responses: { '200': ok('details'), ...errors },
      },
    },
    '/api/v1/torrents/{hash}/files/{index}/stream-url': {
      parameters: [
        hash,
        { name: 'index', in: 'path', required: true, schema: { type: 'integer', minimum: 0 } },
      ],
      get: {
        summary: "a URL that plays the file without the token header (signed with the daemon's token)",
        responses: {
          '200': {
            description: 'the URL and the file path',
            content: {
              'application/json': {
                schema: { type: 'object', properties: { url: { type: 'string' }, path: { type: 'string' } } },
              },
            },
          },
          ...errors,
        },
      },
    },
    '/api/v1/torrents/{hash}/files/{index}/stream': {
      parameters: [
        hash,
        { name: 'index', in: 'path', required: true, schema: { type: 'integer', minimum: 0 } },
        { name: 'sig', in: 'query', required: false, schema: { type: 'string' } },
      ],
      get: {
        summary:
          'the file, while it downloads, with Range (206, 416); `sig` from stream-url replaces the token; 403 for a wrong signature',
        responses: {
          '200': { description: 'the bytes' },
          '206': { description: 'a range of the bytes' },
          ...errors,
        },
      },
    },
    '/api/v1/torrents/{hash}/limits': {
      parameters: [hash],
      put: {
        summary: 'per-torrent rate limits and seeding goals',
        requestBody: jsonBody({
          uploadLimitBytesPerSec: { type: 'integer' },
          downloadLimitBytesPerSec: { type: 'integer' },
          seedRatio: { type: 'number', nullable: true },
          seedTimeSec: { type: 'number', nullable: true },
        }),
        responses: { '200': ok('details'), ...errors },
      },
    },
  },
} as const;
