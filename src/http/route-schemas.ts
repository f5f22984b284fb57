// JSON schemas of the existing routes, for the OpenAPI document only. They describe what the routes
// accept and answer; they never validate: the routes' own parsing stays the authority, so every bad
// input keeps its documented catalogue code (INVALID_PARAMETER, MISSING_INPUT...) instead of a
// schema validator's wording. openapi.ts attaches them with a validator that accepts everything.

import { REPLY_STATUS } from './error-replies.js';

export const ERROR_BODY_SCHEMA = {
  type: 'object',
  required: ['error', 'code'],
  properties: {
    error: { type: 'string', description: 'what went wrong, naming the problem' },
    code: { type: 'string', enum: Object.keys(REPLY_STATUS), description: 'machine-readable code (error table of docs/http-api.md)' },
    invalid: {
      type: 'array',
      items: { type: 'string' },
      maxItems: 100,
      description: 'INVALID_PHONE only: the invalid entries, at most 100, each cut to 32 characters',
    },
  },
} as const;

/** One 4xx/5xx response per status the catalogue can produce for a route. */
export function errorResponses(statuses: readonly number[]): Record<string, unknown> {
  const responses: Record<string, unknown> = {};
  for (const status of statuses) {
    const codes = Object.entries(REPLY_STATUS)
      .filter(([, replyStatus]) => replyStatus === status)
      .map(([code]) => code);
    responses[String(status)] = {
      description: `error: ${codes.join(', ')}`,
      content: { 'application/json': { schema: ERROR_BODY_SCHEMA } },
    };
  }
  return responses;
}

const PDNC_FIELDS = {
  actionType: { type: 'string', description: 'add | remove | count | status (case-insensitive); required' },
  phoneList: { type: 'string', description: 'comma-separated 10-digit numbers; required for add, remove and status' },
  projId: { type: 'string', description: 'project id; absent or empty means the master list' },
  ignoreInvalid: { type: 'string', description: '0/false (default): one invalid number aborts; 1/true: skip invalid entries' },
} as const;

const PDNC_QUERY = {
  type: 'object',
  properties: PDNC_FIELDS,
  additionalProperties: true,
  description: 'Unknown parameters are ignored (clients send version=3)',
} as const;

const API_KEY_HEADERS = {
  type: 'object',
  properties: { loginId: { type: 'string', description: 'API key (idnc_<id>_<secret>)' } },
  required: ['loginId'],
} as const;

const STATUS_ENTRY = {
  type: 'object',
  required: ['phone', 'onList', 'list'],
  properties: {
    phone: { type: 'string', pattern: '^[0-9]{10}$' },
    onList: { type: 'boolean' },
    list: { type: 'string', enum: ['project', 'master'], nullable: true },
  },
} as const;

const PDNC_RESPONSES = {
  200: {
    description:
      'add/remove: empty body with headers idnc-changed, idnc-skipped, idnc-seq; count: the count as a bare integer (text/plain); status: JSON array in request order',
    headers: {
      'idnc-changed': { schema: { type: 'integer' }, description: 'add/remove: numbers whose state changed' },
      'idnc-skipped': { schema: { type: 'integer' }, description: 'invalid entries skipped (ignoreInvalid=1)' },
      'idnc-seq': { schema: { type: 'integer' }, description: 'add/remove: log position of the change' },
    },
    content: {
      'application/json': { schema: { type: 'array', items: STATUS_ENTRY } },
      'text/plain': { schema: { type: 'string', pattern: '^[0-9]+$' } },
    },
  },
  ...errorResponses([400, 401, 403, 413, 414, 415, 429, 431, 503]),
} as const;

export const PDNC_GET_SCHEMA = {
  summary: 'DNCScrub-compatible Internal DNC endpoint (query string)',
  description: 'The fields come from the query string only: a GET with a body is refused (400 BAD_REQUEST), never answered from the query alone.',
  tags: ['pdnc'],
  security: [{ apiKey: [] }],
  querystring: PDNC_QUERY,
  headers: API_KEY_HEADERS,
  response: PDNC_RESPONSES,
} as const;

export const PDNC_POST_SCHEMA = {
  summary: 'DNCScrub-compatible Internal DNC endpoint (form-encoded or JSON body; body fields win over query fields)',
  tags: ['pdnc'],
  security: [{ apiKey: [] }],
  consumes: ['application/x-www-form-urlencoded', 'application/json'],
  querystring: PDNC_QUERY,
  headers: API_KEY_HEADERS,
  body: { type: 'object', properties: PDNC_FIELDS, additionalProperties: true },
  response: PDNC_RESPONSES,
} as const;

export const HEALTHZ_SCHEMA = {
  summary: 'Liveness check; needs no key',
  tags: ['operations'],
  response: {
    200: {
      description: 'the server is up',
      content: {
        'application/json': {
          schema: {
            type: 'object',
            properties: {
              status: { type: 'string', enum: ['ok'] },
              keys: {
                type: 'object',
                description: 'only with --replicate or --follow: where the API keys come from (the NATS bucket or keys.json), whether they are behind it, and when they were last found current',
                properties: { source: { type: 'string', enum: ['nats', 'file'] }, stale: { type: 'boolean' }, lastUpdateAt: { type: 'string', nullable: true } },
              },
              replication: {
                type: 'object',
                description: 'only with --replicate or --follow: the role, whether NATS answers, the last seq here and in the stream, a follower\'s lag, and the writer\'s URL when known',
                properties: {
                  role: { type: 'string', enum: ['writer', 'standby', 'follower'] },
                  state: { type: 'string' },
                  reason: { type: 'string' },
                  connected: { type: 'boolean' },
                  lastSeq: { type: 'integer' },
                  streamSeq: { type: 'integer' },
                  lagMs: { type: 'number', nullable: true },
                  backlog: { type: 'integer' },
                  leader: { type: 'string', nullable: true },
                },
              },
            },
          },
        },
      },
    },
  },
} as const;

export const METRICS_SCHEMA = {
  summary: 'Prometheus metrics; needs an admin key',
  tags: ['operations'],
  security: [{ apiKey: [] }],
  headers: API_KEY_HEADERS,
  response: {
    200: { description: 'Prometheus text exposition format', content: { 'text/plain': { schema: { type: 'string' } } } },
    ...errorResponses([401, 403, 429]),
  },
} as const;

export const OPENAPI_SCHEMA = {
  summary: 'This OpenAPI 3 document; needs no key',
  tags: ['operations'],
  response: { 200: { description: 'OpenAPI 3.0 document', content: { 'application/json': { schema: { type: 'object' } } } } },
} as const;
