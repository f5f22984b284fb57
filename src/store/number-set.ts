// One list of numbers (a master list or a project list), in one of two layouts.
// - Sorted (every list starts so): its numbers ascending in one slot of the store's SortedPool
//   (sorted-pool.ts), up to SORTED_LIST_NUMBERS_MAX. A list then costs about its 8 bytes per
//   number, so a million small project lists fit in one process; lookups are a binary search.
// - Probe table (past SORTED_LIST_NUMBERS_MAX, back to sorted at SORTED_LIST_NUMBERS_RETURN): a
//   direct-indexed table of one AreaSet per area code, each holding the 7-digit rests (exchange +
//   line) in Roaring's portable layout. The area code selects the slot with one array access;
//   inside, Roaring's 16-bit containers split the rest into blocks of 65,536 (about six exchanges).
// Both layouts share `has`: a sorted list reads a probe table shared by every sorted list, whose
// every entry says "search", and its search is the binary search. The national-scale path is then
// the same code, with no branch on the layout before its one likely cache miss.

import { AssertionError } from '../assert.js';
import {
  AREA_CODE_SLOTS, AREA_REST_MODULUS, BATCH_PROBE_CHUNK_NUMBERS, POOL_RESERVE_NUMBERS_MIN, POOL_WORDS_PER_NUMBER_ESTIMATE,
  SORTED_LIST_NUMBERS_MAX, SORTED_LIST_NUMBERS_RETURN,
} from '../constants.js';
import { areaCodeOf, numberFromParts } from '../phone/digits.js';
import { AreaSet } from './area-set.js';
import { RoaringBitmap32 } from './roaring.js';
import { BIT_START_ABSENT, BIT_START_SEARCH, CONTAINER_KEY_SLOTS, CorruptBitmapError, PortableBitmap } from './portable-bitmap.js';
import { SortedPool, type SortedSlot } from './sorted-pool.js';
import { WordPool } from './word-pool.js';

/** Probe-table rows reserved at first; the rows double when an area code needs one more. */
const PROBE_ROWS_INITIAL = 4;
/** The probe table's first entries are the row starts, one per area code; the rows follow them. */
const ROWS_START = AREA_CODE_SLOTS;
/** The first row stays all absent: every area code without numbers points to it. */
const ABSENT_ROW_START = ROWS_START;
// `has`, `hasRest` and `markChunk` read these through module-local names: V8 loads an imported
// binding from its module cell, with a hole check, at every use in optimised code, where a module's
// own const is folded into the code.
const SLOT_ABSENT = BIT_START_ABSENT;
const SLOT_SEARCH = BIT_START_SEARCH;
/**
 * markChunk's scratch: per number of a chunk, its pool word (then the word read), its bit (with a
 * flag for "there is a bit to test"), and the positions of the numbers to search. Shared by every
 * set: markChunk is synchronous, so calls never overlap.
 */
const chunkWordAt = new Int32Array(BATCH_PROBE_CHUNK_NUMBERS);
const chunkBitAt = new Uint8Array(BATCH_PROBE_CHUNK_NUMBERS);
const chunkSearchAt = new Int32Array(BATCH_PROBE_CHUNK_NUMBERS);
const REST_MODULUS = AREA_REST_MODULUS;
/** What a sorted list holds in place of the probe-table layout's parts: shared, never written. */
const NO_AREAS: readonly (AreaSet | undefined)[] = new Array<AreaSet | undefined>(AREA_CODE_SLOTS).fill(undefined);
const NO_POOL = new WordPool();
/** A list without numbers in the sorted layout has no slot: this, with no room (never written). */
const NO_NUMBERS = new Float64Array(0);
/** Every area code points to one row of all BIT_START_SEARCH: every probe of a sorted list searches. */
const SORTED_PROBE_TABLE = newProbeTable(1).fill(BIT_START_SEARCH, ROWS_START);

export class NumberSet {
  private byAreaCode = NO_AREAS as (AreaSet | undefined)[];
  /** Every area's bytes and bitmap copies (one buffer: see word-pool.ts). */
  private pool = NO_POOL;
  /** `pool.words`, read by `has` without going through the pool. */
  private words = this.pool.words;
  /**
   * The probe table. Entry areaCode (below ROWS_START): where that area code's row starts in this
   * same table (ABSENT_ROW_START until the area first holds numbers). Entry rowStart + key: where
   * `has` bit-tests container `key` of that area code in `words`, or BIT_START_ABSENT /
   * BIT_START_SEARCH (AreaSet.fillProbeRow). Refreshed after every change to that area and after
   * the pool compacts. At national scale a lookup is then two reads in this table (cached) and one
   * in the pool: the pool read is the one likely miss, as in a flat bit array (measured:
   * docs/design.md). One typed array for both parts: every typed array a lookup reads costs a field
   * load, its header loads and a bounds check on each call.
   */
  private probeTable = SORTED_PROBE_TABLE;
  private probeRowsUsed = 1;
  private total = 0;
  /**
   * The sorted layout: the chunk of the list's slot in `sortedPool` (the numbers ascending in
   * [sortedStart, sortedStart + size), `sortedRoom` numbers in all); undefined in the probe-table
   * layout. Never changed in place while `sortedShared` (a snapshot holds a view of it).
   */
  private sorted: Float64Array | undefined = NO_NUMBERS;
  private sortedStart = 0;
  private sortedRoom = 0;
  private sortedShared = false;

  /** `sortedPool`: where the list keeps its numbers in the sorted layout (one per store; its own by default). */
  constructor(private readonly sortedPool: SortedPool = new SortedPool()) {}

  get size(): number {
    return this.total;
  }

  /** `number` must be a valid 10-digit number (callers parse first). */
  has(number: number): boolean {
    const areaCode = Math.floor(number / REST_MODULUS);
    return this.hasRest(areaCode, number - areaCode * REST_MODULUS);
  }

  /** `has` for a number already split (Dnc.isBlocked validates and splits in one go). */
  hasRest(areaCode: number, rest: number): boolean {
    const key = rest >>> 16;
    const table = this.probeTable;
    const start = table[table[areaCode]! + key]!;
    if (start >= 0) {
      const low = rest & 0xffff;
      return (this.words[start + (low >>> 4)]! & (1 << (low & 15))) !== 0;
    }
    // `=== true`: the result of a call that is not inlined has no known type, and an untyped result
    // makes every caller's `if (isBlocked(...))` a full truthiness dispatch.
    return start !== SLOT_ABSENT && this.search(areaCode, rest, key) === true;
  }

  /**
   * Sets `bit` in out[i] for every i in [from, to) whose number (a valid 10-digit number) this set
   * holds: the batch probe of src/store/batch-probe.ts, at most BATCH_PROBE_CHUNK_NUMBERS numbers.
   * Three passes, so that the one likely cache miss per number (the pool read) is alone in its
   * loop: first each number's pool word and bit (no pool read), then the pool reads, one load and
   * one store per number, so the CPU keeps many of them in flight; then the bit tests. The first two
   * passes have no branch that depends on the data: a number with no bit to test (area code or
   * container absent, or a container to search) reads word 0 and its bit is masked off. The
   * numbers whose container must be searched are collected and searched last.
   */
  markChunk(numbers: Float64Array, from: number, to: number, out: Uint8Array, bit: number): void {
    if (this.sorted !== undefined) {
      this.markChunkSorted(this.sorted, numbers, from, to, out, bit);
      return;
    }
    const table = this.probeTable;
    const words = this.words;
    const wordAt = chunkWordAt;
    const bitAt = chunkBitAt;
    const searchAt = chunkSearchAt;
    const length = to - from;
    let searches = 0;
    for (let k = 0; k < length; k++) {
      const number = numbers[from + k]!;
      const areaCode = (number / REST_MODULUS) | 0;
      const rest = number - areaCode * REST_MODULUS;
      const start = table[table[areaCode]! + (rest >>> 16)]!;
      if (start === SLOT_SEARCH) searchAt[searches++] = from + k;
      const bitted = (start >>> 31) ^ 1; // 1 when start >= 0: the container has a bitmap to test
      wordAt[k] = (start + ((rest & 0xffff) >>> 4)) & -bitted;
      bitAt[k] = (rest & 15) | (bitted << 4);
    }
    for (let k = 0; k < length; k++) wordAt[k] = words[wordAt[k]!]!;
    for (let k = 0; k < length; k++) {
      const at = bitAt[k]!;
      out[from + k]! |= ((wordAt[k]! >>> (at & 15)) & (at >>> 4)) * bit;
    }
    // A search only reads the pool (a dense array's bitmap copy has its room already), so the
    // pool cannot move during the loop.
    for (let s = 0; s < searches; s++) {
      const i = searchAt[s]!;
      const number = numbers[i]!;
      const areaCode = (number / REST_MODULUS) | 0;
      const rest = number - areaCode * REST_MODULUS;
      if (this.search(areaCode, rest, rest >>> 16)) out[i]! |= bit;
    }
  }

  private markChunkSorted(sorted: Float64Array, numbers: Float64Array, from: number, to: number, out: Uint8Array, bit: number): void {
    const start = this.sortedStart;
    const end = start + this.total;
    for (let i = from; i < to; i++) if (indexOfNumber(sorted, start, end, numbers[i]!) >= 0) out[i]! |= bit;
  }

  /** The cold path of `has`; the probe may fill a container's bitmap copy: its entry is refreshed. */
  private search(areaCode: number, rest: number, key: number): boolean {
    const sorted = this.sorted;
    if (sorted !== undefined) return indexOfNumber(sorted, this.sortedStart, this.sortedStart + this.total, areaCode * REST_MODULUS + rest) >= 0;
    const area = this.byAreaCode[areaCode]!;
    const found = area.has(rest);
    const table = this.probeTable;
    table[table[areaCode]! + key] = area.probeStart(key);
    return found;
  }

  private refreshProbe(areaCode: number): void {
    const area = this.byAreaCode[areaCode];
    let rowStart = this.probeTable[areaCode]!;
    if (area === undefined) {
      if (rowStart !== ABSENT_ROW_START) this.probeTable.fill(BIT_START_ABSENT, rowStart, rowStart + CONTAINER_KEY_SLOTS);
      return;
    }
    if (rowStart === ABSENT_ROW_START) rowStart = this.newProbeRow(areaCode);
    area.fillProbeRow(this.probeTable, rowStart);
  }

  /** Reserves a row for an area code's first numbers (rows are kept when the area empties); returns its start. */
  private newProbeRow(areaCode: number): number {
    const rowStart = ROWS_START + this.probeRowsUsed++ * CONTAINER_KEY_SLOTS;
    if (rowStart + CONTAINER_KEY_SLOTS > this.probeTable.length) {
      // Rows are only appended, so the row starts already handed out stay valid in the copy.
      const grown = newProbeTable(this.probeRowsUsed * 2);
      grown.set(this.probeTable);
      this.probeTable = grown;
    }
    this.probeTable[areaCode] = rowStart;
    return rowStart;
  }

  /** The pool copied its regions into a new buffer: every area's entries point elsewhere now. */
  private poolMoved(): void {
    this.words = this.pool.words;
    for (let areaCode = 0; areaCode < AREA_CODE_SLOTS; areaCode++) {
      if (this.byAreaCode[areaCode] !== undefined) this.refreshProbe(areaCode);
    }
  }

  /** The set of one area code, if it holds any number. */
  area(areaCode: number): AreaSet | undefined {
    return this.byAreaCode[areaCode];
  }

  /** Words of the pool (live regions, capacity) for memory reports. */
  get poolWords(): { live: number; capacity: number } {
    return { live: this.pool.liveWords, capacity: this.pool.capacityWords };
  }

  /** Whether the list is in the sorted layout (tests and memory reports). */
  get isSortedLayout(): boolean {
    return this.sorted !== undefined;
  }

  /** Adds sorted numbers (duplicates allowed); returns how many were not already present. */
  addSorted(sorted: Float64Array): number {
    const current = this.sorted;
    if (current !== undefined) {
      const added = countAbsent(current, this.sortedStart, this.sortedStart + this.total, sorted, SORTED_LIST_NUMBERS_MAX - this.total);
      if (this.total + added <= SORTED_LIST_NUMBERS_MAX) return this.mergeIntoSorted(current, sorted, added);
      this.moveToProbeTable();
    }
    return this.applySorted(sorted, true);
  }

  /** Removes sorted numbers (duplicates allowed); returns how many were present. */
  removeSorted(sorted: Float64Array): number {
    if (this.sorted !== undefined) return this.removeFromSorted(sorted);
    const removed = this.applySorted(sorted, false);
    if (this.total <= SORTED_LIST_NUMBERS_RETURN) this.useSorted();
    return removed;
  }

  private mergeIntoSorted(current: Float64Array, sorted: Float64Array, added: number): number {
    if (added === 0) return 0;
    const count = this.total + added;
    if (this.sortedShared || count > this.sortedRoom) {
      const slot = this.sortedPool.allocate(count);
      slot.chunk.set(current.subarray(this.sortedStart, this.sortedStart + this.total), slot.start);
      this.freeSlot();
      this.useSlot(slot);
    }
    mergeBackwards(this.sorted!, this.sortedStart, this.total, count, sorted);
    this.total = count;
    return added;
  }

  private removeFromSorted(sorted: Float64Array): number {
    const current = this.sorted!;
    const from = this.sortedStart;
    const count = this.total;
    let kept = 0;
    let j = 0;
    // Counted first: a list a snapshot holds moves to a new slot only when something goes.
    for (let i = from; i < from + count; i++) {
      const value = current[i]!;
      while (j < sorted.length && sorted[j]! < value) j++;
      if (j >= sorted.length || sorted[j] !== value) kept++;
    }
    if (kept === count) return 0;
    if (kept === 0) {
      this.freeSlot();
      this.total = 0;
      return count;
    }
    // A list that lost most of its numbers moves to a slot of its size (two size classes down, so
    // that adds and removes around one size do not move it back and forth).
    const shrinks = 2 * SortedPool.capacityFor(kept) <= this.sortedRoom;
    const slot = this.sortedShared || shrinks ? this.sortedPool.allocate(kept) : undefined;
    const target = slot?.chunk ?? current;
    let at = slot?.start ?? from;
    j = 0;
    for (let i = from; i < from + count; i++) {
      const value = current[i]!;
      while (j < sorted.length && sorted[j]! < value) j++;
      if (j >= sorted.length || sorted[j] !== value) target[at++] = value;
    }
    if (slot !== undefined) {
      this.freeSlot();
      this.useSlot(slot);
    }
    this.total = kept;
    return count - kept;
  }

  private useSlot(slot: SortedSlot): void {
    this.sorted = slot.chunk;
    this.sortedStart = slot.start;
    this.sortedRoom = slot.capacity;
    this.sortedShared = false;
  }

  /** Gives the list's slot back to the pool (its numbers were copied elsewhere, or the list goes). */
  private freeSlot(): void {
    if (this.sortedRoom > 0) this.sortedPool.free({ chunk: this.sorted!, start: this.sortedStart, capacity: this.sortedRoom });
    this.sorted = NO_NUMBERS;
    this.sortedStart = 0;
    this.sortedRoom = 0;
    this.sortedShared = false;
  }

  /** Moves a list in the sorted layout, with its numbers, to the probe-table layout. */
  private moveToProbeTable(): void {
    const before = this.sorted!.slice(this.sortedStart, this.sortedStart + this.total);
    this.freeSlot();
    this.useProbeTable(new WordPool());
    this.applySorted(before, true);
  }

  /** Switches an empty list to the probe-table layout over `pool`. */
  private useProbeTable(pool: WordPool): void {
    this.freeSlot();
    this.sorted = undefined;
    this.total = 0;
    this.byAreaCode = new Array<AreaSet | undefined>(AREA_CODE_SLOTS).fill(undefined);
    this.pool = pool;
    this.words = pool.words;
    this.probeTable = newProbeTable(PROBE_ROWS_INITIAL);
    this.probeRowsUsed = 1;
    pool.onMoved(() => this.poolMoved());
  }

  /**
   * Moves a list back to the sorted layout (removes left it small). Its pool is dropped whole: a
   * snapshot that pinned it holds its buffer through its own views.
   */
  private useSorted(): void {
    const slot = this.total === 0 ? undefined : this.sortedPool.allocate(this.total);
    let at = slot?.start ?? 0;
    for (const [areaCode, rests] of this.areaRests()) {
      for (let i = 0; i < rests.length; i++) slot!.chunk[at++] = numberFromParts(areaCode, rests[i]!);
    }
    this.useSortedLayoutParts();
    if (slot !== undefined) this.useSlot(slot);
  }

  /** The parts of an empty list in the sorted layout (a pinned pool keeps its buffer through the snapshot's views). */
  private useSortedLayoutParts(): void {
    this.byAreaCode = NO_AREAS as (AreaSet | undefined)[];
    this.pool = NO_POOL;
    this.words = NO_POOL.words;
    this.probeTable = SORTED_PROBE_TABLE;
    this.probeRowsUsed = 1;
    this.sorted = NO_NUMBERS;
    this.sortedStart = 0;
    this.sortedRoom = 0;
    this.sortedShared = false;
  }

  /**
   * The numbers of a list in the sorted layout, ascending, as a view that stays unchanged (a later
   * change copies them first): what a snapshot stores. Undefined in the probe-table layout.
   */
  shareSorted(): Float64Array | undefined {
    if (this.sorted === undefined) return undefined;
    this.sortedShared = true;
    return this.sorted.subarray(this.sortedStart, this.sortedStart + this.total);
  }

  /**
   * The chunk of a list in the sorted layout, its numbers at [sortedOffset, sortedOffset + size),
   * marked shared as shareSorted does (a snapshot's capture, which pins the pool); undefined in the
   * probe-table layout. No view is made: a million lists are a million captures.
   */
  shareSortedChunk(): Float64Array | undefined {
    if (this.sorted === undefined) return undefined;
    this.sortedShared = true;
    return this.sorted;
  }

  /** Where the numbers of a list in the sorted layout start in its chunk (shareSortedChunk). */
  get sortedOffset(): number {
    return this.sortedStart;
  }

  /**
   * Makes an empty set hold `size` checked numbers (ascending, distinct, valid) at chunk[start...]
   * where a snapshot load left them (loaded-lists.ts), with no copy: that slot holds exactly them, and
   * is never changed in place (a first change moves the list to a slot of the pool, as when shared).
   */
  adoptLoadedSlot(chunk: Float64Array, start: number, size: number): void {
    if (this.total !== 0 || this.sorted === undefined || this.sortedRoom !== 0) throw new AssertionError('a loaded slot can only be adopted by an empty set');
    if (size === 0) return;
    this.sorted = chunk;
    this.sortedStart = start;
    this.sortedRoom = size;
    this.sortedShared = true;
    this.total = size;
  }

  /**
   * Installs a list's numbers into an empty set (snapshot loading): `bytes` are the numbers as
   * f64 little-endian, checked ascending, distinct and valid, copied as they are into the list's slot.
   */
  loadSorted(bytes: Uint8Array): void {
    if (this.total !== 0 || this.sorted === undefined) throw new AssertionError('numbers can only be loaded into an empty set');
    const count = bytes.length / 8;
    if (count > SORTED_LIST_NUMBERS_MAX) {
      this.addSorted(new Float64Array(Uint8Array.from(bytes).buffer));
      return;
    }
    if (count === 0) return;
    const slot = this.sortedPool.allocate(count);
    new Uint8Array(slot.chunk.buffer, slot.chunk.byteOffset + 8 * slot.start, bytes.length).set(bytes);
    this.useSlot(slot);
    this.total = count;
  }

  /**
   * Empties the list and gives its storage back to its store (the list is dropped): a lookup still
   * holding it (a streamed scrub) then finds nothing, never another list's numbers in a reused slot.
   */
  release(): void {
    if (this.sorted !== undefined) this.freeSlot();
    else this.useSortedLayoutParts();
    this.total = 0;
  }

  /**
   * After loading areas (loadArea): a list small enough goes to the sorted layout, as removes
   * would have taken it (a snapshot written before the sorted layout holds every list as areas).
   */
  finishLoading(): void {
    if (this.sorted === undefined && this.total <= SORTED_LIST_NUMBERS_RETURN) this.useSorted();
  }

  /** See WordPool.pin: views of `portableAreas` stay unchanged until the returned function is called. */
  pinPool(): () => void {
    return this.pool.pin();
  }

  private applySorted(sorted: Float64Array, adding: boolean): number {
    // A bulk add reserves its room once: growing a 100M-number pool by compactions copied it ~8 times.
    if (adding && sorted.length >= POOL_RESERVE_NUMBERS_MIN) this.pool.reserve(Math.ceil(sorted.length * POOL_WORDS_PER_NUMBER_ESTIMATE));
    this.checkAreasOf(sorted);
    let changed = 0;
    forEachAreaCodeRun(sorted, (areaCode, rests) => {
      let area = this.byAreaCode[areaCode];
      if (area === undefined) {
        if (!adding) return;
        area = new AreaSet(this.pool);
        this.byAreaCode[areaCode] = area;
      }
      const baseVersion = area.baseVersion;
      changed += area.apply(rests, adding);
      if (area.size === 0) {
        area.release();
        this.byAreaCode[areaCode] = undefined;
      }
      const rowStart = this.probeTable[areaCode]!;
      if (area.size === 0 || area.baseVersion !== baseVersion || rowStart === ABSENT_ROW_START) this.refreshProbe(areaCode);
      else area.fillProbeEntries(this.probeTable, rowStart, rests);
    });
    this.total += adding ? changed : -changed;
    return changed;
  }

  /**
   * Checks the base of every area code `sorted` touches (PortableBitmap.checkContents) before the
   * batch changes anything: a base CRoaring could not trust then fails the whole batch, not the
   * area codes after the ones already changed. Each base is checked once; a merge's new base is
   * CRoaring's own and needs no check.
   */
  private checkAreasOf(sorted: Float64Array): void {
    for (let runStart = 0; runStart < sorted.length; ) {
      const areaCode = areaCodeOf(sorted[runStart]!);
      this.checkArea(areaCode);
      runStart = firstAtLeast(sorted, (areaCode + 1) * AREA_REST_MODULUS, runStart);
    }
  }

  private checkArea(areaCode: number): void {
    try {
      this.byAreaCode[areaCode]?.checkContents();
    } catch (error) {
      if (error instanceof CorruptBitmapError) throw new CorruptBitmapError(`area code ${areaCode}: ${error.detail}`);
      throw error;
    }
  }

  /**
   * Takes over `pool` (snapshot loading: the bitmaps of the list were checked into it, sized
   * exactly) before any number is added; then load its bitmaps with `loadArea`.
   */
  adoptPool(pool: WordPool): void {
    if (this.total !== 0 || this.sorted === undefined) throw new AssertionError('a pool can only be adopted by an empty set');
    this.useProbeTable(pool);
  }

  /**
   * Installs a whole area code from its checked portable form (snapshot loading, no conversion);
   * a bitmap of another pool is copied into this set's.
   */
  loadArea(areaCode: number, bitmap: PortableBitmap): void {
    if (this.sorted !== undefined) this.moveToProbeTable();
    if (this.byAreaCode[areaCode] !== undefined) throw new AssertionError(`area code ${areaCode} is already loaded`);
    if (bitmap.size === 0) {
      if (bitmap.pool === this.pool) bitmap.release();
      return;
    }
    const base = bitmap.pool === this.pool ? bitmap : new PortableBitmap(bitmap.bytes, this.pool);
    this.byAreaCode[areaCode] = new AreaSet(this.pool, base);
    this.refreshProbe(areaCode);
    this.total += bitmap.size;
  }

  /**
   * Every non-empty area code with its portable serialisation, ascending (what snapshots store):
   * views into the pool, valid until the next change unless the pool is pinned (pinPool).
   */
  *portableAreas(): IterableIterator<[number, Uint8Array]> {
    if (this.sorted !== undefined) {
      for (const [areaCode, bitmap] of this.areas()) yield [areaCode, bitmap.serialize('portable')];
      return;
    }
    for (let areaCode = 0; areaCode < AREA_CODE_SLOTS; areaCode++) {
      const area = this.byAreaCode[areaCode];
      if (area === undefined) continue;
      const portable = area.portable(); // compacts: the probe tables change
      this.refreshProbe(areaCode);
      yield [areaCode, portable];
    }
  }

  /** Every non-empty area code with a native bitmap of it (a copy the caller owns), ascending. */
  *areas(): IterableIterator<[number, RoaringBitmap32]> {
    if (this.sorted !== undefined) {
      for (const [areaCode, rests] of this.areaRests()) yield [areaCode, new RoaringBitmap32(rests)];
      return;
    }
    for (let areaCode = 0; areaCode < AREA_CODE_SLOTS; areaCode++) {
      const area = this.byAreaCode[areaCode];
      if (area !== undefined) yield [areaCode, area.toBitmap()];
    }
  }

  /**
   * Every non-empty area code with its rests ascending (an array the caller owns), ascending: the
   * same whatever the layout (digests compare lists across processes).
   */
  *areaRests(): IterableIterator<[number, Uint32Array]> {
    const sorted = this.sorted;
    if (sorted === undefined) {
      for (const [areaCode, bitmap] of this.areas()) yield [areaCode, bitmap.toUint32Array()];
      return;
    }
    const numbers = sorted.subarray(this.sortedStart, this.sortedStart + this.total);
    for (let runStart = 0; runStart < numbers.length; ) {
      const areaCode = areaCodeOf(numbers[runStart]!);
      const base = areaCode * AREA_REST_MODULUS;
      const runEnd = firstAtLeast(numbers, base + AREA_REST_MODULUS, runStart);
      const rests = new Uint32Array(runEnd - runStart);
      for (let i = 0; i < rests.length; i++) rests[i] = numbers[runStart + i]! - base;
      yield [areaCode, rests];
      runStart = runEnd;
    }
  }

  /** Every number in ascending order (for exports, tests and digests). */
  *numbers(): IterableIterator<number> {
    for (const [areaCode, rests] of this.areaRests()) {
      for (const rest of rests) yield numberFromParts(areaCode, rest);
    }
  }
}

/**
 * Calls `visit` once per area code present in `sorted`, with that run's rests as a Uint32Array.
 * The input must be sorted ascending, so each area code forms one contiguous run. The rests array
 * is reused from one call to the next (valid only during the call): at 100M numbers one array for
 * all the rests was 400 MB of fresh memory, where the largest area needs a few MB.
 */
export function forEachAreaCodeRun(sorted: Float64Array, visit: (areaCode: number, rests: Uint32Array) => void): void {
  let rests = new Uint32Array(0);
  let runStart = 0;
  while (runStart < sorted.length) {
    const areaCode = areaCodeOf(sorted[runStart]!);
    // Sorted: the run is every number below the next area code's base, and a rest is a subtraction
    // (a floating-point % per number cost more than the whole bitmap build of a bulk import).
    const base = areaCode * AREA_REST_MODULUS;
    const runEnd = firstAtLeast(sorted, base + AREA_REST_MODULUS, runStart);
    const length = runEnd - runStart;
    if (rests.length < length) rests = new Uint32Array(Math.max(length, rests.length * 2));
    for (let i = 0; i < length; i++) rests[i] = sorted[runStart + i]! - base;
    // A whole-array view costs nothing to skip; subarray costs about 0.7 us (a single add's budget).
    visit(areaCode, rests.length === length ? rests : rests.subarray(0, length));
    runStart = runEnd;
  }
}

/** Index of the first number >= `value` in sorted[from, length) (binary search). */
function firstAtLeast(sorted: Float64Array, value: number, from: number): number {
  let low = from;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (sorted[middle]! < value) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** Index of `value` in sorted[from, to), or -1 (binary search). */
function indexOfNumber(sorted: Float64Array, from: number, to: number, value: number): number {
  let low = from;
  let high = to - 1;
  while (low <= high) {
    const middle = (low + high) >>> 1;
    const found = sorted[middle]!;
    if (found < value) low = middle + 1;
    else if (found > value) high = middle - 1;
    else return middle;
  }
  return -1;
}

/** Index of the first value >= `value` in sorted[from, to). */
function lowerBound(sorted: Float64Array, from: number, to: number, value: number): number {
  let low = from;
  let high = to;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (sorted[middle]! < value) low = middle + 1;
    else high = middle;
  }
  return low;
}

/**
 * How many distinct values of `sorted` (ascending, duplicates allowed) current[from, to) lacks;
 * counting stops past `limit` (a bulk add into a small list need not walk all its numbers).
 */
function countAbsent(current: Float64Array, from: number, to: number, sorted: Float64Array, limit: number): number {
  if (sorted.length === 0) return 0;
  let i = lowerBound(current, from, to, sorted[0]!);
  let absent = 0;
  for (let j = 0; j < sorted.length && absent <= limit; j++) {
    const value = sorted[j]!;
    if (j > 0 && sorted[j - 1] === value) continue;
    while (i < to && current[i]! < value) i++;
    if (i < to && current[i] === value) continue;
    absent++;
  }
  return absent;
}

/**
 * Merges the values of `sorted` (ascending, duplicates allowed) that target[from, from + count)
 * lacks into it, from the back, so that target[from, from + merged) holds both; `merged` is that
 * count (countAbsent).
 */
function mergeBackwards(target: Float64Array, from: number, count: number, merged: number, sorted: Float64Array): void {
  let i = from + count - 1;
  let at = from + merged - 1;
  for (let j = sorted.length - 1; j >= 0 && at > i; j--) {
    const value = sorted[j]!;
    if (j + 1 < sorted.length && sorted[j + 1] === value) continue;
    while (i >= from && target[i]! > value) target[at--] = target[i--]!;
    if (i >= from && target[i] === value) continue;
    target[at--] = value;
  }
}

/** A probe table with room for `rows` rows, every area code pointing to the all-absent first row. */
function newProbeTable(rows: number): Int32Array {
  const table = new Int32Array(ROWS_START + rows * CONTAINER_KEY_SLOTS).fill(BIT_START_ABSENT);
  table.fill(ABSENT_ROW_START, 0, ROWS_START);
  return table;
}
