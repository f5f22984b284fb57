// Recovery: rebuild the state of a data directory. Start from the newest snapshot that passes its
// checks (falling back to the previous one), then replay the log records after it. The only damage
// repaired silently-but-loudly is a torn tail: the last record of the last segment incomplete or
// failing its checksum with nothing valid after it, cut with a warning naming the bytes dropped. A
// multi-record change whose last record is missing at the end of the log is part of that tail: its
// records are neither applied nor kept (a change is all there or not at all).
// Anything else (a bad record followed by good ones, a seq gap, no valid snapshot) refuses to start
// with an error naming file, offset and seq, and points to `idnc verify` / `idnc repair --yes`.

import path from 'node:path';
import type { EngineLogger } from '../logger.js';
import { DataCorruptError } from '../errors.js';
import type { DncStore } from '../store/dnc-store.js';
import { listDataDir, type DataDirListing, type SegmentFile } from './data-dir.js';
import type { PersistFileSystem } from './file-system.js';
import { CommitAssembler } from './commit-assembler.js';
import type { LogRecord } from './record.js';
import { readFileRange, readSegmentFile } from './segment-read.js';
import type { StopVerdict } from './segment-scan.js';
import { CorruptBitmapError } from '../store/portable-bitmap.js';
import { settleRejectedRecords } from './rejected-records.js';
import { installSnapshot } from './snapshot.js';
import { readSnapshot } from './snapshot-read.js';

export type RecoveryMode = 'write' | 'read';

export interface RecoveryOptions {
  readonly dataDir: string;
  readonly fileSystem: PersistFileSystem;
  readonly logger: EngineLogger;
  /** 'write' cuts a torn tail and removes leftover temp files; 'read' changes nothing. */
  readonly mode: RecoveryMode;
  /**
   * 'read' only: replay no record above this seq (a follower passes the writer's durable-seq mark).
   * Whatever follows it is being written: it is neither applied nor judged.
   */
  readonly upToSeq?: number;
  /**
   * Seq up to which the last writer acknowledged changes (its durable-seq mark, under fsync
   * 'always'): a damaged record at or below it at the end of the log is corruption, never a torn
   * write to cut. The mark is flushed only at writer open and close, so after a power loss it may
   * be behind, and a damaged last acknowledged record past it still looks torn.
   */
  readonly acknowledgedSeq?: number;
  /** Bytes of a segment read at once (LOG_READ_CHUNK_BYTES); tests use tiny chunks. */
  readonly readChunkBytes?: number;
}

export interface RecoveredTail {
  readonly segment: SegmentFile;
  /** Length of the good prefix (after cutting a torn tail in 'write' mode). */
  readonly endOffset: number;
  readonly lastSeq: number;
  readonly droppedBytes: number;
}

export interface RecoveryResult {
  readonly snapshotSeq: number;
  readonly snapshotPath: string | null;
  /** Seq of the last record recovered (snapshot or log). */
  readonly lastSeq: number;
  readonly replayed: number;
  /** Log bytes of the replayed records: the log a snapshot has not covered yet. */
  readonly replayedBytes: number;
  /** The last segment, where a writer continues; null when there is no log yet. */
  readonly tail: RecoveredTail | null;
  readonly durationMs: number;
}

export { judgeStop, type StopVerdict } from './segment-scan.js';

export function corruptionError(dataDir: string, file: string, offset: number, seq: string, detail: string): DataCorruptError {
  return new DataCorruptError(
    `${path.basename(file)} in ${dataDir} is corrupt at offset ${offset} (${seq}): ${detail}. ` +
      `Nothing was changed. Run \`idnc verify --data-dir ${dataDir}\` for a report, or ` +
      `\`idnc repair --yes --data-dir ${dataDir}\` to cut the log at the first bad record (what follows it is lost).`,
  );
}

/** Applies one record to `store`: a drop of a list that is not there (any more) changes nothing. */
export function applyRecord(store: DncStore, record: LogRecord): number {
  const address = { org: record.org, projId: record.projId };
  if (record.op === 'drop') return store.dropList(address);
  return store.change(address, record.numbers, record.op === 'add');
}

async function loadNewestSnapshot(store: DncStore, options: RecoveryOptions, snapshots: { lastSeq: number; path: string }[]) {
  const problems: string[] = [];
  for (const snapshot of snapshots) {
    const load = await readSnapshot(snapshot.path);
    if (load.outcome === 'ok' && load.lastSeq === snapshot.lastSeq) {
      installSnapshot(store, load);
      store.recount();
      if (problems.length > 0) options.logger.warn(`recovering from the older snapshot ${path.basename(snapshot.path)}`);
      return { snapshotSeq: load.lastSeq, snapshotPath: snapshot.path, skipped: problems };
    }
    const detail = load.outcome === 'ok' ? `its content covers seq ${load.lastSeq}, not the seq in its name` : load.detail;
    const problem = `snapshot ${path.basename(snapshot.path)} is ${load.outcome === 'ok' ? 'corrupt' : load.outcome}: ${detail}`;
    problems.push(problem);
    options.logger.warn(problem);
  }
  if (snapshots.length > 0) {
    const newest = snapshots[0]!;
    throw corruptionError(options.dataDir, newest.path, 0, `snapshot of seq ${newest.lastSeq}`, `no snapshot passes its checks (${problems.join('; ')})`);
  }
  return { snapshotSeq: 0, snapshotPath: null, skipped: problems };
}

/** Replays the log into `store` on top of a snapshot at `snapshotSeq` (`skipped`: newer ones that failed their checks). */
async function replayLog(
  store: DncStore,
  options: RecoveryOptions,
  segments: SegmentFile[],
  snapshot: { snapshotSeq: number; snapshotPath: string | null; skipped: readonly string[] },
) {
  const { snapshotSeq, snapshotPath } = snapshot;
  // A gap right after falling back past a newer snapshot is that snapshot's failure: name it.
  const why = snapshot.skipped.length === 0 ? '' : ` (a newer ${snapshot.skipped.join('; ')})`;
  let start = -1;
  for (let i = 0; i < segments.length; i++) if (segments[i]!.firstSeq <= snapshotSeq + 1) start = i;
  if (segments.length > 0 && start === -1) {
    const first = segments[0]!;
    throw corruptionError(options.dataDir, first.path, 0, `seq ${first.firstSeq}`, `the log starts at seq ${first.firstSeq} but the state is only known up to seq ${snapshotSeq}${why}: records are missing`);
  }
  let replayed = 0;
  let replayedBytes = 0;
  let lastSeq = snapshotSeq;
  let tail: RecoveredTail | null = null;
  const upTo = Math.max(options.upToSeq ?? Number.POSITIVE_INFINITY, snapshotSeq);
  let tailIndex = segments.length - 1;
  while (tailIndex > Math.max(start, 0) && segments[tailIndex]!.firstSeq > upTo) tailIndex--;
  const assembler = new CommitAssembler();
  const apply = (record: LogRecord): void => {
    try {
      applyRecord(store, record);
    } catch (error) {
      // Only a snapshot's bitmap can be invalid (a merge's new bitmap is CRoaring's own): the change
      // would go through against an older snapshot, which `idnc repair` falls back to.
      if (!(error instanceof CorruptBitmapError) || snapshotPath === null) throw error;
      throw corruptionError(options.dataDir, snapshotPath, 0, `snapshot of seq ${snapshotSeq}`, `replaying seq ${record.seq}: ${error.message}`);
    }
    replayed++;
  };
  for (let i = Math.max(start, 0); i <= tailIndex; i++) {
    const segment = segments[i]!;
    const isLast = i === segments.length - 1;
    if (i > start && segment.firstSeq !== lastSeq + 1) {
      throw corruptionError(options.dataDir, segment.path, 0, `seq ${segment.firstSeq}`, `sequence gap: the previous segment ends at seq ${lastSeq}${why}`);
    }
    let firstReplayedOffset = -1;
    let aboveCapOffset = -1;
    const onRecord = (record: LogRecord, offset: number): void => {
      if (record.seq > upTo) {
        if (aboveCapOffset === -1) aboveCapOffset = offset;
        return;
      }
      if (firstReplayedOffset === -1) firstReplayedOffset = offset;
      assembler.accept(record, offset, apply);
    };
    const read = { isLast, onRecord, decodeFromSeq: snapshotSeq + 1, chunkBytes: options.readChunkBytes };
    const { scan, verdict: stopVerdict, fileBytes } = await readSegmentFile(segment, read);
    // Past the cap the writer is still writing: nothing there is applied or judged.
    const capped = scan.lastSeq >= upTo;
    const verdict = capped ? 'ok' : settleDamaged(stopVerdict, scan.lastSeq + 1, options.acknowledgedSeq);
    if (stopVerdict === 'damaged' && verdict === 'torn') {
      options.logger.warn(`a damaged log record at seq ${scan.lastSeq + 1} has valid records after it, all past the durable-seq mark (seq ${options.acknowledgedSeq}): a batch interrupted by a power loss, never acknowledged`);
    }
    if (verdict === 'corrupt') {
      const seq = scan.stop.seq !== null ? `seq ${scan.stop.seq}` : `the record after seq ${scan.lastSeq}`;
      throw corruptionError(options.dataDir, segment.path, scan.stop.offset, seq, scan.stop.detail);
    }
    const acknowledged = options.acknowledgedSeq ?? 0;
    if (verdict === 'torn' && scan.lastSeq + 1 <= acknowledged) {
      const detail = `${scan.stop.detail}, but the writer acknowledged up to seq ${acknowledged} (its durable-seq mark): not a torn write`;
      throw corruptionError(options.dataDir, segment.path, scan.stop.offset, `seq ${scan.lastSeq + 1}`, detail);
    }
    let { endOffset, lastSeq: segmentLastSeq } = scan;
    if (capped && aboveCapOffset !== -1) [endOffset, segmentLastSeq] = [aboveCapOffset, upTo];
    const unfinishedSeq = assembler.heldFirstSeq;
    if (unfinishedSeq !== undefined) {
      if (!isLast || unfinishedSeq <= acknowledged) {
        const why = isLast ? `the writer acknowledged up to seq ${acknowledged}` : 'another segment follows';
        const detail = `the change starting at seq ${unfinishedSeq} has no last record, but ${why}`;
        throw corruptionError(options.dataDir, segment.path, assembler.heldStartOffset, `seq ${unfinishedSeq}`, detail);
      }
      options.logger.warn(`an interrupted change of ${assembler.heldRecords} log records (from seq ${unfinishedSeq}) was never completed: it is not applied`);
      endOffset = assembler.heldStartOffset;
      segmentLastSeq = unfinishedSeq - 1;
    }
    lastSeq = Math.max(lastSeq, segmentLastSeq);
    if (firstReplayedOffset !== -1) replayedBytes += Math.max(0, endOffset - firstReplayedOffset);
    if (i === tailIndex) tail = { segment, endOffset, lastSeq: segmentLastSeq, droppedBytes: fileBytes - endOffset };
  }
  return { replayed, replayedBytes, lastSeq, tail };
}

/**
 * A damaged record followed by valid ones (`damaged`) is a torn batch when the durable-seq mark
 * proves that none of it was acknowledged (`firstBadSeq` past the mark), and corruption otherwise
 * (no mark to tell, or an acknowledged record is damaged).
 */
export function settleDamaged(verdict: StopVerdict, firstBadSeq: number, acknowledgedSeq: number | undefined): Exclude<StopVerdict, 'damaged'> {
  if (verdict !== 'damaged') return verdict;
  return acknowledgedSeq !== undefined && firstBadSeq > acknowledgedSeq ? 'torn' : 'corrupt';
}

async function cutTornTail(options: RecoveryOptions, tail: RecoveredTail): Promise<void> {
  if (tail.droppedBytes === 0) return;
  const where = `${path.basename(tail.segment.path)} after seq ${tail.lastSeq}`;
  if (options.mode === 'read') return;
  const { fileSystem } = options;
  const fd = await fileSystem.open(tail.segment.path, 'r+');
  try {
    await fileSystem.ftruncate(fd, tail.endOffset);
    await fileSystem.fdatasync(fd);
  } finally {
    await fileSystem.close(fd);
  }
  options.logger.warn(`torn log tail cut: dropped ${tail.droppedBytes} bytes of an interrupted write at the end of ${where}`);
}

export async function recoverDataDir(store: DncStore, options: RecoveryOptions): Promise<RecoveryResult> {
  const started = performance.now();
  const listing = await listDataDir(options.dataDir);
  if (options.mode === 'write') {
    for (const temporary of listing.temporaries) await options.fileSystem.unlink(temporary).catch(() => undefined);
  }
  await settleRejectedRecords(options, listing.rejected);
  const loaded = await loadNewestSnapshot(store, options, listing.snapshots);
  const { snapshotSeq, snapshotPath } = loaded;
  const { replayed, replayedBytes, lastSeq, tail } = await replayLog(store, options, listing.segments, loaded);
  if (tail !== null) await cutTornTail(options, tail);
  if (options.mode === 'write') {
    if (tail !== null) await rewriteTail(options, tail);
    await flushWhatWasRecovered(options, listing);
  }
  return { snapshotSeq, snapshotPath, lastSeq, replayed, replayedBytes, tail, durationMs: performance.now() - started };
}

/**
 * The last segment is the one file whose recovered bytes may live in the page cache alone, and an
 * earlier flush of them may have failed: the kernel then marks those pages clean, and no later
 * flush, even a successful one, carries them to the disk. Writing the same bytes again makes them
 * dirty, so the flush that follows really persists what recovery read (at most one segment).
 */
async function rewriteTail(options: RecoveryOptions, tail: RecoveredTail): Promise<void> {
  if (tail.endOffset === 0) return;
  const fd = await options.fileSystem.open(tail.segment.path, 'r+');
  try {
    // In chunks: the recovered prefix may be larger than a Buffer can be (2 GiB).
    let position = 0;
    for await (const chunk of readFileRange(tail.segment.path, 0, tail.endOffset, options.readChunkBytes)) {
      await options.fileSystem.writev(fd, [chunk], position);
      position += chunk.length;
    }
    if (position !== tail.endOffset) throw new Error(`${path.basename(tail.segment.path)} holds ${position} bytes, not the ${tail.endOffset} recovered`);
  } finally {
    await options.fileSystem.close(fd);
  }
}

/**
 * A writer killed before its last fdatasync leaves bytes, files and renames that live only in the
 * page cache. Recovery read them, and the writer is about to acknowledge changes on top of them:
 * they must reach the disk first, or a later power loss takes them (and what was built on them)
 * away. Files that are already on disk cost one cheap flush each.
 */
async function flushWhatWasRecovered(options: RecoveryOptions, listing: DataDirListing): Promise<void> {
  const { fileSystem } = options;
  for (const file of [...listing.snapshots.map((snapshot) => snapshot.path), ...listing.segments.map((segment) => segment.path)]) {
    const fd = await fileSystem.open(file, 'r');
    try {
      await fileSystem.fsync(fd);
    } finally {
      await fileSystem.close(fd);
    }
  }
  await fileSystem.fsyncDirectory(options.dataDir);
}
