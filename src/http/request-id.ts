// Request ids: every log line of a request carries `reqId`, and the answer echoes it in
// `x-request-id`, so an operator can follow one dialer request through the logs. An incoming
// `x-request-id` (set by a load balancer or the client) is kept only when it is short, of safe
// characters, and cannot carry a phone number or an API key (those are never logged): at most
// REQUEST_ID_DIGITS_MAX digits in all, whatever separates them (503-936-7187), and nothing shaped
// like a key; otherwise the server makes one: a random per-process prefix and a counter, cheaper
// than a UUID per request. An accepted id holds nothing the log would mask (too few digits for a
// number, no key shape), checked without running the log's masks on every request.

import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { REQUEST_ID_CHARS_MAX, REQUEST_ID_DIGITS_MAX } from '../constants.js';
import { looksLikeKey } from './log-serializers.js';

const SAFE_ID = new RegExp(`^[A-Za-z0-9._:-]{1,${REQUEST_ID_CHARS_MAX}}$`);
const CHAR_0 = 48;
const CHAR_9 = 57;

/** The incoming id if it is safe to log, else undefined. */
export function acceptedRequestId(value: unknown): string | undefined {
  if (typeof value !== 'string' || !SAFE_ID.test(value)) return undefined;
  let digits = 0;
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code >= CHAR_0 && code <= CHAR_9 && ++digits > REQUEST_ID_DIGITS_MAX) return undefined;
  }
  return looksLikeKey(value) ? undefined : value;
}

export function makeRequestIdGenerator(): (request: IncomingMessage) => string {
  const prefix = randomBytes(4).toString('hex');
  let counter = 0;
  return (request) => {
    const incoming = request.headers['x-request-id'];
    if (incoming !== undefined) {
      const accepted = acceptedRequestId(incoming);
      if (accepted !== undefined) return accepted;
    }
    counter = (counter + 1) % Number.MAX_SAFE_INTEGER;
    return `${prefix}-${counter.toString(36)}`;
  };
}
