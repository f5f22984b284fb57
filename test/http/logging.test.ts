// The server logs at info, but never a phone number (query string, body, paths, error messages)
// nor an API key (loginId header): the captured log stream is searched for both.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeTestApp, PDNC, type TestApp } from './helpers.js';

let t: TestApp;
beforeEach(async () => {
  t = await makeTestApp();
});
afterEach(async () => {
  await t.close();
});

const NUMBERS = ['5039367187', '2125551234', '4155550100'];

describe('request logging', () => {
  it('logs requests without numbers or keys', async () => {
    await t.get({ actionType: 'add', phoneList: NUMBERS.join(',') });
    await t.get({ actionType: 'status', phoneList: `${NUMBERS[0]},BAD${NUMBERS[1]}` });
    await t.postForm({ actionType: 'remove', phoneList: NUMBERS[2]!, projId: '' });
    await t.postJson({ actionType: 'add', phoneList: `x${NUMBERS[1]}` });
    await t.get({ actionType: 'count' }, `${t.admin}x`);
    await t.app.inject({ method: 'GET', url: `/lookup/${NUMBERS[0]}?phone=${NUMBERS[1]}`, headers: { loginId: t.admin } });
    t.dnc.count = () => {
      throw new Error(`failure while counting ${NUMBERS[2]} for ${t.admin}`);
    };
    expect((await t.get({ actionType: 'count' })).statusCode).toBe(500);

    const log = t.logLines.join('\n');
    expect(t.logLines.filter((line) => line.includes('"msg":"request completed"'))).toHaveLength(7);
    expect(log).toContain(`"path":"${PDNC}"`);
    expect(log).toContain('"statusCode":400');
    expect(log).toContain('"statusCode":500');
    for (const number of NUMBERS) expect(log).not.toContain(number);
    expect(log).not.toContain(t.admin);
    expect(log).not.toContain(t.admin.slice(18));
    expect(log).not.toMatch(/phoneList|loginid/i);
  });
});
