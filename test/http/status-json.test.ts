// The hand-written status body must be exactly what JSON.stringify writes for the same entries.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AssertionError } from '../../src/assert.js';
import type { StatusEntry } from '../../src/engine/types.js';
import { statusJson } from '../../src/http/status-json.js';

const entry: fc.Arbitrary<StatusEntry> = fc.record({
  phone: fc.stringMatching(/^[2-9]\d{2}[2-9]\d{6}$/),
  onList: fc.boolean(),
  list: fc.constantFrom('project' as const, 'master' as const, null),
});

describe('statusJson', () => {
  it('writes what JSON.stringify writes', () => {
    expect(statusJson([])).toBe('[]');
    fc.assert(fc.property(fc.array(entry, { maxLength: 20 }), (entries) => statusJson(entries) === JSON.stringify(entries)), { numRuns: 500 });
  });

  it('refuses an entry outside the closed sets rather than write bad JSON', () => {
    expect(() => statusJson([{ phone: '503"936718', onList: true, list: 'nope' as never }])).toThrow(/unknown list/);
    expect(() => statusJson([{ phone: '50393671870', onList: true, list: null }])).toThrow(/10 digits/);
    expect(() => statusJson([{ phone: '50393671870', onList: true, list: null }])).toThrow(AssertionError);
  });
});
