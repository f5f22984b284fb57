// `GET /metrics` (Prometheus text format; an operator key sees everything, an admin key its lists) and the onSend hook that counts
// and times every request for it (onSend, not onResponse: see access-log.ts). The separate,
// key-less `--metrics-port` listener of `idnc serve` serves the same registry (serveMetricsOnly).

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { KeyRecord } from '../keys/key-records.js';
import { HttpError } from './error-replies.js';
import { actionLabel, EVERYTHING, type IdncMetrics, type MetricsView } from './metrics.js';
import { elapsedMs } from './request-timing.js';

export const METRICS_PATH = '/metrics';

/** Counts the requests that matched no route (route="not_found"), for the app-wide onSend hook. */
export function notFoundObserver(metrics: IdncMetrics): (request: FastifyRequest, reply: FastifyReply, elapsedMs: number) => void {
  const observe = metrics.routeObserver('not_found');
  return (request, reply, elapsedMs) => {
    if (request.is404) observe(request.method, '', reply.statusCode, elapsedMs / 1000);
  };
}

/** Declares GET /metrics and counts every request of every declared route. */
export function registerMetrics(app: FastifyInstance, metrics: IdncMetrics): void {
  // Matched routes get their own onSend hook with the route bound (onRoute), so nothing is
  // looked up per request; notFoundObserver counts what matched no route.
  app.addHook('onRoute', (route) => {
    const observeRoute = metrics.routeObserver(route.url);
    const observe = (request: FastifyRequest, reply: FastifyReply, payload: unknown, done: (error: null, payload: unknown) => void): void => {
      observeRoute(request.method, actionLabel(request), reply.statusCode, elapsedMs(request) / 1000);
      done(null, payload);
    };
    const own = route.onSend === undefined ? [] : Array.isArray(route.onSend) ? route.onSend : [route.onSend];
    route.onSend = [...own, observe] as typeof route.onSend;
  });
  app.get(METRICS_PATH, async (request, reply) => {
    const key = request.idncKey;
    if (key === null) throw new HttpError('FORBIDDEN', 'metrics need an API key with the admin or operator scope');
    return reply.type(metrics.contentType).send(await metrics.text(metricsViewOf(key)));
  });
}

/**
 * What a key sees in /metrics: a server operator everything; an organisation's admin the lists it
 * may read through the API (all of its organisation, or only its projects) and nothing server-wide,
 * since request counts and the log's seq reveal other tenants' activity.
 */
export function metricsViewOf(key: KeyRecord): MetricsView {
  if (key.scopes.includes('operator')) return EVERYTHING;
  if (!key.scopes.includes('admin')) throw new HttpError('FORBIDDEN', 'metrics need an API key with the admin or operator scope');
  return key.projects === undefined ? { serverWide: false, org: key.org } : { serverWide: false, org: key.org, projects: key.projects };
}

/** A key-less listener serving only the metrics (for `--metrics-port`); resolves once listening. */
export async function serveMetricsOnly(metrics: IdncMetrics, host: string, port: number): Promise<http.Server> {
  const server = http.createServer((request, response) => {
    const path = (request.url ?? '').split('?')[0];
    if (request.method !== 'GET' || path !== METRICS_PATH) {
      response.writeHead(404, { 'content-type': 'application/json; charset=utf-8' });
      response.end(JSON.stringify({ error: `only GET ${METRICS_PATH} is served here`, code: 'NOT_FOUND' }));
      return;
    }
    metrics.text().then(
      (text) => {
        response.writeHead(200, { 'content-type': metrics.contentType });
        response.end(text);
      },
      () => {
        response.writeHead(500, { 'content-type': 'application/json; charset=utf-8' });
        response.end(JSON.stringify({ error: 'internal error', code: 'INTERNAL' }));
      },
    );
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

export function portOf(server: http.Server): number {
  return (server.address() as AddressInfo).port;
}
