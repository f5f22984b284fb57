// GET /v1/history/head: the chain head for an admin key, FORBIDDEN for other keys, and an
// in-memory engine (no history) says so.

import { afterEach, beforeEach, expect, it } from 'vitest';
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

it('an in-memory engine logs nothing: its head is the empty chain', async () => {
  const t = await makeTestApp();
  await t.dnc.add('5039367187');
  const response = await t.app.inject({ method: 'GET', url: '/v1/history/head', headers: { loginId: t.admin } });
  expect(response.statusCode).toBe(200);
  expect(JSON.parse(response.body)).toEqual({ seq: 0, at: null, hash: '0'.repeat(64) });
  await t.close();
});
