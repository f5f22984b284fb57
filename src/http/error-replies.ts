// Maps everything that can go wrong in a request to the documented error body
// `{"error": message, "code": CODE}` (+ `"invalid"` for INVALID_PHONE): our typed errors keep their
// code and message; Fastify's own client errors get a code from the catalogue; anything else is a
// bug and becomes a 500 that says nothing about internals (the details go to the log, masked).

import type { FastifyBaseLogger, FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ERROR_CATALOGUE, IdncError, InvalidPhoneError, type ErrorCode } from '../errors.js';

export interface ErrorBody {
  error: string;
  code: ErrorCode;
  invalid?: string[];
}

const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'BAD_REQUEST',
  FST_ERR_CTP_INVALID_JSON_BODY: 'BAD_REQUEST',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'BAD_REQUEST',
  FST_ERR_BAD_URL: 'BAD_REQUEST',
};

const FASTIFY_MESSAGES: Partial<Record<ErrorCode, string>> = {
  BODY_TOO_LARGE: 'the request body is larger than this server accepts',
  UNSUPPORTED_MEDIA_TYPE: 'the body must be application/x-www-form-urlencoded or application/json',
};

export function errorBody(error: unknown): ErrorBody {
  if (error instanceof InvalidPhoneError) {
    return { error: error.message, code: error.code, invalid: error.invalid.map((entry) => entry.entry) };
  }
  if (error instanceof IdncError) return { error: error.message, code: error.code };
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
    .code(ERROR_CATALOGUE[body.code].statusCode)
    .type('application/json; charset=utf-8')
    .send(JSON.stringify(body));
}

export type ErrorHandler = (error: unknown, request: FastifyRequest, reply: FastifyReply) => FastifyReply;

/**
 * The Fastify error handler (also used for framework errors such as a malformed URL); unexpected
 * errors are logged to `logger` (absent: not logged) with the request's id.
 */
export function errorHandler(logger: FastifyBaseLogger | undefined): ErrorHandler {
  return (error, request, reply) => {
    const body = errorBody(error);
    if (body.code === 'INTERNAL') logger?.error({ reqId: request.id, err: error }, 'request failed with an unexpected error');
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
