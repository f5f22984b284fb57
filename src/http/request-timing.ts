// When a request started, for the metrics histograms and the access log's responseTime. Fastify's
// own `reply.elapsedTime` is only kept when a logger or an onResponse hook makes it attach response
// listeners (see access-log.ts), so the app stamps the start itself in its onRequest hook.

import { performance } from 'node:perf_hooks';
import type { FastifyInstance, FastifyRequest } from 'fastify';

declare module 'fastify' {
  interface FastifyRequest {
    /** performance.now() when the app's onRequest hook saw the request. */
    idncStartedMs: number;
  }
}

export function decorateRequestTiming(app: FastifyInstance): void {
  app.decorateRequest('idncStartedMs', 0);
}

export function markRequestStart(request: FastifyRequest): void {
  request.idncStartedMs = performance.now();
}

/** Milliseconds since the request's start was marked. */
export function elapsedMs(request: FastifyRequest): number {
  return performance.now() - request.idncStartedMs;
}
