// The sorted index of an organisation's project ids against a model (a sorted array): any mix of
// adds and deletes, in any order, keeps the same ids in the same order, each with its value, across
// block splits and emptied blocks, and `after` starts right after any name, present or not.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LIST_NAMES_BLOCK_MAX } from '../../src/constants.js';
import { SortedNames } from '../../src/store/sorted-names.js';

const name = fc.integer({ min: 0, max: 3 * LIST_NAMES_BLOCK_MAX }).map((i) => `p${i}`);
const step = fc.record({ add: fc.boolean(), name });

describe('SortedNames', () => {
  it('matches a sorted array under adds and deletes, and pages after any name', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 4 * LIST_NAMES_BLOCK_MAX }), fc.array(name, { maxLength: 5 }), (steps, probes) => {
        const names = new SortedNames();
        const model = new Set<string>();
        for (const { add, name: id } of steps) {
          expect(add ? names.add(id) : names.delete(id)).toBe(add ? !model.has(id) : model.has(id));
          if (add) model.add(id);
          else model.delete(id);
        }
        const sorted = [...model].sort();
        expect(names.size).toBe(sorted.length);
        expect([...names.after('')]).toEqual(sorted);
        for (const after of probes) expect([...names.after(after)]).toEqual(sorted.filter((id) => id > after));
      }),
      { numRuns: 60 },
    );
  });

  it('keeps each id\'s value beside it through block splits, deletes and emptied blocks', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 4 * LIST_NAMES_BLOCK_MAX }), fc.array(name, { maxLength: 5 }), (steps, probes) => {
        const names = new SortedNames<{ id: string }>();
        const model = new Map<string, { id: string }>();
        for (const { add, name: id } of steps) {
          const value = { id };
          if (add && names.add(id, value)) model.set(id, value);
          if (!add && names.delete(id)) model.delete(id);
        }
        const entries = (after: string): [string, { id: string } | undefined][] => Array.from(names.entriesAfter(after), ({ name: id, value }) => [id, value]); // each entry read as it comes: the object is reused
        const expected = (after: string): [string, { id: string }][] => [...model].filter(([id]) => id > after).sort(([a], [b]) => (a < b ? -1 : 1));
        expect(entries('')).toEqual(expected(''));
        for (const [id, value] of entries('')) expect(value).toBe(model.get(id));
        for (const after of probes) expect(entries(after)).toEqual(expected(after));
      }),
      { numRuns: 60 },
    );
    // Ids arriving in reverse all go into the first block, which splits again and again.
    const names = new SortedNames<number>();
    const ids = Array.from({ length: 3 * LIST_NAMES_BLOCK_MAX }, (_, i) => `p${String(i).padStart(5, '0')}`);
    for (let i = ids.length - 1; i >= 0; i--) names.add(ids[i]!, i);
    expect(Array.from(names.entriesAfter(''), ({ name: id, value }) => `${id}=${value}`)).toEqual(ids.map((id, i) => `${id}=${i}`));
  });

  it('appends ids that arrive in order (a snapshot load) and splits blocks that overflow', () => {
    const names = new SortedNames();
    const ids = Array.from({ length: 3 * LIST_NAMES_BLOCK_MAX + 7 }, (_, i) => `p${String(i).padStart(5, '0')}`);
    for (const id of ids) expect(names.add(id)).toBe(true);
    expect(names.add('p00000-late')).toBe(true);
    expect([...names.after('')]).toEqual([...ids, 'p00000-late'].sort());
    expect([...names.after(ids.at(-2)!)]).toEqual([ids.at(-1)]);
    for (const id of ids) expect(names.delete(id)).toBe(true);
    expect([...names.after('')]).toEqual(['p00000-late']);
    expect(names.delete('absent')).toBe(false);
  });
});
