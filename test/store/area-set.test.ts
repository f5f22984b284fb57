// AreaSet keeps a frozen base and a delta; both paths (delta updates and merges into a new base)
// must agree with a plain Set, including across the merge threshold.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AREA_DELTA_ENTRIES_MAX } from '../../src/constants.js';
import { AreaSet } from '../../src/store/area-set.js';
import { RoaringBitmap32 } from '../../src/store/roaring.js';
import { CorruptBitmapError, PortableBitmap } from '../../src/store/portable-bitmap.js';
import { WordPool } from '../../src/store/word-pool.js';
import { bitmapWords, portableBytes } from './portable-bytes.js';

const REST_RANGE = 3 * AREA_DELTA_ENTRIES_MAX;

const batch = fc.record({
  adding: fc.boolean(),
  rests: fc.oneof(
    fc.array(fc.integer({ min: 0, max: REST_RANGE }), { maxLength: 40 }),
    fc.array(fc.integer({ min: 0, max: REST_RANGE }), { minLength: AREA_DELTA_ENTRIES_MAX - 50, maxLength: AREA_DELTA_ENTRIES_MAX + 50 }),
  ),
});

function sortedRests(values: number[]): Uint32Array {
  return Uint32Array.from(values).sort();
}

describe('AreaSet', () => {
  it('agrees with a Set across delta updates and merges', () => {
    fc.assert(
      fc.property(fc.array(batch, { minLength: 1, maxLength: 12 }), (batches) => {
        const area = new AreaSet(new WordPool());
        const model = new Set<number>();
        for (const { adding, rests } of batches) {
          const expected = new Set(rests.filter((rest) => model.has(rest) !== adding)).size;
          for (const rest of rests) adding ? model.add(rest) : model.delete(rest);
          expect(area.apply(sortedRests(rests), adding)).toBe(expected);
          expect(area.size).toBe(model.size);
        }
        const wrong: number[] = [];
        for (let rest = 0; rest <= REST_RANGE; rest++) if (area.has(rest) !== model.has(rest)) wrong.push(rest);
        expect(wrong.slice(0, 10)).toEqual([]);
        expect(Array.from(area.toBitmap().toUint32Array())).toEqual([...model].sort((a, b) => a - b));
      }),
      { numRuns: 40 },
    );
  });

  it('serialises the whole set, delta included, in Roaring portable format', () => {
    const pool = new WordPool();
    const area = new AreaSet(pool, new PortableBitmap(new RoaringBitmap32([1, 2, 3]).serialize('portable'), pool));
    area.apply(Uint32Array.of(4, 5), true);
    area.apply(Uint32Array.of(1), false);
    const restored = RoaringBitmap32.deserialize(area.portable(), 'portable');
    expect(restored.toArray()).toEqual([2, 3, 4, 5]);
    expect(area.size).toBe(4);
  });

  it('keeps a base CRoaring could not trust from reaching it: the merge fails cleanly and nothing changes', () => {
    // A bitmap container with one bit more than it declares: CRoaring's toUint32Array sized its
    // output by the declared count and wrote past it (the process aborted with a heap corruption).
    const evens = Array.from({ length: 5000 }, (_, i) => 2 * i);
    const bytes = portableBytes([{ key: 0, cardinality: 5000, kind: 'bitmap', words: bitmapWords([...evens, 10_001]) }]);
    const pool = new WordPool();
    const area = new AreaSet(pool, new PortableBitmap(bytes, pool));
    expect(area.has(10_001)).toBe(true); // the probes read bits and need no count
    expect(() => area.toBitmap()).toThrowError(CorruptBitmapError);
    const many = Uint32Array.from({ length: AREA_DELTA_ENTRIES_MAX + 1 }, (_, i) => 20_000 + i);
    expect(() => area.apply(many, true)).toThrowError(/bitmap container 0 declares 5000 values and holds 5001/);
    expect(area.size).toBe(5000);
    expect(area.has(20_000)).toBe(false);
    area.apply(Uint32Array.of(20_000), true); // small changes still go to the delta
    expect(area.has(20_000)).toBe(true);
  });
});
