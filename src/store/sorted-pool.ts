// Where the lists of one store in the sorted layout (number-set.ts) keep their numbers: slots in
// chunks shared by many lists, one set of chunks per size class.
//
// Why: a typed array per list is an ArrayBuffer per list, each with a backing store and a tracking
// record outside the heap. A million of them cost about 300 bytes each beyond their numbers, and
// every full collection walks them all: building a million small lists took minutes, most of it
// in the garbage collector. In shared chunks a list costs its slot and the fields that address it.
//
// A slot's capacity is its size class (steps of about 1.5x, so at most a third of a slot is
// room). A freed slot is reused by the next list of its class. A snapshot reads slots while
// writes go on: it pins the pool (`pin`), and slots freed meanwhile are held back until the last
// pin goes; a list whose slot a snapshot holds moves to a new slot before it changes (see
// NumberSet.shareSorted).
//
// A snapshot load (loaded-lists.ts) reads its lists' numbers into chunks of its own, one list after
// another with no room between them: such a slot holds exactly its list. Freed, it serves the largest
// size class it holds (at most a third of it unused, as in any slot).

import { AssertionError } from '../assert.js';
import { SORTED_LIST_NUMBERS_MAX } from '../constants.js';

/** Slot capacities, ascending; the last is SORTED_LIST_NUMBERS_MAX. */
const SLOT_CAPACITIES: readonly number[] = slotCapacities();
/** Numbers per chunk (128 KiB): a store with few lists allocates little, a million lists a few thousand chunks. */
const CHUNK_NUMBERS = 16_384;

function slotCapacities(): number[] {
  const capacities = [1, 2, 3];
  while (capacities[capacities.length - 1]! < SORTED_LIST_NUMBERS_MAX) {
    const last = capacities[capacities.length - 1]!;
    capacities.push(Math.min(SORTED_LIST_NUMBERS_MAX, last + Math.ceil(last / 2)));
  }
  return capacities;
}

/** A slot: `capacity` numbers of `chunk` from `start`. */
export interface SortedSlot {
  readonly chunk: Float64Array;
  readonly start: number;
  readonly capacity: number;
}

interface SizeClass {
  readonly capacity: number;
  /** The chunk new slots are cut from, and where its next slot starts. */
  chunk: Float64Array;
  next: number;
  /** Freed slots (chunk and start), reused last-in first-out. */
  readonly freeChunks: Float64Array[];
  readonly freeStarts: number[];
}

const NO_CHUNK = new Float64Array(0);

export class SortedPool {
  private readonly classes: SizeClass[] = SLOT_CAPACITIES.map((capacity) => ({ capacity, chunk: NO_CHUNK, next: 0, freeChunks: [], freeStarts: [] }));
  private pins = 0;
  /** Slots freed while pinned: free once the last pin goes. */
  private heldBack: SortedSlot[] = [];

  /** The capacity of the slot that holds `count` numbers (at most SORTED_LIST_NUMBERS_MAX). */
  static capacityFor(count: number): number {
    return SLOT_CAPACITIES[classIndex(count)]!;
  }

  /** A slot for at least `count` numbers; its contents are whatever a previous list left. */
  allocate(count: number): SortedSlot {
    const sizeClass = this.classes[classIndex(count)]!;
    const { capacity } = sizeClass;
    const freeChunk = sizeClass.freeChunks.pop();
    if (freeChunk !== undefined) return { chunk: freeChunk, start: sizeClass.freeStarts.pop()!, capacity };
    if (sizeClass.next + capacity > sizeClass.chunk.length) {
      sizeClass.chunk = new Float64Array(Math.max(CHUNK_NUMBERS, capacity));
      sizeClass.next = 0;
    }
    const start = sizeClass.next;
    sizeClass.next += capacity;
    return { chunk: sizeClass.chunk, start, capacity };
  }

  /** Gives a slot back; it must not be read or written afterwards (unless pinned: see the header). */
  free(slot: SortedSlot): void {
    if (this.pins > 0) {
      this.heldBack.push(slot);
      return;
    }
    const sizeClass = this.classes[classHeld(slot.capacity)]!;
    sizeClass.freeChunks.push(slot.chunk);
    sizeClass.freeStarts.push(slot.start);
  }

  /** Keeps every slot freed from now on unused until the returned function is called (once; later calls do nothing). */
  pin(): () => void {
    this.pins++;
    let pinned = true;
    return () => {
      if (!pinned) return;
      pinned = false;
      if (--this.pins > 0) return;
      const held = this.heldBack;
      this.heldBack = [];
      for (const slot of held) this.free(slot);
    };
  }
}

/** Index of the largest size class a slot of `capacity` numbers (at least 1) can serve. */
function classHeld(capacity: number): number {
  if (!(capacity >= 1)) throw new AssertionError(`a slot of ${capacity} numbers serves no size class`);
  const index = classIndex(Math.min(capacity, SORTED_LIST_NUMBERS_MAX));
  return SLOT_CAPACITIES[index]! > capacity ? index - 1 : index;
}

/** Index of the smallest size class holding `count` numbers (binary search over the capacities). */
function classIndex(count: number): number {
  let low = 0;
  let high = SLOT_CAPACITIES.length - 1;
  if (count > SLOT_CAPACITIES[high]!) throw new AssertionError(`${count} numbers exceed the largest slot`);
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (SLOT_CAPACITIES[middle]! < count) low = middle + 1;
    else high = middle;
  }
  return low;
}
