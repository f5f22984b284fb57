// The area-grouped batch probe must answer exactly like one has() per number, whatever the containers
// (bitmap, expanded dense array, sparse array, run), pending deltas, duplicates and input order,
// on both sides of the grouping threshold.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ARRAY_EXPAND_CARDINALITY_MIN, AREA_REST_MODULUS, BATCH_GROUPING_NUMBERS_MIN, BATCH_SCRATCH_NUMBERS_MAX } from '../../src/constants.js';
import { AreaGroupedBatch, markLists } from '../../src/store/batch-probe.js';
import { NumberSet } from '../../src/store/number-set.js';

const AREA_CODES = [201, 503, 999];

/** Sorted distinct numbers: per area code, a dense block, a dense array, a sparse array and a run. */
function listNumbers(seed: number): Float64Array {
  const values = new Set<number>();
  let state = seed >>> 0 || 1;
  const random = (below: number): number => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return state % below;
  };
  for (const areaCode of AREA_CODES) {
    const base = areaCode * AREA_REST_MODULUS;
    for (let i = 0; i < 6000; i++) values.add(base + random(65536)); // bitmap container (key 0)
    for (let i = 0; i < ARRAY_EXPAND_CARDINALITY_MIN + 300; i++) values.add(base + 65536 + random(65536)); // expanded array
    for (let i = 0; i < 500; i++) values.add(base + 2 * 65536 + random(65536)); // sparse array
    for (let rest = 5 * 65536 + 100; rest < 5 * 65536 + 9000; rest++) values.add(base + rest); // run
    values.add(base + AREA_REST_MODULUS - 1);
  }
  return Float64Array.from(values).sort();
}

/** Probes near the lists' members plus random valid numbers, duplicates included. */
function probes(members: Float64Array, count: number, seed: number): Float64Array {
  const out = new Float64Array(count);
  let state = seed >>> 0 || 7;
  for (let i = 0; i < count; i++) {
    state = (Math.imul(state, 22695477) + 1) >>> 0;
    const member = members[state % members.length]!;
    const shift = (state >>> 8) % 5;
    const candidate = shift === 4 ? 2_000_000_000 + (state % 7_999_999_999) : member + shift - 1;
    out[i] = Math.min(Math.max(candidate, 2_000_000_000), 9_999_999_999);
  }
  return out;
}

function expectSameAsHas(lists: (NumberSet | undefined)[], numbers: Float64Array): void {
  const marks = new Uint8Array(numbers.length + 3).fill(9);
  markLists(lists, numbers, numbers.length, marks);
  const wrong: number[] = [];
  for (let i = 0; i < numbers.length; i++) {
    let expected = 0;
    lists.forEach((list, index) => {
      if (list?.has(numbers[i]!)) expected |= 1 << index;
    });
    if (marks[i] !== expected) wrong.push(i);
  }
  expect(wrong.slice(0, 10)).toEqual([]);
  expect(marks[numbers.length]).toBe(9); // nothing written past count
}

describe('markLists', () => {
  it('agrees with has() per number above and below the grouping threshold, with pending deltas', () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer(), fc.boolean(), fc.constantFrom(100, BATCH_GROUPING_NUMBERS_MIN, BATCH_GROUPING_NUMBERS_MIN + 777), (seed, probeSeed, withDelta, size) => {
        const project = new NumberSet();
        const master = new NumberSet();
        const members = listNumbers(seed);
        project.addSorted(members.filter((_, i) => i % 3 === 0));
        master.addSorted(members.filter((_, i) => i % 2 === 0));
        const input = probes(members, size, probeSeed);
        if (withDelta) {
          // A few changes stay in the areas' deltas (below the merge threshold).
          project.addSorted(Float64Array.from(new Set(input.subarray(0, 20))).sort());
          master.removeSorted(Float64Array.from(new Set(members.subarray(0, 50))).sort());
        }
        expectSameAsHas([project, master], input);
        expectSameAsHas([undefined, master], input);
        expectSameAsHas([project, new NumberSet()], input);
      }),
      { numRuns: 25 },
    );
  });

  it('answers the same when even tiny batches are grouped', () => {
    const list = new NumberSet();
    const members = listNumbers(5);
    list.addSorted(members);
    for (const size of [1, 2, 7, 150, 1000]) {
      const input = probes(members, size, size);
      const grouped = new Uint8Array(size);
      markLists([list], input, size, grouped, 0);
      expect(Array.from(grouped)).toEqual(Array.from(input, (number) => (list.has(number) ? 1 : 0)));
    }
  });

  it('answers right for batches larger than the kept grouping arrays, and for smaller ones after them', () => {
    const list = new NumberSet();
    const members = listNumbers(9);
    list.addSorted(members);
    const large = probes(members, BATCH_SCRATCH_NUMBERS_MAX + 5, 21);
    const small = probes(members, BATCH_GROUPING_NUMBERS_MIN + 3, 22);
    for (const input of [small, large, small]) {
      const marks = new Uint8Array(input.length);
      markLists([list], input, input.length, marks);
      let wrong = 0;
      for (let i = 0; i < input.length; i++) if (marks[i] !== (list.has(input[i]!) ? 1 : 0)) wrong++;
      expect(wrong).toBe(0);
    }
  });

  it('clears the marks of a batch no list can match', () => {
    const marks = new Uint8Array(3).fill(5);
    markLists([undefined, new NumberSet()], Float64Array.of(2012345678, 5039367187, 9999999999), 3, marks);
    expect(Array.from(marks)).toEqual([0, 0, 0]);
  });
});

describe('AreaGroupedBatch', () => {
  it('keeps every input of a wanted area code once, in its area range with its rest, and leaves the others out', () => {
    const numbers = probes(listNumbers(3), 5000, 11);
    const wanted = new Uint8Array(1000);
    wanted[201] = 1;
    wanted[999] = 1;
    const batch = new AreaGroupedBatch(numbers, numbers.length, wanted);
    const expectedInputs = Array.from(numbers.keys()).filter((i) => wanted[Math.floor(numbers[i]! / AREA_REST_MODULUS)] === 1);
    expect(expectedInputs.length).toBeGreaterThan(0);
    expect(expectedInputs.length).toBeLessThan(numbers.length);
    expect(Array.from(batch.inputs.subarray(0, batch.areaStarts[1000])).sort((a, b) => a - b)).toEqual(expectedInputs);
    expect(batch.areaStarts[1000]).toBe(expectedInputs.length);
    for (let areaCode = 0; areaCode < 1000; areaCode++) {
      const from = batch.areaStarts[areaCode]!;
      const to = batch.areaStarts[areaCode + 1]!;
      if (wanted[areaCode] === 0) expect(to).toBe(from);
      for (let j = from; j < to; j++) {
        expect(numbers[batch.inputs[j]!]).toBe(areaCode * AREA_REST_MODULUS + batch.rests[j]!);
      }
    }
  });
});
