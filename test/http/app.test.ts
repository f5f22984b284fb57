// Routes and status codes: healthz, 404, 500s that say nothing, the API over a real socket and a
// malformed request there. The size limits (414, 431, 413) live in request-limits.test.ts.

import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeTestApp, PDNC, type TestApp } from './helpers.js';

let t: TestApp;
beforeEach(async () => {
  t = await makeTestApp();
});
afterEach(async () => {
  await t.close();
});

function bodyOf(response: { body: string }): { code: string; error: string } {
  return JSON.parse(response.body) as { code: string; error: string };
}

/** Sends raw bytes on a fresh connection and resolves to the status line and body. */
function rawRequest(port: number, head: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(head));
    let data = '';
    socket.on('data', (chunk) => (data += chunk.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      const match = /^HTTP\/1\.1 (\d{3})/.exec(data);
      if (match === null) reject(new Error(`no HTTP response: ${JSON.stringify(data.slice(0, 80))}`));
      else resolve({ status: Number(match[1]), body: data.slice(data.indexOf('\r\n\r\n') + 4) });
    });
  });
}

describe('routes', () => {
  it('GET /healthz needs no key', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/healthz' });
    expect(response.statusCode).toBe(200);
    expect(JSON.parse(response.body)).toEqual({ status: 'ok' });
  });

  it('unknown routes are a 404 JSON error with a code', async () => {
    for (const [method, url] of [['GET', '/nope'], ['PUT', PDNC], ['GET', '/app/main/rpc/pdnc/extra']] as const) {
      const response = await t.app.inject({ method, url, headers: { loginId: t.admin } });
      expect(response.statusCode).toBe(404);
      expect(bodyOf(response).code).toBe('NOT_FOUND');
    }
  });

  it('an unexpected error is a 500 that reveals nothing', async () => {
    t.dnc.count = () => {
      throw new TypeError('cannot read secret /srv/idnc/internal.ts for 5039367187');
    };
    const response = await t.get({ actionType: 'count' });
    expect(response.statusCode).toBe(500);
    expect(JSON.parse(response.body)).toEqual({ error: 'internal error', code: 'INTERNAL' });
    const logged = t.logLines.join('\n');
    expect(logged).toContain('TypeError');
    expect(logged).not.toContain('5039367187');
  });
});

describe('over a real socket', () => {
  let port: number;
  beforeEach(async () => {
    await t.app.listen({ host: '127.0.0.1', port: 0 });
    port = (t.app.server.address() as AddressInfo).port;
  });

  it('serves the API', async () => {
    const body = await new Promise<string>((resolve, reject) => {
      const request = http.request(
        { host: '127.0.0.1', port, method: 'POST', path: PDNC, headers: { loginId: t.admin, 'content-type': 'application/x-www-form-urlencoded' } },
        (response) => {
          let data = '';
          response.on('data', (chunk: Buffer) => (data += chunk.toString()));
          response.on('end', () => resolve(`${response.statusCode} ${response.headers['idnc-changed']} ${data}`));
        },
      );
      request.on('error', reject);
      request.end('actionType=add&phoneList=5039367187%2C5039367188&projId=');
    });
    expect(body).toBe('200 2 ');
    const count = await fetch(`http://127.0.0.1:${port}${PDNC}?actionType=count`, { headers: { loginId: t.admin } });
    expect(await count.text()).toBe('2');
  });

  it('a malformed request is a 400 JSON error', async () => {
    const response = await rawRequest(port, 'NOT HTTP AT ALL\r\n\r\n');
    expect(response.status).toBe(400);
    expect(JSON.parse(response.body).code).toBe('BAD_REQUEST');
  });
});
