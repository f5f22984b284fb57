// The IPC messages between the primary of `idnc serve --workers N` and its workers (node:cluster
// with 'advanced' serialisation, so a change's Float64Array of numbers crosses as it is). Every
// message carries `idnc` (its kind), so the cluster's own internal messages are never mistaken for
// ours. Errors cross as { code, message, invalid, invalidCount, leader } and are rebuilt as the same
// typed errors, so a client gets the same status, code, body and `idnc-leader` from any worker.

import { DataCorruptError, IdncError, InvalidPhoneError, type ErrorCode, type InvalidEntry } from '../errors.js';
import type { ForwardedChange } from '../engine/follower.js';
import { namesWriter, WriterNamedError } from '../http/error-replies.js';

export const WORKER_ROLE_ENV = 'IDNC_WORKER_ROLE';
export const WORKER_SLOT_ENV = 'IDNC_WORKER_SLOT';
/** How many workers the primary runs (a worker's share of what may be held ahead of a rate limit). */
export const WORKER_COUNT_ENV = 'IDNC_WORKER_COUNT';
export type WorkerRole = 'writer' | 'follower';

export interface SerializedError {
  readonly code: ErrorCode | null;
  readonly message: string;
  readonly invalid?: readonly InvalidEntry[];
  readonly invalidCount?: number;
  /** A refusal of a change by a standby: the writer's URL when the refusing engine knows it (`idnc-leader`). */
  readonly leader?: string;
}

export interface ChangeResult {
  readonly changed: number;
  readonly seq: number;
}

/** Worker -> primary. */
export type WorkerMessage =
  /** A follower has loaded the state up to `seq`: from now on every write waits for it too. */
  | { readonly idnc: 'following'; readonly seq: number }
  | { readonly idnc: 'applied'; readonly seq: number }
  /** A follower asks which seq it must reach before it listens. */
  | { readonly idnc: 'sync'; readonly id: number }
  | { readonly idnc: 'ready'; readonly port: number; readonly seq: number }
  /** A follower forwards a validated change to the writer. */
  | { readonly idnc: 'change'; readonly id: number; readonly change: ForwardedChange }
  /** The writer answers a forwarded change. */
  | { readonly idnc: 'changed'; readonly origin: number; readonly id: number; readonly result?: ChangeResult; readonly error?: SerializedError }
  /** The writer waits until every follower has applied `seq` before it answers a change. */
  | { readonly idnc: 'barrier'; readonly id: number; readonly seq: number }
  /** Tokens of a key's rate-limit bucket, up to `wanted` (cluster-limits.ts). */
  | { readonly idnc: 'lease'; readonly id: number; readonly keyId: string; readonly perSecond: number; readonly wanted: number }
  /** A failed authentication from `address`. */
  | { readonly idnc: 'auth-fail'; readonly id: number; readonly address: string }
  /** A follower worker asks for the writer worker's GET /healthz body (replication and keys are the writer worker's). */
  | { readonly idnc: 'health'; readonly id: number }
  /** The writer worker's /healthz body, for the follower worker `origin` (null: it is not serving yet). */
  | { readonly idnc: 'health-body'; readonly origin: number; readonly id: number; readonly body: string | null };

/** Primary -> worker. */
export type PrimaryMessage =
  | { readonly idnc: 'synced'; readonly id: number; readonly seq: number }
  | { readonly idnc: 'change'; readonly origin: number; readonly id: number; readonly change: ForwardedChange }
  | { readonly idnc: 'changed'; readonly id: number; readonly result?: ChangeResult; readonly error?: SerializedError }
  | { readonly idnc: 'barrier-done'; readonly id: number; readonly error?: SerializedError }
  /** `waitMs` > 0 when the bucket ran out before `wanted` (the wait for its next token). */
  | { readonly idnc: 'leased'; readonly id: number; readonly tokens: number; readonly waitMs: number }
  /** As AuthThrottle.fail: 0 = answer 401, else refused for this long (429). */
  | { readonly idnc: 'auth-failed'; readonly id: number; readonly waitMs: number }
  /** To the writer worker: a follower worker `origin` asks for its /healthz body. */
  | { readonly idnc: 'health'; readonly origin: number; readonly id: number }
  /** To that follower worker: the writer worker's body (null: the writer worker is not serving, or stopped before answering). */
  | { readonly idnc: 'health-body'; readonly id: number; readonly body: string | null }
  | { readonly idnc: 'shutdown' };

export function isIdncMessage<T extends { idnc: string }>(message: unknown): message is T {
  return typeof message === 'object' && message !== null && typeof (message as { idnc?: unknown }).idnc === 'string';
}

/** `leader`: the writer's URL as the engine that refused knows it (null: unknown). */
export function serializeError(error: unknown, leader: string | null = null): SerializedError {
  if (error instanceof InvalidPhoneError) {
    return { code: error.code, message: error.message, invalid: error.invalid, invalidCount: error.invalidCount };
  }
  if (error instanceof IdncError) return { code: error.code, message: error.message, ...(leader !== null && namesWriter(error.code) ? { leader } : {}) };
  return { code: null, message: 'internal error in another worker' };
}

/** The typed error again; an untyped one stays untyped (the client gets 500 INTERNAL). */
export function rebuildError(serialized: SerializedError): Error {
  if (serialized.code === 'INVALID_PHONE' && serialized.invalid !== undefined) {
    return new InvalidPhoneError(serialized.invalid, serialized.invalidCount ?? serialized.invalid.length);
  }
  if (serialized.code === 'DATA_CORRUPT') return new DataCorruptError(serialized.message);
  if (serialized.code !== null && serialized.leader !== undefined) return new WriterNamedError(serialized.code, serialized.message, serialized.leader);
  if (serialized.code !== null) return new IdncError(serialized.code, serialized.message);
  return new Error(serialized.message);
}
