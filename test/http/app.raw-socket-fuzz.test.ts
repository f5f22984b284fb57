// Raw bytes over a real socket, where inject() cannot go: random request lines, header blocks,
// chunked bodies with bad chunk sizes, conflicting Content-Length / Transfer-Encoding, bare LF,
// NUL and non-ASCII bytes; Object.prototype names in paths, fields, header names and values;
// formatted phone numbers in paths and headers; JSON bodies with a repeated key. The bytes are
// written without closing our side, so the server answers every case on its own terms (an answer,
// or 400 / 408 for what never completes) and then closes: a connection still open after 5 s (a
// hang) or closed without a byte of answer is a failure, as is a 5xx or a 4xx that is not
// catalogue JSON. The server stays up, the store unchanged (the one write the generators can form
// with a valid key repeats a JSON key, and must be refused), the log free of the number.

import net, { type AddressInfo } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPLY_STATUS, type ReplyCode } from '../../src/http/error-replies.js';
import { makeTestApp, PDNC, type TestApp } from './helpers.js';

const NUMBER = '5039367187';
const HANG_MS = 5000;

let t: TestApp;
let port: number;
beforeAll(async () => {
  t = await makeTestApp({ app: { connections: { headersTimeoutMs: 300, requestTimeoutMs: 600, keepAliveTimeoutMs: 100 } } });
  await t.dnc.add(NUMBER);
  await t.app.listen({ host: '127.0.0.1', port: 0 });
  port = (t.app.server.address() as AddressInfo).port;
});
afterAll(async () => {
  await t.close();
  const log = t.logLines.join('\n').replace(/%([0-9A-Fa-f]{2})/g, (_escape, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  expect(log).not.toMatch(new RegExp([...NUMBER].join('[^0-9A-Za-z]{0,3}')));
});

/** Sends the bytes, keeps our side open, and collects everything until the server closes (or HANG_MS pass). */
function exchange(bytes: Buffer): Promise<{ data: string; hung: boolean }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(bytes));
    let data = '';
    let hung = false;
    socket.on('data', (chunk) => (data += chunk.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve({ data, hung }));
    socket.setTimeout(HANG_MS, () => {
      hung = true;
      socket.destroy();
    });
  });
}

const PROTO_NAMES = [...new Set(Object.getOwnPropertyNames(Object.prototype).flatMap((name) => [name, name.toLowerCase(), name.toUpperCase()]))];
const protoName = fc.constantFrom(...PROTO_NAMES);
const formattedNumber = fc.constantFrom('503-936-7187', '(503)%20936-7187', '503.936.7187', '+1%20503%20936%207187', '%35%30%33%39%33%36%37%31%38%37', '5%2003%209367187');

const requestLine = fc.oneof(
  fc.constantFrom(`GET ${PDNC}?actionType=count HTTP/1.1`, `POST ${PDNC} HTTP/1.1`, 'GET /healthz HTTP/1.1', 'GET / HTTP/1.0', 'GET /healthz HTTP/2.0', 'BREW /pot HTTP/1.1', 'GET', '', 'GET  /healthz  HTTP/1.1', `GET ${PDNC}?actionType=add&phoneList=%FF%00 HTTP/1.1`, 'GET http://x/healthz HTTP/1.1', 'GET * HTTP/1.1'),
  fc.stringMatching(/^[\x20-\x7e]{0,60}$/),
  protoName.chain((name) => fc.constantFrom(`GET /${name} HTTP/1.1`, `GET ${PDNC}?actionType=${name}&phoneList=${NUMBER} HTTP/1.1`, `POST ${PDNC}?${name}=add&projId=${name} HTTP/1.1`, `POST /v1/scrub?column=${name}&format=csv HTTP/1.1`)),
  formattedNumber.chain((number) => fc.constantFrom(`GET /${number} HTTP/1.1`, `GET /lookup/${number}?x=1 HTTP/1.1`, `GET ${PDNC}?actionType=status&phoneList=${number} HTTP/1.1`)),
);
/** `loginId: <valid>` and `Content-Length: <auto>` are filled in per case (a real key, the body's length). */
const headerLine = fc.oneof(
  fc.constantFrom('Host: x', 'loginId: idnc_wrong', 'loginId: <valid>', 'Content-Length: <auto>', 'Content-Length: 5', 'Content-Length: -1', 'Content-Length: 5, 6', 'Content-Length: 99999999999999999999', 'Transfer-Encoding: chunked', 'Transfer-Encoding: gzip, chunked', 'Transfer-Encoding: x', 'Content-Type: application/json', 'Content-Type: application/x-www-form-urlencoded', 'Expect: 100-continue', 'Connection: close', ' folded', 'NoColon', 'Bad Name: x', 'X: \u0000', 'X: é'),
  fc.stringMatching(/^[\x21-\x7e]{1,20}: [\x20-\x7e]{0,40}$/),
  protoName.chain((name) => fc.constantFrom(`${name}: 1`, `loginId: ${name}`, `x-request-id: ${name}`, `Content-Type: application/${name}`)),
  formattedNumber.chain((number) => fc.constantFrom(`x-request-id: ${number}`, `X-Phone: ${number}`, `loginId: ${number}`)),
);
const body = fc.oneof(
  fc.constantFrom('', 'actionType=count', '5\r\nhello\r\n0\r\n\r\n', 'zz\r\nxx\r\n', '5\r\nhel', '{"actionType":"count"}', '{bad'),
  fc.uint8Array({ maxLength: 80 }).map((bytes) => Buffer.from(bytes).toString('latin1')),
  fc.constantFrom(
    `{"actionType":"count","actionType":"add","phoneList":"${NUMBER}"}`.replace(NUMBER, '2125551234'),
    '{"actionType":"add","phoneList":"2125551234","phoneList":"2125551235"}',
    '{"__proto__":{"actionType":"add"},"actionType":"count"}',
    '{"actionType":"count","x":{"k":1,"k":2}}',
  ),
  protoName.map((name) => `actionType=${name}&phoneList=503-936-7187&${name}=1`),
);
const eol = fc.constantFrom('\r\n', '\n', '\r');
/** Mostly random header lines; often led by a Host and a valid key, so requests get past those checks. */
const headerBlock = fc
  .tuple(fc.boolean(), fc.boolean(), fc.array(headerLine, { maxLength: 6 }))
  .map(([host, key, rest]) => [...(host ? ['Host: x'] : []), ...(key ? ['loginId: <valid>'] : []), ...rest]);
/** A well-formed request around one of the bodies: what the parsers behind the head checks see. */
const wellFormed = fc
  .tuple(
    fc.constantFrom('POST', 'GET'),
    fc.oneof(fc.constantFrom(PDNC, `${PDNC}?actionType=status&phoneList=${NUMBER}`, '/v1/scrub', '/v1/import'), protoName.map((name) => `${PDNC}?actionType=${name}&phoneList=${NUMBER}`)),
    fc.constantFrom('application/json', 'application/x-www-form-urlencoded', 'text/plain'),
    body,
  )
  .map(([method, path, type, payload]) => ({ line: `${method} ${path} HTTP/1.1`, headers: ['Host: x', 'loginId: <valid>', `Content-Type: ${type}`, 'Content-Length: <auto>', 'Connection: close'], payload, newline: '\r\n' }));
const randomCase = fc.tuple(requestLine, headerBlock, body, eol).map(([line, headers, payload, newline]) => ({ line, headers, payload, newline }));

/** The statuses, headers and the rest of `answer` for each HTTP response in it. */
function answers(answer: string): { status: number; head: string; rest: string }[] {
  return [...answer.matchAll(/HTTP\/1\.[01] (\d{3})[^\r\n]*\r\n((?:[^\r\n]+\r\n)*)\r\n/g)].map((match) => ({
    status: Number(match[1]),
    head: match[2]!,
    rest: answer.slice(match.index! + match[0].length),
  }));
}

describe('raw HTTP over a socket', () => {
  it('answers every case and closes, never 5xx, every error catalogue JSON', async () => {
    const before = t.dnc.digest();
    await fc.assert(
      fc.asyncProperty(fc.oneof({ weight: 3, arbitrary: randomCase }, { weight: 1, arbitrary: wellFormed }), async ({ line, headers, payload, newline }) => {
        const filled = headers.map((header) =>
          header.replace('<valid>', t.admin).replace('<auto>', String(Buffer.byteLength(payload, 'latin1'))),
        );
        const head = [line, ...filled].join(newline);
        const { data, hung } = await exchange(Buffer.from(`${head}${newline}${newline}${payload}`, 'latin1'));
        expect(hung, `no close within ${HANG_MS} ms; got ${JSON.stringify(data.slice(0, 200))}`).toBe(false);
        const parsed = answers(data);
        expect(parsed.length, `no answer: ${JSON.stringify(data.slice(0, 200))}`).toBeGreaterThan(0);
        expect(data.startsWith('HTTP/1.'), `bytes before the answer: ${JSON.stringify(data.slice(0, 200))}`).toBe(true);
        for (const { status, head: answerHead, rest } of parsed) {
          expect(status, data.slice(0, 300)).toBeLessThan(500);
          if (status >= 400) {
            expect(answerHead).toMatch(/content-type: application\/json/i);
            const code = /"code":"([A-Z_]+)"/.exec(rest)?.[1];
            expect(code, rest.slice(0, 200)).toBeDefined();
            expect(REPLY_STATUS[code as ReplyCode]).toBe(status);
          }
        }
      }),
      // A failing case may be a hang: report the first one rather than shrink it at HANG_MS a try.
      { numRuns: 300, endOnFailure: true },
    );
    expect(t.dnc.digest()).toBe(before);
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
  }, 300_000);
});
