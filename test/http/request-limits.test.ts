// The request-size limits, the one home of 414, 431 and 413: at exactly their boundaries (the URL:
// N bytes pass, N+1 are 414; the header block: N pass, N+1 are 431; the numbers per request: N
// pass, N+1 are TOO_MANY_NUMBERS with nothing changed; the body: N bytes are read, N+1 are
// BODY_TOO_LARGE), small configured limits keeping the requests small; the default numbers limit;
// and heads far beyond the defaults over a real socket, where Node's parser overflows first, with
// which part of the head overflowed.

import net, { type AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HTTP_HEADERS_BYTES_MAX, HTTP_URL_BYTES_MAX, REQUEST_NUMBERS_MAX } from '../../src/constants.js';
import { overflowPart } from '../../src/http/request-limits.js';
import { makeTestApp, PDNC, type TestApp } from './helpers.js';

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const code = (response: { body: string }) => (JSON.parse(response.body) as { code: string }).code;

/** `count` distinct valid numbers, comma-separated. */
function numbers(count: number, first = 2_002_000_000): string {
  return Array.from({ length: count }, (_, i) => String(first + i * 7)).join(',');
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

describe('limits at their exact boundary', () => {
  it('URL: exactly urlBytesMax bytes pass, one more is 414 URL_TOO_LONG', async () => {
    t = await makeTestApp({ limits: { urlBytesMax: 2000 } });
    const base = `${PDNC}?actionType=count&pad=`;
    const url = (bytes: number) => base + 'x'.repeat(bytes - base.length);
    const exact = await t.app.inject({ method: 'GET', url: url(2000), headers: { loginId: t.admin } });
    expect(exact.statusCode).toBe(200);
    const over = await t.app.inject({ method: 'GET', url: url(2001), headers: { loginId: t.admin } });
    expect(over.statusCode).toBe(414);
    expect(code(over)).toBe('URL_TOO_LONG');
  });

  it('headers: exactly headersBytesMax bytes pass, one more is 431 HEADERS_TOO_LARGE', async () => {
    t = await makeTestApp({ limits: { headersBytesMax: 3000 } });
    let rawHeaders: string[] = [];
    t.app.get('/raw-headers', { config: { public: true } }, async (request) => {
      rawHeaders = request.raw.rawHeaders;
      return 'ok';
    });
    const send = (pad: number, url = '/healthz') => t!.app.inject({ method: 'GET', url, headers: { loginId: t!.admin, 'x-pad': 'p'.repeat(pad) } });
    await send(1, '/raw-headers');
    // Counted as the checks count them: every name and value plus 2 bytes (": " / CRLF) each.
    const bytesWithPad1 = rawHeaders.reduce((sum, part) => sum + part.length + 2, 0);
    const exactPad = 1 + (3000 - bytesWithPad1);
    expect((await send(exactPad)).statusCode).toBe(200);
    const over = await send(exactPad + 1);
    expect(over.statusCode).toBe(431);
    expect(code(over)).toBe('HEADERS_TOO_LARGE');
  });

  it('numbers: exactly requestNumbersMax pass, one more is 413 TOO_MANY_NUMBERS and nothing changes', async () => {
    t = await makeTestApp({ limits: { requestNumbersMax: 50 } });
    const list = (count: number, first: number) => Array.from({ length: count }, (_, i) => String(first + i)).join(',');
    const over = await t.postForm({ actionType: 'add', phoneList: list(51, 2_002_000_000) });
    expect(over.statusCode).toBe(413);
    expect(code(over)).toBe('TOO_MANY_NUMBERS');
    expect(t.dnc.count()).toBe(0);
    // Empty entries are not numbers; an invalid one counts even when invalid ones are ignored.
    const exact = await t.postForm({ actionType: 'add', phoneList: `${list(50, 2_002_000_000)},, ,` });
    expect(exact.statusCode).toBe(200);
    expect(t.dnc.count()).toBe(50);
    const overInvalid = await t.postForm({ actionType: 'add', phoneList: `${list(50, 3_002_000_000)},x`, ignoreInvalid: '1' });
    expect(code(overInvalid)).toBe('TOO_MANY_NUMBERS');
    expect(t.dnc.count()).toBe(50);
  });

  it('body: a body of exactly bodyBytesMax is read; one byte more is 413 BODY_TOO_LARGE and nothing changes', async () => {
    t = await makeTestApp({ limits: { bodyBytesMax: 200 } });
    const base = 'actionType=add&phoneList=5039367187&pad=';
    const exact = base + 'x'.repeat(200 - base.length);
    const post = (payload: string) =>
      t!.app.inject({ method: 'POST', url: PDNC, headers: { loginId: t!.admin, 'content-type': 'application/x-www-form-urlencoded' }, payload });
    const over = await post(`${exact}x`);
    expect(over.statusCode).toBe(413);
    expect(code(over)).toBe('BODY_TOO_LARGE');
    expect(t.dnc.count()).toBe(0);
    expect((await post(exact)).statusCode).toBe(200);
    expect(t.dnc.count()).toBe(1);
  });

  it('the default POST limit is REQUEST_NUMBERS_MAX numbers, and its body fits the default body limit', async () => {
    t = await makeTestApp();
    const max = await t.postForm({ actionType: 'add', phoneList: numbers(REQUEST_NUMBERS_MAX) });
    expect(max.statusCode).toBe(200);
    expect(max.headers['idnc-changed']).toBe(String(REQUEST_NUMBERS_MAX));
    const over = await t.postForm({ actionType: 'remove', phoneList: numbers(REQUEST_NUMBERS_MAX + 1) });
    expect(over.statusCode).toBe(413);
    expect(code(over)).toBe('TOO_MANY_NUMBERS');
    expect(t.dnc.count()).toBe(REQUEST_NUMBERS_MAX);
  });
});

describe('heads beyond the default limits, over a real socket', () => {
  let port: number;
  beforeEach(async () => {
    t = await makeTestApp();
    await t.app.listen({ host: '127.0.0.1', port: 0 });
    port = (t.app.server.address() as AddressInfo).port;
  });

  it('a URL a little over the limit is 414', async () => {
    const response = await rawRequest(port, `GET /healthz?x=${'a'.repeat(HTTP_URL_BYTES_MAX + 6 * 1024)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    expect(response.status).toBe(414);
    expect(JSON.parse(response.body).code).toBe('URL_TOO_LONG');
  });

  it('a URL far beyond Node’s header limit is refused naming the URL limit, never a 5xx', async () => {
    // Node's parser overflows in a chunk holding only the middle of the URL, which looks like a
    // header value there: the answer is 431 and names both limits.
    const response = await rawRequest(port, `GET ${PDNC}?actionType=add&phoneList=${numbers(40_000)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    expect([414, 431]).toContain(response.status);
    expect(JSON.parse(response.body).error).toContain(String(HTTP_URL_BYTES_MAX));
    expect(JSON.parse(response.body).error).toMatch(/URL/);
    expect(t!.dnc.count()).toBe(0);
  });

  it('headers over the limit are 431, also far beyond Node’s limit', async () => {
    for (const size of [HTTP_HEADERS_BYTES_MAX + 4 * 1024, 400 * 1024]) {
      const response = await rawRequest(port, `GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nCookie: ${'a=b; '.repeat(size / 5)}\r\n\r\n`);
      expect(response.status).toBe(431);
      expect(JSON.parse(response.body).code).toBe('HEADERS_TOO_LARGE');
    }
  });

  it('one header value of 200 KB is 431, never 414', async () => {
    for (const value of ['x'.repeat(200 * 1000), numbers(20_000)]) {
      const response = await rawRequest(port, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${value}\r\nConnection: close\r\n\r\n`);
      expect(response.status).toBe(431);
      expect(JSON.parse(response.body).code).toBe('HEADERS_TOO_LARGE');
    }
  });

  it('2,000 small headers (about 23 KB) are 431: every header is counted', async () => {
    const many = Array.from({ length: 2000 }, (_, i) => `X-H${i}: v\r\n`).join('');
    const response = await rawRequest(port, `GET /healthz HTTP/1.1\r\nHost: x\r\n${many}Connection: close\r\n\r\n`);
    expect(response.status).toBe(431);
    expect(JSON.parse(response.body).code).toBe('HEADERS_TOO_LARGE');
    const fits = Array.from({ length: 1500 }, (_, i) => `X${i}:\r\n`).join('');
    expect((await rawRequest(port, `GET /healthz HTTP/1.1\r\nHost: x\r\n${fits}Connection: close\r\n\r\n`)).status).toBe(200);
  });
});

describe('overflowPart (which part of an oversized head overflowed)', () => {
  const max = HTTP_URL_BYTES_MAX;
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
