// Evidence of rejected records that the log writer could not cut from the log. When a batch fails
// (its write or its fdatasync) its clients are told the change failed, and the writer cuts the
// batch's records from the segment. If that cut fails too, the records may still be whole in the
// file, and a restart would replay them as if they had been acknowledged. So the writer stops and
// leaves this marker, written like a snapshot (temp file, fsync, rename, directory fsync); startup
// refuses while the log holds the records a marker names, and `idnc repair --yes` cuts exactly
// those records, then moves the marker aside. If not even the marker can be written, the writer overwrites the records with zeros,
// which recovery cuts as a torn tail. The marker is a small JSON file: the segment's name, the
// offset where the batch starts, and the batch's seqs.

import fs from 'node:fs';
import path from 'node:path';
import { REJECTED_MARKER_BYTES_MAX, REJECTED_MARKER_FORMAT_VERSION } from '../constants.js';
import type { EngineLogger } from '../logger.js';
import { DataCorruptError } from '../errors.js';
import { backupPath, listDataDir, rejectedRecordsPath, temporaryPath } from './data-dir.js';
import type { PersistFileSystem } from './file-system.js';
import { readSegmentFile } from './segment-read.js';

export interface RejectedRecords {
  /** File name of the segment the batch was written to. */
  readonly segment: string;
  /** Where the batch starts in that segment: the length of the good prefix. */
  readonly offset: number;
  readonly firstSeq: number;
  readonly lastSeq: number;
}

/** Writes the marker of `rejected` durably through the seam; returns its path. */
export async function writeRejectedMarker(fileSystem: PersistFileSystem, dataDir: string, rejected: RejectedRecords): Promise<string> {
  const finalPath = rejectedRecordsPath(dataDir, rejected.firstSeq);
  const tempPath = temporaryPath(finalPath);
  const body = Buffer.from(`${JSON.stringify({ format: REJECTED_MARKER_FORMAT_VERSION, ...rejected })}\n`);
  const fd = await fileSystem.open(tempPath, 'w');
  try {
    await fileSystem.writev(fd, [body], 0);
    await fileSystem.fsync(fd);
  } catch (error) {
    await fileSystem.close(fd).catch(() => undefined);
    await fileSystem.unlink(tempPath).catch(() => undefined);
    throw error;
  }
  await fileSystem.close(fd);
  await fileSystem.rename(tempPath, finalPath);
  await fileSystem.fsyncDirectory(dataDir);
  return finalPath;
}

/** Overwrites `bytes` bytes at `offset` with zeros and flushes them: a tail recovery cuts as torn. */
export async function zeroRejectedBytes(fileSystem: PersistFileSystem, fd: number, offset: number, bytes: number): Promise<void> {
  await fileSystem.writev(fd, [Buffer.alloc(bytes)], offset);
  await fileSystem.fdatasync(fd);
}

function isCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

/** The records `marker` names, or null when it is not a marker idnc wrote. */
async function readRejectedMarker(marker: string): Promise<RejectedRecords | null> {
  const stat = await fs.promises.stat(marker);
  if (stat.size > REJECTED_MARKER_BYTES_MAX) return null;
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(await fs.promises.readFile(marker, 'utf8')) as Record<string, unknown>;
  } catch {
    return null;
  }
  const { format, segment, offset, firstSeq, lastSeq } = parsed ?? {};
  if (format !== REJECTED_MARKER_FORMAT_VERSION || typeof segment !== 'string' || path.basename(segment) !== segment) return null;
  if (!isCount(offset) || !isCount(firstSeq) || !isCount(lastSeq) || firstSeq < 1 || lastSeq < firstSeq) return null;
  return { segment, offset, firstSeq, lastSeq };
}

function describeRecords(rejected: RejectedRecords): string {
  const seqs = rejected.firstSeq === rejected.lastSeq ? `seq ${rejected.firstSeq}` : `seq ${rejected.firstSeq}-${rejected.lastSeq}`;
  return `${seqs} at offset ${rejected.offset} of ${rejected.segment}`;
}

export interface SettleOptions {
  readonly dataDir: string;
  readonly fileSystem: PersistFileSystem;
  readonly logger: EngineLogger;
  /** 'write' removes a marker whose records the log no longer holds; 'read' changes nothing. */
  readonly mode: 'read' | 'write';
}

/**
 * Startup (and verify) refuse while a marker names records the log still holds: they must not be
 * replayed. A marker whose records are gone (the writer's truncate took effect, only its flush
 * failed) is obsolete: in 'write' mode the cut is flushed again and the marker removed.
 */
export async function settleRejectedRecords(options: SettleOptions, markers: readonly string[]): Promise<void> {
  const { dataDir, fileSystem, logger } = options;
  for (const marker of markers) {
    const rejected = await readRejectedMarker(marker);
    const segment = rejected === null ? null : path.join(dataDir, rejected.segment);
    const size = segment === null ? 0 : ((await fs.promises.stat(segment).catch(() => null))?.size ?? 0);
    if (rejected === null || size > rejected.offset) throw rejectedRecordsError(dataDir, marker, rejected);
    if (options.mode === 'read') continue;
    if (size > 0) {
      const fd = await fileSystem.open(segment!, 'r+');
      await fileSystem.fdatasync(fd).finally(() => fileSystem.close(fd));
    }
    await fileSystem.unlink(marker);
    await fileSystem.fsyncDirectory(dataDir);
    logger.warn(`removed ${path.basename(marker)}: the log no longer holds the rejected records ${describeRecords(rejected)}`);
  }
}

function rejectedRecordsError(dataDir: string, marker: string, rejected: RejectedRecords | null): DataCorruptError {
  const name = path.basename(marker);
  if (rejected === null) {
    return new DataCorruptError(
      `${name} in ${dataDir} marks rejected records that could not be cut from the log, but it is not a marker ` +
        'idnc wrote, so which records is unknown. Nothing was changed: check the log by hand before moving it aside.',
    );
  }
  return new DataCorruptError(
    `${name} in ${dataDir}: the records ${describeRecords(rejected)} were rejected (their clients were told the ` +
      `change failed) but could not be cut from the log. Nothing was changed. Run \`idnc repair --yes --data-dir ` +
      `${dataDir}\` to cut exactly those records.`,
  );
}

export interface RejectedCut {
  readonly marker: string;
  readonly rejected: RejectedRecords;
  /** Bytes from `rejected.offset` to the end of the segment: 0 when the log no longer holds them. */
  readonly bytes: number;
}

/** What `idnc repair` does about each marker; refuses when a marker does not match the log. */
export async function planRejectedCuts(dataDir: string): Promise<RejectedCut[]> {
  const listing = await listDataDir(dataDir);
  const cuts: RejectedCut[] = [];
  for (const marker of listing.rejected) {
    const rejected = await readRejectedMarker(marker);
    if (rejected === null) throw markerError(dataDir, marker, 'it is not a marker idnc wrote');
    const segment = listing.segments.find((file) => path.basename(file.path) === rejected.segment);
    const size = segment === undefined ? 0 : (await fs.promises.stat(segment.path)).size;
    if (segment !== undefined && size > rejected.offset) {
      const problem = await prefixProblem(segment.path, segment.firstSeq, rejected);
      if (problem !== null) throw markerError(dataDir, marker, problem);
    }
    cuts.push({ marker, rejected, bytes: Math.max(0, size - rejected.offset) });
  }
  return cuts;
}

/** Why the segment's first `offset` bytes are not whole records ending just before the batch, or null. */
async function prefixProblem(file: string, segmentFirstSeq: number, rejected: RejectedRecords): Promise<string | null> {
  const segment = { firstSeq: segmentFirstSeq, path: file };
  const { scan } = await readSegmentFile(segment, { isLast: false, decodeFromSeq: Number.MAX_SAFE_INTEGER, endOffset: rejected.offset });
  if (scan.stop.kind === 'end' && scan.lastSeq === rejected.firstSeq - 1) return null;
  return `${rejected.segment} does not end at seq ${rejected.firstSeq - 1} at offset ${rejected.offset} (${scan.stop.detail} after seq ${scan.lastSeq})`;
}

function markerError(dataDir: string, marker: string, problem: string): DataCorruptError {
  return new DataCorruptError(
    `cannot repair ${dataDir}: ${path.basename(marker)} names rejected records, but ${problem}. ` +
      'Nothing was changed: check the log by hand before moving the marker aside.',
  );
}

export function describeRejectedCut(cut: RejectedCut): string {
  if (cut.bytes === 0) return `move aside ${path.basename(cut.marker)} (the log no longer holds the records it names)`;
  return `cut the rejected records ${describeRecords(cut.rejected)} (${cut.bytes} bytes; their clients were told the change failed)`;
}

/**
 * Cuts the records every marker names (the segment's original is copied into `backupDir` first),
 * then moves the marker into `backupDir`. Run under the writer lock.
 */
export async function cutRejectedRecords(dataDir: string, backupDir: string, logger: EngineLogger, fileSystem: PersistFileSystem): Promise<void> {
  const cuts = await planRejectedCuts(dataDir);
  for (const cut of cuts) {
    if (cut.bytes > 0) {
      const segment = path.join(dataDir, cut.rejected.segment);
      await fs.promises.copyFile(segment, await backupPath(backupDir, cut.rejected.segment), fs.constants.COPYFILE_EXCL);
      const fd = await fileSystem.open(segment, 'r+');
      try {
        await fileSystem.ftruncate(fd, cut.rejected.offset);
        await fileSystem.fsync(fd);
      } finally {
        await fileSystem.close(fd);
      }
    }
    await fileSystem.rename(cut.marker, await backupPath(backupDir, path.basename(cut.marker)));
    logger.info(describeRejectedCut(cut));
  }
  if (cuts.length > 0) await fileSystem.fsyncDirectory(dataDir);
}
