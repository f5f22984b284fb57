// `idnc repair`: make a data directory startable again, keeping every record recovery can prove.
// It reads the directory as recovery does: the newest snapshot that passes its checks, then the log
// from the segment holding the seq after it. Damage in segments recovery never reads (those the
// snapshot covers, kept only to fall back to an older snapshot) costs nothing: they are moved aside.
// In the log recovery reads, the first bad record ends what can be kept; when it lies among records
// the snapshot covers, the records after the snapshot are kept in a new segment of their own.
// Everything taken away is moved (not deleted) into `repair-<time>-<random>/` inside the directory:
// the whole original of a cut segment, later segments, and snapshots that fail their checks; a file
// two steps change (a rejected-records cut, then a cut of the same segment) is kept in each version.
//
// A segment is never changed in place: its kept records are written to a new file (temp, fsync,
// rename, directory fsync), so a follower holding the old file open sees another inode, and a
// repair interrupted at any call leaves either the old file or the new one. Last, the durable-seq
// mark gets a new epoch at the repaired seq: followers reload if they applied anything removed.
// Every write goes through the file-system seam. It takes the writer lock, so it cannot run beside a
// live server. Without `--yes` the CLI only shows the plan.

import fs from 'node:fs';
import path from 'node:path';
import { DIRECTORY_MODE_OWNER_ONLY, LOG_SEGMENT_HEADER_BYTES } from '../constants.js';
import type { EngineLogger } from '../logger.js';
import { DataCorruptError } from '../errors.js';
import { DncStore } from '../store/dnc-store.js';
import { CommitAssembler } from './commit-assembler.js';
import { backupPath, listDataDir, segmentPath, temporaryPath, type SegmentFile } from './data-dir.js';
import { DurableMarkWriter } from './durable-mark.js';
import { nodeFileSystem, type PersistFileSystem } from './file-system.js';
import type { LogRecord } from './record.js';
import { recoverDataDir } from './recovery.js';
import { cutRejectedRecords } from './rejected-records.js';
import { findValidFrameInSegment, readFileRange, readSegmentFile } from './segment-read.js';
import { segmentHeader } from './segment-scan.js';
import { verifyDataDir } from './verify.js';
import { acquireWriterLock } from './writer-lock.js';

export interface RepairCut {
  /** The damaged segment; its original is kept in the backup directory. */
  readonly file: string;
  /** Where its kept records end: the bytes from here on are dropped. */
  readonly offset: number;
  /** Seq of the state after the repair. */
  readonly afterSeq: number;
  /**
   * Set when the bad record is one the snapshot covers: the records after the snapshot, from
   * `offset` of the original, go into the new segment `file` (the original is moved aside).
   */
  readonly keptFrom: { readonly offset: number; readonly file: string } | null;
}

export interface RepairPlan {
  readonly cut: RepairCut | null;
  /** Files moved aside (segments that cannot be kept or are not needed, snapshots that fail their checks). */
  readonly moveAside: string[];
  /** Why the directory cannot be repaired by cutting (records missing before any good state). */
  readonly impossible: string | null;
}

/** The records recovery can prove in one segment: bytes [from, to), up to `lastSeq`. */
interface Kept {
  readonly from: number;
  readonly to: number;
  readonly lastSeq: number;
  readonly whole: boolean;
}

/** Bytes of a segment read at once (LOG_READ_CHUNK_BYTES); tests use tiny chunks. */
export interface RepairReadOptions {
  readonly readChunkBytes?: number;
}

const name = (segment: SegmentFile): string => path.basename(segment.path);

export async function planRepair(dataDir: string, options: RepairReadOptions = {}): Promise<RepairPlan> {
  const { segments } = await listDataDir(dataDir);
  const report = await verifyDataDir(dataDir);
  const moveAside = report.files.filter((f) => f.kind === 'snapshot' && f.outcome !== 'ok').map((f) => f.file);
  const snapshotSeq = report.files.find((f) => f.kind === 'snapshot' && f.outcome === 'ok')?.lastSeq ?? 0;
  let start = -1;
  for (let i = 0; i < segments.length; i++) if (segments[i]!.firstSeq <= snapshotSeq + 1) start = i;
  if (segments.length > 0 && start === -1) {
    const impossible = `no valid snapshot covers seq ${segments[0]!.firstSeq - 1} and the log starts at seq ${segments[0]!.firstSeq}: records are missing, restore a backup`;
    return { cut: null, moveAside, impossible };
  }
  moveAside.push(...(await unusableCovered(segments.slice(0, Math.max(start, 0)), segments[start]?.firstSeq ?? 0, options)));
  const { cut, dropped } = await planLog(segments.slice(Math.max(start, 0)), snapshotSeq, options);
  moveAside.push(...dropped);
  return { cut, moveAside, impossible: null };
}

/**
 * Segments before the one recovery starts from serve only a fall back to an older snapshot, which
 * needs them whole and in sequence: a damaged one goes aside with every one before it.
 */
async function unusableCovered(covered: readonly SegmentFile[], nextFirstSeq: number, options: RepairReadOptions): Promise<string[]> {
  let lastUnusable = -1;
  for (let i = 0; i < covered.length; i++) {
    const assembler = new CommitAssembler();
    const onRecord = (record: LogRecord, offset: number): void => assembler.accept(record, offset, () => undefined);
    const { scan } = await readSegmentFile(covered[i]!, { isLast: false, onRecord, chunkBytes: options.readChunkBytes });
    const followedBy = covered[i + 1]?.firstSeq ?? nextFirstSeq;
    if (scan.stop.kind !== 'end' || assembler.heldRecords > 0 || followedBy !== scan.lastSeq + 1) lastUnusable = i;
  }
  return covered.slice(0, lastUnusable + 1).map(name);
}

/** The log from the segment recovery starts at: what to cut, and what to move aside after it. */
async function planLog(segments: readonly SegmentFile[], snapshotSeq: number, options: RepairReadOptions): Promise<{ cut: RepairCut | null; dropped: string[] }> {
  let lastSeq = snapshotSeq;
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!;
    const rest = segments.slice(i + 1).map(name);
    if (i > 0 && segment.firstSeq !== lastSeq + 1) return { cut: null, dropped: [name(segment), ...rest] };
    const kept = await keptRecords(segment, snapshotSeq, i === segments.length - 1, options.readChunkBytes);
    if (kept.whole) {
      lastSeq = Math.max(lastSeq, kept.lastSeq);
      continue;
    }
    const afterSeq = Math.max(lastSeq, kept.lastSeq);
    if (kept.from === 0 && kept.to <= LOG_SEGMENT_HEADER_BYTES) return { cut: null, dropped: [name(segment), ...rest] };
    const keptFrom = kept.from === 0 ? null : { offset: kept.from, file: path.basename(segmentPath('', snapshotSeq + 1)) };
    return { cut: { file: name(segment), offset: kept.to, afterSeq, keptFrom }, dropped: rest };
  }
  return { cut: null, dropped: [] };
}

/**
 * What recovery can prove in one segment (read as recovery reads it: records the snapshot covers
 * checked, not decoded). A bad record among those covered ends nothing: what recovery needs starts
 * at the record after the snapshot, found again past the damage.
 */
async function keptRecords(segment: SegmentFile, snapshotSeq: number, isLast: boolean, chunkBytes: number | undefined): Promise<Kept> {
  const prefix = await provable(segment, undefined, snapshotSeq, isLast, chunkBytes);
  if (prefix.whole || prefix.lastSeq >= snapshotSeq || prefix.torn) return prefix;
  const next = await findValidFrameInSegment(segment.path, prefix.to + 1, snapshotSeq, chunkBytes);
  if (next === null || next.seq !== snapshotSeq + 1) return { ...prefix, from: 0, to: 0 };
  return { ...(await provable(segment, next, snapshotSeq, isLast, chunkBytes)), whole: false };
}

/** The records from `from` (a record boundary and its seq; the header when undefined) that recovery would keep. */
async function provable(
  segment: SegmentFile,
  from: { readonly offset: number; readonly seq: number } | undefined,
  snapshotSeq: number,
  isLast: boolean,
  chunkBytes: number | undefined,
): Promise<Kept & { torn: boolean }> {
  const assembler = new CommitAssembler();
  const onRecord = (record: LogRecord, offset: number): void => assembler.accept(record, offset, () => undefined);
  const { scan, verdict } = await readSegmentFile(segment, { isLast, onRecord, decodeFromSeq: snapshotSeq + 1, chunkBytes, from });
  const start = from?.offset ?? 0;
  const held = assembler.heldFirstSeq;
  if (held !== undefined) return { from: start, to: assembler.heldStartOffset, lastSeq: held - 1, whole: false, torn: isLast };
  return { from: start, to: scan.endOffset, lastSeq: scan.lastSeq, whole: verdict === 'ok', torn: verdict === 'torn' };
}

function stamp(): string {
  return new Date().toISOString().replace(/[:.]/g, '-');
}

/**
 * Carries out `plan` (after taking the writer lock), checks that the directory now starts and
 * gives the durable-seq mark a new epoch at its seq. Every write goes through `fileSystem`.
 */
export async function applyRepair(
  dataDir: string,
  plan: RepairPlan,
  logger: EngineLogger,
  fileSystem: PersistFileSystem = nodeFileSystem,
  options: RepairReadOptions = {},
): Promise<{ backupDir: string; lastSeq: number }> {
  if (plan.impossible !== null) throw new DataCorruptError(`cannot repair ${dataDir}: ${plan.impossible}`);
  const lock = await acquireWriterLock(dataDir, fileSystem, logger);
  try {
    const backupDir = await fs.promises.mkdtemp(path.join(dataDir, `repair-${stamp()}-`));
    await fs.promises.chmod(backupDir, DIRECTORY_MODE_OWNER_ONLY);
    // First the records of a failed batch (at the end of the log, after any cut the plan makes).
    await cutRejectedRecords(dataDir, backupDir, logger, fileSystem);
    // Newest first, so that at every step the directory holds the log up to some point.
    for (const file of [...plan.moveAside].reverse()) await fileSystem.rename(path.join(dataDir, file), await backupPath(backupDir, file));
    if (plan.cut !== null) await replaceCutSegment(fileSystem, dataDir, backupDir, plan.cut, options);
    await fileSystem.fsyncDirectory(dataDir);
    await fileSystem.fsyncDirectory(backupDir);
    const recovered = await recoverDataDir(new DncStore(), { dataDir, fileSystem, logger, mode: 'read' });
    // 'none': repair flushes no log it keeps, so its mark claims nothing acknowledged to startup.
    const mark = await DurableMarkWriter.open(fileSystem, dataDir, recovered.lastSeq, 'none');
    await mark.close(recovered.lastSeq);
    return { backupDir, lastSeq: recovered.lastSeq };
  } finally {
    await lock.release();
  }
}

/** Writes the kept records of `cut` as a new file that takes the segment's place. */
async function replaceCutSegment(fileSystem: PersistFileSystem, dataDir: string, backupDir: string, cut: RepairCut, options: RepairReadOptions): Promise<void> {
  const original = path.join(dataDir, cut.file);
  const target = path.join(dataDir, cut.keptFrom?.file ?? cut.file);
  // A rejected-records cut may have shortened the segment since the plan was made.
  const size = (await fs.promises.stat(original)).size;
  const to = Math.min(cut.offset, size);
  const kept = { file: original, from: Math.min(cut.keptFrom?.offset ?? 0, to), to, chunkBytes: options.readChunkBytes };
  await writeFileDurably(fileSystem, temporaryPath(target), cut.keptFrom === null ? null : segmentHeader(), kept);
  if (cut.keptFrom === null) {
    // The original's name is about to be taken: keep a copy of it first.
    await writeFileDurably(fileSystem, await backupPath(backupDir, cut.file), null, { ...kept, from: 0, to: size });
    await fileSystem.fsyncDirectory(backupDir);
    await fileSystem.rename(temporaryPath(target), target);
    return;
  }
  // The new segment (it starts after the snapshot) is in place before the original goes.
  await fileSystem.rename(temporaryPath(target), target);
  await fileSystem.fsyncDirectory(dataDir);
  await fileSystem.rename(original, await backupPath(backupDir, cut.file));
}

/** Writes `header` (if any), then bytes [from, to) of `source.file` read in chunks, to `file`, and flushes it. */
async function writeFileDurably(
  fileSystem: PersistFileSystem,
  file: string,
  header: Buffer | null,
  source: { readonly file: string; readonly from: number; readonly to: number; readonly chunkBytes: number | undefined },
): Promise<void> {
  const fd = await fileSystem.open(file, 'w');
  try {
    let position = 0;
    if (header !== null) {
      await fileSystem.writev(fd, [header], 0);
      position = header.length;
    }
    for await (const chunk of readFileRange(source.file, source.from, source.to, source.chunkBytes)) {
      await fileSystem.writev(fd, [chunk], position);
      position += chunk.length;
    }
    const expected = (header?.length ?? 0) + source.to - source.from;
    if (position !== expected) throw new Error(`${path.basename(source.file)} ended before offset ${source.to} while it was copied`);
    await fileSystem.fsync(fd);
  } finally {
    await fileSystem.close(fd);
  }
}
