// Membership of a whole batch of numbers at once (scrubs: thousands to millions of numbers).
//
// Why not one `has()` per number: at national scale every probe is a cache miss, and probes that
// jump between area codes also miss the TLB (each area code's words are one region of about 1 MB
// in the list's pool at 100M numbers; in a virtual machine a TLB miss costs a nested page walk).
// So the batch is first grouped by area code (a counting sort: one pass counts, one places),
// dropping numbers of area codes no list holds; then each area's entries are probed in one tight
// loop through the list's probe table (NumberSet.markRests), so the area's pages stay in the TLB
// while its probes run. Answers are written straight to each input's position, in input order.
//
// Measured at 100M (1M probes, bench/scrub.bench.ts and a per-pass script): the two grouping passes
// cost about 20 ns per number and the probes about 45-55 ns, where the previous grouping (area
// code, then a radix sort by rest inside each area, then per-container loops and a scatter of the
// answers) spent about 50 ns grouping to save about 10 ns of probing.

import { AREA_CODE_SLOTS, AREA_REST_MODULUS, BATCH_GROUPING_NUMBERS_MIN, BATCH_SCRATCH_NUMBERS_MAX } from '../constants.js';
import type { NumberSet } from './number-set.js';

/**
 * The grouping's arrays, kept from one batch to the next up to BATCH_SCRATCH_NUMBERS_MAX numbers:
 * fresh typed arrays of a million entries are 10 MB of newly mapped pages per scrub, and the page
 * faults cost about a fifth of a 1M-number scrub (measured against 10M numbers: 22 vs 28M numbers/s).
 * One set serves every batch: the batch probe is synchronous, so batches never overlap.
 */
interface GroupingArrays {
  readonly areaOfInput: Uint16Array;
  readonly inputs: Int32Array;
  readonly rests: Int32Array;
}

let keptArrays: GroupingArrays | undefined;

function groupingArrays(count: number): GroupingArrays {
  if (keptArrays !== undefined && keptArrays.inputs.length >= count) return keptArrays;
  const arrays = { areaOfInput: new Uint16Array(count), inputs: new Int32Array(count), rests: new Int32Array(count) };
  if (count <= BATCH_SCRATCH_NUMBERS_MAX) keptArrays = arrays;
  return arrays;
}

/**
 * A batch grouped by area code: entries [areaStarts[a], areaStarts[a + 1]) of `inputs` and `rests`
 * are area code a's. Valid until the next batch is grouped (the arrays are reused).
 */
export class AreaGroupedBatch {
  /** Input positions, area code after area code (only inputs of wanted area codes); may be longer than the batch. */
  readonly inputs: Int32Array;
  /** The 7-digit rest of each grouped input, in the same order as `inputs`. */
  readonly rests: Int32Array;
  /** Per area code, where its entries start; one more entry closes the last area code. */
  readonly areaStarts = new Int32Array(AREA_CODE_SLOTS + 1);

  /**
   * `numbers[0, count)` must be valid 10-digit numbers. Inputs whose area code is not in
   * `wantedAreaCodes` are left out (nothing can match them).
   */
  constructor(numbers: Float64Array, count: number, wantedAreaCodes: Uint8Array) {
    const { areaOfInput, inputs, rests } = groupingArrays(count);
    this.inputs = inputs;
    this.rests = rests;
    const next = new Int32Array(AREA_CODE_SLOTS);
    for (let i = 0; i < count; i++) {
      const areaCode = Math.floor(numbers[i]! / AREA_REST_MODULUS);
      areaOfInput[i] = areaCode;
      next[areaCode]!++;
    }
    let wanted = 0;
    for (let areaCode = 0; areaCode < AREA_CODE_SLOTS; areaCode++) {
      this.areaStarts[areaCode] = wanted;
      const inArea = next[areaCode]!;
      // A left-out area code's next position is -1: the placing pass skips its inputs.
      next[areaCode] = wantedAreaCodes[areaCode] === 0 ? -1 : wanted;
      if (wantedAreaCodes[areaCode] !== 0) wanted += inArea;
    }
    this.areaStarts[AREA_CODE_SLOTS] = wanted;
    for (let i = 0; i < count; i++) {
      const areaCode = areaOfInput[i]!;
      const at = next[areaCode]!;
      if (at < 0) continue;
      next[areaCode] = at + 1;
      inputs[at] = i;
      rests[at] = numbers[i]! - areaCode * AREA_REST_MODULUS;
    }
  }
}

/** Sets `bit` in out[i] for every input i of the batch that `list` holds. */
export function markMembers(list: NumberSet, batch: AreaGroupedBatch, out: Uint8Array, bit: number): void {
  const starts = batch.areaStarts;
  for (let areaCode = 0; areaCode < AREA_CODE_SLOTS; areaCode++) {
    const from = starts[areaCode]!;
    const to = starts[areaCode + 1]!;
    if (from !== to) list.markRests(areaCode, batch.rests, batch.inputs, from, to, out, bit);
  }
}

/** Per area code, 1 when one of `lists` holds numbers in it. */
function wantedAreaCodes(lists: readonly (NumberSet | undefined)[]): Uint8Array {
  const wanted = new Uint8Array(AREA_CODE_SLOTS);
  for (const list of lists) {
    if (list === undefined) continue;
    for (let areaCode = 0; areaCode < AREA_CODE_SLOTS; areaCode++) if (list.area(areaCode) !== undefined) wanted[areaCode] = 1;
  }
  return wanted;
}

/** Sets `bit` in `out[i]` for every i < count with numbers[i] in `list`, one probe per number. */
function markEach(list: NumberSet, numbers: Float64Array, count: number, out: Uint8Array, bit: number): void {
  for (let i = 0; i < count; i++) if (list.has(numbers[i]!)) out[i]! |= bit;
}

/**
 * Marks into `out[i]` (cleared first) bit 1 when `lists[0]` holds numbers[i], bit 2 for lists[1], and
 * so on, for i < count. Batches smaller than `groupingNumbersMin` probe number by number (grouping
 * has a fixed cost); the parameter exists so the benchmark can time both strategies.
 */
export function markLists(
  lists: readonly (NumberSet | undefined)[],
  numbers: Float64Array,
  count: number,
  out: Uint8Array,
  groupingNumbersMin = BATCH_GROUPING_NUMBERS_MIN,
): void {
  out.fill(0, 0, count);
  const present = lists.filter((list) => list !== undefined && list.size > 0).length;
  if (present === 0) return;
  const batch = count >= groupingNumbersMin ? new AreaGroupedBatch(numbers, count, wantedAreaCodes(lists)) : undefined;
  lists.forEach((list, index) => {
    if (list === undefined || list.size === 0) return;
    if (batch === undefined) markEach(list, numbers, count, out, 1 << index);
    else markMembers(list, batch, out, 1 << index);
  });
}
