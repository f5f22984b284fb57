// Walking the hash chain forward through a data directory's segment files: each record's bytes
// are read back, checked (length, CRC-32, seq) and pushed into the chain state. Read-only and
// lock-free, like `idnc verify`: the writer, a follower, and the CLI beside a running server all
// walk the same files. A record that cannot be read stops the walk and is named (file, offset, seq).
// A walk gives the event loop a turn every few records: the writer's group commits go on beside it.

import { unpack } from 'msgpackr';
import { HISTORY_CHAIN_WALK_RECORDS_PER_TURN, LOG_RECORD_BODY_BYTES_MAX, LOG_RECORD_HEADER_BYTES, LOG_SEGMENT_HEADER_BYTES } from '../constants.js';
import { listDataDir, type SegmentFile } from '../persist/data-dir.js';
import { frameChecksumMatches } from '../persist/record.js';
import { readFileRange } from '../persist/segment-read.js';
import { pushRecord, type ChainState } from './chain.js';
import { spanLabel, type SegmentSpan } from './segment-records.js';

/** Bytes of a segment read at once by a walk: about 2,500 single-add records. */
const WALK_READ_CHUNK_BYTES = 256 * 1024;
/** Resolves after the event loop's next turn, once pending I/O callbacks have run. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Where a walk left off in the files, so that the next one does not read them again. */
export interface WalkPosition {
  readonly segment: SegmentFile;
  /** Offset just after the record at `seq`. */
  readonly offset: number;
  readonly seq: number;
}

/** Why a walk stopped before the seq it was asked for. */
export interface WalkStop {
  readonly file: string;
  readonly offset: number;
  /** The seq the walk expected there. */
  readonly seq: number;
  readonly detail: string;
}

export interface WalkResult {
  readonly state: ChainState;
  readonly position: WalkPosition | null;
  /** null when the walk reached `upToSeq`, or the end of the log when no bound was given. */
  readonly stop: WalkStop | null;
}

export interface WalkOptions {
  /** Stop after this seq (default: the end of the log). */
  readonly upToSeq?: number;
  /** Where the last walk left off, if it ended at `state.seq`. */
  readonly position?: WalkPosition | null;
  /** Called after every record with the state it leads to, `at` not read (verify compares checkpoints). */
  readonly onState?: (state: ChainState) => void;
  /** The segments to walk (default: listed from `dataDir`). */
  readonly segments?: readonly SegmentSpan[];
  /** Called with the state just before a segment's first record, when the walk reads it from its start. */
  readonly onSegmentStart?: (segment: SegmentFile, state: ChainState) => void;
}

/** The ts of a record, read from its body (the hash needs only the bytes; a head needs its time). */
function tsOf(frame: Uint8Array): number | null {
  try {
    const ts = (unpack(frame.subarray(LOG_RECORD_HEADER_BYTES)) as { ts?: unknown }).ts;
    return typeof ts === 'number' ? ts : null;
  } catch {
    return null;
  }
}

export async function walkChain(dataDir: string, start: ChainState, options: WalkOptions = {}): Promise<WalkResult> {
  const upTo = options.upToSeq ?? Number.POSITIVE_INFINITY;
  let state = start;
  let position = options.position !== undefined && options.position?.seq === start.seq ? options.position : null;
  if (state.seq >= upTo) return { state, position, stop: null };
  const segments = options.segments ?? (await listDataDir(dataDir)).segments;
  let index = segments.findLastIndex((segment) => segment.firstSeq <= state.seq + 1);
  if (index === -1) {
    const first = segments[0];
    if (first === undefined) return { state, position, stop: null };
    return { state, position, stop: { file: spanLabel(first), offset: 0, seq: state.seq + 1, detail: `the log starts at seq ${first.firstSeq}: the records after seq ${state.seq} are no longer kept` } };
  }
  for (; index < segments.length && state.seq < upTo; index++) {
    const segment = segments[index]!;
    if (segment.firstSeq > state.seq + 1) {
      return { state, position, stop: { file: spanLabel(segment), offset: 0, seq: state.seq + 1, detail: `sequence gap: this segment starts at seq ${segment.firstSeq}` } };
    }
    const from = position !== null && position.segment.path === segment.path && position.segment.firstSeq === segment.firstSeq ? position.offset : LOG_SEGMENT_HEADER_BYTES;
    if (from === LOG_SEGMENT_HEADER_BYTES && state.seq === segment.firstSeq - 1) options.onSegmentStart?.(segment, state);
    const walked = await walkSegment(segment, from, state, upTo, options.onState);
    state = walked.state;
    if (walked.offset !== null) position = { segment, offset: walked.offset, seq: state.seq };
    if (walked.stop !== null) return { state, position, stop: walked.stop };
  }
  return { state, position, stop: null };
}

interface SegmentWalk {
  readonly state: ChainState;
  readonly offset: number | null;
  readonly stop: WalkStop | null;
}

/** Pushes the records of one segment from `from` (a record boundary), skipping those at or below state.seq. */
async function walkSegment(segment: SegmentSpan, from: number, start: ChainState, upTo: number, onState?: (state: ChainState) => void): Promise<SegmentWalk> {
  const file = spanLabel(segment);
  let state = start;
  let offset = from;
  let seq = from === LOG_SEGMENT_HEADER_BYTES ? segment.firstSeq : start.seq + 1;
  let lastFrame: Uint8Array | null = null;
  let pending: Buffer = Buffer.alloc(0);
  let untilTurn = HISTORY_CHAIN_WALK_RECORDS_PER_TURN;
  const finish = (stop: WalkStop | null): SegmentWalk => {
    if (lastFrame !== null) state = { ...state, at: tsOf(lastFrame) };
    return { state, offset: lastFrame === null ? null : offset, stop };
  };
  const base = segment.offset ?? 0;
  const end = segment.bytes === undefined ? Number.MAX_SAFE_INTEGER : base + segment.bytes;
  for await (const chunk of readFileRange(segment.path, base + from, end, WALK_READ_CHUNK_BYTES)) {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    let at = 0;
    while (pending.length - at >= LOG_RECORD_HEADER_BYTES && seq <= upTo) {
      const length = pending.readUInt32LE(at);
      if (length > LOG_RECORD_BODY_BYTES_MAX) return finish({ file, offset, seq, detail: `record length ${length} exceeds ${LOG_RECORD_BODY_BYTES_MAX}` });
      if (pending.length - at < LOG_RECORD_HEADER_BYTES + length) break;
      const frame = pending.subarray(at, at + LOG_RECORD_HEADER_BYTES + length);
      if (!frameChecksumMatches(frame)) return finish({ file, offset, seq, detail: 'record fails its CRC-32 checksum' });
      const frameSeq = frame.readUInt32LE(8) + frame.readUInt32LE(12) * 2 ** 32;
      if (frameSeq !== seq) return finish({ file, offset, seq, detail: `record has seq ${frameSeq}, expected ${seq}` });
      if (seq > state.seq) {
        state = pushRecord(state, frame, null, seq === segment.firstSeq);
        lastFrame = frame;
        onState?.(state);
      }
      at += frame.length;
      offset += frame.length;
      seq++;
      if (--untilTurn === 0) {
        untilTurn = HISTORY_CHAIN_WALK_RECORDS_PER_TURN;
        await nextTurn();
      }
    }
    if (seq > upTo) return finish(null);
    pending = pending.subarray(at);
  }
  if (pending.length > 0) return finish({ file, offset, seq, detail: `record incomplete (${pending.length} bytes at the end of the segment)` });
  return finish(null);
}
