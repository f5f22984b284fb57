// Every Object.prototype name (constructor, __proto__, toString...), as it is, in lower case and in
// upper case, in every name a client supplies, on every route: each field's value, a field's name,
// a JSON key, a header's name, the key, the request id, the content type, the path. Over real
// sockets each answer must come within a second and be the answer a name of no meaning gets in the
// same place (a 4xx where the field takes only known values); then the server must stop cleanly.
// Last, the built CLI: `actionType=constructor` with the admin key, then SIGTERM exits 0.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import http, { type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AuthThrottle } from '../../src/http/auth-throttle.js';
import type { ReplyCode } from '../../src/http/error-replies.js';
import { routeTable } from '../../src/http/openapi.js';
import { makeKey, makeTestApp, PDNC, type TestKey } from './helpers.js';

const NAMES = [...new Set(Object.getOwnPropertyNames(Object.prototype).flatMap((name) => [name, name.toLowerCase(), name.toUpperCase()]))];
/** A name that means nothing anywhere: what every prototype name must be treated like. */
const PLAIN = 'zzPlainName';
/** Far above any answer's time on a loaded machine: only a request the server never answers reaches it. */
const ANSWER_MS = 5000;
const NUMBER = '5039367187';

const unlimited = (key: TestKey): TestKey => ({ key: key.key, record: { ...key.record, rateLimit: 0 } });
const ADMIN = unlimited(makeKey('default', ['admin']));
const READER = unlimited(makeKey('default', ['read']));

interface Sent {
  readonly method: 'GET' | 'POST' | 'DELETE';
  readonly path: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
}

interface Probe {
  readonly what: string;
  readonly send: (name: string) => Sent;
  /** The catalogue code a name of no meaning gets here; absent: a name is a valid value here. */
  readonly refused?: ReplyCode;
  /** A name with its own documented answer here (a JSON key `__proto__`). */
  readonly special?: Readonly<Record<string, ReplyCode>>;
}

const form = 'application/x-www-form-urlencoded';
const json = 'application/json';
const withKey = (headers: Record<string, string> = {}, key = ADMIN.key): Record<string, string> => ({ loginId: key, ...headers });
const query = (fields: Record<string, string>): string => new URLSearchParams(fields).toString();

/** The pdnc probes, sent as a GET query, a form POST and a JSON POST. */
function pdncProbes(method: 'GET' | 'POST', encoding: 'query' | 'form' | 'json'): Probe[] {
  const send = (fields: Record<string, string>, key = ADMIN.key): Sent => {
    if (encoding === 'query') return { method, path: `${PDNC}?${query(fields)}`, headers: withKey({}, key) };
    const body = encoding === 'form' ? query(fields) : JSON.stringify(fields);
    return { method, path: PDNC, headers: withKey({ 'content-type': encoding === 'form' ? form : json }, key), body };
  };
  const probe = (what: string, fields: (name: string) => Record<string, string>, refused?: ReplyCode, key?: string): Probe => ({
    what: `${method} pdnc (${encoding}) ${what}`,
    send: (name) => send(fields(name), key),
    ...(refused === undefined ? {} : { refused }),
  });
  return [
    probe('actionType', (name) => ({ actionType: name, phoneList: NUMBER }), 'INVALID_ACTION'),
    probe('actionType, read key', (name) => ({ actionType: name, phoneList: NUMBER }), 'INVALID_ACTION', READER.key),
    probe('phoneList', (name) => ({ actionType: 'status', phoneList: name }), 'INVALID_PHONE'),
    probe('projId', (name) => ({ actionType: 'status', phoneList: NUMBER, projId: name })),
    probe('projId of a count', (name) => ({ actionType: 'count', projId: name })),
    probe('ignoreInvalid', (name) => ({ actionType: 'status', phoneList: NUMBER, ignoreInvalid: name }), 'INVALID_PARAMETER'),
    {
      ...probe('a field name', (name) => ({ actionType: 'count', [name]: 'add' })),
      // JSON.stringify writes an own __proto__ key; as a JSON key it is refused by name.
      ...(encoding === 'json' ? { special: Object.fromEntries([['__proto__', 'INVALID_PARAMETER']]) as Record<string, ReplyCode> } : {}),
    },
  ];
}

function bulkProbes(path: '/v1/scrub' | '/v1/import'): Probe[] {
  const send = (fields: Record<string, string>, body = `${NUMBER}\n`) => (): Sent => ({ method: 'POST', path: `${path}?${query(fields)}`, headers: withKey({ 'content-type': 'text/plain' }), body });
  const flag = path === '/v1/scrub' ? 'all' : 'remove';
  return [
    { what: `${path} projId`, send: (name) => send({ projId: name })() },
    { what: `${path} format`, send: (name) => send({ format: name })(), refused: 'INVALID_PARAMETER' },
    { what: `${path} column`, send: (name) => send({ column: name }, `phone\n${NUMBER}\n`)(), refused: 'INVALID_PARAMETER' },
    { what: `${path} ${flag}`, send: (name) => send({ [flag]: name })(), refused: 'INVALID_PARAMETER' },
    { what: `${path} ignoreInvalid`, send: (name) => send({ ignoreInvalid: name })(), refused: 'INVALID_PARAMETER' },
    { what: `${path} a field name`, send: (name) => send({ [name]: '1' })() },
  ];
}

/** Probes every keyed route gets: the key, the request id, a header's name. */
function keyedProbes(route: string, sent: Sent): Probe[] {
  return [
    { what: `${route} loginId`, send: (name) => ({ ...sent, headers: { ...sent.headers, loginId: name } }), refused: 'INVALID_API_KEY' },
    { what: `${route} x-request-id`, send: (name) => ({ ...sent, headers: { ...sent.headers, 'x-request-id': name } }) },
    { what: `${route} a header name`, send: (name) => ({ ...sent, headers: { ...sent.headers, [name]: '1' } }) },
  ];
}

const countQuery: Sent = { method: 'GET', path: `${PDNC}?actionType=count`, headers: withKey() };
const countForm: Sent = { method: 'POST', path: PDNC, headers: withKey({ 'content-type': form }), body: 'actionType=count' };
const scrub: Sent = { method: 'POST', path: '/v1/scrub', headers: withKey({ 'content-type': 'text/plain' }), body: `${NUMBER}\n` };
const importing: Sent = { method: 'POST', path: '/v1/import', headers: withKey({ 'content-type': 'text/plain' }), body: `${NUMBER}\n` };
const metrics: Sent = { method: 'GET', path: '/metrics', headers: withKey() };
const listing: Sent = { method: 'GET', path: '/v1/lists', headers: withKey() };
/** A drop of a list no probe fills: the same LIST_NOT_FOUND whatever name is in a header. */
const dropping: Sent = { method: 'DELETE', path: '/v1/lists/never-filled', headers: withKey() };
const publicProbe = (path: string): Probe[] => [
  { what: `${path} a field name`, send: (name) => ({ method: 'GET', path: `${path}?${name}=1` }) },
  { what: `${path} x-request-id`, send: (name) => ({ method: 'GET', path, headers: { 'x-request-id': name } }) },
];

/** Probes by "METHOD url"; every registered route must have an entry. */
const PROBES: Record<string, Probe[]> = {
  [`GET ${PDNC}`]: [...pdncProbes('GET', 'query'), ...keyedProbes('GET pdnc', countQuery)],
  [`POST ${PDNC}`]: [
    ...pdncProbes('POST', 'form'),
    ...pdncProbes('POST', 'json'),
    ...pdncProbes('POST', 'query'),
    ...keyedProbes('POST pdnc', countForm),
    { what: 'POST pdnc content-type', send: (name) => ({ ...countForm, headers: { ...countForm.headers, 'content-type': `application/${name}` } }), refused: 'UNSUPPORTED_MEDIA_TYPE' },
  ],
  'POST /v1/scrub': [...bulkProbes('/v1/scrub'), ...keyedProbes('/v1/scrub', scrub)],
  'POST /v1/import': [...bulkProbes('/v1/import'), ...keyedProbes('/v1/import', importing)],
  'GET /metrics': keyedProbes('/metrics', metrics),
  'GET /v1/history/head': keyedProbes('/v1/history/head', { method: 'GET', path: '/v1/history/head', headers: withKey() }),
  'GET /v1/history': [
    { what: '/v1/history projId', send: (name) => ({ method: 'GET', path: `/v1/history?${query({ phone: '5039367187', projId: name })}`, headers: withKey() }) },
    { what: '/v1/history a field name', send: (name) => ({ method: 'GET', path: `/v1/history?${query({ phone: '5039367187', [name]: '1' })}`, headers: withKey() }) },
    ...keyedProbes('/v1/history', { method: 'GET', path: '/v1/history?phone=5039367187', headers: withKey() }),
  ],
  'GET /v1/status-at': [
    { what: '/v1/status-at at', send: (name) => ({ method: 'GET', path: `/v1/status-at?${query({ phone: '5039367187', at: name })}`, headers: withKey() }), refused: 'INVALID_PARAMETER' },
    ...keyedProbes('/v1/status-at', { method: 'GET', path: '/v1/status-at?phone=5039367187&at=2026-01-01T00:00:00Z', headers: withKey() }),
  ],
  'GET /v1/lists': [
    { what: '/v1/lists after', send: (name) => ({ ...listing, path: `/v1/lists?${query({ after: name })}` }) },
    { what: '/v1/lists limit', send: (name) => ({ ...listing, path: `/v1/lists?${query({ limit: name })}` }), refused: 'INVALID_PARAMETER' },
    { what: '/v1/lists a field name', send: (name) => ({ ...listing, path: `/v1/lists?${query({ [name]: '1' })}` }) },
    ...keyedProbes('/v1/lists', listing),
  ],
  'DELETE /v1/lists/:projId': [
    // The /v1/import probes above filled a list of each name: every one is dropped like a plain name's.
    { what: '/v1/lists/{projId}', send: (name) => ({ ...dropping, path: `/v1/lists/${encodeURIComponent(name)}` }) },
    ...keyedProbes('DELETE /v1/lists', dropping).map((probe) => ({ refused: 'LIST_NOT_FOUND' as const, ...probe })),
  ],
  'GET /healthz': publicProbe('/healthz'),
  'GET /openapi.json': publicProbe('/openapi.json'),
  'unknown paths': [
    { what: 'a path', send: (name) => ({ method: 'GET', path: `/${name}`, headers: withKey() }), refused: 'NOT_FOUND' },
    { what: 'a path under pdnc', send: (name) => ({ method: 'GET', path: `/app/main/rpc/${name}`, headers: withKey() }), refused: 'NOT_FOUND' },
    { what: 'a path under v1', send: (name) => ({ method: 'POST', path: `/v1/${name}`, headers: withKey() }), refused: 'NOT_FOUND' },
  ],
};

interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** Requests that got no answer in time, still open: a stop must not wait for them forever. */
const unanswered: http.ClientRequest[] = [];

/** Sends one request; null when no answer came within ANSWER_MS (the request is left open). */
function send(port: number, agent: http.Agent, sent: Sent): Promise<Answer | null> {
  return new Promise((resolve, reject) => {
    const request = http.request({ host: '127.0.0.1', port, agent, method: sent.method, path: sent.path, headers: sent.headers ?? {} }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => {
        clearTimeout(timer);
        resolve({ status: response.statusCode!, headers: response.headers, body });
      });
    });
    const timer = setTimeout(() => {
      unanswered.push(request);
      resolve(null);
    }, ANSWER_MS);
    request.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    request.end(sent.body);
  });
}

/** What must be the same for a prototype name and a name of no meaning: status, code, echoed id. */
function outcome(answer: Answer, name: string): string {
  // A scrub stream reports a refusal found in its body as `# error CODE: ...` after a 200.
  const code = answer.status >= 400 ? (JSON.parse(answer.body) as { code: string }).code : (/^# error ([A-Z_]+):/m.exec(answer.body)?.[1] ?? '');
  const echoed = answer.headers['x-request-id'] === name;
  return `${answer.status} ${code} ${echoed ? 'id echoed' : 'id not echoed'}`;
}

afterEach(() => {
  for (const request of unanswered.splice(0)) request.destroy();
});

describe('Object.prototype names as client-supplied names', () => {
  it('every route has probes', async () => {
    const t = await makeTestApp();
    try {
      const routes = (await t.app.ready(), routeTable(t.app)).map((route) => `${route.method} ${route.url}`);
      for (const route of routes) expect(PROBES[route], `no prototype-name probe for ${route}: add one to PROBES`).toBeDefined();
    } finally {
      await t.close();
    }
  });

  it(`every name, in every case, in every field of every route: an answer within ${ANSWER_MS} ms like any name's, then a clean stop`, { timeout: 120_000 }, async () => {
    const t = await makeTestApp({ extraKeys: [ADMIN, READER], app: { authThrottle: new AuthThrottle({ burst: 1e9 }) } });
    const agent = new http.Agent({ keepAlive: true });
    let closed = false;
    try {
      await t.app.listen({ host: '127.0.0.1', port: 0 });
      const port = (t.app.server.address() as AddressInfo).port;
      await t.dnc.add(NUMBER);
      const wrong: string[] = [];
      for (const probe of Object.values(PROBES).flat()) {
        const plain = await send(port, agent, probe.send(PLAIN));
        expect(plain, `${probe.what}: no answer for ${PLAIN}`).not.toBeNull();
        if (probe.refused !== undefined) expect(outcome(plain!, PLAIN), `${probe.what}: ${plain!.status} ${plain!.body.slice(0, 200)}`).toMatch(new RegExp(`^(4\\d\\d|200) ${probe.refused} `));
        else expect(plain!.status, `${probe.what}: ${plain!.body}`).toBe(200);
        for (const name of NAMES) {
          const answer = await send(port, agent, probe.send(name));
          const expected = probe.special !== undefined && Object.hasOwn(probe.special, name) ? new RegExp(`^400 ${probe.special[name]} `) : outcome(plain!, PLAIN);
          if (answer === null) wrong.push(`${probe.what} ${JSON.stringify(name)}: no answer within ${ANSWER_MS} ms`);
          else if (typeof expected === 'string' ? outcome(answer, name) !== expected : !expected.test(outcome(answer, name))) {
            wrong.push(`${probe.what} ${JSON.stringify(name)}: ${answer.status} ${answer.body.slice(0, 160)} (a plain name: ${outcome(plain!, PLAIN)})`);
          }
        }
      }
      agent.destroy();
      // A clean stop: close finishes (it waits for requests in flight) well within the CLI's grace period.
      const stopped = await Promise.race([t.close().then(() => 'stopped'), new Promise((resolve) => setTimeout(resolve, 5000, 'still waiting'))]);
      closed = true;
      expect({ wrong, stopped }).toEqual({ wrong: [], stopped: 'stopped' });
    } finally {
      agent.destroy();
      for (const request of unanswered.splice(0)) request.destroy();
      if (!closed) await t.close();
    }
  });
});

describe('idnc serve (built CLI) with Object.prototype names', () => {
  const cli = new URL('../../dist/cli/main.js', import.meta.url).pathname;
  let child: ChildProcess | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    child = undefined;
    dir = undefined;
  });

  it('refuses actionType=constructor and __PROTO__ from the admin key at once, and SIGTERM then exits 0', { timeout: 60_000 }, async () => {
    dir = await mkdtemp(join(tmpdir(), 'idnc-proto-'));
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const name of ['IDNC_HOST', 'IDNC_PORT', 'IDNC_DATA_DIR', 'IDNC_WORKERS']) delete env[name];
    const server = spawn(process.execPath, [cli, 'serve', '--port', '0', '--data-dir', dir], { cwd: dir, env });
    child = server;
    let stdout = '';
    let stderr = '';
    server.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    server.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => server.on('exit', resolve));
    const started = new Promise<RegExpExecArray>((resolve, reject) => {
      const look = (): void => {
        const found = /curl -H 'loginId: (idnc_\S+)' '(http:\/\/\S+)'/.exec(stdout);
        if (found !== null) resolve(found);
      };
      server.stdout.on('data', look);
      void exited.then(() => reject(new Error(`server exited while starting: ${stderr}`)));
    });
    const [, key, url] = (await started) as unknown as [string, string, string];
    const port = Number(new URL(url).port);
    const agent = new http.Agent({ keepAlive: true });
    try {
      for (const action of ['constructor', '__PROTO__']) {
        const answer = await send(port, agent, { method: 'GET', path: `${PDNC}?actionType=${action}&phoneList=${NUMBER}`, headers: { loginId: key } });
        expect(answer, `actionType=${action}: no answer within ${ANSWER_MS} ms`).not.toBeNull();
        expect(outcome(answer!, '')).toMatch(/^400 INVALID_ACTION /);
      }
      server.kill('SIGTERM');
      expect(await exited, stderr).toBe(0);
      expect(stderr).toContain('closed cleanly');
    } finally {
      agent.destroy();
    }
  });
});
