// One change can span several log records (a bulk import of 100M numbers is about a hundred of
// them): every record of such a change but the last carries `more: true`. A change must be applied
// all at once or not at all, so readers of the log (recovery, a live follower) pass records through
// this assembler, which holds a change's records until its last one is read. Records still held when
// the log ends belong to a change whose write was interrupted: recovery cuts them like a torn tail.

import type { LogRecord } from './record.js';

export class CommitAssembler {
  private held: LogRecord[] = [];
  private heldOffset = -1;

  /** Feeds the next record of the log (read at file `offset`); applies whole changes through `apply`. */
  accept(record: LogRecord, offset: number, apply: (record: LogRecord) => void): void {
    if (record.more === true) {
      if (this.held.length === 0) this.heldOffset = offset;
      this.held.push(record);
      return;
    }
    for (const held of this.held) apply(held);
    this.held = [];
    this.heldOffset = -1;
    apply(record);
  }

  /** Records of an unfinished change, held back. */
  get heldRecords(): number {
    return this.held.length;
  }

  /** Seq of the first held record (the unfinished change starts there); undefined when none. */
  get heldFirstSeq(): number | undefined {
    return this.held[0]?.seq;
  }

  /** File offset of the first held record; -1 when none. */
  get heldStartOffset(): number {
    return this.heldOffset;
  }
}
