// GET /v1/history/head: the chain head for an admin key, FORBIDDEN for other keys, the same
// server-wide head for every organisation's admin (documented so), and an in-memory engine (no
// history) says so.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeTempDir, removeDir } from '../persist/helpers.js';
import { makeKey, makeTestApp } from './helpers.js';
import { makeDurableApp } from '../history/helpers.js';

let dir: string;
beforeEach(async () => {
  dir = await makeTempDir('idnc-history-route-');
});
afterEach(async () => {
  await removeDir(dir);
});

it('answers the head of the chain to an admin key, and FORBIDDEN to a read/write key', async () => {
  const reader = makeKey('default', ['read', 'write']);
  const t = await makeDurableApp(dir, [reader]);
  await t.dnc.add('5039367187');
  await t.dnc.add('5039367188');
  const response = await t.app.inject({ method: 'GET', url: '/v1/history/head', headers: { loginId: t.admin.key } });
  expect(response.statusCode).toBe(200);
  expect(response.headers['content-type']).toMatch(/^application\/json/);
  expect(JSON.parse(response.body)).toEqual(await t.dnc.historyHead());
  expect(JSON.parse(response.body)).toMatchObject({ seq: 2, hash: expect.stringMatching(/^[0-9a-f]{64}$/) });
  const refused = await t.app.inject({ method: 'GET', url: '/v1/history/head', headers: { loginId: reader.key } });
  expect(refused.statusCode).toBe(403);
  expect(JSON.parse(refused.body)).toMatchObject({ code: 'FORBIDDEN' });
  await t.close();
});

it("gives another organisation's admin the same server-wide head, seq, at and hash only, as its OpenAPI description says", async () => {
  const otherAdmin = makeKey('other', ['admin']);
  const t = await makeDurableApp(dir, [otherAdmin]);
  await t.dnc.add('5039367187');
  await t.dnc.add('5039367188', { org: 'other' });
  await t.dnc.add('5039367189');
  const own = await t.app.inject({ method: 'GET', url: '/v1/history/head', headers: { loginId: t.admin.key } });
  const other = await t.app.inject({ method: 'GET', url: '/v1/history/head', headers: { loginId: otherAdmin.key } });
  expect(other.statusCode).toBe(200);
  expect(other.json()).toEqual(own.json());
  expect(Object.keys(other.json()).sort()).toEqual(['at', 'hash', 'seq']);
  expect(other.json().seq).toBe(3);
  const document = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json();
  const route = document.paths['/v1/history/head'].get;
  expect(route.description).toMatch(/seq counts every organisation's changes/);
  expect(Object.keys(route.responses['200'].content['application/json'].schema.properties).sort()).toEqual(['at', 'hash', 'seq']);
  await t.close();
});

it('an in-memory engine logs nothing: its head is the empty chain', async () => {
  const t = await makeTestApp();
  await t.dnc.add('5039367187');
  const response = await t.app.inject({ method: 'GET', url: '/v1/history/head', headers: { loginId: t.admin } });
  expect(response.statusCode).toBe(200);
  expect(JSON.parse(response.body)).toEqual({ seq: 0, at: null, hash: '0'.repeat(64) });
  await t.close();
});

describe('GET /v1/history and GET /v1/status-at', () => {
  it('answer the documented shapes for the key organisation, a project-limited key seeing only its projects', async () => {
    const limited = makeKey('default', ['read'], ['spring']);
    const named = makeKey('default', ['write']);
    (named.record as { name: string | null }).name = 'ivr-line-1';
    const stranger = makeKey('acme', ['read']);
    const t = await makeDurableApp(dir, [limited, stranger, named]);
    await t.dnc.add('5039367187', { keyId: 'k1', source: 'ivr', reason: 'pressed 9', requestedAt: '2026-03-01T15:04:05Z' });
    await t.dnc.add('5039367187', { projId: 'spring', keyId: named.record.id });
    await t.dnc.remove('5039367187', { projId: 'fall' });
    await t.dnc.add('5039367187', { org: 'acme' });
    const get = (url: string, key: string) => t.app.inject({ method: 'GET', url, headers: { loginId: key } });
    const all = JSON.parse((await get('/v1/history?phone=5039367187', t.admin.key)).body);
    expect(all.phone).toBe('5039367187');
    expect(all.events.map((event: { seq: number; list: string; projId: string | null }) => [event.seq, event.list, event.projId])).toEqual([[1, 'master', null], [2, 'project', 'spring'], [3, 'project', 'fall']]);
    expect(all.events[0]).toEqual({
      seq: 1,
      at: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/),
      op: 'add',
      list: 'master',
      projId: null,
      keyId: 'k1',
      source: 'ivr',
      reason: 'pressed 9',
      requestedAt: '2026-03-01T15:04:05.000Z',
      hash: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    expect(Object.keys(all.events[1])).toEqual(['seq', 'at', 'op', 'list', 'projId', 'keyId', 'keyName', 'source', 'reason', 'requestedAt', 'hash']);
    expect(all.events[1]).toMatchObject({ keyId: named.record.id, keyName: 'ivr-line-1' });
    expect(all.events[2]).toMatchObject({ op: 'remove', keyId: 'library', source: 'api', reason: null, requestedAt: all.events[2].at });
    const onlySpring = JSON.parse((await get('/v1/history?phone=5039367187', limited.key)).body);
    expect(onlySpring.events.map((event: { seq: number }) => event.seq)).toEqual([2]);
    expect((await get('/v1/history?phone=5039367187&projId=fall', limited.key)).statusCode).toBe(403);
    const acme = JSON.parse((await get('/v1/history?phone=5039367187', stranger.key)).body);
    expect(acme.events.map((event: { seq: number }) => event.seq)).toEqual([4]);

    const at = all.events[1].at;
    const status = JSON.parse((await get(`/v1/status-at?phone=5039367187&projId=spring&at=${at}`, t.admin.key)).body);
    expect(status).toEqual({ phone: '5039367187', at, onList: true, list: 'project', since: at, seq: expect.any(Number) });
    expect(status.seq).toBeGreaterThanOrEqual(2);
    const before = JSON.parse((await get('/v1/status-at?phone=5039367187&at=2020-01-01T00:00:00Z', t.admin.key)).body);
    expect(before).toEqual({ phone: '5039367187', at: '2020-01-01T00:00:00.000Z', onList: false, list: null, since: null, seq: 0 });
    expect(JSON.parse((await get('/v1/status-at?phone=5039367187&at=yesterday', t.admin.key)).body)).toMatchObject({ code: 'INVALID_PARAMETER' });
    expect(JSON.parse((await get('/v1/status-at?phone=5039367187', t.admin.key)).body)).toMatchObject({ code: 'MISSING_INPUT' });
    expect(JSON.parse((await get('/v1/history?phone=123', t.admin.key)).body)).toMatchObject({ code: 'INVALID_PHONE' });
    expect((await get('/v1/status-at?phone=5039367187&at=2020-01-01T00:00:00Z', limited.key)).statusCode).toBe(403);
    await t.close();
  });
});
