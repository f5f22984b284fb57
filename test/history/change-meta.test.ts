// The history fields a change carries (source, reason, requestedAt): what is accepted, what is
// refused with INVALID_HISTORY_FIELD, and that nothing is returned when nothing is given.

import { describe, expect, it } from 'vitest';
import { HISTORY_REQUESTED_AT_AHEAD_MS_MAX } from '../../src/constants.js';
import { checkChangeMeta } from '../../src/history/change-meta.js';

const NOW = Date.parse('2026-12-07T12:00:00Z');

describe('checkChangeMeta', () => {
  it('returns undefined when no field is given, so such changes store nothing more', () => {
    expect(checkChangeMeta({}, NOW)).toBeUndefined();
    expect(checkChangeMeta({ source: undefined, reason: undefined, requestedAt: undefined }, NOW)).toBeUndefined();
  });

  it.each([
    [{ source: 'ivr' }, { source: 'ivr' }],
    [{ source: 'a' }, { source: 'a' }],
    [{ source: 'web_form-2' }, { source: 'web_form-2' }],
    [{ source: 'x'.repeat(32) }, { source: 'x'.repeat(32) }],
    [{ reason: '' }, { reason: '' }],
    [{ reason: 'Ms. Doe asked on the call, "never again"' }, { reason: 'Ms. Doe asked on the call, "never again"' }],
    [{ reason: 'é'.repeat(200) }, { reason: 'é'.repeat(200) }],
    [{ requestedAt: '2026-03-01T15:04:05Z' }, { requestedAt: Date.parse('2026-03-01T15:04:05Z') }],
    [{ requestedAt: '2026-03-01T15:04:05.123+02:00' }, { requestedAt: Date.parse('2026-03-01T13:04:05.123Z') }],
    [{ requestedAt: '2026-03-01T15:04Z' }, { requestedAt: Date.parse('2026-03-01T15:04:00Z') }],
    [{ requestedAt: NOW - 1 }, { requestedAt: NOW - 1 }],
    [{ requestedAt: NOW + HISTORY_REQUESTED_AT_AHEAD_MS_MAX }, { requestedAt: NOW + HISTORY_REQUESTED_AT_AHEAD_MS_MAX }],
  ])('accepts %j', (input, expected) => {
    expect(checkChangeMeta(input, NOW)).toEqual(expected);
  });

  it.each([
    ['an empty source', { source: '' }],
    ['a source of 33 characters', { source: 'x'.repeat(33) }],
    ['a source in capitals', { source: 'IVR' }],
    ['a source with a space', { source: 'web form' }],
    ['a source that is not text', { source: 5 as unknown as string }],
    ['a reason of 201 characters', { reason: 'x'.repeat(201) }],
    ['a reason that is not text', { reason: {} as unknown as string }],
    ['a requestedAt without a zone', { requestedAt: '2026-03-01T15:04:05' }],
    ['a requestedAt of a date alone', { requestedAt: '2026-03-01' }],
    ['a requestedAt that is no date', { requestedAt: '2026-02-30T25:04:05Z' }],
    ['a requestedAt in words', { requestedAt: 'yesterday' }],
    ['a requestedAt more than 5 minutes ahead', { requestedAt: NOW + HISTORY_REQUESTED_AT_AHEAD_MS_MAX + 1 }],
    ['a requestedAt as text more than 5 minutes ahead', { requestedAt: '2026-12-07T12:05:01Z' }],
    ['a requestedAt before 1970', { requestedAt: -1 }],
    ['a fractional requestedAt', { requestedAt: 1.5 }],
  ])('refuses %s with INVALID_HISTORY_FIELD', (_, input) => {
    expect(() => checkChangeMeta(input, NOW)).toThrow(expect.objectContaining({ code: 'INVALID_HISTORY_FIELD' }));
  });

  it('never puts the reason itself in the message (it may name a person)', () => {
    const reason = `Jane Roe ${'x'.repeat(200)}`;
    expect(() => checkChangeMeta({ reason }, NOW)).toThrow(expect.objectContaining({ message: expect.not.stringContaining('Jane Roe') }));
  });
});
