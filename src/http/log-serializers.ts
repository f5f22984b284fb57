// What the server writes about a request: method, path without the query string, client address,
// status. Phone numbers travel in the query string and body, keys in the loginId header, so none of
// those are ever handed to the logger; and what may carry one anyway (a path a client typed a number
// or a key into, an error message, a stack) is percent-decoded (as often as escapes nest), then
// masked: any run of 7 digits, 10 digits with up to 3 separators between them ("(503) 936-7187"),
// anything starting `idnc_` in any case, and any run of 32 key characters (a secret alone).

import type { FastifyBaseLogger } from 'fastify';
import { LOG_PERCENT_DECODE_ROUNDS_MAX } from '../constants.js';

const DIGIT_RUN = /\p{Nd}{7,}/gu;
const SEPARATED_DIGITS = /\p{Nd}(?:[^\p{L}\p{N}]{0,3}\p{Nd}){9,}/gu;
const KEY_SHAPED = /idnc_[A-Za-z0-9_-]*/gi;
const SECRET_SHAPED = /[A-Za-z0-9_-]{32,}/g;
const ESCAPE_RUN = /(?:%[0-9A-Fa-f]{2})+/g;
const ESCAPE = /%([0-9A-Fa-f]{2})/g;

/** One round of percent-decoding; a run of escapes that is not UTF-8 keeps its non-ASCII bytes escaped. */
function decodeOnce(text: string): string {
  return text.replace(ESCAPE_RUN, (run) => {
    try {
      return decodeURIComponent(run);
    } catch {
      return run.replace(ESCAPE, (escape, hex: string) => (parseInt(hex, 16) < 0x80 ? String.fromCharCode(parseInt(hex, 16)) : escape));
    }
  });
}

function percentDecoded(text: string): string {
  for (let round = 0; round < LOG_PERCENT_DECODE_ROUNDS_MAX && text.includes('%'); round++) {
    const decoded = decodeOnce(text);
    if (decoded === text) break;
    text = decoded;
  }
  return text;
}

const KEY_OR_SECRET = /idnc_|[A-Za-z0-9_-]{32,}/i;

/** Whether `text` (as it is, not decoded) holds something redact would mask as a key. */
export function looksLikeKey(text: string): boolean {
  return KEY_OR_SECRET.test(text);
}

/** Masks anything that may be a phone number or an API key, in the text percent-decoded. */
export function redact(text: string): string {
  return percentDecoded(text)
    .replace(KEY_SHAPED, 'idnc_<key>')
    .replace(SECRET_SHAPED, '<secret>')
    .replace(SEPARATED_DIGITS, '<digits>')
    .replace(DIGIT_RUN, '<digits>');
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
