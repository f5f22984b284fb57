// Which list blocks a number, checked against a model of plain Sets: every way of asking
// (one number, the resolved lists, a code per number, the blocked subset) gives the same answer, a
// number is blocked for a project when it is on that project's list or on the master list, the
// project wins when it is on both, and without a project (or for an unknown one) only the master
// list counts; an unknown organisation blocks nothing.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DncStore } from '../../src/store/dnc-store.js';
import { MASTER_LIST } from '../../src/store/list-id.js';
import {
  BLOCKING_LIST_OF_CODE,
  blockingCodes,
  blockingListIn,
  isBlockedNumber,
  resolveLists,
  scrubNumbers,
  type BlockingList,
} from '../../src/store/lookup.js';

const ORG = 'acme';
const PROJECT = 'p1';
/** A small pool of valid numbers over a few area codes, so lists and queries overlap often. */
const POOL = [2125550100, 2125550101, 2125559999, 3105550000, 3105550001, 5039367187, 9195550000, 9195550042];

const poolNumber = fc.constantFrom(...POOL);

function sorted(numbers: readonly number[]): Float64Array {
  return Float64Array.from([...new Set(numbers)].sort((a, b) => a - b));
}

function expected(number: number, master: ReadonlySet<number>, project: ReadonlySet<number> | null): BlockingList {
  if (project !== null && project.has(number)) return 'project';
  return master.has(number) ? 'master' : null;
}

describe('which list blocks a number', () => {
  it('gives the model\'s answer whichever way it is asked', () => {
    fc.assert(
      fc.property(fc.array(poolNumber), fc.array(poolNumber), fc.array(poolNumber, { minLength: 1 }), fc.constantFrom(PROJECT, 'p2', MASTER_LIST), (masterNumbers, projectNumbers, queries, projId) => {
        const store = new DncStore();
        store.listForWrite({ org: ORG, projId: MASTER_LIST }).addSorted(sorted(masterNumbers));
        if (projectNumbers.length > 0) store.listForWrite({ org: ORG, projId: PROJECT }).addSorted(sorted(projectNumbers));
        const master = new Set(masterNumbers);
        const project = projId === PROJECT && projectNumbers.length > 0 ? new Set(projectNumbers) : null;
        const address = { org: ORG, projId };
        const lists = resolveLists(store, address);
        const asked = Float64Array.from(queries);
        const codes = new Uint8Array(asked.length);
        blockingCodes(store, address, asked, asked.length, codes);
        const want = queries.map((number) => expected(number, master, project));
        expect(queries.map((number) => blockingListIn(lists, number))).toEqual(want);
        expect([...codes].map((code) => BLOCKING_LIST_OF_CODE[code])).toEqual(want);
        expect(queries.map((number) => isBlockedNumber(store, ORG, projId, number))).toEqual(want.map((list) => list !== null));
        expect([...scrubNumbers(store, address, asked)]).toEqual(queries.filter((_, index) => want[index] !== null));
      }),
    );
  });

  it('blocks nothing in an organisation that has no list', () => {
    const store = new DncStore();
    store.listForWrite({ org: ORG, projId: MASTER_LIST }).addSorted(sorted(POOL));
    const address = { org: 'other', projId: MASTER_LIST };
    const asked = Float64Array.from(POOL);
    const codes = new Uint8Array(asked.length).fill(7);
    blockingCodes(store, address, asked, asked.length, codes);
    expect([...codes]).toEqual(POOL.map(() => 0));
    expect(POOL.some((number) => isBlockedNumber(store, 'other', undefined, number))).toBe(false);
    expect(scrubNumbers(store, address, asked).length).toBe(0);
  });

  it('refuses a malformed organisation or project only when it names no list', () => {
    const store = new DncStore();
    expect(() => isBlockedNumber(store, 'bad org!', undefined, POOL[0]!)).toThrow();
    store.listForWrite({ org: ORG, projId: MASTER_LIST }).addSorted(sorted(POOL));
    expect(() => isBlockedNumber(store, ORG, 'bad project!', POOL[0]!)).toThrow();
  });
});
