// The request-size limits at exactly their boundaries: the URL (N bytes pass, N+1 are 414), the
// header block (N bytes pass, N+1 are 431) and the numbers per request (N pass, N+1 are
// TOO_MANY_NUMBERS with nothing changed). Small configured limits keep the requests small.

import { afterEach, describe, expect, it } from 'vitest';
import { makeTestApp, PDNC, type TestApp } from './helpers.js';

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const code = (response: { body: string }) => (JSON.parse(response.body) as { code: string }).code;

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
    const exact = await t.postForm({ actionType: 'add', phoneList: list(50, 2_002_000_000) });
    expect(exact.statusCode).toBe(200);
    expect(t.dnc.count()).toBe(50);
  });
});
