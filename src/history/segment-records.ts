// The records of one segment file with their bytes, for history queries: each record decoded, and
// its frame (the bytes its digest in the hash chain is taken of). Reads in bounded chunks and stops
// at the first record that is not whole and valid, or after `upToSeq`: beside a running writer the
// last record may be half written, and a query never reads past what the engine has applied. A
// segment may be a member of a pack (pack.ts): its bytes are then a span of the pack's file.

import path from 'node:path';
import { LOG_RECORD_BODY_BYTES_MAX, LOG_RECORD_HEADER_BYTES, LOG_SEGMENT_HEADER_BYTES } from '../constants.js';
import type { SegmentFile } from '../persist/data-dir.js';
import { decodeBody, frameChecksumMatches, type LogRecord } from '../persist/record.js';
import { readFileRange } from '../persist/segment-read.js';

const READ_CHUNK_BYTES = 1024 * 1024;

/** A segment's bytes: a whole segment file, or the span of a pack that holds one verbatim. */
export interface SegmentSpan extends SegmentFile {
  /** Where the segment's header is in `path` (0: a segment file). */
  readonly offset?: number;
  /** The segment's bytes (absent: to the end of the file). */
  readonly bytes?: number;
  /** The name a message gives it (absent: the file's). */
  readonly label?: string;
}

/** The name of a segment in messages: its file's, or its pack's and its own. */
export function spanLabel(segment: SegmentSpan): string {
  return segment.label ?? path.basename(segment.path);
}

/** Where a read of records ended: the last seq read and the offset just after it. */
export interface RecordsRead {
  readonly lastSeq: number;
  readonly endOffset: number;
}

/**
 * Calls `onRecord` for each valid record in order, from the segment's first record or from `from`
 * (a record boundary and the seq there), up to `upToSeq`.
 */
export async function forEachRecord(
  segment: SegmentSpan,
  upToSeq: number,
  onRecord: (record: LogRecord, frame: Buffer) => void,
  from: { readonly offset: number; readonly seq: number } = { offset: LOG_SEGMENT_HEADER_BYTES, seq: segment.firstSeq },
): Promise<RecordsRead> {
  let seq = from.seq;
  let offset = from.offset;
  const ended = (): RecordsRead => ({ lastSeq: seq - 1, endOffset: offset });
  let pending: Buffer = Buffer.alloc(0);
  const base = segment.offset ?? 0;
  const end = segment.bytes === undefined ? Number.MAX_SAFE_INTEGER : base + segment.bytes;
  for await (const chunk of readFileRange(segment.path, base + from.offset, end, READ_CHUNK_BYTES)) {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    let at = 0;
    while (pending.length - at >= LOG_RECORD_HEADER_BYTES && seq <= upToSeq) {
      const length = pending.readUInt32LE(at);
      if (length > LOG_RECORD_BODY_BYTES_MAX) return ended();
      if (pending.length - at < LOG_RECORD_HEADER_BYTES + length) break;
      const frame = pending.subarray(at, at + LOG_RECORD_HEADER_BYTES + length);
      if (!frameChecksumMatches(frame) || Number(frame.readBigUInt64LE(8)) !== seq) return ended();
      let record: LogRecord;
      try {
        record = decodeBody(seq, frame.subarray(LOG_RECORD_HEADER_BYTES));
      } catch {
        return ended();
      }
      onRecord(record, frame);
      at += frame.length;
      offset += frame.length;
      seq++;
    }
    if (seq > upToSeq) return ended();
    pending = pending.subarray(at);
  }
  return ended();
}
