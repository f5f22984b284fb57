// Sorting and de-duplicating bulk numbers without comparisons. `Float64Array.prototype.sort` takes
// about 30 s for 100M numbers. A NumberSorter takes numbers in any order, in as many batches as
// they arrive (an import feeds it each parsed chunk while the next one is read, so the parsed
// numbers never exist as one big array), and keeps them per area code (1000 slots): a few rests in
// a small growable array, and from BITSET_PROMOTE_RESTS of them a bitset of the area's 10^7
// possible rests (1.25 MB), where setting a bit sorts and de-duplicates at once. `finish` writes the
// distinct numbers ascending: one sequential scan per bitset, a radix sort per small area.
// The numbers are validated on the way (every bulk number passes here once), so the engine's bulk
// path needs no other check.

import { assert } from '../assert.js';
import { AREA_CODE_SLOTS, AREA_REST_MODULUS } from '../constants.js';
import { IdncError } from '../errors.js';

const RADIX_BITS = 12;
const RADIX = 1 << RADIX_BITS;
const RADIX_MASK = RADIX - 1;
/** Below this many rests an area bucket is sorted by the typed-array sort (radix set-up dominates). */
const SMALL_BUCKET = 2048;
/** 32-bit words of a bitset over every rest of an area code (10^7 bits). */
const REST_WORDS = Math.ceil(AREA_REST_MODULUS / 32);
/**
 * An area moves from its rest array to a bitset at this many rests: the bitset (1.25 MB) then costs
 * at most 20 bytes a number, and its final scan (~10^7 bits) is cheaper than sorting the rests.
 * Worst case, every one of the 800 area codes has a bitset: 1 GB, for an input of 52M+ numbers
 * (whose sorted output alone takes 400 MB+). A registry-shaped 100M input touches ~150 (190 MB).
 */
const BITSET_PROMOTE_RESTS = 65_536;
/** First capacity of an area's rest array (it doubles up to BITSET_PROMOTE_RESTS). */
const PENDING_RESTS_MIN = 256;
const AREA_RECIPROCAL = 1 / AREA_REST_MODULUS;
const NO_BITS = new Int32Array(0);
const NO_RESTS = new Uint32Array(0);

/** Collects valid numbers in any order, in batches; `finish` returns them sorted and distinct. */
export class NumberSorter {
  private readonly bitsets: Int32Array[] = new Array<Int32Array>(AREA_CODE_SLOTS).fill(NO_BITS);
  private readonly pending: Uint32Array[] = new Array<Uint32Array>(AREA_CODE_SLOTS).fill(NO_RESTS);
  private readonly pendingCounts = new Int32Array(AREA_CODE_SLOTS);
  /** Numbers added so far, duplicates included (the output never holds more). */
  added = 0;
  private finished = false;

  /**
   * Adds numbers[0, count). Throws INVALID_PHONE naming the first invalid number's position among
   * everything added: callers hand over numbers a parser has already validated, so that is a
   * caller's bug or a library user's mistake, never silently dropped.
   */
  add(numbers: Float64Array, count = numbers.length): void {
    assert(!this.finished, 'NumberSorter used after finish');
    const bitsets = this.bitsets;
    for (let i = 0; i < count; i++) {
      const number = numbers[i]!;
      // A multiplication by the reciprocal instead of a division (several times its throughput). For
      // integers below 10^10 its rounding never crosses an area code (multiples of 10^7 included);
      // the fix-up keeps that from being an assumption.
      let area = Math.floor(number * AREA_RECIPROCAL);
      let rest = number - area * AREA_REST_MODULUS;
      if (rest >= AREA_REST_MODULUS) {
        area++;
        rest -= AREA_REST_MODULUS;
      }
      // A valid number: integer, area code 200-999, exchange (first digit of the rest) 2-9.
      if (!(area >= 200 && area <= 999 && rest >= 2_000_000 && number === Math.floor(number))) throw invalidAt(this.added + i, number);
      const bits = bitsets[area]!;
      if (bits !== NO_BITS) bits[rest >>> 5] = bits[rest >>> 5]! | (1 << (rest & 31));
      else this.addPending(area, rest);
    }
    this.added += count;
  }

  /**
   * Writes the distinct numbers ascending into `out` (default: a new array; it may be the array the
   * numbers came from, which the sorter no longer needs) and returns that prefix of it.
   */
  finish(out: Float64Array = new Float64Array(this.added)): Float64Array {
    assert(!this.finished, 'NumberSorter finished twice');
    this.finished = true;
    let largestPending = 0;
    for (let area = 0; area < AREA_CODE_SLOTS; area++) largestPending = Math.max(largestPending, this.pendingCounts[area]!);
    const scratch = new Uint32Array(largestPending >= SMALL_BUCKET ? largestPending : 0);
    let at = 0;
    for (let area = 0; area < AREA_CODE_SLOTS; area++) {
      const base = area * AREA_REST_MODULUS;
      const bits = this.bitsets[area]!;
      if (bits !== NO_BITS) at = emitThroughBitset(bits, base, out, at);
      else if (this.pendingCounts[area]! > 0) at = emitSorted(this.pending[area]!.subarray(0, this.pendingCounts[area]), scratch, base, out, at);
      this.bitsets[area] = NO_BITS;
      this.pending[area] = NO_RESTS;
    }
    return out.subarray(0, at);
  }

  private addPending(area: number, rest: number): void {
    let rests = this.pending[area]!;
    const count = this.pendingCounts[area]!;
    if (count === rests.length) {
      if (count >= BITSET_PROMOTE_RESTS) {
        const bits = new Int32Array(REST_WORDS);
        for (let i = 0; i < count; i++) setBit(bits, rests[i]!);
        setBit(bits, rest);
        this.bitsets[area] = bits;
        this.pending[area] = NO_RESTS;
        this.pendingCounts[area] = 0;
        return;
      }
      const grown = new Uint32Array(Math.max(PENDING_RESTS_MIN, count * 2));
      grown.set(rests);
      rests = grown;
      this.pending[area] = rests;
    }
    rests[count] = rest;
    this.pendingCounts[area] = count + 1;
  }
}

/**
 * Sorts `numbers[0, count)` ascending and removes duplicates, in place. Returns the distinct sorted
 * numbers (a prefix view of `numbers`). Input that is already sorted, distinct and valid (what an
 * import hands over) is only checked. Throws INVALID_PHONE naming the first invalid number's position.
 */
export function sortUniqueNumbers(numbers: Float64Array, count = numbers.length): Float64Array {
  if (sortedDistinctValid(numbers, count)) return numbers.subarray(0, count);
  const sorter = new NumberSorter();
  sorter.add(numbers, count);
  return sorter.finish(numbers);
}

/**
 * Whether numbers[0, count) are valid, strictly ascending; stops at the first that is not. Ascending
 * numbers change area code rarely, so the area code is recomputed (a division) only when a number
 * passes the current one's end.
 */
function sortedDistinctValid(numbers: Float64Array, count: number): boolean {
  let previous = 0;
  let areaBase = 0;
  let areaLimit = 0;
  for (let i = 0; i < count; i++) {
    const number = numbers[i]!;
    if (!(number > previous)) return false;
    if (number >= areaLimit) {
      if (!(number < 10_000_000_000)) return false;
      areaBase = Math.floor(number / AREA_REST_MODULUS) * AREA_REST_MODULUS;
      areaLimit = areaBase + AREA_REST_MODULUS;
    }
    if (!(number - areaBase >= 2_000_000 && number === Math.floor(number))) return false;
    previous = number;
  }
  return count === 0 || numbers[0]! >= 2_000_000_000;
}

function setBit(bits: Int32Array, rest: number): void {
  bits[rest >>> 5] = bits[rest >>> 5]! | (1 << (rest & 31));
}

/** Writes `base + rest` for every set bit of `bits` in order. */
function emitThroughBitset(bits: Int32Array, base: number, out: Float64Array, at: number): number {
  for (let word = 0; word < REST_WORDS; word++) {
    let value = bits[word]!;
    if (value === 0) continue;
    const wordBase = base + word * 32;
    while (value !== 0) {
      const lowest = value & -value;
      out[at++] = wordBase + (31 - Math.clz32(lowest));
      value ^= lowest;
    }
  }
  return at;
}

/** Sorts a small bucket, then writes its distinct rests as numbers. */
function emitSorted(rests: Uint32Array, scratch: Uint32Array, base: number, out: Float64Array, at: number): number {
  sortRests(rests, scratch);
  let previous = -1;
  for (let i = 0; i < rests.length; i++) {
    const rest = rests[i]!;
    if (rest === previous) continue;
    previous = rest;
    out[at++] = base + rest;
  }
  return at;
}

/** Sorts rests (< 2^24) in place: two stable counting passes of 12 bits through `scratch`. */
export function sortRests(rests: Uint32Array, scratch: Uint32Array): void {
  const length = rests.length;
  if (length < SMALL_BUCKET) {
    rests.sort();
    return;
  }
  const low = new Int32Array(RADIX);
  const high = new Int32Array(RADIX);
  for (let i = 0; i < length; i++) {
    const rest = rests[i]!;
    low[rest & RADIX_MASK]!++;
    high[rest >>> RADIX_BITS]!++;
  }
  prefixSums(low);
  prefixSums(high);
  for (let i = 0; i < length; i++) {
    const rest = rests[i]!;
    scratch[low[rest & RADIX_MASK]!++] = rest;
  }
  for (let i = 0; i < length; i++) {
    const rest = scratch[i]!;
    rests[high[rest >>> RADIX_BITS]!++] = rest;
  }
}

/** Turns counts into start offsets. */
function prefixSums(counts: Int32Array): void {
  let sum = 0;
  for (let i = 0; i < counts.length; i++) {
    const value = counts[i]!;
    counts[i] = sum;
    sum += value;
  }
}

function invalidAt(index: number, number: number): IdncError {
  const shown = Number.isFinite(number) ? String(number).slice(0, 32) : String(number);
  return new IdncError('INVALID_PHONE', `number ${index + 1} of the bulk change (${shown}) is not a valid 10-digit NANP number`);
}
