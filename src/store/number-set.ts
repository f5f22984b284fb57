// One list of numbers (a master list or a project list): a direct-indexed table of one AreaSet per
// area code, each holding the 7-digit rests (exchange + line) in Roaring's portable layout. The
// area code selects the slot with one array access; inside, Roaring's 16-bit containers split the
// rest into blocks of 65,536 (about six exchanges each).

import { AREA_CODE_SLOTS, AREA_REST_MODULUS } from '../constants.js';
import { areaCodeOf, numberFromParts } from '../phone/digits.js';
import { AreaSet } from './area-set.js';
import type { RoaringBitmap32 } from './roaring.js';
import { BIT_START_ABSENT, CONTAINER_KEY_SLOTS, type PortableBitmap } from './portable-bitmap.js';

const ABSENT_EVERY_KEY = new Int32Array(CONTAINER_KEY_SLOTS).fill(BIT_START_ABSENT);
const NO_WORDS: Uint16Array[] = new Array<Uint16Array>(CONTAINER_KEY_SLOTS).fill(new Uint16Array(0));

export class NumberSet {
  private readonly byAreaCode: (AreaSet | undefined)[] = new Array(AREA_CODE_SLOTS).fill(undefined);
  /**
   * Per area code, its AreaSet's probe tables (AreaSet.probeStarts/probeWords), refreshed after
   * every change to that area. `has` reads them directly: at national scale a lookup is one cache
   * miss on the bitmap, and every dependent load before it (area object, base, tables) delays it and
   * keeps the CPU from overlapping the misses of successive lookups.
   */
  private readonly probeStarts: Int32Array[] = new Array<Int32Array>(AREA_CODE_SLOTS).fill(ABSENT_EVERY_KEY);
  private readonly probeWords: Uint16Array[][] = new Array<Uint16Array[]>(AREA_CODE_SLOTS).fill(NO_WORDS);
  private total = 0;

  get size(): number {
    return this.total;
  }

  /** `number` must be a valid 10-digit number (callers parse first). */
  has(number: number): boolean {
    const areaCode = Math.floor(number / AREA_REST_MODULUS);
    const rest = number - areaCode * AREA_REST_MODULUS;
    const key = rest >>> 16;
    const start = this.probeStarts[areaCode]![key]!;
    if (start >= 0) {
      const low = rest & 0xffff;
      return (this.probeWords[areaCode]![key]![start + (low >>> 4)]! & (1 << (low & 15))) !== 0;
    }
    return start !== BIT_START_ABSENT && this.byAreaCode[areaCode]!.has(rest);
  }

  private refreshProbe(areaCode: number): void {
    const area = this.byAreaCode[areaCode];
    this.probeStarts[areaCode] = area?.probeStarts ?? ABSENT_EVERY_KEY;
    this.probeWords[areaCode] = area?.probeWords ?? NO_WORDS;
  }

  /** The set of one area code, if it holds any number. */
  area(areaCode: number): AreaSet | undefined {
    return this.byAreaCode[areaCode];
  }

  /** Adds sorted numbers; returns how many were not already present. */
  addSorted(sorted: Float64Array): number {
    return this.applySorted(sorted, true);
  }

  /** Removes sorted numbers; returns how many were present. */
  removeSorted(sorted: Float64Array): number {
    return this.applySorted(sorted, false);
  }

  private applySorted(sorted: Float64Array, adding: boolean): number {
    let changed = 0;
    forEachAreaCodeRun(sorted, (areaCode, rests) => {
      let area = this.byAreaCode[areaCode];
      if (area === undefined) {
        if (!adding) return;
        area = new AreaSet();
        this.byAreaCode[areaCode] = area;
      }
      changed += area.apply(rests, adding);
      if (area.size === 0) this.byAreaCode[areaCode] = undefined;
      this.refreshProbe(areaCode);
    });
    this.total += adding ? changed : -changed;
    return changed;
  }

  /** Installs a whole area code from its checked portable form (snapshot loading, no conversion). */
  loadArea(areaCode: number, bitmap: PortableBitmap): void {
    if (this.byAreaCode[areaCode] !== undefined) throw new Error(`area code ${areaCode} is already loaded`);
    if (bitmap.size === 0) return;
    this.byAreaCode[areaCode] = new AreaSet(bitmap);
    this.refreshProbe(areaCode);
    this.total += bitmap.size;
  }

  /** Every non-empty area code with its portable serialisation, ascending (what snapshots store). */
  *portableAreas(): IterableIterator<[number, Uint8Array]> {
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
    for (let areaCode = 0; areaCode < AREA_CODE_SLOTS; areaCode++) {
      const area = this.byAreaCode[areaCode];
      if (area !== undefined) yield [areaCode, area.toBitmap()];
    }
  }

  /** Every number in ascending order (for exports, tests and digests). */
  *numbers(): IterableIterator<number> {
    for (const [areaCode, bitmap] of this.areas()) {
      for (const rest of bitmap) yield numberFromParts(areaCode, rest);
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
