// Where an engine's state comes from: the other part of an engine beside its change sink
// (change-sink.ts). In memory it is a store and nothing else; the durable log (durable-log.ts)
// recovers the store from a data directory and logs into it; a follower (follower.ts) loads the
// writer's directory and swaps in a new store when it reloads. The engine (dnc.ts) asks its source
// what every kind answers (lastSeq, stats, close) without knowing which kind it holds; the members
// of one kind only (snapshot, lagMs, ...) it reaches by the source's `kind`. A replicated engine
// would be one more source.

import type { ChainHead } from '../history/chain.js';
import { DncStore } from '../store/dnc-store.js';
import type { EngineLink } from './change-sink.js';
import type { FollowerStats, LogStats, ReplicationStats } from './types.js';

export type SourceKind = 'memory' | 'durable' | 'follower';

/** What a source adds to EngineStats (each null where the kind has none). */
export interface SourceStats {
  readonly log: LogStats | null;
  readonly follower: FollowerStats | null;
  /** A source replicating through NATS JetStream says how (absent otherwise). */
  readonly replication?: ReplicationStats;
}

export interface EngineSource {
  readonly kind: SourceKind;
  /** The store the engine answers from at first (a source that replaces it says so through the link). */
  readonly store: DncStore;
  /** Seq of the last change applied to the store (0 in memory). */
  readonly lastSeq: number;
  /** The data directory, resolved; null in memory. */
  readonly dataDir: string | null;
  stats(): SourceStats;
  /** Called once by the engine's constructor, so the source can reach the engine. */
  attach(link: EngineLink): void;
  /** Called once the engine refuses further calls: stops following, or drains, snapshots and unlocks. */
  close(): Promise<void>;
}

/** What a writer's source has beyond every source's members (DurableLog, and a replicated writer). */
export interface WriterSource extends EngineSource {
  readonly kind: 'durable';
  snapshot(): Promise<void>;
  /** The head of the hash chain over the log at its last acknowledged seq (docs/history.md). */
  historyHead(): Promise<ChainHead>;
}

/** What a follower's source has beyond every source's members (LogFollower, and a follower of a stream). */
export interface FollowerSource extends EngineSource {
  readonly kind: 'follower';
  readonly lagMs: number;
  readonly stale: boolean;
  on(event: 'stale' | 'fresh' | 'applied', listener: (value: number) => void): unknown;
  off(event: 'stale' | 'fresh' | 'applied', listener: (value: number) => void): unknown;
  checkNow(): Promise<void>;
}

/** The source of an in-memory engine: a store, no data directory, nothing to close. */
export class MemorySource implements EngineSource {
  readonly kind = 'memory';
  readonly store = new DncStore();
  readonly lastSeq = 0;
  readonly dataDir = null;

  stats(): SourceStats {
    return { log: null, follower: null };
  }

  attach(): void {}

  close(): Promise<void> {
    return Promise.resolve();
  }
}
