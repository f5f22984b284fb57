// The pdnc endpoint's contract through app.inject(): the public documentation's examples, the
// response shapes, how fields are read from query and body, and the parameter errors.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeTestApp, PDNC, type TestApp } from './helpers.js';

let t: TestApp;
beforeEach(async () => {
  t = await makeTestApp();
});
afterEach(async () => {
  await t.close();
});

function expectError(response: { statusCode: number; body: string; headers: Record<string, unknown> }, status: number, code: string): Record<string, unknown> {
  expect(response.statusCode).toBe(status);
  expect(response.headers['content-type']).toMatch(/^application\/json/);
  const body = JSON.parse(response.body) as Record<string, unknown>;
  expect(body.code).toBe(code);
  expect(typeof body.error).toBe('string');
  expect((body.error as string).length).toBeGreaterThan(10);
  return body;
}

describe('public documentation examples', () => {
  it('single add: 200, no body, idnc-changed 1', async () => {
    const response = await t.get({ actionType: 'add', phoneList: '5039367187' });
    expect(response.statusCode).toBe(200);
    expect(response.body).toBe('');
    expect(response.headers['idnc-changed']).toBe('1');
    expect(response.headers['idnc-skipped']).toBe('0');
    expect(response.headers['idnc-seq']).toMatch(/^\d+$/);
    expect(t.dnc.isBlocked('5039367187')).toBe(true);
  });

  it('multiple add', async () => {
    const response = await t.get({ actionType: 'add', phoneList: '5039367187,5039367188,5039367189' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['idnc-changed']).toBe('3');
    expect(t.dnc.count()).toBe(3);
  });

  it('add to a project leaves the master list alone', async () => {
    const response = await t.get({ actionType: 'add', phoneList: '5039367187', projId: 'Spring-Campaign_2' });
    expect(response.statusCode).toBe(200);
    expect(t.dnc.count({ projId: 'Spring-Campaign_2' })).toBe(1);
    expect(t.dnc.count()).toBe(0);
    expect((await t.get({ actionType: 'count', projId: 'Spring-Campaign_2' })).body).toBe('1');
  });

  it('phoneList=BADNUMBER fails with INVALID_PHONE naming it, and changes nothing', async () => {
    const body = expectError(await t.get({ actionType: 'add', phoneList: 'BADNUMBER' }), 400, 'INVALID_PHONE');
    expect(body.invalid).toEqual(['BADNUMBER']);
    expect(body.error).toContain('BADNUMBER');
    expect(t.dnc.count()).toBe(0);
  });

  it('one invalid entry aborts the whole add by default', async () => {
    const body = expectError(await t.get({ actionType: 'add', phoneList: '5039367187,BADNUMBER,5039367188' }), 400, 'INVALID_PHONE');
    expect(body.invalid).toEqual(['BADNUMBER']);
    expect(t.dnc.count()).toBe(0);
  });

  it('ignoreInvalid=1 adds the two valid numbers and skips BADNUMBER', async () => {
    const response = await t.get({ actionType: 'add', phoneList: '5039367187,BADNUMBER,5039367188', ignoreInvalid: '1' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['idnc-changed']).toBe('2');
    expect(response.headers['idnc-skipped']).toBe('1');
    expect(t.dnc.count()).toBe(2);
  });

  it('add is idempotent: the second add changes nothing', async () => {
    await t.get({ actionType: 'add', phoneList: '5039367187' });
    const again = await t.get({ actionType: 'add', phoneList: '5039367187' });
    expect(again.statusCode).toBe(200);
    expect(again.headers['idnc-changed']).toBe('0');
    expect(t.dnc.count()).toBe(1);
  });

  it('removing a number that is not there is a 200 with idnc-changed 0', async () => {
    const response = await t.get({ actionType: 'remove', phoneList: '5039367187' });
    expect(response.statusCode).toBe(200);
    expect(response.body).toBe('');
    expect(response.headers['idnc-changed']).toBe('0');
  });

  it('remove takes a number off the list', async () => {
    await t.get({ actionType: 'add', phoneList: '5039367187,5039367188' });
    const response = await t.get({ actionType: 'remove', phoneList: '5039367187' });
    expect(response.headers['idnc-changed']).toBe('1');
    expect(t.dnc.isBlocked('5039367187')).toBe(false);
    expect(t.dnc.isBlocked('5039367188')).toBe(true);
  });
});

describe('response shapes', () => {
  it('count is text/plain with a bare integer', async () => {
    await t.get({ actionType: 'add', phoneList: '5039367187,5039367188' });
    const response = await t.get({ actionType: 'count' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/plain/);
    expect(response.body).toBe('2');
    expect(response.body.split(',')[0]).toBe('2');
  });

  it('status is a JSON array in request order naming the blocking list', async () => {
    await t.get({ actionType: 'add', phoneList: '5039367187' });
    await t.get({ actionType: 'add', phoneList: '2125551234', projId: 'p1' });
    const response = await t.get({ actionType: 'status', phoneList: '2125551234,4155550100,5039367187', projId: 'p1' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    expect(JSON.parse(response.body)).toEqual([
      { phone: '2125551234', onList: true, list: 'project' },
      { phone: '4155550100', onList: false, list: null },
      { phone: '5039367187', onList: true, list: 'master' },
    ]);
    const master = JSON.parse((await t.get({ actionType: 'status', phoneList: '2125551234' })).body) as unknown[];
    expect(master).toEqual([{ phone: '2125551234', onList: false, list: null }]);
  });

  it('status honours ignoreInvalid and reports what it skipped', async () => {
    expectError(await t.get({ actionType: 'status', phoneList: '5039367187,12' }), 400, 'INVALID_PHONE');
    const response = await t.get({ actionType: 'status', phoneList: '5039367187,12', ignoreInvalid: 'true' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['idnc-skipped']).toBe('1');
    expect(JSON.parse(response.body)).toEqual([{ phone: '5039367187', onList: false, list: null }]);
  });

  it('remove honours ignoreInvalid', async () => {
    await t.get({ actionType: 'add', phoneList: '5039367187' });
    expectError(await t.get({ actionType: 'remove', phoneList: '5039367187,x' }), 400, 'INVALID_PHONE');
    expect(t.dnc.count()).toBe(1);
    const response = await t.get({ actionType: 'remove', phoneList: '5039367187,x', ignoreInvalid: 'TRUE' });
    expect(response.headers['idnc-changed']).toBe('1');
    expect(response.headers['idnc-skipped']).toBe('1');
  });

  it('invalid entries are reported cut to 32 characters, at most 100', async () => {
    const long = 'A'.repeat(500);
    const list = [long, ...Array.from({ length: 150 }, (_, i) => `bad${i}`)].join(',');
    const body = expectError(await t.postForm({ actionType: 'add', phoneList: list }), 400, 'INVALID_PHONE');
    const invalid = body.invalid as string[];
    expect(invalid).toHaveLength(100);
    expect(invalid[0]).toBe('A'.repeat(32));
    expect(invalid[1]).toBe('bad0');
    expect(body.error).toContain('151');
  });
});

describe('fields from query and body', () => {
  it('a client library form POST with projId always present (empty) and version=3 works on the master list', async () => {
    const response = await t.postForm({ version: '3', actionType: 'add', phoneList: '5039367187', projId: '', ignoreInvalid: '0' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['idnc-changed']).toBe('1');
    expect(t.dnc.count()).toBe(1);
    const count = await t.postForm({ version: '3', actionType: 'count', projId: '' });
    expect(count.body).toBe('1');
  });

  it('a JSON POST works the same', async () => {
    const response = await t.postJson({ actionType: 'add', phoneList: '5039367187', ignoreInvalid: true });
    expect(response.statusCode).toBe(200);
    expect(response.headers['idnc-changed']).toBe('1');
  });

  it('query and body are combined, and the body wins when both carry a field', async () => {
    const combined = await t.postForm({ phoneList: '5039367187' }, undefined, { actionType: 'add' });
    expect(combined.statusCode).toBe(200);
    expect(t.dnc.count()).toBe(1);
    const conflict = await t.postForm({ actionType: 'count', projId: 'body-project' }, undefined, { actionType: 'remove', projId: 'query-project' });
    expect(conflict.statusCode).toBe(200);
    expect(conflict.body).toBe('0');
    expect(t.dnc.count()).toBe(1);
    await t.get({ actionType: 'add', phoneList: '5039367188', projId: 'body-project' });
    const again = await t.postForm({ actionType: 'count', projId: 'body-project' }, undefined, { projId: 'query-project' });
    expect(again.body).toBe('1');
  });

  it('one rule for every method: fields in the query or in a POST body are answered alike; a GET with a body is refused, never half-read', async () => {
    const fields = { actionType: 'add', phoneList: '5039367187' };
    const form = new URLSearchParams(fields).toString();
    const withBody = (method: 'GET' | 'POST', type: string, payload: string, url = PDNC) =>
      t.app.inject({ method, url, headers: { loginId: t.admin, 'content-type': type }, payload });
    for (const [type, payload] of [['application/x-www-form-urlencoded', form], ['application/json', JSON.stringify(fields)], ['text/plain', form]] as const) {
      const body = expectError(await withBody('GET', type, payload), 400, 'BAD_REQUEST');
      expect(body.error).toMatch(/GET .*body/);
      // A conflicting query: neither part is acted on.
      expectError(await withBody('GET', type, payload, `${PDNC}?actionType=count`), 400, 'BAD_REQUEST');
    }
    expect(t.dnc.count()).toBe(0);
    const byQuery = await t.get(fields);
    const byBody = await withBody('POST', 'application/x-www-form-urlencoded', new URLSearchParams({ ...fields, phoneList: '5039367188' }).toString());
    expect([byQuery.statusCode, byQuery.headers['idnc-changed']]).toEqual([200, '1']);
    expect([byBody.statusCode, byBody.headers['idnc-changed']]).toEqual([200, '1']);
    // No body, or an empty one, is no body.
    const empty = await withBody('GET', 'application/x-www-form-urlencoded', '', `${PDNC}?actionType=count`);
    expect([empty.statusCode, empty.body]).toEqual([200, '2']);
  });

  it('actionType is case-insensitive', async () => {
    expect((await t.get({ actionType: 'ADD', phoneList: '5039367187' })).statusCode).toBe(200);
    expect((await t.get({ actionType: 'Count' })).body).toBe('1');
  });

  it('missing actionType is MISSING_INPUT, an unknown one INVALID_ACTION', async () => {
    expectError(await t.get({ phoneList: '5039367187' }), 400, 'MISSING_INPUT');
    expectError(await t.get({ actionType: '' }), 400, 'MISSING_INPUT');
    const body = expectError(await t.get({ actionType: 'delete' }), 400, 'INVALID_ACTION');
    expect(body.error).toContain('delete');
  });

  it('a missing or empty phoneList is MISSING_INPUT for add, remove and status', async () => {
    for (const actionType of ['add', 'remove', 'status']) {
      expectError(await t.get({ actionType }), 400, 'MISSING_INPUT');
      expectError(await t.get({ actionType, phoneList: '' }), 400, 'MISSING_INPUT');
      expectError(await t.get({ actionType, phoneList: ' , ,' }), 400, 'MISSING_INPUT');
    }
  });

  it('a field given twice is INVALID_PARAMETER, never a 5xx', async () => {
    const twice = await t.app.inject({ method: 'GET', url: `${PDNC}?actionType=add&phoneList=5039367187&phoneList=5039367188`, headers: { loginId: t.admin } });
    expectError(twice, 400, 'INVALID_PARAMETER');
    const twiceAction = await t.app.inject({ method: 'GET', url: `${PDNC}?actionType=add&actionType=count`, headers: { loginId: t.admin } });
    expectError(twiceAction, 400, 'INVALID_PARAMETER');
    const form = await t.app.inject({
      method: 'POST',
      url: PDNC,
      headers: { loginId: t.admin, 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'actionType=count&projId=a&projId=b',
    });
    expectError(form, 400, 'INVALID_PARAMETER');
    expect(t.dnc.count()).toBe(0);
  });

  it('a key repeated in a JSON body is INVALID_PARAMETER naming it, at any depth, however it is escaped; nothing changes', async () => {
    const json = (payload: string) => t.app.inject({ method: 'POST', url: PDNC, headers: { loginId: t.admin, 'content-type': 'application/json' }, payload });
    const cases: [string, string][] = [
      ['{"actionType":"count","actionType":"add","phoneList":"5039367187"}', 'actionType'],
      ['{"actionType":"add","phoneList":"5039367187","phoneList":"5039367188"}', 'phoneList'],
      ['{"action\\u0054ype":"count","actionType":"add","phoneList":"5039367187"}', 'actionType'],
      ['{ "actionType" : "add" , "phoneList":"5039367187", "version":{"a":1,"b":{"c":[{"d":1,"d":2}]}}}', 'd'],
      ['{"actionType":"add","phoneList":"5039367187","x\\"y":1,"x\\"y":2}', 'x"y'],
    ];
    for (const [payload, name] of cases) {
      const body = expectError(await json(payload), 400, 'INVALID_PARAMETER');
      expect(body.error).toContain(JSON.stringify(name));
      expect(body.error).toContain('more than once');
    }
    // Keys that differ only inside escapes, or are equal in different objects, are not repeats.
    expect((await json('{"actionType":"add","phoneList":"5039367187","v":{"k":1},"w":{"k":1},"a\\\\":1,"a\\\\\\\\":2}')).statusCode).toBe(200);
    expect(t.dnc.count()).toBe(1);
  });

  it('non-string JSON values and non-object bodies are INVALID_PARAMETER', async () => {
    expectError(await t.postJson({ actionType: 'add', phoneList: 5039367187 }), 400, 'INVALID_PARAMETER');
    expectError(await t.postJson({ actionType: 'add', phoneList: ['5039367187'] }), 400, 'INVALID_PARAMETER');
    expectError(await t.postJson({ actionType: ['add'], phoneList: '5039367187' }), 400, 'INVALID_PARAMETER');
    expectError(await t.postJson({ actionType: 'count', projId: { x: 1 } }), 400, 'INVALID_PARAMETER');
    expectError(await t.postJson({ actionType: 'add', phoneList: null }), 400, 'INVALID_PARAMETER');
    expectError(await t.postJson(['actionType', 'count']), 400, 'INVALID_PARAMETER');
    expectError(await t.postJson('count'), 400, 'INVALID_PARAMETER');
    expect(t.dnc.count()).toBe(0);
  });

  it('ignoreInvalid accepts 0/1/true/false in any case, nothing else', async () => {
    for (const value of ['0', 'false', 'FALSE', 'False']) {
      expectError(await t.get({ actionType: 'add', phoneList: '5039367187,x', ignoreInvalid: value }), 400, 'INVALID_PHONE');
    }
    for (const value of ['yes', '2', 'on', ' 1']) {
      const body = expectError(await t.get({ actionType: 'add', phoneList: '5039367187', ignoreInvalid: value }), 400, 'INVALID_PARAMETER');
      expect(body.error).toContain('ignoreInvalid');
    }
    expect(t.dnc.count()).toBe(0);
    expect((await t.get({ actionType: 'add', phoneList: '5039367187,x', ignoreInvalid: 'True' })).statusCode).toBe(200);
  });

  it('an invalid projId is INVALID_PARAMETER', async () => {
    const body = expectError(await t.get({ actionType: 'add', phoneList: '5039367187', projId: 'no spaces' }), 400, 'INVALID_PARAMETER');
    expect(body.error).toContain('projId');
    expectError(await t.get({ actionType: 'count', projId: 'x'.repeat(65) }), 400, 'INVALID_PARAMETER');
  });

  it('malformed JSON and unsupported media types are clean 4xx errors', async () => {
    const bad = await t.app.inject({ method: 'POST', url: PDNC, headers: { loginId: t.admin, 'content-type': 'application/json' }, payload: '{"actionType":' });
    expectError(bad, 400, 'BAD_REQUEST');
    const text = await t.app.inject({ method: 'POST', url: PDNC, headers: { loginId: t.admin, 'content-type': 'text/plain' }, payload: 'actionType=count' });
    expectError(text, 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  it('HEAD does not run an action', async () => {
    const response = await t.app.inject({ method: 'HEAD', url: `${PDNC}?actionType=add&phoneList=5039367187`, headers: { loginId: t.admin } });
    expect(response.statusCode).toBe(404);
    expect(t.dnc.count()).toBe(0);
  });
});
