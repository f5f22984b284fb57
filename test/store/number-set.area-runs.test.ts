import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { forEachAreaCodeRun, NumberSet } from '../../src/store/number-set.js';

const validNumber = fc.tuple(fc.integer({ min: 200, max: 999 }), fc.integer({ min: 2_000_000, max: 9_999_999 })).map(([area, rest]) => area * 10_000_000 + rest);
const sortedNumbers = fc.array(validNumber, { maxLength: 300 }).map((list) => Float64Array.from(list).sort());

describe('forEachAreaCodeRun (the bulk build walks sorted numbers area code by area code)', () => {
  it('visits each area code once, ascending, with exactly its rests in order', () => {
    fc.assert(
      fc.property(sortedNumbers, (sorted) => {
        const seen: [number, number[]][] = [];
        forEachAreaCodeRun(sorted, (areaCode, rests) => seen.push([areaCode, Array.from(rests)]));
        const expected = new Map<number, number[]>();
        for (const number of sorted) {
          const areaCode = Math.floor(number / 10_000_000);
          expected.set(areaCode, [...(expected.get(areaCode) ?? []), number % 10_000_000]);
        }
        expect(seen).toEqual([...expected]);
      }),
      { numRuns: 300 },
    );
  });

  it('builds a set holding exactly the distinct numbers', () => {
    fc.assert(
      fc.property(sortedNumbers, (sorted) => {
        const set = new NumberSet();
        const distinct = new Set(sorted);
        expect(set.addSorted(Float64Array.from(distinct))).toBe(distinct.size);
        expect(Array.from(set.numbers())).toEqual(Array.from(distinct));
      }),
      { numRuns: 100 },
    );
  });
});
