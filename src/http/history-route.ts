// `GET /v1/history/head` (key with admin): the head of the hash chain over the log, `{"seq", "at",
// "hash"}` (docs/history.md), for a company to keep elsewhere and later prove, with `idnc verify
// --head HASH@SEQ`, that nothing up to it changed. The chain covers every organisation's changes,
// hence admin: the head says how many changes the whole server has made.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Dnc } from '../engine/views.js';
import type { KeyStore } from '../keys/key-store.js';
import { authenticate, authoriseScope } from './auth.js';

export const HISTORY_HEAD_PATH = '/v1/history/head';

export interface HistoryRouteOptions {
  readonly dnc: Dnc;
  readonly keys: Pick<KeyStore, 'authenticate'>;
}

export function registerHistoryRoute(app: FastifyInstance, options: HistoryRouteOptions): void {
  app.get(HISTORY_HEAD_PATH, (request, reply) => head(request, reply, options));
}

async function head(request: FastifyRequest, reply: FastifyReply, options: HistoryRouteOptions): Promise<FastifyReply> {
  const key = request.idncKey ?? authenticate(request.headers, options.keys);
  authoriseScope(key, 'admin', 'read the history head', null);
  const result = await options.dnc.historyHead();
  return reply.type('application/json; charset=utf-8').send(JSON.stringify(result));
}
