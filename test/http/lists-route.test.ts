// GET /v1/lists and DELETE /v1/lists/{projId} through the app: paging with limit and after, an
// organisation's own lists only, a project-limited key's projects only, bad parameters as
// INVALID_PARAMETER, drops as durable changes answering their seq, the master list refused and a
// missing list LIST_NOT_FOUND; scopes are checked in app.tenant-matrix.test.ts as for every route.

import type { LightMyRequestResponse } from 'fastify';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LISTS_PAGE_LIMIT_DEFAULT, LISTS_PAGE_LIMIT_MAX } from '../../src/constants.js';
import { NumberSet } from '../../src/store/number-set.js';
import { makeKey, makeTestApp, type TestApp } from './helpers.js';

let t: TestApp;
afterEach(async () => {
  await t.close();
});

const acmeAdmin = makeKey('acme', ['admin']);
const acmeReader = makeKey('acme', ['read']);
const acmeProjects = makeKey('acme', ['read', 'write'], ['p3', 'p1', 'p9', 'absent']);
const keys = [acmeAdmin, acmeReader, acmeProjects].map((key) => ({ key: key.key, record: { ...key.record, rateLimit: 0 } }));

function getLists(key: string, query = ''): Promise<LightMyRequestResponse> {
  return t.app.inject({ method: 'GET', url: `/v1/lists${query}`, headers: { loginId: key } });
}

function drop(key: string, projId: string): Promise<LightMyRequestResponse> {
  return t.app.inject({ method: 'DELETE', url: `/v1/lists/${projId}`, headers: { loginId: key } });
}

function json(response: LightMyRequestResponse): unknown {
  expect(response.headers['content-type']).toMatch(/^application\/json/);
  return JSON.parse(response.body);
}

async function seed(): Promise<void> {
  await t.dnc.add('5039367187,2125551234', { org: 'acme' });
  for (const [i, projId] of ['p1', 'p2', 'p3', 'p4'].entries()) await t.dnc.add(`41555501${10 + i}`, { org: 'acme', projId });
  await t.dnc.add('3125550199', { org: 'zeta', projId: 'z1' });
}

describe('GET /v1/lists', () => {
  it('pages the key organisation lists, the master list first, with limit and after', async () => {
    t = await makeTestApp({ extraKeys: keys });
    await seed();
    const all = [{ projId: '', numbers: 2 }, ...['p1', 'p2', 'p3', 'p4'].map((projId) => ({ projId, numbers: 1 }))];
    const whole = await getLists(acmeReader.key);
    expect(whole.statusCode).toBe(200);
    expect(json(whole)).toEqual({ lists: all, next: null });
    expect(json(await getLists(acmeReader.key, '?limit=2'))).toEqual({ lists: all.slice(0, 2), next: 'p1' });
    expect(json(await getLists(acmeReader.key, '?limit=2&after=p1'))).toEqual({ lists: all.slice(2, 4), next: 'p3' });
    expect(json(await getLists(acmeReader.key, '?limit=2&after=p3'))).toEqual({ lists: all.slice(4), next: null });
    expect(json(await getLists(acmeReader.key, '?after='))).toEqual({ lists: all.slice(1), next: null });
    // Organisation default (the test's admin) holds no list; zeta's list is never shown to acme.
    expect(json(await getLists(t.admin))).toEqual({ lists: [], next: null });
    expect(whole.body).not.toContain('z1');
  });

  it('shows a project-limited key only its own projects that hold numbers, paged the same way', async () => {
    t = await makeTestApp({ extraKeys: keys });
    await seed();
    const own = [{ projId: 'p1', numbers: 1 }, { projId: 'p3', numbers: 1 }];
    expect(json(await getLists(acmeProjects.key))).toEqual({ lists: own, next: null });
    expect(json(await getLists(acmeProjects.key, '?limit=1'))).toEqual({ lists: own.slice(0, 1), next: 'p1' });
    expect(json(await getLists(acmeProjects.key, '?limit=1&after=p1'))).toEqual({ lists: own.slice(1), next: null });
    expect(json(await getLists(acmeProjects.key, '?after=p3'))).toEqual({ lists: [], next: null });
  });

  it('answers at most the default page, and the maximum, reading only the lists it answers', async () => {
    t = await makeTestApp({ extraKeys: keys });
    for (let i = 0; i < LISTS_PAGE_LIMIT_MAX + 5; i++) await t.dnc.add('4155550100', { org: 'acme', projId: `p${String(i).padStart(4, '0')}` });
    const first = json(await getLists(acmeReader.key)) as { lists: unknown[]; next: string };
    expect(first.lists).toHaveLength(LISTS_PAGE_LIMIT_DEFAULT);
    expect(first.next).toBe(`p${String(LISTS_PAGE_LIMIT_DEFAULT - 1).padStart(4, '0')}`);
    const largest = json(await getLists(acmeReader.key, `?limit=${LISTS_PAGE_LIMIT_MAX}`)) as { lists: unknown[]; next: string };
    expect(largest.lists).toHaveLength(LISTS_PAGE_LIMIT_MAX);
    const rest = json(await getLists(acmeReader.key, `?limit=${LISTS_PAGE_LIMIT_MAX}&after=${largest.next}`)) as { lists: unknown[]; next: null };
    expect(rest).toMatchObject({ next: null });
    expect(rest.lists).toHaveLength(5);
    // A page, and a project-limited key's page, read the sizes of their own lists only, never all of them.
    const sizes = vi.spyOn(NumberSet.prototype, 'size', 'get');
    try {
      expect((json(await getLists(acmeReader.key, '?limit=10&after=p0500')) as { lists: unknown[] }).lists).toHaveLength(10);
      expect(sizes.mock.calls.length).toBeLessThanOrEqual(11);
      sizes.mockClear();
      expect((json(await getLists(acmeProjects.key)) as { lists: unknown[] }).lists).toHaveLength(0);
      expect(sizes.mock.calls.length).toBeLessThanOrEqual(acmeProjects.record.projects!.length);
    } finally {
      sizes.mockRestore();
    }
  });

  it.each(['?limit=0', `?limit=${LISTS_PAGE_LIMIT_MAX + 1}`, '?limit=x', '?limit=1.5', '?limit=-1', '?limit=1&limit=2', '?after=a%20b', '?after=a&after=b'])(
    'refuses %s with INVALID_PARAMETER',
    async (query) => {
      t = await makeTestApp({ extraKeys: keys });
      const response = await getLists(acmeReader.key, query);
      expect(response.statusCode).toBe(400);
      expect(json(response)).toMatchObject({ code: 'INVALID_PARAMETER' });
    },
  );
});

describe('DELETE /v1/lists/{projId}', () => {
  it('drops the list as a change answering its seq; it is gone from the page, lookups and counts', async () => {
    t = await makeTestApp({ extraKeys: keys });
    await seed();
    await t.dnc.add('4155550199', { org: 'acme', projId: 'p2' });
    const response = await drop(acmeAdmin.key, 'p2');
    expect(response.statusCode).toBe(200);
    expect(json(response)).toEqual({ projId: 'p2', numbers: 2, seq: 0 });
    expect(response.headers['idnc-seq']).toBe('0');
    expect(t.dnc.count({ org: 'acme', projId: 'p2' })).toBe(0);
    expect(t.dnc.isBlocked('4155550199', { org: 'acme', projId: 'p2' })).toBe(false);
    expect((json(await getLists(acmeReader.key)) as { lists: { projId: string }[] }).lists.map((list) => list.projId)).toEqual(['', 'p1', 'p3', 'p4']);
    // The same projId in another organisation is another list: acme's admin cannot reach it.
    expect(json(await drop(acmeAdmin.key, 'z1'))).toMatchObject({ code: 'LIST_NOT_FOUND' });
    expect(t.dnc.count({ org: 'zeta', projId: 'z1' })).toBe(1);
  });

  it('answers 404 LIST_NOT_FOUND for a list that does not exist or was dropped already', async () => {
    t = await makeTestApp({ extraKeys: keys });
    await seed();
    expect((await drop(acmeAdmin.key, 'p1')).statusCode).toBe(200);
    for (const projId of ['p1', 'never']) {
      const response = await drop(acmeAdmin.key, projId);
      expect(response.statusCode).toBe(404);
      expect(json(response)).toEqual({ code: 'LIST_NOT_FOUND', error: `organisation "acme" has no list "${projId}"` });
    }
  });

  it('refuses the master list and an invalid projId with INVALID_PARAMETER, and a project-limited key with FORBIDDEN', async () => {
    t = await makeTestApp({ extraKeys: keys });
    await seed();
    const before = t.dnc.digest();
    // `/v1/lists/` reaches the route with an empty projId: the master list's.
    const master = await drop(acmeAdmin.key, '');
    expect(master.statusCode).toBe(400);
    expect(json(master)).toMatchObject({ code: 'INVALID_PARAMETER', error: expect.stringContaining('master list cannot be dropped') });
    const bad = await drop(acmeAdmin.key, 'a%20b');
    expect(bad.statusCode).toBe(400);
    expect(json(bad)).toMatchObject({ code: 'INVALID_PARAMETER' });
    const own = await drop(acmeProjects.key, 'p1');
    expect(own.statusCode).toBe(403);
    expect(json(own)).toMatchObject({ code: 'FORBIDDEN', error: expect.stringContaining('admin scope') });
    expect(t.dnc.digest()).toBe(before);
  });
});
