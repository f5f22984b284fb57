// scrub must agree with per-number status on random inputs, small and large, including inputs that
// exercise the per-area delta and its merges.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AREA_DELTA_ENTRIES_MAX } from '../../src/constants.js';
import { openDnc, type Dnc } from '../../src/index.js';

/** Numbers clustered in a few area codes and exchanges, so that hits are common. */
const clusteredDigits = fc
  .record({
    area: fc.constantFrom(212, 503, 707, 999),
    exchange: fc.constantFrom(200, 555, 936, 999),
    line: fc.integer({ min: 0, max: 399 }),
  })
  .map(({ area, exchange, line }) => `${area}${exchange}${String(line).padStart(4, '0')}`);

function blockedByStatus(dnc: Dnc, digits: string[], projId: string): string[] {
  return dnc.status(digits, { projId }).filter((entry) => entry.onList).map((entry) => entry.phone);
}

describe('scrub', () => {
  it.each([
    ['small', 0, 100],
    ['large', AREA_DELTA_ENTRIES_MAX, AREA_DELTA_ENTRIES_MAX * 2],
  ])('agrees with status on random inputs (%s batches)', async (_size, minLength, maxLength) => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(clusteredDigits, { maxLength: 3000 }),
        fc.array(clusteredDigits, { maxLength: 500 }),
        fc.array(clusteredDigits, { maxLength: 300 }),
        fc.array(clusteredDigits, { minLength, maxLength }),
        fc.constantFrom('', 'p1', 'p2'),
        async (master, project, removed, query, projId) => {
          const dnc = await openDnc();
          await dnc.add(master);
          await dnc.add(project, { projId: 'p1' });
          await dnc.remove(removed);
          const result = dnc.scrub(query, { projId });
          expect(result.checked).toBe(query.length);
          expect(result.blocked).toEqual(blockedByStatus(dnc, query, projId));
        },
      ),
      { numRuns: 15 },
    );
  });

  it('returns nothing for an organisation that has no lists', async () => {
    const dnc = await openDnc();
    await dnc.add('5039367187');
    expect(dnc.scrub('5039367187', { org: 'nobody' }).blocked).toEqual([]);
  });

  it('refuses invalid entries by default and skips them with ignoreInvalid', async () => {
    const dnc = await openDnc();
    await dnc.add('5039367187');
    expect(() => dnc.scrub('5039367187,BADNUMBER')).toThrowError(/BADNUMBER/);
    const result = dnc.scrub('5039367187,BADNUMBER', { ignoreInvalid: true });
    expect(result).toMatchObject({ blocked: ['5039367187'], checked: 1, skipped: 1 });
  });
});
