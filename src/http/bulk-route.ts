// `POST /v1/import?projId=P[&remove=1][&ignoreInvalid=1][&column=C][&format=...]` (key with write):
// the online end of `idnc import --url`. The body (text one number per line or comma-separated, or
// CSV/TSV) is read as a stream into numbers, at most BULK_REQUEST_NUMBERS_MAX entries (8 bytes each:
// this is the only thing held), then applied as ONE durable change through Dnc.addNumbers, so a
// request is atomic: any invalid entry (without ignoreInvalid) and nothing changes. Answer: JSON
// {"received": entries, "numbers": distinct valid numbers, "changed", "skipped", "seq"}. The body's
// SHA-256 is taken as it streams in; with `name` (default 'upload') and its size it goes into the
// change's history event (docs/history.md). A request that is one part of a larger input
// (`idnc import --url` sends an input in batches) names that input instead: inputSha256,
// inputBytes, inputCount, part and parts, shown in the event as given.

import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { NumberParser } from '../bulk/number-parser.js';
import { BULK_REQUEST_NUMBERS_MAX } from '../constants.js';
import type { Dnc } from '../engine/views.js';
import { InvalidPhoneError } from '../errors.js';
import { checkChangeMeta, checkImportName } from '../history/change-meta.js';
import type { KeyStore } from '../keys/key-store.js';
import { authenticate, authorise } from './auth.js';
import { BULK_QUERY_PROPERTIES, IMPORT_HISTORY_PROPERTIES, readBulkQuery } from './bulk-params.js';
import { HttpError } from './error-replies.js';
import { errorResponses } from './route-schemas.js';
import { bodyStream, ChunkReader, registerRawBodyScope } from './raw-body.js';

export const BULK_IMPORT_PATH = '/v1/import';
/** The name an import's history event gives a body sent without `name`. */
const UPLOAD_NAME = 'upload';

export interface BulkRouteOptions {
  readonly dnc: Dnc;
  readonly keys: Pick<KeyStore, 'authenticate'>;
  /** Entries (valid + invalid) one request may carry (default BULK_REQUEST_NUMBERS_MAX). */
  readonly bulkNumbersMax?: number | undefined;
}

const IMPORT_SCHEMA = {
  summary: 'Add (or remove) up to a million numbers as one atomic durable change; idnc import --url sends batches here',
  querystring: {
    type: 'object',
    properties: {
      ...BULK_QUERY_PROPERTIES,
      remove: { type: 'string', description: '1/true: remove the numbers instead of adding them' },
      ignoreInvalid: { type: 'string', description: '1/true: skip invalid entries; default: one invalid entry refuses the request' },
      ...IMPORT_HISTORY_PROPERTIES,
    },
  },
  response: {
    200: {
      description: 'the change is durable',
      content: {
        'application/json': {
          schema: {
            type: 'object',
            properties: {
              received: { type: 'integer', description: 'entries read (valid + invalid)' },
              numbers: { type: 'integer', description: 'distinct valid numbers' },
              changed: { type: 'integer', description: 'numbers whose state changed' },
              skipped: { type: 'integer', description: 'invalid entries skipped (ignoreInvalid)' },
              seq: { type: 'integer', description: 'log sequence number of the change' },
            },
          },
        },
      },
    },
    ...errorResponses([400, 401, 403, 413, 429, 503]),
  },
} as const;

export function registerBulkRoute(app: FastifyInstance, options: BulkRouteOptions): void {
  registerRawBodyScope(app, (scope) => {
    scope.post(BULK_IMPORT_PATH, { schema: IMPORT_SCHEMA, validatorCompiler: () => () => true }, (request, reply) => answer(request, reply, options));
  });
}

async function answer(request: FastifyRequest, reply: FastifyReply, options: BulkRouteOptions): Promise<FastifyReply> {
  const key = request.idncKey ?? authenticate(request.headers, options.keys);
  const query = readBulkQuery(request.query, request.headers['content-type']);
  authorise(key, query.remove ? 'remove' : 'add', query.projId);
  const history = { source: query.source ?? 'import', reason: query.reason, requestedAt: query.requestedAt };
  // Checked before the body is read: a bad field refuses the request without reading a million numbers.
  checkChangeMeta(query.input === undefined ? history : { ...history, import: { ...query.input, name: UPLOAD_NAME } }, Date.now());
  const name = query.name === undefined || query.name === '' ? UPLOAD_NAME : checkImportName(query.name);
  const max = options.bulkNumbersMax ?? BULK_REQUEST_NUMBERS_MAX;
  const parser = new NumberParser({ format: query.format, column: query.column });
  const reader = new ChunkReader(bodyStream(request));
  // A part of a larger input names that input (its hash, size and numbers), not the body: no body hash then.
  const bodyHash = query.input === undefined ? createHash('sha256') : null;
  let bytes = 0;
  try {
    for (let chunk = await reader.next(); chunk !== null; chunk = await reader.next()) {
      bodyHash?.update(chunk);
      bytes += chunk.length;
      parser.push(chunk);
      if (parser.entries > max) throw tooMany(max);
    }
    parser.end();
  } catch (error) {
    reader.stop();
    throw error;
  }
  if (parser.entries > max) throw tooMany(max);
  if (parser.invalidCount > 0 && !query.ignoreInvalid) {
    const invalid = parser.invalid.map((row) => ({ index: row.line - 1, entry: row.entry, reason: `line ${row.line}: ${row.reason}` }));
    throw new InvalidPhoneError(invalid, parser.invalidCount);
  }
  const input = bodyHash === null ? { ...query.input!, name } : { sha256: bodyHash.digest('hex'), name, bytes };
  const write = { org: key.org, projId: query.projId, keyId: key.id, ...history, import: input };
  const numbers = parser.numbers.subarray(0, parser.count);
  const result = query.remove ? await options.dnc.removeNumbers(numbers, write) : await options.dnc.addNumbers(numbers, write);
  const body = { received: parser.entries, numbers: result.distinct, changed: result.changed, skipped: parser.invalidCount, seq: result.seq };
  return reply.type('application/json; charset=utf-8').send(JSON.stringify(body));
}

function tooMany(max: number): HttpError {
  return new HttpError('TOO_MANY_NUMBERS', `the body has more than ${max} entries; send at most ${max} per request`);
}
