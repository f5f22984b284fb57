// The one place where a request's API key is checked, before its body is read: an onRequest hook
// attached (by an onRoute hook, so nothing is looked up per request) to every route not marked
// `config: { public: true }` (health, OpenAPI); it runs after the app-wide head checks. It slows
// down addresses that keep failing (auth-throttle.ts) and applies the key's rate limit
// (rate-limit.ts). The authenticated record is left on `request.idncKey` for the route, which then
// only authorises. Unknown routes (404) are not authenticated: they answer NOT_FOUND either way.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { rateLimitOf, type KeyRecord } from '../keys/key-records.js';
import type { KeyStore } from '../keys/key-store.js';
import { authenticate } from './auth.js';
import { AuthThrottle, type FailureThrottle } from './auth-throttle.js';
import { sendError } from './error-replies.js';
import { KeyRateLimiter, retryAfterSeconds, type KeyLimiter } from './rate-limit.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The API key record of this request, set by the request guard (null on public routes). */
    idncKey: KeyRecord | null;
  }
  interface FastifyContextConfig {
    /** A route that needs no API key (health check, OpenAPI document). */
    public?: boolean;
  }
}

export interface RequestGuardOptions {
  readonly keys: Pick<KeyStore, 'authenticate'>;
  readonly limiter?: KeyLimiter;
  readonly throttle?: FailureThrottle;
}

function refuse(reply: FastifyReply, waitMs: number, message: string): void {
  const seconds = retryAfterSeconds(waitMs);
  reply.header('retry-after', seconds);
  sendError(reply, { error: `${message}; retry after ${seconds} s`, code: 'RATE_LIMITED' });
}

function failed(reply: FastifyReply, waitMs: number, error: Error, done: (error?: Error) => void): void {
  if (waitMs > 0) refuse(reply, waitMs, 'too many failed authentications from this address');
  else done(error);
}

function admit(request: FastifyRequest, reply: FastifyReply, key: KeyRecord, waitMs: number, done: (error?: Error) => void): void {
  if (waitMs > 0) {
    refuse(reply, waitMs, `this API key is limited to ${rateLimitOf(key)} requests per second`);
    return;
  }
  request.idncKey = key;
  done();
}

export function registerRequestGuard(app: FastifyInstance, options: RequestGuardOptions): void {
  const limiter: KeyLimiter = options.limiter ?? new KeyRateLimiter();
  const throttle: FailureThrottle = options.throttle ?? new AuthThrottle();
  app.decorateRequest('idncKey', null);
  const guard = (request: FastifyRequest, reply: FastifyReply, done: (error?: Error) => void): void => {
    let key: KeyRecord;
    try {
      key = authenticate(request.headers, options.keys);
    } catch (error) {
      const waitMs = throttle.fail(request.ip);
      if (typeof waitMs === 'number') failed(reply, waitMs, error as Error, done);
      else void waitMs.then((later) => failed(reply, later, error as Error, done));
      return;
    }
    const waitMs = limiter.take(key.id, rateLimitOf(key));
    if (waitMs > 0) {
      // A worker out of tokens asks the primary: only then does a request wait.
      if (limiter.acquire === undefined) admit(request, reply, key, waitMs, done);
      else void limiter.acquire(key.id, rateLimitOf(key)).then((later) => admit(request, reply, key, later, done));
      return;
    }
    request.idncKey = key;
    done();
  };
  app.addHook('onRoute', (route) => {
    if (route.config?.public === true) return;
    const own = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest];
    route.onRequest = [guard, ...own] as typeof route.onRequest;
  });
}
