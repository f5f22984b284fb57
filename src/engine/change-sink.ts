// How a validated change takes effect: the one thing the kinds of engine differ in on the write
// path. In memory it is applied at once; the durable log (durable-log.ts) logs it and applies it
// once it is on stable storage; a follower (follower.ts) forwards it to the writer or refuses it.
// A replicated engine would be one more sink. The engine (dnc.ts) validates and sorts before, and
// gives the sink `apply`, which changes the engine's store; a sink calls it at most once.

import type { ChangeMeta } from '../history/change-meta.js';
import type { DncStore } from '../store/dnc-store.js';
import type { ListAddress } from '../store/list-id.js';
import type { ChangeOperation } from './types.js';

export interface CommitResult {
  /** Numbers whose state changed. */
  readonly changed: number;
  /** Log seq of the change (0 in memory). */
  readonly seq: number;
}

export interface ChangeSink {
  /**
   * `sorted`: ascending, distinct; `apply` changes the store and returns how many numbers changed;
   * `meta`: what the client said about the change, checked (stored with it; absent: nothing given).
   */
  commit(operation: ChangeOperation, address: ListAddress, sorted: Float64Array, keyId: string | null, apply: () => number, meta?: ChangeMeta): Promise<CommitResult>;
  /** Called once by the engine's constructor, for a sink that needs the engine (a forwarding follower's). */
  attach?(link: EngineLink): void;
}

/**
 * What the engine gives its parts once it exists (the parts are built first: the durable log
 * recovers, the follower loads): they call it when the state they hold changes.
 */
export interface EngineLink {
  /** The store the engine answers from, replaced whole (a follower's reload). */
  replaceStore(store: DncStore): void;
  /** The engine's lastSeq has grown: resolves waitFor calls. */
  seqAdvanced(): void;
  /** The engine's own waitFor (a forwarded change resolves once this engine has applied it). */
  waitFor(seq: number, timeoutMs: number): Promise<void>;
}

export const IN_MEMORY: ChangeSink = {
  commit: (_operation, _address, _sorted, _keyId, apply) => Promise.resolve({ changed: apply(), seq: 0 }),
};
