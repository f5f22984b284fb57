// openDnc: picks the parts of an engine and wires them. Without a data directory it is in memory;
// with one it recovers the directory's snapshot and log, takes the writer lock and logs every
// change before it is applied (engine/durable-log.ts); with `readOnly: true` it follows a live data
// directory without writing to it (engine/follower.ts). The one engine class (engine/dnc.ts) knows
// none of this: it is given a store and a change sink. The workers of `idnc serve --workers` open
// their engines through openClusterWriter and openForwardingFollower, which index.ts does not export:
// their hooks are cluster plumbing, not options of the library.

import { Dnc as Engine } from './engine/dnc.js';
import { DurableLog, type AfterCommit, type DurableDncOptions } from './engine/durable-log.js';
import { followerSink, LogFollower, type DncFollowerOptions, type ForwardChange } from './engine/follower.js';
import type { OpenDncOptions } from './engine/types.js';
import { ReplicatedLog } from './replicate/replicated-log.js';
import { READ_ONLY_REPLICA, StreamFollower, type StreamFollowerOptions } from './replicate/stream-follower.js';
import { IdncError } from './errors.js';
import type { Dnc, DncFollower as DncFollowerView, DurableDnc as DurableDncView } from './engine/views.js';

export { Dnc } from './engine/views.js';

// DurableDnc and DncFollower are not classes (every engine is a Dnc), but `instanceof` still
// tells the kinds apart, as it did when each kind was a class of its own.

/** The writer of a data directory. */
export type DurableDnc = DurableDncView;
export const DurableDnc = {
  /** Opens (creating if needed) a data directory: lock, recover, then accept writes. */
  open(options: DurableDncOptions): Promise<DurableDnc> {
    return openWriter(options);
  },
  [Symbol.hasInstance](value: unknown): value is DurableDnc {
    return Engine.kindOf(value) === 'durable';
  },
};

/** A read-only follower of a live data directory. */
export type DncFollower = DncFollowerView;
export const DncFollower = {
  /** Loads the directory's newest snapshot and log, then follows the writer until close(). */
  open(options: DncFollowerOptions): Promise<DncFollower> {
    return openFollower(options);
  },
  [Symbol.hasInstance](value: unknown): value is DncFollower {
    return Engine.kindOf(value) === 'follower';
  },
};

/** The writer of `idnc serve --workers`: every change waits in `afterCommit` before add/remove resolve. */
export function openClusterWriter(options: DurableDncOptions, afterCommit: AfterCommit): Promise<DurableDnc> {
  return openWriter(options, afterCommit);
}

/** A worker's follower of `idnc serve --workers`: add/remove go to `forward` instead of being refused. */
export function openForwardingFollower(options: DncFollowerOptions, forward: ForwardChange): Promise<DncFollower> {
  return openFollower(options, forward);
}

async function openWriter(options: DurableDncOptions, afterCommit?: AfterCommit): Promise<DurableDnc> {
  if (options.replicate !== undefined) {
    const replicated = await ReplicatedLog.open({ ...options, replicate: options.replicate }, afterCommit);
    return new Engine({ source: replicated, sink: replicated });
  }
  const log = await DurableLog.open(options, afterCommit);
  return new Engine({ source: log, sink: log });
}

async function openFollower(options: DncFollowerOptions, forward?: ForwardChange): Promise<DncFollower> {
  const follower = await LogFollower.open(options);
  const dnc = new Engine({ source: follower, sink: followerSink(forward) });
  follower.start();
  return dnc;
}

/** A read-only follower of a writer's NATS JetStream stream, on any host (docs/replication.md). */
async function openStreamFollower(options: StreamFollowerOptions): Promise<DncFollower> {
  const follower = await StreamFollower.open(options);
  const dnc = new Engine({ source: follower, sink: READ_ONLY_REPLICA });
  follower.start();
  return dnc;
}

/**
 * Opens an engine: in memory, the writer of a data directory, or a read-only follower of one. The
 * overloads give each kind its own options and type, so a misspelt option does not compile.
 */
export async function openDnc(options: StreamFollowerOptions & { readonly dataDir?: undefined }): Promise<DncFollower>;
export async function openDnc(options: DncFollowerOptions & { readonly readOnly: true }): Promise<DncFollower>;
export async function openDnc(options: DurableDncOptions & { readonly readOnly?: false }): Promise<DurableDnc>;
export async function openDnc(options?: OpenDncOptions & { readonly dataDir?: undefined }): Promise<Dnc>;
/** A dataDir or readOnly known only at run time: any kind. */
export async function openDnc(options?: OpenDncOptions): Promise<Dnc>;
export async function openDnc(options: OpenDncOptions = {}): Promise<Dnc> {
  if (options.follow !== undefined) {
    if (options.dataDir !== undefined || options.replicate !== undefined) throw new IdncError('INVALID_PARAMETER', 'follow: a follower of a stream has no dataDir and does not replicate');
    return openStreamFollower({ ...options, follow: options.follow });
  }
  if (options.dataDir === undefined) return new Engine();
  if (options.readOnly === true) return DncFollower.open({ ...options, dataDir: options.dataDir });
  return DurableDnc.open({ ...options, dataDir: options.dataDir });
}
