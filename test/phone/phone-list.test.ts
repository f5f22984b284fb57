import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { INVALID_ENTRIES_REPORTED_MAX } from '../../src/constants.js';
import { InvalidPhoneError } from '../../src/errors.js';
import { parsePhone, parsePhoneArray, parsePhoneInput, parsePhoneList, requireValid } from '../../src/phone/phone-list.js';

describe('a single phone number', () => {
  const valid: [string, number][] = [
    ['5039367187', 5039367187],
    ['  5039367187', 5039367187],
    ['5039367187\t\r\n', 5039367187],
    ['\u00a05039367187\u3000', 5039367187],
    ['2002000000', 2002000000],
    ['9999999999', 9999999999],
  ];
  it.each(valid)('accepts %j', (text, expected) => {
    expect(parsePhone(text)).toBe(expected);
  });

  const invalid: [string, string, RegExp][] = [
    ['nine digits', '503936718', /"503936718": expected 10 digits, got 9/],
    ['eleven digits', '50393671870', /expected 10 digits, got 11/],
    ['a +1 prefix', '+15039367187', /contains "\+" at position 1/],
    ['a leading 1', '15039367187', /expected 10 digits, got 11/],
    ['letters', '503936718a', /contains "a" at position 10/],
    ['inner space', '503 9367187', /contains " " at position 4/],
    ['dashes', '503-936-7187', /contains "-" at position 4/],
    ['area code starting with 0', '0039367187', /area code \(1st digit\) must be 2-9/],
    ['area code starting with 1', '1039367187', /area code \(1st digit\) must be 2-9/],
    ['exchange starting with 0', '5030367187', /exchange \(4th digit\) must be 2-9/],
    ['exchange starting with 1', '5031367187', /exchange \(4th digit\) must be 2-9/],
    ['fullwidth unicode digits', '５０３９３６７１８７', /only digits 0-9 are allowed/],
    ['arabic-indic digits', '٥٠٣٩٣٦٧١٨٧', /only digits 0-9 are allowed/],
    ['empty', '', /empty entry/],
    ['only whitespace', '   ', /empty entry/],
    ['an emoji', '50393671😀', /contains "😀" at position 9/],
  ];
  it.each(invalid)('rejects %s', (_label, text, message) => {
    expect(() => parsePhone(text)).toThrowError(message);
    try {
      parsePhone(text);
    } catch (error) {
      expect(error).toBeInstanceOf(InvalidPhoneError);
      expect((error as InvalidPhoneError).code).toBe('INVALID_PHONE');
    }
  });

  it.each([
    [5039367187, true],
    [2002000000, true],
    [9999999999, true],
    [1999999999, false],
    [5031367187, false],
    [10000000000, false],
    [503936718.5, false],
    [Number.NaN, false],
    [-5039367187, false],
  ])('accepts the integer %d only if it is a valid number: %s', (number, valid) => {
    if (valid) expect(parsePhone(number)).toBe(number);
    else expect(() => parsePhone(number)).toThrowError(InvalidPhoneError);
  });

  it('quotes a very long entry cut to 32 characters', () => {
    const huge = '7'.repeat(1_000_000);
    expect(() => parsePhone(huge)).toThrowError(`"${'7'.repeat(32)}": expected 10 digits, got 1000000`);
  });
});

describe('a comma-separated phone list', () => {
  it('keeps valid numbers in order, duplicates included', () => {
    const list = parsePhoneList('5039367187,7075276405,5039367187');
    expect(Array.from(list.numbers)).toEqual([5039367187, 7075276405, 5039367187]);
    expect(list.invalidCount).toBe(0);
  });

  it('skips empty entries: a trailing comma, doubled commas, blanks', () => {
    const list = parsePhoneList(',5039367187,, ,7075276405,');
    expect(Array.from(list.numbers)).toEqual([5039367187, 7075276405]);
    expect(list.invalidCount).toBe(0);
  });

  it('parses an empty string as an empty list', () => {
    expect(parsePhoneList('').numbers.length).toBe(0);
  });

  it('trims whitespace around each entry', () => {
    expect(Array.from(parsePhoneList(' 5039367187 ,\t7075276405\n').numbers)).toEqual([5039367187, 7075276405]);
  });

  it('reports each invalid entry with its position and reason', () => {
    const list = parsePhoneList('5039367187,BADNUMBER,,503936718');
    expect(Array.from(list.numbers)).toEqual([5039367187]);
    expect(list.invalidCount).toBe(2);
    expect(list.invalid).toEqual([
      { index: 1, entry: 'BADNUMBER', reason: 'contains "B" at position 1; only digits 0-9 are allowed' },
      { index: 2, entry: '503936718', reason: 'expected 10 digits, got 9' },
    ]);
  });

  it(`reports at most ${INVALID_ENTRIES_REPORTED_MAX} invalid entries but counts them all`, () => {
    const entries = Array.from({ length: 250 }, (_, i) => `bad${i}`);
    const list = parsePhoneList(entries.join(','));
    expect(list.invalidCount).toBe(250);
    expect(list.invalid).toHaveLength(INVALID_ENTRIES_REPORTED_MAX);
    expect(list.invalid[99]!.entry).toBe('bad99');
  });

  it('parses 100,000 numbers', () => {
    const entries = Array.from({ length: 100_000 }, (_, i) => String(2002000000 + i));
    const list = parsePhoneList(entries.join(','));
    expect(list.numbers.length).toBe(100_000);
    expect(list.numbers[99_999]).toBe(2002000000 + 99_999);
  });

  it('requireValid refuses a list with invalid entries unless asked to skip them', () => {
    const list = parsePhoneList('5039367187,BADNUMBER');
    expect(() => requireValid(list, false)).toThrowError(/invalid phone number "BADNUMBER"/);
    expect(() => requireValid(list, true)).not.toThrow();
  });

  it('agrees with entry-by-entry parsing on random lists (fast path and general path)', () => {
    const entry = fc.oneof(
      fc.stringMatching(/^[2-9]\d{2}[2-9]\d{6}$/),
      fc.stringMatching(/^\d{9,11}$/),
      fc.stringMatching(/^[ \t]*[2-9]\d{2}[0-9]\d{6}[ \t]*$/),
      fc.string({ maxLength: 12 }),
      fc.constant(''),
    );
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 30 }), (entries) => {
        const text = entries.join(',');
        const reference = parsePhoneArray(text.split(','));
        const parsed = parsePhoneList(text);
        expect(Array.from(parsed.numbers)).toEqual(Array.from(reference.numbers));
        expect(parsed.invalid).toEqual(reference.invalid);
        expect(parsed.invalidCount).toBe(reference.invalidCount);
      }),
      { numRuns: 500 },
    );
  });

  it('treats array elements as whole entries (commas inside are invalid)', () => {
    const list = parsePhoneArray(['5039367187', '7075276405,5039367187', '']);
    expect(Array.from(list.numbers)).toEqual([5039367187]);
    expect(list.invalidCount).toBe(1);
  });
});

describe('parsePhoneInput', () => {
  it('refuses what is neither a string nor an array with INVALID_PARAMETER, naming what it expects', () => {
    for (const input of [5039367187, null, { phone: '5039367187' }]) {
      expect(() => parsePhoneInput(input as never)).toThrow(expect.objectContaining({ code: 'INVALID_PARAMETER', message: expect.stringContaining('comma-separated string or an array') }));
    }
  });
});
