// Sorting and de-duplicating bulk numbers without comparisons. `Float64Array.prototype.sort` takes
// about 30 s for 100M numbers; this is a counting sort on the area code (1000 buckets) followed, per
// area code, by a two-pass LSD radix sort of the 7-digit rests (12 bits a pass, rests < 2^24), which
// is a handful of linear passes. The numbers are validated on the way (every bulk number passes
// here once), so the engine's bulk path needs no other check.

import { AREA_CODE_SLOTS, AREA_REST_MODULUS } from '../constants.js';
import { IdncError } from '../errors.js';

const NUMBER_MIN = 2_000_000_000;
const NUMBER_LIMIT = 10_000_000_000;
const RADIX_BITS = 12;
const RADIX = 1 << RADIX_BITS;
const RADIX_MASK = RADIX - 1;
/** Below this many rests an area bucket is sorted by the typed-array sort (radix set-up dominates). */
const SMALL_BUCKET = 2048;

/** A valid 10-digit NANP number: an integer 2XX-2XX-XXXX .. 9XX-9XX-XXXX (first and fourth digit 2-9). */
export function isValidNumber(number: number): boolean {
  return Number.isInteger(number) && number >= NUMBER_MIN && number < NUMBER_LIMIT && Math.floor(number / 1_000_000) % 10 >= 2;
}

/**
 * Sorts `numbers[0, count)` ascending and removes duplicates, in place. Returns the distinct sorted
 * numbers (a prefix view of `numbers`). Throws INVALID_PHONE naming the first invalid number's
 * position: callers hand over numbers a parser has already validated, so that is a caller's bug
 * or a library user's mistake, never silently dropped.
 */
export function sortUniqueNumbers(numbers: Float64Array, count = numbers.length): Float64Array {
  if (count <= 1) {
    if (count === 1 && !isValidNumber(numbers[0]!)) throw invalidAt(0, numbers[0]!);
    return numbers.subarray(0, count);
  }
  const starts = new Float64Array(AREA_CODE_SLOTS + 1);
  for (let i = 0; i < count; i++) {
    const number = numbers[i]!;
    if (!isValidNumber(number)) throw invalidAt(i, number);
    starts[Math.floor(number / AREA_REST_MODULUS) + 1]!++;
  }
  for (let area = 1; area <= AREA_CODE_SLOTS; area++) starts[area]! += starts[area - 1]!;
  const rests = new Uint32Array(count);
  const next = starts.slice(0, AREA_CODE_SLOTS);
  for (let i = 0; i < count; i++) {
    const number = numbers[i]!;
    const area = Math.floor(number / AREA_REST_MODULUS);
    rests[next[area]!++] = number - area * AREA_REST_MODULUS;
  }
  const scratch = new Uint32Array(maxBucket(starts));
  let out = 0;
  for (let area = 0; area < AREA_CODE_SLOTS; area++) {
    const from = starts[area]!;
    const to = starts[area + 1]!;
    if (to === from) continue;
    const bucket = rests.subarray(from, to);
    sortRests(bucket, scratch);
    const base = area * AREA_REST_MODULUS;
    let previous = -1;
    for (let i = 0; i < bucket.length; i++) {
      const rest = bucket[i]!;
      if (rest === previous) continue;
      previous = rest;
      numbers[out++] = base + rest;
    }
  }
  return numbers.subarray(0, out);
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
