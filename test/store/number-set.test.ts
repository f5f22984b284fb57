// NumberSet.has reads its areas' probe tables directly; they must follow every change: small
// changes held in a delta, merges into a new base, removal of a whole area code, compaction for a
// snapshot, loading an area, and the first probe of a dense array container (filled lazily).

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AREA_DELTA_ENTRIES_MAX, AREA_REST_MODULUS } from '../../src/constants.js';
import { NumberSet } from '../../src/store/number-set.js';
import { PortableBitmap } from '../../src/store/portable-bitmap.js';
import { RoaringBitmap32 } from '../../src/store/roaring.js';
import { bitmapWords, portableBytes } from './portable-bytes.js';

const AREA_CODES = [201, 503];
const number = fc.record({ areaCode: fc.constantFrom(...AREA_CODES), rest: fc.integer({ min: 2_000_000, max: 2_000_000 + 3 * 65536 }) })
  .map(({ areaCode, rest }) => areaCode * AREA_REST_MODULUS + rest);
const step = fc.oneof(
  fc.record({ kind: fc.constant('change' as const), adding: fc.boolean(), numbers: fc.array(number, { maxLength: 30 }) }),
  fc.record({ kind: fc.constant('change' as const), adding: fc.boolean(), numbers: fc.array(number, { minLength: AREA_DELTA_ENTRIES_MAX, maxLength: AREA_DELTA_ENTRIES_MAX + 3000 }) }),
  fc.record({ kind: fc.constant('compact' as const) }),
);

function sorted(values: number[]): Float64Array {
  return Float64Array.from(new Set(values)).sort();
}

describe('NumberSet', () => {
  it('answers like a Set after every kind of change', () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 8 }), fc.array(number, { minLength: 200, maxLength: 200 }), (steps, probes) => {
        const set = new NumberSet();
        const model = new Set<number>();
        for (const current of steps) {
          if (current.kind === 'compact') {
            for (const _ of set.portableAreas()); // what a snapshot does
          } else {
            if (current.adding) set.addSorted(sorted(current.numbers));
            else set.removeSorted(sorted(current.numbers));
            for (const value of current.numbers) current.adding ? model.add(value) : model.delete(value);
          }
          const candidates = [...probes, ...[...model].slice(0, 200)];
          const wrong = candidates.filter((value) => set.has(value) !== model.has(value));
          expect(wrong.slice(0, 5)).toEqual([]);
          expect(set.size).toBe(model.size);
        }
      }),
      { numRuns: 30 },
    );
  });

  it('answers for an area installed from a snapshot, including a dense array container', () => {
    const bitmap = new RoaringBitmap32();
    for (let i = 0; i < 3000; i++) bitmap.add(2_000_000 + i * 7); // dense array container: copied on first probe
    bitmap.addRange(3_000_000, 3_000_000 + 50_000); // runs
    const set = new NumberSet();
    set.loadArea(503, new PortableBitmap(bitmap.serialize('portable')));
    for (const rest of [2_000_000, 2_000_007, 2_000_001, 3_000_000, 3_049_999, 3_050_000, 9_999_999]) {
      expect(set.has(503 * AREA_REST_MODULUS + rest)).toBe(bitmap.has(rest));
      expect(set.has(504 * AREA_REST_MODULUS + rest)).toBe(false);
    }
  });

  it('answers the same after many merges, each releasing pool words a later one reuses', () => {
    const set = new NumberSet();
    const model = new Set<number>();
    const random = fc.sample(fc.integer({ min: 0, max: 9_999_999 }), { numRuns: 40_000, seed: 5 });
    const apply = (areaCode: number, rests: number[], adding: boolean): void => {
      const numbers = rests.map((rest) => areaCode * AREA_REST_MODULUS + rest);
      if (adding) set.addSorted(sorted(numbers));
      else set.removeSorted(sorted(numbers));
      for (const value of numbers) adding ? model.add(value) : model.delete(value);
    };
    apply(201, random.slice(0, 20_000), true);
    apply(503, random.slice(20_000), true);
    for (let round = 0; round < 6; round++) {
      apply(201, random.slice(round * 3000, round * 3000 + AREA_DELTA_ENTRIES_MAX + 1), round % 2 === 1);
      apply(503, random.slice(20_000 + round * 3000, 20_000 + round * 3000 + AREA_DELTA_ENTRIES_MAX + 1), round % 2 === 0);
    }
    const probes = [...random.slice(0, 5000).map((rest) => 201 * AREA_REST_MODULUS + rest), ...[...model].slice(0, 5000)];
    expect(probes.filter((value) => set.has(value) !== model.has(value)).slice(0, 5)).toEqual([]);
    expect(set.size).toBe(model.size);
    const stored = new Set<number>();
    for (const [areaCode, bytes] of set.portableAreas()) {
      for (const rest of RoaringBitmap32.deserialize(bytes, 'portable')) stored.add(areaCode * AREA_REST_MODULUS + rest);
    }
    expect(stored).toEqual(model);
  });

  it('probes every container of an area in its new base after a merge that changed only one of them', () => {
    const set = new NumberSet();
    // Area 202: containers in keys 30-35. The merging batch falls in key 40 only, and its run
    // container grows the base's header, so the other containers move in the region too.
    const members = Array.from({ length: 100_000 }, (_, i) => 202 * AREA_REST_MODULUS + 2_000_000 + i * 3);
    set.addSorted(Float64Array.from(members));
    const merging = Array.from({ length: AREA_DELTA_ENTRIES_MAX + 1 }, (_, i) => 202 * AREA_REST_MODULUS + 40 * 65536 + i);
    set.addSorted(Float64Array.from(merging));
    const wrong = [...members.filter((value) => !set.has(value) || set.has(value + 1)), ...merging.filter((value) => !set.has(value))];
    expect(wrong.slice(0, 5)).toEqual([]);
  });

  it('after single adds and their removal, each touched container is probed through the pending changes, then the base again', () => {
    const set = new NumberSet();
    const base = Array.from({ length: 50_000 }, (_, i) => 202 * AREA_REST_MODULUS + 2_000_000 + i * 5);
    set.addSorted(Float64Array.from(base));
    const added = [202 * AREA_REST_MODULUS + 2_000_001, 202 * AREA_REST_MODULUS + 2_200_003];
    for (const value of added) set.addSorted(Float64Array.of(value));
    expect(added.map((value) => set.has(value))).toEqual([true, true]);
    expect(set.has(base[1]! + 1)).toBe(false);
    for (const value of added) set.removeSorted(Float64Array.of(value));
    expect(added.map((value) => set.has(value))).toEqual([false, false]);
    expect(base.filter((value) => !set.has(value)).slice(0, 5)).toEqual([]);
    expect(set.size).toBe(base.length);
  });

  it('checks every area a batch touches before changing any: a base CRoaring could not trust fails the whole batch', () => {
    const set = new NumberSet();
    set.addSorted(Float64Array.from({ length: 3 }, (_, i) => 202 * AREA_REST_MODULUS + i));
    // Area code 303: a bitmap container holding one bit more than it declares (test/store/portable-bytes.ts).
    const evens = Array.from({ length: 5000 }, (_, i) => 2 * i);
    set.loadArea(303, new PortableBitmap(portableBytes([{ key: 0, cardinality: 5000, kind: 'bitmap', words: bitmapWords([...evens, 10_001]) }])));
    const batch = Float64Array.from([
      ...Array.from({ length: AREA_DELTA_ENTRIES_MAX + 1 }, (_, i) => 202 * AREA_REST_MODULUS + 100_000 + i),
      ...Array.from({ length: AREA_DELTA_ENTRIES_MAX + 1 }, (_, i) => 303 * AREA_REST_MODULUS + 200_000 + i),
    ]);
    expect(() => set.addSorted(batch)).toThrowError(/area code 303: .*bitmap container 0 declares 5000 values and holds 5001/);
    expect(set.size).toBe(3 + 5000);
    expect(set.has(202 * AREA_REST_MODULUS + 100_000)).toBe(false);
    expect(set.has(303 * AREA_REST_MODULUS + 200_000)).toBe(false);
    // A batch that only touches the good area code goes through.
    expect(set.addSorted(batch.subarray(0, AREA_DELTA_ENTRIES_MAX + 1))).toBe(AREA_DELTA_ENTRIES_MAX + 1);
  });
});
