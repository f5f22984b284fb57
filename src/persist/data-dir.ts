// Names and listing of the files in a data directory. Every file's role and position is in its name,
// so a concurrent read-only process finds the current segments and snapshots by listing the
// directory alone (no manifest file to race with):
//   log-<first seq, 16 digits>.idnclog        log segments, in seq order by name
//   snapshot-<last seq, 16 digits>.idncsnap   snapshots; the highest name is the newest
//   rejected-<first seq>.idncrejected         records of a failed batch the writer could not cut from
//                                             the log (src/persist/rejected-records.ts): startup
//                                             refuses until `idnc repair --yes` cuts them
//   <snapshot, marker or segment name>.tmp    a file being written (ignored by readers; a segment's by
//                                             `idnc repair`)
//   writer.lock                               the writer's lock (pid, host, start time)
//   repair-<time>-<random>/                   what an `idnc repair` changed or moved, as it was
//   durable-seq.idncmark                      the seq the writer has acknowledged (durable-mark.ts)
// Zero-padding to 16 digits makes lexical order equal numeric order.

import fs from 'node:fs';
import path from 'node:path';

export const WRITER_LOCK_FILE = 'writer.lock';
export const DURABLE_MARK_FILE = 'durable-seq.idncmark';
export const STORAGE_PROBE_FILE = '.idnc-storage-probe';
const SEQ_DIGITS = 16;
const SEGMENT_PATTERN = /^log-(\d{16})\.idnclog$/;
const SNAPSHOT_PATTERN = /^snapshot-(\d{16})\.idncsnap$/;
const REJECTED_PATTERN = /^rejected-(\d{16})\.idncrejected$/;
const TEMP_SUFFIX = '.tmp';
/** Only our own temporary files: other `*.tmp` files (a concurrent `idnc keys`) are not ours to remove. */
const OWN_TEMP_PATTERN = /^(snapshot-\d{16}\.idncsnap|rejected-\d{16}\.idncrejected|log-\d{16}\.idnclog)\.tmp$/;

export interface SegmentFile {
  readonly firstSeq: number;
  readonly path: string;
}

export interface SnapshotFile {
  readonly lastSeq: number;
  readonly path: string;
}

export interface DataDirListing {
  /** Ascending by first seq. */
  readonly segments: SegmentFile[];
  /** Descending by last seq: the newest first. */
  readonly snapshots: SnapshotFile[];
  /** Leftover temporary files of interrupted snapshot writes. */
  readonly temporaries: string[];
  /** Markers of rejected records still in the log, ascending by their first seq. */
  readonly rejected: string[];
}

function padSeq(seq: number): string {
  return String(seq).padStart(SEQ_DIGITS, '0');
}

export function segmentPath(dataDir: string, firstSeq: number): string {
  return path.join(dataDir, `log-${padSeq(firstSeq)}.idnclog`);
}

export function snapshotPath(dataDir: string, lastSeq: number): string {
  return path.join(dataDir, `snapshot-${padSeq(lastSeq)}.idncsnap`);
}

/** The marker of rejected records from `firstSeq` on. */
export function rejectedRecordsPath(dataDir: string, firstSeq: number): string {
  return path.join(dataDir, `rejected-${padSeq(firstSeq)}.idncrejected`);
}

/**
 * Where `idnc repair` keeps a file it changes or moves: `<name>` in its backup directory, or
 * `<name>.2`, `<name>.3`, ... when a step of the same repair already kept a version of that file (a
 * rejected-records cut, then a cut of the same segment): no backup ever overwrites another.
 */
export async function backupPath(backupDir: string, name: string): Promise<string> {
  for (let version = 1; ; version++) {
    const candidate = path.join(backupDir, version === 1 ? name : `${name}.${version}`);
    const taken = await fs.promises.lstat(candidate).then(
      () => true,
      (error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return false;
        throw error;
      },
    );
    if (!taken) return candidate;
  }
}

export function temporaryPath(finalPath: string): string {
  return `${finalPath}${TEMP_SUFFIX}`;
}

export async function listDataDir(dataDir: string): Promise<DataDirListing> {
  const names = await fs.promises.readdir(dataDir);
  const segments: SegmentFile[] = [];
  const snapshots: SnapshotFile[] = [];
  const temporaries: string[] = [];
  const rejected: string[] = [];
  for (const name of names) {
    const segment = SEGMENT_PATTERN.exec(name);
    const snapshot = SNAPSHOT_PATTERN.exec(name);
    if (segment !== null) segments.push({ firstSeq: Number(segment[1]), path: path.join(dataDir, name) });
    else if (snapshot !== null) snapshots.push({ lastSeq: Number(snapshot[1]), path: path.join(dataDir, name) });
    else if (REJECTED_PATTERN.test(name)) rejected.push(path.join(dataDir, name));
    else if (OWN_TEMP_PATTERN.test(name)) temporaries.push(path.join(dataDir, name));
  }
  segments.sort((a, b) => a.firstSeq - b.firstSeq);
  snapshots.sort((a, b) => b.lastSeq - a.lastSeq);
  rejected.sort();
  return { segments, snapshots, temporaries, rejected };
}
