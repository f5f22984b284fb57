// Keeping the log for history (docs/history.md): the segments a snapshot covers, which the writer
// used to delete, are moved whole into `history/` (a rename, nothing copied), each with its summary
// beside it, and removed whole once their last record is older than the retention. Renames and
// removals are made durable (both directories flushed) before they count, like every file idnc
// keeps; recovery, followers and repair read only the top directory, so history never slows them.
// Before an expired segment goes, the add events of numbers still listed are carried forward
// (carry-forward.ts), and its summary stays, without its numbers, for the chain state it holds.

import fs from 'node:fs';
import path from 'node:path';
import { DIRECTORY_MODE_OWNER_ONLY } from '../constants.js';
import type { SegmentFile } from '../persist/data-dir.js';
import type { PersistFileSystem } from '../persist/file-system.js';
import { RoaringBitmap32 } from '../store/roaring.js';
import { carriedPath, carryForward, readCarried, writeCarried, type ListedNow } from './carry-forward.js';
import { encodeState, type ChainState } from './chain.js';
import { readSummary, summariseSegment, summaryPath, writeSummary, type SegmentSummary } from './segment-summary.js';

export const HISTORY_DIR = 'history';
const SEGMENT_PATTERN = /^log-(\d{16})\.idnclog$/;

export function historyDir(dataDir: string): string {
  return path.join(dataDir, HISTORY_DIR);
}

/** The archived segments, ascending by first seq (none when there is no history directory). */
export async function listHistory(dataDir: string): Promise<SegmentFile[]> {
  const dir = historyDir(dataDir);
  const names = await fs.promises.readdir(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [] as string[];
    throw error;
  });
  const segments: SegmentFile[] = [];
  for (const name of names) {
    const match = SEGMENT_PATTERN.exec(name);
    if (match !== null) segments.push({ firstSeq: Number(match[1]), path: path.join(dir, name) });
  }
  return segments.sort((a, b) => a.firstSeq - b.firstSeq);
}

async function ensureHistoryDir(fileSystem: PersistFileSystem, dataDir: string): Promise<string> {
  const dir = historyDir(dataDir);
  const created = await fs.promises.mkdir(dir, { mode: DIRECTORY_MODE_OWNER_ONLY }).then(() => true, (error: NodeJS.ErrnoException) => {
    if (error.code === 'EEXIST') return false;
    throw error;
  });
  if (created) await fileSystem.fsyncDirectory(dataDir);
  return dir;
}

/**
 * Moves `segments` (covered by a snapshot, no longer needed by recovery) into history, each with
 * its summary and, when known, the chain state before its first record (`chainBefore`).
 */
export async function archiveSegments(
  fileSystem: PersistFileSystem,
  dataDir: string,
  segments: readonly SegmentFile[],
  chainBefore: (segment: SegmentFile) => ChainState | undefined,
): Promise<void> {
  if (segments.length === 0) return;
  const dir = await ensureHistoryDir(fileSystem, dataDir);
  const moved: { segment: SegmentFile; summary: SegmentSummary; chain: ChainState | undefined }[] = [];
  for (const segment of segments) {
    const summary = await summariseSegment(segment);
    const target = path.join(dir, path.basename(segment.path));
    await fileSystem.rename(segment.path, target);
    moved.push({ segment: { firstSeq: segment.firstSeq, path: target }, summary, chain: chainBefore(segment) });
  }
  await fileSystem.fsyncDirectory(dir);
  await fileSystem.fsyncDirectory(dataDir);
  for (const { segment, summary, chain } of moved) {
    await writeSummary(fileSystem, summaryPath(segment.path), summary, chain === undefined ? undefined : encodeState(chain));
  }
}

/** The summary of an archived segment: its side file, or built again (and rewritten) when that is missing or bad. */
export async function archivedSummary(fileSystem: PersistFileSystem | null, segment: SegmentFile): Promise<SegmentSummary> {
  const file = summaryPath(segment.path);
  const stored = await readSummary(file, segment.firstSeq);
  if (stored !== null) return stored;
  const built = await summariseSegment(segment);
  if (fileSystem !== null) await writeSummary(fileSystem, file, built).catch(() => undefined);
  return built;
}

/**
 * Removes, whole, every archived segment whose last record is older than `retentionMs` before
 * `nowMs`, oldest first; returns how many. The add events of numbers `listed` now are first carried
 * forward, durably; the segment's summary is kept without its numbers (its seqs, times and chain
 * state: verify and evidence still link the chain across it).
 */
export async function sweepHistory(fileSystem: PersistFileSystem, dataDir: string, retentionMs: number, nowMs: number, listed: ListedNow): Promise<number> {
  const expired: { segment: SegmentFile; summary: SegmentSummary }[] = [];
  for (const segment of await listHistory(dataDir)) {
    const summary = await archivedSummary(fileSystem, segment);
    if (summary.lastTs !== null && summary.lastTs >= nowMs - retentionMs) break;
    expired.push({ segment, summary });
  }
  if (expired.length === 0) return 0;
  const file = carriedPath(dataDir, HISTORY_DIR);
  const before = await readCarried(file);
  let carried = before;
  // A segment the file already holds (a crash after the write, before the removal) is not carried twice.
  for (const { segment, summary } of expired) if (summary.lastSeq > carried.throughSeq) carried = await carryForward(carried, segment, listed);
  if (carried !== before) await writeCarried(fileSystem, file, carried);
  for (const { segment, summary } of expired) {
    const chain = summary.chainBefore === undefined ? undefined : encodeState(summary.chainBefore);
    await writeSummary(fileSystem, summaryPath(segment.path), { ...summary, numbers: new RoaringBitmap32(), drops: [] }, chain);
    await fileSystem.unlink(segment.path);
  }
  await fileSystem.fsyncDirectory(historyDir(dataDir));
  return expired.length;
}
