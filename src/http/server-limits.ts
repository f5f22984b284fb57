// What keeps slow, stuck or greedy clients from exhausting the server: head and request timeouts
// (answered 408 REQUEST_TIMEOUT by the client error handler, then closed), keep-alive and socket
// idle timeouts, a maximum of open connections (connection N+1 is closed at once by Node) and of
// requests per keep-alive connection. The last one is counted here rather than by Node's own
// `maxRequestsPerSocket`, which answers a request past the limit with a bare 503: here the N-th
// answer carries `Connection: close`, so a client never sees a 5xx for it.

import type { Socket } from 'node:net';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import {
  HTTP_CONNECTIONS_MAX,
  HTTP_HEADERS_TIMEOUT_MS,
  HTTP_KEEP_ALIVE_TIMEOUT_MS,
  HTTP_REQUEST_TIMEOUT_MS,
  HTTP_REQUESTS_PER_SOCKET_MAX,
  HTTP_SOCKET_IDLE_TIMEOUT_MS,
  HTTP_TIMEOUT_CHECK_INTERVAL_MS,
} from '../constants.js';

export interface ConnectionLimits {
  /** The request head must arrive within this; else 408. */
  readonly headersTimeoutMs: number;
  /** The whole request, body included, within this; else 408. */
  readonly requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. */
  readonly keepAliveTimeoutMs: number;
  /** A connection where nothing moves either way is closed after this. */
  readonly socketIdleTimeoutMs: number;
  /** Open connections at once (0 = unlimited). */
  readonly connectionsMax: number;
  /** Requests per connection; the last answer says Connection: close (0 = unlimited). */
  readonly requestsPerSocketMax: number;
}

export function resolveConnectionLimits(limits: Partial<ConnectionLimits> = {}): ConnectionLimits {
  const resolved = {
    headersTimeoutMs: limits.headersTimeoutMs ?? HTTP_HEADERS_TIMEOUT_MS,
    requestTimeoutMs: limits.requestTimeoutMs ?? HTTP_REQUEST_TIMEOUT_MS,
    keepAliveTimeoutMs: limits.keepAliveTimeoutMs ?? HTTP_KEEP_ALIVE_TIMEOUT_MS,
    socketIdleTimeoutMs: limits.socketIdleTimeoutMs ?? HTTP_SOCKET_IDLE_TIMEOUT_MS,
    connectionsMax: limits.connectionsMax ?? HTTP_CONNECTIONS_MAX,
    requestsPerSocketMax: limits.requestsPerSocketMax ?? HTTP_REQUESTS_PER_SOCKET_MAX,
  };
  // Node refuses a head timeout longer than the request timeout; the head is part of the request.
  if (resolved.headersTimeoutMs > resolved.requestTimeoutMs) resolved.headersTimeoutMs = resolved.requestTimeoutMs;
  return Object.freeze(resolved);
}

/** The Fastify options (and the `http` server options) that carry these limits. */
export function connectionServerOptions(limits: ConnectionLimits): {
  fastify: Pick<FastifyServerOptions, 'connectionTimeout' | 'keepAliveTimeout' | 'requestTimeout'>;
  http: { headersTimeout: number; requestTimeout: number; connectionsCheckingInterval: number; requireHostHeader: boolean };
} {
  const shortest = Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs);
  return {
    fastify: {
      connectionTimeout: limits.socketIdleTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
    },
    http: {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      // Node checks both timeouts on this period: a fraction of the shortest keeps them near exact.
      connectionsCheckingInterval: Math.max(10, Math.min(HTTP_TIMEOUT_CHECK_INTERVAL_MS, Math.floor(shortest / 4))),
      // Node answers an HTTP/1.1 request without Host with a bare 400 (no body, no code); the
      // onRequest head check (request-limits.ts) refuses it instead, as catalogue JSON.
      requireHostHeader: false,
    },
  };
}

const REQUESTS_ON_SOCKET = Symbol('idncRequestsOnSocket');
type CountedSocket = Socket & { [REQUESTS_ON_SOCKET]?: number };

/**
 * Counts a request on its connection; true when it is the last one allowed there (its answer must
 * then say `Connection: close`). For the app's onRequest hook and the status fast path.
 */
export type SocketRequestCounter = (socket: Socket | null | undefined) => boolean;

/** Sets maxConnections; returns the per-request counter, or null when requests per connection are unlimited. */
export function applyConnectionLimits(app: FastifyInstance, limits: ConnectionLimits): SocketRequestCounter | null {
  if (limits.connectionsMax > 0) app.server.maxConnections = limits.connectionsMax;
  // Keep every header (Node drops those past 2,000 raw entries): the head check counts them all,
  // and their bytes are bounded by the parser's maxHeaderSize.
  app.server.maxHeadersCount = 0;
  const max = limits.requestsPerSocketMax;
  if (max <= 0) return null;
  return (socket) => {
    if (socket === undefined || socket === null) return false;
    const counted = socket as CountedSocket;
    const count = (counted[REQUESTS_ON_SOCKET] ?? 0) + 1;
    counted[REQUESTS_ON_SOCKET] = count;
    return count >= max;
  };
}
