// The simulator's model of what the data directory must hold: every change the run made, its
// outcome as the client saw it, and the seq each one has or would have in the log.
//
// The log writer gives seqs in the order changes reach it (dnc.add calls commitChange at once), and
// once a batch is refused nothing after it is written in that process: so in one process life the
// changes that are not refused take seqs base+1, base+2, ... in the order they were made. That
// makes the expected state at ANY seq computable, including seqs of changes whose outcome is
// unknown (in flight at a crash): a start that recovers seq L, a follower at seq F and the writer
// itself must each hold exactly the state of the first L (F) changes of that sequence. A change the
// client was told failed has no seq; if its records come back anyway the state stops matching, and
// `explain` names it.
//
// Numbers come from a fixed pool of NUMBERS_PER_LIST per list, so a state is one bit mask per list:
// the state at every seq is kept, and comparing a state is comparing a few integers. The engine's
// side of a comparison is read through its public lookups (run-seed.ts); `referenceDigest` gives
// the same SHA-256 as src/persist/state-digest.ts, computed here from the masks, for the checks
// that compare whole stores.

import { createHash } from 'node:crypto';

export type Outcome = 'pending' | 'acknowledged' | 'rejected' | 'unknown';

export interface ListKey {
  readonly org: string;
  /** '' for the organisation's master list. */
  readonly projId: string;
}

export interface Change {
  readonly id: number;
  readonly op: 'add' | 'remove';
  /** Index into the history's lists. */
  readonly list: number;
  /** Bit i: the i-th number of the pool. */
  readonly mask: number;
  /** Position among the changes of its process life. */
  readonly lifeIndex: number;
  outcome: Outcome;
  /** How it ended, for traces (an error code, or the seq). */
  detail: string;
}

/** Numbers per list: a state of one list fits in the 32 bits of a bit operation. */
export const NUMBERS_PER_LIST = 24;
/** Process lives whose refused changes `explain` looks for in a state that does not match. */
const PAST_LIVES_KEPT = 4;
const AREA_REST_MODULUS = 10_000_000;

export function popcount(mask: number): number {
  let bits = 0;
  for (let rest = mask >>> 0; rest !== 0; rest &= rest - 1) bits++;
  return bits;
}

export class History {
  /** The changes at seq 1, 2, ... as established by the last successful start. */
  private settled: Change[] = [];
  /** Changes of the current process life, in the order they were made. */
  private life: Change[] = [];
  /** Positions in `life` of the refused ones, ascending. */
  private lifeRefused: number[] = [];
  /** `sequence()`, kept while nothing but new changes happen. */
  private sequenceCache: Change[] | null = null;
  /** The last few process lives (the seq each started at, every change it made), for `explain`. */
  private pastLives: { base: number; changes: Change[] }[] = [];
  private nextId = 1;
  /** The highest seq ever acknowledged: no start may recover less (bit flips aside, then repair). */
  acknowledgedSeq = 0;
  /** masks[seq * lists + l]: list l's state at seq, for seq 0 .. `known`. */
  private masks: number[];
  private known = 0;

  constructor(readonly lists: readonly ListKey[], readonly pool: readonly number[]) {
    if (pool.length > NUMBERS_PER_LIST) throw new Error(`the pool holds at most ${NUMBERS_PER_LIST} numbers`);
    this.masks = new Array<number>(lists.length).fill(0);
  }

  /** The changes in seq order: settled ones, then this life's that were not refused. */
  sequence(): readonly Change[] {
    this.sequenceCache ??= [...this.settled, ...this.life.filter((change) => change.outcome !== 'rejected')];
    return this.sequenceCache;
  }

  make(op: 'add' | 'remove', list: number, mask: number): Change {
    const change: Change = { id: this.nextId++, op, list, mask, lifeIndex: this.life.length, outcome: 'pending', detail: '' };
    this.life.push(change);
    this.sequenceCache?.push(change);
    return change;
  }

  numbersOf(change: Change): number[] {
    return this.pool.filter((_, i) => (change.mask & (1 << i)) !== 0);
  }

  /** The seq the model gives `change` (null when it was refused). */
  private expectedSeq(change: Change): number | null {
    if (change.outcome === 'rejected' || this.life[change.lifeIndex] !== change) return null;
    const refusedBefore = this.lifeRefused.filter((index) => index < change.lifeIndex).length;
    return this.settled.length + change.lifeIndex - refusedBefore + 1;
  }

  /** Records an acknowledgement; returns a problem when its seq is not the one the model gives it. */
  acknowledged(change: Change, seq: number): string | null {
    const expected = this.expectedSeq(change);
    change.outcome = 'acknowledged';
    change.detail = `seq ${seq}`;
    this.acknowledgedSeq = Math.max(this.acknowledgedSeq, seq);
    if (expected === seq) return null;
    return `change #${change.id} was acknowledged with seq ${seq}, but ${expected === null ? 'it has no place in the log' : `its place in the log is seq ${expected}`}`;
  }

  rejected(change: Change, code: string): void {
    const position = this.expectedSeq(change);
    change.outcome = 'rejected';
    change.detail = code;
    if (position === null) return;
    this.known = Math.min(this.known, position - 1);
    this.lifeRefused.push(change.lifeIndex);
    this.lifeRefused.sort((a, b) => a - b);
    this.sequenceCache = null;
  }

  unknown(change: Change, detail: string): void {
    change.outcome = 'unknown';
    change.detail = detail;
  }

  /** The process died: whatever it had not answered is of unknown outcome. */
  lifeEnded(): Change[] {
    const open = this.pending();
    for (const change of open) this.unknown(change, 'in flight at the crash');
    return open;
  }

  pending(): Change[] {
    return this.life.filter((change) => change.outcome === 'pending');
  }

  /** A start recovered seq `lastSeq` (checked by the caller): the first lastSeq changes are now the history. */
  started(lastSeq: number): void {
    const sequence = this.sequence();
    if (lastSeq > sequence.length) throw new Error(`model: start at seq ${lastSeq} beyond the ${sequence.length} changes known`);
    this.pastLives.unshift({ base: this.settled.length, changes: this.life });
    if (this.pastLives.length > PAST_LIVES_KEPT) this.pastLives.pop();
    this.settled = sequence.slice(0, lastSeq);
    this.life = [];
    this.lifeRefused = [];
    this.sequenceCache = null;
    this.known = Math.min(this.known, lastSeq);
  }

  /** The model's masks at `seq` (one per list), or null when no sequence of the changes made reaches it. */
  masksAt(seq: number): number[] | null {
    const width = this.lists.length;
    if (seq > this.known) {
      const sequence = this.sequence();
      if (seq > sequence.length) return null;
      this.masks.length = (this.known + 1) * width;
      for (let at = this.known + 1; at <= seq; at++) {
        const change = sequence[at - 1]!;
        for (let l = 0; l < width; l++) this.masks.push(this.masks[(at - 1) * width + l]!);
        const slot = at * width + change.list;
        this.masks[slot] = change.op === 'add' ? this.masks[slot]! | change.mask : this.masks[slot]! & ~change.mask;
      }
      this.known = seq;
    }
    return this.masks.slice(seq * width, (seq + 1) * width);
  }

  /**
   * Why a state with `masks` at `seq` is not the model's: which refused changes of this or a recent
   * process life it holds, if taking them back in explains it; else null.
   */
  explain(seq: number, masks: readonly number[]): string | null {
    const lives = [{ base: this.settled.length, changes: this.life }, ...this.pastLives];
    for (const { base, changes } of lives) {
      if (base > this.settled.length || seq > base + changes.length) continue;
      const everything = [...this.settled.slice(0, base), ...changes];
      const state = new Array<number>(this.lists.length).fill(0);
      for (const change of everything.slice(0, seq)) state[change.list] = change.op === 'add' ? state[change.list]! | change.mask : state[change.list]! & ~change.mask;
      if (state.some((mask, l) => mask !== masks[l])) continue;
      const back = everything.slice(0, seq).filter((change) => change.outcome === 'rejected');
      if (back.length > 0) return `it holds refused change${back.length > 1 ? 's' : ''} ${back.map((change) => `#${change.id} (${change.detail})`).join(', ')}`;
    }
    return null;
  }

  /** SHA-256 of the state `masks` in the engine's digest format: lists by organisation then project, areas ascending. */
  referenceDigest(masks: readonly number[]): string {
    const hash = createHash('sha256');
    const order = this.lists.map((list, l) => ({ list, l })).sort((a, b) => (a.list.org !== b.list.org ? (a.list.org < b.list.org ? -1 : 1) : a.list.projId < b.list.projId ? -1 : 1));
    for (const { list, l } of order) {
      const numbers = this.pool.filter((_, i) => (masks[l]! & (1 << i)) !== 0).sort((a, b) => a - b);
      if (numbers.length === 0) continue;
      hash.update(`list\0${list.org}\0${list.projId}\0${numbers.length}\0`);
      for (let i = 0; i < numbers.length;) {
        const area = Math.floor(numbers[i]! / AREA_REST_MODULUS);
        const rests: number[] = [];
        for (; i < numbers.length && Math.floor(numbers[i]! / AREA_REST_MODULUS) === area; i++) rests.push(numbers[i]! % AREA_REST_MODULUS);
        hash.update(`${area}\0`);
        const packed = Uint32Array.from(rests);
        hash.update(new Uint8Array(packed.buffer, packed.byteOffset, packed.byteLength));
      }
    }
    return hash.digest('hex');
  }

  describe(change: Change): string {
    const list = this.lists[change.list]!;
    return `#${change.id} ${change.op} ${popcount(change.mask)} in ${list.org}/${list.projId === '' ? 'master' : list.projId}`;
  }
}
