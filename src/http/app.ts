// Builds the Fastify app of `idnc serve` without listening, so tests drive it with `app.inject()`
// and the CLI decides where it listens. Everything the app needs is passed in (engine, keys,
// logger, limits); it reads no environment and owns neither the engine nor the key file.

import http from 'node:http';
import formbody from '@fastify/formbody';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyServerFactory } from 'fastify';
import {
  HTTP_BODY_BYTES_PER_NUMBER,
  HTTP_BODY_BYTES_SLACK,
  HTTP_HEADERS_BYTES_MAX,
  HTTP_SLOW_REQUEST_MS,
  HTTP_URL_BYTES_MAX,
  REQUEST_NUMBERS_MAX,
} from '../constants.js';
import type { Dnc } from '../engine/views.js';
import { replicationHealth } from './replication-health.js';
import type { KeyStore } from '../keys/key-store.js';
import { responseLogger, writesDebug, type ResponseLogger } from './access-log.js';
import type { FailureThrottle } from './auth-throttle.js';
import { errorHandler, handleNotFound } from './error-replies.js';
import { IdncMetrics } from './metrics.js';
import { notFoundObserver, registerMetrics } from './metrics-route.js';
import { registerJsonBody } from './json-body.js';
import { registerOpenApi } from './openapi.js';
import { KeyRateLimiter, type KeyLimiter } from './rate-limit.js';
import { registerRequestGuard } from './request-guard.js';
import { makeRequestIdGenerator } from './request-id.js';
import { applyConnectionLimits, connectionServerOptions, resolveConnectionLimits, type ConnectionLimits, type SocketRequestCounter } from './server-limits.js';
import { withSafeSerializers } from './log-serializers.js';
import { decorateRequestTiming, elapsedMs, markRequestStart } from './request-timing.js';
import { PDNC_PATH, registerPdncRoute } from './pdnc-route.js';
import { registerBulkRoute } from './bulk-route.js';
import { registerListsRoute } from './lists-route.js';
import { registerScrubRoute } from './scrub-route.js';
import { registerHistoryRoute } from './history-route.js';
import { checkRequestHead, hasBody, makeClientErrorHandler } from './request-limits.js';
import { makeStatusFastPath, type StatusFastPath } from './status-fast-path.js';

export interface HttpLimits {
  /** URL (path + query) bytes; beyond: 414. */
  readonly urlBytesMax: number;
  /** Header bytes without the request line; beyond: 431. */
  readonly headersBytesMax: number;
  /** Numbers per request; beyond: TOO_MANY_NUMBERS (413). */
  readonly requestNumbersMax: number;
  /** Body bytes; beyond: BODY_TOO_LARGE (413). Default derived from requestNumbersMax. */
  readonly bodyBytesMax: number;
}

export interface AppOptions {
  readonly dnc: Dnc;
  readonly keys: Pick<KeyStore, 'authenticate'>;
  /** A pino logger (its serializers are replaced by safe ones); absent: no logging. */
  readonly logger?: FastifyBaseLogger;
  readonly limits?: Partial<HttpLimits>;
  /** Timeouts and connection limits (server-limits.ts); defaults from constants.ts. */
  readonly connections?: Partial<ConnectionLimits>;
  /** Metrics registry; absent: the app makes its own, bound to `dnc`. */
  readonly metrics?: IdncMetrics;
  /**
   * The per-key rate limiter and the failed-authentication throttle: test seams (injectable clocks),
   * and a `--workers` worker's, which share the primary's (src/cli/cluster-limits.ts).
   */
  readonly rateLimiter?: KeyLimiter;
  readonly authThrottle?: FailureThrottle;
  /** Entries one POST /v1/scrub stream may carry (default SCRUB_STREAM_NUMBERS_MAX). */
  readonly scrubNumbersMax?: number;
  /** Log every request at info (access-log.ts); default: only errors and slow requests. */
  readonly accessLog?: boolean;
  /** A request taking at least this long is logged even when successful (default HTTP_SLOW_REQUEST_MS). */
  readonly slowRequestMs?: number;
  /** Headers every answer carries (a `--workers` worker's `idnc-worker`), whichever path answers. */
  readonly answerHeaders?: Readonly<Record<string, string>>;
  /**
   * Answer plain `GET` status requests before Fastify's router (status-fast-path.ts; default true).
   * Only requests that arrive over the server's sockets take it: `inject()` always goes through Fastify.
   */
  readonly statusFastPath?: boolean;
  /**
   * Where the API keys come from and whether they are current (key replication through NATS),
   * added to GET /healthz as `keys`; absent: /healthz answers `{"status":"ok"}` alone.
   */
  readonly keysHealth?: () => object;
  /**
   * GET /healthz's body when another process holds the answer (a follower worker of `--workers N`
   * asks the writer worker, so every worker says the same); given this app's own (healthBody).
   * Absent: this app's own.
   */
  readonly health?: (own: () => string) => Promise<string>;
}

/** GET /healthz's body: `keys` and `replication` when this server has them. */
export function healthBody(dnc: Dnc, keysHealth: (() => object) | undefined): string {
  const replication = replicationHealth(dnc);
  if (keysHealth === undefined && replication === null) return '{"status":"ok"}';
  return JSON.stringify({ status: 'ok', ...(keysHealth === undefined ? {} : { keys: keysHealth() }), ...(replication === null ? {} : { replication }) });
}

export function resolveLimits(limits: Partial<HttpLimits> = {}): HttpLimits {
  const requestNumbersMax = limits.requestNumbersMax ?? REQUEST_NUMBERS_MAX;
  return Object.freeze({
    urlBytesMax: limits.urlBytesMax ?? HTTP_URL_BYTES_MAX,
    headersBytesMax: limits.headersBytesMax ?? HTTP_HEADERS_BYTES_MAX,
    requestNumbersMax,
    bodyBytesMax: limits.bodyBytesMax ?? requestNumbersMax * HTTP_BODY_BYTES_PER_NUMBER + HTTP_BODY_BYTES_SLACK,
  });
}

/** What the app-wide hooks share with the status fast path. */
interface AppHookParts {
  readonly countRequest: SocketRequestCounter | null;
  readonly logResponse: ResponseLogger | null;
}

/**
 * The app-wide hooks, one per phase (each hook Fastify runs costs a step of its hook iterator on
 * every request). onRequest: the start time, the request id and answerHeaders headers, the head
 * limits, the requests-per-connection count. onSend: `Connection: close` on a refusal sent before
 * the body was read, the not_found request count and the log line (at most one per request).
 * Per-route parts (key check, request count) are attached by onRoute hooks in request-guard.ts and
 * metrics-route.ts. No onResponse hook: see access-log.ts. The status fast path
 * (status-fast-path.ts) shares the counter and the log line.
 */
function addAppHooks(app: FastifyInstance, options: AppOptions, logger: FastifyBaseLogger | undefined, limits: HttpLimits, metrics: IdncMetrics): AppHookParts {
  const countRequest = applyConnectionLimits(app, resolveConnectionLimits(options.connections));
  const answerHeaders = Object.entries(options.answerHeaders ?? {});
  decorateRequestTiming(app);
  app.addHook('onRequest', (request, reply, done) => {
    markRequestStart(request);
    reply.header('x-request-id', request.id);
    for (let i = 0; i < answerHeaders.length; i++) reply.header(answerHeaders[i]![0], answerHeaders[i]![1]);
    try {
      checkRequestHead(request.raw, limits);
    } catch (error) {
      done(error as Error);
      return;
    }
    if (countRequest !== null && countRequest(request.raw.socket)) reply.header('connection', 'close');
    done();
  });
  const observeNotFound = notFoundObserver(metrics);
  const logResponse = logger === undefined ? null : responseLogger({
    logger,
    all: options.accessLog ?? false,
    slowMs: options.slowRequestMs ?? HTTP_SLOW_REQUEST_MS,
    debug: writesDebug(logger),
  });
  app.addHook('onSend', (request, reply, payload, done) => {
    // A refusal before the body was read (key, scope, rate limit, head checks): close rather than
    // read and discard the rest of a body nobody will use, as Fastify's own 413 does.
    if (reply.statusCode >= 400 && !request.raw.complete && hasBody(request.headers)) reply.header('connection', 'close');
    const elapsed = elapsedMs(request);
    observeNotFound(request, reply, elapsed);
    if (logResponse !== null) logResponse(request.id, request, reply.statusCode, elapsed);
    done(null, payload);
  });
  return { countRequest, logResponse };
}

/** The server settings Fastify resolves from its options and gives the server it makes itself (fastify/lib/server.js). */
interface ResolvedServerSettings {
  readonly keepAliveTimeout: number;
  readonly requestTimeout: number;
  readonly connectionTimeout: number;
  readonly maxRequestsPerSocket?: number;
}

/**
 * A server factory that hands each request to the status fast path first, else to Fastify; the
 * server gets the same settings as the one Fastify would make.
 */
function fastPathServerFactory(httpOptions: http.ServerOptions, fastPath: () => StatusFastPath | null): FastifyServerFactory {
  return (handler, fastifyOptions) => {
    const settings = fastifyOptions as unknown as ResolvedServerSettings;
    const server = http.createServer(httpOptions, (request, response) => {
      const answer = fastPath();
      if (answer === null || !answer(request, response)) handler(request, response);
    });
    server.keepAliveTimeout = settings.keepAliveTimeout;
    server.requestTimeout = settings.requestTimeout;
    server.setTimeout(settings.connectionTimeout);
    if ((settings.maxRequestsPerSocket ?? 0) > 0) server.maxRequestsPerSocket = settings.maxRequestsPerSocket!;
    return server;
  };
}

export function buildApp(options: AppOptions): FastifyInstance {
  const limits = resolveLimits(options.limits);
  // The app's lines go to this logger; Fastify gets none (see access-log.ts).
  const logger = options.logger === undefined ? undefined : withSafeSerializers(options.logger);
  const handleError = errorHandler(logger, () => options.dnc.stats().replication?.leader ?? null);
  const connections = connectionServerOptions(resolveConnectionLimits(options.connections));
  // Node counts the request line against maxHeaderSize: room for both limits, checked exactly below.
  const httpOptions = { maxHeaderSize: 2 * (limits.urlBytesMax + limits.headersBytesMax), ...connections.http };
  const requestId = makeRequestIdGenerator();
  let statusFastPath: StatusFastPath | null = null;
  const app = Fastify({
    ...connections.fastify,
    ...(options.statusFastPath === false ? { http: httpOptions } : { serverFactory: fastPathServerFactory(httpOptions, () => statusFastPath) }),
    bodyLimit: limits.bodyBytesMax,
    clientErrorHandler: makeClientErrorHandler(limits),
    frameworkErrors: (error, request, reply) => handleError(error, request, reply),
    // A HEAD of the pdnc route would run add/remove: no automatic HEAD routes.
    exposeHeadRoutes: false,
    requestIdHeader: false,
    genReqId: requestId,
  });
  registerOpenApi(app);
  // Bodies are form-urlencoded or JSON, nothing else (Fastify would also take text/plain).
  app.removeContentTypeParser('text/plain');
  registerJsonBody(app, limits.bodyBytesMax);
  app.register(formbody, { bodyLimit: limits.bodyBytesMax });
  const metrics = options.metrics ?? new IdncMetrics();
  metrics.bindEngine(options.dnc);
  const { countRequest, logResponse } = addAppHooks(app, options, logger, limits, metrics);
  const limiter = options.rateLimiter ?? new KeyRateLimiter();
  registerRequestGuard(app, {
    keys: options.keys,
    limiter,
    ...(options.authThrottle === undefined ? {} : { throttle: options.authThrottle }),
  });
  app.setErrorHandler(handleError);
  app.setNotFoundHandler(handleNotFound);
  registerMetrics(app, metrics);
  const own = (): string => healthBody(options.dnc, options.keysHealth);
  const relayed = options.health;
  const health = relayed === undefined ? own : () => relayed(own);
  app.get('/healthz', { config: { public: true } }, async (_request, reply) => reply.type('application/json; charset=utf-8').send(await health()));
  registerPdncRoute(app, { dnc: options.dnc, keys: options.keys, requestNumbersMax: limits.requestNumbersMax });
  registerScrubRoute(app, { dnc: options.dnc, keys: options.keys, scrubNumbersMax: options.scrubNumbersMax });
  registerBulkRoute(app, { dnc: options.dnc, keys: options.keys });
  registerListsRoute(app, { dnc: options.dnc, keys: options.keys });
  registerHistoryRoute(app, { dnc: options.dnc, keys: options.keys });
  if (options.statusFastPath !== false) {
    let closing = false;
    // Fastify marks itself closing just before its preClose hooks run; from then on it answers.
    app.addHook('preClose', (done) => {
      closing = true;
      done();
    });
    statusFastPath = makeStatusFastPath({
      dnc: options.dnc,
      keys: options.keys,
      limiter,
      limits,
      requestId,
      countRequest,
      observe: metrics.routeObserver(PDNC_PATH),
      logResponse,
      answerHeaders: options.answerHeaders ?? {},
      closing: () => closing,
    });
  }
  return app;
}
