// The durable engine's change sink: changes go through the log (src/persist/) before they are
// applied to the engine's store. It owns the pieces of one data directory: the writer lock, the
// recovered state, the log writer with group commit, and the snapshot schedule (every
// snapshotIntervalMs when something changed, when the log since the last snapshot exceeds
// snapshotLogBytes, and on close). Writes go on while a snapshot is written: the state is
// serialised synchronously at one seq, the file is written asynchronously.
// A writer that fail-stops (src/persist/log-writer.ts) gets no more snapshots, not even at close:
// memory may lack a durable change, which only a replay of the log at the next start brings back.
// open() takes the lock, recovers and opens the log before it builds the object, so a DurableLog is
// always open: its writer, lock and mark are never missing.

import fs from 'node:fs';
import path from 'node:path';
import {
  DIRECTORY_MODE_OWNER_ONLY,
  LOG_RECORD_NUMBERS_MAX,
  SNAPSHOT_INTERVAL_MS_DEFAULT,
  SNAPSHOT_LOG_BYTES_DEFAULT,
  SNAPSHOTS_KEPT,
  HISTORY_RETENTION_MS_DEFAULT,
} from '../constants.js';
import type { EngineLogger } from '../logger.js';
import { IdncError } from '../errors.js';
import { listDataDir, segmentPath, snapshotPath } from '../persist/data-dir.js';
import { DurableMarkWriter, readAcknowledgedSeq } from '../persist/durable-mark.js';
import { nodeFileSystem, type PersistFileSystem } from '../persist/file-system.js';
import { LogWriter, type FsyncMode, type OpenSegment } from '../persist/log-writer.js';
import type { LogChange } from '../persist/record.js';
import type { ChangeMeta } from '../history/change-meta.js';
import { encodeState, type ChainHead } from '../history/chain.js';
import { ChainTracker } from '../history/chain-tracker.js';
import { archiveSegments, sweepHistory } from '../history/archive.js';
import { recoverDataDir, type RecoveryResult } from '../persist/recovery.js';
import { segmentHeader } from '../persist/segment-scan.js';
import { captureStore, writeSnapshot } from '../persist/snapshot.js';
import { acquireWriterLock, type WriterLock } from '../persist/writer-lock.js';
import { DncStore } from '../store/dnc-store.js';
import type { ListAddress } from '../store/list-id.js';
import type { ChangeSink, CommitResult, EngineLink } from './change-sink.js';
import { checkFsyncMode, checkPositive, stderrLogger } from './options.js';
import type { EngineSource, SourceStats } from './source.js';
import type { ChangeOperation, LogStats, OpenDncOptions } from './types.js';

export interface DurableDncOptions extends OpenDncOptions {
  readonly dataDir: string;
  /** Test seam: the file system the log and snapshot writers use (default: node:fs). */
  readonly fileSystem?: PersistFileSystem;
  /** After a failed append, how often to probe the disk (default STORAGE_PROBE_INTERVAL_MS). */
  readonly storageProbeIntervalMs?: number;
  /** Segment size that starts a new segment (default LOG_SEGMENT_BYTES_MAX). */
  readonly segmentBytesMax?: number;
  /**
   * Called once if the log writer fail-stops (a durable change failed to apply, or a rejected batch
   * could not be cut from the log): writes and snapshots are refused from then on, and only a
   * restart (which replays the log or refuses until `idnc repair`) resumes. `idnc serve` exits.
   */
  readonly onWriterStopped?: (reason: string) => void;
  /**
   * How long the log segments a snapshot covers are kept in `history/` for the compliance history
   * (default HISTORY_RETENTION_MS_DEFAULT, 5 years); shorter is accepted with a warning at every open.
   */
  readonly historyRetentionMs?: number;
  /** Test seam: the clock history retention is judged by (default Date.now). */
  readonly clock?: () => number;
}

/**
 * Creates `dataDir` and any missing parents (owner-only: the files hold personal data), flushing the parent of each directory created: a new
 * directory's entry must survive power loss as much as the files written in it.
 */
async function createDataDir(dataDir: string, fileSystem: PersistFileSystem): Promise<void> {
  const firstCreated = await fs.promises.mkdir(dataDir, { recursive: true, mode: DIRECTORY_MODE_OWNER_ONLY });
  if (firstCreated === undefined) return;
  for (let created = dataDir; ; created = path.dirname(created)) {
    await fileSystem.fsyncDirectory(path.dirname(created));
    if (created === firstCreated) return;
  }
}

/**
 * Runs after a change is durable and applied here, before add/remove resolve (`idnc serve
 * --workers` waits in it until every worker has applied the change). Its rejection is the caller's
 * error, although the change is stored. Cluster plumbing: an argument of open(), not an option a
 * library user sees.
 */
export type AfterCommit = (seq: number) => Promise<void>;

/**
 * What a replicated writer (src/replicate/) hooks into the log: `beforeWrite` gets each batch's
 * framed records before they are written (LogWriterOptions.beforeWrite), `snapshotWritten` each
 * snapshot file once it is complete. Plumbing of openDnc's `replicate` option, not an option itself.
 */
export interface LogReplication {
  readonly beforeWrite?: (frames: readonly Buffer[], firstSeq: number, lastSeq: number) => Promise<void>;
  readonly snapshotWritten?: (seq: number, file: string) => void;
}

/** The options of a durable log, checked, with their defaults. */
interface DurableConfig {
  readonly options: DurableDncOptions;
  readonly dataDir: string;
  readonly logger: EngineLogger;
  readonly fileSystem: PersistFileSystem;
  readonly fsync: FsyncMode;
  readonly snapshotIntervalMs: number;
  readonly snapshotLogBytes: number;
  readonly historyRetentionMs: number;
  readonly clock: () => number;
}

function durableConfig(options: DurableDncOptions): DurableConfig {
  // A durable engine is the writer; following a directory read-only is the follower's job.
  if (options.readOnly === true) throw new IdncError('INVALID_PARAMETER', 'readOnly: open a follower with openDnc({ dataDir, readOnly: true })');
  return {
    options,
    dataDir: path.resolve(options.dataDir),
    logger: options.logger ?? stderrLogger,
    fileSystem: options.fileSystem ?? nodeFileSystem,
    fsync: checkFsyncMode(options.fsync),
    snapshotIntervalMs: checkPositive(options.snapshotIntervalMs, 'snapshotIntervalMs', SNAPSHOT_INTERVAL_MS_DEFAULT),
    snapshotLogBytes: checkPositive(options.snapshotLogBytes, 'snapshotLogBytes', SNAPSHOT_LOG_BYTES_DEFAULT),
    historyRetentionMs: checkPositive(options.historyRetentionMs, 'historyRetentionMs', HISTORY_RETENTION_MS_DEFAULT),
    clock: options.clock ?? Date.now,
  };
}

/** What open() has taken and read before the log exists: the log is built only once all of it is there. */
interface Opened {
  readonly store: DncStore;
  readonly recovered: Recovered;
  readonly lock: WriterLock;
  readonly mark: DurableMarkWriter;
  readonly segment: OpenSegment;
}

interface Recovered extends RecoveryResult {
  /** When the snapshot recovery loaded was written (ms since the epoch); null: none. */
  readonly snapshotAtMs: number | null;
}

export class DurableLog implements ChangeSink, EngineSource {
  readonly kind = 'durable';
  /** The store recovery fills and changes are applied to: the engine's (it never swaps it). */
  readonly store: DncStore;
  readonly dataDir: string;
  private readonly writer: LogWriter;
  private readonly lock: WriterLock;
  private readonly mark: DurableMarkWriter;
  private link: EngineLink | null = null;
  private readonly logger: EngineLogger;
  private readonly fileSystem: PersistFileSystem;
  private readonly fsync: FsyncMode;
  private readonly snapshotLogBytes: number;
  private snapshotSeq: number;
  /** Seqs of the snapshots known to be good: the one recovery loaded and those this process wrote. */
  private readonly goodSnapshotSeqs = new Set<number>();
  private logBytesAtSnapshot: number;
  private lastSnapshotAtMs: number | null;
  private lastSnapshotDurationMs: number | null = null;
  private snapshotRunning: Promise<void> | null = null;
  private readonly snapshotTimer: NodeJS.Timeout;
  private closing: Promise<void> | null = null;
  /** The hash chain over this log (docs/history.md): walked from the files when a snapshot or a head needs it. */
  private readonly chain: ChainTracker;
  private readonly historyRetentionMs: number;
  private readonly clock: () => number;

  private constructor(
    config: DurableConfig,
    private readonly afterCommit: AfterCommit | undefined,
    opened: Opened,
    private readonly replication: LogReplication = {},
  ) {
    const { recovered } = opened;
    this.store = opened.store;
    this.dataDir = config.dataDir;
    this.logger = config.logger;
    this.fileSystem = config.fileSystem;
    this.fsync = config.fsync;
    this.snapshotLogBytes = config.snapshotLogBytes;
    this.lock = opened.lock;
    this.mark = opened.mark;
    this.snapshotSeq = recovered.snapshotSeq;
    if (recovered.snapshotPath !== null) this.goodSnapshotSeqs.add(recovered.snapshotSeq);
    this.lastSnapshotAtMs = recovered.snapshotAtMs;
    // The replayed log counts toward --snapshot-log-bytes, as if this process had written it.
    this.logBytesAtSnapshot = -recovered.replayedBytes;
    this.writer = this.newWriter(config, opened.segment, recovered.lastSeq);
    this.chain = new ChainTracker(this.dataDir);
    this.historyRetentionMs = config.historyRetentionMs;
    this.clock = config.clock;
    this.snapshotTimer = setInterval(() => this.snapshotIfChanged(), config.snapshotIntervalMs);
    this.snapshotTimer.unref();
  }

  /** Opens (creating if needed) a data directory: lock, recover, then accept writes. */
  static async open(options: DurableDncOptions, afterCommit?: AfterCommit, replication?: LogReplication): Promise<DurableLog> {
    const config = durableConfig(options);
    await createDataDir(config.dataDir, config.fileSystem);
    const lock = await acquireWriterLock(config.dataDir, config.fileSystem, config.logger);
    let mark: DurableMarkWriter | null = null;
    let recoveredSeq = 0;
    let log: DurableLog;
    try {
      const store = new DncStore();
      const recovered = await recover(config, store);
      recoveredSeq = recovered.lastSeq;
      mark = await DurableMarkWriter.open(config.fileSystem, config.dataDir, recoveredSeq, config.fsync);
      const segment = await openSegment(config, recovered);
      log = new DurableLog(config, afterCommit, { store, recovered, lock, mark, segment }, replication);
    } catch (error) {
      await mark?.close(recoveredSeq).catch(() => undefined);
      await lock.release();
      throw error;
    }
    if (config.historyRetentionMs < HISTORY_RETENTION_MS_DEFAULT) {
      const days = Math.round(config.historyRetentionMs / 86_400_000);
      config.logger.warn(`history is kept for ${days} days, less than the 5 years US do-not-call rules require (47 CFR 64.1200(d)(6)): older changes are removed`);
    }
    await log.sweepHistory();
    log.snapshotIfLogLarge();
    return log;
  }

  /** Removes archived segments older than the retention; a failure is logged, and retried at the next snapshot. */
  private async sweepHistory(): Promise<void> {
    try {
      const removed = await sweepHistory(this.fileSystem, this.dataDir, this.historyRetentionMs, this.clock(), (org, projId, number) => this.store.list({ org, projId })?.has(number) === true);
      if (removed > 0) this.logger.info(`removed ${removed} history segments older than the retention`);
    } catch (error) {
      this.logger.error(`removing expired history failed (${(error as Error).message}); retrying at the next snapshot`);
    }
  }

  /** The engine this log commits for: told when a batch is applied (called once, by the engine). */
  attach(link: EngineLink): void {
    this.link = link;
  }

  /** Seq of the last change applied (and durable under fsync 'always'). */
  get lastSeq(): number {
    return this.writer.durableSeq;
  }

  stats(): SourceStats {
    return { log: this.logStats(), follower: null };
  }

  private logStats(): LogStats {
    const writer = this.writer;
    const seq = this.lastSeq;
    return {
      seq,
      recordsSinceSnapshot: Math.max(0, seq - this.snapshotSeq),
      bytesSinceSnapshot: writer.bytesWritten - this.logBytesAtSnapshot,
      lastSnapshotAtMs: this.lastSnapshotAtMs,
      lastSnapshotDurationMs: this.lastSnapshotDurationMs,
      writerState: writer.status.state,
    };
  }

  /** The hash chain's head at the last acknowledged change. */
  historyHead(): Promise<ChainHead> {
    return this.chain.headAt(this.writer.durableSeq);
  }

  /** Writes a snapshot of the current state now (no-op when nothing changed since the last one). */
  async snapshot(): Promise<void> {
    await this.snapshotOnce();
  }

  /** After the engine refuses further calls: drains the log, takes the final snapshot, releases the lock. */
  async close(): Promise<void> {
    this.closing ??= this.shutDown();
    return this.closing;
  }

  private async shutDown(): Promise<void> {
    clearInterval(this.snapshotTimer);
    await this.writer.drain();
    if (this.writer.status.state === 'stopped') this.logger.warn('no final snapshot: the log writer stopped, and the next start replays the log');
    else {
      try {
        await this.snapshotOnce();
      } catch (error) {
        this.logger.error(`final snapshot failed (${(error as Error).message}); the log still holds every change`);
      }
    }
    await this.writer.close();
    await this.mark.close(this.writer.durableSeq).catch((error: Error) => this.logger.error(`flushing the durable-seq mark at close failed: ${error.message}`));
    await this.lock.release();
  }

  private newWriter(config: DurableConfig, segment: OpenSegment, lastSeq: number): LogWriter {
    const { options } = config;
    return new LogWriter(
      {
        dataDir: this.dataDir,
        fileSystem: this.fileSystem,
        fsync: this.fsync,
        logger: this.logger,
        probeIntervalMs: options.storageProbeIntervalMs,
        segmentBytesMax: options.segmentBytesMax,
        onBatchApplied: () => {
          this.link?.seqAdvanced();
          this.snapshotIfLogLarge();
        },
        onFsync: options.fsyncObserver,
        onStopped: options.onWriterStopped,
        onDurable: (seq) => this.advanceMark(seq),
        ...(this.replication.beforeWrite === undefined ? {} : { beforeWrite: this.replication.beforeWrite }),
      },
      segment,
      lastSeq,
    );
  }

  /**
   * Followers apply nothing above the mark, so a batch is acknowledged only once the mark says so;
   * under fsync 'always' the mark is flushed too, so that after a power loss it still covers every
   * acknowledged record. A failed write or flush of it stops the writer (the log writer tells the
   * batch's clients the change is stored, and a restart writes the mark again).
   */
  private advanceMark(seq: number): Promise<void> {
    return this.fsync === 'always' ? this.mark.writeDurable(seq) : this.mark.write(seq);
  }

  /** Not async: a single add is one promise from the log writer, not a chain of them. */
  commit(operation: ChangeOperation, address: ListAddress, sorted: Float64Array, keyId: string | null, apply: () => number, meta?: ChangeMeta): Promise<CommitResult> {
    if (sorted.length === 0 && operation !== 'drop') return Promise.resolve({ changed: 0, seq: this.writer.durableSeq });
    // `ts` is the change's `at` in the history: taken as it enters the writer's queue, at most one
    // group commit (a write and an fdatasync) before it is durable (docs/history.md).
    const ts = Date.now();
    const { org, projId } = address;
    let records: LogChange[];
    if (sorted.length <= LOG_RECORD_NUMBERS_MAX) {
      const record = { op: operation, org, projId, numbers: sorted, ts, keyId };
      records = [meta === undefined ? record : withMeta(record, meta, false, sorted.length)];
    } else {
      // Every record of a split change carries the fields: any one of them names the change.
      records = [];
      for (let start = 0; start < sorted.length; start += LOG_RECORD_NUMBERS_MAX) {
        const numbers = sorted.subarray(start, start + LOG_RECORD_NUMBERS_MAX);
        const more = start + LOG_RECORD_NUMBERS_MAX < sorted.length;
        const record = { op: operation, org, projId, numbers, ts, keyId };
        records.push(meta === undefined ? (more ? { ...record, more } : record) : withMeta(record, meta, more, sorted.length));
      }
    }
    const appended = this.writer.append(records, apply);
    const afterCommit = this.afterCommit;
    if (afterCommit === undefined) return appended;
    return appended.then(async (result) => {
      await afterCommit(result.seq);
      return result;
    });
  }

  /**
   * Logs and applies records that are already replicated elsewhere (a replicated writer catching up
   * from its stream), as they are: their seqs must follow lastSeq, and a change split over several
   * records comes whole.
   */
  appendRecords(records: readonly LogChange[], apply: () => number): Promise<CommitResult> {
    return this.writer.append(records, apply);
  }

  /** Resolves once every change queued so far is written and acknowledged, or refused. */
  settled(): Promise<void> {
    return this.writer.drain();
  }

  private snapshotIfChanged(): void {
    if (this.snapshotRunning !== null || this.writer.durableSeq === this.snapshotSeq) return;
    if (this.writer.status.state === 'stopped') return;
    this.snapshotOnce().catch((error: Error) => this.logger.error(`snapshot failed (${error.message}); the log still holds every change, retrying later`));
  }

  private snapshotIfLogLarge(): void {
    if (this.writer.bytesWritten - this.logBytesAtSnapshot < this.snapshotLogBytes) return;
    this.snapshotIfChanged();
  }

  /** Runs one snapshot at a time; a call during a running one waits for it, then takes its own. */
  private async snapshotOnce(): Promise<void> {
    while (this.snapshotRunning !== null) await this.snapshotRunning.catch(() => undefined);
    const running = this.writeSnapshotNow();
    this.snapshotRunning = running;
    try {
      await running;
    } finally {
      this.snapshotRunning = null;
    }
  }

  private async writeSnapshotNow(): Promise<void> {
    const writer = this.writer;
    const { state, reason } = writer.status;
    if (state === 'stopped') throw new IdncError('STORAGE_UNAVAILABLE', `no snapshot is written: ${reason}`);
    if (writer.durableSeq === this.snapshotSeq) return;
    const started = performance.now();
    // The chain is walked up to now first, so that the store stays captured (its pools pinned) only
    // for the few records acknowledged meanwhile.
    await this.chain.stateAt(writer.durableSeq);
    const seq = writer.durableSeq;
    const captured = captureStore(this.store);
    const bytesMark = writer.bytesWritten;
    writer.requestRotation();
    let bytes: number;
    try {
      const chain = encodeState(await this.chain.stateAt(seq));
      bytes = await writeSnapshot(this.fileSystem, this.dataDir, snapshotPath(this.dataDir, seq), seq, captured, { chain });
    } finally {
      captured.release();
    }
    this.snapshotSeq = seq;
    this.goodSnapshotSeqs.add(seq);
    this.logBytesAtSnapshot = bytesMark;
    this.lastSnapshotAtMs = Date.now();
    this.lastSnapshotDurationMs = performance.now() - started;
    this.replication.snapshotWritten?.(seq, snapshotPath(this.dataDir, seq));
    const removed = await this.removeCovered();
    this.logger.info(
      `snapshot of seq ${seq} written in ${(performance.now() - started).toFixed(1)} ms (${bytes} bytes); removed ${removed} old files`,
    );
  }

  /**
   * Keeps the newest SNAPSHOTS_KEPT snapshots known to be good (a snapshot that failed its checks at
   * recovery would not help it) and removes older snapshots; the log segments the oldest kept one
   * covers move to history (src/history/archive.ts), so recovery can still fall back to that one if
   * the newest fails its checks, and never reads them again.
   */
  private async removeCovered(): Promise<number> {
    const { snapshots, segments } = await listDataDir(this.dataDir);
    const good = snapshots.filter((snapshot) => this.goodSnapshotSeqs.has(snapshot.lastSeq));
    if (good.length < SNAPSHOTS_KEPT) return 0;
    const coveredSeq = good[SNAPSHOTS_KEPT - 1]!.lastSeq;
    const doomed = snapshots.filter((snapshot) => snapshot.lastSeq < coveredSeq).map((snapshot) => snapshot.path);
    const covered = segments.filter((segment, i) => i + 1 < segments.length && segments[i + 1]!.firstSeq - 1 <= coveredSeq);
    for (const seq of this.goodSnapshotSeqs) if (seq < coveredSeq) this.goodSnapshotSeqs.delete(seq);
    for (const file of doomed) await this.fileSystem.unlink(file).catch(() => undefined);
    if (doomed.length > 0) await this.fileSystem.fsyncDirectory(this.dataDir);
    await archiveSegments(this.fileSystem, this.dataDir, covered, (segment) => this.chain.takeSegmentStart(segment.firstSeq));
    await this.sweepHistory();
    return doomed.length + covered.length;
  }
}

async function recover(config: DurableConfig, store: DncStore): Promise<Recovered> {
  const { dataDir, fileSystem, logger } = config;
  // Under fsync 'always' the last writer's mark tells an acknowledged record from a torn write.
  const acknowledgedSeq = config.fsync === 'always' ? await readAcknowledgedSeq(dataDir) : null;
  const acknowledged = acknowledgedSeq !== null ? { acknowledgedSeq } : {};
  const result = await recoverDataDir(store, { dataDir, fileSystem, logger, mode: 'write', ...acknowledged });
  const snapshotAtMs = result.snapshotPath === null ? null : ((await fs.promises.stat(result.snapshotPath).catch(() => null))?.mtimeMs ?? null);
  const from = result.snapshotPath === null ? 'no snapshot' : `snapshot ${path.basename(result.snapshotPath)}`;
  logger.info(`recovered ${dataDir} in ${result.durationMs.toFixed(1)} ms: ${from}, ${result.replayed} log records replayed, last seq ${result.lastSeq}`);
  return { ...result, snapshotAtMs };
}

/** Continues the last segment after its good prefix, or starts one at the next seq. */
async function openSegment(config: DurableConfig, recovered: RecoveryResult): Promise<OpenSegment> {
  const { fileSystem, dataDir } = config;
  const { tail, lastSeq } = recovered;
  if (tail === null || tail.lastSeq < lastSeq) return createSegment(fileSystem, dataDir, lastSeq + 1);
  const fd = await fileSystem.open(tail.segment.path, 'r+');
  const segment = { firstSeq: tail.segment.firstSeq, fd, size: tail.endOffset };
  if (tail.endOffset === 0) {
    await fileSystem.writev(fd, [segmentHeader()], 0);
    await fileSystem.fdatasync(fd);
    segment.size = segmentHeader().length;
  }
  return segment;
}

async function createSegment(fileSystem: PersistFileSystem, dataDir: string, firstSeq: number): Promise<OpenSegment> {
  const fd = await fileSystem.open(segmentPath(dataDir, firstSeq), 'wx');
  await fileSystem.writev(fd, [segmentHeader()], 0);
  await fileSystem.fdatasync(fd);
  await fileSystem.fsyncDirectory(dataDir);
  return { firstSeq, fd, size: segmentHeader().length };
}

/**
 * A record of a change with what its client said (`meta`), each field set only when given so that
 * a record without them is what it was; a bulk import's input goes on the change's last record
 * only (docs/history.md). `base` is a fresh object, completed in place: spreads cost most of what
 * the fields cost an add.
 */
function withMeta(base: LogChange, meta: ChangeMeta, more: boolean, count: number): LogChange {
  const record: { -readonly [K in keyof LogChange]: LogChange[K] } = base;
  if (meta.source !== undefined) record.source = meta.source;
  if (meta.reason !== undefined) record.reason = meta.reason;
  if (meta.requestedAt !== undefined) record.requestedAt = meta.requestedAt;
  if (more) record.more = true;
  else if (meta.import !== undefined) record.import = { ...meta.import, count: meta.import.count ?? count };
  return record;
}
