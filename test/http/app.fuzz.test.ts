// Property tests over the whole HTTP layer through app.inject(): random query strings, form and
// JSON bodies, raw bytes, content types, header values, methods and paths (percent-encoding with
// invalid sequences, NUL, non-UTF-8 bytes, duplicated fields and JSON keys, arrays and objects where
// strings are expected, huge and empty values, Object.prototype names in any case as field names,
// values, keys and header names, formatted phone numbers in paths and headers). Every case: an
// answer within ANSWER_MS, no 5xx, every 4xx is a JSON error whose code is in the catalogue with
// that status, and the store changes only on a 200 add/remove. The log of all of it, percent-
// decoded, holds none of the numbers (even with separators) or keys used. Over 10,000 cases.

import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthThrottle } from '../../src/http/auth-throttle.js';
import { REPLY_STATUS, type ReplyCode } from '../../src/http/error-replies.js';
import type { LightMyRequestResponse } from 'fastify';
import { makeKey, makeTestApp, PDNC, type TestApp, type TestKey } from './helpers.js';

const NUMBERS = ['5039367187', '2125551234', '4155550100', '3125550199', '7185550123'];
const unlimited = (key: TestKey): TestKey => ({ key: key.key, record: { ...key.record, rateLimit: 0 } });
const KEYS = {
  read: unlimited(makeKey('default', ['read'])),
  write: unlimited(makeKey('default', ['write'])),
  project: unlimited(makeKey('default', ['read', 'write'], ['p1'])),
  other: unlimited(makeKey('acme', ['admin'])),
};

let t: TestApp;
let adminKey: string;
beforeAll(async () => {
  t = await makeTestApp({
    extraKeys: Object.values(KEYS),
    // Access log on: the successful requests' lines are searched for numbers and keys too.
    app: { authThrottle: new AuthThrottle({ burst: 1e9 }), accessLog: true },
  });
  t.keys.replace([...Object.values(KEYS).map((k) => k.record)]);
  const admin = unlimited(makeKey('default', ['admin']));
  t.keys.replace([...Object.values(KEYS).map((k) => k.record), admin.record]);
  adminKey = admin.key;
  await t.dnc.add(NUMBERS.slice(0, 2).join(','));
  await t.dnc.add(NUMBERS[2]!, { projId: 'p1' });
});
afterAll(async () => {
  let log = t.logLines.join('\n');
  await t.close();
  for (let previous = ''; previous !== log; ) {
    previous = log;
    log = log.replace(/%([0-9A-Fa-f]{2})/g, (_escape, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  }
  for (const number of NUMBERS) expect(log).not.toMatch(new RegExp([...number].join('[^0-9A-Za-z]{0,3}')));
  for (const key of [adminKey, ...Object.values(KEYS).map((k) => k.key)]) expect(log).not.toContain(key.slice(18));
});

/** Far above any answer's time on a loaded machine: only a request the app never answers reaches it. */
const ANSWER_MS = 5000;
const PROTO_NAMES = [...new Set(Object.getOwnPropertyNames(Object.prototype).flatMap((name) => [name, name.toLowerCase(), name.toUpperCase()]))];
const protoName = fc.constantFrom(...PROTO_NAMES);
/** Formatted and encoded forms of the first number, for paths and header values. */
const formattedNumber = fc.constantFrom('503-936-7187', '(503)%20936-7187', '503.936.7187', '+1%20503%20936%207187', '%35%30%33%39%33%36%37%31%38%37', '%2535%2530%2533%2539%2533%2536%2537%2531%2538%2537');

// --- generators ---

const action = fc.oneof(fc.constantFrom('add', 'remove', 'count', 'status', 'ADD', 'Status', 'cOuNt', 'delete', '', ' add', 'add\0'), protoName);
const numberLike = fc.oneof(
  fc.constantFrom(...NUMBERS),
  fc.constantFrom('BADNUMBER', '1234', '0039367187', '(503) 936-7187', '+1 503 936 7187', '503.936.7187', '５０３９３６７１８７'),
  fc.stringMatching(/^[0-9]{9,11}$/).filter((s) => !s.startsWith('1') || s.length !== 11).map((s) => s.replace(/^/, '')),
);
const phoneList = fc.oneof(
  fc.array(numberLike, { minLength: 0, maxLength: 8 }).map((parts) => parts.join(',')),
  fc.constantFrom('', ',', ',,,', ' , ', NUMBERS.join(' ,, ')),
  fc.nat({ max: 6_500 }).map((n) => `${NUMBERS[0]},`.repeat(n)),
);
const rawText = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 40 }), fc.constantFrom('', '\0', '%', '\uFFFD', '\uD800'));
const fieldName = fc.oneof({ weight: 4, arbitrary: fc.constantFrom('actionType', 'phoneList', 'projId', 'ignoreInvalid', 'version', 'actiontype') }, { weight: 1, arbitrary: protoName });
const fieldValue = fc.oneof(
  { weight: 4, arbitrary: action },
  { weight: 4, arbitrary: phoneList },
  { weight: 3, arbitrary: fc.constantFrom('p1', 'p2', '', '../etc', 'p1\0', 'a'.repeat(65), '0', '1', 'true', 'false', 'yes', '3') },
  { weight: 3, arbitrary: rawText },
  { weight: 2, arbitrary: protoName },
  { weight: 1, arbitrary: fc.nat({ max: 70_000 }).map((n) => 'x'.repeat(n)) },
);

/** A percent-encoded form of a string, sometimes broken (invalid escapes, raw bytes, NUL, non-UTF-8). */
const encoded = (value: string): fc.Arbitrary<string> =>
  fc.oneof(
    fc.constant(encodeURIComponent(safeForEncoding(value))),
    fc.constant(value.replace(/[^A-Za-z0-9,._~-]/g, (c) => `%${(c.charCodeAt(0) & 0xff).toString(16).padStart(2, '0')}`)),
    fc.constantFrom('%', '%Z', '%ZZ', '%00', '%C3%28', '%FF%FE', '%E2%82', '%2', '+', '%2B', '%2C%2C', '%ED%A0%80').map((junk) => `${encodeURIComponent(safeForEncoding(value))}${junk}`),
  );

function safeForEncoding(value: string): string {
  return value.replace(/[\uD800-\uDFFF]/g, '?');
}

const pairs = fc.array(fc.tuple(fieldName, fieldValue, fc.boolean()), { minLength: 0, maxLength: 7 });
const queryString = pairs.chain((list) =>
  fc
    .tuple(...list.map(([name, value, bare]) => encoded(value).map((v) => (bare ? name : `${name}=${v}`))))
    .chain((parts) => fc.constantFrom('&', '&&', ';').map((sep) => parts.join(sep))),
);

const keyHeader = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...Object.values(KEYS).map((k) => k.key)).chain((k) => fc.constantFrom(k, ` ${k} `)) },
  { weight: 2, arbitrary: fc.constant('admin') },
  { weight: 2, arbitrary: fc.constantFrom('', 'idnc_', 'idnc_000000000000_x', 'wrong key', 'a'.repeat(3000)) },
  { weight: 1, arbitrary: fc.stringMatching(/^[\x20-\x7e]{0,80}$/) },
  { weight: 1, arbitrary: protoName },
);

function keyValue(value: string): string {
  return value === 'admin' ? adminKey : value;
}

const jsonish: fc.Arbitrary<unknown> = fc.oneof(
  fc.dictionary(fieldName, fc.oneof(fieldValue, fc.jsonValue({ maxDepth: 2 }), fc.array(fieldValue, { maxLength: 3 })), { maxKeys: 6 }),
  fc.jsonValue({ maxDepth: 3 }),
);

const contentType = fc.constantFrom(
  'application/x-www-form-urlencoded',
  'application/json',
  'application/json; charset=utf-8',
  'application/x-www-form-urlencoded; charset=latin1',
  'text/plain',
  'multipart/form-data; boundary=x',
  'application/octet-stream',
  'application/jsonx',
  '',
  'garbage',
);

// --- the invariant checked on every case ---


/** The answer, or a failure naming the hang when none comes within ANSWER_MS. */
async function answered(send: () => Promise<LightMyRequestResponse>): Promise<LightMyRequestResponse> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ANSWER_MS} ms`)), ANSWER_MS);
  });
  try {
    return await Promise.race([send(), hang]);
  } finally {
    clearTimeout(timer);
  }
}

async function checkCase(send: () => Promise<LightMyRequestResponse>, method = 'GET'): Promise<void> {
  const before = t.dnc.digest();
  const response = await answered(send);
  const after = t.dnc.digest();
  expect(response.statusCode, response.body.slice(0, 200)).toBeLessThan(500);
  expect(response.statusCode).toBeGreaterThanOrEqual(200);
  if (response.statusCode >= 400) {
    expect(String(response.headers['content-type'])).toMatch(/^application\/json/);
    if (method === 'HEAD') return; // HTTP sends no body with an answer to HEAD
    const body = JSON.parse(response.body) as { error: unknown; code: unknown };
    expect(typeof body.error).toBe('string');
    expect(Object.hasOwn(REPLY_STATUS, body.code as string), String(body.code)).toBe(true);
    expect(REPLY_STATUS[body.code as ReplyCode]).toBe(response.statusCode);
  }
  const changed = changedBy(response);
  if (before !== after) {
    expect(response.statusCode).toBe(200);
    expect(changed).toBeGreaterThan(0);
  }
  if (response.statusCode === 200 && changed !== undefined) expect(before === after).toBe(changed === 0);
}

/**
 * Numbers a write answer says it changed: pdnc's idnc-changed header, /v1/import's JSON `changed`,
 * or the `numbers` a drop of a list (DELETE /v1/lists/{projId}) took away.
 */
function changedBy(response: LightMyRequestResponse): number | undefined {
  if (response.headers['idnc-changed'] !== undefined) return Number(response.headers['idnc-changed']);
  if (response.statusCode !== 200 || !String(response.headers['content-type']).startsWith('application/json')) return undefined;
  const body = JSON.parse(response.body) as { changed?: unknown; numbers?: unknown; seq?: unknown };
  if (typeof body !== 'object' || body === null) return undefined;
  if (typeof body.changed === 'number') return body.changed;
  return response.headers['idnc-seq'] !== undefined && typeof body.numbers === 'number' ? body.numbers : undefined;
}

// 2,400 + 2,000 + 2,400 + 2,000 + 500 + 1,200 = 10,500 cases.
const RUNS = { numRuns: 2400 };

describe('fuzzing the HTTP layer', () => {
  it('GET with random query strings', async () => {
    await fc.assert(
      fc.asyncProperty(queryString, keyHeader, async (query, key) => {
        await checkCase(() => t.app.inject({ method: 'GET', url: `${PDNC}?${query}`, headers: { loginId: keyValue(key) } }));
      }),
      RUNS,
    );
  }, 60_000);

  it('POST with random form bodies, content types and query strings', async () => {
    await fc.assert(
      fc.asyncProperty(queryString, queryString, contentType, keyHeader, async (query, form, type, key) => {
        const headers: Record<string, string> = { loginId: keyValue(key) };
        if (type !== '') headers['content-type'] = type;
        await checkCase(() => t.app.inject({ method: 'POST', url: query === '' ? PDNC : `${PDNC}?${query}`, headers, payload: form }));
      }),
      { numRuns: 2000 },
    );
  }, 60_000);

  it('POST with random JSON values, invalid JSON and raw non-UTF-8 bytes', async () => {
    const payload = fc.oneof(
      { weight: 5, arbitrary: jsonish.map((value) => JSON.stringify(value) ?? 'null') },
      { weight: 2, arbitrary: fc.constantFrom('{', '{"actionType":', '[1,2', 'null', '"add"', '{"__proto__":{"x":1}}', '{"constructor":{"prototype":{}}}', '\u0000', '') },
      { weight: 2, arbitrary: fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes).toString('latin1')) },
    );
    await fc.assert(
      fc.asyncProperty(payload, fc.constantFrom('application/json', 'application/x-www-form-urlencoded'), keyHeader, fc.boolean(), async (body, type, key, binary) => {
        await checkCase(() =>
          t.app.inject({
            method: 'POST',
            url: PDNC,
            headers: { loginId: keyValue(key), 'content-type': type },
            payload: binary ? Buffer.from(body, 'latin1') : body,
          }),
        );
      }),
      RUNS,
    );
  }, 60_000);

  it('random methods, paths and header values', async () => {
    const method = fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS');
    const path = fc.oneof(
      fc.constantFrom(PDNC, `${PDNC}/`, '/app/main/rpc/PDNC', '//app/main/rpc/pdnc', '/healthz', '/metrics', '/openapi.json', '/', '/%', '/%ZZ', '/%00', '/%C3%28', `/lookup/${NUMBERS[0]}`, '/..%2F..%2Fetc', '/v1/scrub', '/v1/import', '/v1/lists', '/v1/lists/p1', '/v1/lists/', '/v1/lists/p1/x'),
      fc.webPath().map((p) => (p.startsWith('/') ? p : `/${p}`)),
      fc.nat({ max: 9000 }).map((n) => `/${'a'.repeat(n)}`),
      formattedNumber.chain((number) => fc.constantFrom(`/${number}`, `/lookup/${number}`, `/v1/${number}`)),
      protoName.chain((name) => fc.constantFrom(`/${name}`, `/app/main/rpc/${name}`, `/v1/${name}`)),
    );
    const headerValue = fc.oneof(fc.stringMatching(/^[\x20-\x7e\t]{0,100}$/), fc.constantFrom('', ' ', 'x'.repeat(8000)), formattedNumber, protoName);
    const headerName = fc.oneof(fc.constantFrom('x-request-id', 'content-length', 'transfer-encoding', 'content-type', 'accept', 'x-forwarded-for', 'x-custom', 'host', 'cookie', 'expect'), protoName.map((name) => name.toLowerCase()));
    await fc.assert(
      fc.asyncProperty(method, path, queryString, fc.array(keyHeader, { minLength: 1, maxLength: 2 }), fc.dictionary(headerName, fc.oneof(headerValue, fc.array(headerValue, { minLength: 2, maxLength: 3 })), { maxKeys: 4 }), async (m, p, query, keys, extra) => {
        // Duplicated headers (loginId twice, two x-request-ids...) arrive as arrays.
        const loginId = keys.length === 1 ? keyValue(keys[0]!) : keys.map(keyValue);
        const headers: Record<string, string | string[]> = { ...extra, loginId };
        delete headers['content-length'];
        delete headers['transfer-encoding'];
        // checkCase sends it, so the state before it is taken before the request can change it.
        await checkCase(() => t.app.inject({ method: m as 'GET', url: query === '' ? p : `${p}?${query}`, headers }), m);
      }),
      { numRuns: 2000 },
    );
  }, 60_000);

  it('a JSON body repeating a key is INVALID_PARAMETER and changes nothing, whatever the key and values', async () => {
    const entries = fc.array(fc.tuple(fieldName, fc.oneof(fieldValue, fc.jsonValue({ maxDepth: 2 }))), { minLength: 1, maxLength: 5 });
    await fc.assert(
      fc.asyncProperty(entries, fc.nat(), fieldValue, fc.constantFrom('add', 'remove'), async (pairs, pick, repeated, write) => {
        const [name] = pairs[pick % pairs.length]!;
        // A write that would be valid if only the last of the repeated keys counted.
        const members = [['actionType', write], ['phoneList', NUMBERS[3]!], ...pairs, [name, repeated]].map(([key, value]) => `${JSON.stringify(key)}:${JSON.stringify(value) ?? 'null'}`);
        const before = t.dnc.digest();
        const response = await answered(() =>
          t.app.inject({ method: 'POST', url: PDNC, headers: { loginId: adminKey, 'content-type': 'application/json' }, payload: `{${members.join(',')}}` }),
        );
        expect(response.statusCode, response.body).toBe(400);
        expect(JSON.parse(response.body).code).toBe('INVALID_PARAMETER');
        expect(t.dnc.digest()).toBe(before);
      }),
      { numRuns: 500 },
    );
  }, 60_000);

  it('status and count read nothing into the store and always answer in shape', async () => {
    const list = fc.array(fc.constantFrom(...NUMBERS, 'BAD', ''), { minLength: 1, maxLength: 6 }).map((parts) => parts.join(','));
    await fc.assert(
      fc.asyncProperty(list, fc.constantFrom('', 'p1', 'p2'), fc.constantFrom('', '0', '1', 'true'), fc.constantFrom(...Object.keys(KEYS)), async (phones, projId, ignore, who) => {
        const key = KEYS[who as keyof typeof KEYS].key;
        const before = t.dnc.digest();
        const response = await t.get({ actionType: 'status', phoneList: phones, projId, ignoreInvalid: ignore }, key);
        expect(t.dnc.digest()).toBe(before);
        expect(response.statusCode).toBeLessThan(500);
        if (response.statusCode === 200) {
          const entries = JSON.parse(response.body) as { phone: string; onList: boolean; list: string | null }[];
          expect(entries.length).toBe(phones.split(',').filter((p) => NUMBERS.includes(p)).length);
        }
      }),
      { numRuns: 1200 },
    );
  }, 60_000);
});


