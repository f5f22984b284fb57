// A snapshot is captured synchronously and written while writes go on: the captured bytes must not
// change when later merges release and reuse the lists' pool words (src/store/word-pool.ts), until
// the capture is released.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AREA_DELTA_ENTRIES_MAX, AREA_REST_MODULUS } from '../../src/constants.js';
import { captureStore } from '../../src/persist/snapshot.js';
import { DncStore } from '../../src/store/dnc-store.js';
import { checkListAddress } from '../../src/store/list-id.js';
import { RoaringBitmap32 } from '../../src/store/roaring.js';

function sortedNumbers(areaCode: number, rests: number[]): Float64Array {
  return Float64Array.from(new Set(rests.map((rest) => areaCode * AREA_REST_MODULUS + rest))).sort();
}

describe('captureStore', () => {
  it('keeps the captured bytes while later changes rewrite every area of the list', () => {
    const store = new DncStore();
    const list = store.listForWrite(checkListAddress({}));
    const rests = fc.sample(fc.integer({ min: 2_000_000, max: 9_999_999 }), { numRuns: 60_000, seed: 11 });
    const merging = 2 * AREA_DELTA_ENTRIES_MAX; // distinct numbers enough for a merge, not a delta
    for (const areaCode of [201, 503, 707]) list.addSorted(sortedNumbers(areaCode, rests.slice(0, 20_000)));
    const captured = captureStore(store);
    const expected = [...list.numbers()];
    for (let round = 0; round < 4; round++) {
      for (const areaCode of [201, 503, 707]) {
        const batch = sortedNumbers(areaCode, rests.slice(round * 2500, round * 2500 + merging));
        if (round % 2 === 0) list.removeSorted(batch);
        else list.addSorted(sortedNumbers(areaCode, rests.slice(20_000 + round * 10_000, 20_000 + round * 10_000 + merging)));
      }
    }
    expect([...list.numbers()]).not.toEqual(expected);
    const restored: number[] = [];
    for (const [areaCode, bytes] of captured.lists[0]!.areas) {
      for (const rest of RoaringBitmap32.deserialize(bytes, 'portable')) restored.push(areaCode * AREA_REST_MODULUS + rest);
    }
    expect(restored).toEqual(expected);
    captured.release();
    captured.release(); // a second call does nothing
  });
});
