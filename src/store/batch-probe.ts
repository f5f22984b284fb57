// Membership of a whole batch of numbers at once (scrubs: thousands to millions of numbers).
//
// Why not one `has()` per number: at national scale nearly every probe is a cache miss, and how
// fast a batch goes depends on how many of those misses the CPU keeps in flight at once. A loop
// over `has()` executes the whole lookup (area code, probe table, bit test, answer) around each
// miss, so few lookups fit in the CPU's window. The batch probe instead takes the batch in chunks
// and, per chunk, first works out every number's pool word, then reads all those words in a loop
// that does nothing else (NumberSet.markChunk), then tests the bits: the reads overlap. Figures,
// and why grouping the batch by area code first no longer pays: docs/design.md.

import { BATCH_CHUNKED_NUMBERS_MIN, BATCH_PROBE_CHUNK_NUMBERS } from '../constants.js';
import type { NumberSet } from './number-set.js';

/** Sets `bit` in `out[i]` for every i < count with numbers[i] in `list`, one probe per number. */
function markEach(list: NumberSet, numbers: Float64Array, count: number, out: Uint8Array, bit: number): void {
  for (let i = 0; i < count; i++) if (list.has(numbers[i]!)) out[i]! |= bit;
}

/** Sets `bit` in `out[i]` for every i < count with numbers[i] in `list`, chunk by chunk. */
function markChunked(list: NumberSet, numbers: Float64Array, count: number, out: Uint8Array, bit: number): void {
  for (let from = 0; from < count; from += BATCH_PROBE_CHUNK_NUMBERS) {
    list.markChunk(numbers, from, Math.min(from + BATCH_PROBE_CHUNK_NUMBERS, count), out, bit);
  }
}

/**
 * Marks into `out[i]` (cleared first) bit 1 when `lists[0]` holds numbers[i], bit 2 for lists[1], and
 * so on, for i < count; numbers[0, count) must be valid 10-digit numbers. Batches smaller than
 * `chunkedNumbersMin` probe number by number; the parameter exists so the benchmark can time both
 * strategies.
 */
export function markLists(
  lists: readonly (NumberSet | undefined)[],
  numbers: Float64Array,
  count: number,
  out: Uint8Array,
  chunkedNumbersMin = BATCH_CHUNKED_NUMBERS_MIN,
): void {
  out.fill(0, 0, count);
  const chunked = count >= chunkedNumbersMin;
  lists.forEach((list, index) => {
    if (list === undefined || list.size === 0) return;
    if (chunked) markChunked(list, numbers, count, out, 1 << index);
    else markEach(list, numbers, count, out, 1 << index);
  });
}
