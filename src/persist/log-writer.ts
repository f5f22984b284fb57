// The log writer: appends framed records to the current segment with group commit. Appends that
// arrive while a batch is being written and flushed queue up and become the next batch, so any
// number of concurrent writers share one fdatasync per batch. A batch's changes are applied to
// memory (in seq order, synchronously) only after the batch is durable, then their promises resolve:
// nothing is visible before it is on disk, and nothing is acknowledged that is not.
//
// Failures: a failed write (ENOSPC, EIO) rejects the batch and everything queued with
// STORAGE_UNAVAILABLE, cuts the segment back to the last good record and refuses writes until a
// probe shows the disk writable again. A failed fsync is not retried (the kernel may have dropped
// the pages): the writer stops for good and says so through logger.error.

import path from 'node:path';
import { FSYNC_INTERVAL_MS, LOG_SEGMENT_BYTES_MAX, LOG_WRITE_SCRATCH_BYTES, STORAGE_PROBE_BYTES, STORAGE_PROBE_INTERVAL_MS } from '../constants.js';
import type { EngineLogger, FsyncMode } from '../engine.js';
import { IdncError } from '../errors.js';
import { segmentPath, STORAGE_PROBE_FILE } from './data-dir.js';
import type { PersistFileSystem } from './file-system.js';
import { encodeRecords, type LogChange } from './record.js';
import { segmentHeader } from './segment-scan.js';

/** Applies a durable change to memory and returns how many numbers changed. */
export type ApplyChange = () => number;

export interface AppendResult {
  /** Seq of the change's last record. */
  readonly seq: number;
  readonly changed: number;
}

interface PendingAppend {
  readonly records: readonly LogChange[];
  readonly apply: ApplyChange;
  resolve(result: AppendResult): void;
  reject(error: Error): void;
}

export interface OpenSegment {
  readonly firstSeq: number;
  readonly fd: number;
  /** Bytes of the good prefix: where the next record goes. */
  size: number;
}

export interface LogWriterOptions {
  readonly dataDir: string;
  readonly fileSystem: PersistFileSystem;
  readonly fsync: FsyncMode;
  readonly logger: EngineLogger;
  readonly probeIntervalMs?: number;
  readonly segmentBytesMax?: number;
  /** Called after each applied batch (snapshot triggers watch the log size). */
  readonly onBatchApplied?: () => void;
  /** Called with the duration of each fdatasync of a batch or interval flush, in seconds (metrics). */
  readonly onFsync?: (seconds: number) => void;
  /**
   * Awaited once a batch is acknowledged-durable (after its fdatasync under 'always', after its
   * write otherwise) with the batch's last seq, before the batch is applied and its promises
   * resolve: followers learn the seq before any caller does. Must not reject.
   */
  readonly onDurable?: (seq: number) => Promise<void>;
}

export type WriterState = 'open' | 'unwritable' | 'failed' | 'closed';

export class LogWriter {
  private queue: PendingAppend[] = [];
  private flushing: Promise<void> | null = null;
  private rotationRequested = false;
  private state: WriterState = 'open';
  private stateReason = '';
  private probeTimer: NodeJS.Timeout | null = null;
  private intervalTimer: NodeJS.Timeout | null = null;
  private unsyncedBytes = 0;
  /** Reused by every batch (one is in flight at a time): a group commit allocates no write buffer. */
  private readonly writeScratch = Buffer.allocUnsafeSlow(LOG_WRITE_SCRATCH_BYTES);
  /** Bytes appended since this writer opened (snapshot triggers compare against it). */
  bytesWritten = 0;

  constructor(
    private readonly options: LogWriterOptions,
    private segment: OpenSegment,
    /** Seq of the last durable record. */
    private lastSeq: number,
  ) {
    if (options.fsync === 'interval') {
      this.intervalTimer = setInterval(() => void this.intervalFlush(), FSYNC_INTERVAL_MS);
      this.intervalTimer.unref();
    }
  }

  get durableSeq(): number {
    return this.lastSeq;
  }

  get status(): { state: WriterState; reason: string } {
    return { state: this.state, reason: this.stateReason };
  }

  /** Queues one change (one or more records) and resolves once it is durable and applied. */
  append(records: readonly LogChange[], apply: ApplyChange): Promise<AppendResult> {
    const refusal = this.refusal();
    if (refusal !== null) return Promise.reject(refusal);
    return new Promise<AppendResult>((resolve, reject) => {
      this.queue.push({ records, apply, resolve, reject });
      if (this.flushing === null) this.flushing = new Promise<void>((done) => setImmediate(done)).then(() => this.flushLoop());
    });
  }

  /** The next batch starts a new segment (a snapshot is about to cover everything before it). */
  requestRotation(): void {
    this.rotationRequested = true;
  }

  /** Resolves when everything queued so far has been written (or failed). */
  async drain(): Promise<void> {
    while (this.flushing !== null) await this.flushing;
  }

  async close(): Promise<void> {
    await this.drain();
    if (this.intervalTimer !== null) clearInterval(this.intervalTimer);
    if (this.probeTimer !== null) clearTimeout(this.probeTimer);
    const { fileSystem } = this.options;
    if (this.state !== 'failed' && this.unsyncedBytes > 0) {
      await fileSystem.fdatasync(this.segment.fd).catch((error: Error) => this.stop(`fsync at close failed: ${error.message}`));
    }
    this.state = 'closed';
    await fileSystem.close(this.segment.fd).catch(() => undefined);
  }

  private refusal(): IdncError | null {
    if (this.state === 'open') return null;
    if (this.state === 'closed') return new IdncError('CLOSED', 'the log writer has been closed');
    return new IdncError('STORAGE_UNAVAILABLE', `changes cannot be stored right now: ${this.stateReason}`);
  }

  private async flushLoop(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue;
      this.queue = [];
      if (this.state !== 'open') {
        this.rejectAll(batch, this.refusal()!);
        continue;
      }
      await this.writeBatch(batch);
    }
    this.flushing = null;
  }

  private async writeBatch(batch: PendingAppend[]): Promise<void> {
    const { fileSystem, fsync } = this.options;
    const startOffset = this.segment.size;
    let frames: Buffer[];
    try {
      await this.rotateIfDue();
      if (this.state !== 'open') {
        this.rejectAll(batch, this.refusal()!);
        return;
      }
      frames = this.encode(batch);
      await fileSystem.writev(this.segment.fd, frames, this.segment.size);
    } catch (error) {
      await this.writeFailed(batch, error as NodeJS.ErrnoException, this.segment.size);
      return;
    }
    const bytes = frames.reduce((sum, frame) => sum + frame.length, 0);
    if (fsync === 'always') {
      try {
        await this.timedFdatasync(this.segment.fd);
      } catch (error) {
        await this.fsyncFailed(batch, error as NodeJS.ErrnoException, startOffset);
        return;
      }
    } else this.unsyncedBytes += bytes;
    this.segment.size += bytes;
    this.bytesWritten += bytes;
    await this.options.onDurable?.(this.lastSeq + batch.reduce((records, pending) => records + pending.records.length, 0));
    this.applyBatch(batch);
  }

  private encode(batch: readonly PendingAppend[]): Buffer[] {
    const changes: LogChange[] = [];
    for (const pending of batch) for (const record of pending.records) changes.push(record);
    return encodeRecords(this.lastSeq + 1, changes, this.writeScratch);
  }

  private applyBatch(batch: readonly PendingAppend[]): void {
    for (const pending of batch) {
      this.lastSeq += pending.records.length;
      let changed: number;
      try {
        changed = pending.apply();
      } catch (error) {
        this.options.logger.error(`applying durable seq ${this.lastSeq} to memory failed: ${(error as Error).message}`);
        pending.reject(error as Error);
        continue;
      }
      pending.resolve({ seq: this.lastSeq, changed });
    }
    this.options.onBatchApplied?.();
  }

  private async rotateIfDue(): Promise<void> {
    const segmentBytesMax = this.options.segmentBytesMax ?? LOG_SEGMENT_BYTES_MAX;
    const due = this.rotationRequested || this.segment.size >= segmentBytesMax;
    const hasRecords = this.segment.firstSeq <= this.lastSeq;
    if (!due || !hasRecords) return;
    const { fileSystem, dataDir } = this.options;
    const firstSeq = this.lastSeq + 1;
    const newPath = segmentPath(dataDir, firstSeq);
    const fd = await fileSystem.open(newPath, 'wx');
    try {
      const header = segmentHeader();
      await fileSystem.writev(fd, [header], 0);
      await fileSystem.fdatasync(fd);
      await fileSystem.fsyncDirectory(dataDir);
    } catch (error) {
      await fileSystem.close(fd).catch(() => undefined);
      await fileSystem.unlink(newPath).catch(() => undefined);
      throw error;
    }
    if (this.unsyncedBytes > 0) await this.syncOrStop();
    const old = this.segment;
    this.segment = { firstSeq, fd, size: segmentHeader().length };
    this.rotationRequested = false;
    await fileSystem.close(old.fd).catch(() => undefined);
  }

  private async syncOrStop(): Promise<void> {
    const covered = this.unsyncedBytes;
    try {
      await this.timedFdatasync(this.segment.fd);
      this.unsyncedBytes -= covered;
    } catch (error) {
      this.stop(`fdatasync of the log failed (${describeError(error)})`);
    }
  }

  private async intervalFlush(): Promise<void> {
    if (this.unsyncedBytes === 0 || this.state !== 'open' || this.flushing !== null) return;
    await this.syncOrStop();
  }

  private async timedFdatasync(fd: number): Promise<void> {
    const observe = this.options.onFsync;
    if (observe === undefined) return this.options.fileSystem.fdatasync(fd);
    const started = performance.now();
    await this.options.fileSystem.fdatasync(fd);
    observe((performance.now() - started) / 1000);
  }

  private rejectAll(batch: readonly PendingAppend[], error: Error): void {
    for (const pending of batch) pending.reject(error);
  }

  private async writeFailed(batch: PendingAppend[], error: NodeJS.ErrnoException, goodOffset: number): Promise<void> {
    const reason = `appending to the log failed (${describeError(error)})`;
    this.state = 'unwritable';
    this.stateReason = `${reason}; writes are refused until the disk takes writes again`;
    this.options.logger.error(`${this.stateReason} (${path.basename(segmentPath('', this.segment.firstSeq))} cut back to ${goodOffset} bytes)`);
    this.rejectAll(batch, new IdncError('STORAGE_UNAVAILABLE', `changes cannot be stored right now: ${reason}`));
    this.rejectAll(this.queue.splice(0), new IdncError('STORAGE_UNAVAILABLE', `changes cannot be stored right now: ${reason}`));
    await this.options.fileSystem.ftruncate(this.segment.fd, goodOffset).catch(() => undefined);
    this.scheduleProbe(goodOffset);
  }

  private async fsyncFailed(batch: PendingAppend[], error: NodeJS.ErrnoException, goodOffset: number): Promise<void> {
    this.stop(`fdatasync of the log failed (${describeError(error)})`);
    const refusal = new IdncError('STORAGE_UNAVAILABLE', `changes cannot be stored right now: ${this.stateReason}`);
    this.rejectAll(batch, refusal);
    this.rejectAll(this.queue.splice(0), refusal);
    await this.options.fileSystem.ftruncate(this.segment.fd, goodOffset).catch(() => undefined);
  }

  /** An fsync failure: the writer stops for good; only a restart (which re-reads the log) resumes. */
  private stop(reason: string): void {
    if (this.state === 'failed') return;
    this.state = 'failed';
    this.stateReason = `${reason}; the kernel may have dropped written data, so writes are stopped until restart`;
    this.options.logger.error(`STORAGE FAILURE: ${this.stateReason}. Acknowledged changes are safe; check the disk, then restart`);
  }

  private scheduleProbe(goodOffset: number): void {
    if (this.probeTimer !== null) clearTimeout(this.probeTimer);
    this.probeTimer = setTimeout(() => void this.probe(goodOffset), this.options.probeIntervalMs ?? STORAGE_PROBE_INTERVAL_MS);
    this.probeTimer.unref();
  }

  /** Cuts the segment back to its good prefix and writes+flushes a probe file; success reopens writes. */
  private async probe(goodOffset: number): Promise<void> {
    this.probeTimer = null;
    if (this.state !== 'unwritable') return;
    const { fileSystem, dataDir, logger } = this.options;
    const probePath = path.join(dataDir, STORAGE_PROBE_FILE);
    try {
      await fileSystem.ftruncate(this.segment.fd, goodOffset);
      await fileSystem.fdatasync(this.segment.fd);
      const fd = await fileSystem.open(probePath, 'w');
      try {
        await fileSystem.writev(fd, [Buffer.alloc(STORAGE_PROBE_BYTES)], 0);
        await fileSystem.fdatasync(fd);
      } finally {
        await fileSystem.close(fd).catch(() => undefined);
        await fileSystem.unlink(probePath).catch(() => undefined);
      }
    } catch {
      this.scheduleProbe(goodOffset);
      return;
    }
    if (this.state !== 'unwritable') return;
    this.segment.size = goodOffset;
    this.state = 'open';
    this.stateReason = '';
    logger.warn('the disk takes writes again: accepting changes');
  }
}

function describeError(error: unknown): string {
  const errno = error as NodeJS.ErrnoException;
  return errno.code !== undefined ? `${errno.code}: ${errno.message}` : String(errno.message ?? error);
}
