// The per-request log line ("request completed": method, path without the query string, client
// address, status, time; reqId from the request's logger). Successful requests are logged only when
// the operator asks for an access log (`idnc serve --access-log`, IDNC_ACCESS_LOG=1) or runs at
// debug: at info one line costs about 10 µs, a quarter of a status request's server time, and at a
// dialer fleet's 10,000 requests per second it fills a disk. Errors (4xx, 5xx) and slow requests
// are always logged at info, so refusals and trouble stay visible with the default settings.

import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify';

export interface AccessLogOptions {
  /** Log every request at info (else successful, fast ones only at debug). */
  readonly all: boolean;
  /** A request that took at least this long is logged at info whatever its status. */
  readonly slowMs: number;
  /** Whether the app's logger writes debug lines (decided once: successful requests cost nothing otherwise). */
  readonly debug: boolean;
}

export type OnResponse = (request: FastifyRequest, reply: FastifyReply) => void;

export function accessLogger(options: AccessLogOptions): OnResponse {
  const { all, slowMs, debug } = options;
  return (request, reply) => {
    const responseTime = reply.elapsedTime;
    if (all || reply.statusCode >= 400 || responseTime >= slowMs) {
      request.log.info({ req: request, res: reply, responseTime }, 'request completed');
    } else if (debug) {
      request.log.debug({ req: request, res: reply, responseTime }, 'request completed');
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
