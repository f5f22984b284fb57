// The baselines the scenarios measure idnc against, built straight from a sorted Float64Array and
// independent of src/store, so a change to idnc's own layout can never change its yardstick:
// - AreaRoaring: one RoaringBitmap32 per area code holding the 7-digit rest (idnc's encoding);
// - HiLoRoaring: one RoaringBitmap32 per hi = floor(number / 2^32) holding lo = number mod 2^32;
// - FlatBits:    one plain 10^7-bit block per populated area code, the memory-access floor;
// - and idnc itself, loaded through the public API in comma-list batches.

import { openDnc, type Dnc } from '../src/index.js';
import { toCommaList } from './data/registry.js';
import { RoaringBitmap32 } from '../src/store/roaring.js';

type Bitmap = RoaringBitmap32;

const AREA_FACTOR = 10_000_000;
const AREA_SLOTS = 1000;
const TWO_POW_32 = 4_294_967_296;
/** Numbers per `dnc.add` call while loading: large batches, but a bounded comma string (~11 MB). */
export const LOAD_BATCH_NUMBERS = 1_000_000;

/** Calls `visit(key, values)` for each run of equal keys in a sorted array. */
function forEachRun(sorted: Float64Array, keyOf: (n: number) => number, valueOf: (n: number, key: number) => number,
  visit: (key: number, values: Uint32Array) => void): void {
  const values = new Uint32Array(sorted.length);
  let start = 0;
  while (start < sorted.length) {
    const key = keyOf(sorted[start]!);
    let end = start;
    while (end < sorted.length && keyOf(sorted[end]!) === key) {
      values[end] = valueOf(sorted[end]!, key);
      end++;
    }
    visit(key, values.subarray(start, end));
    start = end;
  }
}

/** Releases containers' spare capacity, so "Roaring alone" is Roaring at its tightest. */
function tight(bitmap: Bitmap): Bitmap {
  bitmap.shrinkToFit();
  return bitmap;
}

export class AreaRoaring {
  readonly byArea: (Bitmap | undefined)[] = new Array(AREA_SLOTS).fill(undefined);

  constructor(sorted: Float64Array) {
    forEachRun(sorted, (n) => Math.floor(n / AREA_FACTOR), (n, area) => n - area * AREA_FACTOR, (area, rests) => {
      this.byArea[area] = tight(new RoaringBitmap32(rests));
    });
  }

  has(number: number): boolean {
    const area = Math.floor(number / AREA_FACTOR);
    const bitmap = this.byArea[area];
    return bitmap !== undefined && bitmap.has(number - area * AREA_FACTOR);
  }

  bitmaps(): Bitmap[] {
    return this.byArea.filter((bitmap): bitmap is Bitmap => bitmap !== undefined);
  }
}

export class HiLoRoaring {
  /** 10-digit numbers are below 10^10 < 3 * 2^32: hi is 0, 1 or 2. */
  readonly byHi: (Bitmap | undefined)[] = [undefined, undefined, undefined];

  constructor(sorted: Float64Array) {
    forEachRun(sorted, (n) => Math.floor(n / TWO_POW_32), (n, hi) => n - hi * TWO_POW_32, (hi, los) => {
      this.byHi[hi] = tight(new RoaringBitmap32(los));
    });
  }

  has(number: number): boolean {
    const hi = Math.floor(number / TWO_POW_32);
    const bitmap = this.byHi[hi];
    return bitmap !== undefined && bitmap.has(number - hi * TWO_POW_32);
  }

  bitmaps(): Bitmap[] {
    return this.byHi.filter((bitmap): bitmap is Bitmap => bitmap !== undefined);
  }
}

const FLAT_BLOCK_WORDS = Math.ceil(AREA_FACTOR / 32);

export class FlatBits {
  readonly blocks: (Uint32Array | undefined)[] = new Array(AREA_SLOTS).fill(undefined);
  bytes = 0;

  constructor(sorted: Float64Array) {
    for (const number of sorted) {
      const area = Math.floor(number / AREA_FACTOR);
      let block = this.blocks[area];
      if (block === undefined) {
        block = new Uint32Array(FLAT_BLOCK_WORDS);
        this.blocks[area] = block;
        this.bytes += block.byteLength;
      }
      const rest = number - area * AREA_FACTOR;
      block[rest >>> 5]! |= 1 << (rest & 31);
    }
  }

  has(number: number): boolean {
    const area = Math.floor(number / AREA_FACTOR);
    const block = this.blocks[area];
    if (block === undefined) return false;
    const rest = number - area * AREA_FACTOR;
    return ((block[rest >>> 5]! >>> (rest & 31)) & 1) === 1;
  }
}

/** Serialized bytes of bitmaps in Roaring's portable format. */
export function portableBytes(bitmaps: readonly Bitmap[]): number {
  let bytes = 0;
  for (const bitmap of bitmaps) bytes += bitmap.getSerializationSizeInBytes('portable');
  return bytes;
}

/** An in-memory idnc holding `sorted` on the default organisation's master list. */
export async function loadDnc(sorted: Float64Array, batchNumbers = LOAD_BATCH_NUMBERS): Promise<Dnc> {
  const dnc = await openDnc();
  for (let start = 0; start < sorted.length; start += batchNumbers) {
    const end = Math.min(start + batchNumbers, sorted.length);
    const result = await dnc.add(toCommaList(sorted, start, end));
    if (result.changed !== end - start) throw new Error(`idnc added ${result.changed} of ${end - start} distinct numbers`);
  }
  if (dnc.count() !== sorted.length) throw new Error(`idnc holds ${dnc.count()} numbers, expected ${sorted.length}`);
  return dnc;
}
