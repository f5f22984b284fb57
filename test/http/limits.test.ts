// Limits and status codes: healthz, 404, 414/431 (from our checks and from Node's parser, over a
// real socket), TOO_MANY_NUMBERS before anything is touched, body size, and 500s that say nothing.

import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { REQUEST_NUMBERS_MAX } from '../../src/constants.js';
import { overflowPart } from '../../src/http/request-limits.js';
import { makeTestApp, PDNC, type TestApp } from './helpers.js';

let t: TestApp;
beforeEach(async () => {
  t = await makeTestApp();
});
afterEach(async () => {
  await t.close();
});

function numbers(count: number, first = 2_002_000_000): string {
  return Array.from({ length: count }, (_, i) => String(first + i * 7)).join(',');
}

/** A header value that looks like a URL's query: numbers and commas, no space. */
const NUMBERS_IN_A_HEADER = numbers(20_000);

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

describe('request size', () => {
  it('a GET URL up to 64 KiB works; beyond it is 414', async () => {
    const fits = numbers(5800);
    const url = `${PDNC}?actionType=status&phoneList=${fits}`;
    expect(url.length).toBeLessThan(64 * 1024);
    const ok = await t.app.inject({ method: 'GET', url, headers: { loginId: t.admin } });
    expect(ok.statusCode).toBe(200);
    expect((JSON.parse(ok.body) as unknown[]).length).toBe(5800);
    const tooLong = await t.app.inject({ method: 'GET', url: `${PDNC}?actionType=add&phoneList=${numbers(6000)}`, headers: { loginId: t.admin } });
    expect(tooLong.statusCode).toBe(414);
    expect(bodyOf(tooLong).code).toBe('URL_TOO_LONG');
    expect(t.dnc.count()).toBe(0);
  });

  it('headers beyond 16 KiB are 431', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/healthz', headers: { 'x-big': 'b'.repeat(17 * 1024) } });
    expect(response.statusCode).toBe(431);
    expect(bodyOf(response).code).toBe('HEADERS_TOO_LARGE');
  });

  it('more numbers than allowed is TOO_MANY_NUMBERS 413 and nothing is touched', async () => {
    const small = await makeTestApp({ limits: { requestNumbersMax: 5 } });
    try {
      expect((await small.postForm({ actionType: 'add', phoneList: `${numbers(5)},, ,` })).statusCode).toBe(200);
      const over = await small.postForm({ actionType: 'add', phoneList: numbers(6, 3_002_000_000) });
      expect(over.statusCode).toBe(413);
      expect(bodyOf(over).code).toBe('TOO_MANY_NUMBERS');
      expect(small.dnc.count()).toBe(5);
      const overInvalid = await small.postForm({ actionType: 'add', phoneList: `${numbers(5, 3_002_000_000)},x`, ignoreInvalid: '1' });
      expect(bodyOf(overInvalid).code).toBe('TOO_MANY_NUMBERS');
      expect(small.dnc.count()).toBe(5);
    } finally {
      await small.close();
    }
  });

  it('the default POST limit is 100,000 numbers', async () => {
    const max = await t.postForm({ actionType: 'add', phoneList: numbers(REQUEST_NUMBERS_MAX) });
    expect(max.statusCode).toBe(200);
    expect(max.headers['idnc-changed']).toBe(String(REQUEST_NUMBERS_MAX));
    const over = await t.postForm({ actionType: 'remove', phoneList: numbers(REQUEST_NUMBERS_MAX + 1) });
    expect(over.statusCode).toBe(413);
    expect(bodyOf(over).code).toBe('TOO_MANY_NUMBERS');
    expect(t.dnc.count()).toBe(REQUEST_NUMBERS_MAX);
  });

  it('a body over the byte limit is a 413 JSON error', async () => {
    const small = await makeTestApp({ limits: { bodyBytesMax: 1000 } });
    try {
      const response = await small.postForm({ actionType: 'add', phoneList: numbers(200) });
      expect(response.statusCode).toBe(413);
      expect(bodyOf(response).code).toBe('BODY_TOO_LARGE');
      expect(small.dnc.count()).toBe(0);
    } finally {
      await small.close();
    }
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

  it('a URL a little over 64 KiB is 414', async () => {
    const response = await rawRequest(port, `GET /healthz?x=${'a'.repeat(70 * 1024)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    expect(response.status).toBe(414);
    expect(JSON.parse(response.body).code).toBe('URL_TOO_LONG');
  });

  it('a URL far beyond Node’s header limit is refused naming the URL limit, never a 5xx', async () => {
    // Node's parser overflows in a chunk holding only the middle of the URL, which looks like a
    // header value there: the answer is 431 and names both limits.
    const response = await rawRequest(port, `GET ${PDNC}?actionType=add&phoneList=${numbers(40_000)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    expect([414, 431]).toContain(response.status);
    expect(JSON.parse(response.body).error).toContain(String(64 * 1024));
    expect(JSON.parse(response.body).error).toMatch(/URL/);
    expect(t.dnc.count()).toBe(0);
  });

  it('headers over 16 KiB are 431, also far beyond Node’s limit', async () => {
    for (const size of [20 * 1024, 400 * 1024]) {
      const response = await rawRequest(port, `GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nCookie: ${'a=b; '.repeat(size / 5)}\r\n\r\n`);
      expect(response.status).toBe(431);
      expect(JSON.parse(response.body).code).toBe('HEADERS_TOO_LARGE');
    }
  });

  it('one header value of 200 KB is 431, never 414', async () => {
    for (const value of ['x'.repeat(200 * 1000), `${NUMBERS_IN_A_HEADER}`]) {
      const response = await rawRequest(port, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${value}\r\nConnection: close\r\n\r\n`);
      expect(response.status).toBe(431);
      expect(JSON.parse(response.body).code).toBe('HEADERS_TOO_LARGE');
    }
  });

  it('2,000 small headers (about 23 KB) are 431: every header is counted', async () => {
    const many = Array.from({ length: 2000 }, (_, i) => `X-H${i}: v\r\n`).join('');
    expect(many.length).toBeGreaterThan(16 * 1024);
    const response = await rawRequest(port, `GET /healthz HTTP/1.1\r\nHost: x\r\n${many}Connection: close\r\n\r\n`);
    expect(response.status).toBe(431);
    expect(JSON.parse(response.body).code).toBe('HEADERS_TOO_LARGE');
    const fits = Array.from({ length: 1500 }, (_, i) => `X${i}:\r\n`).join('');
    expect(fits.length).toBeLessThan(16 * 1024);
    expect((await rawRequest(port, `GET /healthz HTTP/1.1\r\nHost: x\r\n${fits}Connection: close\r\n\r\n`)).status).toBe(200);
  });

  it('a malformed request is a 400 JSON error', async () => {
    const response = await rawRequest(port, 'NOT HTTP AT ALL\r\n\r\n');
    expect(response.status).toBe(400);
    expect(JSON.parse(response.body).code).toBe('BAD_REQUEST');
  });
});

describe('overflowPart (which part of an oversized head overflowed)', () => {
  const max = 64 * 1024;
  it('sees the end of the URL at the error position', () => {
    const packet = Buffer.from('aaaa HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(overflowPart(packet, 4, max)).toBe('url');
  });
  it('sees a request line still going in this chunk', () => {
    expect(overflowPart(Buffer.from(`GET /${'a'.repeat(100)}`), 105, max)).toBe('url');
  });
  it('sees a header after a short request line', () => {
    const packet = Buffer.from(`GET / HTTP/1.1\r\nX-Big: ${'b'.repeat(100)}`);
    expect(overflowPart(packet, packet.length, max)).toBe('headers');
  });
  it('a middle chunk with a space is a header value; without one it cannot tell, and never says url', () => {
    expect(overflowPart(Buffer.from('5039367187,5039367188'), 21, max)).toBe('unknown');
    expect(overflowPart(Buffer.from('x'.repeat(100)), 100, max)).toBe('unknown');
    expect(overflowPart(Buffer.from('a=b; c=d; e=f'), 13, max)).toBe('headers');
  });
  it('defaults to headers without a packet', () => {
    expect(overflowPart(undefined, undefined, max)).toBe('headers');
  });
});
