// A read-only follower of a live data directory: what a dialer process embeds, and what the extra
// workers of `idnc serve --workers N` serve reads from. It loads the newest snapshot and the log like
// recovery does (the same code, in 'read' mode), then follows the records the writer appends
// (fs.watch on the directory, plus a poll every FOLLOWER_POLL_INTERVAL_MS for file systems whose
// events are unreliable), applying each with recovery's own `applyRecord`. It never writes to the
// data directory and never takes the writer lock.
//
// When records it needs are gone (the writer removed segments after a snapshot while this process
// was not reading, or `idnc repair` cut the log), it loads the newest snapshot and log into a NEW
// store and swaps it in at once: reads are synchronous, so they see the old state or the new one.
//
// Freshness: `lagMs` is the time since the start of the last check that found every complete record
// on disk applied. So every change the writer acknowledged more than `lagMs` ago is visible here;
// while healthy it stays below the poll interval plus one read, and it grows without bound when this
// process cannot keep up or cannot read the log. 'stale' / 'fresh' fire when it crosses `staleAfterMs`.

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
} from './constants.js';
import { Dnc, type ChangeOperation, type EngineLogger, type OpenDncOptions } from './engine.js';
import { IdncError } from './errors.js';
import { nodeFileSystem } from './persist/file-system.js';
import { LogTail, type TailPosition } from './persist/log-tail.js';
import { applyRecord, recoverDataDir, type RecoveryResult } from './persist/recovery.js';
import { DncStore } from './store/dnc-store.js';
import type { ListAddress } from './store/list-id.js';

/** A validated change a forwarding follower hands to the writer (numbers sorted ascending). */
export interface ForwardedChange {
  readonly op: ChangeOperation;
  readonly org: string;
  readonly projId: string;
  readonly numbers: Float64Array;
  readonly keyId: string | null;
}

export interface DncFollowerOptions extends OpenDncOptions {
  readonly dataDir: string;
  /** lagMs above this emits 'stale' (and below it again 'fresh'); default FOLLOWER_STALE_AFTER_MS_DEFAULT. */
  readonly staleAfterMs?: number;
  /** Fallback poll period (default FOLLOWER_POLL_INTERVAL_MS). */
  readonly pollIntervalMs?: number;
  /** false: no fs.watch, polling only (storage whose change events are unreliable; tests). Default true. */
  readonly watch?: boolean;
  /**
   * Sends add/remove to the writer instead of refusing them with READ_ONLY; the call resolves once
   * this follower has applied the change's seq too (waiting at most `forwardApplyWaitMs`).
   */
  readonly forwardChange?: (change: ForwardedChange) => Promise<{ changed: number; seq: number }>;
  readonly forwardApplyWaitMs?: number;
}

export type FollowerEvent = 'stale' | 'fresh' | 'applied';

const stderrLogger: EngineLogger = {
  info: () => undefined,
  warn: (message) => process.stderr.write(`idnc warning: ${message}\n`),
  error: (message) => process.stderr.write(`idnc error: ${message}\n`),
};

function checkPositiveOption(value: number | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new IdncError('INVALID_PARAMETER', `invalid ${name} ${String(value)}: expected a positive number of milliseconds`);
  }
  return value;
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class DncFollower extends Dnc {
  readonly dataDir: string;
  private readonly logger: EngineLogger;
  private readonly staleAfterMs: number;
  private readonly pollIntervalMs: number;
  private readonly events = new EventEmitter();
  private tail: LogTail;
  private currentAsOf: number;
  private isStale = false;
  private reloadReason: string | null = null;
  private reloadNotBefore = 0;
  private lastProblem = '';
  private checkWanted = false;
  private checking: Promise<void> | null = null;
  private watcher: fs.FSWatcher | null = null;
  private pollTimer: NodeJS.Timeout | null = null;
  private stopped = false;

  private constructor(private readonly options: DncFollowerOptions, loaded: { store: DncStore; tail: LogTail; at: number }) {
    super();
    this.dataDir = path.resolve(options.dataDir);
    this.logger = options.logger ?? stderrLogger;
    this.staleAfterMs = checkPositiveOption(options.staleAfterMs, 'staleAfterMs', FOLLOWER_STALE_AFTER_MS_DEFAULT);
    this.pollIntervalMs = checkPositiveOption(options.pollIntervalMs, 'pollIntervalMs', FOLLOWER_POLL_INTERVAL_MS);
    checkPositiveOption(options.forwardApplyWaitMs, 'forwardApplyWaitMs', 1);
    this.store = loaded.store;
    this.tail = loaded.tail;
    this.currentAsOf = loaded.at;
  }

  /** Loads the directory's newest snapshot and log, then follows the writer until close(). */
  static async open(options: DncFollowerOptions): Promise<DncFollower> {
    const dataDir = path.resolve(options.dataDir);
    const logger = options.logger ?? stderrLogger;
    const stat = await fs.promises.stat(dataDir).catch(() => null);
    if (stat === null || !stat.isDirectory()) {
      throw new IdncError('INVALID_PARAMETER', `data directory ${dataDir} does not exist: start the writer (idnc serve) on it first`);
    }
    const loaded = await DncFollower.load(dataDir, logger);
    const follower = new DncFollower(options, loaded);
    follower.start();
    follower.requestCheck();
    return follower;
  }

  /** Seq of the last record applied here. */
  override get lastSeq(): number {
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

  /** 'stale' / 'fresh' get the lag in ms; 'applied' gets the new lastSeq after each batch of records. */
  on(event: FollowerEvent, listener: (value: number) => void): this {
    this.events.on(event, listener);
    return this;
  }

  off(event: FollowerEvent, listener: (value: number) => void): this {
    this.events.off(event, listener);
    return this;
  }

  /**
   * Reads the data directory now, as a poll would, and resolves once that read is done: for code
   * that knows the writer has just written (the fault simulator drives its followers with it).
   */
  async checkNow(): Promise<void> {
    this.requestCheck();
    await this.checking;
  }

  override async close(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.watcher?.close();
    if (this.pollTimer !== null) clearInterval(this.pollTimer);
    await this.checking?.catch(() => undefined);
    await this.tail.close();
    this.events.removeAllListeners();
    await super.close();
  }

  protected override async commitChange(
    operation: ChangeOperation,
    address: ListAddress,
    sorted: Float64Array,
    keyId: string | null,
  ): Promise<{ changed: number; seq: number }> {
    const forward = this.options.forwardChange;
    if (forward === undefined) throw new IdncError('READ_ONLY', 'this engine follows its data directory read-only: changes go to the writer');
    const result = await forward({ op: operation, org: address.org, projId: address.projId, numbers: sorted, keyId });
    await this.waitFor(result.seq, this.options.forwardApplyWaitMs ?? CLUSTER_APPLY_WAIT_MS);
    return result;
  }

  /** Snapshot + log into a fresh store, retried: the writer may remove files while they are read. */
  private static async load(dataDir: string, logger: EngineLogger): Promise<{ store: DncStore; tail: LogTail; at: number }> {
    for (let attempt = 1; ; attempt++) {
      const at = Date.now();
      const store = new DncStore();
      try {
        const result = await recoverDataDir(store, { dataDir, fileSystem: nodeFileSystem, logger, mode: 'read' });
        return { store, tail: new LogTail(dataDir, positionAfter(result)), at };
      } catch (error) {
        if (attempt >= FOLLOWER_LOAD_ATTEMPTS) throw error;
        await pause(FOLLOWER_LOAD_RETRY_MS);
      }
    }
  }

  private start(): void {
    if (this.options.watch !== false) this.watchDirectory();
    this.pollTimer = setInterval(() => {
      this.updateStale();
      this.requestCheck();
    }, this.pollIntervalMs);
    this.pollTimer.unref();
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
    if (this.stopped) return;
    this.checkWanted = true;
    this.checking ??= this.checkLoop();
  }

  private async checkLoop(): Promise<void> {
    while (this.checkWanted && !this.stopped) {
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
    if (this.reloadReason !== null && !(await this.reload())) return;
    const before = this.tail.lastSeq;
    const outcome = await this.tail.read((record) => applyRecord(this.store, record));
    if (this.tail.lastSeq !== before) this.applied();
    if (outcome.kind === 'current') {
      this.currentAsOf = startedAt;
      this.lastProblem = '';
    } else if (outcome.kind === 'behind') {
      this.reloadReason = outcome.reason;
      this.checkWanted = true;
    } else this.problem(`${outcome.detail}; waiting for the writer (see idnc verify)`);
    this.updateStale();
  }

  /** Loads the newest snapshot + log into a new store and swaps it in; false when it failed. */
  private async reload(): Promise<boolean> {
    if (Date.now() < this.reloadNotBefore) return false;
    this.logger.warn(`reloading ${this.dataDir} from its newest snapshot: ${this.reloadReason}`);
    let loaded: { store: DncStore; tail: LogTail; at: number };
    try {
      loaded = await DncFollower.load(this.dataDir, this.logger);
    } catch (error) {
      this.reloadNotBefore = Date.now() + FOLLOWER_RELOAD_RETRY_MS;
      this.problem(`reloading ${this.dataDir} failed (${(error as Error).message}); retrying`);
      return false;
    }
    if (this.stopped) {
      await loaded.tail.close();
      return false;
    }
    const previousSeq = this.tail.lastSeq;
    if (loaded.tail.lastSeq < previousSeq) {
      this.logger.warn(`${this.dataDir} now ends at seq ${loaded.tail.lastSeq}, before seq ${previousSeq} applied here (cut by idnc repair?): following the directory`);
    }
    await this.tail.close();
    this.store = loaded.store;
    this.tail = loaded.tail;
    this.reloadReason = null;
    if (loaded.tail.lastSeq !== previousSeq) this.applied();
    return true;
  }

  private applied(): void {
    this.seqAdvanced();
    this.events.emit('applied', this.tail.lastSeq);
  }

  private updateStale(): void {
    const lag = this.lagMs;
    const stale = lag > this.staleAfterMs;
    if (stale === this.isStale || this.stopped) return;
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

/** Where following continues after a load: after the last record of the log's last segment. */
function positionAfter(result: RecoveryResult): TailPosition {
  const { tail, lastSeq } = result;
  if (tail === null || tail.lastSeq < lastSeq) return { segment: null, offset: 0, lastSeq };
  return { segment: tail.segment, offset: tail.endOffset, lastSeq: tail.lastSeq };
}
