// `idnc import --url URL --key KEY`: sends already-checked numbers to a running server's
// POST /v1/import, sorted and de-duplicated, in batches of BULK_REQUEST_NUMBERS_MAX. Each batch is
// one atomic durable change on the server, so an input of several batches is several changes, not
// one: each batch names the whole input (the SHA-256 and size of the bytes read, as an offline
// import hashes them, and its distinct numbers) and which part of how many it is, so every
// number's history event identifies the input; an input of one batch reads as an offline import's.
// A failure stops at the first refused batch and says how far it got; running the same command
// again is safe, because adding or removing a number twice changes nothing the second time. A
// server that does not take changes (a standby: NOT_LEADER, a follower on another host:
// READ_ONLY_REPLICA) names the writer in `idnc-leader`: the import goes there once, never further
// (no loop), and under the rule --url has: plain http only to this machine unless --insecure (the
// key would cross the network in clear text).

import { BULK_REQUEST_NUMBERS_MAX } from '../constants.js';
import { sortUniqueNumbers } from '../bulk/sort-numbers.js';
import type { ReadResult } from '../bulk/read-inputs.js';
import { IdncError } from '../errors.js';
import { LEADER_HEADER } from '../http/error-replies.js';
import { checkKeyTransport } from './import-key.js';
import { startProgress } from './import-progress.js';

/** What an import did, online or into the data directory (printed by import.ts). */
export interface ImportSummary {
  readonly rows: number;
  readonly distinct: number;
  readonly changed: number;
  readonly invalid: number;
}

export interface OnlineTarget {
  readonly url: string;
  readonly key: string;
  readonly projId: string;
  readonly remove: boolean;
  /** --insecure: plain http to another host is allowed (also for the writer a standby names). */
  readonly insecure?: boolean;
  /** History fields sent with every batch (`source`, `reason`, and `name`: the inputs' name). */
  readonly source?: string;
  readonly reason?: string;
  readonly name?: string;
  /** Numbers per request (default BULK_REQUEST_NUMBERS_MAX; smaller in tests). */
  readonly batchNumbersMax?: number;
}

/** The /v1/import URL of a server given as http(s)://host:port (a trailing path is kept). */
export function importUrl(base: string, projId: string, remove: boolean, history: { source?: string; reason?: string; name?: string } = {}): string {
  let url: URL;
  try {
    url = new URL(base);
  } catch {
    throw new IdncError('INVALID_PARAMETER', `--url ${JSON.stringify(base)} is not a URL like http://127.0.0.1:3000`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new IdncError('INVALID_PARAMETER', '--url must be http:// or https://');
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/v1/import`;
  if (projId !== '') url.searchParams.set('projId', projId);
  if (remove) url.searchParams.set('remove', '1');
  if (history.source !== undefined) url.searchParams.set('source', history.source);
  if (history.reason !== undefined) url.searchParams.set('reason', history.reason);
  if (history.name !== undefined) url.searchParams.set('name', history.name);
  return url.toString();
}

/** The URL of one batch: `url` with the whole input's hash, size and distinct numbers, and which part this is. */
function partUrl(url: string, input: ReadResult, count: number, part: number, parts: number): string {
  const withPart = new URL(url);
  withPart.searchParams.set('inputSha256', input.sha256);
  withPart.searchParams.set('inputBytes', String(input.bytesHashed));
  withPart.searchParams.set('inputCount', String(count));
  withPart.searchParams.set('part', String(part));
  withPart.searchParams.set('parts', String(parts));
  return withPart.toString();
}

function batchBody(numbers: Float64Array): string {
  let body = '';
  for (let i = 0; i < numbers.length; i++) body += `${numbers[i]}\n`;
  return body;
}

export async function importOnline(input: ReadResult, target: OnlineTarget): Promise<ImportSummary> {
  let url = importUrl(target.url, target.projId, target.remove, target);
  let redirected = false;
  const numbers = sortUniqueNumbers(input.numbers);
  const batchMax = target.batchNumbersMax ?? BULK_REQUEST_NUMBERS_MAX;
  const parts = Math.ceil(numbers.length / batchMax);
  const progress = startProgress('sending', 'numbers');
  let sent = 0;
  let changed = 0;
  try {
    for (let start = 0; start < numbers.length; ) {
      const batch = numbers.subarray(start, start + batchMax);
      const part = partUrl(url, input, numbers.length, start / batchMax + 1, parts);
      const answer = await sendBatch(part, target.key, batch, sent, numbers.length);
      if (typeof answer === 'number') {
        changed += answer;
        sent += batch.length;
        start += batch.length;
        progress.update(sent, numbers.length, sent);
        continue;
      }
      const leaderUrl = followLeader(url, answer, redirected, target.insecure === true, `${sent} of ${numbers.length} numbers were stored before this; running the same command again resumes safely`);
      url = importUrl(leaderUrl, target.projId, target.remove, target);
      redirected = true;
      process.stderr.write(`${new URL(answer.from).origin} does not take changes (${answer.code}): sending to the writer it names, ${new URL(url).origin}\n`);
    }
  } finally {
    progress.stop();
  }
  return { rows: input.entries, distinct: numbers.length, changed, invalid: input.invalidCount };
}

/** A server that does not take changes and names the writer that does. */
interface NotTheWriter {
  readonly from: string;
  readonly code: string;
  readonly leader: string;
}

/** The writer's URL to send to instead, or why not (no second redirect; --url's rule on plain http). */
function followLeader(url: string, answer: NotTheWriter, redirected: boolean, insecure: boolean, resume: string): string {
  const refused = (why: string): IdncError => new IdncError('STORAGE_UNAVAILABLE', `${new URL(url).origin} does not take changes (${answer.code}) and names ${answer.leader}, ${why}; ${resume}`);
  if (redirected) throw refused('but this import was already sent on to the writer once: give --url the writer\'s address');
  let leader: URL;
  try {
    leader = new URL(answer.leader);
  } catch {
    throw refused('which is not a URL');
  }
  if (leader.protocol !== 'http:' && leader.protocol !== 'https:') throw refused('which is not http(s)');
  try {
    checkKeyTransport(answer.leader, insecure);
  } catch {
    throw refused('over plain http to another host: the key is not sent there in clear text (--insecure allows it)');
  }
  return answer.leader;
}

async function sendBatch(url: string, key: string, batch: Float64Array, sent: number, total: number): Promise<number | NotTheWriter> {
  const resume = `${sent} of ${total} numbers were stored before this; running the same command again resumes safely`;
  let response: Response;
  try {
    // Never follow a redirect: fetch would send the key on to wherever it points, over any scheme.
    response = await fetch(url, { method: 'POST', headers: { loginId: key, 'content-type': 'text/plain' }, body: batchBody(batch), redirect: 'manual' });
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
    throw new IdncError('STORAGE_UNAVAILABLE', `cannot reach ${new URL(url).origin} (${cause}); ${resume}`);
  }
  if (response.status >= 300 && response.status < 400) {
    const location = response.headers.get('location') ?? 'nowhere';
    throw new IdncError('STORAGE_UNAVAILABLE', `${new URL(url).origin} answered a redirect (HTTP ${response.status} to ${location}): the key is sent only to the URL given; give --url the server's own address; ${resume}`);
  }
  const text = await response.text();
  let body: { changed?: number; error?: string; code?: string } = {};
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    // A proxy's HTML error page: reported by status below.
  }
  const leader = response.headers.get(LEADER_HEADER);
  if (response.status === 503 && leader !== null && (body.code === 'NOT_LEADER' || body.code === 'READ_ONLY_REPLICA')) {
    return { from: url, code: body.code, leader };
  }
  if (!response.ok || typeof body.changed !== 'number') {
    const what = body.error !== undefined ? `${body.code ?? response.status}: ${body.error}` : `HTTP ${response.status}`;
    throw new IdncError('STORAGE_UNAVAILABLE', `the server refused a batch (${what}); ${resume}`);
  }
  return body.changed;
}
