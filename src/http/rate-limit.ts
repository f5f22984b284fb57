// Per-API-key rate limiting: one token bucket per key id, holding one second's worth of requests
// (the key's `rateLimit`, requests per second; 0 = unlimited) and refilling continuously. A small
// in-process bucket rather than @fastify/rate-limit: the limit comes from the key record (which a
// running server reloads from keys.json), the check runs after authentication in the same hook,
// costs one Map lookup and a few float operations per request, and the clock can be injected so
// tests decide exactly at the boundary (N allowed, N+1 refused) without sleeping.
// With `idnc serve --workers N` the buckets live in the primary process and each worker takes
// tokens from them in small batches (src/cli/cluster-limits.ts), behind the same KeyLimiter shape.

/** Milliseconds from an arbitrary origin; must never go backwards. */
export type Clock = () => number;

export const monotonicClock: Clock = () => performance.now();

/** What the request guard and the status fast path take a key's tokens from. */
export interface KeyLimiter {
  /**
   * Takes a token if one is at hand, never waiting: 0 = go ahead, else > 0 (the milliseconds until
   * one would be, as far as this process knows). Nothing is taken when it refuses.
   */
  take(keyId: string, perSecond: number): number;
  /**
   * Present where `take` can refuse only because no token is at hand in this process (a worker
   * whose tokens are spent): asks the owner of the bucket, and resolves as `take` returns. Never rejects.
   */
  readonly acquire?: (keyId: string, perSecond: number) => Promise<number>;
}

/** Tokens taken at once from a bucket; `waitMs` > 0 when it ran out first (the wait for the next one). */
export interface TakenTokens {
  readonly tokens: number;
  readonly waitMs: number;
}

interface Bucket {
  tokens: number;
  atMs: number;
  perSecond: number;
}

export class KeyRateLimiter implements KeyLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(private readonly now: Clock = monotonicClock) {}

  /**
   * Takes one request from the bucket of `keyId` whose limit is `perSecond` (0 = unlimited).
   * Returns 0 when the request may go ahead, else the milliseconds until one would be allowed.
   */
  take(keyId: string, perSecond: number): number {
    if (perSecond <= 0) return 0;
    const now = this.now();
    let bucket = this.buckets.get(keyId);
    if (bucket === undefined) {
      bucket = { tokens: perSecond, atMs: now, perSecond };
      this.buckets.set(keyId, bucket);
    } else {
      // A changed limit (keys.json edited) applies at once, without a burst above the new one.
      if (bucket.perSecond !== perSecond) bucket.perSecond = perSecond;
      const elapsedMs = now - bucket.atMs;
      if (elapsedMs > 0) bucket.tokens = Math.min(perSecond, bucket.tokens + (elapsedMs * perSecond) / 1000);
      else bucket.tokens = Math.min(perSecond, bucket.tokens);
      bucket.atMs = now;
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - bucket.tokens) * 1000) / perSecond);
  }

  /** Takes as many of `wanted` tokens as the bucket of `keyId` holds (a worker's batch, at the primary). */
  takeUpTo(keyId: string, perSecond: number, wanted: number): TakenTokens {
    const waitMs = this.take(keyId, perSecond);
    if (waitMs > 0) return { tokens: 0, waitMs };
    if (perSecond <= 0) return { tokens: wanted, waitMs: 0 };
    const bucket = this.buckets.get(keyId)!;
    const more = Math.min(wanted - 1, Math.floor(bucket.tokens));
    bucket.tokens -= more;
    if (more === wanted - 1) return { tokens: wanted, waitMs: 0 };
    return { tokens: 1 + more, waitMs: Math.ceil(((1 - bucket.tokens) * 1000) / perSecond) };
  }

  /** Keys with a bucket (bounded by the keys ever authenticated). */
  get size(): number {
    return this.buckets.size;
  }
}

/** `Retry-After` in whole seconds (at least 1) for a wait in milliseconds. */
export function retryAfterSeconds(waitMs: number): number {
  return Math.max(1, Math.ceil(waitMs / 1000));
}
