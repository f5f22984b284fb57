// The DNCScrub-compatible endpoint `GET|POST /app/main/rpc/pdnc`: authenticate, read the fields,
// authorise, bound the request size, call the engine, shape the answer as the public API does
// (add/remove: empty 200 with idnc-* headers; count: bare integer; status: JSON array).

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AssertionError } from '../assert.js';
import type { Dnc } from '../engine/views.js';
import type { KeyStore } from '../keys/key-store.js';
import { parsePhoneList } from '../phone/phone-list.js';
import { authenticate, authorise } from './auth.js';
import { HttpError } from './error-replies.js';
import { readPdncParams, type PdncParams } from './pdnc-params.js';
import { statusJson } from './status-json.js';

export const PDNC_PATH = '/app/main/rpc/pdnc';

export interface PdncRouteOptions {
  readonly dnc: Dnc;
  readonly keys: Pick<KeyStore, 'authenticate'>;
  readonly requestNumbersMax: number;
}

/** TOO_MANY_NUMBERS before anything is touched: commas bound the count; parse only when needed. */
function checkNumberCount(phoneList: string, max: number): void {
  let commas = 0;
  for (let at = phoneList.indexOf(','); at !== -1 && commas < max; at = phoneList.indexOf(',', at + 1)) commas++;
  if (commas < max) return;
  const parsed = parsePhoneList(phoneList);
  const entries = parsed.numbers.length + parsed.invalidCount;
  if (entries > max) {
    throw new HttpError('TOO_MANY_NUMBERS', `phoneList has ${entries} numbers, at most ${max} are accepted per request`);
  }
}

/**
 * Sends the answer. Reads (count, status) are answered at once and return nothing; writes return
 * the promise of the durable change, which Fastify awaits (its rejection goes to the error handler).
 */
function answer(params: PdncParams, org: string, keyId: string, options: PdncRouteOptions, reply: FastifyReply): Promise<void> | undefined {
  const { dnc } = options;
  const list = { org, projId: params.projId, ignoreInvalid: params.ignoreInvalid };
  switch (params.action) {
    case 'count':
      reply.type('text/plain; charset=utf-8').send(String(dnc.count(list)));
      return undefined;
    case 'status': {
      const entries = dnc.status(params.phoneList!, list);
      if (params.ignoreInvalid) reply.header('idnc-skipped', parsePhoneList(params.phoneList!).invalidCount);
      reply.type('application/json; charset=utf-8').send(statusJson(entries));
      return undefined;
    }
    case 'add':
    case 'remove':
      // The fields are named, not spread: a second spread into one object is slow in V8.
      return write(params.action, params.phoneList!, { ...list, keyId, source: params.history.source, reason: params.history.reason, requestedAt: params.history.requestedAt }, dnc, reply);
    default:
      // A bug, not input: an action outside the four would leave the request unanswered.
      throw new AssertionError(`unhandled pdnc action ${String(params.action satisfies never)}`);
  }
}

async function write(action: 'add' | 'remove', phoneList: string, options: Parameters<Dnc['add']>[1], dnc: Dnc, reply: FastifyReply): Promise<void> {
  const result = action === 'add' ? await dnc.add(phoneList, options) : await dnc.remove(phoneList, options);
  reply.header('idnc-changed', result.changed).header('idnc-skipped', result.skipped).header('idnc-seq', result.seq).send();
}

export function registerPdncRoute(app: FastifyInstance, options: PdncRouteOptions): void {
  // Not an async function: a read is answered within the call, without the promise (and the
  // thenable job for a returned `reply`) an async handler costs on every request.
  const handler = (request: FastifyRequest, reply: FastifyReply): Promise<void> | undefined => {
    const key = request.idncKey ?? authenticate(request.headers, options.keys);
    const params = readPdncParams(request.query, request.body);
    authorise(key, params.action, params.projId);
    if (params.phoneList !== undefined) checkNumberCount(params.phoneList, options.requestNumbersMax);
    return answer(params, key.org, key.id, options, reply);
  };
  app.get(PDNC_PATH, handler);
  app.post(PDNC_PATH, handler);
}
