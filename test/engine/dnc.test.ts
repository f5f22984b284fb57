import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { openDnc, InvalidPhoneError, IdncError } from '../../src/index.js';

describe('add and remove', () => {
  it('adds numbers and reports how many changed; a repeated add changes nothing', async () => {
    const dnc = await openDnc();
    expect(await dnc.add('5039367187,7075276405')).toMatchObject({ changed: 2, skipped: 0 });
    expect(await dnc.add('5039367187,7075276405,5039367187')).toMatchObject({ changed: 0, skipped: 0 });
    expect(dnc.count()).toBe(2);
  });

  it('counts a number given twice in one add once', async () => {
    const dnc = await openDnc();
    expect((await dnc.add(['5039367187', ' 5039367187 '])).changed).toBe(1);
  });

  it('is atomic by default: one invalid entry changes nothing and names the entries', async () => {
    const dnc = await openDnc();
    const attempt = dnc.add('5039367187,BADNUMBER,7075276405');
    await expect(attempt).rejects.toBeInstanceOf(InvalidPhoneError);
    await expect(attempt).rejects.toMatchObject({ code: 'INVALID_PHONE', invalidCount: 1 });
    await expect(attempt).rejects.toThrowError(/"BADNUMBER"/);
    expect(dnc.count()).toBe(0);
  });

  it('with ignoreInvalid applies the valid entries and reports the skipped ones', async () => {
    const dnc = await openDnc();
    const result = await dnc.add('5039367187,BADNUMBER,7075276405', { ignoreInvalid: true });
    expect(result.changed).toBe(2);
    expect(result.skipped).toBe(1);
    expect(result.invalid.map((entry) => entry.entry)).toEqual(['BADNUMBER']);
    expect(dnc.count()).toBe(2);
  });

  it('removes only what is there; removing an absent number is not an error', async () => {
    const dnc = await openDnc();
    await dnc.add('5039367187');
    expect((await dnc.remove('5039367187,7075276405')).changed).toBe(1);
    expect((await dnc.remove('5039367187')).changed).toBe(0);
    expect(dnc.count()).toBe(0);
  });

  it('remove is atomic too', async () => {
    const dnc = await openDnc();
    await dnc.add('5039367187');
    await expect(dnc.remove('5039367187,503')).rejects.toBeInstanceOf(InvalidPhoneError);
    expect(dnc.isBlocked('5039367187')).toBe(true);
  });
});

describe('lists, projects and organisations', () => {
  it('keeps the master list and each project list apart', async () => {
    const dnc = await openDnc();
    await dnc.add('5039367187');
    await dnc.add('7075276405', { projId: 'spring-campaign' });
    expect(dnc.count()).toBe(1);
    expect(dnc.count({ projId: 'spring-campaign' })).toBe(1);
    expect(dnc.count({ projId: 'other' })).toBe(0);
    expect(dnc.count({ projId: '' })).toBe(1);
  });

  it('blocks a master-list number in every project; a project number only in its project', async () => {
    const dnc = await openDnc();
    await dnc.add('5039367187');
    await dnc.add('7075276405', { projId: 'p1' });
    expect(dnc.isBlocked('5039367187', { projId: 'p1' })).toBe(true);
    expect(dnc.isBlocked('5039367187', { projId: 'p2' })).toBe(true);
    expect(dnc.isBlocked('7075276405', { projId: 'p1' })).toBe(true);
    expect(dnc.isBlocked('7075276405', { projId: 'p2' })).toBe(false);
    expect(dnc.isBlocked('7075276405')).toBe(false);
  });

  it('reports status in request order with the blocking list', async () => {
    const dnc = await openDnc();
    await dnc.add('5039367187,2125550100');
    await dnc.add('7075276405,2125550100', { projId: 'p1' });
    expect(dnc.status('7075276405,5039367187,3125550199,2125550100', { projId: 'p1' })).toEqual([
      { phone: '7075276405', onList: true, list: 'project' },
      { phone: '5039367187', onList: true, list: 'master' },
      { phone: '3125550199', onList: false, list: null },
      { phone: '2125550100', onList: true, list: 'project' },
    ]);
    expect(dnc.status('7075276405')).toEqual([{ phone: '7075276405', onList: false, list: null }]);
  });

  it('status refuses invalid entries by default and skips them with ignoreInvalid', async () => {
    const dnc = await openDnc();
    expect(() => dnc.status('5039367187,12')).toThrowError(InvalidPhoneError);
    expect(dnc.status('5039367187,12', { ignoreInvalid: true })).toHaveLength(1);
  });

  it('never lets one organisation see another, even with the same projId', async () => {
    const dnc = await openDnc();
    await dnc.add('5039367187', { org: 'acme' });
    await dnc.add('7075276405', { org: 'acme', projId: 'p1' });
    expect(dnc.isBlocked('5039367187', { org: 'globex' })).toBe(false);
    expect(dnc.isBlocked('7075276405', { org: 'globex', projId: 'p1' })).toBe(false);
    expect(dnc.count({ org: 'globex', projId: 'p1' })).toBe(0);
    expect(dnc.isBlocked('5039367187')).toBe(false);
    expect(dnc.isBlocked('5039367187', { org: 'acme', projId: 'p1' })).toBe(true);
  });

  it.each([
    ['too long', 'x'.repeat(65)],
    ['a space', 'my project'],
    ['a slash', '../etc'],
    ['unicode', 'projé'],
  ])('rejects a projId with %s and changes nothing', async (_label, projId) => {
    const dnc = await openDnc();
    const attempt = dnc.add('5039367187', { projId });
    await expect(attempt).rejects.toBeInstanceOf(IdncError);
    await expect(attempt).rejects.toMatchObject({ code: 'INVALID_PARAMETER' });
    await expect(attempt).rejects.toThrowError(/projId/);
    expect(dnc.count()).toBe(0);
  });

  it('accepts a projId of exactly 64 allowed characters', async () => {
    const dnc = await openDnc();
    const projId = 'A-z_0.9'.repeat(10).slice(0, 64);
    await dnc.add('5039367187', { projId });
    expect(dnc.count({ projId })).toBe(1);
  });

  it('isBlocked validates org and projId even when no such list exists', async () => {
    const dnc = await openDnc();
    await dnc.add('5039367187', { projId: 'p1' });
    expect(() => dnc.isBlocked('5039367187', { projId: 'no such/project' })).toThrowError(/projId/);
    expect(() => dnc.isBlocked('5039367187', { org: 'no such org' })).toThrowError(/organisation/);
    expect(dnc.isBlocked('5039367187', { projId: 'p2' })).toBe(false);
    expect(dnc.isBlocked('5039367187', { org: 'other', projId: 'p1' })).toBe(false);
  });

  it('rejects an invalid organisation name', async () => {
    const dnc = await openDnc();
    expect(() => dnc.count({ org: 'a b' })).toThrowError(/organisation/);
  });
});

describe('isBlocked, scrub and close', () => {
  it('isBlocked throws on an invalid number instead of answering false', async () => {
    const dnc = await openDnc();
    expect(() => dnc.isBlocked('503936718')).toThrowError(/expected 10 digits, got 9/);
  });

  it('isBlocked without options answers from the default master list, however it was created', async () => {
    const dnc = await openDnc();
    expect(dnc.isBlocked(5039367187)).toBe(false); // no organisation yet
    await dnc.add('5039367187', { projId: 'p1' }); // creates organisation default through a project
    expect(dnc.isBlocked(5039367187)).toBe(false);
    await dnc.addNumbers(Float64Array.of(7075276405));
    expect(dnc.isBlocked(7075276405)).toBe(true);
    expect(dnc.isBlocked('7075276405')).toBe(true);
    expect(dnc.isBlocked(7075276405, {})).toBe(true);
    expect(dnc.isBlocked(7075276405, { org: 'other' })).toBe(false);
    expect(() => dnc.isBlocked(1075276405)).toThrowError(InvalidPhoneError);
    expect(() => dnc.isBlocked(7075276405.5)).toThrowError(InvalidPhoneError);
  });

  it('isBlocked(number) validates like its digits form, at every edge of the number range', async () => {
    const dnc = await openDnc();
    await dnc.addNumbers(Float64Array.of(2002000000, 5039367187, 9999999999));
    const edges = [2002000000, 2001999999, 2000000000, 1999999999, 5039367187, 5031999999, 5032000000, 9999999999,
      10000000000, 9999999999.5, -5039367187, 0, Number.NaN, Infinity, -Infinity, 5e9 + 0.25, 2**53,
      1999999999.9999998, 2002000000.0000002, -0, Number.MIN_VALUE, Number.MAX_VALUE,
      // number / 10^7 past 2^31: `| 0` wraps to an area code in 200-999 (the rest gives it away).
      (2 ** 32 + 503) * 1e7 + 9367187, (2 ** 31 + 503) * 1e7 + 9367187, (2 ** 33 + 707) * 1e7 + 5276405, -(2 ** 32 - 503) * 1e7 + 9367187];
    const random = fc.sample(fc.oneof(
      fc.integer({ min: 1_900_000_000, max: 2_100_000_000 }),
      fc.double({ min: 0, max: 2e10 }),
      fc.double({ min: -1e18, max: 1e18 }),
      fc.integer({ min: 0, max: 2 ** 20 }).map((high) => high * 2 ** 32 * 1e7 + 5039367187),
    ), { numRuns: 4000, seed: 3 });
    for (const value of [...edges, ...random]) {
      const digits = Number.isInteger(value) && value >= 0 ? String(value) : `${value}x`;
      let expected: boolean | 'throws';
      try {
        expected = dnc.isBlocked(digits);
      } catch (error) {
        expect(error).toBeInstanceOf(InvalidPhoneError);
        expected = 'throws';
      }
      if (expected === 'throws') expect(() => dnc.isBlocked(value), String(value)).toThrowError(InvalidPhoneError);
      else expect(dnc.isBlocked(value), String(value)).toBe(expected);
    }
  });

  it('scrub returns the blocked entries in input order', async () => {
    const dnc = await openDnc();
    await dnc.add('7075276405,5039367187');
    const result = dnc.scrub('7075276405,3125550199,5039367187,7075276405');
    expect(result.blocked).toEqual(['7075276405', '5039367187', '7075276405']);
    expect(result.checked).toBe(4);
  });

  it('refuses every call after close', async () => {
    const dnc = await openDnc();
    await dnc.close();
    expect(() => dnc.count()).toThrowError(/closed/);
    await expect(dnc.add('5039367187')).rejects.toMatchObject({ code: 'CLOSED' });
    expect(() => dnc.isBlocked(5039367187)).toThrowError(expect.objectContaining({ code: 'CLOSED' }));
    expect(() => dnc.isBlocked('5039367187')).toThrowError(expect.objectContaining({ code: 'CLOSED' }));
    expect(() => dnc.isBlocked(5039367187, { projId: 'p1' })).toThrowError(expect.objectContaining({ code: 'CLOSED' }));
  });
});
