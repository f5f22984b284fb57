// `POST /v1/scrub?projId=P[&all=1][&column=C][&format=text|csv|tsv]` (key with read): the body is a
// stream of numbers, answered as a stream while it arrives. Each body chunk is parsed into numbers,
// looked up in one pass (Dnc.blockingCodes) and answered before the next chunk is read, through a
// pull-based Readable: a client that does not read its answer stops us reading its body, so memory
// stays at a chunk or two whatever the size of the list.
//
// Answer, in input order (duplicates kept):
//   text/plain (default)  one blocked number per line; with all=1 every number as `phone,blocked,list`
//                         or `phone,clear,`. Lines starting with `#` are not numbers: `# invalid line
//                         L: "entry": reason` per invalid entry, `# error CODE: message` if the stream
//                         stops early, and last `# checked N, blocked B, invalid I, complete yes|no`.
//   NDJSON (Accept: application/x-ndjson)  {"phone","onList","list"} per blocked number (all=1: per
//                         number); {"line","entry","error","code":"INVALID_PHONE"} per invalid entry;
//                         {"error","code"} if it stops early; last {"summary":{...,"complete"}}.
// More than the configured number of entries (SCRUB_STREAM_NUMBERS_MAX by default): the entries up to
// the limit are answered, then the TOO_MANY_NUMBERS error line and the summary (complete: false).

import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { NumberParser, type InvalidRow } from '../bulk/number-parser.js';
import { SCRUB_STREAM_NUMBERS_MAX } from '../constants.js';
import type { Dnc } from '../engine/views.js';
import { IdncError } from '../errors.js';
import type { KeyStore } from '../keys/key-store.js';
import type { ListAddress } from '../store/list-id.js';
import { BLOCKING_LIST_OF_CODE, NOT_BLOCKED } from '../store/lookup.js';
import { authenticate, authorise } from './auth.js';
import { BULK_QUERY_PROPERTIES, readBulkQuery } from './bulk-params.js';
import { HttpError } from './error-replies.js';
import { errorResponses } from './route-schemas.js';
import { bodyStream, ChunkReader, registerRawBodyScope } from './raw-body.js';

export const SCRUB_PATH = '/v1/scrub';
const NDJSON = 'application/x-ndjson';

export interface ScrubRouteOptions {
  readonly dnc: Dnc;
  readonly keys: Pick<KeyStore, 'authenticate'>;
  /** Entries (valid + invalid) one stream may carry (default SCRUB_STREAM_NUMBERS_MAX). */
  readonly scrubNumbersMax?: number | undefined;
}

interface ScrubJob {
  readonly dnc: Dnc;
  readonly address: ListAddress;
  readonly all: boolean;
  readonly ndjson: boolean;
  readonly limit: number;
}

const SCRUB_SCHEMA = {
  summary: 'Scrub a streamed list of any length: answers the blocked numbers (or all, with status) as a stream',
  querystring: {
    type: 'object',
    properties: {
      ...BULK_QUERY_PROPERTIES,
      all: { type: 'string', description: '1/true: answer every number with its status and list, not only the blocked ones' },
    },
  },
  response: {
    200: {
      description: 'text/plain (one blocked number per line, # lines for invalid entries and the summary) or application/x-ndjson',
      content: { 'text/plain': { schema: { type: 'string' } }, [NDJSON]: { schema: { type: 'string' } } },
    },
    ...errorResponses([400, 401, 403, 429]),
  },
} as const;

export function registerScrubRoute(app: FastifyInstance, options: ScrubRouteOptions): void {
  registerRawBodyScope(app, (scope) => {
    scope.post(SCRUB_PATH, { schema: SCRUB_SCHEMA, validatorCompiler: () => () => true }, (request, reply) => answer(request, reply, options));
  });
}

function answer(request: FastifyRequest, reply: FastifyReply, options: ScrubRouteOptions): FastifyReply {
  const key = request.idncKey ?? authenticate(request.headers, options.keys);
  const query = readBulkQuery(request.query, request.headers['content-type']);
  authorise(key, 'status', query.projId);
  const parser = new NumberParser({ format: query.format, column: query.column, invalidKeptMax: Number.POSITIVE_INFINITY });
  const ndjson = (request.headers.accept ?? '').includes(NDJSON);
  const job: ScrubJob = { dnc: options.dnc, address: { org: key.org, projId: query.projId }, all: query.all, ndjson, limit: options.scrubNumbersMax ?? SCRUB_STREAM_NUMBERS_MAX };
  reply.type(ndjson ? `${NDJSON}; charset=utf-8` : 'text/plain; charset=utf-8');
  return reply.send(Readable.from(scrubStream(new ChunkReader(bodyStream(request)), parser, job), { objectMode: false }));
}

async function* scrubStream(reader: ChunkReader, parser: NumberParser, job: ScrubJob): AsyncGenerator<string> {
  const totals = { checked: 0, blocked: 0, invalid: 0 };
  let codes = new Uint8Array(1 << 16);
  let stop: IdncError | HttpError | null = null;
  for (let ended = false; !ended && stop === null; ) {
    const entriesBefore = totals.checked + totals.invalid;
    try {
      const chunk = await reader.next();
      if (chunk === null) {
        parser.end();
        ended = true;
      } else parser.push(chunk);
    } catch (error) {
      if (!(error instanceof IdncError || error instanceof HttpError)) throw error;
      stop = error;
    }
    if (codes.length < parser.count) codes = new Uint8Array(parser.numbers.length);
    job.dnc.blockingCodes(parser.numbers, parser.count, codes, job.address);
    const allowed = job.limit - entriesBefore;
    const text = formatChunk(parser, codes, job, totals, allowed);
    if (text !== '') yield text;
    if (parser.count + parser.invalid.length > allowed && stop === null) {
      stop = new HttpError('TOO_MANY_NUMBERS', `the stream has more than ${job.limit} entries; the entries after the first ${job.limit} were not checked`);
    }
    parser.clear();
  }
  if (stop !== null) {
    reader.stop();
    yield job.ndjson ? `${JSON.stringify({ error: stop.message, code: stop.code })}\n` : `# error ${stop.code}: ${stop.message}\n`;
  }
  const complete = stop === null;
  yield job.ndjson
    ? `${JSON.stringify({ summary: { ...totals, complete } })}\n`
    : `# checked ${totals.checked}, blocked ${totals.blocked}, invalid ${totals.invalid}, complete ${complete ? 'yes' : 'no'}\n`;
}

/** The answer lines of one parsed chunk, numbers and invalid rows interleaved in input order. */
function formatChunk(parser: NumberParser, codes: Uint8Array, job: ScrubJob, totals: { checked: number; blocked: number; invalid: number }, allowed: number): string {
  const { numbers, count, invalid } = parser;
  let out = '';
  let next = 0;
  let row = 0;
  for (let left = allowed; left > 0 && (next < count || row < invalid.length); left--) {
    if (row < invalid.length && invalid[row]!.at <= next) {
      out += invalidLine(invalid[row++]!, job.ndjson);
      totals.invalid++;
      continue;
    }
    const code = codes[next]!;
    const phone = numbers[next++]!;
    totals.checked++;
    if (code !== NOT_BLOCKED) totals.blocked++;
    else if (!job.all) continue;
    out += numberLine(phone, code, job);
  }
  return out;
}

function numberLine(phone: number, code: number, job: ScrubJob): string {
  const list = BLOCKING_LIST_OF_CODE[code]!;
  if (job.ndjson) return `{"phone":"${phone}","onList":${list !== null},"list":${list === null ? 'null' : `"${list}"`}}\n`;
  if (!job.all) return `${phone}\n`;
  return list === null ? `${phone},clear,\n` : `${phone},blocked,${list}\n`;
}

function invalidLine(row: InvalidRow, ndjson: boolean): string {
  if (ndjson) return `${JSON.stringify({ line: row.line, entry: row.entry, error: row.reason, code: 'INVALID_PHONE' })}\n`;
  return `# invalid line ${row.line}: ${JSON.stringify(row.entry)}: ${row.reason}\n`;
}
