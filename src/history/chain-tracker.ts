// The hash chain of one data directory, kept up to date on demand: the state at some seq and where
// in the files it is, walked forward when a later head is asked for (a snapshot, GET
// /v1/history/head, `idnc history head`). One walk at a time; a request for an earlier seq, or a
// walk that finds its records compacted away, takes the chain up again from the snapshots.

import { DataCorruptError } from '../errors.js';
import { headOf, type ChainHead, type ChainState } from './chain.js';
import { walkChain, type WalkPosition } from './chain-walk.js';
import { chainStart } from './snapshot-chain.js';

export class ChainTracker {
  private state: ChainState | null = null;
  private position: WalkPosition | null = null;
  private walking: Promise<unknown> = Promise.resolve();

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

  private async walkTo(seq: number): Promise<ChainState> {
    for (let attempt = 0; ; attempt++) {
      if (this.state === null || this.state.seq > seq || attempt > 0) {
        this.state = await chainStart(this.dataDir, seq);
        this.position = null;
      }
      const walked = await walkChain(this.dataDir, this.state, { upToSeq: seq, position: this.position });
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
