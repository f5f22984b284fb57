// The compliance history over HTTP (docs/history.md):
// `GET /v1/history?phone=P[&projId=J]` (key with read): every change that touched the number in the
//   key's organisation, oldest first, `{"phone", "events": [...]}`; a key limited to projects sees
//   only its projects' events.
// `GET /v1/status-at?phone=P&at=T[&projId=J]` (key with read): what status would have answered at
//   T, `{"phone", "at", "onList", "list", "since", "seq"}`; projId as for status.
// `GET /v1/history/head` (key with admin): the head of the hash chain over the log, `{"seq", "at",
//   "hash"}`, for a company to keep elsewhere and later prove, with `idnc verify --head HASH@SEQ`,
//   that nothing up to it changed. The chain is one per server and covers every organisation's
//   changes, so any organisation's admin gets the same head: its seq and at say how many changes
//   the server has made and when its last one was, nothing of whose they are (docs/history.md).

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Dnc } from '../engine/views.js';
import { withKeyName } from '../history/key-name.js';
import { IdncError } from '../errors.js';
import type { KeyRecord } from '../keys/key-records.js';
import type { KeyStore } from '../keys/key-store.js';
import { checkProjectId } from '../store/list-id.js';
import { authenticate, authoriseScope } from './auth.js';
import { HttpError } from './error-replies.js';
import { errorResponses } from './route-schemas.js';

export const HISTORY_HEAD_PATH = '/v1/history/head';
export const HISTORY_PATH = '/v1/history';
export const STATUS_AT_PATH = '/v1/status-at';

export interface HistoryRouteOptions {
  readonly dnc: Dnc;
  /** `nameOf`, when the key store has it, adds each event's `keyName`. */
  readonly keys: Pick<KeyStore, 'authenticate'> & Partial<Pick<KeyStore, 'nameOf'>>;
}

export function registerHistoryRoute(app: FastifyInstance, options: HistoryRouteOptions): void {
  app.get(HISTORY_HEAD_PATH, (request, reply) => head(request, reply, options));
  app.get(HISTORY_PATH, (request, reply) => history(request, reply, options));
  app.get(STATUS_AT_PATH, (request, reply) => statusAt(request, reply, options));
}

/** Documentation schema of GET /v1/history/head (openapi.ts); the handler below is the authority. */
export const HISTORY_HEAD_SCHEMA = {
  summary: 'The head of the hash chain over the log, to keep elsewhere and check later with idnc verify --head HASH@SEQ or idnc verify-evidence (admin scope)',
  description:
    "One chain for the whole server: every organisation's admin gets the same head, and its seq counts every organisation's changes. " +
    'So it tells an organisation how many changes the server has made and when the last one was, nothing about which organisation made them or their numbers.',
  tags: ['history'],
  security: [{ apiKey: [] }],
  response: {
    200: {
      description: 'the head of the acknowledged changes',
      content: {
        'application/json': {
          schema: {
            type: 'object',
            required: ['seq', 'at', 'hash'],
            properties: {
              seq: { type: 'integer', description: "the log position of the server's last acknowledged change, any organisation's (0: none)" },
              at: { type: 'string', nullable: true, description: 'when that change was stored, ISO 8601 (null: none)' },
              hash: { type: 'string', description: 'the chain hash at seq, 64 hex digits' },
            },
          },
        },
      },
    },
    ...errorResponses([401, 403, 429, 503]),
  },
} as const;

function single(query: Record<string, unknown>, name: string): string | undefined {
  const value = query[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new IdncError('INVALID_PARAMETER', `${name} is given more than once`);
  return value;
}

function required(query: Record<string, unknown>, name: string, what: string): string {
  const value = single(query, name);
  if (value === undefined || value.trim() === '') throw new HttpError('MISSING_INPUT', `${name} is required: ${what}`);
  return value;
}

function send(reply: FastifyReply, body: unknown): FastifyReply {
  return reply.type('application/json; charset=utf-8').send(JSON.stringify(body));
}

function keyOf(request: FastifyRequest, options: HistoryRouteOptions): KeyRecord {
  return request.idncKey ?? authenticate(request.headers, options.keys);
}

async function history(request: FastifyRequest, reply: FastifyReply, options: HistoryRouteOptions): Promise<FastifyReply> {
  const key = keyOf(request, options);
  const query = (request.query ?? {}) as Record<string, unknown>;
  const projIdText = single(query, 'projId');
  const projId = projIdText === undefined || projIdText === '' ? undefined : checkProjectId(projIdText);
  authoriseScope(key, 'read', 'read the history', projId ?? null);
  const phone = required(query, 'phone', 'the 10-digit number whose history is read');
  const scope = { org: key.org, ...(projId === undefined ? {} : { projId }), ...(key.projects === undefined ? {} : { projects: key.projects }) };
  const result = await options.dnc.history(phone, scope);
  return send(reply, { phone: result.phone, events: result.events.map((event) => withKeyName(event, options.keys.nameOf?.bind(options.keys))) });
}

async function statusAt(request: FastifyRequest, reply: FastifyReply, options: HistoryRouteOptions): Promise<FastifyReply> {
  const key = keyOf(request, options);
  const query = (request.query ?? {}) as Record<string, unknown>;
  const projId = checkProjectId(single(query, 'projId'));
  authoriseScope(key, 'read', 'read the status at an instant', projId);
  const phone = required(query, 'phone', 'the 10-digit number to check');
  const at = required(query, 'at', 'an ISO 8601 time with a zone, like 2026-03-01T15:04:05Z');
  return send(reply, await options.dnc.statusAt(phone, at, { org: key.org, projId }));
}

async function head(request: FastifyRequest, reply: FastifyReply, options: HistoryRouteOptions): Promise<FastifyReply> {
  const key = keyOf(request, options);
  authoriseScope(key, 'admin', 'read the history head', null);
  return send(reply, await options.dnc.historyHead());
}
