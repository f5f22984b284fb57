// Size limits on the request head: 64 KiB of URL (414) and 16 KiB of headers (431), enforced on the
// parsed request, every header counted (the server keeps them all: Node would drop those past its
// maxHeadersCount). Node counts the request line against its own header limit, which is set higher
// (twice both limits) so that these exact checks decide in the normal range; only a head beyond
// Node's limit reaches the client error handler, which sees only the chunk Node was parsing: it
// answers 414 when that chunk shows the URL overflowing, else 431, naming both limits when the chunk
// is the middle of one long token (a URL and a header value look alike there). Never a 414 for a
// header; either way a 4xx JSON error, never a 5xx.

import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { HTTP_CLIENT_ERROR_LINGER_MS } from '../constants.js';
import { HttpError, REPLY_STATUS, type HttpErrorCode } from './error-replies.js';

export interface HeadLimits {
  readonly urlBytesMax: number;
  readonly headersBytesMax: number;
}

/**
 * Throws URL_TOO_LONG / HEADERS_TOO_LARGE, or BAD_REQUEST for HTTP/1.1 without Host and for a GET or
 * HEAD with a body (the app's onRequest hook, and the status fast path before it answers).
 */
export function checkRequestHead(request: IncomingMessage, limits: HeadLimits): void {
  const url = request.url ?? '';
  const headers = request.headers;
  if (headers.host === undefined && request.httpVersion === '1.1') {
    throw new HttpError('BAD_REQUEST', 'malformed request: HTTP/1.1 requires a Host header');
  }
  if ((request.method === 'GET' || request.method === 'HEAD') && hasBody(headers)) {
    throw new HttpError('BAD_REQUEST', `a ${request.method} request may not carry a body: send the fields in the query string, or POST them`);
  }
  if (url.length > limits.urlBytesMax) {
    throw new HttpError('URL_TOO_LONG', `the URL has ${url.length} bytes, at most ${limits.urlBytesMax} are accepted; POST long lists in the body`);
  }
  const raw = request.rawHeaders;
  let bytes = 0;
  for (let i = 0; i < raw.length; i++) bytes += raw[i]!.length + 2;
  if (bytes > limits.headersBytesMax) {
    throw new HttpError('HEADERS_TOO_LARGE', `the request headers have about ${bytes} bytes, at most ${limits.headersBytesMax} are accepted`);
  }
}

/**
 * Whether the head announces a body. Only POST reads one: a body on GET would be a second, silent
 * source of fields (and a request-smuggling vector behind proxies that ignore it), so it is refused.
 */
export function hasBody(headers: IncomingHttpHeaders): boolean {
  const length = headers['content-length'];
  return headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0' && Number(length) !== 0);
}

const CHAR_LF = 10;
const CHAR_SPACE = 32;
const REQUEST_LINE_START = /^[A-Z]{3,10} /;

/**
 * Which part of the head made Node's parser overflow, judged from the chunk it was parsing
 * (`rawPacket`) and where in it the error arose (`bytesParsed`): 'unknown' inside one long token
 * begun in an earlier chunk with no space (a URL, or a header value).
 */
export function overflowPart(packet: Buffer | undefined, bytesParsed: number | undefined, urlBytesMax: number): 'url' | 'headers' | 'unknown' {
  if (packet === undefined || packet.length === 0) return 'headers';
  const at = Math.min(Math.max(bytesParsed ?? packet.length, 0), packet.length);
  if (packet.toString('latin1', at, at + 6) === ' HTTP/') return 'url';
  const head = packet.toString('latin1', 0, Math.min(packet.length, 16));
  const firstLf = packet.indexOf(CHAR_LF);
  if (firstLf !== -1 && firstLf < at) {
    return REQUEST_LINE_START.test(head) && firstLf > urlBytesMax ? 'url' : 'headers';
  }
  if (REQUEST_LINE_START.test(head)) return 'url';
  // A URL has no raw spaces, a header value may; without one the two cannot be told apart here.
  return packet.subarray(0, at).includes(CHAR_SPACE) ? 'headers' : 'unknown';
}

function rawErrorResponse(code: HttpErrorCode, message: string): string {
  const body = JSON.stringify({ error: message, code });
  const status = REPLY_STATUS[code];
  return (
    `HTTP/1.1 ${status} ${REASONS[status] ?? 'Bad Request'}\r\n` +
    `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
    `Connection: close\r\n\r\n${body}`
  );
}

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  408: 'Request Timeout',
  414: 'URI Too Long',
  431: 'Request Header Fields Too Large',
};

interface ClientError extends Error {
  code?: string;
  rawPacket?: Buffer;
  bytesParsed?: number;
}

function overflowResponse(part: 'url' | 'headers' | 'unknown', limits: HeadLimits): string {
  if (part === 'url') return rawErrorResponse('URL_TOO_LONG', `the URL is longer than ${limits.urlBytesMax} bytes; POST long lists in the body`);
  if (part === 'headers') return rawErrorResponse('HEADERS_TOO_LARGE', `the request headers are larger than ${limits.headersBytesMax} bytes`);
  return rawErrorResponse(
    'HEADERS_TOO_LARGE',
    `the request head is too large: at most ${limits.headersBytesMax} bytes of headers and ${limits.urlBytesMax} of URL are accepted (POST long lists in the body)`,
  );
}

/** Replaces Fastify's clientErrorHandler: errors before a request exists (bad head, timeout). */
export function makeClientErrorHandler(limits: HeadLimits): (error: Error, socket: Socket) => void {
  return (clientError, socket) => {
    const error = clientError as ClientError;
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    let response: string;
    if (error.code === 'HPE_HEADER_OVERFLOW') {
      response = overflowResponse(overflowPart(error.rawPacket, error.bytesParsed, limits.urlBytesMax), limits);
    } else if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      response = rawErrorResponse('REQUEST_TIMEOUT', 'the request was not received in time');
    } else {
      response = rawErrorResponse('BAD_REQUEST', 'malformed HTTP request');
    }
    // End (not destroy) so the client reads the answer before the close; a client still
    // sending is cut off shortly after.
    if (socket.writable) socket.end(response);
    setTimeout(() => socket.destroy(), HTTP_CLIENT_ERROR_LINGER_MS).unref();
  };
}
