// Slow and greedy clients over real sockets, each limit at a small configured value: a head that
// stalls gets 408 within the head timeout, a body that stalls within the request timeout, an idle
// keep-alive connection is closed, connection N+1 is refused, request N on a connection says
// Connection: close; a request refused before its body is read is answered with Connection: close
// and the body is not read. The size limits (414, 431, 413) live in request-limits.test.ts.

import net, { type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ConnectionLimits } from '../../src/http/server-limits.js';
import { makeKey, makeTestApp, PDNC, type TestApp } from './helpers.js';

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

async function listening(connections: Partial<ConnectionLimits>, limits = {}): Promise<number> {
  t = await makeTestApp({ limits, app: { connections } });
  await t.app.listen({ host: '127.0.0.1', port: 0 });
  return (t.app.server.address() as AddressInfo).port;
}

interface Outcome {
  readonly data: string;
  readonly closedAfterMs: number;
}

/** Connects, writes `head`, never writes more; resolves when the server closes the connection. */
function stall(port: number, head: string): Promise<Outcome> {
  return new Promise((resolve) => {
    const started = performance.now();
    const socket = net.connect(port, '127.0.0.1', () => socket.write(head));
    let data = '';
    socket.on('data', (chunk) => (data += chunk.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve({ data, closedAfterMs: performance.now() - started }));
  });
}

/** Connections the listening test app holds open. */
function connections(): Promise<number> {
  return new Promise((resolve, reject) => t!.app.server.getConnections((error, count) => (error ? reject(error) : resolve(count))));
}

function statusOf(data: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0);
}

describe('timeouts', () => {
  it('a client that sends half a head and stalls gets 408 REQUEST_TIMEOUT and is closed within the head timeout', async () => {
    const port = await listening({ headersTimeoutMs: 300, requestTimeoutMs: 2000 });
    const outcome = await stall(port, `GET ${PDNC}?actionType=count HTTP/1.1\r\nHost: x\r\nloginId: `);
    expect(statusOf(outcome.data)).toBe(408);
    expect(outcome.data).toContain('"code":"REQUEST_TIMEOUT"');
    expect(outcome.closedAfterMs).toBeGreaterThanOrEqual(250);
    expect(outcome.closedAfterMs).toBeLessThan(2000);
  });

  it('a client that stalls in the body gets 408 within the request timeout (unauthenticated ones are refused before the body)', async () => {
    const port = await listening({ headersTimeoutMs: 200, requestTimeoutMs: 400 });
    const head = `POST ${PDNC} HTTP/1.1\r\nHost: x\r\nloginId: ${t!.admin}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nactionType=co`;
    const outcome = await stall(port, head);
    expect(statusOf(outcome.data)).toBe(408);
    expect(outcome.closedAfterMs).toBeGreaterThanOrEqual(350);
    const anonymous = await stall(port, head.replace(/loginId: [^\r]*\r\n/, ''));
    expect(statusOf(anonymous.data)).toBe(401);
    expect(outcome.closedAfterMs).toBeLessThan(3000);
  });

  it('an idle keep-alive connection is closed after the keep-alive timeout', async () => {
    const port = await listening({ keepAliveTimeoutMs: 300 });
    const outcome = await stall(port, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(statusOf(outcome.data)).toBe(200);
    expect(outcome.closedAfterMs).toBeGreaterThanOrEqual(250);
    expect(outcome.closedAfterMs).toBeLessThan(3000);
  });
});

describe('connection limits', () => {
  it('N connections are served, connection N+1 is closed at once', async () => {
    const port = await listening({ connectionsMax: 2 });
    const open: net.Socket[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        const socket = net.connect(port, '127.0.0.1');
        open.push(socket);
        const answer = await new Promise<string>((resolve) => {
          socket.once('data', (chunk) => resolve(chunk.toString('latin1')));
          socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
        });
        expect(statusOf(answer)).toBe(200);
      }
      const third = await stall(port, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
      expect(third.data).toBe('');
      open.pop()!.destroy();
      await vi.waitFor(async () => expect(await connections()).toBe(1), { timeout: 5000, interval: 5 });
      const again = await stall(port, 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      expect(statusOf(again.data)).toBe(200);
    } finally {
      for (const socket of open) socket.destroy();
    }
  });

  it('request N on a keep-alive connection answers Connection: close and the connection ends; no 5xx', async () => {
    const port = await listening({ requestsPerSocketMax: 3 });
    const head = 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n';
    // Pipelined: four requests at once; three answers, the third with Connection: close.
    const outcome = await stall(port, head.repeat(4));
    const statuses = [...outcome.data.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
    expect(statuses).toEqual([200, 200, 200]);
    expect(outcome.data.split('HTTP/1.1 ')[3]).toMatch(/connection: close/i);
    expect(outcome.data.split('HTTP/1.1 ')[2]).toMatch(/connection: keep-alive/i);
  });
});

describe('malformed heads found by the raw-socket fuzzer', () => {
  it('HTTP/1.1 without Host is 400 BAD_REQUEST as catalogue JSON (Node alone sends a bare 400); HTTP/1.0 without Host is served', async () => {
    const port = await listening({});
    const missing = await stall(port, 'GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n');
    expect(statusOf(missing.data)).toBe(400);
    expect(missing.data).toMatch(/content-type: application\/json/i);
    expect(missing.data).toContain('"code":"BAD_REQUEST"');
    expect(missing.data).toContain('Host');
    const old = await stall(port, 'GET /healthz HTTP/1.0\r\n\r\n');
    expect(statusOf(old.data)).toBe(200);
  });
});

describe('refusals before the body is read', () => {
  it('401, 403, 429 and a GET with a body answer Connection: close and the server stops reading; an answer after the body keeps the connection', async () => {
    const reader = makeKey('default', ['read']);
    const writer = makeKey('default', ['write']);
    const limited = makeKey('default', ['admin']);
    t = await makeTestApp({ extraKeys: [reader, writer, { key: limited.key, record: { ...limited.record, rateLimit: 1 } }] });
    await t.app.listen({ host: '127.0.0.1', port: 0 });
    const port = (t.app.server.address() as AddressInfo).port;
    const post = (path: string, key: string | null, method = 'POST') =>
      `${method} ${path} HTTP/1.1\r\nHost: x\r\n${key === null ? '' : `loginId: ${key}\r\n`}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000000\r\n\r\nactionType=add&phoneList=5039367187`;
    // The rate-limited key's one token goes to a request without a body.
    expect((await t.get({ actionType: 'count' }, limited.key)).statusCode).toBe(200);
    const cases: [string, string, number, string][] = [
      ['no key', post(PDNC, null), 401, 'MISSING_API_KEY'],
      ['a wrong key', post(PDNC, `${t.admin}x`), 401, 'INVALID_API_KEY'],
      ['a key over its rate limit', post(PDNC, limited.key), 429, 'RATE_LIMITED'],
      ['import with a read key', post('/v1/import', reader.key), 403, 'FORBIDDEN'],
      ['scrub with a write key', post('/v1/scrub', writer.key), 403, 'FORBIDDEN'],
      ['a GET with a body', post(`${PDNC}?actionType=count`, t.admin, 'GET'), 400, 'BAD_REQUEST'],
    ];
    // Each head announces a large body and sends its first bytes, never the rest: `stall` resolves
    // once the server closes the connection, which a server that kept reading would not do.
    for (const [what, head, status, code] of cases) {
      const outcome = await stall(port, head);
      expect(statusOf(outcome.data), what).toBe(status);
      expect(outcome.data, what).toContain(`"code":"${code}"`);
      expect(outcome.data, what).toMatch(/\r\nconnection: close\r\n/i);
    }
    // Refused after its (whole) body was read: the connection stays open and answers the next request.
    const read = `POST ${PDNC} HTTP/1.1\r\nHost: x\r\nloginId: ${t.admin}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 16\r\n\r\nactionType=xyzzy`;
    const kept = await stall(port, `${read}GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    expect(statusOf(kept.data)).toBe(400);
    expect(kept.data).toMatch(/\r\nconnection: keep-alive\r\n/i);
    expect([...kept.data.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]))).toEqual([400, 200]);
    expect(t.dnc.count()).toBe(0);
  });
});
