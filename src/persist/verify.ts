// `idnc verify`: a read-only report on every file of a data directory, and whether the writer
// would start on it. It never changes a file and takes no lock, so it can run beside a live server
// (whose last record may then show as an incomplete tail).

import path from 'node:path';
import { DncStore } from '../store/dnc-store.js';
import type { EngineLogger } from '../logger.js';
import { listDataDir, type SegmentFile } from './data-dir.js';
import { readAcknowledgedSeq } from './durable-mark.js';
import { nodeFileSystem } from './file-system.js';
import { CommitAssembler } from './commit-assembler.js';
import type { LogRecord } from './record.js';
import { recoverDataDir, settleDamaged } from './recovery.js';
import { readSegmentFile } from './segment-read.js';
import { readSnapshot } from './snapshot-read.js';
import type { LoadedList } from './snapshot.js';
import { CorruptBitmapError } from '../store/portable-bitmap.js';

export type FileOutcome = 'ok' | 'missing' | 'empty' | 'truncated' | 'corrupt';

export interface FileReport {
  readonly file: string;
  readonly kind: 'snapshot' | 'segment';
  readonly outcome: FileOutcome;
  readonly detail: string;
  /** Segments: valid records, seq range of the good prefix, and where a problem starts. */
  readonly records?: number;
  readonly firstSeq?: number;
  readonly lastSeq?: number;
  readonly badOffset?: number;
  /** Length of the good prefix (segments). */
  readonly goodBytes?: number;
}

export interface VerifyReport {
  readonly dataDir: string;
  readonly files: FileReport[];
  /** Whether a writer would start on this directory (a torn tail is cut at startup). */
  readonly startable: boolean;
  /** The refusal startup would give, when not startable. */
  readonly startError: string | null;
  readonly lastSeq: number | null;
}

const silentLogger: EngineLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };

/**
 * `acknowledgedSeq`: the durable-seq mark, which tells a batch torn by a power loss from corruption
 * (as a writer under fsync 'always' starts); `readChunkBytes`: bytes of a segment read at once
 * (LOG_READ_CHUNK_BYTES); tests use tiny chunks.
 */
export async function verifySegments(segments: readonly SegmentFile[], acknowledgedSeq?: number, readChunkBytes?: number): Promise<FileReport[]> {
  const reports: FileReport[] = [];
  const assembler = new CommitAssembler();
  let expected: number | null = null;
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!;
    const file = path.basename(segment.path);
    if (expected !== null && segment.firstSeq !== expected) {
      const detail = `sequence gap: the previous segment ends at seq ${expected - 1}, this one starts at ${segment.firstSeq}`;
      reports.push({ file, kind: 'segment', outcome: 'corrupt', detail, badOffset: 0, goodBytes: 0, records: 0 });
    }
    const isLast = i === segments.length - 1;
    const onRecord = (record: LogRecord, offset: number): void => assembler.accept(record, offset, () => undefined);
    const read = await readSegmentFile(segment, { isLast, onRecord, chunkBytes: readChunkBytes });
    const { scan, fileBytes } = read;
    const verdict = settleDamaged(read.verdict, scan.lastSeq + 1, acknowledgedSeq);
    const base = { file, kind: 'segment' as const, records: scan.records, firstSeq: segment.firstSeq, lastSeq: scan.lastSeq, goodBytes: scan.endOffset };
    const gapReported = reports.at(-1)?.file === file;
    const unfinished = verdict === 'ok' && assembler.heldFirstSeq !== undefined ? unfinishedChange(assembler, isLast) : null;
    if (unfinished !== null) reports.push({ ...base, ...unfinished, badOffset: assembler.heldStartOffset });
    else if (verdict === 'ok' && !gapReported) reports.push({ ...base, outcome: fileBytes === 0 ? 'empty' : 'ok', detail: `${scan.records} records` });
    else if (verdict === 'torn') {
      const past = read.verdict === 'damaged' ? `, with valid records after it, all past the durable-seq mark (seq ${acknowledgedSeq})` : '';
      const detail = `torn tail: ${fileBytes - scan.endOffset} bytes after seq ${scan.lastSeq} (${scan.stop.detail}${past}); startup cuts them`;
      reports.push({ ...base, outcome: 'truncated', detail, badOffset: scan.stop.offset });
    } else if (verdict === 'corrupt') {
      const seq = scan.stop.seq !== null ? `seq ${scan.stop.seq}` : `the record after seq ${scan.lastSeq}`;
      reports.push({ ...base, outcome: 'corrupt', detail: `at offset ${scan.stop.offset} (${seq}): ${scan.stop.detail}`, badOffset: scan.stop.offset });
    }
    // Where a corrupt segment really ends is unknown: the next one cannot be said to leave a gap.
    expected = verdict === 'corrupt' ? null : scan.lastSeq + 1;
  }
  return reports;
}

/**
 * A change split over several records whose last record is missing: at the end of the log startup
 * drops it like a torn tail (reported as truncated); with a segment after it, startup refuses.
 */
function unfinishedChange(assembler: CommitAssembler, isLast: boolean): Pick<FileReport, 'outcome' | 'detail'> {
  const what = `a change of ${assembler.heldRecords} records from seq ${assembler.heldFirstSeq} has no last record`;
  if (isLast) return { outcome: 'truncated', detail: `${what}; startup drops it` };
  return { outcome: 'corrupt', detail: `${what}, but another segment follows` };
}

/**
 * What is wrong inside a loaded snapshot's bitmaps, or null. The checksum proves the bytes are the
 * ones written, not that they are valid Roaring bitmaps; startup does not check this (it costs
 * about as much as the load itself at 100M numbers), each bitmap is checked before it first reaches
 * CRoaring (PortableBitmap.checkContents), so `verify` is where a bad one is found ahead of time.
 */
function contentsProblem(lists: readonly LoadedList[]): string | null {
  for (const list of lists) {
    for (const [areaCode, bitmap] of list.areas) {
      try {
        bitmap.checkContents();
      } catch (error) {
        if (!(error instanceof CorruptBitmapError)) throw error;
        const project = list.address.projId === '' ? 'master list' : `project ${JSON.stringify(list.address.projId)}`;
        return `organisation ${JSON.stringify(list.address.org)}, ${project}, area code ${areaCode}: ${error.message}`;
      }
    }
  }
  return null;
}

export async function verifyDataDir(dataDir: string): Promise<VerifyReport> {
  const resolved = path.resolve(dataDir);
  const listing = await listDataDir(resolved);
  const files: FileReport[] = [];
  for (const snapshot of listing.snapshots) {
    const load = await readSnapshot(snapshot.path);
    const file = path.basename(snapshot.path);
    if (load.outcome === 'ok') {
      const contents = contentsProblem(load.lists);
      const outcome = load.lastSeq === snapshot.lastSeq && contents === null ? 'ok' : 'corrupt';
      const detail = `covers seq ${load.lastSeq}, ${load.lists.length + (load.sorted?.lists ?? 0)} lists${contents === null ? '' : `; ${contents}`}`;
      files.push({ file, kind: 'snapshot', outcome, detail, lastSeq: load.lastSeq });
    } else files.push({ file, kind: 'snapshot', outcome: load.outcome, detail: load.detail });
  }
  // As a writer under the default fsync 'always' starts: the mark tells acknowledged from torn.
  const acknowledgedSeq = await readAcknowledgedSeq(resolved).catch((error: Error) => error);
  const acknowledged = typeof acknowledgedSeq === 'number' ? { acknowledgedSeq } : {};
  files.push(...(await verifySegments(listing.segments, acknowledged.acknowledgedSeq)));
  try {
    if (acknowledgedSeq instanceof Error) throw acknowledgedSeq;
    const recovered = await recoverDataDir(new DncStore(), { dataDir: resolved, fileSystem: nodeFileSystem, logger: silentLogger, mode: 'read', ...acknowledged });
    return { dataDir: resolved, files, startable: true, startError: null, lastSeq: recovered.lastSeq };
  } catch (error) {
    return { dataDir: resolved, files, startable: false, startError: (error as Error).message, lastSeq: null };
  }
}
