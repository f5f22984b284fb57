// Scanning the bytes of one log segment. It reports exactly where and why reading stopped, so that
// recovery, `idnc verify` and a concurrent read-only follower can each decide what a stop means:
//   end         the bytes end at a record boundary
//   incomplete  the last record's header or body is not all there (torn, or not yet written)
//   checksum    a complete frame whose CRC-32 does not match (torn pages, bit flip)
//   length      a length field beyond the limit (corrupt, or a torn header)
//   body        CRC matches but the body does not decode (a foreign or buggy writer)
//   sequence    a valid record with the wrong seq (gap, duplicate, misplaced file)
// Only a follower may read 'incomplete' as "not yet written"; only at the end of the last segment
// may recovery cut 'incomplete'/'checksum'/'length' as a torn tail, and only if no valid record
// follows (`findValidFrameAfter`, `judgeStop`).

import {
  LOG_FORMAT_VERSION,
  LOG_RECORD_BODY_BYTES_MAX,
  LOG_RECORD_HEADER_BYTES,
  LOG_SEGMENT_HEADER_BYTES,
  LOG_SEGMENT_MAGIC,
} from '../constants.js';
import { Crc32Ranges } from './crc32-ranges.js';
import { decodeBody, frameChecksumMatches, type LogRecord } from './record.js';

export type ScanStopKind = 'end' | 'incomplete' | 'checksum' | 'length' | 'body' | 'sequence' | 'header';

export interface ScanStop {
  readonly kind: ScanStopKind;
  /** File offset where the unreadable record (or header) starts. */
  readonly offset: number;
  /** The seq the bad record carries, when its header is readable. */
  readonly seq: number | null;
  readonly detail: string;
}

export interface SegmentScan {
  /** Valid records read. */
  readonly records: number;
  /** Seq of the last valid record, or expectedFirstSeq - 1 when there is none. */
  readonly lastSeq: number;
  /** Offset just after the last valid record (or after the header): the length of the good prefix. */
  readonly endOffset: number;
  readonly stop: ScanStop;
}

export function segmentHeader(): Buffer {
  const header = Buffer.alloc(LOG_SEGMENT_HEADER_BYTES);
  header.write(LOG_SEGMENT_MAGIC, 0, 'latin1');
  header.writeUInt32LE(LOG_FORMAT_VERSION, 8);
  return header;
}

/** 'incomplete' if shorter than a header, 'header' if the header is not ours, null if fine. */
function checkHeader(bytes: Buffer): ScanStop | null {
  const expected = segmentHeader();
  const header = bytes.subarray(0, LOG_SEGMENT_HEADER_BYTES);
  if (expected.equals(header)) return null;
  if (isTornHeader(header, expected)) {
    return { kind: 'incomplete', offset: 0, seq: null, detail: 'segment header incomplete (its bytes are not all written)' };
  }
  const version = bytes.length < LOG_SEGMENT_HEADER_BYTES ? '' : ' (or another version)';
  return { kind: 'header', offset: 0, seq: null, detail: `segment header is not an idnc log header${version}` };
}

/**
 * A header that was being written when the power went: a prefix of ours, then nothing or zeros (a
 * new file's pages that never reached the disk read as zeros). No record follows a header that was
 * not flushed, so at the end of the log it is a torn tail like any other.
 */
function isTornHeader(header: Buffer, expected: Buffer): boolean {
  let written = 0;
  while (written < header.length && header[written] === expected[written]) written++;
  for (let i = written; i < header.length; i++) if (header[i] !== 0) return false;
  return true;
}

/**
 * Scans `bytes` (a whole segment file, or its prefix) from the header on, calling `onRecord` for
 * each valid record in order. `expectedFirstSeq` is the seq the segment's name promises.
 */
export function scanSegment(
  bytes: Buffer,
  expectedFirstSeq: number,
  onRecord?: (record: LogRecord, offset: number) => void,
  decodeFromSeq = 0,
): SegmentScan {
  const headerStop = checkHeader(bytes);
  if (headerStop !== null) return { records: 0, lastSeq: expectedFirstSeq - 1, endOffset: 0, stop: headerStop };
  return scanRecords(bytes, LOG_SEGMENT_HEADER_BYTES, expectedFirstSeq, onRecord, decodeFromSeq);
}

/**
 * Scans the records of `bytes` from `offset`, a record boundary, expecting `expectedSeq` first. A
 * follower passes a buffer that holds only the part of a segment it has not read yet; offsets in
 * the result are positions in `bytes`. Records before `decodeFromSeq` (those a snapshot already
 * covers) are checked (frame, checksum, sequence) but their bodies are neither decoded nor passed on.
 */
export function scanRecords(
  bytes: Buffer,
  offset: number,
  expectedSeq: number,
  onRecord?: (record: LogRecord, offset: number) => void,
  decodeFromSeq = 0,
): SegmentScan {
  let records = 0;
  for (;;) {
    const stop = readStop(bytes, offset, expectedSeq);
    if (stop !== null) return { records, lastSeq: expectedSeq - 1, endOffset: offset, stop };
    const length = bytes.readUInt32LE(offset);
    const end = offset + LOG_RECORD_HEADER_BYTES + length;
    if (expectedSeq < decodeFromSeq) {
      records++;
      expectedSeq++;
      offset = end;
      continue;
    }
    let record: LogRecord;
    try {
      record = decodeBody(expectedSeq, bytes.subarray(offset + LOG_RECORD_HEADER_BYTES, end));
    } catch (error) {
      const detail = `record body does not decode: ${(error as Error).message}`;
      return { records, lastSeq: expectedSeq - 1, endOffset: offset, stop: { kind: 'body', offset, seq: expectedSeq, detail } };
    }
    onRecord?.(record, offset);
    records++;
    expectedSeq++;
    offset = end;
  }
}

/** Why the record at `offset` cannot be read, or null when it is complete, intact and in sequence. */
function readStop(bytes: Buffer, offset: number, expectedSeq: number): ScanStop | null {
  const remaining = bytes.length - offset;
  if (remaining === 0) return { kind: 'end', offset, seq: null, detail: 'end of segment' };
  if (remaining < LOG_RECORD_HEADER_BYTES) {
    return { kind: 'incomplete', offset, seq: null, detail: `record header incomplete (${remaining} bytes)` };
  }
  const length = bytes.readUInt32LE(offset);
  const seq = Number(bytes.readBigUInt64LE(offset + 8));
  if (length > LOG_RECORD_BODY_BYTES_MAX) {
    return { kind: 'length', offset, seq: null, detail: `record length ${length} exceeds ${LOG_RECORD_BODY_BYTES_MAX}` };
  }
  if (remaining < LOG_RECORD_HEADER_BYTES + length) {
    return { kind: 'incomplete', offset, seq: null, detail: `record incomplete (${remaining} of ${LOG_RECORD_HEADER_BYTES + length} bytes)` };
  }
  if (!frameChecksumMatches(bytes.subarray(offset, offset + LOG_RECORD_HEADER_BYTES + length))) {
    return { kind: 'checksum', offset, seq: null, detail: 'record fails its CRC-32 checksum' };
  }
  if (seq !== expectedSeq) {
    return { kind: 'sequence', offset, seq, detail: `record has seq ${seq}, expected ${expectedSeq}` };
  }
  return null;
}

/** Seqs a resync candidate may carry beyond the last good one: bounds false positives in garbage. */
const RESYNC_SEQ_WINDOW = 1 << 24;

/**
 * Offset of the first frame in [from, to) that is complete within `bytes`, passes its checksum and
 * carries a seq above `lastGoodSeq`, or -1. Used to tell a torn tail (nothing valid after the bad
 * record) from corruption in the middle (valid records follow). Linear in the bytes searched: a
 * candidate's checksum comes from prefix CRCs (crc32-ranges.ts), not from its up to 16 MiB of body,
 * at a cost of 1/8 byte of memory per byte searched.
 */
export function findValidFrameAfter(bytes: Buffer, from: number, lastGoodSeq: number, to = bytes.length): number {
  let ranges: Crc32Ranges | null = null;
  const last = Math.min(to, bytes.length - LOG_RECORD_HEADER_BYTES + 1);
  for (let offset = from; offset < last; offset++) {
    // The cheapest test first: most offsets of garbage fail it (all must pass, so order changes nothing).
    if (bytes[offset + 14] !== 0 || bytes[offset + 15] !== 0) continue;
    const length = u32At(bytes, offset);
    if (length > LOG_RECORD_BODY_BYTES_MAX || offset + LOG_RECORD_HEADER_BYTES + length > bytes.length) continue;
    // Its top 16 bits are zero, so this is the u64 seq exactly, without a BigInt per offset.
    const seq = u32At(bytes, offset + 8) + (bytes[offset + 12]! | (bytes[offset + 13]! << 8)) * 2 ** 32;
    if (seq <= lastGoodSeq || seq > lastGoodSeq + RESYNC_SEQ_WINDOW) continue;
    ranges ??= new Crc32Ranges(bytes, offset + 8);
    if (ranges.crc(offset + 8, offset + LOG_RECORD_HEADER_BYTES + length) === u32At(bytes, offset + 4)) return offset;
  }
  return -1;
}

function u32At(bytes: Buffer, offset: number): number {
  return (bytes[offset]! | (bytes[offset + 1]! << 8) | (bytes[offset + 2]! << 16)) + bytes[offset + 3]! * 0x1000000;
}

/**
 * How the scan of one segment ended:
 *   ok       fine
 *   torn     a bad record at the end of the last segment with nothing valid after it
 *   damaged  a bad record in the last segment with valid frames after it: corruption, or a power
 *            loss that kept a later page of a batch and not an earlier one; only the durable-seq
 *            mark can tell (past it, nothing was acknowledged)
 *   corrupt  anything else
 */
export type StopVerdict = 'ok' | 'torn' | 'damaged' | 'corrupt';

/**
 * The verdict on a stop that needs no search, or null for a bad record at the end of the last
 * segment: that is a torn tail only if no valid frame follows it (`findValidFrameAfter` from
 * `stop.offset + 1`).
 */
export function verdictBeforeSearch(stop: ScanStop, isLastSegment: boolean): StopVerdict | null {
  if (stop.kind === 'end') return 'ok';
  if (!isLastSegment) return 'corrupt';
  if (stop.kind !== 'incomplete' && stop.kind !== 'checksum' && stop.kind !== 'length') return 'corrupt';
  return null;
}

/** The verdict on a scan of `bytes` that reach the end of the segment file. */
export function judgeStop(bytes: Buffer, scan: SegmentScan, isLastSegment: boolean): StopVerdict {
  const verdict = verdictBeforeSearch(scan.stop, isLastSegment);
  if (verdict !== null) return verdict;
  return findValidFrameAfter(bytes, scan.stop.offset + 1, scan.lastSeq) === -1 ? 'torn' : 'damaged';
}
