// A writer that replicates its log to a NATS JetStream stream (openDnc with `replicate`, `idnc
// serve --replicate`): the durable log (src/engine/durable-log.ts) with the stream beside it, one
// message per log record, the stream's sequence equal to idnc's seq (docs/replication.md).
//
// Under ack 'quorum' a batch is published BEFORE it is written locally (the log writer's
// `beforeWrite`), each record with the expected last sequence: the local log never holds a record
// the stream refused, so nothing the stream refused is ever visible or replayed at a restart. A
// publish that gets no answer is sent again (the same message id: the stream keeps one copy) until
// the stream takes it or this writer closes; its client is answered REPLICATION_UNAVAILABLE "may or
// may not be stored" after REPLICATION_ACK_WAIT_MS, and the change is applied once the stream has
// it. While NATS is unreachable, changes are refused before anything is written ("not stored").
// When the stream holds records the local log lacks (the local write failed after the publish, or
// a crash came between them), the writer catches up from the stream before it takes a change.
//
// Under ack 'local' changes are acknowledged after the local fsync and published behind, read back
// from the log files (log-frames.ts), so a backlog survives a restart and is sent when NATS is back.
//
// States (one at a time, changed only in `enter`):
//   connecting   no NATS connection: quorum changes are refused
//   reconciling  connected; comparing the stream with the local log and closing the gap
//   ready        publishing
//   diverged     the stream holds records this writer did not publish (another writer?): changes
//                are refused until restart, and the stream is never written to
//   closed

import os from 'node:os';
import { assert } from '../assert.js';
import type { ChainHead } from '../history/chain.js';
import type { ChangeMeta } from '../history/change-meta.js';
import {
  REPLICATION_ACK_WAIT_MS,
  REPLICATION_LEASE_MS_DEFAULT,
  REPLICATION_LEASE_MS_MIN,
  REPLICATION_PUBLISH_RUN_RECORDS_MAX,
  REPLICATION_REPLICAS_DEFAULT,
  REPLICATION_REPLICAS_MAX,
  REPLICATION_RETRY_MS,
  REPLICATION_STREAM_DEFAULT,
  REPLICA_PULL_MESSAGES_MAX,
  REPLICA_STALL_MS,
} from '../constants.js';
import { DurableLog, type AfterCommit, type DurableDncOptions } from '../engine/durable-log.js';
import type { ChangeSink, CommitResult, EngineLink } from '../engine/change-sink.js';
import { stderrLogger } from '../engine/options.js';
import type { SourceStats, WriterSource } from '../engine/source.js';
import type { ChangeOperation, ReplicateOptions, ReplicationAck, ReplicationStats } from '../engine/types.js';
import { IdncError } from '../errors.js';
import type { EngineLogger } from '../logger.js';
import { listDataDir, snapshotPath } from '../persist/data-dir.js';
import type { LogRecord } from '../persist/record.js';
import { applyRecord } from '../persist/recovery.js';
import type { ListAddress } from '../store/list-id.js';
import { LogFrames } from './log-frames.js';
import { SnapshotObjects } from './snapshot-objects.js';
import { parseServers, StreamLink } from './stream-link.js';
import { decodeMessage, frameSeq, splitFrames } from './stream-records.js';
import { WriterLease } from './writer-lease.js';

export type ReplicationStateName = 'connecting' | 'reconciling' | 'ready' | 'standby' | 'diverged' | 'closed';

const NEXT_STATES: Readonly<Record<ReplicationStateName, readonly ReplicationStateName[]>> = {
  connecting: ['reconciling', 'standby', 'diverged', 'closed'],
  reconciling: ['connecting', 'ready', 'standby', 'diverged', 'closed'],
  ready: ['connecting', 'reconciling', 'standby', 'diverged', 'closed'],
  standby: ['connecting', 'reconciling', 'diverged', 'closed'],
  diverged: ['closed'],
  closed: [],
};

interface ReplicateConfig {
  readonly servers: string[];
  readonly stream: string;
  readonly replicas: number;
  readonly ack: ReplicationAck;
  readonly leaseMs: number;
  readonly advertiseUrl: string | null;
}

export function replicateConfig(options: ReplicateOptions): ReplicateConfig {
  const stream = options.stream ?? REPLICATION_STREAM_DEFAULT;
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(stream)) throw new IdncError('INVALID_PARAMETER', `invalid stream name ${JSON.stringify(stream)}: letters, digits, _ and - (at most 64)`);
  const replicas = options.replicas ?? REPLICATION_REPLICAS_DEFAULT;
  if (!Number.isSafeInteger(replicas) || replicas < 1 || replicas > REPLICATION_REPLICAS_MAX) {
    throw new IdncError('INVALID_PARAMETER', `invalid replicas ${String(replicas)}: expected 1 to ${REPLICATION_REPLICAS_MAX}`);
  }
  const ack = options.ack ?? 'quorum';
  if (ack !== 'quorum' && ack !== 'local') throw new IdncError('INVALID_PARAMETER', `invalid replication ack ${JSON.stringify(ack)}: expected quorum or local`);
  const leaseMs = options.leaseMs ?? REPLICATION_LEASE_MS_DEFAULT;
  if (!Number.isSafeInteger(leaseMs) || leaseMs < REPLICATION_LEASE_MS_MIN) throw new IdncError('INVALID_PARAMETER', `invalid leaseMs ${String(leaseMs)}: expected a whole number of milliseconds from ${REPLICATION_LEASE_MS_MIN}`);
  if (options.standby === true && ack !== 'quorum') throw new IdncError('INVALID_PARAMETER', 'standby: a standby takes over under ack quorum only (an ack-local writer holds no lease)');
  const advertiseUrl = options.advertiseUrl ?? null;
  if (advertiseUrl !== null && !/^https?:\/\/\S+$/.test(advertiseUrl)) throw new IdncError('INVALID_PARAMETER', `invalid advertiseUrl ${JSON.stringify(advertiseUrl)}: expected http(s)://host:port`);
  return { servers: parseServers(options.servers, 'replicate.servers'), stream, replicas, ack, leaseMs, advertiseUrl };
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class ReplicatedLog implements WriterSource, ChangeSink {
  readonly kind = 'durable';
  private durable!: DurableLog;
  private link: StreamLink | null = null;
  private snapshots: SnapshotObjects | null = null;
  private state: ReplicationStateName = 'connecting';
  private reason = 'connecting to NATS';
  /** Last seq known to be in the stream. */
  private streamSeq = 0;
  /**
   * Set when a batch the stream took failed to reach the local log: the stream is ahead, and no
   * change is taken until reconciling has caught up. (Judged then, not from seqs: while a batch is
   * being written after its publish, the stream is ahead for a moment in the normal course.)
   */
  private catchUpWanted = false;
  /** The last seq catchUp read from the stream: the log writer's hook lets those through unpublished. */
  private caughtUpThrough = 0;
  /** Resolves at close: waits for NATS end there. */
  private readonly closedSignal: Promise<void>;
  private signalClosed!: () => void;
  private reconciling: Promise<void> | null = null;
  private reconcileWanted = false;
  private shipping: Promise<void> | null = null;
  private uploading: Promise<void> = Promise.resolve();
  private pendingUpload: { seq: number; file: string } | null = null;
  private readonly frames: LogFrames;
  /** Under quorum: the writer lease (null until NATS first answered). */
  private lease: WriterLease | null = null;
  /** Renews the lease while ready; retries taking it while standing by. */
  private leaseTimer: NodeJS.Timeout | null = null;
  /** While standing by: the URL of the writer holding the lease, as its lease entry says (null: unknown). */
  private leaderUrl: string | null = null;

  private constructor(
    private readonly config: ReplicateConfig,
    private readonly logger: EngineLogger,
    dataDir: string,
  ) {
    this.frames = new LogFrames(dataDir);
    this.closedSignal = new Promise((resolve) => (this.signalClosed = resolve));
  }

  /** Opens the data directory (recovery, lock) and starts connecting to NATS in the background. */
  static async open(options: DurableDncOptions & { readonly replicate: ReplicateOptions }, afterCommit?: AfterCommit): Promise<ReplicatedLog> {
    const config = replicateConfig(options.replicate);
    const logger = options.logger ?? stderrLogger;
    const log = new ReplicatedLog(config, logger, options.dataDir);
    log.durable = await DurableLog.open(options, afterCommit, {
      ...(config.ack === 'quorum' ? { beforeWrite: (frames, firstSeq, lastSeq) => log.beforeWrite(frames, firstSeq, lastSeq) } : {}),
      snapshotWritten: (seq, file) => log.snapshotWritten(seq, file),
    });
    void log.connect();
    return log;
  }

  get store() {
    return this.durable.store;
  }

  get dataDir(): string {
    return this.durable.dataDir;
  }

  historyHead(): Promise<ChainHead> {
    return this.durable.historyHead();
  }

  get lastSeq(): number {
    return this.durable.lastSeq;
  }

  stats(): SourceStats {
    return { ...this.durable.stats(), replication: this.replicationStats() };
  }

  private replicationStats(): ReplicationStats {
    const backlog = this.config.ack === 'local' ? Math.max(0, this.durable.lastSeq - this.streamSeq) : 0;
    const role = this.standingBy() ? 'standby' : 'writer';
    return { stream: this.config.stream, role, ack: this.config.ack, state: this.state, reason: this.reason, streamSeq: this.streamSeq, backlog, leader: this.leader() };
  }

  /** Standing by, or between two tries of the lease while standing by (reconciling without it). */
  private standingBy(): boolean {
    return this.state === 'standby' || (this.state === 'reconciling' && this.lease?.held === false);
  }

  /** The writer's URL: this one's while it writes, the lease holder's while standing by (null: unknown). */
  private leader(): string | null {
    if (this.standingBy()) return this.leaderUrl;
    if (this.state === 'ready') return this.config.advertiseUrl;
    return null;
  }

  attach(link: EngineLink): void {
    this.durable.attach({
      ...link,
      seqAdvanced: () => {
        link.seqAdvanced();
        if (this.config.ack === 'local') this.ship();
      },
    });
  }

  snapshot(): Promise<void> {
    return this.durable.snapshot();
  }

  commit(operation: ChangeOperation, address: ListAddress, sorted: Float64Array, keyId: string | null, apply: () => number, meta?: ChangeMeta): Promise<CommitResult> {
    if (this.config.ack === 'local') return this.durable.commit(operation, address, sorted, keyId, apply, meta);
    if (this.standingBy()) return Promise.reject(this.notLeader());
    if (this.state !== 'ready') return Promise.reject(this.refusal('not stored'));
    if (this.catchUpWanted) {
      this.reconcileSoon();
      return Promise.reject(new IdncError('REPLICATION_UNAVAILABLE', 'the change was not stored: this writer is catching up with its stream; retry shortly'));
    }
    return this.quorumCommit(this.durable.commit(operation, address, sorted, keyId, apply, meta));
  }

  /**
   * The client's answer: the commit, or after REPLICATION_ACK_WAIT_MS "may or may not be stored"
   * (the publish goes on). A local failure after the stream took the change means it is stored
   * there, not here: the client hears "may or may not", and the writer catches up from the stream.
   */
  private quorumCommit(committed: Promise<CommitResult>): Promise<CommitResult> {
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(this.refusal('may or may not be stored')), REPLICATION_ACK_WAIT_MS);
    });
    const settled = committed.then(
      (result) => result,
      (error: unknown) => {
        const code = error instanceof IdncError ? error.code : null;
        if (this.streamSeq > this.durable.lastSeq && code !== 'REPLICATION_UNAVAILABLE' && code !== 'STORED_NOT_APPLIED') {
          this.catchUpWanted = true;
          throw new IdncError('STORAGE_UNAVAILABLE', `the change may or may not be stored: the stream took it but this writer's log did not (${(error as Error).message}); it is applied here once the log takes writes again`);
        }
        throw error;
      },
    );
    return Promise.race([settled, waited]).finally(() => clearTimeout(timer));
  }

  private refusal(outcome: 'not stored' | 'may or may not be stored'): IdncError {
    const why = this.state === 'ready' ? 'NATS JetStream did not acknowledge it in time' : this.reason;
    const next = outcome === 'not stored' ? 'retry once NATS is reachable' : 'the writer settles it against the stream; retrying is safe';
    return new IdncError('REPLICATION_UNAVAILABLE', `the change ${outcome === 'not stored' ? 'was not stored' : 'may or may not be stored'}: ${why}; ${next}`);
  }

  private notLeader(): IdncError {
    const where = this.leaderUrl === null ? 'the writer that holds the lease' : `the writer that holds the lease (${this.leaderUrl})`;
    return new IdncError('NOT_LEADER', `the change was not stored: this writer stands by (${this.reason}); send changes to ${where}`);
  }

  /** The log writer's hook under quorum: the stream takes the batch before the log is written. */
  private beforeWrite(runs: readonly Buffer[], firstSeq: number, lastSeq: number): Promise<void> {
    if (lastSeq <= this.caughtUpThrough) return Promise.resolve(); // read from the stream by catchUp
    if (this.state !== 'ready') return Promise.reject(this.refusal('not stored'));
    if (this.lease !== null && !this.lease.held) {
      this.stepDown('the writer lease lapsed before the change was published');
      return Promise.reject(this.notLeader());
    }
    if (firstSeq <= this.streamSeq) {
      // The stream holds these seqs already: bring the log up to it first, write nothing now.
      this.catchUpWanted = true;
      this.reconcileSoon();
      return Promise.reject(new IdncError('REPLICATION_UNAVAILABLE', 'the change was not stored: this writer is catching up with its stream; retry shortly'));
    }
    if (firstSeq !== this.streamSeq + 1) {
      this.diverge(`the log continues at seq ${firstSeq} but the stream ends at seq ${this.streamSeq}`);
      return Promise.reject(this.refusal('not stored'));
    }
    return this.publishAll(splitFrames(runs));
  }

  /** Publishes `frames` until the stream has them all (retrying through outages), or refuses. */
  private async publishAll(frames: Buffer[]): Promise<void> {
    let next = 0;
    while (next < frames.length) {
      const link = this.link;
      if (this.state === 'closed' || this.state === 'diverged' || link === null) throw this.refusal('may or may not be stored');
      if (this.lease !== null && !this.lease.held) {
        this.stepDown('the writer lease lapsed while a change was being published');
        throw this.refusal('may or may not be stored');
      }
      const outcome = await link.publishRun(frames.slice(next));
      if (outcome.kind === 'published') {
        this.streamSeq = frameSeq(frames[frames.length - 1]!);
        return;
      }
      next += outcome.taken;
      if (outcome.taken > 0) this.streamSeq = frameSeq(frames[next - 1]!);
      if (outcome.fenced) {
        const why = `the stream refused seq ${frameSeq(frames[next]!)}: ${outcome.reason}`;
        // Another writer appended: under a lease it took over (stand by); without one, stop.
        if (this.lease !== null) this.stepDown(`${why} (another writer took over)`);
        else this.diverge(why);
        throw this.refusal('may or may not be stored');
      }
      this.logger.warn(`publishing seq ${frameSeq(frames[next]!)} to the stream failed (${outcome.reason}); retrying`);
      await this.untilConnected(link);
    }
  }

  /** Tries the servers until one answers (or this writer closes), then reconciles. */
  private async connect(): Promise<void> {
    const { servers, stream } = this.config;
    for (let attempt = 1; this.state !== 'closed'; attempt++) {
      try {
        this.link = await StreamLink.open({ servers, stream, name: 'idnc writer' }, (connected) => this.connectionChanged(connected));
        break;
      } catch (error) {
        this.reason = `no NATS server answers (${(error as Error).message})`;
        if (attempt === 1) this.logger.error(`${this.reason}: ${this.config.ack === 'quorum' ? 'changes are refused' : 'changes are published later'}; retrying`);
        await Promise.race([pause(REPLICATION_RETRY_MS), this.closedSignal]);
      }
    }
    if (this.link === null) return;
    if (this.state === 'closed') {
      await this.link.close();
      return;
    }
    this.reconcileSoon();
  }

  private connectionChanged(connected: boolean): void {
    if (this.state === 'closed' || this.state === 'diverged') return;
    if (!connected) {
      this.enter('connecting', 'NATS is unreachable');
      return;
    }
    this.reconcileSoon();
  }

  /** Reconciles once now (or again after the one running). */
  private reconcileSoon(): void {
    this.reconcileWanted = true;
    this.reconciling ??= this.reconcileLoop().finally(() => (this.reconciling = null));
  }

  /** Reconciles while asked to (a call during a run asks for one more: a reconnect meanwhile is not lost). */
  private async reconcileLoop(): Promise<void> {
    while (this.reconcileWanted) {
      this.reconcileWanted = false;
      if (this.state === 'closed' || this.state === 'diverged' || this.link === null) return;
      this.enter('reconciling', 'comparing the stream with the local log');
      try {
        await this.reconcile(this.link);
        if (this.state === 'reconciling') this.enter('ready', '');
        if (this.state === 'ready' && this.lease !== null) this.keepLease();
        if (this.state === 'standby') this.standByTick();
        if (this.config.ack === 'local') this.ship();
      } catch (error) {
        if (this.finished()) return;
        this.enter('connecting', `reconciling with the stream failed (${(error as Error).message}); retrying`);
        this.reconcileWanted = true;
        await this.untilConnected(this.link);
      }
    }
  }

  /** Closed or diverged: nothing more is published (a method, so that no narrowing of `state` hides a change). */
  private finished(): boolean {
    return this.state === 'closed' || this.state === 'diverged';
  }

  /** After a failure: resolves once NATS is reachable again (and a moment later), or at close. */
  private async untilConnected(link: StreamLink): Promise<void> {
    await Promise.race([link.untilConnected().then(() => pause(REPLICATION_RETRY_MS)), this.closedSignal]);
  }

  /** Brings the stream and the local log to the same last seq. */
  private async reconcile(link: StreamLink): Promise<void> {
    // Quorum: every batch in flight is written (or refused) first, so the log's last seq is final.
    if (this.config.ack === 'quorum') await this.durable.settled();
    await link.ensureStream(this.config.replicas);
    this.snapshots ??= await SnapshotObjects.open(link, this.config.replicas);
    if (this.config.ack === 'quorum' && !(await this.holdLease(link))) return;
    const streamSeq = await link.lastSeq();
    this.streamSeq = streamSeq;
    const localSeq = this.durable.lastSeq;
    if (streamSeq > localSeq) await this.catchUp(link, localSeq + 1, streamSeq);
    else if (streamSeq < localSeq && streamSeq === 0) await this.bootstrap(link);
    else if (streamSeq < localSeq) await this.publishBacklog(streamSeq + 1, localSeq);
    this.catchUpWanted = false;
    this.logger.info(`replicating to stream ${this.config.stream} (ack ${this.config.ack}) from seq ${this.streamSeq}`);
  }

  /**
   * Under quorum a writer publishes only while it holds the lease: takes it if free, else follows
   * the stream into its log and stands by (false). A writer taking over catches up after that.
   */
  private async holdLease(link: StreamLink): Promise<boolean> {
    this.lease ??= await WriterLease.open(link, this.config.replicas, this.config.leaseMs, { holder: `${os.hostname()} ${process.pid}`, url: this.config.advertiseUrl });
    if (this.lease.held || (await this.lease.acquire())) return true;
    this.leaderUrl = (await this.lease.current())?.url ?? null;
    const streamSeq = await link.lastSeq();
    this.streamSeq = streamSeq;
    const localSeq = this.durable.lastSeq;
    if (streamSeq > localSeq) await this.catchUp(link, localSeq + 1, streamSeq);
    else if (streamSeq < localSeq) this.diverge(`the stream ends at seq ${streamSeq}, before this standby's log (seq ${localSeq})`);
    this.enter('standby', 'another writer holds the lease');
    return false;
  }

  /** Renews the lease every leaseMs/3 while ready; a failed renewal steps down. */
  private keepLease(): void {
    if (this.leaseTimer !== null) clearInterval(this.leaseTimer);
    this.leaseTimer = setInterval(() => {
      void this.lease?.renew().then((renewed) => {
        if (!renewed && this.state === 'ready') this.stepDown('renewing the writer lease failed');
      });
    }, this.config.leaseMs / 3);
    this.leaseTimer.unref();
  }

  /** Standing by: follows the stream and tries the lease again every leaseMs/3. */
  private standByTick(): void {
    if (this.leaseTimer !== null) clearInterval(this.leaseTimer);
    this.leaseTimer = setTimeout(() => this.reconcileSoon(), this.config.leaseMs / 3);
    this.leaseTimer.unref();
  }

  /** Stops publishing: another writer holds (or may take) the lease; this one follows it. */
  private stepDown(reason: string): void {
    if (this.state === 'closed' || this.state === 'diverged' || this.state === 'standby') return;
    this.logger.error(`stepping down: ${reason}; following the stream and standing by`);
    this.enter('standby', reason);
    this.standByTick();
  }

  /** Logs and applies the stream's records after the local log's last (they are acknowledged there). */
  private async catchUp(link: StreamLink, fromSeq: number, toSeq: number): Promise<void> {
    if (this.config.ack === 'local') {
      this.diverge(`the stream holds seq ${fromSeq}-${toSeq}, which this writer (ack local) never wrote`);
      return;
    }
    this.logger.warn(`the stream holds seq ${fromSeq}-${toSeq}, which the local log lacks: catching up`);
    this.caughtUpThrough = toSeq;
    const consumer = await link.js.consumers.get(this.config.stream, { opt_start_seq: fromSeq });
    const messages = await consumer.consume({ max_messages: REPLICA_PULL_MESSAGES_MAX });
    let change: LogRecord[] = [];
    let received = 0;
    const appended: Promise<CommitResult>[] = [];
    const store = this.durable.store;
    // After NATS restarted whole a consumer does not always deliver again: give up and retry.
    let progressAt = Date.now();
    let stalled = false;
    const watchdog = setInterval(() => {
      if (Date.now() - progressAt <= REPLICA_STALL_MS) return;
      stalled = true;
      messages.stop();
    }, REPLICA_STALL_MS / 2);
    try {
      for await (const message of messages) {
        progressAt = Date.now();
        const expected = fromSeq + received++;
        if (message.seq !== expected) {
          this.diverge(`the stream no longer holds seq ${expected} (trimmed below a snapshot): start this writer from a copy of the writer's data directory`);
          break;
        }
        const record = decodeMessage(message.data, message.seq);
        change.push(record);
        if (record.more !== true) {
          const records = change;
          appended.push(this.durable.appendRecords(records, () => records.reduce((changed, each) => changed + applyRecord(store, each), 0)));
          change = [];
        }
        if (message.seq >= toSeq) break;
      }
    } finally {
      clearInterval(watchdog);
      messages.stop();
    }
    await Promise.all(appended);
    if (this.finished()) return;
    if (stalled) throw new Error(`catching up from the stream stalled at seq ${fromSeq + received}`);
    if (change.length > 0) throw new Error(`the stream ends inside a change (seq ${change[0]!.seq}-${toSeq}): its last record is missing`);
  }

  /**
   * A data directory that has a log meets an empty stream (replication switched on): the stream
   * cannot start at a later seq (JetStream 2.9 refuses the publish after such a purge), so it gets
   * the log's records, or empty placeholders for the seqs a snapshot covers; then a snapshot of
   * the current state is uploaded and the stream is purged below it, so followers start there.
   */
  private async bootstrap(link: StreamLink): Promise<void> {
    this.logger.warn(`the stream ${this.config.stream} is empty and the local log ends at seq ${this.durable.lastSeq}: publishing a snapshot and the stream up to there`);
    await this.durable.snapshot();
    await this.uploading;
    const newest = (await listDataDir(this.durable.dataDir)).snapshots[0];
    assert(newest !== undefined, 'a snapshot was just written');
    const snapshotSeq = newest.lastSeq;
    await this.snapshots!.upload(snapshotSeq, snapshotPath(this.durable.dataDir, snapshotSeq));
    for (let seq = 1; seq <= snapshotSeq; seq += REPLICATION_PUBLISH_RUN_RECORDS_MAX) {
      await this.publishAll(placeholders(seq, Math.min(snapshotSeq, seq + REPLICATION_PUBLISH_RUN_RECORDS_MAX - 1)));
    }
    await link.jsm.streams.purge(this.config.stream, { seq: snapshotSeq + 1 });
    if (snapshotSeq < this.durable.lastSeq) await this.publishBacklog(snapshotSeq + 1, this.durable.lastSeq);
  }

  /** Publishes records the local log has and the stream lacks (ack local's backlog), read from the log files. */
  private async publishBacklog(fromSeq: number, toSeq: number): Promise<void> {
    for (let seq = fromSeq; seq <= toSeq; ) {
      const frames = await this.frames.read(seq, toSeq, REPLICATION_PUBLISH_RUN_RECORDS_MAX);
      if (frames === null) {
        this.diverge(`the stream ends at seq ${seq - 1} and the local log no longer holds seq ${seq} (removed after a snapshot)`);
        return;
      }
      if (frames.length === 0) {
        // Up to toSeq the log acknowledged its records, so they are in its files: this one is damaged.
        // Publishing stops before it, never past it (a follower would miss a change).
        this.diverge(`the local log's record of seq ${seq} cannot be read back for publishing (it fails its checksum or is cut short): the stream ends at seq ${seq - 1}; \`idnc verify\` says what is damaged`);
        return;
      }
      await this.publishAll(frames);
      seq += frames.length;
    }
  }

  /** Ack local: publishes what the log acknowledged and the stream lacks, one run at a time. */
  private ship(): void {
    if (this.shipping !== null || this.state !== 'ready') return;
    this.shipping = (async () => {
      while (this.state === 'ready' && this.streamSeq < this.durable.lastSeq) {
        try {
          await this.publishBacklog(this.streamSeq + 1, this.durable.lastSeq);
        } catch (error) {
          if (this.state !== 'ready') break;
          this.logger.warn(`publishing the backlog failed (${(error as Error).message}); retrying`);
          await pause(REPLICATION_RETRY_MS);
        }
      }
    })().finally(() => (this.shipping = null));
  }

  /** Uploads each new snapshot, one at a time; a newer one waiting replaces an older one waiting. */
  private snapshotWritten(seq: number, file: string): void {
    this.pendingUpload = { seq, file };
    this.uploading = this.uploading.then(async () => {
      const next = this.pendingUpload;
      this.pendingUpload = null;
      // Unreachable NATS would hold a close for the object store's timeouts: the next snapshot goes up instead.
      if (next === null || this.snapshots === null || this.link?.connected !== true) return;
      try {
        await this.trimBelow(await this.snapshots.upload(next.seq, next.file));
      } catch (error) {
        this.logger.warn(`uploading the snapshot of seq ${next.seq} failed (${(error as Error).message}); the next snapshot is uploaded`);
      }
    });
  }

  /**
   * Purges the stream's records up to `seq` (the oldest snapshot object kept covers them): a
   * follower still reading below it finds the next seq gone and reloads from that snapshot or a
   * newer one. Never past the last record known to be in the stream (JetStream 2.9 breaks the
   * expected last sequence of a stream purged ahead of its end), so the stream always keeps one.
   */
  private async trimBelow(seq: number): Promise<void> {
    const link = this.link;
    const keepFrom = Math.min(seq, this.streamSeq - 1) + 1;
    if (link === null || keepFrom <= 1) return;
    await link.jsm.streams.purge(this.config.stream, { seq: keepFrom });
  }

  private diverge(reason: string): void {
    this.enter('diverged', `${reason}: this writer no longer publishes; changes are refused until it is restarted`);
  }

  private enter(next: ReplicationStateName, reason: string): void {
    if (!NEXT_STATES[this.state].includes(next) && next !== this.state) return;
    const was = this.state;
    this.state = next;
    this.reason = reason;
    if (next === 'diverged') this.logger.error(`REPLICATION STOPPED: ${reason}`);
    else if (next === 'connecting' && was === 'ready') this.logger.error(`replication unavailable: ${reason}`);
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.enter('closed', 'closed');
    this.signalClosed();
    if (this.leaseTimer !== null) clearInterval(this.leaseTimer);
    await this.durable.close();
    await this.lease?.release();
    await this.uploading;
    await this.shipping;
    await this.link?.close();
  }
}

/** Empty messages for seqs a snapshot covers (bootstrap): never read, purged right after. */
function placeholders(firstSeq: number, lastSeq: number): Buffer[] {
  const frames: Buffer[] = [];
  for (let seq = firstSeq; seq <= lastSeq; seq++) {
    const frame = Buffer.alloc(16);
    frame.writeUInt32LE(seq >>> 0, 8);
    frame.writeUInt32LE(Math.floor(seq / 2 ** 32), 12);
    frames.push(frame);
  }
  return frames;
}
