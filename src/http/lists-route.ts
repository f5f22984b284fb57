// `GET /v1/lists` (key with read): one page of the key's organisation's lists that hold numbers, by
// projId (the master list, projId "", first), `{"lists": [{"projId", "numbers"}], "next"}`, paged
// with `limit` and `after`; a key limited to projects sees only those of its projects that hold
// numbers, found one by one (at most KEY_PROJECTS_MAX), never by walking the organisation's lists.
// `DELETE /v1/lists/{projId}` (key with admin): drops a project list as one durable change,
// answering `{"projId", "numbers", "seq"}` and the `idnc-seq` header, as other writes do.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { LISTS_PAGE_LIMIT_DEFAULT, LISTS_PAGE_LIMIT_MAX } from '../constants.js';
import type { Dnc } from '../engine/views.js';
import type { ListEntry, ListsPage } from '../engine/types.js';
import { IdncError } from '../errors.js';
import type { KeyRecord } from '../keys/key-records.js';
import type { KeyStore } from '../keys/key-store.js';
import { checkProjectId } from '../store/list-id.js';
import { authenticate, authoriseScope } from './auth.js';
import { errorResponses } from './route-schemas.js';

export const LISTS_PATH = '/v1/lists';
export const LIST_PATH = `${LISTS_PATH}/:projId`;

export interface ListsRouteOptions {
  readonly dnc: Dnc;
  readonly keys: Pick<KeyStore, 'authenticate'>;
}

export function registerListsRoute(app: FastifyInstance, options: ListsRouteOptions): void {
  app.get(LISTS_PATH, (request, reply) => listPage(request, reply, options));
  app.delete(LIST_PATH, (request, reply) => dropList(request, reply, options));
}

function keyOf(request: FastifyRequest, options: ListsRouteOptions): KeyRecord {
  return request.idncKey ?? authenticate(request.headers, options.keys);
}

async function listPage(request: FastifyRequest, reply: FastifyReply, options: ListsRouteOptions): Promise<FastifyReply> {
  const key = keyOf(request, options);
  authoriseScope(key, 'read', 'list lists', null);
  const { limit, after } = readListsQuery(request.query);
  const page = key.projects === undefined ? options.dnc.lists({ org: key.org, limit, ...(after === undefined ? {} : { after }) }) : projectsPage(options.dnc, key, limit, after);
  return reply.type('application/json; charset=utf-8').send(JSON.stringify(page));
}

/** The page of a key limited to projects: its projects above `after` that hold numbers. */
function projectsPage(dnc: Dnc, key: KeyRecord, limit: number, after: string | undefined): ListsPage {
  const lists: ListEntry[] = [];
  for (const projId of [...key.projects!].sort()) {
    if (after !== undefined && projId <= after) continue;
    const numbers = dnc.count({ org: key.org, projId });
    if (numbers === 0) continue;
    if (lists.length === limit) return { lists, next: lists[lists.length - 1]!.projId };
    lists.push({ projId, numbers });
  }
  return { lists, next: null };
}

async function dropList(request: FastifyRequest, reply: FastifyReply, options: ListsRouteOptions): Promise<FastifyReply> {
  const key = keyOf(request, options);
  const projId = checkProjectId((request.params as { projId?: unknown }).projId);
  authoriseScope(key, 'admin', 'drop lists', projId);
  const result = await options.dnc.dropList({ org: key.org, projId, keyId: key.id });
  const body = { projId, numbers: result.numbers, seq: result.seq };
  return reply.header('idnc-seq', String(result.seq)).type('application/json; charset=utf-8').send(JSON.stringify(body));
}

function single(query: Record<string, unknown>, name: string): string | undefined {
  const value = query[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new IdncError('INVALID_PARAMETER', `${name} is given more than once`);
  return value;
}

/** `limit` (1 to LISTS_PAGE_LIMIT_MAX) and `after` (a projId; empty: after the master list). */
export function readListsQuery(queryValue: unknown): { limit: number; after: string | undefined } {
  const query = (queryValue ?? {}) as Record<string, unknown>;
  const limitText = single(query, 'limit');
  const limit = limitText === undefined || limitText === '' ? LISTS_PAGE_LIMIT_DEFAULT : /^\d{1,7}$/.test(limitText) ? Number(limitText) : NaN;
  if (!(limit >= 1 && limit <= LISTS_PAGE_LIMIT_MAX)) {
    throw new IdncError('INVALID_PARAMETER', `limit must be a whole number from 1 to ${LISTS_PAGE_LIMIT_MAX}, got ${JSON.stringify((limitText ?? '').slice(0, 32))}`);
  }
  const afterText = single(query, 'after');
  return { limit, after: afterText === undefined ? undefined : checkProjectId(afterText) };
}

const LIST_ENTRY_SCHEMA = {
  type: 'object',
  required: ['projId', 'numbers'],
  properties: {
    projId: { type: 'string', description: 'project id; "" is the master list' },
    numbers: { type: 'integer', description: 'numbers on the list' },
  },
} as const;

/** Documentation schemas (openapi.ts); the parsing above is the authority. */
export const LISTS_GET_SCHEMA = {
  summary: "One page of the key's organisation's lists that hold numbers, by projId (the master list first); a project-limited key sees its projects",
  tags: ['lists'],
  security: [{ apiKey: [] }],
  querystring: {
    type: 'object',
    properties: {
      limit: { type: 'integer', minimum: 1, maximum: LISTS_PAGE_LIMIT_MAX, description: `lists in the page (default ${LISTS_PAGE_LIMIT_DEFAULT})` },
      after: { type: 'string', description: 'only lists whose projId sorts after this one: the next of the previous page ("" skips the master list)' },
    },
  },
  response: {
    200: {
      description: 'a page of lists',
      content: {
        'application/json': {
          schema: {
            type: 'object',
            required: ['lists', 'next'],
            properties: {
              lists: { type: 'array', items: LIST_ENTRY_SCHEMA },
              next: { type: 'string', nullable: true, description: 'the after of the next page; null on the last page' },
            },
          },
        },
      },
    },
    ...errorResponses([400, 401, 403, 429]),
  },
} as const;

export const LIST_DELETE_SCHEMA = {
  summary: 'Drop a project list whole, as one durable change (admin scope; the master list cannot be dropped)',
  tags: ['lists'],
  security: [{ apiKey: [] }],
  params: { type: 'object', required: ['projId'], properties: { projId: { type: 'string', description: 'the project list to drop' } } },
  response: {
    200: {
      description: 'the drop is durable',
      headers: { 'idnc-seq': { schema: { type: 'integer' }, description: 'log position of the drop' } },
      content: {
        'application/json': {
          schema: {
            type: 'object',
            properties: {
              projId: { type: 'string' },
              numbers: { type: 'integer', description: 'numbers the list held' },
              seq: { type: 'integer', description: 'log sequence number of the drop' },
            },
          },
        },
      },
    },
    ...errorResponses([400, 401, 403, 404, 429, 503]),
  },
} as const;
