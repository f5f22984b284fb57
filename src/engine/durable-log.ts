// The durable engine's change sink: changes go through the log (src/persist/) before they are
// applied to the engine's store. It owns the pieces of one data directory: the writer lock, the
// recovered state, the log writer with group commit, and the snapshot schedule (every
// snapshotIntervalMs when something changed, when the log since the last snapshot exceeds
// snapshotLogBytes, and on close). Writes go on while a snapshot is written: the state is
// serialised synchronously at one seq, the file is written asynchronously.
// A writer that fail-stops (src/persist/log-writer.ts) gets no more snapshots, not even at close:
// memory may lack a durable change, which only a replay of the log at the next start brings back.

import fs from 'node:fs';
import path from 'node:path';
import {
  DIRECTORY_MODE_OWNER_ONLY,
  LOG_RECORD_NUMBERS_MAX,
  SNAPSHOT_INTERVAL_MS_DEFAULT,
  SNAPSHOT_LOG_BYTES_DEFAULT,
  SNAPSHOTS_KEPT,
} from '../constants.js';
import type { EngineLogger } from '../engine-logger.js';
import { IdncError } from '../errors.js';
import { listDataDir, segmentPath, snapshotPath } from '../persist/data-dir.js';
import { DurableMarkWriter, readAcknowledgedSeq } from '../persist/durable-mark.js';
import { nodeFileSystem, type PersistFileSystem } from '../persist/file-system.js';
import { LogWriter, type FsyncMode, type OpenSegment } from '../persist/log-writer.js';
import type { LogChange } from '../persist/record.js';
import { recoverDataDir, type RecoveryResult } from '../persist/recovery.js';
import { segmentHeader } from '../persist/segment-scan.js';
import { captureStore, writeSnapshot } from '../persist/snapshot.js';
import { acquireWriterLock, type WriterLock } from '../persist/writer-lock.js';
import { DncStore } from '../store/dnc-store.js';
import type { ListAddress } from '../store/list-id.js';
import type { ChangeSink, CommitResult, EngineLink } from './change-sink.js';
import { checkFsyncMode, checkPositive, stderrLogger } from './options.js';
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

export class DurableLog implements ChangeSink {
  /** The store recovery fills and changes are applied to: the engine's (it never swaps it). */
  readonly store = new DncStore();
  private writer: LogWriter | null = null;
  private lock: WriterLock | null = null;
  private mark: DurableMarkWriter | null = null;
  private link: EngineLink | null = null;
  private readonly logger: EngineLogger;
  private readonly fileSystem: PersistFileSystem;
  private readonly fsync: FsyncMode;
  private readonly snapshotIntervalMs: number;
  private readonly snapshotLogBytes: number;
  private snapshotSeq = 0;
  /** Seqs of the snapshots known to be good: the one recovery loaded and those this process wrote. */
  private readonly goodSnapshotSeqs = new Set<number>();
  private recoveredSeq = 0;
  private logBytesAtSnapshot = 0;
  private lastSnapshotAtMs: number | null = null;
  private lastSnapshotDurationMs: number | null = null;
  private snapshotRunning: Promise<void> | null = null;
  private snapshotTimer: NodeJS.Timeout | null = null;
  private closing: Promise<void> | null = null;

  private constructor(
    private readonly options: DurableDncOptions,
    private readonly afterCommit: AfterCommit | undefined,
  ) {
    // A durable engine is the writer; following a directory read-only is the follower's job.
    if (options.readOnly === true) throw new IdncError('INVALID_PARAMETER', 'readOnly: open a follower with openDnc({ dataDir, readOnly: true })');
    this.dataDir = path.resolve(options.dataDir);
    this.logger = options.logger ?? stderrLogger;
    this.fileSystem = options.fileSystem ?? nodeFileSystem;
    this.fsync = checkFsyncMode(options.fsync);
    this.snapshotIntervalMs = checkPositive(options.snapshotIntervalMs, 'snapshotIntervalMs', SNAPSHOT_INTERVAL_MS_DEFAULT);
    this.snapshotLogBytes = checkPositive(options.snapshotLogBytes, 'snapshotLogBytes', SNAPSHOT_LOG_BYTES_DEFAULT);
  }

  readonly dataDir: string;

  /** Opens (creating if needed) a data directory: lock, recover, then accept writes. */
  static async open(options: DurableDncOptions, afterCommit?: AfterCommit): Promise<DurableLog> {
    const log = new DurableLog(options, afterCommit);
    await createDataDir(log.dataDir, log.fileSystem);
    log.lock = await acquireWriterLock(log.dataDir, log.fileSystem, log.logger);
    try {
      const recovered = await log.recover();
      log.mark = await DurableMarkWriter.open(log.fileSystem, log.dataDir, recovered.lastSeq, log.fsync);
      log.writer = await log.openWriter(recovered);
      // The replayed log counts toward --snapshot-log-bytes, as if this process had written it.
      log.logBytesAtSnapshot = -recovered.replayedBytes;
    } catch (error) {
      await log.mark?.close(log.recoveredSeq).catch(() => undefined);
      await log.lock.release();
      throw error;
    }
    log.snapshotTimer = setInterval(() => log.snapshotIfChanged(), log.snapshotIntervalMs);
    log.snapshotTimer.unref();
    log.snapshotIfLogLarge();
    return log;
  }

  /** The engine this log commits for: told when a batch is applied (called once, by the engine). */
  attach(link: EngineLink): void {
    this.link = link;
  }

  /** Seq of the last change applied (and durable under fsync 'always'). */
  get lastSeq(): number {
    return this.writer?.durableSeq ?? this.recoveredSeq;
  }

  logStats(): LogStats {
    const writer = this.writer!;
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
    if (this.snapshotTimer !== null) clearInterval(this.snapshotTimer);
    if (this.writer === null) return;
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
    await this.mark?.close(this.writer.durableSeq).catch((error: Error) => this.logger.error(`flushing the durable-seq mark at close failed: ${error.message}`));
    await this.lock?.release();
  }

  private async recover(): Promise<RecoveryResult> {
    // Under fsync 'always' the last writer's mark tells an acknowledged record from a torn write.
    const acknowledgedSeq = this.fsync === 'always' ? await readAcknowledgedSeq(this.dataDir) : null;
    const acknowledged = acknowledgedSeq !== null ? { acknowledgedSeq } : {};
    const result = await recoverDataDir(this.store, { dataDir: this.dataDir, fileSystem: this.fileSystem, logger: this.logger, mode: 'write', ...acknowledged });
    this.snapshotSeq = result.snapshotSeq;
    if (result.snapshotPath !== null) this.goodSnapshotSeqs.add(result.snapshotSeq);
    this.recoveredSeq = result.lastSeq;
    if (result.snapshotPath !== null) {
      this.lastSnapshotAtMs = (await fs.promises.stat(result.snapshotPath).catch(() => null))?.mtimeMs ?? null;
    }
    const from = result.snapshotPath === null ? 'no snapshot' : `snapshot ${path.basename(result.snapshotPath)}`;
    this.logger.info(
      `recovered ${this.dataDir} in ${result.durationMs.toFixed(1)} ms: ${from}, ${result.replayed} log records replayed, last seq ${result.lastSeq}`,
    );
    return result;
  }

  /** Continues the last segment after its good prefix, or starts one at the next seq. */
  private async openWriter(recovered: RecoveryResult): Promise<LogWriter> {
    const { tail, lastSeq } = recovered;
    let segment: OpenSegment;
    if (tail !== null && tail.lastSeq >= lastSeq) {
      const fd = await this.fileSystem.open(tail.segment.path, 'r+');
      segment = { firstSeq: tail.segment.firstSeq, fd, size: tail.endOffset };
      if (tail.endOffset === 0) {
        await this.fileSystem.writev(fd, [segmentHeader()], 0);
        await this.fileSystem.fdatasync(fd);
        segment.size = segmentHeader().length;
      }
    } else {
      segment = await this.createSegment(lastSeq + 1);
    }
    return new LogWriter(
      {
        dataDir: this.dataDir,
        fileSystem: this.fileSystem,
        fsync: this.fsync,
        logger: this.logger,
        probeIntervalMs: this.options.storageProbeIntervalMs,
        segmentBytesMax: this.options.segmentBytesMax,
        onBatchApplied: () => {
          this.link?.seqAdvanced();
          this.snapshotIfLogLarge();
        },
        onFsync: this.options.fsyncObserver,
        onStopped: this.options.onWriterStopped,
        onDurable: (seq) => this.advanceMark(seq),
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
    return this.fsync === 'always' ? this.mark!.writeDurable(seq) : this.mark!.write(seq);
  }

  private async createSegment(firstSeq: number): Promise<OpenSegment> {
    const fd = await this.fileSystem.open(segmentPath(this.dataDir, firstSeq), 'wx');
    await this.fileSystem.writev(fd, [segmentHeader()], 0);
    await this.fileSystem.fdatasync(fd);
    await this.fileSystem.fsyncDirectory(this.dataDir);
    return { firstSeq, fd, size: segmentHeader().length };
  }

  /** Not async: a single add is one promise from the log writer, not a chain of them. */
  commit(operation: ChangeOperation, address: ListAddress, sorted: Float64Array, keyId: string | null, apply: () => number): Promise<CommitResult> {
    if (this.writer === null) return Promise.reject(new Error('commit: the log writer is not open'));
    if (sorted.length === 0 && operation !== 'drop') return Promise.resolve({ changed: 0, seq: this.writer.durableSeq });
    const ts = Date.now();
    const { org, projId } = address;
    let records: LogChange[];
    if (sorted.length <= LOG_RECORD_NUMBERS_MAX) records = [{ op: operation, org, projId, numbers: sorted, ts, keyId }];
    else {
      records = [];
      for (let start = 0; start < sorted.length; start += LOG_RECORD_NUMBERS_MAX) {
        const numbers = sorted.subarray(start, start + LOG_RECORD_NUMBERS_MAX);
        const more = start + LOG_RECORD_NUMBERS_MAX < sorted.length;
        records.push({ op: operation, org, projId, numbers, ts, keyId, ...(more ? { more } : {}) });
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

  private snapshotIfChanged(): void {
    if (this.snapshotRunning !== null || this.writer === null || this.writer.durableSeq === this.snapshotSeq) return;
    if (this.writer.status.state === 'stopped') return;
    this.snapshotOnce().catch((error: Error) => this.logger.error(`snapshot failed (${error.message}); the log still holds every change, retrying later`));
  }

  private snapshotIfLogLarge(): void {
    if (this.writer === null || this.writer.bytesWritten - this.logBytesAtSnapshot < this.snapshotLogBytes) return;
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
    if (writer === null) return;
    const { state, reason } = writer.status;
    if (state === 'stopped') throw new IdncError('STORAGE_UNAVAILABLE', `no snapshot is written: ${reason}`);
    if (writer.durableSeq === this.snapshotSeq) return;
    const started = performance.now();
    const seq = writer.durableSeq;
    const captured = captureStore(this.store);
    const bytesMark = writer.bytesWritten;
    writer.requestRotation();
    let bytes: number;
    try {
      bytes = await writeSnapshot(this.fileSystem, this.dataDir, snapshotPath(this.dataDir, seq), seq, captured.lists);
    } finally {
      captured.release();
    }
    this.snapshotSeq = seq;
    this.goodSnapshotSeqs.add(seq);
    this.logBytesAtSnapshot = bytesMark;
    this.lastSnapshotAtMs = Date.now();
    this.lastSnapshotDurationMs = performance.now() - started;
    const removed = await this.removeCovered();
    this.logger.info(
      `snapshot of seq ${seq} written in ${(performance.now() - started).toFixed(1)} ms (${bytes} bytes); removed ${removed} old files`,
    );
  }

  /**
   * Keeps the newest SNAPSHOTS_KEPT snapshots known to be good (a snapshot that failed its checks at
   * recovery would not help it) and removes older snapshots and the log segments the oldest kept one
   * covers, so recovery can still fall back to that one if the newest fails its checks.
   */
  private async removeCovered(): Promise<number> {
    const { snapshots, segments } = await listDataDir(this.dataDir);
    const good = snapshots.filter((snapshot) => this.goodSnapshotSeqs.has(snapshot.lastSeq));
    if (good.length < SNAPSHOTS_KEPT) return 0;
    const coveredSeq = good[SNAPSHOTS_KEPT - 1]!.lastSeq;
    const doomed = snapshots.filter((snapshot) => snapshot.lastSeq < coveredSeq).map((snapshot) => snapshot.path);
    for (let i = 0; i + 1 < segments.length; i++) {
      if (segments[i + 1]!.firstSeq - 1 <= coveredSeq) doomed.push(segments[i]!.path);
    }
    for (const seq of this.goodSnapshotSeqs) if (seq < coveredSeq) this.goodSnapshotSeqs.delete(seq);
    for (const file of doomed) await this.fileSystem.unlink(file).catch(() => undefined);
    if (doomed.length > 0) await this.fileSystem.fsyncDirectory(this.dataDir);
    return doomed.length;
  }
}
