// A read-only follower on another host (openDnc with `follow`, `idnc serve --follow`): it loads the
// newest snapshot from the object store bucket `<stream>_SNAPSHOTS`, then consumes the writer's
// stream from the next seq with an ordered consumer (which the client recreates across disconnects
// and NATS node restarts, from the last seq delivered) and applies each record with recovery's own
// `applyRecord`, a change split over several records only once its last record is there
// (commit-assembler.ts). The stream holds only what the writer's stream acknowledged (under ack
// quorum, published before the writer's own log is written), so nothing is shown that the stream
// refused. When the stream no longer holds the next seq (trimmed below a newer snapshot), or a
// message is not a valid record, it loads the newest snapshot into a new store and swaps it in.
//
// Freshness, as for a follower of a data directory (follower.ts): `lagMs` is the time since the
// start of the last check that found every record in the stream applied, by a message delivered
// with nothing pending after it or by asking the stream for its last seq every
// REPLICA_CHECK_INTERVAL_MS; 'stale' / 'fresh' fire when it crosses `staleAfterMs`.

import { EventEmitter } from 'node:events';
import type { ConsumerMessages } from '@nats-io/jetstream';
import {
  FOLLOWER_LOAD_ATTEMPTS,
  FOLLOWER_LOAD_RETRY_MS,
  FOLLOWER_RELOAD_RETRY_MS,
  FOLLOWER_STALE_AFTER_MS_DEFAULT,
  REPLICA_CHECK_INTERVAL_MS,
  REPLICA_LEADER_CHECK_MS,
  REPLICA_PULL_MESSAGES_MAX,
  REPLICA_STALL_MS,
  REPLICATION_RETRY_MS,
  REPLICATION_STREAM_DEFAULT,
} from '../constants.js';
import type { ChangeSink, EngineLink } from '../engine/change-sink.js';
import { checkPositive, stderrLogger } from '../engine/options.js';
import type { FollowerSource, SourceStats } from '../engine/source.js';
import type { FollowOptions, ReplicationStats } from '../engine/types.js';
import { IdncError } from '../errors.js';
import type { EngineLogger } from '../logger.js';
import { CommitAssembler } from '../persist/commit-assembler.js';
import { applyRecord } from '../persist/recovery.js';
import { readSnapshot } from '../persist/snapshot-read.js';
import { installSnapshot } from '../persist/snapshot.js';
import { DncStore } from '../store/dnc-store.js';
import { removeDownload, SnapshotObjects } from './snapshot-objects.js';
import { parseServers, StreamLink } from './stream-link.js';
import { decodeMessage } from './stream-records.js';
import { currentHolder, openLeaseBucket } from './writer-lease.js';

export interface StreamFollowerOptions {
  readonly follow: FollowOptions;
  readonly staleAfterMs?: number;
  readonly logger?: EngineLogger;
}

type FollowerEvent = 'stale' | 'fresh' | 'applied';

interface Loaded {
  readonly store: DncStore;
  readonly seq: number;
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class StreamFollower implements FollowerSource {
  readonly kind = 'follower';
  readonly dataDir = null;
  private current: DncStore;
  private appliedSeq: number;
  private assembler = new CommitAssembler();
  private link: EngineLink | null = null;
  private readonly events = new EventEmitter();
  private readonly staleAfterMs: number;
  private currentAsOf = 0;
  /** Stale until the first check finds it current (nothing is known of the stream before). */
  private isStale = true;
  private closed = false;
  /** 'ready' while the stream answers, 'connecting' while it does not, 'closed' after close(). */
  private state: 'ready' | 'connecting' | 'closed' = 'ready';
  private reason = '';
  private streamSeq = 0;
  private messages: ConsumerMessages | null = null;
  /** When a message was last applied (or following started): a consumer silent for long behind the stream is restarted. */
  private progressAt = Date.now();
  /** The last "following failed" warning, so that a lasting outage logs it once. */
  private lastWarning = '';
  private following: Promise<void> | null = null;
  private checkTimer: NodeJS.Timeout | null = null;
  private checking: Promise<void> | null = null;
  /** The writer's URL as the writer lease names it (null: unknown, or an ack-local writer, which holds none). */
  private leaderUrl: string | null = null;
  private leaderCheckedAt = 0;

  private constructor(
    private readonly nats: StreamLink,
    private readonly logger: EngineLogger,
    options: StreamFollowerOptions,
    loaded: Loaded,
  ) {
    this.current = loaded.store;
    this.appliedSeq = loaded.seq;
    this.staleAfterMs = checkPositive(options.staleAfterMs, 'staleAfterMs', FOLLOWER_STALE_AFTER_MS_DEFAULT, 'of milliseconds');
  }

  /** Connects (REPLICATION_UNAVAILABLE when no server answers) and loads the newest snapshot; follow with start(). */
  static async open(options: StreamFollowerOptions): Promise<StreamFollower> {
    const stream = options.follow.stream ?? REPLICATION_STREAM_DEFAULT;
    const servers = parseServers(options.follow.servers, 'follow.servers');
    const logger = options.logger ?? stderrLogger;
    let nats: StreamLink;
    try {
      nats = await StreamLink.open({ servers, stream, name: 'idnc follower' }, () => undefined);
    } catch (error) {
      throw new IdncError('REPLICATION_UNAVAILABLE', `no NATS server of ${servers.join(', ')} answers (${(error as Error).message})`);
    }
    for (let attempt = 1; ; attempt++) {
      try {
        const loaded = await loadNewestSnapshot(nats, logger);
        return new StreamFollower(nats, logger, options, loaded);
      } catch (error) {
        // A NATS timeout (the writer creating the bucket, a leader being elected) is tried again.
        if (error instanceof IdncError || attempt >= FOLLOWER_LOAD_ATTEMPTS) {
          await nats.close();
          throw error;
        }
        logger.warn(`loading the newest snapshot object failed (${(error as Error).message}); retrying`);
        await pause(FOLLOWER_LOAD_RETRY_MS);
      }
    }
  }

  get store(): DncStore {
    return this.current;
  }

  get lastSeq(): number {
    return this.appliedSeq;
  }

  get lagMs(): number {
    return Math.max(0, Date.now() - this.currentAsOf);
  }

  get stale(): boolean {
    return this.isStale;
  }

  attach(link: EngineLink): void {
    this.link = link;
  }

  start(): void {
    this.following = this.followLoop();
    this.checkTimer = setInterval(() => void this.checkNow(), REPLICA_CHECK_INTERVAL_MS);
    this.checkTimer.unref();
    void this.checkNow();
  }

  stats(): SourceStats {
    return { log: null, follower: { lagMs: this.lagMs }, replication: this.replicationStats() };
  }

  private replicationStats(): ReplicationStats {
    return { stream: this.nats.options.stream, role: 'follower', ack: null, state: this.state, reason: this.reason, streamSeq: this.streamSeq, backlog: 0, leader: this.leaderUrl };
  }

  on(event: FollowerEvent, listener: (value: number) => void): this {
    this.events.on(event, listener);
    return this;
  }

  off(event: FollowerEvent, listener: (value: number) => void): this {
    this.events.off(event, listener);
    return this;
  }

  /** Asks the stream for its last seq now: current when everything up to it is applied. */
  checkNow(): Promise<void> {
    this.checking ??= this.check().finally(() => (this.checking = null));
    return this.checking;
  }

  private async check(): Promise<void> {
    const startedAt = Date.now();
    try {
      this.streamSeq = await this.nats.lastSeq();
      if (this.streamSeq <= this.appliedSeq) this.currentAsOf = startedAt;
      else if (startedAt - this.progressAt > REPLICA_STALL_MS) this.restartConsumer();
      this.state = 'ready';
      this.reason = '';
      if (startedAt - this.leaderCheckedAt >= REPLICA_LEADER_CHECK_MS) await this.checkLeader(startedAt);
    } catch (error) {
      this.state = 'connecting';
      this.reason = `asking the stream for its last seq failed (${(error as Error).message})`;
    }
    this.updateStale();
  }

  /** Reads who holds the writer lease (the bucket exists only once a quorum writer made it). */
  private async checkLeader(startedAt: number): Promise<void> {
    this.leaderCheckedAt = startedAt;
    const bucket = await openLeaseBucket(this.nats);
    this.leaderUrl = bucket === null ? null : ((await currentHolder(bucket).catch(() => null))?.url ?? null);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.state = 'closed';
    if (this.checkTimer !== null) clearInterval(this.checkTimer);
    this.messages?.stop();
    await this.following;
    await this.checking;
    await this.nats.close();
    this.events.removeAllListeners();
  }

  /** Consumes from the next seq; on a gap or a bad message, reloads from the newest snapshot and goes on. */
  private async followLoop(): Promise<void> {
    while (!this.closed) {
      let problem: string | null;
      try {
        problem = await this.consume();
      } catch (error) {
        // NATS unreachable or the consumer lost: not a reason to reload, only to consume again.
        const message = `following the stream failed (${(error as Error).message}); consuming again`;
        if (!this.closed && message !== this.lastWarning) this.logger.warn(message);
        this.lastWarning = message;
        await pause(REPLICATION_RETRY_MS);
        continue;
      }
      if (this.closed || problem === null) continue;
      this.logger.warn(`${problem}: reloading from the newest snapshot`);
      try {
        const before = this.appliedSeq;
        await this.reload();
        // No newer snapshot than what this follower had: wait for the writer to upload one.
        if (this.appliedSeq <= before) await pause(FOLLOWER_RELOAD_RETRY_MS);
      } catch (error) {
        this.logger.error(`reloading from the newest snapshot failed (${(error as Error).message}); retrying`);
        await pause(FOLLOWER_RELOAD_RETRY_MS);
      }
    }
  }

  /** Applies messages until closed (null) or until the stream cannot continue this state (why). */
  private async consume(): Promise<string | null> {
    this.assembler = new CommitAssembler();
    const consumer = await this.nats.js.consumers.get(this.nats.options.stream, { opt_start_seq: this.appliedSeq + 1 });
    const messages = await consumer.consume({ max_messages: REPLICA_PULL_MESSAGES_MAX });
    this.messages = messages;
    this.lastWarning = '';
    if (this.closed) messages.stop();
    let expected = this.appliedSeq + 1;
    for await (const message of messages) {
      if (message.seq !== expected) {
        messages.stop();
        return `the stream continues at seq ${message.seq}, not at seq ${expected} (trimmed below a newer snapshot)`;
      }
      expected++;
      try {
        const record = decodeMessage(message.data, message.seq);
        this.assembler.accept(record, 0, (whole) => applyRecord(this.current, whole));
        if (record.more !== true) this.appliedSeq = record.seq;
      } catch (error) {
        messages.stop();
        return (error as Error).message;
      }
      this.progressAt = Date.now();
      if (message.info.pending === 0) this.currentAsOf = this.progressAt;
      if (this.assembler.heldRecords === 0) this.applied();
      this.updateStale();
    }
    return null;
  }

  /** Swaps in the newest snapshot, unless it is older than what is applied here (never step back). */
  /**
   * The stream holds records past this follower's and none arrived for REPLICA_STALL_MS: the
   * consumer is stopped, and following consumes again from the next seq (after NATS restarted
   * whole, the client's ordered consumer does not always find its way back by itself).
   */
  private restartConsumer(): void {
    this.logger.warn(`no record arrived for ${REPLICA_STALL_MS} ms while the stream ends at seq ${this.streamSeq} and this follower at seq ${this.appliedSeq}: consuming again`);
    this.progressAt = Date.now();
    this.messages?.stop();
  }

  private async reload(): Promise<void> {
    const loaded = await loadNewestSnapshot(this.nats, this.logger);
    if (this.closed || loaded.seq < this.appliedSeq) return;
    this.current = loaded.store;
    this.appliedSeq = loaded.seq;
    this.link?.replaceStore(loaded.store);
    this.applied();
  }

  private applied(): void {
    this.link?.seqAdvanced();
    this.events.emit('applied', this.appliedSeq);
  }

  private updateStale(): void {
    const stale = this.lagMs > this.staleAfterMs;
    if (stale === this.isStale || this.closed) return;
    this.isStale = stale;
    this.events.emit(stale ? 'stale' : 'fresh', this.lagMs);
  }
}

/** The newest snapshot in the stream's bucket in a new store, or an empty store at seq 0 when there is none. */
async function loadNewestSnapshot(nats: StreamLink, logger: EngineLogger): Promise<Loaded> {
  const store = new DncStore();
  const objects = await SnapshotObjects.open(nats, null);
  const newest = (await objects?.list())?.[0];
  if (objects === null || newest === undefined) return { store, seq: 0 };
  const file = await objects.download(newest);
  try {
    const load = await readSnapshot(file);
    if (load.outcome !== 'ok' || load.lastSeq !== newest.seq) {
      const detail = load.outcome === 'ok' ? `it covers seq ${load.lastSeq}, not ${newest.seq}` : load.detail;
      throw new IdncError('DATA_CORRUPT', `snapshot object ${newest.name} fails its checks: ${detail}`);
    }
    installSnapshot(store, load);
    store.recount();
    logger.info(`loaded snapshot object ${newest.name} (seq ${newest.seq})`);
    return { store, seq: newest.seq };
  } finally {
    await removeDownload(file);
  }
}

/** A stream follower's sink: changes go to the writer (the HTTP answer names it: `idnc-leader`). */
export const READ_ONLY_REPLICA: ChangeSink = {
  commit: () => Promise.reject(new IdncError('READ_ONLY_REPLICA', 'this instance follows a replicated stream read-only: send changes to the writer')),
};
