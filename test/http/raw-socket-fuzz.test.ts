// Raw bytes over a real socket, where inject() cannot go: random request lines, header blocks,
// chunked bodies with bad chunk sizes, conflicting Content-Length / Transfer-Encoding, bare LF,
// NUL and non-ASCII bytes. Every answer is a 4xx JSON error with a catalogue code or a 200,
// never a 5xx; the server stays up and the store unchanged (no valid write is ever generated).

import net, { type AddressInfo } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CATALOGUE, type ErrorCode } from '../../src/errors.js';
import { makeTestApp, PDNC, type TestApp } from './helpers.js';

let t: TestApp;
let port: number;
beforeAll(async () => {
  t = await makeTestApp({ app: { connections: { headersTimeoutMs: 500, requestTimeoutMs: 1000 } } });
  await t.dnc.add('5039367187');
  await t.app.listen({ host: '127.0.0.1', port: 0 });
  port = (t.app.server.address() as AddressInfo).port;
});
afterAll(async () => {
  await t.close();
});

/** Sends the bytes, half-closes, and collects everything until the server closes. */
function exchange(bytes: Buffer): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.end(bytes));
    let data = '';
    socket.on('data', (chunk) => (data += chunk.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(data));
    socket.setTimeout(5000, () => socket.destroy());
  });
}

const requestLine = fc.oneof(
  fc.constantFrom(`GET ${PDNC}?actionType=count HTTP/1.1`, `POST ${PDNC} HTTP/1.1`, 'GET /healthz HTTP/1.1', 'GET / HTTP/1.0', 'GET /healthz HTTP/2.0', 'BREW /pot HTTP/1.1', 'GET', '', 'GET  /healthz  HTTP/1.1', `GET ${PDNC}?actionType=add&phoneList=%FF%00 HTTP/1.1`, 'GET http://x/healthz HTTP/1.1', 'GET * HTTP/1.1'),
  fc.stringMatching(/^[\x20-\x7e]{0,60}$/),
);
const headerLine = fc.oneof(
  fc.constantFrom('Host: x', 'loginId: idnc_wrong', 'Content-Length: 5', 'Content-Length: -1', 'Content-Length: 5, 6', 'Content-Length: 99999999999999999999', 'Transfer-Encoding: chunked', 'Transfer-Encoding: gzip, chunked', 'Transfer-Encoding: x', 'Content-Type: application/json', 'Content-Type: application/x-www-form-urlencoded', 'Expect: 100-continue', 'Connection: close', ' folded', 'NoColon', 'Bad Name: x', 'X: \u0000', 'X: é'),
  fc.stringMatching(/^[\x21-\x7e]{1,20}: [\x20-\x7e]{0,40}$/),
);
const body = fc.oneof(
  fc.constantFrom('', 'actionType=count', '5\r\nhello\r\n0\r\n\r\n', 'zz\r\nxx\r\n', '5\r\nhel', '{"actionType":"count"}', '{bad'),
  fc.uint8Array({ maxLength: 80 }).map((bytes) => Buffer.from(bytes).toString('latin1')),
);
const eol = fc.constantFrom('\r\n', '\n', '\r');

describe('raw HTTP over a socket', () => {
  it('never answers 5xx and every error is catalogue JSON', async () => {
    const before = t.dnc.digest();
    await fc.assert(
      fc.asyncProperty(requestLine, fc.array(headerLine, { maxLength: 6 }), body, eol, async (line, headers, payload, newline) => {
        const head = [line, ...headers].join(newline);
        const answer = await exchange(Buffer.from(`${head}${newline}${newline}${payload}`, 'latin1'));
        for (const match of answer.matchAll(/HTTP\/1\.[01] (\d{3})[^\r\n]*\r\n((?:[^\r\n]+\r\n)*)\r\n/g)) {
          const status = Number(match[1]);
          expect(status, answer.slice(0, 300)).toBeLessThan(500);
          if (status >= 400) {
            expect(match[2]).toMatch(/content-type: application\/json/i);
            const rest = answer.slice(match.index! + match[0].length);
            const code = /"code":"([A-Z_]+)"/.exec(rest)?.[1];
            expect(code, rest.slice(0, 200)).toBeDefined();
            expect(ERROR_CATALOGUE[code as ErrorCode].statusCode).toBe(status);
          }
        }
      }),
      { numRuns: 300 },
    );
    expect(t.dnc.digest()).toBe(before);
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
  }, 120_000);
});
