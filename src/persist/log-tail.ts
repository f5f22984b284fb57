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
//
// Only acknowledged records are applied: each `read` first reads the writer's durable-seq mark
// (durable-mark.ts), so every record up to its seq is already on disk, applies nothing above it, and
// calls a log that ends below it 'behind' (records the writer acknowledged are gone: reload). A new
// epoch in the mark (a restarted writer, a repair) is continuous with what was applied only if the
// new writer started at or after this tail's seq; then the current segment is found again by name
// (the file this tail holds open may have been moved aside), else 'behind'. Within one epoch, a
// segment whose name now points to another file (device + inode) was replaced under this tail:
// 'behind'. A directory without a mark was last written by a writer older than the mark: records
// are applied as soon as they are complete on disk, as such a writer's followers always did, until a
// mark appears (it is checked again after each chunk is read, so a newer writer that starts on the
// directory meanwhile never has an unacknowledged record applied).
//
// Bytes past the mark that stay there (a batch of a writer that died before acknowledging it, torn
// or whole) are read once: while the mark, the segment, the position and the file's size stay the
// same, nothing there can become appliable, so later polls only stat the file.

import fs from 'node:fs';
import path from 'node:path';
import { FOLLOWER_READ_BYTES_MAX } from '../constants.js';
import { listDataDir, type SegmentFile } from './data-dir.js';
import { readDurableMark, type DurableMark } from './durable-mark.js';
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
 * current  everything the writer had acknowledged when the read began is applied (without a mark:
 *          everything complete on disk; an unfinished record may wait)
 * behind   records after lastSeq are no longer in the log: reload from a snapshot
 * blocked  an unreadable record that a restarted writer would refuse too: wait for `idnc repair`
 */
export type TailOutcome =
  | {
    readonly kind: 'current';
    /**
     * Seq of the first complete record on disk past the mark, if any: written, not (yet) acknowledged.
     * A live writer acknowledges it within an fdatasync; one that stays there means the writer died
     * or hangs with it, and a restarted writer would recover it as acknowledged (the mark is not
     * flushed per batch, so after a power loss it can also be behind records that were acknowledged).
     */
    readonly unacknowledgedSeq: number | null;
  }
  | { readonly kind: 'behind'; readonly reason: string }
  | { readonly kind: 'blocked'; readonly detail: string };

/** Opens a segment for reading (fs.promises.open; tests count the reads through it). */
export type OpenSegmentFile = (path: string, flags: 'r') => Promise<fs.promises.FileHandle>;

/** A read that stopped at the mark with bytes after it: what it saw, so an unchanged tail is not read again. */
interface TailAtMark {
  readonly segment: SegmentFile;
  readonly offset: number;
  readonly size: number;
  readonly cap: number;
  readonly pastMark: number | null;
}

/** end / unfinished: at the segment's end; capped: at the mark; marked: a mark appeared (read again). */
type SegmentStep = { readonly kind: 'end' | 'unfinished' | 'capped' | 'marked' } | Exclude<TailOutcome, { kind: 'current' }>;

export class LogTail {
  private segment: SegmentFile | null;
  private handle: fs.promises.FileHandle | null = null;
  /** File offset just after the last change applied (0: the segment's header is not read yet). */
  private offset: number;
  private applied: number;
  /** The first complete record past the mark seen by the current `read`, or null. */
  private pastMark: number | null = null;
  private tailAtMark: TailAtMark | null = null;

  /** `epoch`: of the durable-seq mark read before `position` was loaded; null when there was none. */
  constructor(
    private readonly dataDir: string,
    position: TailPosition,
    private epoch: string | null,
    private readonly openFile: OpenSegmentFile = (file, flags) => fs.promises.open(file, flags),
  ) {
    this.segment = position.segment;
    this.offset = position.offset;
    this.applied = position.lastSeq;
  }

  get lastSeq(): number {
    return this.applied;
  }

  /** Opens the current segment now, so that it is the file just loaded (see LogFollower.load in engine/follower.ts). */
  async openSegment(): Promise<void> {
    if (this.segment === null || this.handle !== null) return;
    this.handle = await this.openFile(this.segment.path, 'r').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return null;
      throw error;
    });
  }

  /** Reads and applies (through `apply`, synchronously per chunk) every acknowledged change on disk. */
  async read(apply: (record: LogRecord) => void): Promise<TailOutcome> {
    this.pastMark = null;
    const read = await readDurableMark(this.dataDir);
    if (read.kind === 'unreadable') return { kind: 'blocked', detail: `${read.detail}; nothing more is applied until the writer rewrites it` };
    if (read.kind === 'missing' && this.epoch !== null) return { kind: 'behind', reason: 'the durable-seq mark of the data directory is gone' };
    const mark = read.kind === 'ok' ? read.mark : null;
    const moved = await this.checkSameLog(mark);
    if (moved !== null) return { kind: 'behind', reason: moved };
    const cap = mark?.seq ?? Number.POSITIVE_INFINITY;
    const atMarkAndEnd = this.applied >= cap && !(await this.holdsUnreadBytes(cap));
    if (atMarkAndEnd && this.segment === null) return this.current();
    const { segments } = await listDataDir(this.dataDir);
    // At the mark and at the end of its segment: current, unless a newer segment holds records.
    if (atMarkAndEnd && !segments.some((segment) => segment.firstSeq > this.segment!.firstSeq)) return this.current();
    for (;;) {
      if (this.applied >= cap && this.segment === null) return this.current();
      if (this.segment === null) {
        const found = this.findSegment(segments);
        if (found !== null) return found;
        if (this.segment === null) return this.endOfLog(cap);
      }
      const step = await this.readSegment(apply, cap, mark === null);
      if (step.kind === 'behind' || step.kind === 'blocked') return step;
      if (step.kind === 'marked') return this.read(apply);
      if (step.kind === 'capped') return this.current();
      const current = this.segment!;
      const next = segments.find((segment) => segment.firstSeq > current.firstSeq);
      if (next === undefined) return this.endOfLog(cap);
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

  private current(): TailOutcome {
    return { kind: 'current', unacknowledgedSeq: this.pastMark };
  }

  /**
   * Whether the open segment has bytes after what was applied that were not read already at this
   * mark (cheap: one fstat); bytes read already leave their record past the mark as they found it.
   */
  private async holdsUnreadBytes(cap: number): Promise<boolean> {
    if (this.handle === null) return false;
    const { size } = await this.handle.stat();
    const seen = this.tailAtMark;
    if (seen !== null && seen.segment === this.segment && seen.offset === this.offset && seen.size === size && seen.cap === cap) {
      this.pastMark = seen.pastMark;
      return false;
    }
    return size > this.offset;
  }

  /** At the end of the log: current, unless the mark says acknowledged records are missing. */
  private endOfLog(cap: number): TailOutcome {
    if (this.applied >= cap) return this.current();
    return { kind: 'behind', reason: `the writer acknowledged up to seq ${cap} but the log holds only up to seq ${this.applied}` };
  }

  /**
   * Whether the log this tail reads is still the one it applied: the reason it is not, or null. On
   * a new epoch that continues it, the current segment is let go, to be found again by seq.
   */
  private async checkSameLog(mark: DurableMark | null): Promise<string | null> {
    if (mark === null || mark.epoch === this.epoch) return this.segmentChanged();
    if (mark.baseSeq < this.applied) {
      return `the writer restarted from seq ${mark.baseSeq} (after a repair or a lost tail), below seq ${this.applied} applied here`;
    }
    // The newest writer's base says nothing of epochs this follower never saw (a repair, then a
    // writer that reused the repaired-away seqs, then another): what was applied here is still the
    // log's only if the file it came from is still there under its name, the same file, not shorter.
    const moved = await this.heldFileMoved();
    if (moved !== null) return `a new writer started (epoch ${mark.epoch}) and ${moved}: reloading to stay with the log`;
    await this.close();
    if (this.segment !== null) [this.segment, this.offset] = [null, 0];
    this.epoch = mark.epoch;
    return null;
  }

  /** Why the file this tail applied records from is no longer the log's (gone, replaced, cut), or null. */
  private async heldFileMoved(): Promise<string | null> {
    if (this.handle === null) return null;
    const name = path.basename(this.segment!.path);
    const opened = await this.handle.stat({ bigint: true });
    const named = await fs.promises.stat(this.segment!.path, { bigint: true }).catch(() => null);
    if (named === null) return `${name} is no longer in the directory`;
    if (named.ino !== opened.ino || named.dev !== opened.dev) return `${name} was replaced by another file`;
    if (named.size < BigInt(this.offset)) return `${name} was cut below the ${this.offset} bytes applied`;
    return null;
  }

  /**
   * Why the segment open here no longer holds what was applied from it, or null: its name points to
   * another file now (device + inode), or the file was cut below what was applied.
   */
  private async segmentChanged(): Promise<string | null> {
    if (this.handle === null) return null;
    const name = path.basename(this.segment!.path);
    const opened = await this.handle.stat({ bigint: true });
    if (opened.size < BigInt(this.offset)) return `${name} shrank to ${opened.size} bytes, below the ${this.offset} already applied`;
    const named = await fs.promises.stat(this.segment!.path, { bigint: true }).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return null;
      throw error;
    });
    // Gone is normal: the writer removes segments a snapshot covers; the open file still reads.
    if (named === null || (named.ino === opened.ino && named.dev === opened.dev)) return null;
    return `${name} was replaced by another file while this follower read it`;
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
  private async readSegment(apply: (record: LogRecord) => void, cap: number, unmarked: boolean): Promise<SegmentStep> {
    const segment = this.segment!;
    if (this.handle === null) {
      try {
        this.handle = await this.openFile(segment.path, 'r');
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
      // A writer that made the mark after these bytes were read wrote none of them.
      if (unmarked && (await readDurableMark(this.dataDir)).kind !== 'missing') return { kind: 'marked' };
      const chunk = bytes.subarray(0, bytesRead);
      const chunkStart = position;
      let aboveCap = -1;
      const onRecord = (record: LogRecord, offset: number): void => {
        if (record.seq > cap) {
          if (aboveCap === -1) [aboveCap, this.pastMark] = [chunkStart + offset, record.seq];
        }
        else if (record.seq > this.applied) assembler.accept(record, chunkStart + offset, applyChange);
      };
      const decodeFrom = this.applied + 1;
      const scan = position === 0 ? scanSegment(chunk, expectedSeq, onRecord, decodeFrom) : scanRecords(chunk, 0, expectedSeq, onRecord, decodeFrom);
      position = aboveCap !== -1 ? aboveCap : chunkStart + scan.endOffset;
      expectedSeq = scan.lastSeq + 1;
      this.offset = assembler.heldRecords > 0 ? assembler.heldStartOffset : position;
      // Past the mark the writer is still writing: nothing there is applied or judged yet. At the
      // mark with the whole file read, the next segment may hold records past it: read on.
      const wholeFileRead = scan.stop.kind === 'end' && chunkStart + chunk.length >= size;
      if (scan.lastSeq >= cap && (aboveCap !== -1 || !wholeFileRead)) {
        if (this.applied < cap) return { kind: 'unfinished' };
        this.tailAtMark = { segment, offset: this.offset, size, cap, pastMark: this.pastMark };
        return { kind: 'capped' };
      }
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
