// The OpenAPI description of the control API, served at GET /api/v1/openapi.json: generated from
// the route table (routes.ts), so that what is described is what the router serves.

import { API_ROOT, PATH_PARAMS, ROUTES, type RouteSpec, SCHEMAS } from './routes.js';
import { ref } from './schema.js';

const json = (schema: unknown) => ({ 'application/json': { schema } });

/** The replies every route may give besides its own. */
const COMMON_ERRORS = {
  '400': { description: 'bad request', content: json(ref('Error')) },
  '401': { description: 'missing or wrong token' },
  '403': { description: 'Host or Origin not allowed' },
  '404': { description: 'no such torrent or route', content: json(ref('Error')) },
};

function operation(r: RouteSpec): Record<string, unknown> {
  const responses: Record<string, unknown> = {
    [String(r.ok.status)]: {
      description: r.ok.description,
      ...(r.ok.schema ? { content: json(r.ok.schema) } : {}),
      ...(r.ok.stream ? { content: { [r.ok.stream]: {} } } : {}),
    },
  };
  for (const [status, description] of Object.entries(r.errors ?? {}))
    responses[status] = { description, ...(Number(status) >= 400 ? { content: json(ref('Error')) } : {}) };
  return {
    summary: r.summary,
    operationId: `${r.method.toLowerCase()}${r.path.replace(/[{}]/g, '').replace(/[^a-zA-Z0-9]+(.)?/g, (_, c: string | undefined) => (c ?? '').toUpperCase())}`,
    ...(r.auth === 'none' ? { security: [] } : {}),
    ...(r.query
      ? {
          parameters: r.query.map((q) => ({
            name: q.name,
            in: 'query',
            required: false,
            schema: q.schema,
            ...(q.description ? { description: q.description } : {}),
          })),
        }
      : {}),
    ...(r.body ? { requestBody: { content: json(r.body) } } : {}),
    responses: r.auth === 'none' ? responses : { ...responses, ...COMMON_ERRORS },
  };
}

function paths(): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const r of ROUTES as readonly RouteSpec[]) {
    const p = `${API_ROOT}${r.path}`;
    if (!out[p]) {
      const params = [...r.path.matchAll(/\{(\w+)\}/g)].map(([, name]) => ({
        name,
        in: 'path',
        required: true,
        schema: PATH_PARAMS[name!]!.schema,
      }));
      out[p] = params.length ? { parameters: params } : {};
    }
    out[p]![r.method.toLowerCase()] = operation(r);
  }
  return out;
}

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
    schemas: SCHEMAS,
  },
  security: [{ token: [] }],
  paths: paths(),
} as const;
