// The one request a dialer fleet sends thousands of times a second, `GET /app/main/rpc/pdnc` with
// `actionType=status`, answered before Fastify's router when it is well-formed and allowed; every
// other request, and any status request that would get anything but a plain 200, goes to Fastify
// unchanged. Why: Fastify's per-request pipeline (routing, the request and reply objects, the hook
// runners) costs more than the status lookup itself, so no trimming of idnc's own code brought the
// route near a bare Fastify route (docs/design.md, HTTP). Here it does only idnc's own work.
//
// The fast path takes a request only when Fastify would answer it 200 with the same body and
// headers (tested side by side over sockets, test/http/status-fast-path.test.ts): a GET whose
// path is exactly the pdnc path, with no body, a head within the limits, a valid key with the read
// scope for the list, valid parameters (`actionType=status`, `ignoreInvalid` off) and a token left
// in the key's rate limit; and never while the app is closing. The checks that can refuse run
// first and change nothing, and the rate-limit token is taken last: a request that falls through
// is then checked again by Fastify exactly as if the fast path did not exist (an exhausted bucket
// takes no token, so it refuses the same way twice). What the answer carries is Fastify's: the
// request id (same generator), the app's own answer headers (a worker's `idnc-worker`),
// `Connection: close` on a connection's last allowed request (same counter), the metrics series
// and the log line (same functions).

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { parse as parseQueryString } from 'fast-querystring';
import type { Dnc } from '../engine/views.js';
import { rateLimitOf } from '../keys/key-records.js';
import type { KeyStore } from '../keys/key-store.js';
import type { LoggedRequest, ResponseLogger } from './access-log.js';
import { authenticate, authorise } from './auth.js';
import type { RouteObserver } from './metrics.js';
import { readPdncParams } from './pdnc-params.js';
import type { KeyLimiter } from './rate-limit.js';
import { checkRequestHead, type HeadLimits } from './request-limits.js';
import type { SocketRequestCounter } from './server-limits.js';
import { statusJson } from './status-json.js';

/** The path and query delimiter the fast path recognises: the path exactly, then the query string. */
const STATUS_URL_PREFIX = '/app/main/rpc/pdnc?';
const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

export interface StatusFastPathOptions {
  readonly dnc: Dnc;
  readonly keys: Pick<KeyStore, 'authenticate'>;
  /** The same limiter as the request guard's: one bucket per key whichever path answers. */
  readonly limiter: KeyLimiter;
  readonly limits: HeadLimits & { readonly requestNumbersMax: number };
  /** The app's request id generator (ids stay unique across both paths). */
  readonly requestId: (request: IncomingMessage) => string;
  /** The app's requests-per-connection counter, or null when unlimited. */
  readonly countRequest: SocketRequestCounter | null;
  /** The metrics series of the pdnc route. */
  readonly observe: RouteObserver;
  /** The app's response log (errors, slow requests, or every request with the access log), or null. */
  readonly logResponse: ResponseLogger | null;
  /** Headers every answer of the app carries (AppOptions.answerHeaders). */
  readonly answerHeaders: Readonly<Record<string, string>>;
  /** True once the app has begun closing: Fastify answers from then on (503 on kept-alive connections). */
  readonly closing: () => boolean;
}

/**
 * The request as the log line sees it; the client address is read only when a line is written. A
 * class, not an object literal with a getter: such a literal defines its accessor at run time on
 * every request (docs/design.md, HTTP).
 */
class LoggedStatusRequest implements LoggedRequest {
  readonly method = 'GET';
  constructor(
    readonly url: string,
    private readonly socket: Socket,
  ) {}

  get ip(): string | undefined {
    return this.socket.remoteAddress;
  }
}

/** A request handler that answers a plain status request and returns true, or returns false and touches nothing. */
export type StatusFastPath = (request: IncomingMessage, response: ServerResponse) => boolean;

export function makeStatusFastPath(options: StatusFastPathOptions): StatusFastPath {
  const { dnc, keys, limiter, limits, requestId, countRequest, observe, logResponse, closing } = options;
  const extraHeaders = Object.entries(options.answerHeaders);
  return (request, response) => {
    if (request.method !== 'GET') return false;
    const url = request.url;
    if (url === undefined || !url.startsWith(STATUS_URL_PREFIX)) return false;
    const started = performance.now();
    // A GET with a body is refused by Fastify's head check (request-limits.ts); an empty one is answered there too.
    const headers = request.headers;
    if (headers['content-length'] !== undefined || headers['transfer-encoding'] !== undefined) return false;
    if (url.length > limits.urlBytesMax || closing()) return false;
    let body: string;
    let keyId: string;
    let perSecond: number;
    try {
      checkRequestHead(request, limits);
      const key = authenticate(headers, keys);
      const params = readPdncParams(parseQueryString(url.slice(STATUS_URL_PREFIX.length)), undefined);
      if (params.action !== 'status' || params.ignoreInvalid || params.phoneList === undefined) return false;
      if (params.phoneList.length > limits.requestNumbersMax) return false; // the route counts the entries
      authorise(key, params.action, params.projId);
      body = statusJson(dnc.status(params.phoneList, { org: key.org, projId: params.projId }));
      keyId = key.id;
      perSecond = rateLimitOf(key);
    } catch {
      return false;
    }
    if (limiter.take(keyId, perSecond) > 0) return false;
    const id = requestId(request);
    const last = countRequest !== null && countRequest(request.socket);
    const elapsed = performance.now() - started;
    observe('GET', 'status', 200, elapsed / 1000);
    if (logResponse !== null) logResponse(id, new LoggedStatusRequest(url, request.socket), 200, elapsed);
    const answerHeaders: Record<string, string | number> = {
      'x-request-id': id,
      'content-type': JSON_CONTENT_TYPE,
      'content-length': Buffer.byteLength(body),
    };
    for (let i = 0; i < extraHeaders.length; i++) answerHeaders[extraHeaders[i]![0]] = extraHeaders[i]![1];
    if (last) answerHeaders.connection = 'close';
    response.writeHead(200, answerHeaders);
    response.end(body);
    return true;
  };
}
