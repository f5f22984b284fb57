// Maps everything that can go wrong in a request to the documented error body
// `{"error": message, "code": CODE}` (+ `"invalid"` for INVALID_PHONE): our typed errors keep their
// code and message; Fastify's own client errors get a code from the catalogue; anything else is a
// bug and becomes a 500 that says nothing about internals (the details go to the log, masked).
// Statuses live here, not in the library: the library's codes mean the same without HTTP, and the
// codes of requests (keys, routes, sizes) are raised only by this layer.

import type { FastifyBaseLogger, FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { IdncError, InvalidPhoneError, type ErrorCode } from '../errors.js';

/** The codes only the HTTP layer raises (the library never throws them). */
export const HTTP_ERROR_CATALOGUE = {
  MISSING_API_KEY: { summary: 'the loginId header with an API key is missing' },
  INVALID_API_KEY: { summary: 'the API key is unknown, revoked or malformed' },
  FORBIDDEN: { summary: 'the API key may not do this' },
  MISSING_INPUT: { summary: 'a required parameter is missing' },
  INVALID_ACTION: { summary: 'actionType is not add, remove, count or status' },
  TOO_MANY_NUMBERS: { summary: 'the request carries more numbers than allowed' },
  RATE_LIMITED: { summary: 'too many requests for this API key' },
  BAD_REQUEST: { summary: 'the request is malformed (body not valid JSON, bad encoding)' },
  NOT_FOUND: { summary: 'no such route' },
  REQUEST_TIMEOUT: { summary: 'the request was not received in time' },
  BODY_TOO_LARGE: { summary: 'the request body is larger than allowed' },
  URL_TOO_LONG: { summary: 'the URL is longer than allowed (64 KiB)' },
  UNSUPPORTED_MEDIA_TYPE: { summary: 'the body is neither form-urlencoded nor JSON' },
  HEADERS_TOO_LARGE: { summary: 'the request headers are larger than allowed' },
  INTERNAL: { summary: 'internal error (details are in the server log, never in the response)' },
} as const;

export type HttpErrorCode = keyof typeof HTTP_ERROR_CATALOGUE;

/** Every code an error reply can carry: the library's and the HTTP layer's own. */
export type ReplyCode = ErrorCode | HttpErrorCode;

/** The HTTP status of every code (the error table of docs/http-api.md); OpenAPI lists codes in this order. */
export const REPLY_STATUS: Readonly<Record<ReplyCode, number>> = {
  MISSING_API_KEY: 401,
  INVALID_API_KEY: 401,
  FORBIDDEN: 403,
  MISSING_INPUT: 400,
  INVALID_ACTION: 400,
  INVALID_PHONE: 400,
  INVALID_PARAMETER: 400,
  TOO_MANY_NUMBERS: 413,
  RATE_LIMITED: 429,
  STORAGE_UNAVAILABLE: 503,
  STORED_NOT_APPLIED: 503,
  READ_ONLY: 403,
  CLOSED: 503,
  WAIT_TIMEOUT: 504,
  DATA_DIR_LOCKED: 409,
  DATA_CORRUPT: 500,
  LIST_NOT_FOUND: 404,
  BAD_REQUEST: 400,
  NOT_FOUND: 404,
  REQUEST_TIMEOUT: 408,
  BODY_TOO_LARGE: 413,
  URL_TOO_LONG: 414,
  UNSUPPORTED_MEDIA_TYPE: 415,
  HEADERS_TOO_LARGE: 431,
  INTERNAL: 500,
  INVALID_HISTORY_FIELD: 400,
  REPLICATION_UNAVAILABLE: 503,
  HISTORY_NOT_KEPT: 503,
  READ_ONLY_REPLICA: 503,
  NOT_LEADER: 503,
};

/** An error a request causes that only the HTTP layer knows of (keys, request shape, sizes). */
export class HttpError extends Error {
  readonly code: HttpErrorCode;

  constructor(code: HttpErrorCode, message: string) {
    super(message);
    this.name = 'HttpError';
    this.code = code;
  }
}

export interface ErrorBody {
  error: string;
  code: ReplyCode;
  invalid?: string[];
}

const FASTIFY_CODES: Record<string, ReplyCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'BAD_REQUEST',
  FST_ERR_CTP_INVALID_JSON_BODY: 'BAD_REQUEST',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'BAD_REQUEST',
  FST_ERR_BAD_URL: 'BAD_REQUEST',
};

const FASTIFY_MESSAGES: Partial<Record<ReplyCode, string>> = {
  BODY_TOO_LARGE: 'the request body is larger than this server accepts',
  UNSUPPORTED_MEDIA_TYPE: 'the body must be application/x-www-form-urlencoded or application/json',
};

export function errorBody(error: unknown): ErrorBody {
  if (error instanceof InvalidPhoneError) {
    return { error: error.message, code: error.code, invalid: error.invalid.map((entry) => entry.entry) };
  }
  if (error instanceof IdncError || error instanceof HttpError) return { error: error.message, code: error.code };
  const fastifyError = error as Partial<FastifyError>;
  const mapped = typeof fastifyError.code === 'string' && Object.hasOwn(FASTIFY_CODES, fastifyError.code) ? FASTIFY_CODES[fastifyError.code] : undefined;
  if (mapped !== undefined) {
    return { error: FASTIFY_MESSAGES[mapped] ?? `malformed request: ${describeClientError(fastifyError)}`, code: mapped };
  }
  if (error instanceof SyntaxError && fastifyError.statusCode === 400) {
    return { error: 'the request body is not valid JSON', code: 'BAD_REQUEST' };
  }
  const status = fastifyError.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return { error: `malformed request: ${describeClientError(fastifyError)}`, code: 'BAD_REQUEST' };
  }
  return { error: 'internal error', code: 'INTERNAL' };
}

function describeClientError(error: Partial<FastifyError>): string {
  return typeof error.code === 'string' ? error.code : 'rejected by the HTTP layer';
}

export function sendError(reply: FastifyReply, body: ErrorBody): FastifyReply {
  return reply
    .code(REPLY_STATUS[body.code])
    .type('application/json; charset=utf-8')
    .send(JSON.stringify(body));
}

/** Names the writer on a change refused by a standby (NOT_LEADER) or a follower (READ_ONLY_REPLICA), when known. */
export const LEADER_HEADER = 'idnc-leader';

/** The refusals that name the writer in `idnc-leader`: this server does not write. */
export function namesWriter(code: ReplyCode): boolean {
  return code === 'NOT_LEADER' || code === 'READ_ONLY_REPLICA';
}

/**
 * Such a refusal that carries the writer's URL itself: relayed from another process whose engine
 * knows it (the writer worker of `idnc serve --workers N`, for a change a follower worker forwarded),
 * where this process's own engine does not.
 */
export class WriterNamedError extends IdncError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly leader: string,
  ) {
    super(code, message);
    this.name = 'WriterNamedError';
  }
}

export type ErrorHandler = (error: unknown, request: FastifyRequest, reply: FastifyReply) => FastifyReply;

/**
 * The Fastify error handler (also used for framework errors such as a malformed URL); unexpected
 * errors are logged to `logger` (absent: not logged) with the request's id. A change refused because
 * this server does not write carries the writer's URL (the error's own, else `leader()`, when known)
 * in `idnc-leader`.
 */
export function errorHandler(logger: FastifyBaseLogger | undefined, leader: () => string | null = () => null): ErrorHandler {
  return (error, request, reply) => {
    const body = errorBody(error);
    if (body.code === 'INTERNAL') logger?.error({ reqId: request.id, err: error }, 'request failed with an unexpected error');
    if (namesWriter(body.code)) {
      const url = error instanceof WriterNamedError ? error.leader : leader();
      if (url !== null) reply.header(LEADER_HEADER, url);
    }
    return sendError(reply, body);
  };
}

export function handleNotFound(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  return sendError(reply, { error: `no route ${request.method} ${routePath(request.url)}`, code: 'NOT_FOUND' });
}

function routePath(url: string): string {
  const query = url.indexOf('?');
  const path = query === -1 ? url : url.slice(0, query);
  return path.length > 100 ? `${path.slice(0, 100)}...` : path;
}
