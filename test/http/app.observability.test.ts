// Visibility: GET /metrics (admin key; Prometheus text with requests by route/action/status,
// latency histograms, numbers per list, log and snapshot figures, fsync latency of a durable
// engine), request ids on every log line and in x-request-id, and /openapi.json (a structurally
// valid OpenAPI 3 document listing every registered route).

import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { openDnc } from '../../src/open.js';
import { buildApp } from '../../src/http/app.js';
import { IdncMetrics } from '../../src/http/metrics.js';
import { serveMetricsOnly, portOf } from '../../src/http/metrics-route.js';
import { routeTable } from '../../src/http/openapi.js';
import { KeyStore } from '../../src/keys/key-store.js';
import { makeKey, makeTestApp, PDNC, type TestApp } from './helpers.js';

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const match = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (match === null || match[1] !== name) continue;
    const have = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(match[3]);
  }
  return undefined;
}

describe('GET /metrics', () => {
  it('needs an admin key: none is 401, a read key 403, admin 200 in Prometheus text', async () => {
    const reader = makeKey('default', ['read']);
    t = await makeTestApp({ extraKeys: [reader] });
    expect((await t.app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(401);
    const forbidden = await t.app.inject({ method: 'GET', url: '/metrics', headers: { loginId: reader.key } });
    expect(forbidden.statusCode).toBe(403);
    expect(JSON.parse(forbidden.body).code).toBe('FORBIDDEN');
    const ok = await t.app.inject({ method: 'GET', url: '/metrics', headers: { loginId: t.admin } });
    expect(ok.statusCode).toBe(200);
    expect(ok.headers['content-type']).toMatch(/^text\/plain/);
    expect(ok.body).toContain('# TYPE idnc_http_requests_total counter');
  });

  it('shows a tenant only the lists it may read, and server-wide series only to an operator', async () => {
    const orgAdmin = makeKey('default', ['admin']);
    const projectAdmin = makeKey('default', ['admin'], ['p1']);
    const otherAdmin = makeKey('other', ['admin']);
    const operatorOnly = makeKey('other', ['operator']);
    t = await makeTestApp({ extraKeys: [orgAdmin, projectAdmin, otherAdmin, operatorOnly] });
    await t.get({ actionType: 'add', phoneList: '5039367187,2125551234' });
    await t.get({ actionType: 'add', phoneList: '4155550100', projId: 'p1' });
    await t.get({ actionType: 'add', phoneList: '4155550101', projId: 'p2' });
    await t.get({ actionType: 'add', phoneList: '4155550102' }, otherAdmin.key);
    const scrape = async (key: string) => (await t!.app.inject({ method: 'GET', url: '/metrics', headers: { loginId: key } })).body;
    const serverWide = ['idnc_http_requests_total', 'idnc_http_request_duration_seconds', 'idnc_log_', 'idnc_snapshot_', 'idnc_follower_lag_seconds'];

    const ofOrg = await scrape(orgAdmin.key);
    expect(sample(ofOrg, 'idnc_list_numbers', { org: 'default', project: '' })).toBe(2);
    expect(sample(ofOrg, 'idnc_list_numbers', { org: 'default', project: 'p2' })).toBe(1);
    expect(ofOrg).not.toContain('org="other"');
    expect(sample(ofOrg, 'idnc_lists')).toBe(3);
    for (const name of serverWide) expect(ofOrg).not.toContain(name);

    const ofProject = await scrape(projectAdmin.key);
    expect(sample(ofProject, 'idnc_list_numbers', { org: 'default', project: 'p1' })).toBe(1);
    expect(ofProject).not.toContain('project=""');
    expect(ofProject).not.toContain('project="p2"');
    expect(sample(ofProject, 'idnc_lists')).toBe(1);
    for (const name of serverWide) expect(ofProject).not.toContain(name);

    const ofOperator = await scrape(operatorOnly.key);
    for (const name of ['idnc_http_requests_total', 'idnc_log_fsync_duration_seconds', 'idnc_follower_lag_seconds']) expect(ofOperator).toContain(name);
    expect(sample(ofOperator, 'idnc_list_numbers', { org: 'other', project: '' })).toBe(1);
    expect(sample(ofOperator, 'idnc_list_numbers', { org: 'default', project: 'p2' })).toBe(1);
    expect((await t.get({ actionType: 'count' }, operatorOnly.key)).statusCode).toBe(403);
  });

  it('counts requests by route, action and status, with latency histograms and numbers per list', async () => {
    t = await makeTestApp();
    await t.get({ actionType: 'add', phoneList: '5039367187,2125551234' });
    await t.get({ actionType: 'add', phoneList: '4155550100', projId: 'p1' });
    for (let i = 0; i < 3; i++) await t.get({ actionType: 'Status', phoneList: '5039367187' });
    await t.get({ actionType: 'status', phoneList: 'BAD' });
    await t.get({ actionType: 'nonsense' });
    for (let i = 0; i < 50; i++) await t.app.inject({ method: 'GET', url: `/random-${i}` });
    const text = (await t.app.inject({ method: 'GET', url: '/metrics', headers: { loginId: t.admin } })).body;
    const requests = (labels: Record<string, string>) => sample(text, 'idnc_http_requests_total', labels);
    expect(requests({ route: PDNC, action: 'status', status_code: '200' })).toBe(3);
    expect(requests({ route: PDNC, action: 'status', status_code: '400' })).toBe(1);
    expect(requests({ route: PDNC, action: 'add', status_code: '200' })).toBe(2);
    expect(requests({ route: PDNC, action: 'invalid', status_code: '400' })).toBe(1);
    expect(requests({ route: 'not_found', status_code: '404' })).toBe(50);
    await t.app.inject({ method: 'GET', url: '/openapi.json' });
    await t.app.inject({ method: 'GET', url: '/healthz' });
    const again = (await t.app.inject({ method: 'GET', url: '/metrics', headers: { loginId: t.admin } })).body;
    expect(sample(again, 'idnc_http_requests_total', { route: '/openapi.json', status_code: '200' })).toBe(1);
    expect(sample(again, 'idnc_http_requests_total', { route: '/healthz', status_code: '200' })).toBe(1);
    expect(sample(again, 'idnc_http_requests_total', { route: '/metrics', status_code: '200' })).toBe(1);
    expect(text).not.toContain('random-');
    expect(sample(text, 'idnc_http_request_duration_seconds_count', { route: PDNC, action: 'status', status_code: '200' })).toBe(3);
    expect(sample(text, 'idnc_http_request_duration_seconds_bucket', { route: PDNC, action: 'status', status_code: '200', le: '+Inf' })).toBe(3);
    expect(sample(text, 'idnc_list_numbers', { org: 'default', project: '' })).toBe(2);
    expect(sample(text, 'idnc_list_numbers', { org: 'default', project: 'p1' })).toBe(1);
    expect(sample(text, 'idnc_lists')).toBe(2);
    expect(text).not.toContain('5039367187');
  });

  it('reports log records and bytes since the last snapshot, snapshot age and duration, and fsync latency of a durable engine', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'idnc-metrics-'));
    const metrics = new IdncMetrics();
    const dnc = await openDnc({ dataDir, fsyncObserver: metrics.observeFsync });
    const admin = makeKey('default', ['admin', 'operator']);
    const app = buildApp({ dnc, keys: new KeyStore([admin.record]), metrics });
    const scrape = async () => (await app.inject({ method: 'GET', url: '/metrics', headers: { loginId: admin.key } })).body;
    try {
      for (let i = 0; i < 3; i++) await app.inject({ method: 'GET', url: `${PDNC}?actionType=add&phoneList=50393671${80 + i}`, headers: { loginId: admin.key } });
      let text = await scrape();
      expect(sample(text, 'idnc_log_records_since_snapshot')).toBe(3);
      expect(sample(text, 'idnc_log_bytes_since_snapshot')).toBeGreaterThan(0);
      expect(sample(text, 'idnc_log_fsync_duration_seconds_count')).toBeGreaterThanOrEqual(3);
      expect(sample(text, 'idnc_log_writable')).toBe(1);
      expect(sample(text, 'idnc_snapshot_age_seconds')).toBeNaN();
      await dnc.snapshot();
      text = await scrape();
      expect(sample(text, 'idnc_log_records_since_snapshot')).toBe(0);
      expect(sample(text, 'idnc_log_bytes_since_snapshot')).toBe(0);
      expect(sample(text, 'idnc_snapshot_age_seconds')).toBeLessThan(5);
      expect(sample(text, 'idnc_snapshot_duration_seconds')).toBeGreaterThan(0);
      expect(sample(text, 'idnc_log_seq')).toBe(3);

      expect(sample(text, 'idnc_follower_lag_seconds')).toBeNaN();
      const follower = await openDnc({ dataDir, readOnly: true });
      const followerMetrics = new IdncMetrics();
      followerMetrics.bindEngine(follower);
      try {
        const lag = sample(await followerMetrics.text(), 'idnc_follower_lag_seconds');
        expect(lag).toBeGreaterThanOrEqual(0);
        expect(lag).toBeLessThan(10);
      } finally {
        await follower.close();
      }

      const server = await serveMetricsOnly(metrics, '127.0.0.1', 0);
      try {
        const open = await fetch(`http://127.0.0.1:${portOf(server)}/metrics`);
        expect(open.status).toBe(200);
        expect(await open.text()).toContain('idnc_log_seq 3');
        expect((await fetch(`http://127.0.0.1:${portOf(server)}/app/main/rpc/pdnc`)).status).toBe(404);
      } finally {
        await new Promise((resolve) => server.close(resolve));
      }
    } finally {
      await app.close();
      await dnc.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('request ids', () => {
  it('every log line of a request carries reqId; x-request-id is echoed, kept when safe, replaced when not', async () => {
    t = await makeTestApp({ app: { accessLog: true } });
    const own = await t.get({ actionType: 'count' });
    const generated = String(own.headers['x-request-id']);
    expect(generated).toMatch(/^[0-9a-f]{8}-[0-9a-z]+$/);
    const kept = await t.app.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': 'lb-7f3a:42' } });
    expect(kept.headers['x-request-id']).toBe('lb-7f3a:42');
    for (const unsafe of ['5039367187', `x${'a'.repeat(64)}`, 'has space', t.admin, 'ünï']) {
      const response = await t.app.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': unsafe } });
      expect(response.headers['x-request-id']).not.toBe(unsafe);
    }
    const lines = t.logLines.map((line) => JSON.parse(line) as { reqId?: string; msg: string });
    const requestLines = lines.filter((line) => line.msg === 'request completed');
    expect(requestLines.length).toBe(7);
    for (const line of requestLines) expect(typeof line.reqId).toBe('string');
    expect(requestLines.map((line) => line.reqId)).toContain(generated);
    expect(requestLines.map((line) => line.reqId)).toContain('lb-7f3a:42');
    expect(t.logLines.join('\n')).not.toContain('5039367187');
    expect(t.logLines.join('\n')).not.toContain(t.admin.slice(18));
  });

  it('the new routes and refusals log no numbers or keys either', async () => {
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk: Buffer, _e, done) => void (lines.push(chunk.toString()), done()) });
    const admin = makeKey('default', ['admin', 'operator']);
    const dnc = await openDnc();
    const app = buildApp({ dnc, keys: new KeyStore([{ ...admin.record, rateLimit: 1 }]), logger: pino(sink), accessLog: true });
    try {
      await app.inject({ method: 'GET', url: `${PDNC}?actionType=add&phoneList=5039367187`, headers: { loginId: admin.key, 'x-request-id': '5039367187' } });
      await app.inject({ method: 'GET', url: `${PDNC}?actionType=add&phoneList=2125551234`, headers: { loginId: admin.key } });
      await app.inject({ method: 'GET', url: '/metrics', headers: { loginId: `${admin.key}x` } });
      await app.inject({ method: 'GET', url: '/openapi.json?phone=4155550100' });
      const log = lines.join('');
      expect(log).toContain('"statusCode":429');
      for (const secret of ['5039367187', '2125551234', '4155550100', admin.key.slice(18)]) expect(log).not.toContain(secret);
    } finally {
      await app.close();
      await dnc.close();
    }
  });
});

describe('GET /openapi.json', () => {
  it('is a structurally valid OpenAPI 3 document that lists every registered route', async () => {
    t = await makeTestApp();
    const response = await t.app.inject({ method: 'GET', url: '/openapi.json' });
    expect(response.statusCode).toBe(200);
    const doc = JSON.parse(response.body) as {
      openapi: string;
      info: { title: string; version: string };
      paths: Record<string, Record<string, { responses: Record<string, { description: string }> }>>;
      components: { securitySchemes: Record<string, { type: string; in: string; name: string }> };
    };
    expect(doc.openapi).toMatch(/^3\.\d+\.\d+$/);
    expect(doc.info.title).toBe('idnc');
    expect(typeof doc.info.version).toBe('string');
    expect(doc.components.securitySchemes.apiKey).toEqual({ type: 'apiKey', in: 'header', name: 'loginId' });
    const routes = (await t.app.ready(), routeTable(t.app));
    expect(routes.length).toBeGreaterThanOrEqual(5);
    for (const route of routes) {
      // The document writes path parameters as OpenAPI does ({projId}), the route table as Fastify (:projId).
      const operation = doc.paths[route.url.replace(/:(\w+)/g, '{$1}')]?.[route.method.toLowerCase()];
      expect(operation, `${route.method} ${route.url}`).toBeDefined();
      expect(Object.keys(operation!.responses).length).toBeGreaterThan(0);
      for (const [status, answer] of Object.entries(operation!.responses)) {
        expect(status).toMatch(/^([1-5]\d\d|default)$/);
        expect(typeof answer.description).toBe('string');
      }
    }
    const pdncGet = doc.paths[PDNC]!.get! as unknown as { parameters: { in: string; name: string }[]; responses: Record<string, unknown> };
    expect(pdncGet.parameters.map((p) => `${p.in}:${p.name}`)).toEqual(expect.arrayContaining(['query:actionType', 'query:phoneList', 'query:projId', 'query:ignoreInvalid']));
    expect(Object.keys(pdncGet.responses)).toEqual(expect.arrayContaining(['200', '400', '401', '403', '413', '429']));
    // The one rule for fields, as the routes apply it: a GET takes no body, a POST's body wins.
    const pdncPost = doc.paths[PDNC]!.post! as unknown as { summary: string; requestBody?: unknown };
    expect(pdncGet).not.toHaveProperty('requestBody');
    expect((pdncGet as unknown as { description: string }).description).toMatch(/GET with a body is refused \(400 BAD_REQUEST\)/);
    expect(pdncPost.requestBody).toBeDefined();
    expect(pdncPost.summary).toMatch(/body fields win over query fields/);
  });

  it('the documentation schemas never validate: bad input keeps its catalogue code', async () => {
    t = await makeTestApp();
    const cases: [Record<string, unknown>, string][] = [
      [{ actionType: 5 }, 'INVALID_PARAMETER'],
      [{ actionType: ['add', 'count'] }, 'INVALID_PARAMETER'],
      [{ actionType: 'add' }, 'MISSING_INPUT'],
      [{ actionType: 'add', phoneList: 5039367187 }, 'INVALID_PARAMETER'],
      [{ actionType: 'count', ignoreInvalid: { x: 1 } }, 'INVALID_PARAMETER'],
      [{}, 'MISSING_INPUT'],
    ];
    for (const [body, code] of cases) {
      const response = await t.postJson(body);
      expect(response.statusCode).toBe(400);
      expect(JSON.parse(response.body).code).toBe(code);
    }
    const dup = await t.app.inject({ method: 'GET', url: `${PDNC}?actionType=count&actionType=count`, headers: { loginId: t.admin } });
    expect(JSON.parse(dup.body).code).toBe('INVALID_PARAMETER');
  });
});
