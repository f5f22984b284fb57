// POST /v1/scrub (streamed scrub) and POST /v1/import (the bulk endpoint of idnc import --url).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { makeKey, makeTestApp, type TestApp } from './helpers.js';

let apps: TestApp[] = [];
afterEach(async () => {
  for (const app of apps) await app.close();
  apps = [];
});

async function testApp(options: Parameters<typeof makeTestApp>[0] = {}): Promise<TestApp> {
  const app = await makeTestApp(options);
  apps.push(app);
  return app;
}

function scrub(t: TestApp, body: string, query = '', headers: Record<string, string> = {}, key: string | null = t.admin) {
  return t.app.inject({
    method: 'POST',
    url: `/v1/scrub${query}`,
    headers: { 'content-type': 'text/plain', ...(key === null ? {} : { loginId: key }), ...headers },
    payload: body,
  });
}

function ndjson(payload: string): Record<string, unknown>[] {
  return payload.split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('POST /v1/scrub', () => {
  it('answers the blocked numbers in input order as text, with invalid lines and a summary', async () => {
    const t = await testApp();
    await t.dnc.add('5039367187,2125551234');
    const response = await scrub(t, '(503) 936-7187\n3105550000\nnope\n2125551234,5039367187\n\n');
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(response.payload.split('\n')).toEqual([
      '5039367187',
      '# invalid line 3: "nope": contains characters other than digits and ( ) - . + spaces',
      '2125551234',
      '5039367187',
      '# checked 4, blocked 3, invalid 1, complete yes',
      '',
    ]);
  });

  it('answers every number with its list as NDJSON with all=1, project list first', async () => {
    const t = await testApp();
    await t.dnc.add('5039367187,2125551234');
    await t.dnc.add('2125551234', { projId: 'p1' });
    const response = await scrub(t, '5039367187\n2125551234\n3105550000\n12\n', '?all=1&projId=p1', { accept: 'application/x-ndjson' });
    expect(response.headers['content-type']).toBe('application/x-ndjson; charset=utf-8');
    expect(ndjson(response.payload)).toEqual([
      { phone: '5039367187', onList: true, list: 'master' },
      { phone: '2125551234', onList: true, list: 'project' },
      { phone: '3105550000', onList: false, list: null },
      { line: 4, entry: '12', error: 'expected 10 digits, got 2', code: 'INVALID_PHONE' },
      { summary: { checked: 3, blocked: 2, invalid: 1, complete: true } },
    ]);
  });

  it('reads a CSV column by name, whatever the content type says about the body', async () => {
    const t = await testApp();
    await t.dnc.add('5039367187');
    const csv = 'name,phone\n"Doe, J","503-936-7187"\nBob,212-555-1234\n';
    const byType = await scrub(t, csv, '?column=phone&all=1', { 'content-type': 'text/csv' });
    expect(byType.payload).toBe('5039367187,blocked,master\n2125551234,clear,\n# checked 2, blocked 1, invalid 0, complete yes\n');
    const curlDefault = await scrub(t, '5039367187,2125551234', '', { 'content-type': 'application/x-www-form-urlencoded' });
    expect(curlDefault.payload).toBe('5039367187\n# checked 2, blocked 1, invalid 0, complete yes\n');
  });

  it('says in the stream when the entry limit is reached, after answering the entries up to it', async () => {
    const t = await testApp({ app: { scrubNumbersMax: 3 } });
    await t.dnc.add('5039367187');
    const response = await scrub(t, '5039367187\nbad\n5039367187\n5039367187\n5039367187\n', '', { accept: 'application/x-ndjson' });
    const lines = ndjson(response.payload);
    expect(lines.slice(0, 3)).toEqual([
      { phone: '5039367187', onList: true, list: 'master' },
      { line: 2, entry: 'bad', error: 'contains characters other than digits and ( ) - . + spaces', code: 'INVALID_PHONE' },
      { phone: '5039367187', onList: true, list: 'master' },
    ]);
    expect(lines[3]).toMatchObject({ code: 'TOO_MANY_NUMBERS' });
    expect(lines[4]).toEqual({ summary: { checked: 2, blocked: 2, invalid: 1, complete: false } });
    expect(lines).toHaveLength(5);
  });

  it('authenticates and authorises like the pdnc route, before reading anything', async () => {
    const writeOnly = makeKey('default', ['write']);
    const projectKey = makeKey('default', ['read'], ['p1']);
    const otherOrg = makeKey('other', ['read']);
    const t = await testApp({ extraKeys: [writeOnly, projectKey, otherOrg] });
    await t.dnc.add('5039367187');
    expect((await scrub(t, '5039367187', '', {}, null)).json()).toMatchObject({ code: 'MISSING_API_KEY' });
    expect((await scrub(t, '5039367187', '', {}, writeOnly.key)).json()).toMatchObject({ code: 'FORBIDDEN' });
    expect((await scrub(t, '5039367187', '', {}, projectKey.key)).json()).toMatchObject({ code: 'FORBIDDEN' });
    expect((await scrub(t, '5039367187', '?projId=p1', {}, projectKey.key)).payload).toBe('5039367187\n# checked 1, blocked 1, invalid 0, complete yes\n');
    expect((await scrub(t, '5039367187', '', {}, otherOrg.key)).payload).toBe('# checked 1, blocked 0, invalid 0, complete yes\n');
    const bad = await scrub(t, '5039367187', '?format=xml');
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ code: 'INVALID_PARAMETER' });
  });

  it('agrees with status on random inputs', async () => {
    const t = await testApp();
    let seed = 99;
    const random = (): number => (seed = (seed * 48271) % 2147483647);
    const phone = (): string => String(2_002_000_000 + (random() % 3) * 1_000_000_000 + (random() % 4000));
    const master = Array.from({ length: 3000 }, phone);
    const project = Array.from({ length: 1000 }, phone);
    await t.dnc.add(master);
    await t.dnc.add(project, { projId: 'p' });
    const input = Array.from({ length: 20_000 }, phone);
    const response = await scrub(t, input.join('\n'), '?all=1&projId=p', { accept: 'application/x-ndjson' });
    const lines = ndjson(response.payload);
    expect(lines.pop()).toEqual({ summary: expect.objectContaining({ checked: 20_000, invalid: 0, complete: true }) });
    expect(lines).toEqual(t.dnc.status(input, { projId: 'p' }));
  });
});

describe('POST /v1/scrub over a socket', () => {
  it('streams a body of tens of MB: the answer starts before the request has been sent', async () => {
    const t = await testApp({ app: { scrubNumbersMax: 20_000_000 } });
    await t.dnc.add('2002000000,2002002000');
    await t.app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = t.app.server.address() as AddressInfo;
    const totalLines = 3_000_000;
    const result = await new Promise<{ firstByteAtLine: number; body: string }>((resolve, reject) => {
      let written = 0;
      let firstByteAtLine = -1;
      let body = '';
      const request = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/v1/scrub', headers: { loginId: t.admin, 'content-type': 'text/plain' } }, (response) => {
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          if (firstByteAtLine === -1) firstByteAtLine = written;
          body += chunk;
        });
        response.on('end', () => resolve({ firstByteAtLine, body }));
      });
      request.on('error', reject);
      const writeMore = (): void => {
        while (written < totalLines) {
          let chunk = '';
          for (let i = 0; i < 10_000; i++) chunk += `${2_002_000_000 + ((written + i) % 10_000)}\n`;
          written += 10_000;
          if (!request.write(chunk)) {
            request.once('drain', writeMore);
            return;
          }
        }
        request.end();
      };
      writeMore();
    });
    expect(result.firstByteAtLine).toBeGreaterThan(-1);
    expect(result.firstByteAtLine).toBeLessThan(totalLines);
    const lines = result.body.split('\n');
    expect(lines.at(-2)).toBe(`# checked ${totalLines}, blocked 600, invalid 0, complete yes`);
    expect(lines.length).toBe(600 + 2);
  }, 60_000);
});

describe('POST /v1/import', () => {
  function post(t: TestApp, body: string, query = '', key = t.admin) {
    return t.app.inject({ method: 'POST', url: `/v1/import${query}`, headers: { loginId: key, 'content-type': 'text/plain' }, payload: body });
  }

  it('adds and removes as one change, atomically by default', async () => {
    const t = await testApp();
    const added = await post(t, '503-936-7187\n2125551234\n2125551234\n', '?projId=p1');
    expect(added.statusCode).toBe(200);
    expect(added.json()).toEqual({ received: 3, numbers: 2, changed: 2, skipped: 0, seq: 0 });
    expect(t.dnc.count({ projId: 'p1' })).toBe(2);
    const refused = await post(t, '3105550000\nbad\n', '?projId=p1');
    expect(refused.statusCode).toBe(400);
    expect(refused.json()).toMatchObject({ code: 'INVALID_PHONE', invalid: ['bad'] });
    expect(t.dnc.count({ projId: 'p1' })).toBe(2);
    const skipped = await post(t, '3105550000\nbad\n', '?projId=p1&ignoreInvalid=1');
    expect(skipped.json()).toMatchObject({ changed: 1, skipped: 1 });
    const removed = await post(t, '5039367187\n9999999999\n', '?projId=p1&remove=1');
    expect(removed.json()).toMatchObject({ numbers: 2, changed: 1 });
    expect(t.dnc.count({ projId: 'p1' })).toBe(2);
  });

  it('needs the write scope', async () => {
    const reader = makeKey('default', ['read']);
    const t = await testApp({ extraKeys: [reader] });
    expect((await post(t, '5039367187', '', reader.key)).json()).toMatchObject({ code: 'FORBIDDEN' });
    expect(t.dnc.count()).toBe(0);
  });
});
