// The log writer: appends framed records to the current segment with group commit. Appends that
// arrive while a batch is being written and flushed queue up and become the next batch, so any
// number of concurrent writers share one fdatasync per batch. A batch's changes are applied to
// memory (in seq order, synchronously) only after the batch is durable, then their promises resolve:
// nothing is visible before it is on disk, and nothing is acknowledged that is not. Acknowledging
// a batch (onDurable: the durable-seq mark, flushed under fsync 'always') overlaps the write and
// fdatasync of the next batch, at most one batch behind, so the mark's flush costs latency, not
// throughput; acknowledgements still happen one batch at a time, in seq order. With a
// `beforeWrite` hook (a replicated writer publishes there, a network round trip), the next batch is
// taken and handed to the hook while the one before it is written and flushed, once that one has
// passed the hook: the round trip overlaps the fdatasync, and the hook still sees batches in seq
// order, each before any of its bytes is written.
//
// Failures: a failed write (ENOSPC, EIO) cuts the batch's records from the segment they were written
// to (truncate and flush), rejects the batch and everything queued with STORAGE_UNAVAILABLE and
// refuses writes until a probe shows the disk writable again. A failed fsync is not retried (the
// kernel may have dropped the pages): the batch is cut the same way and the writer refuses writes
// until restart. If a cut fails, the rejected records could come back at the next start: the writer
// fail-stops and leaves evidence for startup and `idnc repair` (src/persist/rejected-records.ts). A
// change that fails to apply to memory once it is durable fail-stops the writer too: memory no
// longer matches the log, so nothing more may be written, not even a snapshot that would drop it.

import path from 'node:path';
import { assert } from '../assert.js';
import { FSYNC_INTERVAL_MS, LOG_SEGMENT_BYTES_MAX, LOG_WRITE_SCRATCH_BYTES, STORAGE_PROBE_BYTES, STORAGE_PROBE_INTERVAL_MS } from '../constants.js';
import type { EngineLogger } from '../logger.js';
import { IdncError } from '../errors.js';
import { segmentPath, STORAGE_PROBE_FILE } from './data-dir.js';
import type { PersistFileSystem } from './file-system.js';
import { encodeRecords, type LogChange } from './record.js';
import { writeRejectedMarker, zeroRejectedBytes, type RejectedRecords } from './rejected-records.js';
import { segmentHeader } from './segment-scan.js';

/** When a change is flushed: before it is acknowledged, every 100 ms, or when the OS decides. */
export type FsyncMode = 'always' | 'interval' | 'none';

/** Applies a durable change to memory and returns how many numbers changed. */
export type ApplyChange = () => number;

export interface AppendResult {
  /** Seq of the change's last record. */
  readonly seq: number;
  readonly changed: number;
}

/** A batch encoded and handed to `beforeWrite` ahead of its write; `passed` is false when the hook refused it. */
interface PreparedBatch {
  readonly batch: PendingAppend[];
  readonly frames: Buffer[];
  readonly firstSeq: number;
  readonly passed: Promise<boolean>;
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
  /** Called once if the writer fail-stops (state 'stopped'), with the reason. */
  readonly onStopped?: (reason: string) => void;
  /**
   * Awaited once a batch is durable (after its fdatasync under 'always', after its write otherwise)
   * with the batch's last seq, before the batch is applied and its promises resolve: followers learn
   * the seq before any caller does. Calls never overlap and come in seq order; a rejection stops the
   * writer (the batch is stored, not acknowledged).
   */
  readonly onDurable?: (seq: number) => Promise<void>;
  /**
   * Awaited with a batch's framed records (valid only until it resolves: the buffer is reused) and
   * its seqs before they are written: a replicated writer publishes them here first (src/replicate/).
   * A rejection rejects the batch and what is queued behind it with that error, nothing written.
   * Called for a batch once the batch before it has passed (resolved), possibly while that one is
   * still being written; if that write fails, the batch is rejected after its call settles.
   */
  readonly beforeWrite?: (frames: readonly Buffer[], firstSeq: number, lastSeq: number) => Promise<void>;
}

/**
 * The writer's states. Every change of state goes through `enter`, which allows only the moves in
 * NEXT_STATES and says what each state means to the operator:
 *   open        accepting changes
 *   unwritable  an append failed and its records were cut: changes are refused until a probe shows
 *               that the disk takes writes again (back to open)
 *   failed      an fdatasync failed (the kernel may have dropped written pages): changes are refused
 *               until restart; memory holds what was acknowledged, so reads and snapshots go on
 *   stopped     fail-stop: memory and the log disagree (a durable change could not be applied, or a
 *               rejected batch could not be cut from the log): nothing more is written, not even a
 *               snapshot; a restart replays the log, or refuses until `idnc repair`
 *   closed      closed by its owner
 */
export type WriterState = 'open' | 'unwritable' | 'failed' | 'stopped' | 'closed';

const NEXT_STATES: Readonly<Record<WriterState, readonly WriterState[]>> = {
  open: ['unwritable', 'failed', 'stopped', 'closed'],
  unwritable: ['open', 'failed', 'stopped', 'closed'],
  failed: ['stopped', 'closed'],
  stopped: ['closed'],
  closed: [],
};

/** How cutting a failed batch from the log went: null when it is cut, else why the writer stops. */
interface FailedCut {
  readonly reason: string;
  /** False when the records may be replayed at the next start (neither cut, marked nor overwritten). */
  readonly contained: boolean;
}

export class LogWriter {
  private queue: PendingAppend[] = [];
  private flushing: Promise<void> | null = null;
  private rotationRequested = false;
  private state: WriterState = 'open';
  private stateReason = '';
  private probeTimer: NodeJS.Timeout | null = null;
  private intervalTimer: NodeJS.Timeout | null = null;
  private unsyncedBytes = 0;
  /**
   * The flush of the log in flight under 'interval'/'none' (the interval timer's, a rotation's, at
   * close), or null. One at a time: each subtracts exactly the bytes written before it began, and
   * a rotation never closes the segment under a flush still running on it.
   */
  private syncing: Promise<void> | null = null;
  /** Set while the flush loop waits for an acknowledgement: an append wakes it. */
  private wakeFlushLoop: (() => void) | null = null;
  /** The acknowledgement of the last batch written (resolves once it is applied or refused). */
  private acknowledging: Promise<void> = Promise.resolve();
  /** Seq of the last record written to the log (and flushed under 'always'); acknowledged or not yet. */
  private writtenSeq: number;
  /**
   * Reused by batches in turn (one is written at a time, and under `beforeWrite` the next one is
   * prepared meanwhile, in the other buffer): a group commit allocates no write buffer.
   */
  private readonly writeScratch = [Buffer.allocUnsafeSlow(LOG_WRITE_SCRATCH_BYTES), Buffer.allocUnsafeSlow(LOG_WRITE_SCRATCH_BYTES)] as const;
  private scratchTurn = 0;
  /** Under `beforeWrite`: the next batch, taken while the one before it is written, and its hook call. */
  private ahead: PreparedBatch | null = null;
  /** Bytes appended since this writer opened (snapshot triggers compare against it). */
  bytesWritten = 0;

  constructor(
    private readonly options: LogWriterOptions,
    private segment: OpenSegment,
    /** Seq of the last acknowledged (applied) record. */
    private lastSeq: number,
  ) {
    this.writtenSeq = lastSeq;
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
      else this.wakeFlushLoop?.();
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
    while (this.syncing !== null) await this.syncing;
    if ((this.state === 'open' || this.state === 'unwritable') && this.unsyncedBytes > 0) {
      await fileSystem.fdatasync(this.segment.fd).catch((error: Error) => this.enter('failed', `fsync at close failed: ${error.message}`));
    }
    this.enter('closed', 'the log writer has been closed');
    await fileSystem.close(this.segment.fd).catch(() => undefined);
  }

  private refusal(): IdncError | null {
    if (this.state === 'open') return null;
    if (this.state === 'closed') return new IdncError('CLOSED', 'the log writer has been closed');
    return new IdncError('STORAGE_UNAVAILABLE', `changes cannot be stored right now: ${this.stateReason}`);
  }

  private async flushLoop(): Promise<void> {
    for (;;) {
      const ahead = this.ahead;
      if (ahead !== null) {
        this.ahead = null;
        await this.writeBatch(ahead.batch, ahead);
        continue;
      }
      if (this.queue.length === 0) {
        // The last batch's acknowledgement may still run: a change queued meanwhile is written at once.
        const acknowledged = await Promise.race([this.acknowledging.then(() => true), this.nextAppend()]);
        this.wakeFlushLoop = null;
        if (this.queue.length === 0) {
          if (acknowledged) break;
          continue;
        }
      }
      const batch = this.queue;
      this.queue = [];
      if (this.state !== 'open') {
        this.rejectAll(batch, this.refusal()!);
        continue;
      }
      await this.writeBatch(batch, null);
    }
    this.flushing = null;
  }

  /**
   * The batch goes at `segment.size` of the segment current after any rotation, where a failure
   * cuts it. `prepared`: it was encoded and handed to `beforeWrite` while the batch before it was
   * written.
   */
  private async writeBatch(batch: PendingAppend[], prepared: PreparedBatch | null): Promise<void> {
    const { fileSystem, fsync } = this.options;
    let frames: Buffer[] | null = null;
    // A batch prepared ahead is settled with its hook first: any refusal below reaches its owner after that.
    if (prepared !== null && !(await prepared.passed)) return;
    assert(prepared === null || prepared.firstSeq === this.writtenSeq + 1, 'a batch prepared ahead continues the log');
    try {
      await this.rotateIfDue();
      if (this.state !== 'open') {
        this.rejectAll(batch, this.refusal()!);
        return;
      }
      const firstSeq = this.writtenSeq + 1;
      const encoded = prepared?.frames ?? this.encode(batch, firstSeq);
      if (this.options.beforeWrite !== undefined) {
        if (prepared === null && !(await this.passBeforeWrite(batch, encoded, firstSeq))) return;
        this.prepareNext(firstSeq + recordCount(batch));
      }
      frames = encoded;
      await fileSystem.writev(this.segment.fd, frames, this.segment.size);
    } catch (error) {
      await this.writeFailed(batch, error as NodeJS.ErrnoException, frames);
      return;
    }
    const bytes = byteLength(frames);
    if (fsync === 'always') {
      try {
        await this.timedFdatasync(this.segment.fd);
      } catch (error) {
        await this.fsyncFailed(batch, error as NodeJS.ErrnoException, bytes);
        return;
      }
    } else this.unsyncedBytes += bytes;
    this.segment.size += bytes;
    this.bytesWritten += bytes;
    const firstSeq = this.writtenSeq + 1;
    this.writtenSeq += recordCount(batch);
    const previous = this.acknowledging;
    this.acknowledging = previous.then(() => this.acknowledge(batch, firstSeq)).catch((error: Error) => this.enter('stopped', `acknowledging seq ${firstSeq} threw (${error.message})`));
    // At most one batch waits for its acknowledgement while the next one is written.
    await previous;
  }

  /**
   * Takes what is queued as the next batch (from `firstSeq`) and hands it to `beforeWrite` now,
   * while the batch before it is written; the flush loop writes it next.
   */
  private prepareNext(firstSeq: number): void {
    if (this.queue.length === 0 || this.state !== 'open') return;
    const batch = this.queue;
    this.queue = [];
    const frames = this.encode(batch, firstSeq);
    this.ahead = { batch, frames, firstSeq, passed: this.passBeforeWrite(batch, frames, firstSeq) };
  }

  /** False when `beforeWrite` refused the batch: it and the queue are rejected with its error. */
  private async passBeforeWrite(batch: PendingAppend[], frames: readonly Buffer[], firstSeq: number): Promise<boolean> {
    try {
      await this.options.beforeWrite!(frames, firstSeq, firstSeq - 1 + recordCount(batch));
      return true;
    } catch (error) {
      this.rejectAll(batch, error as Error);
      this.rejectAll(this.queue.splice(0), error as Error);
      return false;
    }
  }

  private nextAppend(): Promise<false> {
    return new Promise<false>((resolve) => (this.wakeFlushLoop = () => resolve(false)));
  }

  /** Tells followers (the mark), then applies and resolves; refuses if the writer stopped meanwhile. */
  private async acknowledge(batch: readonly PendingAppend[], firstSeq: number): Promise<void> {
    if (this.state === 'stopped') {
      this.notAcknowledged(batch, 0, firstSeq, 'the writer stopped before it was acknowledged');
      return;
    }
    if (this.options.onDurable !== undefined) {
      try {
        await this.options.onDurable(firstSeq - 1 + recordCount(batch));
      } catch (error) {
        this.notAcknowledged(batch, 0, firstSeq, `telling followers about it failed (${describeError(error)})`);
        return;
      }
    }
    this.applyBatch(batch);
  }

  private encode(batch: readonly PendingAppend[], firstSeq: number): Buffer[] {
    const changes: LogChange[] = [];
    for (const pending of batch) for (const record of pending.records) changes.push(record);
    this.scratchTurn ^= 1;
    return encodeRecords(firstSeq, changes, this.writeScratch[this.scratchTurn]);
  }

  private applyBatch(batch: readonly PendingAppend[]): void {
    for (let index = 0; index < batch.length; index++) {
      const pending = batch[index]!;
      let changed: number;
      try {
        changed = pending.apply();
      } catch (error) {
        this.applyFailed(batch, index, error as Error);
        break;
      }
      this.lastSeq += pending.records.length;
      pending.resolve({ seq: this.lastSeq, changed });
    }
    this.options.onBatchApplied?.();
  }

  /**
   * The change at `failedIndex` is durable but memory does not hold it (and may hold part of it):
   * the writer stops, so no snapshot drops it and a restart replays it. lastSeq stays at the last
   * change applied. Its client and those of the later changes of the batch (durable too, never
   * applied) are told the change is stored, not that it failed.
   */
  private applyFailed(batch: readonly PendingAppend[], failedIndex: number, error: Error): void {
    this.notAcknowledged(batch, failedIndex, this.lastSeq + 1, `applying it to memory failed (${error.message})`);
  }

  /**
   * The changes of `batch` from `fromIndex` on are durable but cannot be acknowledged (`why`): the
   * writer stops, so nothing is written after them and a restart replays them (followers and
   * memory never showed them); their clients are told the change is stored, not that it failed.
   */
  private notAcknowledged(batch: readonly PendingAppend[], fromIndex: number, failedSeq: number, why: string): void {
    this.enter('stopped', `the durable change at seq ${failedSeq}: ${why}`);
    let seq = failedSeq - 1;
    for (let index = fromIndex; index < batch.length; index++) {
      const pending = batch[index]!;
      const firstSeq = seq + 1;
      seq += pending.records.length;
      const seqs = seq === firstSeq ? `seq ${seq}` : `seq ${firstSeq}-${seq}`;
      const reason = index === fromIndex ? why : `the change before it (seq ${failedSeq}) failed: ${why}`;
      pending.reject(new IdncError('STORED_NOT_APPLIED', `the change is stored in the log (${seqs}) but not applied: ${reason}, so the writer stopped; a restart replays it`));
    }
  }

  private async rotateIfDue(): Promise<void> {
    const segmentBytesMax = this.options.segmentBytesMax ?? LOG_SEGMENT_BYTES_MAX;
    const due = this.rotationRequested || this.segment.size >= segmentBytesMax;
    const hasRecords = this.segment.firstSeq <= this.writtenSeq;
    if (!due || !hasRecords) return;
    // The old segment's records reach the disk before a new segment exists: a crash must never leave
    // a torn segment that is no longer the last one (startup refuses such a log).
    await this.syncOrStop();
    if (this.state !== 'open') return;
    const { fileSystem, dataDir } = this.options;
    const firstSeq = this.writtenSeq + 1;
    const newPath = segmentPath(dataDir, firstSeq);
    const fd = await fileSystem.open(newPath, 'wx');
    try {
      const header = segmentHeader();
      await fileSystem.writev(fd, [header], 0);
      await fileSystem.fdatasync(fd);
      await fileSystem.fsyncDirectory(dataDir);
    } catch (error) {
      await fileSystem.close(fd).catch(() => undefined);
      await this.forgetNewSegment(newPath, error);
      throw error;
    }
    const old = this.segment;
    this.segment = { firstSeq, fd, size: segmentHeader().length };
    this.rotationRequested = false;
    await fileSystem.close(old.fd).catch(() => undefined);
  }

  /**
   * Removes a segment whose creation failed, durably: the writer goes on in the old segment, and an
   * empty newer segment brought back by a power loss would make recovery start there and skip the
   * records written after it. If the removal cannot be made durable, no more records are written.
   */
  private async forgetNewSegment(newPath: string, cause: unknown): Promise<void> {
    const { fileSystem, dataDir } = this.options;
    try {
      await fileSystem.unlink(newPath).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error;
      });
      await fileSystem.fsyncDirectory(dataDir);
    } catch (error) {
      this.enter('failed', `creating ${path.basename(newPath)} failed (${describeError(cause)}) and removing it failed too (${describeError(error)})`);
    }
  }

  /** Flushes what is written to the current segment, after any flush already running. */
  private async syncOrStop(): Promise<void> {
    while (this.syncing !== null) await this.syncing;
    if (this.unsyncedBytes === 0 || this.state !== 'open') return;
    const covered = this.unsyncedBytes;
    this.syncing = this.timedFdatasync(this.segment.fd).then(
      () => {
        this.unsyncedBytes -= covered;
      },
      (error: unknown) => this.enter('failed', `fdatasync of the log failed (${describeError(error)})`),
    );
    await this.syncing;
    this.syncing = null;
  }

  private async intervalFlush(): Promise<void> {
    if (this.unsyncedBytes === 0 || this.state !== 'open' || this.flushing !== null || this.syncing !== null) return;
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

  /** `frames` is null when the failure came before anything of the batch was written. */
  private async writeFailed(batch: PendingAppend[], error: NodeJS.ErrnoException, frames: Buffer[] | null): Promise<void> {
    const reason = `appending to the log failed (${describeError(error)})`;
    const goodOffset = this.segment.size;
    this.enter('unwritable', reason);
    const cut = frames === null ? null : await this.cutFailedBatch(batch, byteLength(frames));
    if (cut === null) this.scheduleProbe(goodOffset);
    else this.enter('stopped', `${reason}; ${cut.reason}`);
    await this.rejectFailedBatch(batch, cut);
  }

  private async fsyncFailed(batch: PendingAppend[], error: NodeJS.ErrnoException, bytes: number): Promise<void> {
    const reason = `fdatasync of the log failed (${describeError(error)})`;
    this.enter('failed', reason);
    const cut = await this.cutFailedBatch(batch, bytes);
    if (cut !== null) this.enter('stopped', `${reason}; ${cut.reason}`);
    await this.rejectFailedBatch(batch, cut);
  }

  /**
   * Rejects a failed batch (once its records are cut or marked) and everything behind it: the
   * batch prepared ahead once its `beforeWrite` call settled (its hook may have stored it elsewhere:
   * the refusal reaches its owner after that), and the queue.
   */
  private async rejectFailedBatch(batch: PendingAppend[], cut: FailedCut | null): Promise<void> {
    const refusal = this.refusal()!;
    const unknown = cut !== null && !cut.contained;
    this.rejectAll(batch, unknown ? new IdncError('STORAGE_UNAVAILABLE', `the change may or may not be stored: ${this.stateReason}`) : refusal);
    const ahead = this.ahead;
    this.ahead = null;
    if (ahead !== null && (await ahead.passed)) this.rejectAll(ahead.batch, refusal);
    this.rejectAll(this.queue.splice(0), refusal);
  }

  /**
   * Cuts the failed batch (`bytes` bytes from the segment's good prefix on, the seqs after lastSeq)
   * from the current segment and flushes the cut. If that fails, the records could be replayed as
   * acknowledged at the next start: this leaves a marker naming them, or else overwrites them with
   * zeros, and returns why the writer must stop.
   */
  private async cutFailedBatch(batch: readonly PendingAppend[], bytes: number): Promise<FailedCut | null> {
    const { fileSystem, dataDir } = this.options;
    const { fd, size: offset } = this.segment;
    let cutError: unknown;
    try {
      await fileSystem.ftruncate(fd, offset);
      await fileSystem.fdatasync(fd);
      return null;
    } catch (error) {
      cutError = error;
    }
    let records = 0;
    for (const pending of batch) records += pending.records.length;
    const rejected: RejectedRecords = { segment: this.segmentName(), offset, firstSeq: this.writtenSeq + 1, lastSeq: this.writtenSeq + records };
    const what = `the rejected records seq ${rejected.firstSeq}-${rejected.lastSeq} could not be cut from ${rejected.segment} at offset ${offset} (${describeError(cutError)})`;
    let markerError: unknown;
    try {
      const marker = await writeRejectedMarker(fileSystem, dataDir, rejected);
      return { reason: `${what}; ${path.basename(marker)} names them, so startup refuses until \`idnc repair --yes\` cuts them`, contained: true };
    } catch (error) {
      markerError = error;
    }
    const unmarked = `${what}, nor marked (${describeError(markerError)})`;
    try {
      await zeroRejectedBytes(fileSystem, fd, offset, bytes);
      return { reason: `${unmarked}: they were overwritten with zeros, which the next start cuts as a torn tail`, contained: true };
    } catch (error) {
      const how = `cut ${rejected.segment} back to ${offset} bytes by hand before the next start`;
      return { reason: `${unmarked}, nor overwritten (${describeError(error)}): the next start would replay them; ${how}`, contained: false };
    }
  }

  /**
   * The only place the state changes: refuses moves NEXT_STATES does not allow (a stopped writer
   * never reopens), sets the reason refusals carry, and tells the operator.
   */
  private enter(next: WriterState, reason: string): void {
    if (!NEXT_STATES[this.state].includes(next)) return;
    this.state = next;
    const { logger } = this.options;
    switch (next) {
      case 'open':
        this.stateReason = '';
        logger.warn('the disk takes writes again: accepting changes');
        return;
      case 'unwritable':
        this.stateReason = `${reason}; writes are refused until the disk takes writes again`;
        logger.error(this.stateReason);
        return;
      case 'failed':
        this.stateReason = `${reason}; the kernel may have dropped written data, so writes are stopped until restart`;
        logger.error(`STORAGE FAILURE: ${this.stateReason}. Acknowledged changes are safe; check the disk, then restart`);
        return;
      case 'stopped':
        this.stateReason = `${reason}; the writer stopped: nothing more is written, not even a snapshot, until restart`;
        logger.error(`WRITER STOPPED: ${this.stateReason}`);
        this.options.onStopped?.(reason);
        return;
      case 'closed':
        this.stateReason = reason;
        return;
    }
  }

  private segmentName(): string {
    return path.basename(segmentPath('', this.segment.firstSeq));
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
    const { fileSystem, dataDir } = this.options;
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
    this.enter('open', '');
  }
}

function recordCount(batch: readonly PendingAppend[]): number {
  let records = 0;
  for (const pending of batch) records += pending.records.length;
  return records;
}

function byteLength(frames: readonly Buffer[]): number {
  let bytes = 0;
  for (const frame of frames) bytes += frame.length;
  return bytes;
}

function describeError(error: unknown): string {
  const errno = error as NodeJS.ErrnoException;
  return errno.code !== undefined ? `${errno.code}: ${errno.message}` : String(errno.message ?? error);
}
