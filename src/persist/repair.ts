// `idnc repair`: make a data directory startable again by cutting the log at its first bad record.
// Everything taken away is moved (not deleted) into `repair-<time>/` inside the data directory: the
// whole original of a cut segment, later segments, and snapshots that fail their checks. It takes
// the writer lock, so it cannot run beside a live server. Without `--yes` it only shows the plan.

import fs from 'node:fs';
import path from 'node:path';
import type { EngineLogger } from '../engine.js';
import { IdncError } from '../errors.js';
import { DncStore } from '../store/dnc-store.js';
import { listDataDir } from './data-dir.js';
import { nodeFileSystem } from './file-system.js';
import { recoverDataDir } from './recovery.js';
import { cutRejectedRecords } from './rejected-records.js';
import { segmentHeader } from './segment-scan.js';
import { verifyDataDir, verifySegments, type FileReport } from './verify.js';
import { acquireWriterLock } from './writer-lock.js';

export interface RepairPlan {
  /** Segment cut at its first bad record: the bytes from `offset` on are dropped. */
  readonly cut: { readonly file: string; readonly offset: number; readonly afterSeq: number } | null;
  /** Files moved aside (later segments, snapshots that fail their checks). */
  readonly moveAside: string[];
  /** Why the directory cannot be repaired by cutting (records missing before any good state). */
  readonly impossible: string | null;
}

export async function planRepair(dataDir: string): Promise<RepairPlan> {
  const listing = await listDataDir(dataDir);
  const report = await verifyDataDir(dataDir);
  const moveAside: string[] = report.files.filter((f) => f.kind === 'snapshot' && f.outcome !== 'ok').map((f) => f.file);
  const goodSnapshot = report.files.find((f) => f.kind === 'snapshot' && f.outcome === 'ok');
  const snapshotSeq = goodSnapshot?.lastSeq ?? 0;
  const segmentReports = await verifySegments(listing.segments);
  const firstBad = segmentReports.findIndex((f) => f.outcome === 'corrupt' || f.outcome === 'truncated');
  let cut: RepairPlan['cut'] = null;
  if (firstBad !== -1) {
    const bad: FileReport = segmentReports[firstBad]!;
    cut = { file: bad.file, offset: bad.goodBytes ?? 0, afterSeq: (bad.firstSeq ?? 1) - 1 + (bad.records ?? 0) };
    const later = segmentReports.slice(firstBad + 1).map((f) => f.file).filter((f) => f !== bad.file);
    moveAside.push(...new Set(later));
    if (bad.outcome === 'corrupt' && bad.badOffset === 0 && bad.records === 0) {
      moveAside.push(bad.file);
      cut = null;
    }
  }
  const keptSegments = listing.segments.filter((s) => !moveAside.includes(path.basename(s.path)));
  const firstKept = keptSegments[0]?.firstSeq;
  const impossible = firstKept !== undefined && firstKept > snapshotSeq + 1
    ? `no valid snapshot covers seq ${firstKept - 1} and the log starts at seq ${firstKept}: records are missing, restore a backup`
    : null;
  return { cut, moveAside: [...new Set(moveAside)], impossible };
}

function stamp(): string {
  return new Date().toISOString().replace(/[:.]/g, '-');
}

/** Carries out `plan` (after taking the writer lock) and checks that the directory now starts. */
export async function applyRepair(dataDir: string, plan: RepairPlan, logger: EngineLogger): Promise<{ backupDir: string; lastSeq: number }> {
  if (plan.impossible !== null) throw new IdncError('DATA_CORRUPT', `cannot repair ${dataDir}: ${plan.impossible}`);
  const lock = await acquireWriterLock(dataDir, nodeFileSystem, logger);
  try {
    const backupDir = path.join(dataDir, `repair-${stamp()}`);
    await fs.promises.mkdir(backupDir);
    if (plan.cut !== null) {
      const segment = path.join(dataDir, plan.cut.file);
      await fs.promises.copyFile(segment, path.join(backupDir, plan.cut.file));
      const offset = Math.max(plan.cut.offset, 0);
      if (offset < segmentHeader().length) await fs.promises.writeFile(segment, segmentHeader());
      else await fs.promises.truncate(segment, offset);
      const fd = await nodeFileSystem.open(segment, 'r+');
      await nodeFileSystem.fsync(fd).finally(() => nodeFileSystem.close(fd));
    }
    for (const file of plan.moveAside) await fs.promises.rename(path.join(dataDir, file), path.join(backupDir, file));
    await cutRejectedRecords(dataDir, backupDir, logger);
    await nodeFileSystem.fsyncDirectory(dataDir);
    const recovered = await recoverDataDir(new DncStore(), { dataDir, fileSystem: nodeFileSystem, logger, mode: 'read' });
    return { backupDir, lastSeq: recovered.lastSeq };
  } finally {
    await lock.release();
  }
}
