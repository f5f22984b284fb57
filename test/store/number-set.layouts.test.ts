// A list moves between its two layouts (a sorted array up to SORTED_LIST_NUMBERS_MAX numbers, the
// probe table past it, back to sorted at SORTED_LIST_NUMBERS_RETURN): it must answer like a Set on
// both sides of each threshold, for single and batch lookups, and whatever the history that led
// there; a snapshot's view of a sorted list must not change under later changes.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AREA_REST_MODULUS, SORTED_LIST_NUMBERS_MAX, SORTED_LIST_NUMBERS_RETURN } from '../../src/constants.js';
import { markLists } from '../../src/store/batch-probe.js';
import { NumberSet } from '../../src/store/number-set.js';
import { SortedPool } from '../../src/store/sorted-pool.js';

const AREA_CODES = [201, 503, 999];
/** Rests per area code the numbers are drawn from: few enough that batches overlap and shrink lists. */
const RESTS = 3000;
const number = fc.record({ areaCode: fc.constantFrom(...AREA_CODES), rest: fc.integer({ min: 0, max: RESTS - 1 }) })
  .map(({ areaCode, rest }) => areaCode * AREA_REST_MODULUS + rest * 3);
/** Small and large batches, duplicates included (the engine's string path does not remove them). */
const step = fc.record({
  adding: fc.boolean(),
  numbers: fc.oneof(fc.array(number, { maxLength: 40 }), fc.array(number, { minLength: 1000, maxLength: 3000 })),
});

function sortedWithDuplicates(values: readonly number[]): Float64Array {
  return Float64Array.from(values).sort();
}

/** The layout a list must be in: sorted at or below the return threshold, probe table above the maximum. */
function expectLayoutBounds(set: NumberSet): void {
  if (set.isSortedLayout) expect(set.size).toBeLessThanOrEqual(SORTED_LIST_NUMBERS_MAX);
  else expect(set.size).toBeGreaterThan(SORTED_LIST_NUMBERS_RETURN);
}

function expectAnswersLike(set: NumberSet, model: Set<number>, probes: readonly number[]): void {
  const candidates = Float64Array.from([...probes, ...[...model].slice(0, 300)]);
  const wrong = [...candidates].filter((value) => set.has(value) !== model.has(value));
  expect(wrong.slice(0, 5)).toEqual([]);
  const marks = new Uint8Array(candidates.length);
  markLists([set], candidates, candidates.length, marks, 1); // chunked whatever the batch's size
  expect([...candidates].filter((value, i) => (marks[i] === 1) !== model.has(value)).slice(0, 5)).toEqual([]);
  expect(set.size).toBe(model.size);
}

function fill(count: number, areaCode = 503): Float64Array {
  return Float64Array.from({ length: count }, (_, i) => areaCode * AREA_REST_MODULUS + 2 * i);
}

describe('NumberSet layouts', () => {
  it('answers like a Set through adds and removes that cross both thresholds either way', () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 10 }), fc.array(number, { minLength: 200, maxLength: 200 }), (steps, probes) => {
        const set = new NumberSet();
        const model = new Set<number>();
        for (const { adding, numbers } of steps) {
          const before = model.size;
          for (const value of numbers) adding ? model.add(value) : model.delete(value);
          const changed = adding ? set.addSorted(sortedWithDuplicates(numbers)) : set.removeSorted(sortedWithDuplicates(numbers));
          expect(changed).toBe(Math.abs(model.size - before));
          expectLayoutBounds(set);
          expectAnswersLike(set, model, probes);
          expect([...set.numbers()]).toEqual([...model].sort((a, b) => a - b));
        }
      }),
      { numRuns: 40 },
    );
  });

  it('lists sharing one pool never see each other\'s numbers, through slot moves, frees and reuse', () => {
    const smallStep = fc.record({ list: fc.integer({ min: 0, max: 4 }), adding: fc.boolean(), numbers: fc.array(number, { maxLength: 120 }) });
    fc.assert(
      fc.property(fc.array(smallStep, { minLength: 1, maxLength: 60 }), (steps) => {
        const pool = new SortedPool();
        const sets = Array.from({ length: 5 }, () => new NumberSet(pool));
        const models = sets.map(() => new Set<number>());
        for (const { list, adding, numbers } of steps) {
          for (const value of numbers) adding ? models[list]!.add(value) : models[list]!.delete(value);
          if (adding) sets[list]!.addSorted(sortedWithDuplicates(numbers));
          else sets[list]!.removeSorted(sortedWithDuplicates(numbers));
          sets.forEach((set, l) => expect([...set.numbers()]).toEqual([...models[l]!].sort((a, b) => a - b)));
        }
      }),
      { numRuns: 60 },
    );
  });

  it('switches exactly at the thresholds, counting only the numbers an add makes new', () => {
    const set = new NumberSet();
    set.addSorted(fill(SORTED_LIST_NUMBERS_MAX - 1));
    expect(set.isSortedLayout).toBe(true);
    // Already present, duplicated, and one new: exactly at the maximum it stays sorted.
    const atMax = fill(SORTED_LIST_NUMBERS_MAX);
    expect(set.addSorted(sortedWithDuplicates([...atMax, ...atMax.subarray(0, 50)]))).toBe(1);
    expect(set.isSortedLayout).toBe(true);
    expect(set.addSorted(Float64Array.of(201 * AREA_REST_MODULUS + 7))).toBe(1);
    expect(set.isSortedLayout).toBe(false);
    expect(set.size).toBe(SORTED_LIST_NUMBERS_MAX + 1);
    const removable = fill(SORTED_LIST_NUMBERS_MAX);
    expect(set.removeSorted(removable.subarray(0, SORTED_LIST_NUMBERS_MAX - SORTED_LIST_NUMBERS_RETURN))).toBe(SORTED_LIST_NUMBERS_MAX - SORTED_LIST_NUMBERS_RETURN);
    expect(set.size).toBe(SORTED_LIST_NUMBERS_RETURN + 1);
    expect(set.isSortedLayout).toBe(false); // between the thresholds: it stays where it is
    expect(set.addSorted(removable.subarray(0, 10))).toBe(10);
    expect(set.isSortedLayout).toBe(false);
    expect(set.removeSorted(removable.subarray(SORTED_LIST_NUMBERS_MAX - 11))).toBe(11);
    expect(set.size).toBe(SORTED_LIST_NUMBERS_RETURN);
    expect(set.isSortedLayout).toBe(true);
    expect(set.has(201 * AREA_REST_MODULUS + 7)).toBe(true);
    expect(set.has(removable[10]!)).toBe(false);
    expect(set.has(removable[SORTED_LIST_NUMBERS_MAX - 12]!)).toBe(true);
    expect(set.has(removable[SORTED_LIST_NUMBERS_MAX - 1]!)).toBe(false);
  });

  it('keeps a shared view of its sorted numbers unchanged through later adds and removes, and other lists out of its slot', () => {
    const pool = new SortedPool();
    const unpin = pool.pin();
    const set = new NumberSet(pool);
    const others = Array.from({ length: 4 }, () => new NumberSet(pool));
    set.addSorted(fill(100));
    const view = set.shareSorted()!;
    const copy = view.slice();
    set.removeSorted(fill(10));
    set.addSorted(Float64Array.of(503 * AREA_REST_MODULUS + 1));
    set.removeSorted(fill(95)); // frees its slots while the pool is pinned
    for (const other of others) other.addSorted(fill(100, 201)); // would take a freed slot of the same size
    expect(view).toEqual(copy);
    unpin();
    set.addSorted(fill(100));
    expect(set.size).toBe(101);
    const again = set.shareSorted()!;
    const againCopy = again.slice();
    set.addSorted(fill(SORTED_LIST_NUMBERS_MAX + 1, 999)); // moves to the probe table, reading the shared array
    expect(again).toEqual(againCopy);
    expect(set.has(503 * AREA_REST_MODULUS + 1)).toBe(true);
    expect(set.shareSorted()).toBeUndefined();
  });

  it('a released list answers as empty in either layout and its slot, held back while pinned, goes to another list after', () => {
    const pool = new SortedPool();
    const small = new NumberSet(pool);
    small.addSorted(fill(100));
    const large = new NumberSet(pool);
    large.addSorted(fill(SORTED_LIST_NUMBERS_MAX + 1, 201));
    const view = small.shareSorted()!;
    const copy = view.slice();
    const unpin = pool.pin();
    small.release();
    large.release();
    for (const set of [small, large]) {
      expect(set.size).toBe(0);
      expect(set.has(fill(1)[0]!) || set.has(fill(1, 201)[0]!)).toBe(false);
    }
    const other = new NumberSet(pool);
    other.addSorted(fill(100, 999)); // the size class of the released slot
    expect(view).toEqual(copy);
    unpin();
    const next = new NumberSet(pool);
    next.addSorted(fill(100, 999));
    expect(view).not.toEqual(copy); // the slot went back to the pool once unpinned
  });

  it('a one-number list and an emptied list answer as such in either layout', () => {
    const set = new NumberSet();
    expect(set.has(503 * AREA_REST_MODULUS + 1)).toBe(false);
    set.addSorted(Float64Array.of(503 * AREA_REST_MODULUS + 1));
    expect(set.has(503 * AREA_REST_MODULUS + 1)).toBe(true);
    expect(set.hasRest(503, 1)).toBe(true);
    expect(set.hasRest(503, 2)).toBe(false);
    set.addSorted(fill(SORTED_LIST_NUMBERS_MAX + 1, 201));
    expect(set.removeSorted(fill(SORTED_LIST_NUMBERS_MAX + 1, 201))).toBe(SORTED_LIST_NUMBERS_MAX + 1);
    expect(set.isSortedLayout).toBe(true);
    expect(set.removeSorted(Float64Array.of(503 * AREA_REST_MODULUS + 1))).toBe(1);
    expect(set.size).toBe(0);
    expect(set.has(503 * AREA_REST_MODULUS + 1)).toBe(false);
    expect([...set.areaRests()]).toEqual([]);
  });
});
