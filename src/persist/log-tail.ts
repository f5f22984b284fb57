// The read side of a live log: where a read-only follower stands in the writer's segments, and one
// step of catching up from there. It never writes to the data directory and keeps its current
// segment open, so the writer removing that file (after a snapshot) does not cut a read short.
//
// One `read` lists the directory FIRST, then reads the current segment to its end: a newer segment
// in that listing was created after every record of the current one was written, so "a newer
// segment starts right after my last record" means move on, and "a newer segment starts later"
// means records this follower needs are gone (removed after a snapshot, or cut by `idnc repair`):
// the caller reloads from a snapshot. At the end of the newest segment an incomplete record (or a
// torn one with nothing valid after it, as recovery judges it) is "not yet written": the writer is
// writing it, or will cut it when it restarts; the follower reads again from its own position, so a
// file that shrank back to that position and grew again is read once, in sequence.

import fs from 'node:fs';
import path from 'node:path';
import { FOLLOWER_READ_BYTES_MAX } from '../constants.js';
import { listDataDir, type SegmentFile } from './data-dir.js';
import type { LogRecord } from './record.js';
import { CommitAssembler } from './commit-assembler.js';
import { judgeStop } from './recovery.js';
import { scanRecords, scanSegment, type SegmentScan } from './segment-scan.js';

export interface TailPosition {
  /** The segment being read; null when there is no log after `lastSeq` yet. */
  readonly segment: SegmentFile | null;
  /** File offset of the next record to read in `segment` (0: its header is not read yet). */
  readonly offset: number;
  /** Seq of the last record applied. */
  readonly lastSeq: number;
}

/**
 * current  everything complete on disk when the read began is applied (an unfinished record may wait)
 * behind   records after lastSeq are no longer in the log: reload from a snapshot
 * blocked  an unreadable record that a restarted writer would refuse too: wait for `idnc repair`
 */
export type TailOutcome =
  | { readonly kind: 'current' }
  | { readonly kind: 'behind'; readonly reason: string }
  | { readonly kind: 'blocked'; readonly detail: string };

type SegmentStep = { readonly kind: 'end' | 'unfinished' } | Exclude<TailOutcome, { kind: 'current' }>;

export class LogTail {
  private segment: SegmentFile | null;
  private handle: fs.promises.FileHandle | null = null;
  /** File offset just after the last change applied (0: the segment's header is not read yet). */
  private offset: number;
  private applied: number;

  constructor(private readonly dataDir: string, position: TailPosition) {
    this.segment = position.segment;
    this.offset = position.offset;
    this.applied = position.lastSeq;
  }

  get lastSeq(): number {
    return this.applied;
  }

  /** Reads and applies (through `apply`, synchronously per chunk) every complete change on disk. */
  async read(apply: (record: LogRecord) => void): Promise<TailOutcome> {
    const { segments } = await listDataDir(this.dataDir);
    for (;;) {
      if (this.segment === null) {
        const found = this.findSegment(segments);
        if (found !== null) return found;
        if (this.segment === null) return { kind: 'current' };
      }
      const step = await this.readSegment(apply);
      if (step.kind === 'behind' || step.kind === 'blocked') return step;
      const current = this.segment!;
      const next = segments.find((segment) => segment.firstSeq > current.firstSeq);
      if (next === undefined) return { kind: 'current' };
      const name = path.basename(current.path);
      if (step.kind === 'unfinished') {
        return { kind: 'blocked', detail: `${name} ends in an unreadable or unfinished change after seq ${this.applied} although ${path.basename(next.path)} follows it` };
      }
      if (next.firstSeq !== this.applied + 1) {
        return { kind: 'behind', reason: `${name} ends at seq ${this.applied} but the next segment starts at seq ${next.firstSeq}` };
      }
      await this.close();
      this.segment = next;
      this.offset = 0;
    }
  }

  async close(): Promise<void> {
    const handle = this.handle;
    this.handle = null;
    await handle?.close().catch(() => undefined);
  }

  /** Picks the segment holding lastSeq + 1; an outcome when there is none but the log goes on. */
  private findSegment(segments: readonly SegmentFile[]): TailOutcome | null {
    const wanted = this.applied + 1;
    let holder: SegmentFile | undefined;
    for (const segment of segments) if (segment.firstSeq <= wanted) holder = segment;
    if (holder !== undefined) {
      this.segment = holder;
      this.offset = 0;
      return null;
    }
    const later = segments[0];
    if (later === undefined) return null;
    return { kind: 'behind', reason: `the log starts at seq ${later.firstSeq} but this follower has applied only up to seq ${this.applied}` };
  }

  /**
   * Reads the current segment from the last applied change to its end, chunk by chunk. Records go
   * through a CommitAssembler, so a change written as several records is applied whole or not yet.
   */
  private async readSegment(apply: (record: LogRecord) => void): Promise<SegmentStep> {
    const segment = this.segment!;
    if (this.handle === null) {
      try {
        this.handle = await fs.promises.open(segment.path, 'r');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        return { kind: 'behind', reason: `${path.basename(segment.path)} was removed before this follower read it` };
      }
    }
    const assembler = new CommitAssembler();
    const applyChange = (record: LogRecord): void => {
      apply(record);
      this.applied = record.seq;
    };
    let position = this.offset;
    let expectedSeq = position === 0 ? segment.firstSeq : this.applied + 1;
    for (;;) {
      const { size } = await this.handle.stat();
      if (size < this.offset) {
        return { kind: 'behind', reason: `${path.basename(segment.path)} shrank to ${size} bytes, below the ${this.offset} already applied` };
      }
      const length = Math.min(size - position, FOLLOWER_READ_BYTES_MAX);
      const bytes = Buffer.allocUnsafe(length);
      const { bytesRead } = await this.handle.read(bytes, 0, length, position);
      const chunk = bytes.subarray(0, bytesRead);
      const chunkStart = position;
      const onRecord = (record: LogRecord, offset: number): void => {
        if (record.seq > this.applied) assembler.accept(record, chunkStart + offset, applyChange);
      };
      const scan = position === 0 ? scanSegment(chunk, expectedSeq, onRecord) : scanRecords(chunk, 0, expectedSeq, onRecord);
      position += scan.endOffset;
      expectedSeq = scan.lastSeq + 1;
      this.offset = assembler.heldRecords > 0 ? assembler.heldStartOffset : position;
      const step = this.judge(chunk, chunkStart, scan, size);
      if (step !== null) return step.kind === 'end' && assembler.heldRecords > 0 ? { kind: 'unfinished' } : step;
    }
  }

  /** What the stop of one chunk's scan means; null: read on (the file holds more than the chunk). */
  private judge(chunk: Buffer, chunkStart: number, scan: SegmentScan, size: number): SegmentStep | null {
    const { kind, offset, detail } = scan.stop;
    const name = path.basename(this.segment!.path);
    const fileHoldsMore = chunkStart + chunk.length < size;
    if (kind === 'end') return fileHoldsMore ? null : { kind: 'end' };
    if (kind === 'incomplete') return fileHoldsMore && scan.records > 0 ? null : { kind: 'unfinished' };
    if (kind === 'sequence') {
      return { kind: 'behind', reason: `${name} holds ${detail} at offset ${chunkStart + offset}: the log was rewritten under this follower` };
    }
    if ((kind === 'checksum' || kind === 'length') && judgeStop(chunk, scan, true) === 'torn') return { kind: 'unfinished' };
    return { kind: 'blocked', detail: `${name} is unreadable at offset ${chunkStart + offset}: ${detail}` };
  }
}
