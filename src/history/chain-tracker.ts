// The hash chain of one data directory, kept up to date on demand: the state at some seq and where
// in the files it is, walked forward when a later head is asked for (a snapshot, GET
// /v1/history/head, `idnc history head`). One walk at a time; a request for an earlier seq, or a
// walk that finds its records compacted away, takes the chain up again from the snapshots.

import { DataCorruptError } from '../errors.js';
import { headOf, type ChainHead, type ChainState } from './chain.js';
import { walkChain, type WalkPosition } from './chain-walk.js';
import { chainStart } from './snapshot-chain.js';

/** Segment start states a tracker keeps until they are taken (a segment is archived within a few snapshots). */
const SEGMENT_STARTS_KEPT = 1024;

export class ChainTracker {
  private state: ChainState | null = null;
  private position: WalkPosition | null = null;
  private walking: Promise<unknown> = Promise.resolve();
  /** The state just before each segment's first record that a walk has read, by the segment's first seq. */
  private readonly segmentStarts = new Map<number, ChainState>();

  constructor(private readonly dataDir: string) {}

  /** The chain state just after the record at `seq`, which must be in the log (durable, acknowledged). */
  stateAt(seq: number): Promise<ChainState> {
    const next = this.walking.catch(() => undefined).then(() => this.walkTo(seq));
    this.walking = next;
    return next;
  }

  async headAt(seq: number): Promise<ChainHead> {
    return headOf(await this.stateAt(seq));
  }

  /**
   * The state just before the segment starting at `firstSeq`, if a walk of this tracker read that
   * segment from its start (an archived segment's summary keeps it, so verify can start there);
   * forgotten once taken.
   */
  takeSegmentStart(firstSeq: number): ChainState | undefined {
    const state = this.segmentStarts.get(firstSeq);
    this.segmentStarts.delete(firstSeq);
    return state;
  }

  private async walkTo(seq: number): Promise<ChainState> {
    for (let attempt = 0; ; attempt++) {
      if (this.state === null || this.state.seq > seq || attempt > 0) {
        this.state = await chainStart(this.dataDir, seq);
        this.position = null;
      }
      const onSegmentStart = (segment: { firstSeq: number }, state: ChainState): void => {
        this.segmentStarts.set(segment.firstSeq, state);
        // Bounded: archiving takes them; a tracker that never archives keeps the latest few.
        if (this.segmentStarts.size > SEGMENT_STARTS_KEPT) this.segmentStarts.delete(this.segmentStarts.keys().next().value!);
      };
      const walked = await walkChain(this.dataDir, this.state, { upToSeq: seq, position: this.position, onSegmentStart });
      this.state = walked.state;
      this.position = walked.position;
      if (walked.stop === null && walked.state.seq === seq) return walked.state;
      // Records compacted away under this walk: the snapshot that covers them holds the state after them.
      if (attempt === 0) continue;
      const why = walked.stop === null ? `the log ends at seq ${walked.state.seq}` : `${walked.stop.file} at offset ${walked.stop.offset} (seq ${walked.stop.seq}): ${walked.stop.detail}`;
      throw new DataCorruptError(`the hash chain cannot be computed up to seq ${seq}: ${why}; run \`idnc verify\``);
    }
  }
}
