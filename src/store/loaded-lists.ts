// The project lists of one organisation in the sorted layout as a snapshot load left them, until
// each is first touched. A million small lists were a million NumberSets, strings and Map entries
// built at load, which cost more than reading the file (docs/design.md); here they are a few typed
// arrays over the snapshot's own bytes: the ids as bytes, ascending, and each list's size and place
// in the chunks its numbers were read into. The organisation (dnc-store.ts) takes a list out of
// here into a NumberSet over the same slot when a lookup or a change first names it, and walks these
// beside its other lists, in id order, for pages and snapshots.
//
// Ids are ASCII (list-id.ts), so their bytes compare as the strings do and hash alike. A list is
// found by an open-addressing hash of its id bytes (FNV-1a), filled once at load.

import { assert } from '../assert.js';

/** Where a loaded list's numbers are: `size` numbers of `chunk` from `start`. */
export interface LoadedSlot {
  readonly chunk: Float64Array;
  readonly start: number;
  readonly size: number;
}

/** FNV-1a: a reader computing ids' hashes while it checks their bytes (snapshot-sorted.ts) uses these. */
export const ID_HASH_OFFSET = 0x811c9dc5;
export const ID_HASH_PRIME = 0x01000193;
const FNV_OFFSET = ID_HASH_OFFSET;
const FNV_PRIME = ID_HASH_PRIME;

export class LoadedLists {
  /** Lists not taken yet, and their numbers. */
  private live: number;
  private liveNumbers: number;
  /** 1 for a list taken (it became a NumberSet, or was dropped). */
  private readonly taken: Uint8Array;
  /** Open addressing: index + 1 of the list whose id hashes there, 0 for none. */
  private readonly slots: Int32Array;

  /**
   * `names` holds list i's id at [nameStarts[i], nameStarts[i + 1]), ids strictly ascending; its
   * numbers are sizes[i] numbers of chunks[chunkIndexes[i]] from starts[i]; hashes[i] is the FNV-1a
   * hash of its id's bytes (ID_HASH_OFFSET, ID_HASH_PRIME). The caller checked all of it
   * (snapshot-sorted.ts): ids valid and ascending, sizes positive, numbers in place.
   */
  constructor(
    private readonly names: Buffer,
    private readonly nameStarts: Uint32Array,
    private readonly sizes: Uint32Array,
    private readonly chunkIndexes: Uint32Array,
    private readonly starts: Uint32Array,
    private readonly chunks: readonly Float64Array[],
    hashes: Uint32Array,
  ) {
    const count = sizes.length;
    assert(nameStarts.length === count + 1 && chunkIndexes.length === count && starts.length === count, 'loaded lists: one entry per list');
    this.live = count;
    this.liveNumbers = sizes.reduce((sum, size) => sum + size, 0);
    this.taken = new Uint8Array(count);
    this.slots = hashSlots(hashes, count);
  }

  /** Entries, taken ones included: indexes run from 0 to length - 1. */
  get length(): number {
    return this.sizes.length;
  }

  /** Lists not taken yet. */
  get count(): number {
    return this.live;
  }

  /** Numbers of the lists not taken yet. */
  get numberCount(): number {
    return this.liveNumbers;
  }

  isLive(index: number): boolean {
    return this.taken[index] === 0;
  }

  /** The index of the live list `projId`, or -1. */
  indexOf(projId: string): number {
    const mask = this.slots.length - 1;
    for (let at = hashString(projId) & mask; ; at = (at + 1) & mask) {
      const entry = this.slots[at]!;
      if (entry === 0) return -1;
      if (this.compareName(entry - 1, projId) === 0) return this.taken[entry - 1] === 0 ? entry - 1 : -1;
    }
  }

  nameAt(index: number): string {
    return this.names.toString('latin1', this.nameStarts[index], this.nameStarts[index + 1]);
  }

  /** Copies list `index`'s id bytes into `target` at `at`; returns where they end. A loop: ids are short, and a capture copies a million. */
  copyName(index: number, target: Uint8Array, at: number): number {
    const names = this.names;
    const end = this.nameStarts[index + 1]!;
    for (let k = this.nameStarts[index]!; k < end; k++) target[at++] = names[k]!;
    return at;
  }

  nameBytes(index: number): number {
    return this.nameStarts[index + 1]! - this.nameStarts[index]!;
  }

  sizeAt(index: number): number {
    return this.sizes[index]!;
  }

  chunkAt(index: number): Float64Array {
    return this.chunks[this.chunkIndexes[index]!]!;
  }

  startAt(index: number): number {
    return this.starts[index]!;
  }

  /** Marks list `index` taken (a NumberSet holds it now, or it was dropped); returns its slot. */
  take(index: number): LoadedSlot {
    assert(this.taken[index] === 0, 'loaded lists: a list is taken once');
    this.taken[index] = 1;
    this.live--;
    this.liveNumbers -= this.sizes[index]!;
    return { chunk: this.chunkAt(index), start: this.starts[index]!, size: this.sizes[index]! };
  }

  /** The first index whose id is above `name` (binary search over the ids' bytes). */
  firstAfter(name: string): number {
    let low = 0;
    let high = this.sizes.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.compareName(middle, name) <= 0) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  /** List `index`'s id against `name`: negative, 0 or positive, as `<` orders the strings. */
  compareName(index: number, name: string): number {
    const names = this.names;
    const from = this.nameStarts[index]!;
    const length = this.nameStarts[index + 1]! - from;
    const common = Math.min(length, name.length);
    for (let k = 0; k < common; k++) {
      const difference = names[from + k]! - name.charCodeAt(k);
      if (difference !== 0) return difference;
    }
    return length - name.length;
  }

}

/** The open-addressing table of `count` ids (at most half full): index + 1 of each id where its hash lands. */
function hashSlots(hashes: Uint32Array, count: number): Int32Array {
  const slots = new Int32Array(2 ** Math.ceil(Math.log2(2 * count + 2)));
  const mask = slots.length - 1;
  for (let i = 0; i < count; i++) {
    let at = hashes[i]! & mask;
    while (slots[at] !== 0) at = (at + 1) & mask;
    slots[at] = i + 1;
  }
  return slots;
}

/** The hash of an id, as of its bytes. */
function hashString(name: string): number {
  let hash = FNV_OFFSET;
  for (let k = 0; k < name.length; k++) hash = Math.imul(hash ^ name.charCodeAt(k), FNV_PRIME);
  return hash >>> 0;
}
