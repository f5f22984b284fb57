// One list of numbers (a master list or a project list): a direct-indexed table of one
// RoaringBitmap32 per area code, each holding the 7-digit rests. Area code selects the slot with one
// array access; Roaring's 16-bit high containers then split the rest by exchange block.

import { AREA_CODE_SLOTS } from '../constants.js';
import { areaCodeOf, numberFromParts, restOf } from '../phone/digits.js';
import { RoaringBitmap32 } from './roaring.js';

export class NumberSet {
  private readonly byAreaCode: (RoaringBitmap32 | undefined)[] = new Array(AREA_CODE_SLOTS).fill(undefined);
  private total = 0;

  get size(): number {
    return this.total;
  }

  has(number: number): boolean {
    const bitmap = this.byAreaCode[areaCodeOf(number)];
    return bitmap !== undefined && bitmap.has(restOf(number));
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
      const bitmap = adding ? this.bitmapFor(areaCode) : this.byAreaCode[areaCode];
      if (bitmap === undefined) return;
      const before = bitmap.size;
      if (adding) bitmap.addMany(rests);
      else bitmap.removeMany(rests);
      changed += Math.abs(bitmap.size - before);
      if (bitmap.size === 0) this.byAreaCode[areaCode] = undefined;
    });
    this.total += adding ? changed : -changed;
    return changed;
  }

  private bitmapFor(areaCode: number): RoaringBitmap32 {
    let bitmap = this.byAreaCode[areaCode];
    if (bitmap === undefined) {
      bitmap = new RoaringBitmap32();
      this.byAreaCode[areaCode] = bitmap;
    }
    return bitmap;
  }

  /** Installs a whole area code's bitmap (snapshot loading); that area code must still be empty. */
  loadAreaBitmap(areaCode: number, bitmap: RoaringBitmap32): void {
    if (this.byAreaCode[areaCode] !== undefined) throw new Error(`area code ${areaCode} is already loaded`);
    if (bitmap.size === 0) return;
    this.byAreaCode[areaCode] = bitmap;
    this.total += bitmap.size;
  }

  /** The bitmap of one area code, for set operations (undefined when that area code is empty). */
  areaBitmap(areaCode: number): RoaringBitmap32 | undefined {
    return this.byAreaCode[areaCode];
  }

  /** Every non-empty area code with its bitmap, in ascending order. */
  *areas(): IterableIterator<[number, RoaringBitmap32]> {
    for (let areaCode = 0; areaCode < AREA_CODE_SLOTS; areaCode++) {
      const bitmap = this.byAreaCode[areaCode];
      if (bitmap !== undefined) yield [areaCode, bitmap];
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
 * The input must be sorted ascending, so each area code forms one contiguous run.
 */
export function forEachAreaCodeRun(sorted: Float64Array, visit: (areaCode: number, rests: Uint32Array) => void): void {
  const rests = new Uint32Array(sorted.length);
  let runStart = 0;
  while (runStart < sorted.length) {
    const areaCode = areaCodeOf(sorted[runStart]!);
    let runEnd = runStart;
    while (runEnd < sorted.length && areaCodeOf(sorted[runEnd]!) === areaCode) {
      rests[runEnd] = restOf(sorted[runEnd]!);
      runEnd++;
    }
    visit(areaCode, rests.subarray(runStart, runEnd));
    runStart = runEnd;
  }
}
