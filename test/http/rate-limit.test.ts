// Rate limits at their exact boundaries, with an injected clock so nothing depends on timing:
// per API key (keys.json rateLimit, default 1000/s, 0 = unlimited) and per client address for
// failed authentication (slowed down, never locking out a valid key).

import { describe, expect, it } from 'vitest';
import { KEY_RATE_LIMIT_PER_SECOND_DEFAULT } from '../../src/constants.js';
import { AuthThrottle } from '../../src/http/auth-throttle.js';
import { KeyRateLimiter } from '../../src/http/rate-limit.js';
import { makeKey, makeTestApp, PDNC, type TestKey } from './helpers.js';

function fakeClock(): { now: () => number; advance(ms: number): void } {
  let ms = 1_000_000;
  return { now: () => ms, advance: (by) => void (ms += by) };
}

function withRate(key: TestKey, rateLimit: number | undefined): TestKey {
  const { rateLimit: _drop, ...record } = key.record;
  return { key: key.key, record: rateLimit === undefined ? record : { ...record, rateLimit } };
}

function body(response: { body: string }): { code: string; error: string } {
  return JSON.parse(response.body) as { code: string; error: string };
}

describe('KeyRateLimiter', () => {
  it('allows exactly N in one instant and refuses N+1, then refills at N per second', () => {
    const clock = fakeClock();
    const limiter = new KeyRateLimiter(clock.now);
    for (let i = 0; i < 5; i++) expect(limiter.take('k', 5)).toBe(0);
    expect(limiter.take('k', 5)).toBe(200);
    clock.advance(199);
    expect(limiter.take('k', 5)).toBeGreaterThan(0);
    clock.advance(1);
    expect(limiter.take('k', 5)).toBe(0);
    expect(limiter.take('k', 5)).toBeGreaterThan(0);
    clock.advance(10_000);
    for (let i = 0; i < 5; i++) expect(limiter.take('k', 5)).toBe(0);
    expect(limiter.take('k', 5)).toBeGreaterThan(0);
  });

  it('keeps keys apart; 0 is unlimited; a lowered limit applies at once', () => {
    const clock = fakeClock();
    const limiter = new KeyRateLimiter(clock.now);
    expect(limiter.take('a', 1)).toBe(0);
    expect(limiter.take('a', 1)).toBe(1000);
    expect(limiter.take('b', 1)).toBe(0);
    let refused = 0;
    for (let i = 0; i < 100_000; i++) if (limiter.take('c', 0) !== 0) refused++;
    expect(refused).toBe(0);
    for (let i = 0; i < 3; i++) limiter.take('d', 100);
    expect(limiter.take('d', 2)).toBe(0);
    expect(limiter.take('d', 2)).toBe(0);
    expect(limiter.take('d', 2)).toBe(500);
  });

  it('the default for a key without rateLimit is 1000 per second: 1000 allowed, 1001st refused', () => {
    const limiter = new KeyRateLimiter(fakeClock().now);
    let allowed = 0;
    for (let i = 0; i < KEY_RATE_LIMIT_PER_SECOND_DEFAULT; i++) if (limiter.take('k', KEY_RATE_LIMIT_PER_SECOND_DEFAULT) === 0) allowed++;
    expect(allowed).toBe(KEY_RATE_LIMIT_PER_SECOND_DEFAULT);
    expect(limiter.take('k', KEY_RATE_LIMIT_PER_SECOND_DEFAULT)).toBe(1);
  });
});

describe('per-key rate limit over HTTP', () => {
  it('N requests pass, request N+1 is 429 RATE_LIMITED with Retry-After; other keys are unaffected', async () => {
    const clock = fakeClock();
    const limited = withRate(makeKey('default', ['read', 'write']), 3);
    const other = withRate(makeKey('default', ['read']), 3);
    const t = await makeTestApp({ extraKeys: [limited, other], app: { rateLimiter: new KeyRateLimiter(clock.now) } });
    try {
      for (let i = 0; i < 3; i++) expect((await t.get({ actionType: 'count' }, limited.key)).statusCode).toBe(200);
      const refused = await t.get({ actionType: 'add', phoneList: '5039367187' }, limited.key);
      expect(refused.statusCode).toBe(429);
      expect(refused.headers['retry-after']).toBe('1');
      expect(refused.headers['content-type']).toMatch(/^application\/json/);
      expect(body(refused).code).toBe('RATE_LIMITED');
      expect(body(refused).error).toMatch(/3 requests per second/);
      expect(t.dnc.count()).toBe(0);
      expect((await t.get({ actionType: 'count' }, other.key)).statusCode).toBe(200);
      clock.advance(334);
      expect((await t.get({ actionType: 'count' }, limited.key)).statusCode).toBe(200);
      expect((await t.get({ actionType: 'count' }, limited.key)).statusCode).toBe(429);
    } finally {
      await t.close();
    }
  });

  it('applies to every keyed route, including those declared in plugins (/v1/scrub, /v1/import, /metrics)', async () => {
    const clock = fakeClock();
    const admin = withRate(makeKey('default', ['admin']), 1);
    const t = await makeTestApp({ extraKeys: [admin], app: { rateLimiter: new KeyRateLimiter(clock.now) } });
    try {
      const requests = [
        () => t.app.inject({ method: 'POST', url: '/v1/scrub', headers: { loginId: admin.key, 'content-type': 'text/plain' }, payload: '5039367187\n' }),
        () => t.app.inject({ method: 'POST', url: '/v1/import', headers: { loginId: admin.key, 'content-type': 'text/plain' }, payload: '5039367187\n' }),
        () => t.app.inject({ method: 'GET', url: '/metrics', headers: { loginId: admin.key } }),
      ];
      for (const send of requests) {
        clock.advance(1000);
        expect((await send()).statusCode).toBe(200);
        const refused = await send();
        expect(refused.statusCode).toBe(429);
        expect(refused.headers['retry-after']).toBe('1');
      }
      expect(t.dnc.count()).toBe(1);
    } finally {
      await t.close();
    }
  });

  it('a key without rateLimit gets the default: 1000 pass, the 1001st is refused', { timeout: 30_000 }, async () => {
    const plain = withRate(makeKey('default', ['read']), undefined);
    const t = await makeTestApp({ extraKeys: [plain], app: { rateLimiter: new KeyRateLimiter(fakeClock().now) } });
    try {
      for (let i = 0; i < 5; i++) {
        const response = await t.app.inject({ method: 'GET', url: '/healthz' });
        expect(response.statusCode).toBe(200); // public routes do not count
      }
      let passed = 0;
      for (let i = 0; i < KEY_RATE_LIMIT_PER_SECOND_DEFAULT + 1; i++) {
        if ((await t.get({ actionType: 'count' }, plain.key)).statusCode === 200) passed++;
      }
      expect(passed).toBe(KEY_RATE_LIMIT_PER_SECOND_DEFAULT);
    } finally {
      await t.close();
    }
  });

  it('rateLimit 0 is unlimited; a change to the key record applies on the next request', { timeout: 30_000 }, async () => {
    const clock = fakeClock();
    const key = withRate(makeKey('default', ['read']), 0);
    const t = await makeTestApp({ extraKeys: [key], app: { rateLimiter: new KeyRateLimiter(clock.now) } });
    try {
      for (let i = 0; i < 300; i++) expect((await t.get({ actionType: 'count' }, key.key)).statusCode).toBe(200);
      t.keys.replace([{ ...key.record, rateLimit: 1 }]);
      expect((await t.get({ actionType: 'count' }, key.key)).statusCode).toBe(200);
      expect((await t.get({ actionType: 'count' }, key.key)).statusCode).toBe(429);
    } finally {
      await t.close();
    }
  });
});

describe('failed authentication per client address', () => {
  const options = (clock: ReturnType<typeof fakeClock>) => ({
    rateLimiter: new KeyRateLimiter(clock.now),
    authThrottle: new AuthThrottle({ burst: 3, perSecond: 1, blockMsMin: 1000, blockMsMax: 8000, now: clock.now }),
  });
  const from = (address: string, key: string | null) => ({
    method: 'GET' as const,
    url: `${PDNC}?actionType=count`,
    remoteAddress: address,
    headers: key === null ? {} : { loginId: key },
  });

  it('N failures are 401, failure N+1 is 429 with a Retry-After that doubles while the address keeps failing', async () => {
    const clock = fakeClock();
    const t = await makeTestApp({ app: options(clock) });
    try {
      for (let i = 0; i < 3; i++) expect((await t.app.inject(from('10.0.0.1', i === 1 ? null : 'idnc_wrong'))).statusCode).toBe(401);
      const slowed = await t.app.inject(from('10.0.0.1', 'idnc_wrong'));
      expect(slowed.statusCode).toBe(429);
      expect(body(slowed).code).toBe('RATE_LIMITED');
      expect(slowed.headers['retry-after']).toBe('1');
      expect((await t.app.inject(from('10.0.0.1', 'idnc_wrong'))).headers['retry-after']).toBe('2');
      expect((await t.app.inject(from('10.0.0.1', null))).headers['retry-after']).toBe('4');
      expect((await t.app.inject(from('10.0.0.1', 'idnc_wrong'))).headers['retry-after']).toBe('8');
      expect((await t.app.inject(from('10.0.0.1', 'idnc_wrong'))).headers['retry-after']).toBe('8');
      // Another address is not affected.
      expect((await t.app.inject(from('10.0.0.2', 'idnc_wrong'))).statusCode).toBe(401);
    } finally {
      await t.close();
    }
  });

  it('a valid key from a slowed-down address still works (no lockout of legitimate keys)', async () => {
    const clock = fakeClock();
    const t = await makeTestApp({ app: options(clock) });
    try {
      for (let i = 0; i < 5; i++) await t.app.inject(from('10.0.0.1', 'idnc_wrong'));
      expect((await t.app.inject(from('10.0.0.1', 'idnc_wrong'))).statusCode).toBe(429);
      expect((await t.app.inject(from('10.0.0.1', t.admin))).statusCode).toBe(200);
    } finally {
      await t.close();
    }
  });

  it('an address that stops failing gets its failures back at the refill rate', async () => {
    const clock = fakeClock();
    const t = await makeTestApp({ app: options(clock) });
    try {
      for (let i = 0; i < 3; i++) await t.app.inject(from('10.0.0.1', 'idnc_wrong'));
      expect((await t.app.inject(from('10.0.0.1', 'idnc_wrong'))).statusCode).toBe(429);
      clock.advance(60_000);
      for (let i = 0; i < 3; i++) expect((await t.app.inject(from('10.0.0.1', 'idnc_wrong'))).statusCode).toBe(401);
      expect((await t.app.inject(from('10.0.0.1', 'idnc_wrong'))).statusCode).toBe(429);
    } finally {
      await t.close();
    }
  });

  it('tracks a bounded number of addresses', () => {
    const throttle = new AuthThrottle({ burst: 1, addressesMax: 100, now: fakeClock().now });
    for (let i = 0; i < 1000; i++) throttle.fail(`10.0.${i >> 8}.${i & 255}`);
    expect(throttle.trackedAddresses).toBe(100);
  });
});
