// Reads framed records back from the writer's own log files, as the bytes the log stores: what a
// writer publishes when the stream is behind its log (`--replicate-ack local` publishing behind, a
// restart with a backlog, replication switched on for a data directory that already has a log).
// It keeps its place (segment, offset, seq), so following a growing log reads each byte once, and
// reads only records up to a seq the writer has acknowledged (the rest may still be being written).
// A read checks each frame's length, checksum and seq without decoding its body (decoding every
// record read back was a tenth of an ack-local writer's CPU); the reader of the stream decodes.

import fs from 'node:fs';
import { LOG_RECORD_HEADER_BYTES, LOG_SEGMENT_HEADER_BYTES, REPLICATION_READ_WINDOW_BYTES } from '../constants.js';
import { listDataDir, type SegmentFile } from '../persist/data-dir.js';
import { frameChecksumMatches } from '../persist/record.js';
import { scanRecords } from '../persist/segment-scan.js';
import { frameSeq } from './stream-records.js';

interface Place {
  readonly segment: SegmentFile;
  readonly offset: number;
  /** Seq of the record at `offset`. */
  readonly seq: number;
}

export class LogFrames {
  private place: Place | null = null;

  constructor(private readonly dataDir: string) {}

  /**
   * Frames of the records from `fromSeq` up to `upToSeq` (at most `recordsMax`), from one
   * segment and one read window: fewer when either ends first (the next read goes on from there),
   * none when the log holds nothing after `fromSeq - 1` yet, or its record of `fromSeq` fails its
   * checksum or is cut short. null when the log no longer holds `fromSeq` (removed after a snapshot).
   */
  async read(fromSeq: number, upToSeq: number, recordsMax: number): Promise<Buffer[] | null> {
    if (this.place?.seq !== fromSeq) this.place = await this.find(fromSeq);
    const place = this.place;
    if (place === null) return null;
    const handle = await fs.promises.open(place.segment.path, 'r').catch(() => null);
    if (handle === null) return null;
    const frames: Buffer[] = [];
    let end = 0;
    try {
      const { size } = await handle.stat();
      const rest = Math.max(0, size - place.offset);
      // A window of the segment, doubled while it cuts the first record (a bulk change's record).
      for (let window = REPLICATION_READ_WINDOW_BYTES; frames.length === 0; window *= 2) {
        const bytes = Buffer.allocUnsafe(Math.min(rest, window));
        const { bytesRead } = await handle.read(bytes, 0, bytes.length, place.offset);
        const read = bytes.subarray(0, bytesRead);
        end = readFrames(read, fromSeq, Math.min(upToSeq, fromSeq + recordsMax - 1), frames);
        if (window >= rest) break;
      }
    } finally {
      await handle.close();
    }
    this.place = { segment: place.segment, offset: place.offset + end, seq: fromSeq + frames.length };
    if (frames.length === 0 && fromSeq <= upToSeq) return this.readNextSegment(fromSeq, upToSeq, recordsMax, place);
    return frames;
  }

  /** The current segment holds nothing more: the records may continue in the next one. */
  private async readNextSegment(fromSeq: number, upToSeq: number, recordsMax: number, place: Place): Promise<Buffer[] | null> {
    const next = await this.find(fromSeq);
    if (next === null || next.segment.path === place.segment.path) return [];
    this.place = next;
    return this.read(fromSeq, upToSeq, recordsMax);
  }

  /** Where `seq` is: at the start of the segment it opens, or found by scanning the segment holding it. */
  private async find(seq: number): Promise<Place | null> {
    const { segments } = await listDataDir(this.dataDir);
    let holder: SegmentFile | undefined;
    for (const segment of segments) if (segment.firstSeq <= seq) holder = segment;
    if (holder === undefined) return null;
    if (holder.firstSeq === seq) return { segment: holder, offset: LOG_SEGMENT_HEADER_BYTES, seq };
    const bytes = await fs.promises.readFile(holder.path).catch(() => null);
    if (bytes === null) return null;
    let found: Place | null = null;
    const scan = scanRecords(bytes, LOG_SEGMENT_HEADER_BYTES, holder.firstSeq, (record, offset) => {
      if (record.seq === seq) found = { segment: holder, offset, seq };
    });
    // Not written yet: the next record goes after the last one.
    if (found === null && scan.lastSeq === seq - 1) return { segment: holder, offset: scan.endOffset, seq };
    return found;
  }
}

/**
 * Copies the whole frames at the start of `bytes` of seqs `fromSeq` to `toSeq` into `frames`, up to
 * the first one cut by the window's end, failing its checksum or of another seq; returns the
 * offset after the last one taken.
 */
function readFrames(bytes: Buffer, fromSeq: number, toSeq: number, frames: Buffer[]): number {
  let offset = 0;
  for (let seq = fromSeq; seq <= toSeq && offset + LOG_RECORD_HEADER_BYTES <= bytes.length; seq++) {
    const end = offset + LOG_RECORD_HEADER_BYTES + bytes.readUInt32LE(offset);
    if (end > bytes.length) break;
    const frame = bytes.subarray(offset, end);
    if (frameSeq(frame) !== seq || !frameChecksumMatches(frame)) break;
    frames.push(Buffer.from(frame));
    offset = end;
  }
  return offset;
}
