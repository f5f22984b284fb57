// The server logs at info, but never a phone number (query string, body, paths, error messages,
// request ids) nor an API key (loginId header, paths): the captured log stream, percent-decoded, is
// searched for both, the numbers also with separators between their digits, with the access log on
// (every request logged) and with the default (only errors and slow requests logged).

import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { openDnc } from '../../src/open.js';
import { buildApp } from '../../src/http/app.js';
import { KeyStore } from '../../src/keys/key-store.js';
import { makeKey, makeTestApp, PDNC, type TestApp } from './helpers.js';

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const NUMBERS = ['5039367187', '2125551234', '4155550100'];

/** Paths a number or a key may reach the log by: formatted, percent-encoded (twice), the secret alone. */
function secretPaths(key: string): string[] {
  const encodedDigits = [...NUMBERS[0]!].map((digit) => `%3${digit}`).join('');
  return [
    '/503-936-7187',
    '/(503)%20936%207187',
    '/lookup/503.936.7187',
    '/+1%20503%20936%207187',
    `/${encodedDigits}`,
    `/${encodedDigits.replace(/%/g, '%25')}`,
    `/${key.replace(/_/g, '%5F')}`,
    `/${key.replace(/_/g, '%5f').replace(/i/, '%69')}`,
    `/${key.slice(18)}`,
  ];
}

/**
 * Seven requests: three successful (add, status, remove), four refused or failed (400, 401, 404,
 * 500); between the 404 and the 500, one 404 per secretPaths entry and a 401 whose request id is a
 * formatted number.
 */
async function sendMix(app: TestApp): Promise<void> {
  expect((await app.get({ actionType: 'add', phoneList: NUMBERS.join(',') })).statusCode).toBe(200);
  expect((await app.get({ actionType: 'status', phoneList: `${NUMBERS[0]},${NUMBERS[1]}` })).statusCode).toBe(200);
  expect((await app.postForm({ actionType: 'remove', phoneList: NUMBERS[2]!, projId: '' })).statusCode).toBe(200);
  expect((await app.postJson({ actionType: 'add', phoneList: `x${NUMBERS[1]}` })).statusCode).toBe(400);
  expect((await app.get({ actionType: 'count' }, `${app.admin}x`)).statusCode).toBe(401);
  const lookup = await app.app.inject({ method: 'GET', url: `/lookup/${NUMBERS[0]}?phone=${NUMBERS[1]}`, headers: { loginId: app.admin } });
  expect(lookup.statusCode).toBe(404);
  for (const url of secretPaths(app.admin)) expect((await app.app.inject({ method: 'GET', url, headers: { loginId: app.admin } })).statusCode).toBe(404);
  const formattedId = await app.app.inject({ method: 'GET', url: `${PDNC}?actionType=count`, headers: { 'x-request-id': '503-936-7187' } });
  expect(formattedId.statusCode).toBe(401);
  expect(formattedId.headers['x-request-id']).not.toBe('503-936-7187');
  app.dnc.count = () => {
    throw new Error(`failure while counting ${NUMBERS[2]} for ${app.admin}`);
  };
  expect((await app.get({ actionType: 'count' })).statusCode).toBe(500);
}

/** The text with its percent-escapes decoded, as often as they nest. */
function percentDecoded(text: string): string {
  for (let previous = ''; previous !== text; ) {
    previous = text;
    text = text.replace(/%([0-9A-Fa-f]{2})/g, (_escape, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  }
  return text;
}

function expectNothingSecret(app: TestApp): void {
  const log = percentDecoded(app.logLines.join('\n'));
  // A number with up to three non-alphanumeric characters between its digits: (503) 936-7187.
  for (const number of NUMBERS) expect(log).not.toMatch(new RegExp([...number].join('[^0-9A-Za-z]{0,3}')));
  expect(log.toLowerCase()).not.toContain(app.admin.slice(18).toLowerCase());
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
    expect(completedStatuses(t)).toEqual([200, 200, 200, 400, 401, 404, ...secretPaths(t.admin).map(() => 404), 401, 500]);
    const log = t.logLines.join('\n');
    expect(log).toContain(`"path":"${PDNC}"`);
    expect(log).toContain('"method":"POST"');
    expectNothingSecret(t);
  });

  it('by default logs errors (4xx, 5xx) but not successful requests, without numbers or keys', async () => {
    t = await makeTestApp();
    await sendMix(t);
    expect(completedStatuses(t)).toEqual([400, 401, 404, ...secretPaths(t.admin).map(() => 404), 401, 500]);
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
