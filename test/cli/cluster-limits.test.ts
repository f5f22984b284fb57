// The rate limits of `idnc serve --workers N` in one process, with an injected clock: workers
// (LeasedKeyLimiter) take tokens from one bucket (the primary's KeyRateLimiter) through an
// asynchronous source, as over the IPC channel. Together they pass at most what the bucket allows
// plus what they hold ahead, a steady rate below the limit never waits for the primary, and the
// request guard answers the same through a worker's limiter and throttle as through its own.
// The cluster itself, through the built CLI: serve-cluster.test.ts.

import { describe, expect, it } from 'vitest';
import { AUTH_FAILURES_BURST, CLUSTER_RATE_LEASE_FRACTION } from '../../src/constants.js';
import { LeasedKeyLimiter, workerLimits, type TokenSource } from '../../src/cli/cluster-limits.js';
import { AuthThrottle } from '../../src/http/auth-throttle.js';
import { KeyRateLimiter } from '../../src/http/rate-limit.js';
import { makeKey, makeTestApp, PDNC } from '../http/helpers.js';

function fakeClock(): { now: () => number; advance(ms: number): void } {
  let ms = 1_000_000;
  return { now: () => ms, advance: (by) => void (ms += by) };
}

/** The primary's bucket behind an asynchronous answer, counting the questions. */
function primaryOf(buckets: KeyRateLimiter): { source: TokenSource; asked: () => number } {
  let asked = 0;
  const source: TokenSource = async (keyId, perSecond, wanted) => {
    asked++;
    await Promise.resolve();
    return buckets.takeUpTo(keyId, perSecond, wanted);
  };
  return { source, asked: () => asked };
}

/** One request as a worker handles it: the fast path's synchronous take, else the guard's acquire. */
async function admitted(limiter: LeasedKeyLimiter, perSecond: number): Promise<{ passed: boolean; waited: boolean }> {
  if (limiter.take('k', perSecond) === 0) return { passed: true, waited: false };
  return { passed: (await limiter.acquire('k', perSecond)) === 0, waited: true };
}

describe('KeyRateLimiter.takeUpTo (the primary answering a worker)', () => {
  it('takes what is wanted while the bucket holds it, then what is left with the wait for the next token', () => {
    const clock = fakeClock();
    const buckets = new KeyRateLimiter(clock.now);
    expect(buckets.takeUpTo('k', 10, 4)).toEqual({ tokens: 4, waitMs: 0 });
    expect(buckets.takeUpTo('k', 10, 4)).toEqual({ tokens: 4, waitMs: 0 });
    expect(buckets.takeUpTo('k', 10, 4)).toEqual({ tokens: 2, waitMs: 100 });
    expect(buckets.takeUpTo('k', 10, 4)).toEqual({ tokens: 0, waitMs: 100 });
    clock.advance(250);
    expect(buckets.takeUpTo('k', 10, 4)).toEqual({ tokens: 2, waitMs: 50 });
    expect(buckets.takeUpTo('u', 0, 7)).toEqual({ tokens: 7, waitMs: 0 });
  });
});

describe('LeasedKeyLimiter (a worker of --workers N)', () => {
  it('two workers pass at most the bucket plus what they hold ahead, and within 10 % of the full rate', async () => {
    const clock = fakeClock();
    const buckets = new KeyRateLimiter(clock.now);
    const { source } = primaryOf(buckets);
    const workers = [new LeasedKeyLimiter(source, 2, clock.now), new LeasedKeyLimiter(source, 2, clock.now)];
    const perSecond = 1000;
    const seconds = 2;
    let passed = 0;
    // 4,000 requests a second offered, alternating between the workers.
    for (let ms = 0; ms < seconds * 1000; ms++) {
      for (let i = 0; i < 4; i++) if ((await admitted(workers[i % 2]!, perSecond)).passed) passed++;
      clock.advance(1);
    }
    const bucketAllows = perSecond + perSecond * seconds;
    expect(passed).toBeLessThanOrEqual(bucketAllows + perSecond * CLUSTER_RATE_LEASE_FRACTION);
    expect(passed).toBeGreaterThanOrEqual(bucketAllows * 0.9);
  });

  it('a steady rate below the limit is served from the stock: no request waits for the primary', async () => {
    const clock = fakeClock();
    const { source, asked } = primaryOf(new KeyRateLimiter(clock.now));
    const worker = new LeasedKeyLimiter(source, 2, clock.now);
    const results = [];
    // 500 requests a second for 2 s on one worker, the key limited to 1,000.
    for (let i = 0; i < 1000; i++) {
      results.push(await admitted(worker, 1000));
      clock.advance(2);
    }
    expect(results.every((result) => result.passed)).toBe(true);
    expect(results.filter((result) => result.waited)).toHaveLength(1); // the first, before any stock
    // One question per dozen requests, not one per request (25 held ahead, more asked for at half).
    expect(asked()).toBeLessThanOrEqual(1000 / 12 + 1);
  });

  it('below 40/s with 2 workers nothing is held ahead: requests waiting together get exactly the bucket', async () => {
    const clock = fakeClock();
    const { source, asked } = primaryOf(new KeyRateLimiter(clock.now));
    const workers = [new LeasedKeyLimiter(source, 2, clock.now), new LeasedKeyLimiter(source, 2, clock.now)];
    const answers = await Promise.all(Array.from({ length: 25 }, (_, i) => workers[i % 2]!.acquire('k', 20)));
    expect(answers.filter((waitMs) => waitMs === 0)).toHaveLength(20);
    expect(answers.filter((waitMs) => waitMs > 0).every((waitMs) => waitMs === 50)).toBe(true);
    // Once told the bucket is empty, a worker asks no more before it has a token again.
    for (const worker of workers) expect(await worker.acquire('k', 20)).toBe(50);
    const before = asked();
    for (const worker of workers) {
      expect(worker.take('k', 20)).toBe(50);
      expect(await worker.acquire('k', 20)).toBe(50);
    }
    expect(asked()).toBe(before);
    clock.advance(50);
    expect(await workers[1]!.acquire('k', 20)).toBe(0);
    expect(await workers[0]!.acquire('k', 20)).toBeGreaterThan(0);
  });

  it('a lowered limit applies at once: the stock held at the old one is not spent', async () => {
    const clock = fakeClock();
    const { source } = primaryOf(new KeyRateLimiter(clock.now));
    const worker = new LeasedKeyLimiter(source, 2, clock.now);
    expect((await admitted(worker, 1000)).passed).toBe(true);
    expect(worker.take('k', 1000)).toBe(0); // from the stock
    let passed = 0;
    for (let i = 0; i < 10; i++) if ((await admitted(worker, 2)).passed) passed++;
    expect(passed).toBe(2);
  });

  it('an unlimited key never asks', () => {
    const { source, asked } = primaryOf(new KeyRateLimiter());
    const worker = new LeasedKeyLimiter(source, 2);
    for (let i = 0; i < 10_000; i++) expect(worker.take('k', 0)).toBe(0);
    expect(asked()).toBe(0);
  });
});

describe('a worker whose primary is gone', () => {
  it('limits on its own rather than passing everything or hanging', async () => {
    const limits = workerLimits(() => Promise.reject(new Error('the primary is gone')), 2);
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(limits.rateLimiter.take('k', 3) === 0 ? 0 : await limits.rateLimiter.acquire!('k', 3));
    expect(answers.map((waitMs) => waitMs === 0)).toEqual([true, true, true, false]);
    const failures = [];
    for (let i = 0; i <= AUTH_FAILURES_BURST; i++) failures.push(await limits.authThrottle.fail('10.0.0.1'));
    expect(failures.filter((waitMs) => waitMs === 0)).toHaveLength(AUTH_FAILURES_BURST);
    expect(failures.at(-1)).toBeGreaterThan(0);
  });
});

describe('the request guard with a worker limiter and throttle (answers that come later)', () => {
  it('N requests pass, N+1 is 429 with Retry-After; failed authentications are 401 then 429', async () => {
    const clock = fakeClock();
    const { source } = primaryOf(new KeyRateLimiter(clock.now));
    const throttle = new AuthThrottle({ burst: 3, now: clock.now });
    const limited = makeKey('default', ['read']);
    const key = { key: limited.key, record: { ...limited.record, rateLimit: 3 } };
    const t = await makeTestApp({
      extraKeys: [key],
      app: { rateLimiter: new LeasedKeyLimiter(source, 2, clock.now), authThrottle: { fail: async (address) => throttle.fail(address) } },
    });
    try {
      for (let i = 0; i < 3; i++) expect((await t.get({ actionType: 'count' }, key.key)).statusCode).toBe(200);
      const refused = await t.get({ actionType: 'count' }, key.key);
      expect(refused.statusCode).toBe(429);
      expect(refused.headers['retry-after']).toBe('1');
      expect(JSON.parse(refused.body).error).toMatch(/3 requests per second/);
      clock.advance(334);
      expect((await t.get({ actionType: 'count' }, key.key)).statusCode).toBe(200);
      const wrong = { method: 'GET' as const, url: `${PDNC}?actionType=count`, headers: { loginId: 'idnc_wrong' } };
      const statuses = [];
      for (let i = 0; i < 5; i++) statuses.push((await t.app.inject(wrong)).statusCode);
      expect(statuses).toEqual([401, 401, 401, 429, 429]);
    } finally {
      await t.close();
    }
  });
});
