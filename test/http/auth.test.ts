// Keys, scopes, project-limited keys and organisations through the pdnc endpoint.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeKey, makeTestApp, type TestApp } from './helpers.js';

const reader = makeKey('default', ['read']);
const writer = makeKey('default', ['write']);
const readWrite = makeKey('default', ['read', 'write']);
const projectKey = makeKey('default', ['read', 'write'], ['p1', 'p2']);
const otherOrg = makeKey('acme', ['admin']);

let t: TestApp;
beforeEach(async () => {
  t = await makeTestApp({ extraKeys: [reader, writer, readWrite, projectKey, otherOrg] });
});
afterEach(async () => {
  await t.close();
});

function codeOf(response: { body: string }): string {
  return (JSON.parse(response.body) as { code: string }).code;
}

describe('API keys', () => {
  it('no loginId header is MISSING_API_KEY 401', async () => {
    const response = await t.get({ actionType: 'count' }, null);
    expect(response.statusCode).toBe(401);
    expect(codeOf(response)).toBe('MISSING_API_KEY');
  });

  it('an empty loginId is MISSING_API_KEY', async () => {
    const response = await t.get({ actionType: 'count' }, '');
    expect(codeOf(response)).toBe('MISSING_API_KEY');
  });

  it('unknown, malformed, wrong-secret and revoked keys all get the same INVALID_API_KEY', async () => {
    const valid = reader.key;
    const wrongSecret = `${valid.slice(0, -1)}${valid.endsWith('A') ? 'B' : 'A'}`;
    const unknown = makeKey('default', ['admin']).key;
    const bodies = new Set<string>();
    for (const key of [unknown, 'not-a-key', wrongSecret, `${valid}x`, valid.toUpperCase(), 'idnc_']) {
      const response = await t.get({ actionType: 'count' }, key);
      expect(response.statusCode).toBe(401);
      bodies.add(response.body);
    }
    t.keys.replace([{ ...reader.record, revokedAt: new Date().toISOString() }]);
    const revoked = await t.get({ actionType: 'count' }, valid);
    expect(revoked.statusCode).toBe(401);
    bodies.add(revoked.body);
    expect(bodies.size).toBe(1);
    expect(codeOf(revoked)).toBe('INVALID_API_KEY');
  });

  it('the key is checked before the parameters', async () => {
    const response = await t.get({ actionType: 'nonsense' }, 'wrong');
    expect(codeOf(response)).toBe('INVALID_API_KEY');
  });

  it('revocation takes effect on the next request', async () => {
    expect((await t.get({ actionType: 'count' }, readWrite.key)).statusCode).toBe(200);
    t.keys.replace([reader.record, { ...readWrite.record, revokedAt: new Date().toISOString() }]);
    expect((await t.get({ actionType: 'count' }, readWrite.key)).statusCode).toBe(401);
    expect((await t.get({ actionType: 'count' }, reader.key)).statusCode).toBe(200);
  });
});

describe('scopes', () => {
  it('read allows status and count, forbids add and remove', async () => {
    expect((await t.get({ actionType: 'count' }, reader.key)).statusCode).toBe(200);
    expect((await t.get({ actionType: 'status', phoneList: '5039367187' }, reader.key)).statusCode).toBe(200);
    for (const actionType of ['add', 'remove']) {
      const response = await t.get({ actionType, phoneList: '5039367187' }, reader.key);
      expect(response.statusCode).toBe(403);
      expect(codeOf(response)).toBe('FORBIDDEN');
    }
    expect(t.dnc.count()).toBe(0);
  });

  it('write allows add and remove, forbids status and count', async () => {
    expect((await t.get({ actionType: 'add', phoneList: '5039367187' }, writer.key)).statusCode).toBe(200);
    expect((await t.get({ actionType: 'remove', phoneList: '5039367187' }, writer.key)).statusCode).toBe(200);
    expect(codeOf(await t.get({ actionType: 'count' }, writer.key))).toBe('FORBIDDEN');
    expect(codeOf(await t.get({ actionType: 'status', phoneList: '5039367187' }, writer.key))).toBe('FORBIDDEN');
  });

  it('admin allows everything', async () => {
    for (const actionType of ['add', 'status', 'remove']) {
      expect((await t.get({ actionType, phoneList: '5039367187' })).statusCode).toBe(200);
    }
    expect((await t.get({ actionType: 'count' })).statusCode).toBe(200);
  });

  it('the add and remove log carry the key id', async () => {
    const calls: unknown[] = [];
    const original = t.dnc.add.bind(t.dnc);
    t.dnc.add = async (phones, options) => {
      calls.push(options?.keyId);
      return original(phones, options);
    };
    await t.get({ actionType: 'add', phoneList: '5039367187' }, writer.key);
    expect(calls).toEqual([writer.record.id]);
  });
});

describe('project-limited keys', () => {
  it('may act on their own projects', async () => {
    const add = await t.get({ actionType: 'add', phoneList: '5039367187', projId: 'p1' }, projectKey.key);
    expect(add.statusCode).toBe(200);
    expect((await t.get({ actionType: 'count', projId: 'p1' }, projectKey.key)).body).toBe('1');
    expect((await t.get({ actionType: 'count', projId: 'p2' }, projectKey.key)).body).toBe('0');
  });

  it('may not touch the master list (absent or empty projId) or other projects', async () => {
    for (const query of [{}, { projId: '' }, { projId: 'p3' }, { projId: 'P1' }] as Record<string, string>[]) {
      for (const actionType of ['add', 'remove', 'status', 'count']) {
        const response = await t.get({ actionType, phoneList: '5039367187', ...query }, projectKey.key);
        expect(response.statusCode).toBe(403);
        expect(codeOf(response)).toBe('FORBIDDEN');
      }
    }
    expect(t.dnc.count()).toBe(0);
    expect(t.dnc.count({ projId: 'p3' })).toBe(0);
  });

  it('see the master list in their status checks', async () => {
    await t.get({ actionType: 'add', phoneList: '5039367187' });
    const response = await t.get({ actionType: 'status', phoneList: '5039367187', projId: 'p2' }, projectKey.key);
    expect(JSON.parse(response.body)).toEqual([{ phone: '5039367187', onList: true, list: 'master' }]);
  });
});

describe('organisations', () => {
  it('two organisations cannot see each other', async () => {
    await t.get({ actionType: 'add', phoneList: '5039367187,5039367188' });
    await t.get({ actionType: 'add', phoneList: '2125551234', projId: 'p1' });
    expect((await t.get({ actionType: 'count' }, otherOrg.key)).body).toBe('0');
    expect((await t.get({ actionType: 'count', projId: 'p1' }, otherOrg.key)).body).toBe('0');
    const status = await t.get({ actionType: 'status', phoneList: '5039367187,2125551234', projId: 'p1' }, otherOrg.key);
    expect(JSON.parse(status.body)).toEqual([
      { phone: '5039367187', onList: false, list: null },
      { phone: '2125551234', onList: false, list: null },
    ]);
    await t.get({ actionType: 'add', phoneList: '4155550100' }, otherOrg.key);
    expect(t.dnc.count({ org: 'acme' })).toBe(1);
    expect(t.dnc.isBlocked('4155550100')).toBe(false);
    await t.get({ actionType: 'remove', phoneList: '5039367187' }, otherOrg.key);
    expect(t.dnc.isBlocked('5039367187')).toBe(true);
  });
});
