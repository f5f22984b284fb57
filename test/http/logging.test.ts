// The server logs at info, but never a phone number (query string, body, paths, error messages)
// nor an API key (loginId header): the captured log stream is searched for both, with the access
// log on (every request logged) and with the default (only errors and slow requests logged).

import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { openDnc } from '../../src/engine.js';
import { buildApp } from '../../src/http/app.js';
import { KeyStore } from '../../src/keys/key-store.js';
import { makeKey, makeTestApp, PDNC, type TestApp } from './helpers.js';

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const NUMBERS = ['5039367187', '2125551234', '4155550100'];

/** Seven requests: three successful (add, status, remove), four refused or failed (400, 401, 404, 500). */
async function sendMix(app: TestApp): Promise<void> {
  expect((await app.get({ actionType: 'add', phoneList: NUMBERS.join(',') })).statusCode).toBe(200);
  expect((await app.get({ actionType: 'status', phoneList: `${NUMBERS[0]},${NUMBERS[1]}` })).statusCode).toBe(200);
  expect((await app.postForm({ actionType: 'remove', phoneList: NUMBERS[2]!, projId: '' })).statusCode).toBe(200);
  expect((await app.postJson({ actionType: 'add', phoneList: `x${NUMBERS[1]}` })).statusCode).toBe(400);
  expect((await app.get({ actionType: 'count' }, `${app.admin}x`)).statusCode).toBe(401);
  const lookup = await app.app.inject({ method: 'GET', url: `/lookup/${NUMBERS[0]}?phone=${NUMBERS[1]}`, headers: { loginId: app.admin } });
  expect(lookup.statusCode).toBe(404);
  app.dnc.count = () => {
    throw new Error(`failure while counting ${NUMBERS[2]} for ${app.admin}`);
  };
  expect((await app.get({ actionType: 'count' })).statusCode).toBe(500);
}

function expectNothingSecret(app: TestApp): void {
  const log = app.logLines.join('\n');
  for (const number of NUMBERS) expect(log).not.toContain(number);
  expect(log).not.toContain(app.admin);
  expect(log).not.toContain(app.admin.slice(18));
  expect(log).not.toMatch(/phoneList|loginid/i);
}

function completedStatuses(app: TestApp): number[] {
  return app.logLines
    .map((line) => JSON.parse(line) as { msg: string; res?: { statusCode: number } })
    .filter((line) => line.msg === 'request completed')
    .map((line) => line.res!.statusCode);
}

describe('request logging', () => {
  it('with the access log on, logs every request without numbers or keys', async () => {
    t = await makeTestApp({ app: { accessLog: true } });
    await sendMix(t);
    expect(completedStatuses(t)).toEqual([200, 200, 200, 400, 401, 404, 500]);
    const log = t.logLines.join('\n');
    expect(log).toContain(`"path":"${PDNC}"`);
    expect(log).toContain('"method":"POST"');
    expectNothingSecret(t);
  });

  it('by default logs errors (4xx, 5xx) but not successful requests, without numbers or keys', async () => {
    t = await makeTestApp();
    await sendMix(t);
    expect(completedStatuses(t)).toEqual([400, 401, 404, 500]);
    expect(t.logLines.join('\n')).toContain('request failed with an unexpected error');
    expectNothingSecret(t);
  });

  it('by default logs a slow successful request', async () => {
    t = await makeTestApp({ app: { slowRequestMs: 0 } });
    expect((await t.get({ actionType: 'status', phoneList: NUMBERS[0]! })).statusCode).toBe(200);
    expect(completedStatuses(t)).toEqual([200]);
    expectNothingSecret(t);
  });

  it('a logger at debug gets successful requests at debug, each line with its reqId', async () => {
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk: Buffer, _encoding, done) => void (lines.push(chunk.toString()), done()) });
    const admin = makeKey('default', ['admin']);
    const dnc = await openDnc();
    const app = buildApp({ dnc, keys: new KeyStore([admin.record]), logger: pino({ level: 'debug' }, sink) });
    try {
      const response = await app.inject({ method: 'GET', url: `${PDNC}?actionType=status&phoneList=${NUMBERS[0]}`, headers: { loginId: admin.key } });
      expect(response.statusCode).toBe(200);
      const completed = lines.map((line) => JSON.parse(line) as { msg: string; level: number; reqId?: string }).filter((line) => line.msg === 'request completed');
      expect(completed).toEqual([expect.objectContaining({ level: 20, reqId: response.headers['x-request-id'] })]);
      expect(lines.join('')).not.toContain(NUMBERS[0]);
      expect(lines.join('')).not.toContain(admin.key.slice(18));
    } finally {
      await app.close();
      await dnc.close();
    }
  });
});
