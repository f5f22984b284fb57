// Log records as JetStream messages: one message per record, its payload the record's frame exactly
// as the log stores it (src/persist/record.ts: length, CRC-32, seq, body), so the stream's sequence
// is idnc's seq and a change of the record body's format needs no change here. A message is checked
// like a log record when read back (length, checksum, seq), never trusted blindly.

import { LOG_RECORD_HEADER_BYTES } from '../constants.js';
import { DataCorruptError } from '../errors.js';
import type { LogRecord } from '../persist/record.js';
import { scanRecords } from '../persist/segment-scan.js';

/** The subject a writer publishes its records to in `stream`. */
export function logSubject(stream: string): string {
  return `${stream}.log`;
}

/** The object store bucket of `stream`'s snapshots. */
export function snapshotBucket(stream: string): string {
  return `${stream}_SNAPSHOTS`;
}

/** Seq written in a frame's header. */
export function frameSeq(frame: Uint8Array): number {
  const view = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
  return view.readUInt32LE(8) + view.readUInt32LE(12) * 2 ** 32;
}

/**
 * The JetStream message id of a record: its seq and CRC-32, so a publish sent again (a lost
 * acknowledgement) is kept once, while a different record at the same seq is a different message.
 */
export function recordMessageId(frame: Uint8Array): string {
  const view = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
  return `${frameSeq(frame)}-${view.readUInt32LE(4).toString(16)}`;
}

/**
 * The frames of a batch (runs of records written back to back) as one copied buffer per record:
 * the log writer reuses its buffers once the batch is written, and a publish buffered while NATS is
 * unreachable may be sent after that.
 */
export function splitFrames(runs: readonly Buffer[]): Buffer[] {
  const records: Buffer[] = [];
  for (const run of runs) {
    for (let offset = 0; offset < run.length; ) {
      const length = LOG_RECORD_HEADER_BYTES + run.readUInt32LE(offset);
      records.push(Buffer.from(run.subarray(offset, offset + length)));
      offset += length;
    }
  }
  return records;
}

/** Decodes the record a message carries; DATA_CORRUPT unless it is one whole valid record of `seq`. */
export function decodeMessage(payload: Uint8Array, seq: number): LogRecord {
  const bytes = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  let decoded: LogRecord | null = null;
  const scan = scanRecords(bytes, 0, seq, (record) => (decoded = record));
  if (decoded === null || scan.endOffset !== bytes.length) {
    throw new DataCorruptError(`stream message ${seq} is not the log record of seq ${seq} (${scan.stop.detail})`);
  }
  return decoded;
}
