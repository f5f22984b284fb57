// What a history query needs to know about one log segment without reading it: its seqs and times,
// which numbers its records touched (a Roaring bitmap of each number modulo 2^32: a number and the
// one or two others that share its low 32 bits look alike, which only costs a needless scan), and
// its list drops (a drop names no numbers, so it concerns every number of its list). Built by one
// pass over the segment; an archived segment keeps it in a side file (history/<segment>.idncsum),
// written like a snapshot, so a query skips the segments that never touched its number. The side
// file is a cache of the segment: one that is missing or fails its checks is built again.

import fs from 'node:fs';
import { crc32 } from 'node:zlib';
import { pack, unpack } from 'msgpackr';
import type { SegmentFile } from '../persist/data-dir.js';
import type { PersistFileSystem } from '../persist/file-system.js';
import type { LogRecord } from '../persist/record.js';
import { forEachRecord } from './segment-records.js';
import { RoaringBitmap32 } from '../store/roaring.js';
import { decodeState, type ChainState } from './chain.js';
import { writeFileAtomically } from '../persist/atomic-file.js';

const SUMMARY_FORMAT = 1;
const SUMMARY_SUFFIX = '.idncsum';
const NUMBER_MODULUS = 2 ** 32;

export interface ListDrop {
  readonly seq: number;
  readonly ts: number;
  readonly org: string;
  readonly projId: string;
}

export interface SegmentSummary {
  readonly firstSeq: number;
  /** firstSeq - 1 when the segment holds no record. */
  readonly lastSeq: number;
  /** ts of the first and last record; null when there is none. */
  readonly firstTs: number | null;
  readonly lastTs: number | null;
  /** Every number an add or remove record touched, modulo 2^32. */
  readonly numbers: RoaringBitmap32;
  readonly drops: readonly ListDrop[];
  /** The hash chain's state just before the segment's first record, when the writer knew it (verify starts there). */
  readonly chainBefore?: ChainState;
}

/** The key of a number in a summary's bitmap. */
export function summaryKey(number: number): number {
  return number % NUMBER_MODULUS;
}

/** Builds the summary of a segment's valid records (a torn tail, or a record being written, ends it). */
export async function summariseSegment(segment: SegmentFile): Promise<SegmentSummary> {
  return (await extendSummary(segment, Number.MAX_SAFE_INTEGER, null)).summary;
}

/** A live segment's summary and where its valid records ended when it was made. */
export interface GrowingSummary {
  readonly summary: SegmentSummary;
  readonly endOffset: number;
}

/**
 * The summary of a live segment up to `upToSeq` (acknowledged records: a failed batch is cut from
 * the log only beyond them), extending `base` by the records after it, so a growing segment is read
 * once in all. `base` null: from the segment's start.
 */
export async function extendSummary(segment: SegmentFile, upToSeq: number, base: GrowingSummary | null): Promise<GrowingSummary> {
  // The bitmap only grows: a query still holding it sees a superset, which costs it a read at most.
  const numbers = base?.summary.numbers ?? new RoaringBitmap32();
  const drops: ListDrop[] = base === null ? [] : [...base.summary.drops];
  let firstTs: number | null = base?.summary.firstTs ?? null;
  let lastTs: number | null = base?.summary.lastTs ?? null;
  const keys: number[] = [];
  const onRecord = (record: LogRecord): void => {
    firstTs ??= record.ts;
    lastTs = record.ts;
    if (record.op === 'drop') drops.push({ seq: record.seq, ts: record.ts, org: record.org, projId: record.projId });
    for (let i = 0; i < record.numbers.length; i++) keys.push(summaryKey(record.numbers[i]!));
    if (keys.length >= 65_536) numbers.addMany(keys.splice(0));
  };
  const read = base === null ? await forEachRecord(segment, upToSeq, onRecord) : await forEachRecord(segment, upToSeq, onRecord, { offset: base.endOffset, seq: base.summary.lastSeq + 1 });
  numbers.addMany(keys);
  numbers.runOptimize();
  const summary = { firstSeq: segment.firstSeq, lastSeq: read.lastSeq, firstTs, lastTs, numbers, drops };
  return { summary, endOffset: read.endOffset };
}

export function summaryPath(segmentPath: string): string {
  return `${segmentPath}${SUMMARY_SUFFIX}`.replace(/\.idnclog\.idncsum$/, SUMMARY_SUFFIX);
}

/** The side file's bytes: msgpack of the summary, then the CRC-32 of those bytes (u32 LE). */
function encodeSummary(summary: SegmentSummary, chainBefore: Record<string, unknown> | undefined): Buffer {
  const body = pack({
    format: SUMMARY_FORMAT,
    firstSeq: summary.firstSeq,
    lastSeq: summary.lastSeq,
    firstTs: summary.firstTs,
    lastTs: summary.lastTs,
    numbers: summary.numbers.serialize('portable'),
    drops: summary.drops.map((drop) => [drop.seq, drop.ts, drop.org, drop.projId]),
    ...(chainBefore === undefined ? {} : { chainBefore }),
  });
  const footer = Buffer.alloc(4);
  footer.writeUInt32LE(crc32(body), 0);
  return Buffer.concat([body, footer]);
}

/** A side file read back and checked, or null when it is missing or not one idnc wrote whole. */
export async function readSummary(file: string, firstSeq: number): Promise<SegmentSummary | null> {
  let bytes: Buffer;
  try {
    bytes = await fs.promises.readFile(file);
  } catch {
    return null;
  }
  if (bytes.length < 4 || crc32(bytes.subarray(0, bytes.length - 4)) !== bytes.readUInt32LE(bytes.length - 4)) return null;
  try {
    const value = unpack(bytes.subarray(0, bytes.length - 4)) as Record<string, unknown>;
    if (value.format !== SUMMARY_FORMAT || value.firstSeq !== firstSeq || !(value.numbers instanceof Uint8Array)) return null;
    const drops = (value.drops as [number, number, string, string][]).map(([seq, ts, org, projId]) => ({ seq, ts, org, projId }));
    const numbers = RoaringBitmap32.deserialize(Buffer.from(value.numbers), 'portable');
    const chain = value.chainBefore === undefined ? {} : { chainBefore: decodeState(value.chainBefore) };
    return { firstSeq, lastSeq: value.lastSeq as number, firstTs: value.firstTs as number | null, lastTs: value.lastTs as number | null, numbers, drops, ...chain };
  } catch {
    return null;
  }
}

/** Writes a side file atomically and durably (temp file, fdatasync, rename, directory flush). */
export async function writeSummary(fileSystem: PersistFileSystem, file: string, summary: SegmentSummary, chainBefore?: Record<string, unknown>): Promise<void> {
  await writeFileAtomically(fileSystem, file, [encodeSummary(summary, chainBefore)]);
}
