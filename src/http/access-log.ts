// The per-request log line ("request completed": method, path without the query string, client
// address, status, time; reqId from the request's logger). Successful requests are logged only when
// the operator asks for an access log (`idnc serve --access-log`, IDNC_ACCESS_LOG=1) or runs at
// debug: at info one line costs about 10 µs, a quarter of a status request's server time, and at a
// dialer fleet's 10,000 requests per second it fills a disk. Errors (4xx, 5xx) and slow requests
// are always logged at info, so refusals and trouble stay visible with the default settings.
//
// The app logs through its own logger, not Fastify's: a Fastify logger gives every request a child
// logger and makes every response attach and remove 'finish'/'error' listeners (as does any
// onResponse hook), a few µs per request on the hot path. So the line is written from an onSend
// hook, timed from the app's onRequest hook (request-timing.ts): the time until the answer is handed
// to the socket.

import type { FastifyBaseLogger } from 'fastify';

export interface AccessLogOptions {
  /** Where lines go (its serializers should be the safe ones, log-serializers.ts). */
  readonly logger: FastifyBaseLogger;
  /** Log every request at info (else successful, fast ones only at debug). */
  readonly all: boolean;
  /** A request that took at least this long is logged at info whatever its status. */
  readonly slowMs: number;
  /** Whether the app's logger writes debug lines (decided once: successful requests cost nothing otherwise). */
  readonly debug: boolean;
}

/** What a log line says of a request (the safe serializers keep method, path and address). */
export interface LoggedRequest {
  readonly method: string;
  readonly url: string;
  readonly ip: string | undefined;
}

/** Writes the line of one answered request, if the options want it (the status fast path calls it directly). */
export type ResponseLogger = (reqId: string, request: LoggedRequest, statusCode: number, elapsedMs: number) => void;

export function responseLogger(options: AccessLogOptions): ResponseLogger {
  const { logger, all, slowMs, debug } = options;
  return (reqId, request, statusCode, responseTime) => {
    if (all || statusCode >= 400 || responseTime >= slowMs) {
      logger.info({ reqId, req: request, res: { statusCode }, responseTime }, 'request completed');
    } else if (debug) {
      logger.debug({ reqId, req: request, res: { statusCode }, responseTime }, 'request completed');
    }
  };
}

/** Whether `logger` writes debug lines (pino's isLevelEnabled; else judged from its level name). */
export function writesDebug(logger: FastifyBaseLogger | undefined): boolean {
  if (logger === undefined) return false;
  const isLevelEnabled = (logger as { isLevelEnabled?: (level: string) => boolean }).isLevelEnabled;
  if (typeof isLevelEnabled === 'function') return isLevelEnabled.call(logger, 'debug');
  return logger.level === 'debug' || logger.level === 'trace';
}
