// The status fast path (src/http/status-fast-path.ts) side by side with the same app without it,
// over real sockets (inject() never reaches a server factory): every request below must get the
// same status, headers (but the date and the generated request id) and body from both, and the
// requests the fast path is meant for must not reach Fastify at all while everything else must.
// Then what the fast path shares with Fastify: the key's rate limit, the requests-per-connection
// count, the metrics series and the log line.

import net, { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyRateLimiter } from '../../src/http/rate-limit.js';
import type { AppOptions } from '../../src/http/app.js';
import { makeKey, makeTestApp, PDNC, type TestApp, type TestKey } from './helpers.js';

interface RawResponse {
  readonly status: number;
  /** Lower-cased header names, in the order received. */
  readonly headers: [string, string][];
  readonly body: string;
}

function parseResponses(data: string): RawResponse[] {
  const responses: RawResponse[] = [];
  let rest = data;
  while (rest.length > 0) {
    const headEnd = rest.indexOf('\r\n\r\n');
    if (headEnd === -1) break;
    const [statusLine, ...lines] = rest.slice(0, headEnd).split('\r\n');
    const headers = lines.map((line): [string, string] => {
      const colon = line.indexOf(':');
      return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()];
    });
    const length = Number(headers.find(([name]) => name === 'content-length')?.[1] ?? 0);
    const bodyStart = headEnd + 4;
    responses.push({ status: Number(statusLine!.split(' ')[1]), headers, body: rest.slice(bodyStart, bodyStart + length) });
    rest = rest.slice(bodyStart + length);
  }
  return responses;
}

/**
 * Writes `requests` (raw HTTP) on one connection, one after the other, and resolves with the answers
 * once `expected` have arrived (with `untilClosed`: once the server closed the connection) or the
 * server closed the connection; `closed` says which.
 */
function exchange(port: number, requests: string[], expected = requests.length, untilClosed = false): Promise<{ responses: RawResponse[]; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = '';
    let sent = 0;
    let settled = false;
    const finish = (closed: boolean): void => {
      if (settled) return;
      settled = true;
      socket.destroy();
      resolve({ responses: parseResponses(data), closed });
    };
    const sendNext = (): void => {
      if (sent < requests.length) socket.write(requests[sent++]!);
    };
    socket.on('connect', sendNext);
    socket.on('data', (chunk) => {
      data += chunk.toString('latin1');
      const got = parseResponses(data).length;
      if (got >= expected && !untilClosed) finish(false);
      else if (got === sent) sendNext();
    });
    socket.on('end', () => finish(true));
    socket.on('error', (error) => (settled ? undefined : reject(error)));
    socket.setTimeout(5000, () => finish(false));
  });
}

function get(query: string, headers: Record<string, string>, version = '1.1', path = PDNC): string {
  const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join('');
  return `GET ${path}?${query} HTTP/${version}\r\n${lines}\r\n`;
}

/** What must be equal between the two paths: the date and a generated request id may differ. */
function comparable(response: RawResponse): { status: number; headers: [string, string][]; body: string } {
  const headers = response.headers
    .filter(([name]) => name !== 'date')
    .map(([name, value]): [string, string] => [name, name === 'x-request-id' && /^[0-9a-f]{8}-[0-9a-z]+$/.test(value) ? '<generated>' : value])
    .sort(([a], [b]) => a.localeCompare(b));
  return { status: response.status, headers, body: response.body };
}

interface Pair {
  readonly fast: TestApp;
  readonly plain: TestApp;
  readonly fastPort: number;
  readonly plainPort: number;
  /** Requests that reached Fastify in the fast app. */
  fastifyRequests(): number;
}

async function makePair(extraKeys: TestKey[], app: Partial<Omit<AppOptions, 'dnc' | 'keys' | 'logger' | 'limits'>> = {}): Promise<Pair> {
  const fast = await makeTestApp({ extraKeys, app });
  const plain = await makeTestApp({ extraKeys, app: { ...app, statusFastPath: false } });
  let reachedFastify = 0;
  // onResponse: Fastify runs it for every answer it gives, refusals of earlier hooks included.
  fast.app.addHook('onResponse', (_request, _reply, done) => {
    reachedFastify++;
    done();
  });
  for (const t of [fast, plain]) {
    // The same keys in both (makeTestApp made a different admin key for each).
    t.keys.replace([...extraKeys.map((k) => k.record)]);
    await t.dnc.add('5039367187,7075276405,2125550100');
    await t.dnc.add('2125550101', { projId: 'spring' });
    await t.dnc.add('3105550199', { org: 'other' });
    await t.app.listen({ host: '127.0.0.1', port: 0 });
  }
  return {
    fast,
    plain,
    fastPort: (fast.app.server.address() as AddressInfo).port,
    plainPort: (plain.app.server.address() as AddressInfo).port,
    fastifyRequests: () => reachedFastify,
  };
}

/** Runs `body` with a fresh pair of apps, closed afterwards whatever happens. */
async function withPair(extraKeys: TestKey[], app: Parameters<typeof makePair>[1], body: (pair: Pair) => Promise<void>): Promise<void> {
  const pair = await makePair(extraKeys, app);
  try {
    await body(pair);
  } finally {
    await pair.fast.close();
    await pair.plain.close();
  }
}

const admin = makeKey('default', ['admin', 'operator']);
const reader = makeKey('default', ['read']);
const writer = makeKey('default', ['write']);
const springOnly = makeKey('default', ['read'], ['spring']);
const otherOrg = makeKey('other', ['read']);
const revoked = makeKey('default', ['read']);
const keys = [admin, reader, writer, springOnly, otherOrg, { key: revoked.key, record: { ...revoked.record, revokedAt: new Date().toISOString() } }];

describe('status fast path, side by side with Fastify', () => {
  let pair: Pair;
  beforeAll(async () => {
    pair = await makePair(keys);
  });
  afterAll(async () => {
    await pair.fast.close();
    await pair.plain.close();
  });

  const auth = (key: TestKey): Record<string, string> => ({ Host: 'x', loginId: key.key });
  // [what, request, does the fast path answer it]
  const cases: [string, string, boolean][] = [
    ['one number on the master list', get('actionType=status&phoneList=5039367187', auth(reader)), true],
    ['numbers on, off and in a project', get('actionType=status&phoneList=5039367187,2125550101,9995550000&projId=spring', auth(reader)), true],
    ['unknown parameters and an upper-case action', get('version=3&actionType=STATUS&phoneList=7075276405&projId=', auth(admin)), true],
    ['a percent-encoded comma and action', get('actionType=st%61tus&phoneList=5039367187%2C7075276405', auth(reader)), true],
    ['spaces around the numbers (plus and %20)', get('actionType=status&phoneList=+5039367187,%207075276405', auth(reader)), true],
    ['human formats in the list', get('actionType=status&phoneList=(503)%20936-7187,1-707-527-6405', auth(reader)), false],
    ['a project-limited key on its project', get('actionType=status&phoneList=2125550101&projId=spring', auth(springOnly)), true],
    ['another organisation sees only its own list', get('actionType=status&phoneList=3105550199,5039367187', auth(otherOrg)), true],
    ['a safe incoming request id is echoed', get('actionType=status&phoneList=5039367187', { ...auth(reader), 'x-request-id': 'lb-42.a' }), true],
    ['a fragment mark inside the query', get('actionType=status&phoneList=5039367187#x', auth(reader)), false],
    ['ignoreInvalid=1 (Fastify adds idnc-skipped)', get('actionType=status&phoneList=5039367187,BADNUMBER&ignoreInvalid=1', auth(reader)), false],
    ['ignoreInvalid=0', get('actionType=status&phoneList=5039367187&ignoreInvalid=0', auth(reader)), true],
    ['an invalid number', get('actionType=status&phoneList=BADNUMBER', auth(reader)), false],
    ['no phoneList', get('actionType=status', auth(reader)), false],
    ['phoneList twice', get('actionType=status&phoneList=5039367187&phoneList=7075276405', auth(reader)), false],
    ['an unknown action', get('actionType=lookup&phoneList=5039367187', auth(reader)), false],
    ['count', get('actionType=count', auth(reader)), false],
    ['no key', get('actionType=status&phoneList=5039367187', { Host: 'x' }), false],
    ['an unknown key', get('actionType=status&phoneList=5039367187', { Host: 'x', loginId: 'idnc_0000_nope' }), false],
    ['a revoked key', get('actionType=status&phoneList=5039367187', auth(revoked)), false],
    ['a key without the read scope', get('actionType=status&phoneList=5039367187', auth(writer)), false],
    ['a project-limited key on the master list', get('actionType=status&phoneList=5039367187', auth(springOnly)), false],
    ['a project-limited key on another project', get('actionType=status&phoneList=5039367187&projId=autumn', auth(springOnly)), false],
    ['a bad projId', get('actionType=status&phoneList=5039367187&projId=%00', auth(reader)), false],
    ['HTTP/1.1 without Host', get('actionType=status&phoneList=5039367187', { loginId: reader.key }), false],
    ['HTTP/1.0 without Host', get('actionType=status&phoneList=5039367187', { loginId: reader.key }, '1.0'), true],
    ['a trailing slash', get('actionType=status&phoneList=5039367187', auth(reader), '1.1', `${PDNC}/`), false],
    ['a percent-encoded path', get('actionType=status&phoneList=5039367187', auth(reader), '1.1', '/app/main/rpc/pdn%63'), false],
    ['another case in the path', get('actionType=status&phoneList=5039367187', auth(reader), '1.1', '/APP/main/rpc/pdnc'), false],
    ['a HEAD', get('actionType=status&phoneList=5039367187', auth(reader)).replace(/^GET/, 'HEAD'), false],
    ['a GET with a form body', `GET ${PDNC}?phoneList=5039367187 HTTP/1.1\r\nHost: x\r\nloginId: ${reader.key}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 17\r\n\r\nactionType=status`, false],
    ['a GET with a JSON body under a full status query', `GET ${PDNC}?actionType=status&phoneList=5039367187 HTTP/1.1\r\nHost: x\r\nloginId: ${reader.key}\r\nContent-Type: application/json\r\nContent-Length: 22\r\n\r\n{"actionType":"count"}`, false],
    ['a GET with a chunked body', `GET ${PDNC}?actionType=status&phoneList=5039367187 HTTP/1.1\r\nHost: x\r\nloginId: ${reader.key}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, false],
    ['a GET with an empty body', `GET ${PDNC}?actionType=status&phoneList=5039367187 HTTP/1.1\r\nHost: x\r\nloginId: ${reader.key}\r\nContent-Length: 0\r\n\r\n`, false],
    ['a POST', `POST ${PDNC}?actionType=status&phoneList=5039367187 HTTP/1.1\r\nHost: x\r\nloginId: ${reader.key}\r\nContent-Length: 0\r\n\r\n`, false],
  ];

  it.each(cases)('%s: the same answer from both', async (_what, request, fastPathAnswers) => {
    const before = pair.fastifyRequests();
    const [fast, plain] = await Promise.all([exchange(pair.fastPort, [request], 1), exchange(pair.plainPort, [request], 1)]);
    expect(fast.responses).toHaveLength(1);
    expect(plain.responses).toHaveLength(1);
    expect(comparable(fast.responses[0]!)).toEqual(comparable(plain.responses[0]!));
    expect(fast.responses[0]!.headers.some(([name]) => name === 'x-request-id')).toBe(true);
    expect(pair.fastifyRequests() - before).toBe(fastPathAnswers ? 0 : 1);
  });

  it('answers status bodies that are right, not only equal (one number on, one off)', async () => {
    const { responses } = await exchange(pair.fastPort, [get('actionType=status&phoneList=5039367187,9995550000', auth(reader))]);
    expect(JSON.parse(responses[0]!.body)).toEqual([
      { phone: '5039367187', onList: true, list: 'master' },
      { phone: '9995550000', onList: false, list: null },
    ]);
  });

  it('generates distinct request ids, several requests on one connection', async () => {
    const request = get('actionType=status&phoneList=5039367187', auth(reader));
    // Each request is written once the answer before it arrived: three answers, one connection.
    const { responses } = await exchange(pair.fastPort, [request, request, request]);
    const ids = responses.map((response) => response.headers.find(([name]) => name === 'x-request-id')![1]);
    expect(new Set(ids).size).toBe(3);
  });
});

describe('status fast path: what it shares with Fastify', () => {
  it("adds the app's own answer headers (a worker's idnc-worker) as Fastify does, to answers and refusals", async () => {
    await withPair([reader], { answerHeaders: { 'idnc-worker': '3' } }, async (pair) => {
      const requests = [
        get('actionType=status&phoneList=5039367187', { Host: 'x', loginId: reader.key }),
        get('actionType=status&phoneList=BADNUMBER', { Host: 'x', loginId: reader.key }),
        get('actionType=count', { Host: 'x' }),
      ];
      for (const request of requests) {
        const [fast, plain] = await Promise.all([exchange(pair.fastPort, [request]), exchange(pair.plainPort, [request])]);
        expect(comparable(fast.responses[0]!)).toEqual(comparable(plain.responses[0]!));
        expect(fast.responses[0]!.headers).toContainEqual(['idnc-worker', '3']);
      }
      expect(pair.fastifyRequests()).toBe(2);
    });
  });

  it('takes from the same rate-limit bucket: N answers, then RATE_LIMITED from Fastify, and no token taken by a refused request', async () => {
    const limited = { key: reader.key, record: { ...reader.record, rateLimit: 3 } };
    await withPair([limited], { rateLimiter: new KeyRateLimiter(() => 1_000) }, async (pair) => {
      const request = get('actionType=status&phoneList=5039367187', { Host: 'x', loginId: limited.key });
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) statuses.push((await exchange(pair.fastPort, [request])).responses[0]!.status);
      expect(statuses).toEqual([200, 200, 200, 429]);
      expect(pair.fastifyRequests()).toBe(1);
    });
  });

  it('a refused request takes no token: the fast path checks everything before taking one', async () => {
    const limited = { key: reader.key, record: { ...reader.record, rateLimit: 2 } };
    await withPair([limited], { rateLimiter: new KeyRateLimiter(() => 1_000) }, async (pair) => {
      const headers = { Host: 'x', loginId: limited.key };
      const invalid = await exchange(pair.fastPort, [get('actionType=status&phoneList=BADNUMBER', headers)]);
      expect(invalid.responses[0]!.status).toBe(400);
      // Fastify took one token for the invalid request (its guard runs first), as without the fast path.
      const ok = await exchange(pair.fastPort, [get('actionType=status&phoneList=5039367187', headers)]);
      expect(ok.responses[0]!.status).toBe(200);
      const refused = await exchange(pair.fastPort, [get('actionType=status&phoneList=5039367187', headers)]);
      expect(refused.responses[0]!.status).toBe(429);
    });
  });

  it('counts requests per connection with Fastify: the last allowed answer says Connection: close', async () => {
    await withPair([reader], { connections: { requestsPerSocketMax: 2 } }, async (pair) => {
      const status = get('actionType=status&phoneList=5039367187', { Host: 'x', loginId: reader.key });
      const count = get('actionType=count', { Host: 'x', loginId: reader.key });
      for (const [first, second] of [[status, status], [count, status], [status, count]] as const) {
        const [fast, plain] = await Promise.all([exchange(pair.fastPort, [first, second], 2, true), exchange(pair.plainPort, [first, second], 2, true)]);
        expect(fast.responses.map(comparable)).toEqual(plain.responses.map(comparable));
        expect(fast.responses[1]!.headers).toContainEqual(['connection', 'close']);
        expect(fast.responses[0]!.headers).not.toContainEqual(['connection', 'close']);
        expect(fast.closed).toBe(true);
      }
    });
  });

  it('records the same metrics series and writes the same log line, without the numbers', async () => {
    await withPair([admin, reader], { slowRequestMs: 0 }, async (pair) => {
      const request = get('actionType=status&phoneList=5039367187,7075276405', { Host: 'x', loginId: reader.key });
      for (let i = 0; i < 3; i++) await Promise.all([exchange(pair.fastPort, [request]), exchange(pair.plainPort, [request])]);
      expect(pair.fastifyRequests()).toBe(0);
      const series = async (t: TestApp): Promise<string[]> => {
        const response = await t.app.inject({ method: 'GET', url: '/metrics', headers: { loginId: admin.key } });
        return response.body.split('\n').filter((line) => line.startsWith('idnc_http_request') && line.includes(PDNC) && !line.includes('_sum'));
      };
      const fastSeries = await series(pair.fast);
      expect(fastSeries.some((line) => line.includes('action="status"') && line.includes('code="200"') && / 3$/.test(line))).toBe(true);
      // Durations differ between the two; the counts per bucket may too, the totals may not.
      const totals = (lines: string[]): string[] => lines.filter((line) => !line.includes('_bucket'));
      expect(totals(fastSeries)).toEqual(totals(await series(pair.plain)));

      const lines = (t: TestApp): Record<string, unknown>[] =>
        t.logLines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.msg === 'request completed' && (line.req as { path?: string }).path === PDNC);
      const fastLines = lines(pair.fast);
      expect(fastLines).toHaveLength(3);
      const shape = (line: Record<string, unknown>): unknown => ({ ...line, time: 0, responseTime: 0, reqId: typeof line.reqId, pid: 0, hostname: '' });
      expect(fastLines.map(shape)).toEqual(lines(pair.plain).map(shape));
      expect(pair.fast.logLines.join('\n')).not.toMatch(/5039367187|7075276405|idnc_/);
    });
  });
});
