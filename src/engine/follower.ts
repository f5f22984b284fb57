// A read-only follower of a live data directory: what a dialer process embeds, and what the extra
// workers of `idnc serve --workers N` serve reads from. The engine (dnc.ts) answers from the store
// this part loads and swaps; the follower's change sink (end of this file) forwards changes to the
// writer or refuses them. It loads the newest snapshot and the log like recovery does (the same
// code, in 'read' mode), then follows the records the writer appends (fs.watch on the directory,
// plus a poll every FOLLOWER_POLL_INTERVAL_MS for file systems whose events are unreliable),
// applying each with recovery's own `applyRecord`. It never writes to the data directory and never
// takes the writer lock.
//
// It applies only what the writer has acknowledged: records up to the writer's durable-seq mark
// (src/persist/durable-mark.ts), read before the log, at load and on every check (see log-tail.ts).
//
// When records it needs are gone (the writer removed segments after a snapshot while this process
// was not reading, or `idnc repair` cut the log), it loads the newest snapshot and log into a NEW
// store and swaps it in at once: reads are synchronous, so they see the old state or the new one.
// When the directory holds less than the mark says was acknowledged, the load is swapped in but
// never counts as current: the follower goes stale and loads again until the writer (restarted,
// with a new mark) or a repair makes the directory whole.
//
// Freshness: `lagMs` is the time since the start of the last check that found every record the
// writer had acknowledged applied. So every change the writer acknowledged more than `lagMs` ago is
// visible here; while healthy it stays below the poll interval plus one read, and it grows without
// bound when this process cannot keep up or cannot read the log. 'stale' / 'fresh' fire when it
// crosses `staleAfterMs`.
//
// The follower is in one state of FollowerState at a time ('following', 'loaded-short',
// 'reload-wanted', 'stopped'), with the data of that state in it; `enter` is the one place it
// changes, and NEXT_STATES says which moves there are.

import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import {
  CLUSTER_APPLY_WAIT_MS,
  FOLLOWER_LOAD_ATTEMPTS,
  FOLLOWER_LOAD_RETRY_MS,
  FOLLOWER_POLL_INTERVAL_MS,
  FOLLOWER_RELOAD_RETRY_MS,
  FOLLOWER_STALE_AFTER_MS_DEFAULT,
} from '../constants.js';
import { assert } from '../assert.js';
import type { EngineLogger } from '../logger.js';
import { DataCorruptError, IdncError } from '../errors.js';
import { readDurableMark, type MarkRead } from '../persist/durable-mark.js';
import { nodeFileSystem } from '../persist/file-system.js';
import { LogTail, type TailPosition } from '../persist/log-tail.js';
import { applyRecord, recoverDataDir, type RecoveryResult } from '../persist/recovery.js';
import { DncStore } from '../store/dnc-store.js';
import type { ListAddress } from '../store/list-id.js';
import type { ChangeSink, CommitResult, EngineLink } from './change-sink.js';
import type { ChangeMeta } from '../history/change-meta.js';
import { checkPositive, stderrLogger } from './options.js';
import type { EngineSource, SourceStats } from './source.js';
import type { ChangeOperation, OpenDncOptions } from './types.js';

/** A validated change a forwarding follower hands to the writer (numbers sorted ascending; none for a drop). */
export interface ForwardedChange {
  readonly op: ChangeOperation;
  readonly org: string;
  readonly projId: string;
  readonly numbers: Float64Array;
  readonly keyId: string | null;
  /** What the client said about the change (checked by the follower; absent: nothing given). */
  readonly meta?: ChangeMeta;
}

export interface DncFollowerOptions extends OpenDncOptions {
  readonly dataDir: string;
  /** lagMs above this emits 'stale' (and below it again 'fresh'); default FOLLOWER_STALE_AFTER_MS_DEFAULT. */
  readonly staleAfterMs?: number;
  /** Fallback poll period (default FOLLOWER_POLL_INTERVAL_MS). */
  readonly pollIntervalMs?: number;
  /** false: no fs.watch, polling only (storage whose change events are unreliable; tests). Default true. */
  readonly watch?: boolean;
}

/**
 * Sends add/remove and list drops to the writer instead of refusing them with READ_ONLY (the workers of `idnc serve
 * --workers`); the follower's add/remove resolves once it has applied the change's seq too, waiting
 * at most CLUSTER_APPLY_WAIT_MS. Cluster plumbing: an argument of followerSink, not an option a
 * library user sees.
 */
export type ForwardChange = (change: ForwardedChange) => Promise<CommitResult>;

export type FollowerEvent = 'stale' | 'fresh' | 'applied';

/** A loaded state; `short`: why it holds less than the writer acknowledged (null when it does not). */
interface Loaded {
  readonly store: DncStore;
  readonly tail: LogTail;
  readonly at: number;
  readonly short: string | null;
}

/**
 * Where a follower is, as Redis names its AOF states:
 *   following      applying what the writer acknowledges (how current: lagMs); when records it
 *                  needs are gone it wants a reload at once
 *   loaded-short   the last load held less than the writer acknowledged: not current (lagMs keeps
 *                  growing); the tail still follows, so a restarted writer that continues from here
 *                  makes it current, and when records are found missing it loads again, not before
 *                  `notBefore`
 *   reload-wanted  records it needs are gone (`reason`): it loads the newest snapshot and log into a
 *                  new store and swaps it in, not before `notBefore` (a failed or short load waits
 *                  FOLLOWER_RELOAD_RETRY_MS); meanwhile the tail goes on
 *   stopped        closed: reads nothing more, emits nothing more; a check that ends after close
 *                  changes nothing
 */
type FollowerState =
  | { readonly name: 'following' }
  | { readonly name: 'loaded-short'; readonly notBefore: number }
  | { readonly name: 'reload-wanted'; readonly reason: string; readonly notBefore: number }
  | { readonly name: 'stopped' };

type FollowerStateName = FollowerState['name'];

const NEXT_STATES: Readonly<Record<FollowerStateName, readonly FollowerStateName[]>> = {
  following: ['following', 'reload-wanted', 'stopped'],
  'loaded-short': ['following', 'reload-wanted', 'stopped'],
  'reload-wanted': ['following', 'loaded-short', 'reload-wanted', 'stopped'],
  stopped: [],
};

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Milliseconds: the unit the follower's refusals of its options name. */
const MS = 'of milliseconds';

/** The reading part of a follower: loads, follows and reloads the writer's data directory. */
export class LogFollower implements EngineSource {
  readonly kind = 'follower';
  readonly dataDir: string;
  private readonly logger: EngineLogger;
  private readonly staleAfterMs: number;
  private readonly pollIntervalMs: number;
  private readonly events = new EventEmitter();
  private state: FollowerState;
  private link: EngineLink | null = null;
  private current: DncStore;
  private tail: LogTail;
  private currentAsOf: number;
  /**
   * Whether 'stale' was the last of 'stale' / 'fresh' emitted: what listeners were told, not a
   * state of the follower (lagMs can cross staleAfterMs in any state but 'stopped').
   */
  private isStale = false;
  /** What was logged since the follower was last current, so each is logged once. */
  private lastReloadReason = '';
  private lastProblem = '';
  private checkWanted = false;
  /** The record past the writer's mark seen at the last checks, and since when it stays there. */
  private unacknowledged: { readonly seq: number; readonly since: number } | null = null;
  private checking: Promise<void> | null = null;
  private watcher: fs.FSWatcher | null = null;
  private pollTimer: NodeJS.Timeout | null = null;

  private constructor(private readonly options: DncFollowerOptions, loaded: Loaded) {
    this.dataDir = path.resolve(options.dataDir);
    this.logger = options.logger ?? stderrLogger;
    this.staleAfterMs = checkPositive(options.staleAfterMs, 'staleAfterMs', FOLLOWER_STALE_AFTER_MS_DEFAULT, MS);
    this.pollIntervalMs = checkPositive(options.pollIntervalMs, 'pollIntervalMs', FOLLOWER_POLL_INTERVAL_MS, MS);
    this.current = loaded.store;
    this.tail = loaded.tail;
    this.currentAsOf = loaded.at;
    this.state = this.afterLoad(loaded.short);
  }

  /** Loads the directory's newest snapshot and log; following starts with start(), once the engine is attached. */
  static async open(options: DncFollowerOptions): Promise<LogFollower> {
    const dataDir = path.resolve(options.dataDir);
    const logger = options.logger ?? stderrLogger;
    const stat = await fs.promises.stat(dataDir).catch(() => null);
    if (stat === null || !stat.isDirectory()) {
      throw new IdncError('INVALID_PARAMETER', `data directory ${dataDir} does not exist: start the writer (idnc serve) on it first`);
    }
    const loaded = await LogFollower.load(dataDir, logger, 'snapshot-only');
    return new LogFollower(options, loaded);
  }

  /** The store loaded last: the engine answers from it (a reload replaces it through the link). */
  get store(): DncStore {
    return this.current;
  }

  /** The engine this follower loads for (called once, by the engine). */
  attach(link: EngineLink): void {
    this.link = link;
  }

  /** Follows the writer until close(): watches the directory, polls, and checks now. */
  start(): void {
    if (this.options.watch !== false) this.watchDirectory();
    this.pollTimer = setInterval(() => {
      this.updateStale();
      this.requestCheck();
    }, this.pollIntervalMs);
    this.pollTimer.unref();
    this.requestCheck();
  }

  /** Seq of the last record applied here. */
  get lastSeq(): number {
    return this.tail.lastSeq;
  }

  /** Milliseconds during which a change acknowledged by the writer may not be visible here (see the file header). */
  get lagMs(): number {
    return Math.max(0, Date.now() - this.currentAsOf);
  }

  /** lagMs is above staleAfterMs (as of the last check or poll tick). */
  get stale(): boolean {
    return this.isStale;
  }

  stats(): SourceStats {
    return { log: null, follower: { lagMs: this.lagMs } };
  }

  on(event: FollowerEvent, listener: (value: number) => void): this {
    this.events.on(event, listener);
    return this;
  }

  off(event: FollowerEvent, listener: (value: number) => void): this {
    this.events.off(event, listener);
    return this;
  }

  async checkNow(): Promise<void> {
    this.requestCheck();
    await this.checking;
  }

  async close(): Promise<void> {
    if (this.state.name === 'stopped') return;
    this.enter({ name: 'stopped' });
    this.watcher?.close();
    if (this.pollTimer !== null) clearInterval(this.pollTimer);
    await this.checking?.catch(() => undefined);
    await this.tail.close();
    this.events.removeAllListeners();
  }

  /** The only place the state changes: a move NEXT_STATES does not allow is a bug. */
  private enter(next: FollowerState): void {
    if (this.state.name === 'stopped') return;
    assert(NEXT_STATES[this.state.name].includes(next.name), `follower: no move from ${this.state.name} to ${next.name}`);
    this.state = next;
  }

  /**
   * Snapshot + log into a fresh store, retried: the writer may remove files while they are read,
   * or restart (a new epoch in its mark) while they are loaded.
   */
  private static async load(dataDir: string, logger: EngineLogger, onUnreadableMark: UnreadableMarkRule = 'refuse'): Promise<Loaded> {
    for (let attempt = 1; ; attempt++) {
      let failure: unknown;
      try {
        const loaded = await LogFollower.loadAtMark(dataDir, logger, onUnreadableMark);
        if (loaded !== null) return loaded;
        failure = new IdncError('STORAGE_UNAVAILABLE', `the writer of ${dataDir} restarted during each of ${attempt} loads: a load succeeds once the writer stays up`);
      } catch (error) {
        failure = error;
      }
      if (attempt >= FOLLOWER_LOAD_ATTEMPTS) throw failure;
      await pause(FOLLOWER_LOAD_RETRY_MS);
    }
  }

  /**
   * Loads up to the durable-seq mark read before it; null when the mark's epoch changed by the time
   * the current segment is open (that file may not be the one loaded: load again).
   */
  private static async loadAtMark(dataDir: string, logger: EngineLogger, onUnreadableMark: UnreadableMarkRule): Promise<Loaded | null> {
    const before = await readDurableMark(dataDir);
    // A damaged mark says nothing of what was acknowledged: a new follower opens on the snapshot
    // alone, stale from the start (lag counted from the epoch), until the writer rewrites the mark;
    // a reload refuses, keeping the state it has (it never steps back to the snapshot).
    const unreadable = before.kind === 'unreadable';
    if (unreadable && onUnreadableMark === 'refuse') throw new DataCorruptError(`${before.detail} in ${dataDir}: followers wait until the writer rewrites it`);
    if (unreadable) logger.error(`${before.detail} in ${dataDir}: this follower shows the newest snapshot only, stale, until the writer rewrites it`);
    const at = unreadable ? 0 : Date.now();
    const mark = before.kind === 'ok' ? before.mark : null;
    const store = new DncStore();
    const upTo = mark === null ? (unreadable ? { upToSeq: 0 } : {}) : { upToSeq: mark.seq };
    const result = await recoverDataDir(store, { dataDir, fileSystem: nodeFileSystem, logger, mode: 'read', ...upTo });
    const tail = new LogTail(dataDir, positionAfter(result), mark?.epoch ?? null);
    await tail.openSegment();
    if (markEpoch(await readDurableMark(dataDir)) !== markEpoch(before)) {
      await tail.close();
      return null;
    }
    const short = mark !== null && result.lastSeq < mark.seq ? `the writer acknowledged up to seq ${mark.seq} but ${dataDir} holds only up to seq ${result.lastSeq}` : null;
    return { store, tail, at, short };
  }

  private watchDirectory(): void {
    try {
      this.watcher = fs.watch(this.dataDir, { persistent: false }, () => this.requestCheck());
      this.watcher.on('error', (error) => {
        this.logger.warn(`watching ${this.dataDir} failed (${error.message}); following by polling every ${this.pollIntervalMs} ms`);
        this.watcher?.close();
        this.watcher = null;
      });
    } catch (error) {
      this.logger.warn(`cannot watch ${this.dataDir} (${(error as Error).message}); following by polling every ${this.pollIntervalMs} ms`);
    }
  }

  private requestCheck(): void {
    if (this.state.name === 'stopped') return;
    this.checkWanted = true;
    this.checking ??= this.checkLoop();
  }

  private async checkLoop(): Promise<void> {
    while (this.checkWanted && this.state.name !== 'stopped') {
      this.checkWanted = false;
      try {
        await this.checkOnce();
      } catch (error) {
        this.problem(`reading ${this.dataDir} failed: ${(error as Error).message}`);
      }
    }
    this.checking = null;
  }

  private async checkOnce(): Promise<void> {
    const startedAt = Date.now();
    // While a reload waits for its retry time the tail goes on: it applies only what it can prove
    // continues this state, and a restarted writer that continues from here makes it current.
    const reloadDue = this.state.name === 'reload-wanted' && startedAt >= this.state.notBefore;
    if (reloadDue && !(await this.reload())) return;
    const before = this.tail.lastSeq;
    const outcome = await this.tail.read((record) => applyRecord(this.current, record));
    if (this.tail.lastSeq !== before) this.applied();
    if (outcome.kind === 'current') {
      this.currentAsOf = this.unacknowledgedSince(outcome.unacknowledgedSeq, startedAt);
      this.lastProblem = '';
      this.enter({ name: 'following' });
      this.lastReloadReason = '';
    } else if (outcome.kind === 'behind') {
      const notBefore = this.state.name === 'loaded-short' || this.state.name === 'reload-wanted' ? this.state.notBefore : 0;
      this.enter({ name: 'reload-wanted', reason: outcome.reason, notBefore });
      if (Date.now() >= notBefore) this.checkWanted = true;
    } else this.problem(`${outcome.detail}; waiting for the writer (see idnc verify)`);
    this.updateStale();
  }

  /**
   * When this follower was last known current. A record written past the writer's mark is not
   * acknowledged yet; a live writer acknowledges it within an fdatasync. If the same record stays
   * there (the writer died or hangs with it, and a restart would recover it as acknowledged), this
   * follower counts as current only as of when it first saw it, so its lag grows and it goes stale.
   */
  private unacknowledgedSince(seq: number | null, startedAt: number): number {
    if (seq !== this.unacknowledged?.seq) this.unacknowledged = seq === null ? null : { seq, since: startedAt };
    return this.unacknowledged?.since ?? startedAt;
  }

  /** Loads the newest snapshot + log into a new store and swaps it in; false when it failed. */
  private async reload(): Promise<boolean> {
    const reason = this.state.name === 'reload-wanted' ? this.state.reason : '';
    if (reason !== this.lastReloadReason) this.logger.warn(`reloading ${this.dataDir} from its newest snapshot: ${reason}`);
    this.lastReloadReason = reason;
    let loaded: Loaded;
    try {
      loaded = await LogFollower.load(this.dataDir, this.logger);
    } catch (error) {
      this.enter({ name: 'reload-wanted', reason, notBefore: Date.now() + FOLLOWER_RELOAD_RETRY_MS });
      this.problem(`reloading ${this.dataDir} failed (${(error as Error).message}); retrying`);
      return false;
    }
    if (this.state.name === 'stopped') {
      await loaded.tail.close();
      return false;
    }
    const previousSeq = this.tail.lastSeq;
    if (loaded.tail.lastSeq < previousSeq) {
      this.logger.warn(`${this.dataDir} now ends at seq ${loaded.tail.lastSeq}, before seq ${previousSeq} applied here (cut by idnc repair?): following the directory`);
    }
    await this.tail.close();
    this.current = loaded.store;
    this.link?.replaceStore(loaded.store);
    this.tail = loaded.tail;
    this.enter(this.afterLoad(loaded.short));
    if (loaded.tail.lastSeq !== previousSeq) this.applied();
    return true;
  }

  /**
   * The state a load leads to: 'following', or when the directory held less than the writer
   * acknowledged (`short` says what), 'loaded-short', which loads again no sooner than
   * FOLLOWER_RELOAD_RETRY_MS from now.
   */
  private afterLoad(short: string | null): FollowerState {
    if (short === null) return { name: 'following' };
    this.problem(`${short}; waiting for the writer or idnc repair`);
    return { name: 'loaded-short', notBefore: Date.now() + FOLLOWER_RELOAD_RETRY_MS };
  }

  private applied(): void {
    this.link?.seqAdvanced();
    this.events.emit('applied', this.tail.lastSeq);
  }

  private updateStale(): void {
    const lag = this.lagMs;
    const stale = lag > this.staleAfterMs;
    if (stale === this.isStale || this.state.name === 'stopped') return;
    this.isStale = stale;
    this.events.emit(stale ? 'stale' : 'fresh', lag);
  }

  /** Logs a problem once (not on every poll) until it changes or the follower is current again. */
  private problem(message: string): void {
    if (message === this.lastProblem) return;
    this.lastProblem = message;
    this.logger.error(message);
  }
}

/** What a load does when the durable-seq mark is damaged: refuse, or load the snapshot alone. */
type UnreadableMarkRule = 'refuse' | 'snapshot-only';

/** The epoch of a mark read, or what stands for it when there is none; equal reads, equal values. */
function markEpoch(read: MarkRead): string {
  return read.kind === 'ok' ? read.mark.epoch : read.kind;
}

/** Where following continues after a load: after the last record of the log's last segment. */
function positionAfter(result: RecoveryResult): TailPosition {
  const { tail, lastSeq } = result;
  if (tail === null || tail.lastSeq < lastSeq) return { segment: null, offset: 0, lastSeq };
  return { segment: tail.segment, offset: tail.endOffset, lastSeq: tail.lastSeq };
}

/** A follower's change sink when it forwards nothing: it stores nothing itself. */
export const READ_ONLY: ChangeSink = {
  commit: () => Promise.reject(new IdncError('READ_ONLY', 'this engine follows its data directory read-only: changes go to the writer')),
};

/** A follower's change sink that forwards: the writer stores a change, then this engine waits to have applied it. */
export class ForwardingSink implements ChangeSink {
  private link: EngineLink | null = null;

  constructor(
    private readonly forward: ForwardChange,
    private readonly applyWaitMs: number,
  ) {}

  attach(link: EngineLink): void {
    this.link = link;
  }

  async commit(operation: ChangeOperation, address: ListAddress, sorted: Float64Array, keyId: string | null, _apply: () => number, meta?: ChangeMeta): Promise<CommitResult> {
    const link = this.link;
    assert(link !== null, 'a forwarding sink commits only for the engine it is attached to');
    const change = { op: operation, org: address.org, projId: address.projId, numbers: sorted, keyId };
    const result = await this.forward(meta === undefined ? change : { ...change, meta });
    await link.waitFor(result.seq, this.applyWaitMs);
    return result;
  }
}

/** A follower's sink: forwarding to `forward` when given, else refusing. */
export function followerSink(forward?: ForwardChange): ChangeSink {
  if (forward === undefined) return READ_ONLY;
  return new ForwardingSink(forward, CLUSTER_APPLY_WAIT_MS);
}
