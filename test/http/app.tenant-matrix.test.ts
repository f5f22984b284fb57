// Tenant isolation, generated from the route table: every route the app registers (read from the
// app itself, so a new route without a probe here fails the test) x {own organisation, other
// organisation} x {read, write, admin, project-limited key} gives the documented outcome:
// allowed (scope, and a project key only on its projects) -> 200, and it sees or changes the
// data of its own organisation only; not allowed -> 403 FORBIDDEN and nothing changes.

import type { LightMyRequestResponse } from 'fastify';
import { describe, expect, it } from 'vitest';
import { routeTable } from '../../src/http/openapi.js';
import type { Scope } from '../../src/keys/key-records.js';
import { makeKey, makeTestApp, PDNC, type TestApp } from './helpers.js';

const OWN = 'acme';
const OTHER = 'zeta';
const [A1, A2, P1, W] = ['5039367187', '2125551234', '4155550100', '3125550199'] as const;

type Kind = 'read' | 'write' | 'admin' | 'project';
const KINDS: Record<Kind, { scopes: Scope[]; projects?: string[] }> = {
  read: { scopes: ['read'] },
  write: { scopes: ['write'] },
  admin: { scopes: ['admin'] },
  project: { scopes: ['read', 'write'], projects: ['p1'] },
};

interface Probe {
  readonly name: string;
  /** Scope the probe needs; 'none' for public routes. */
  readonly scope: Scope | 'none';
  /** The list it addresses: a project key may use only its project. */
  readonly target: 'master' | 'project' | 'none';
  readonly send: (t: TestApp, key: string) => Promise<LightMyRequestResponse>;
  /** Read probes: whether the answer shows the seeded data of organisation acme. */
  readonly seesOwn?: (response: LightMyRequestResponse) => boolean;
  /** Write probes change data; the test checks they change acme only for acme keys. */
  readonly writes?: boolean;
}

const get = (query: Record<string, string>) => (t: TestApp, key: string) => t.get(query, key);
const post = (query: Record<string, string>) => (t: TestApp, key: string) => t.postForm(query, key);
const raw = (url: string, payload: string) => (t: TestApp, key: string) =>
  t.app.inject({ method: 'POST', url, headers: { loginId: key, 'content-type': 'text/plain' }, payload });

const pdncProbes = (send: typeof get): Probe[] => [
  { name: 'count master', scope: 'read', target: 'master', send: send({ actionType: 'count' }), seesOwn: (r) => r.body === '2' },
  { name: 'count project', scope: 'read', target: 'project', send: send({ actionType: 'count', projId: 'p1' }), seesOwn: (r) => r.body === '1' },
  {
    name: 'status project',
    scope: 'read',
    target: 'project',
    send: send({ actionType: 'status', phoneList: `${A1},${P1}`, projId: 'p1' }),
    seesOwn: (r) => (JSON.parse(r.body) as { onList: boolean }[]).every((e) => e.onList),
  },
  { name: 'status master', scope: 'read', target: 'master', send: send({ actionType: 'status', phoneList: A1 }), seesOwn: (r) => r.body.includes('"onList":true') },
  { name: 'add project', scope: 'write', target: 'project', send: send({ actionType: 'add', phoneList: W, projId: 'p1' }), writes: true },
  { name: 'remove master', scope: 'write', target: 'master', send: send({ actionType: 'remove', phoneList: A1 }), writes: true },
];

/** Probes by "METHOD url"; every registered route must have an entry. */
const PROBES: Record<string, Probe[]> = {
  [`GET ${PDNC}`]: pdncProbes(get),
  [`POST ${PDNC}`]: pdncProbes(post),
  'POST /v1/scrub': [
    { name: 'scrub project', scope: 'read', target: 'project', send: raw('/v1/scrub?projId=p1&all=1', `${A1}\n${P1}\n`), seesOwn: (r) => !r.body.includes(',clear,') && r.body.includes(A1) },
    { name: 'scrub master', scope: 'read', target: 'master', send: raw('/v1/scrub', `${A1}\n`), seesOwn: (r) => r.body.split('\n')[0] === A1 },
  ],
  'POST /v1/import': [
    { name: 'import project', scope: 'write', target: 'project', send: raw('/v1/import?projId=p1', `${W}\n`), writes: true },
    { name: 'import remove master', scope: 'write', target: 'master', send: raw('/v1/import?remove=1', `${A2}\n`), writes: true },
  ],
  'GET /metrics': [
    { name: 'metrics', scope: 'admin', target: 'none', send: (t, key) => t.app.inject({ method: 'GET', url: '/metrics', headers: { loginId: key } }), seesOwn: (r) => r.body.includes(`org="${OWN}"`) },
  ],
  'GET /v1/lists': [
    {
      name: 'list lists',
      scope: 'read',
      target: 'project',
      send: (t, key) => t.app.inject({ method: 'GET', url: '/v1/lists', headers: { loginId: key } }),
      seesOwn: (r) => r.body.includes('"projId":"p1"'),
    },
  ],
  'DELETE /v1/lists/:projId': [
    {
      name: 'drop project',
      scope: 'admin',
      target: 'project',
      // The other organisation gets a p1 of its own, so that a drop its admin may make finds a list.
      send: async (t, key) => {
        const org = t.keys.authenticate(key)!.org;
        if (org !== OWN) await t.dnc.add(W, { org, projId: 'p1' });
        return t.app.inject({ method: 'DELETE', url: '/v1/lists/p1', headers: { loginId: key } });
      },
      writes: true,
    },
  ],
  // The test app's engine is in memory: it logs nothing, so its history is empty whoever asks; what
  // is checked is who may ask (a key limited to projects sees only its projects' history).
  'GET /v1/history': [
    { name: 'history', scope: 'read', target: 'project', send: (t, key) => t.app.inject({ method: 'GET', url: `/v1/history?phone=${P1}`, headers: { loginId: key } }) },
    { name: 'history project', scope: 'read', target: 'project', send: (t, key) => t.app.inject({ method: 'GET', url: `/v1/history?phone=${P1}&projId=p1`, headers: { loginId: key } }) },
  ],
  'GET /v1/status-at': [
    { name: 'status-at project', scope: 'read', target: 'project', send: (t, key) => t.app.inject({ method: 'GET', url: `/v1/status-at?phone=${P1}&projId=p1&at=2026-01-01T00:00:00Z`, headers: { loginId: key } }) },
    { name: 'status-at master', scope: 'read', target: 'master', send: (t, key) => t.app.inject({ method: 'GET', url: `/v1/status-at?phone=${A1}&at=2026-01-01T00:00:00Z`, headers: { loginId: key } }) },
  ],
  'GET /v1/history/head': [
    // One chain for the whole server: every admin sees the same head, which names no organisation's data.
    { name: 'history head', scope: 'admin', target: 'none', send: (t, key) => t.app.inject({ method: 'GET', url: '/v1/history/head', headers: { loginId: key } }) },
  ],
  'GET /healthz': [{ name: 'health', scope: 'none', target: 'none', send: (t) => t.app.inject({ method: 'GET', url: '/healthz' }) }],
  'GET /openapi.json': [{ name: 'openapi', scope: 'none', target: 'none', send: (t) => t.app.inject({ method: 'GET', url: '/openapi.json' }) }],
};

function allowed(kind: Kind, probe: Probe): boolean {
  if (probe.scope === 'none') return true;
  const { scopes, projects } = KINDS[kind];
  if (!scopes.includes(probe.scope) && !scopes.includes('admin')) return false;
  return projects === undefined || probe.target === 'project';
}

async function ownState(t: TestApp): Promise<string> {
  const list = [A1, A2, P1, W].join(',');
  return JSON.stringify([t.dnc.status(list, { org: OWN }), t.dnc.status(list, { org: OWN, projId: 'p1' }), t.dnc.count({ org: OWN }), t.dnc.count({ org: OWN, projId: 'p1' })]);
}

describe('tenant isolation matrix', () => {
  it('every registered route has probes', async () => {
    const t = await makeTestApp();
    try {
      const routes = (await t.app.ready(), routeTable(t.app)).map((route) => `${route.method} ${route.url}`);
      expect(routes.length).toBeGreaterThanOrEqual(5);
      expect(routes).toEqual(expect.arrayContaining([`GET ${PDNC}`, `POST ${PDNC}`, 'POST /v1/scrub', 'POST /v1/import', 'GET /metrics', 'GET /openapi.json']));
      for (const route of routes) expect(PROBES[route], `no tenant-isolation probe for ${route}: add one to PROBES`).toBeDefined();
    } finally {
      await t.close();
    }
  });

  const cases: [string, Probe, 'own' | 'other', Kind][] = [];
  for (const [route, probes] of Object.entries(PROBES)) {
    for (const probe of probes) for (const org of ['own', 'other'] as const) for (const kind of Object.keys(KINDS) as Kind[]) cases.push([route, probe, org, kind]);
  }

  it.each(cases)('%s %s: %s organisation, %s key', async (_route, probe, org, kind) => {
    const key = makeKey(org === 'own' ? OWN : OTHER, KINDS[kind].scopes, KINDS[kind].projects);
    const t = await makeTestApp({ extraKeys: [{ key: key.key, record: { ...key.record, rateLimit: 0 } }] });
    try {
      await t.dnc.add(`${A1},${A2}`, { org: OWN });
      await t.dnc.add(P1, { org: OWN, projId: 'p1' });
      const before = await ownState(t);
      const response = await probe.send(t, key.key);
      const after = await ownState(t);
      if (!allowed(kind, probe)) {
        expect(response.statusCode, response.body).toBe(403);
        expect(JSON.parse(response.body).code).toBe('FORBIDDEN');
        expect(after).toBe(before);
        return;
      }
      expect(response.statusCode, response.body).toBe(200);
      if (probe.seesOwn !== undefined) expect(probe.seesOwn(response)).toBe(org === 'own');
      if (probe.writes === true) expect(after !== before).toBe(org === 'own');
      else expect(after).toBe(before);
    } finally {
      await t.close();
    }
  });
});
