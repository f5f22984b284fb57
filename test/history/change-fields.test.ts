// The history fields travel with a change through every channel into the durable log: the
// library's add/remove/addNumbers options, the pdnc endpoint (query, form or JSON body), and POST
// /v1/import. A bad value is refused with INVALID_HISTORY_FIELD (400) and changes nothing; a
// DNCScrub client that sends none gets the same answer as before and a record without them.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeKey, PDNC } from '../http/helpers.js';
import { makeTempDir, removeDir } from '../persist/helpers.js';
import { openDnc } from '../../src/open.js';
import { importUrl } from '../../src/cli/import-online.js';
import { ForwardingSink, type ForwardedChange } from '../../src/engine/follower.js';
import { logRecords, makeDurableApp, type DurableTestApp } from './helpers.js';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
let dir: string;
beforeEach(async () => {
  dir = await makeTempDir('idnc-history-');
});
afterEach(async () => {
  await removeDir(dir);
});

describe('the library', () => {
  it('stores source, reason and requestedAt with add, remove and addNumbers, and reads them back after a restart', async () => {
    const dnc = await openDnc({ dataDir: dir, logger: quiet });
    await dnc.add('5039367187', { source: 'ivr', reason: 'pressed 9', requestedAt: '2026-03-01T15:04:05Z' });
    await dnc.remove('5039367187', { projId: 'p', source: 'agent' });
    await dnc.addNumbers(Float64Array.of(5039367188), { reason: 'letter', requestedAt: 1_000 });
    await dnc.add('5039367189');
    await dnc.close();
    const records = await logRecords(dir);
    const fields = records.map(({ source, reason, requestedAt }) => ({ source, reason, requestedAt }));
    expect(fields).toEqual([
      { source: 'ivr', reason: 'pressed 9', requestedAt: Date.parse('2026-03-01T15:04:05Z') },
      { source: 'agent', reason: undefined, requestedAt: undefined },
      { source: undefined, reason: 'letter', requestedAt: 1_000 },
      { source: undefined, reason: undefined, requestedAt: undefined },
    ]);
    const reopened = await openDnc({ dataDir: dir, logger: quiet });
    expect(reopened.isBlocked('5039367188')).toBe(true);
    await reopened.close();
  });

  it('refuses a bad field before anything is logged or applied', async () => {
    const dnc = await openDnc({ dataDir: dir, logger: quiet });
    await expect(dnc.add('5039367187', { source: 'IVR' })).rejects.toMatchObject({ code: 'INVALID_HISTORY_FIELD' });
    await expect(dnc.addNumbers(Float64Array.of(5039367187), { requestedAt: Date.now() + 3_600_000 })).rejects.toMatchObject({ code: 'INVALID_HISTORY_FIELD' });
    expect(dnc.isBlocked('5039367187')).toBe(false);
    expect(dnc.lastSeq).toBe(0);
    await dnc.close();
    expect(await logRecords(dir)).toEqual([]);
  });
});

describe('HTTP', () => {
  let t: DurableTestApp;
  beforeEach(async () => {
    t = await makeDurableApp(dir);
  });
  afterEach(async () => {
    await t.close();
  });

  const headers = (): Record<string, string> => ({ loginId: t.admin.key });

  it('a DNCScrub add without the fields answers as before and stores none of them', async () => {
    const response = await t.app.inject({ method: 'GET', url: PDNC, query: { actionType: 'add', phoneList: '5039367187' }, headers: headers() });
    expect(response.statusCode).toBe(200);
    expect(response.body).toBe('');
    expect(response.headers).toMatchObject({ 'idnc-changed': '1', 'idnc-skipped': '0', 'idnc-seq': '1' });
    await t.dnc.close();
    const [record] = await logRecords(dir);
    expect(record).toMatchObject({ keyId: t.admin.record.id });
    expect(['source', 'reason', 'requestedAt'].filter((field) => field in record!)).toEqual([]);
  });

  it.each([
    ['the query', (fields: Record<string, string>) => ({ method: 'GET' as const, url: PDNC, query: { actionType: 'add', phoneList: '5039367187', ...fields } })],
    ['a form body', (fields: Record<string, string>) => ({ method: 'POST' as const, url: PDNC, payload: new URLSearchParams({ actionType: 'add', phoneList: '5039367187', ...fields }).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } })],
    ['a JSON body', (fields: Record<string, string>) => ({ method: 'POST' as const, url: PDNC, payload: { actionType: 'add', phoneList: '5039367187', ...fields } })],
  ])('reads the fields from %s and stores them with the key id', async (_, request) => {
    const fields = { source: 'sms', reason: 'STOP', requestedAt: '2026-03-01T15:04:05.250Z' };
    const built = request(fields);
    const response = await t.app.inject({ ...built, headers: { ...('headers' in built ? built.headers : {}), ...headers() } });
    expect(response.statusCode).toBe(200);
    await t.dnc.close();
    const [record] = await logRecords(dir);
    expect(record).toMatchObject({ keyId: t.admin.record.id, source: 'sms', reason: 'STOP', requestedAt: Date.parse('2026-03-01T15:04:05.250Z') });
  });

  it.each([
    ['source', { source: 'Web Form' }],
    ['reason', { reason: 'x'.repeat(201) }],
    ['requestedAt', { requestedAt: 'tomorrow' }],
    ['requestedAt in the future', { requestedAt: new Date(Date.now() + 3_600_000).toISOString() }],
  ])('a bad %s is 400 INVALID_HISTORY_FIELD and changes nothing', async (_, fields) => {
    const response = await t.app.inject({ method: 'GET', url: PDNC, query: { actionType: 'add', phoneList: '5039367187', ...fields }, headers: headers() });
    expect(response.statusCode).toBe(400);
    expect(JSON.parse(response.body)).toMatchObject({ code: 'INVALID_HISTORY_FIELD' });
    expect(t.dnc.isBlocked('5039367187')).toBe(false);
    expect(t.dnc.lastSeq).toBe(0);
  });

  it('never writes a reason to the server log, even when it is refused', async () => {
    const reason = `Jane Roe ${'y'.repeat(200)}`;
    await t.app.inject({ method: 'GET', url: PDNC, query: { actionType: 'add', phoneList: '5039367187', reason }, headers: headers() });
    await t.app.inject({ method: 'GET', url: PDNC, query: { actionType: 'add', phoneList: '5039367187', reason: 'Jane Roe' }, headers: headers() });
    expect(t.logLines.length).toBeGreaterThan(0);
    expect(t.logLines.filter((line) => line.includes('Jane'))).toEqual([]);
  });

  it('POST /v1/import stores source import by default, or the one given, with reason and requestedAt', async () => {
    const post = (query: string) => t.app.inject({ method: 'POST', url: `/v1/import${query}`, payload: '5039367187\n5039367188\n', headers: { ...headers(), 'content-type': 'text/plain' } });
    expect((await post('')).statusCode).toBe(200);
    expect((await post('?source=mail&reason=letter&requestedAt=2026-03-01T00:00:00Z')).statusCode).toBe(200);
    const refused = await post('?source=MAIL');
    expect(refused.statusCode).toBe(400);
    expect(JSON.parse(refused.body)).toMatchObject({ code: 'INVALID_HISTORY_FIELD' });
    await t.dnc.close();
    const records = await logRecords(dir);
    expect(records.map(({ source, reason, requestedAt }) => ({ source, reason, requestedAt }))).toEqual([
      { source: 'import', reason: undefined, requestedAt: undefined },
      { source: 'mail', reason: 'letter', requestedAt: Date.parse('2026-03-01T00:00:00Z') },
    ]);
  });
});

it('a key limited to projects passes its fields on too', async () => {
  const limited = makeKey('default', ['read', 'write'], ['spring']);
  const t = await makeDurableApp(dir, [limited]);
  const response = await t.app.inject({ method: 'GET', url: PDNC, query: { actionType: 'remove', phoneList: '5039367187', projId: 'spring', source: 'web' }, headers: { loginId: limited.key } });
  expect(response.statusCode).toBe(200);
  await t.close();
  expect(await logRecords(dir)).toMatchObject([{ op: 'remove', projId: 'spring', keyId: limited.record.id, source: 'web' }]);
});

it('idnc import --url sends --source and --reason with every batch', () => {
  const url = new URL(importUrl('http://127.0.0.1:3000', 'p', false, { source: 'mail', reason: 'letter & note' }));
  expect(Object.fromEntries(url.searchParams)).toEqual({ projId: 'p', source: 'mail', reason: 'letter & note' });
});

it('a forwarding follower (a worker of idnc serve --workers) hands the fields to the writer with the change', async () => {
  const forwarded: ForwardedChange[] = [];
  const sink = new ForwardingSink(async (change) => {
    forwarded.push(change);
    return { changed: 1, seq: 1 };
  }, 1000);
  sink.attach({ replaceStore: () => undefined, seqAdvanced: () => undefined, waitFor: async () => undefined });
  await sink.commit('add', { org: 'default', projId: '' }, Float64Array.of(5039367187), 'k1', () => 0, { source: 'ivr', reason: 'pressed 9' });
  await sink.commit('remove', { org: 'default', projId: '' }, Float64Array.of(5039367187), 'k1', () => 0);
  expect(forwarded.map((change) => change.meta)).toEqual([{ source: 'ivr', reason: 'pressed 9' }, undefined]);
});
