// Membership of a whole batch of numbers at once (scrubs: thousands to millions of numbers).
//
// Why not one `has()` per number: at national scale every probe is a cache miss (and a TLB miss),
// and a branchy probe per number leaves the CPU waiting for one miss at a time. Here the batch is
// first radix-sorted by area code and rest (passes that stay in cache), dropping numbers of area
// codes no list holds; then each container's probes run as a tight, branch-free loop of bit tests
// in ascending address order: the prefetcher runs ahead, pages are reused, and probes landing in the
// same cache line share it. Answers are kept per input position, so callers keep input order.

import { AREA_CODE_SLOTS, AREA_REST_MODULUS, BATCH_GROUPING_NUMBERS_MIN } from '../constants.js';
import { CONTAINER_KEY_SLOTS } from './portable-bitmap.js';
import type { NumberSet } from './number-set.js';

/** Finest order inside an area code: 2^9 rests = one 64-byte line of a bitmap container. */
const LINE_SHIFT = 9;
/** Coarsest order inside an area code: one container (2^16 rests). */
const CONTAINER_SHIFT = 16;

/** A batch grouped by container: `order[groupStarts[g] .. groupStarts[g + 1])` are the inputs of group g. */
export class GroupedBatch {
  /** Input positions, group after group (only inputs in `wantedAreaCodes`). */
  readonly order: Int32Array;
  /** Low 16 bits of each grouped input's rest, in the same order as `order`. */
  readonly lows: Uint16Array;
  /** Per group: area code * CONTAINER_KEY_SLOTS + container key, ascending. */
  readonly groupSlots: Int32Array;
  /** Per group g: where it starts in `order`; one more entry closes the last group. */
  readonly groupStarts: Int32Array;
  /** Answers in group order (written sequentially by the probe loops, scattered once at the end). */
  readonly marks: Uint8Array;

  /**
   * `numbers[0, count)` must be valid 10-digit numbers. Inputs whose area code no list holds are
   * left out (nothing can match them). Grouping is a radix sort in two cache-friendly steps: by area
   * code (1,000 buckets), then inside each area code by rest, to one cache line of a bitmap
   * container when the area has enough inputs, so each container is read in ascending address
   * order, which the hardware prefetcher follows.
   */
  constructor(numbers: Float64Array, count: number, wantedAreaCodes: Uint8Array) {
    const areaCounts = new Int32Array(AREA_CODE_SLOTS + 1);
    const areaOfInput = new Uint16Array(count);
    let wanted = 0;
    for (let i = 0; i < count; i++) {
      const areaCode = Math.floor(numbers[i]! / AREA_REST_MODULUS);
      areaOfInput[i] = areaCode;
      if (wantedAreaCodes[areaCode] === 0) continue;
      areaCounts[areaCode]!++;
      wanted++;
    }
    const areaStarts = new Int32Array(AREA_CODE_SLOTS + 1);
    for (let areaCode = 0, position = 0; areaCode <= AREA_CODE_SLOTS; areaCode++) {
      areaStarts[areaCode] = position;
      position += areaCounts[areaCode]!;
      areaCounts[areaCode] = areaStarts[areaCode]!;
    }
    const byAreaInput = new Int32Array(wanted);
    const byAreaRest = new Int32Array(wanted);
    for (let i = 0; i < count; i++) {
      const areaCode = areaOfInput[i]!;
      if (wantedAreaCodes[areaCode] === 0) continue;
      const at = areaCounts[areaCode]!++;
      byAreaInput[at] = i;
      byAreaRest[at] = numbers[i]! - areaCode * AREA_REST_MODULUS;
    }
    this.order = new Int32Array(wanted);
    this.lows = new Uint16Array(wanted);
    this.marks = new Uint8Array(wanted);
    const slots: number[] = [];
    const starts: number[] = [];
    // sortAreaByRest uses about one bucket per entry, at least one per container, at most one per line.
    const bucketsMax = Math.max(CONTAINER_KEY_SLOTS, Math.min(wanted, AREA_REST_MODULUS >>> LINE_SHIFT));
    const bucketCounts = new Int32Array(bucketsMax + 3);
    const sortedRests = new Int32Array(wanted);
    for (let areaCode = 0; areaCode < AREA_CODE_SLOTS; areaCode++) {
      const from = areaStarts[areaCode]!;
      const to = areaStarts[areaCode + 1]!;
      if (from === to) continue;
      sortAreaByRest(byAreaInput, byAreaRest, from, to, bucketCounts, this.order, sortedRests);
      let previousKey = -1;
      for (let j = from; j < to; j++) {
        const rest = sortedRests[j]!;
        this.lows[j] = rest & 0xffff;
        const key = rest >>> 16;
        if (key === previousKey) continue;
        previousKey = key;
        slots.push(areaCode * CONTAINER_KEY_SLOTS + key);
        starts.push(j);
      }
    }
    starts.push(wanted);
    this.groupSlots = Int32Array.from(slots);
    this.groupStarts = Int32Array.from(starts);
  }

  /** Copies the answers to input order: out[i] = marks of input i (inputs left out keep 0). */
  scatterMarks(out: Uint8Array): void {
    const order = this.order;
    const marks = this.marks;
    for (let j = 0; j < order.length; j++) out[order[j]!] = marks[j]!;
  }
}

/**
 * Counting sort of one area code's entries [from, to) by rest >>> shift, into `order` and
 * `sortedRests` at the same positions. The shift gives about one bucket per entry, never finer than
 * a cache line nor coarser than a container, so the pass costs O(entries) whatever the batch size.
 */
function sortAreaByRest(inputs: Int32Array, rests: Int32Array, from: number, to: number, counts: Int32Array, order: Int32Array, sortedRests: Int32Array): void {
  const entries = to - from;
  const wantedShift = Math.ceil(Math.log2(AREA_REST_MODULUS / entries));
  const shift = Math.min(CONTAINER_SHIFT, Math.max(LINE_SHIFT, wantedShift));
  const buckets = ((AREA_REST_MODULUS - 1) >>> shift) + 1;
  counts.fill(0, 0, buckets + 1);
  for (let j = from; j < to; j++) counts[rests[j]! >>> shift]!++;
  for (let bucket = 0, position = from; bucket <= buckets; bucket++) {
    const inBucket = counts[bucket]!;
    counts[bucket] = position;
    position += inBucket;
  }
  for (let j = from; j < to; j++) {
    const rest = rests[j]!;
    const at = counts[rest >>> shift]!++;
    order[at] = inputs[j]!;
    sortedRests[at] = rest;
  }
}

/** Sets `bit` in `batch.marks` for every input of the batch that `list` holds. */
export function markMembers(list: NumberSet, batch: GroupedBatch, bit: number): void {
  const groups = batch.groupSlots.length;
  for (let group = 0; group < groups; group++) {
    const slot = batch.groupSlots[group]!;
    const areaCode = Math.floor(slot / CONTAINER_KEY_SLOTS);
    const area = list.area(areaCode);
    if (area === undefined) continue;
    area.markGroup(slot - areaCode * CONTAINER_KEY_SLOTS, batch, batch.groupStarts[group]!, batch.groupStarts[group + 1]!, bit);
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
  const batch = count >= groupingNumbersMin ? new GroupedBatch(numbers, count, wantedAreaCodes(lists)) : undefined;
  lists.forEach((list, index) => {
    if (list === undefined || list.size === 0) return;
    if (batch === undefined) markEach(list, numbers, count, out, 1 << index);
    else markMembers(list, batch, 1 << index);
  });
  batch?.scatterMarks(out);
}
