// The per-request logger (`request.log`), made only when something is logged. Fastify gives every
// request a pino child bound to its reqId; making one costs about 1-2 µs (pino copies the
// serializers and renders the bindings), on every request, although with the access log off a
// successful request logs nothing. This stand-in holds the parent and the bindings, and creates the
// real child on the first log call, so every line still carries its reqId.

import type { FastifyBaseLogger, FastifyLogFn } from 'fastify';
import type { Bindings, ChildLoggerOptions } from 'pino';

type LevelName = 'info' | 'error' | 'debug' | 'fatal' | 'warn' | 'trace' | 'silent';

class RequestLogger implements FastifyBaseLogger {
  private made: FastifyBaseLogger | undefined = undefined;
  declare info: FastifyLogFn;
  declare error: FastifyLogFn;
  declare debug: FastifyLogFn;
  declare fatal: FastifyLogFn;
  declare warn: FastifyLogFn;
  declare trace: FastifyLogFn;
  declare silent: FastifyLogFn;

  constructor(
    private readonly parent: FastifyBaseLogger,
    private readonly bindings: Bindings,
    private readonly options: ChildLoggerOptions,
  ) {}

  /** The real child logger, created on first use. */
  get logger(): FastifyBaseLogger {
    if (this.made === undefined) this.made = this.parent.child(this.bindings, this.options);
    return this.made;
  }

  get level(): string {
    return this.made?.level ?? this.options.level ?? this.parent.level;
  }

  set level(level: string) {
    this.logger.level = level;
  }

  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.logger.child(bindings, options);
  }
}

function forward(level: LevelName): FastifyLogFn {
  return function (this: RequestLogger, ...args: unknown[]): void {
    const logger = this.logger;
    (logger[level] as (...values: unknown[]) => void).apply(logger, args);
  } as FastifyLogFn;
}

for (const level of ['info', 'error', 'debug', 'fatal', 'warn', 'trace', 'silent'] as const) {
  RequestLogger.prototype[level] = forward(level);
}

/** Fastify's `childLoggerFactory`: a lazily created child with the request's bindings. */
export function lazyChildLogger(logger: FastifyBaseLogger, bindings: Bindings, options: ChildLoggerOptions): FastifyBaseLogger {
  return new RequestLogger(logger, bindings, options);
}
