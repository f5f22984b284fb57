// What the server writes about a request: method, path without the query string, client address,
// status. Phone numbers travel in the query string and body, keys in the loginId header, so none of
// those are ever handed to the logger, and digit runs or key-shaped strings that reach a message or
// a stack (an unexpected error, a number typed into a path) are masked before they are written.

import type { FastifyBaseLogger } from 'fastify';

const DIGIT_RUN = /\d{7,}/g;
const KEY_SHAPED = /idnc_[0-9a-f]+_[A-Za-z0-9_-]+/g;

/** Masks anything that may be a phone number or an API key. */
export function redact(text: string): string {
  return text.replace(KEY_SHAPED, 'idnc_<key>').replace(DIGIT_RUN, '<digits>');
}

/** The path of a URL, without its query string, masked. */
export function pathOf(url: string): string {
  const query = url.indexOf('?');
  return redact(query === -1 ? url : url.slice(0, query));
}

interface LoggedRequest {
  method: string;
  url: string;
  ip?: string;
}

export const safeSerializers = {
  req(request: LoggedRequest): Record<string, unknown> {
    return { method: request.method, path: pathOf(request.url), remoteAddress: request.ip };
  },
  res(reply: { statusCode: number }): Record<string, unknown> {
    return { statusCode: reply.statusCode };
  },
  err(error: unknown): Record<string, unknown> {
    if (!(error instanceof Error)) return { type: typeof error };
    const code = (error as { code?: unknown }).code;
    return {
      type: error.name,
      ...(typeof code === 'string' ? { code } : {}),
      message: redact(error.message),
      stack: redact(error.stack ?? ''),
    };
  },
};

/** A child of the given logger whose serializers are the safe ones (they win over the parent's). */
export function withSafeSerializers(logger: FastifyBaseLogger): FastifyBaseLogger {
  return logger.child({}, { serializers: safeSerializers });
}
