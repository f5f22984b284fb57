// The state digest is what followers and replicas compare: two stores holding the same numbers in
// the same lists must digest equal whatever layout each list is in (sorted array or probe table,
// see src/store/number-set.ts), and differ when a number differs.

import { describe, expect, it } from 'vitest';
import { AREA_REST_MODULUS, SORTED_LIST_NUMBERS_MAX } from '../../src/constants.js';
import { stateDigest } from '../../src/persist/state-digest.js';
import { DncStore } from '../../src/store/dnc-store.js';

const ADDRESS = { org: 'acme', projId: 'spring' } as const;

function numbers(count: number, from = 0): Float64Array {
  return Float64Array.from({ length: count }, (_, i) => (201 + ((from + i) % 3)) * AREA_REST_MODULUS + from + i);
}

describe('stateDigest', () => {
  it('is the same for a list in the probe-table layout and the same numbers in the sorted layout', () => {
    const grown = new DncStore();
    const list = grown.listForWrite(ADDRESS);
    list.addSorted(numbers(SORTED_LIST_NUMBERS_MAX + 500).sort());
    list.removeSorted(numbers(1000).sort()); // between the thresholds: stays in the probe table
    const direct = new DncStore();
    direct.listForWrite(ADDRESS).addSorted(numbers(SORTED_LIST_NUMBERS_MAX - 500, 1000).sort());
    expect(list.isSortedLayout).toBe(false);
    expect(direct.list(ADDRESS)!.isSortedLayout).toBe(true);
    expect(list.size).toBe(direct.list(ADDRESS)!.size);
    expect(stateDigest(grown)).toBe(stateDigest(direct));
    direct.listForWrite(ADDRESS).removeSorted(numbers(1, 1000));
    direct.listForWrite(ADDRESS).addSorted(numbers(1, 1000 + SORTED_LIST_NUMBERS_MAX));
    expect(stateDigest(grown)).not.toBe(stateDigest(direct));
  });
});
