// The chunked batch probe must answer exactly like one has() per number, whatever the containers
// (bitmap, expanded dense array, sparse array, run), pending deltas, duplicates and input order,
// on both sides of the chunking threshold and across chunk boundaries.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ARRAY_EXPAND_CARDINALITY_MIN, AREA_REST_MODULUS, BATCH_CHUNKED_NUMBERS_MIN, BATCH_PROBE_CHUNK_NUMBERS } from '../../src/constants.js';
import { markLists } from '../../src/store/batch-probe.js';
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
  it('agrees with has() per number above and below the chunking threshold, with pending deltas', () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer(), fc.boolean(), fc.constantFrom(BATCH_CHUNKED_NUMBERS_MIN - 1, BATCH_CHUNKED_NUMBERS_MIN, 5_000), (seed, probeSeed, withDelta, size) => {
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

  it('answers the same when even tiny batches are chunked', () => {
    const list = new NumberSet();
    const members = listNumbers(5);
    list.addSorted(members);
    for (const size of [1, 2, 7, 150, 1000]) {
      const input = probes(members, size, size);
      const chunked = new Uint8Array(size);
      markLists([list], input, size, chunked, 0);
      expect(Array.from(chunked)).toEqual(Array.from(input, (number) => (list.has(number) ? 1 : 0)));
    }
  });

  it('answers right across chunk boundaries, with containers first searched in a later chunk and pending deltas', () => {
    const project = new NumberSet();
    const master = new NumberSet();
    const members = listNumbers(9);
    master.addSorted(members);
    project.addSorted(members.filter((_, i) => i % 5 === 0));
    project.removeSorted(Float64Array.from(new Set(members.filter((_, i) => i % 5 === 0).subarray(0, 40))).sort());
    // A batch over two chunks and a bit, then a smaller one after it (the scratch is reused).
    for (const input of [probes(members, 2 * BATCH_PROBE_CHUNK_NUMBERS + 5, 21), probes(members, 4 * BATCH_CHUNKED_NUMBERS_MIN + 3, 23)]) {
      const marks = new Uint8Array(input.length);
      markLists([project, master], input, input.length, marks);
      let wrong = 0;
      let hits = 0;
      for (let i = 0; i < input.length; i++) {
        const expected = (project.has(input[i]!) ? 1 : 0) | (master.has(input[i]!) ? 2 : 0);
        if (marks[i] !== expected) wrong++;
        if (expected !== 0) hits++;
      }
      expect(hits).toBeGreaterThan(input.length / 10);
      expect(wrong).toBe(0);
    }
  });

  it('clears the marks of a batch no list can match', () => {
    const marks = new Uint8Array(3).fill(5);
    markLists([undefined, new NumberSet()], Float64Array.of(2012345678, 5039367187, 9999999999), 3, marks);
    expect(Array.from(marks)).toEqual([0, 0, 0]);
  });
});
