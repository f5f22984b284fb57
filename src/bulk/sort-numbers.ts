// Sorting and de-duplicating bulk numbers without comparisons. `Float64Array.prototype.sort` takes
// about 30 s for 100M numbers; this is a counting sort on the area code (1000 buckets), then per area
// code a bitset of its 10^7 possible rests (1.25 MB, reused): setting a bit per number sorts and
// de-duplicates at once, and one sequential scan of the bitset writes the sorted distinct numbers.
// Areas with few numbers (where scanning 1.25 MB would cost more) use a typed-array sort instead.
// The numbers are validated on the way (every bulk number passes here once), so the engine's bulk
// path needs no other check.

import { AREA_CODE_SLOTS, AREA_REST_MODULUS } from '../constants.js';
import { IdncError } from '../errors.js';

const RADIX_BITS = 12;
const RADIX = 1 << RADIX_BITS;
const RADIX_MASK = RADIX - 1;
/** Below this many rests an area bucket is sorted by the typed-array sort (radix set-up dominates). */
const SMALL_BUCKET = 2048;
/** 32-bit words of a bitset over every rest of an area code (10^7 bits). */
const REST_WORDS = Math.ceil(AREA_REST_MODULUS / 32);
/** From this many rests an area is sorted through the bitset (its clear and scan cost ~10^7 bits). */
const BITSET_BUCKET_MIN = 65_536;

/**
 * Sorts `numbers[0, count)` ascending and removes duplicates, in place. Returns the distinct sorted
 * numbers (a prefix view of `numbers`). Throws INVALID_PHONE naming the first invalid number's
 * position: callers hand over numbers a parser has already validated, so that is a caller's bug
 * or a library user's mistake, never silently dropped.
 */
export function sortUniqueNumbers(numbers: Float64Array, count = numbers.length): Float64Array {
  const starts = new Float64Array(AREA_CODE_SLOTS + 1);
  for (let i = 0; i < count; i++) {
    const number = numbers[i]!;
    const area = Math.floor(number / AREA_REST_MODULUS);
    const rest = number - area * AREA_REST_MODULUS;
    // A valid number: integer, area code 200-999, exchange (first digit of the rest) 2-9.
    if (!(area >= 200 && area <= 999 && rest >= 2_000_000 && number === Math.floor(number))) throw invalidAt(i, number);
    starts[area + 1]!++;
  }
  for (let area = 1; area <= AREA_CODE_SLOTS; area++) starts[area]! += starts[area - 1]!;
  const rests = new Uint32Array(count);
  const next = starts.slice(0, AREA_CODE_SLOTS);
  for (let i = 0; i < count; i++) {
    const number = numbers[i]!;
    const area = Math.floor(number / AREA_REST_MODULUS);
    rests[next[area]!++] = number - area * AREA_REST_MODULUS;
  }
  const largest = maxBucket(starts);
  const bits = largest >= BITSET_BUCKET_MIN ? new Int32Array(REST_WORDS) : null;
  const scratch = largest >= SMALL_BUCKET && bits === null ? new Uint32Array(largest) : null;
  let out = 0;
  for (let area = 0; area < AREA_CODE_SLOTS; area++) {
    const from = starts[area]!;
    const to = starts[area + 1]!;
    if (to === from) continue;
    const bucket = rests.subarray(from, to);
    if (bits !== null && bucket.length >= BITSET_BUCKET_MIN) out = emitThroughBitset(bucket, bits, area * AREA_REST_MODULUS, numbers, out);
    else out = emitSorted(bucket, scratch ?? new Uint32Array(bucket.length), area * AREA_REST_MODULUS, numbers, out);
  }
  return numbers.subarray(0, out);
}

/** Sets a bit per rest, then writes `base + rest` for every set bit in order; leaves `bits` zeroed. */
function emitThroughBitset(rests: Uint32Array, bits: Int32Array, base: number, out: Float64Array, at: number): number {
  for (let i = 0; i < rests.length; i++) {
    const rest = rests[i]!;
    const word = rest >>> 5;
    bits[word] = bits[word]! | (1 << (rest & 31));
  }
  for (let word = 0; word < REST_WORDS; word++) {
    let value = bits[word]!;
    if (value === 0) continue;
    bits[word] = 0;
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

function maxBucket(starts: Float64Array): number {
  let max = 0;
  for (let area = 0; area < AREA_CODE_SLOTS; area++) max = Math.max(max, starts[area + 1]! - starts[area]!);
  return max;
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
