// Reading one whole log segment file (or a part of it) for recovery, `idnc verify` and `idnc repair`,
// and copying its bytes, in bounded chunks: a segment may be larger than a Buffer can be (2 GiB),
// so it is never read at once. A record that straddles
// a chunk's end is carried into the next chunk (one copy of less than a record per chunk); a
// segment below the chunk size is one read and one scan, as a whole-file read would be. The stop
// is judged as on the whole file: at the end of the last segment, the bytes after a bad record up
// to the end of the file are searched for a valid frame, in windows when they do not fit in memory.

import fs from 'node:fs';
import { LOG_READ_CHUNK_BYTES, LOG_RECORD_BODY_BYTES_MAX, LOG_RECORD_HEADER_BYTES, LOG_SEGMENT_HEADER_BYTES } from '../constants.js';
import type { SegmentFile } from './data-dir.js';
import type { LogRecord } from './record.js';
import {
  findValidFrameAfter,
  judgeStop,
  scanRecords,
  scanSegment,
  verdictBeforeSearch,
  type SegmentScan,
  type StopVerdict,
} from './segment-scan.js';

export interface SegmentReadOptions {
  /** Whether this is the log's last segment (the only one that may end in a torn tail). */
  readonly isLast: boolean;
  /** Called for each valid record in order, with the record's file offset. */
  readonly onRecord?: (record: LogRecord, offset: number) => void;
  /** Records before this seq (those a snapshot covers) are checked but not decoded. */
  readonly decodeFromSeq?: number;
  /** Bytes read at once; LOG_READ_CHUNK_BYTES unless a test puts chunk ends everywhere. */
  readonly chunkBytes?: number;
  /** Where to start instead of the header: a record boundary and the seq expected there. */
  readonly from?: { readonly offset: number; readonly seq: number };
  /** Reads the file as if it ended here (a prefix that must be whole records). */
  readonly endOffset?: number;
}

export interface SegmentRead {
  /** The scan of the whole file, with file offsets. */
  readonly scan: SegmentScan;
  readonly verdict: StopVerdict;
  /** Size of the file as read. */
  readonly fileBytes: number;
}

/** A buffer of `kept` followed by up to `length` bytes read at `position` (fewer at the end of the file). */
async function readAfter(handle: fs.promises.FileHandle, kept: Buffer, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(kept.length + length);
  kept.copy(buffer, 0);
  let filled = kept.length;
  while (filled < buffer.length) {
    const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, position + filled - kept.length);
    if (bytesRead === 0) return buffer.subarray(0, filled);
    filled += bytesRead;
  }
  return buffer;
}

/** Bytes still missing to complete the record (or its header) that `kept` begins. */
function missingBytes(kept: Buffer): number {
  if (kept.length < LOG_RECORD_HEADER_BYTES) return LOG_RECORD_HEADER_BYTES - kept.length;
  return LOG_RECORD_HEADER_BYTES + kept.readUInt32LE(0) - kept.length;
}

export async function readSegmentFile(segment: SegmentFile, options: SegmentReadOptions): Promise<SegmentRead> {
  const chunkBytes = options.chunkBytes ?? LOG_READ_CHUNK_BYTES;
  const { decodeFromSeq = 0, onRecord, from } = options;
  const handle = await fs.promises.open(segment.path, 'r');
  try {
    let size = Math.min((await handle.stat()).size, options.endOffset ?? Number.POSITIVE_INFINITY);
    /** File offset of buffer[0]. */
    let base = from?.offset ?? 0;
    const onRecordAt = onRecord === undefined ? undefined : (record: LogRecord, offset: number) => onRecord(record, base + offset);
    const first = Math.max(0, Math.min(size - base, Math.max(chunkBytes, LOG_SEGMENT_HEADER_BYTES)));
    let buffer = await readAfter(handle, Buffer.alloc(0), base, first);
    if (buffer.length < first) size = base + buffer.length;
    let scan = from === undefined ? scanSegment(buffer, segment.firstSeq, onRecordAt, decodeFromSeq) : scanRecords(buffer, 0, from.seq, onRecordAt, decodeFromSeq);
    let records = scan.records;
    while ((scan.stop.kind === 'end' || scan.stop.kind === 'incomplete') && base + buffer.length < size) {
      const kept = buffer.subarray(scan.endOffset);
      base += scan.endOffset;
      const wanted = Math.min(size - base - kept.length, Math.max(chunkBytes, missingBytes(kept)));
      buffer = await readAfter(handle, kept, base + kept.length, wanted);
      if (buffer.length < kept.length + wanted) size = base + buffer.length;
      scan = scanRecords(buffer, 0, scan.lastSeq + 1, onRecordAt, decodeFromSeq);
      records += scan.records;
    }
    const verdict = base + buffer.length >= size ? judgeStop(buffer, scan, options.isLast) : await judgeStopInFile(handle, base, scan, size, options.isLast, chunkBytes);
    const stop = { ...scan.stop, offset: base + scan.stop.offset };
    return { scan: { records, lastSeq: scan.lastSeq, endOffset: base + scan.endOffset, stop }, verdict, fileBytes: size };
  } finally {
    await handle.close();
  }
}

/**
 * The bytes [from, to) of `file`, up to `chunkBytes` at a time, each a new buffer; fewer bytes in
 * all if the file ends first (the caller compares what it got with what it expected).
 */
export async function* readFileRange(file: string, from: number, to: number, chunkBytes = LOG_READ_CHUNK_BYTES): AsyncGenerator<Buffer> {
  const handle = await fs.promises.open(file, 'r');
  try {
    for (let position = from; position < to;) {
      const wanted = Math.min(chunkBytes, to - position);
      const chunk = await readAfter(handle, Buffer.alloc(0), position, wanted);
      if (chunk.length > 0) yield chunk;
      if (chunk.length < wanted) return;
      position += chunk.length;
    }
  } finally {
    await handle.close();
  }
}

/**
 * The first valid frame in `file` at or after `from` with a seq above `lastGoodSeq` (as
 * findValidFrameAfter judges it over the whole file), with its seq; null if there is none.
 */
export async function findValidFrameInSegment(file: string, from: number, lastGoodSeq: number, chunkBytes = LOG_READ_CHUNK_BYTES): Promise<{ offset: number; seq: number } | null> {
  const handle = await fs.promises.open(file, 'r');
  try {
    const { size } = await handle.stat();
    const offset = await findValidFrameInFile(handle, from, size, lastGoodSeq, chunkBytes);
    if (offset === -1) return null;
    const header = await readAfter(handle, Buffer.alloc(0), offset, LOG_RECORD_HEADER_BYTES);
    return { offset, seq: Number(header.readBigUInt64LE(8)) };
  } finally {
    await handle.close();
  }
}

/** judgeStop for a scan of the chunk at `base` when the file goes on after that chunk. */
async function judgeStopInFile(handle: fs.promises.FileHandle, base: number, scan: SegmentScan, size: number, isLast: boolean, chunkBytes: number): Promise<StopVerdict> {
  const verdict = verdictBeforeSearch(scan.stop, isLast);
  if (verdict !== null) return verdict;
  return (await findValidFrameInFile(handle, base + scan.stop.offset + 1, size, scan.lastSeq, chunkBytes)) === -1 ? 'torn' : 'damaged';
}

/**
 * findValidFrameAfter over the file's bytes [from, size), one window at a time: the candidates of
 * `chunkBytes` offsets with the longest frame any of them can start after them, so every candidate
 * is judged on exactly the bytes it would be judged on in the whole file.
 */
export async function findValidFrameInFile(handle: fs.promises.FileHandle, from: number, size: number, lastGoodSeq: number, chunkBytes: number): Promise<number> {
  for (let start = from; start + LOG_RECORD_HEADER_BYTES <= size; start += chunkBytes) {
    const windowEnd = Math.min(size, start + chunkBytes + LOG_RECORD_HEADER_BYTES + LOG_RECORD_BODY_BYTES_MAX);
    const window = await readAfter(handle, Buffer.alloc(0), start, windowEnd - start);
    // A window cut short by a file that shrank while it was read ends the file as read.
    const reachesEnd = window.length < windowEnd - start || windowEnd === size;
    const found = findValidFrameAfter(window, 0, lastGoodSeq, reachesEnd ? window.length : chunkBytes);
    if (found !== -1) return start + found;
    if (reachesEnd) return -1;
  }
  return -1;
}
