// Validation and encoding of one 10-digit NANP number given as a range of a string.
// Works on char codes so that a whole phone list can be scanned without slicing a string per
// entry; a string is only made for the error report of an invalid entry.
//
// Encoding: the number is the integer value of its 10 digits (exact in a double). Roaring is
// 32-bit, so it is stored as area code (selects the bitmap) + 7-digit rest (the 32-bit value).

import { AssertionError } from '../assert.js';
import { AREA_REST_MODULUS, ENTRY_DISPLAY_CHARS_MAX, PHONE_DIGITS } from '../constants.js';

const CHAR_0 = 48;
const CHAR_1 = 49;
const CHAR_9 = 57;

/** Outcome of checking one entry: a number (>= 0) or one of these negative reasons. */
export const ENTRY_EMPTY = -1;
export const ENTRY_NON_DIGIT = -2;
export const ENTRY_WRONG_LENGTH = -3;
export const ENTRY_AREA_CODE_LEADING = -4;
export const ENTRY_EXCHANGE_LEADING = -5;

/** The whitespace String.prototype.trim removes: an entry is trimmed the same way. */
export function isWhitespaceCode(code: number): boolean {
  if (code === 32 || (code >= 9 && code <= 13)) return true;
  if (code < 128) return false;
  return (
    code === 0xa0 || code === 0x1680 || (code >= 0x2000 && code <= 0x200a) || code === 0x2028 ||
    code === 0x2029 || code === 0x202f || code === 0x205f || code === 0x3000 || code === 0xfeff
  );
}

/** First index of `text[start, end)` that is not whitespace (end if none). */
export function trimStart(text: string, start: number, end: number): number {
  while (start < end && isWhitespaceCode(text.charCodeAt(start))) start++;
  return start;
}

/** One past the last index of `text[start, end)` that is not whitespace (start if none). */
export function trimEnd(text: string, start: number, end: number): number {
  while (end > start && isWhitespaceCode(text.charCodeAt(end - 1))) end--;
  return end;
}

/**
 * Checks `text[start, end)` (already trimmed) and returns the number it encodes, or a negative
 * ENTRY_* reason. Reasons are ranked: non-digits first, then length, then NANP shape.
 */
export function checkEntry(text: string, start: number, end: number): number {
  const length = end - start;
  if (length === 0) return ENTRY_EMPTY;
  let value = 0;
  for (let i = start; i < end; i++) {
    const code = text.charCodeAt(i);
    if (code < CHAR_0 || code > CHAR_9) return ENTRY_NON_DIGIT;
    value = value * 10 + (code - CHAR_0);
  }
  if (length !== PHONE_DIGITS) return ENTRY_WRONG_LENGTH;
  if (text.charCodeAt(start) <= CHAR_1) return ENTRY_AREA_CODE_LEADING;
  if (text.charCodeAt(start + 3) <= CHAR_1) return ENTRY_EXCHANGE_LEADING;
  return value;
}

/** The human reason for a negative checkEntry outcome, naming what is wrong. */
export function describeEntryProblem(text: string, start: number, end: number, outcome: number): string {
  switch (outcome) {
    case ENTRY_EMPTY:
      return 'empty entry';
    case ENTRY_NON_DIGIT: {
      const offset = firstNonDigitOffset(text, start, end);
      const char = String.fromCodePoint(text.codePointAt(start + offset) ?? 0);
      return `contains ${JSON.stringify(char)} at position ${offset + 1}; only digits 0-9 are allowed`;
    }
    case ENTRY_WRONG_LENGTH:
      return `expected ${PHONE_DIGITS} digits, got ${end - start}`;
    case ENTRY_AREA_CODE_LEADING:
      return 'area code (1st digit) must be 2-9';
    case ENTRY_EXCHANGE_LEADING:
      return 'exchange (4th digit) must be 2-9';
    default:
      throw new AssertionError(`unexpected entry outcome ${outcome}`);
  }
}

function firstNonDigitOffset(text: string, start: number, end: number): number {
  for (let i = start; i < end; i++) {
    const code = text.charCodeAt(i);
    if (code < CHAR_0 || code > CHAR_9) return i - start;
  }
  return 0;
}

/** The entry as shown in errors: cut so that a huge garbage entry is never echoed whole. */
export function displayEntry(text: string, start: number, end: number): string {
  const cutEnd = Math.min(end, start + ENTRY_DISPLAY_CHARS_MAX);
  return text.slice(start, cutEnd);
}

const NUMBER_MIN = 2_000_000_000;
const NUMBER_MAX = 9_999_999_999;
/** The 7-digit rest of a valid number starts with an exchange digit of 2-9. */
const REST_MIN = 2_000_000;
/** AREA_REST_MODULUS under a module-local name: V8 folds a module's own const into optimised code. */
const REST_MODULUS = AREA_REST_MODULUS;

/**
 * Whether an integer is a valid 10-digit NANP number (area code and exchange start with 2-9).
 * Written without `%`: a floating-point modulo is a slow call on the single-lookup hot path.
 */
export function isValidNumber(number: number): boolean {
  if (!(number >= NUMBER_MIN && number <= NUMBER_MAX) || !Number.isInteger(number)) return false;
  return number - Math.floor(number / REST_MODULUS) * REST_MODULUS >= REST_MIN;
}

/** Valid area codes start with 2-9: 200 to 999. */
const AREA_CODE_MIN = 200;
const AREA_CODES_VALID = 800;

/**
 * isValidNumber for any double `number` split the cheap way: `areaCode = (number / 10^7) | 0` and
 * `rest = number - areaCode * 10^7`. True exactly when `number` is a valid 10-digit number:
 * - a valid number has areaCode 200-999, an integer rest of 2,000,000 or more (and below 10^7);
 * - NaN gives areaCode 0; a negative number or one below 2*10^9 an areaCode under 200; one from
 *   10^10 up an areaCode of 1000 or more, or, once number / 10^7 passes 2^31, a wrapped areaCode
 *   that may look valid, but then rest is off by a multiple of 2^32 * 10^7 and fails `(rest | 0)
 *   === rest`, which also fails a fractional rest (a number that is not an integer).
 * Integer compares instead of range checks on the double and Number.isInteger: fewer instructions
 * on the single-lookup hot path (Dnc.isBlocked), which at national scale lets the CPU overlap more
 * of the lookups' cache misses.
 */
export function isValidSplit(areaCode: number, rest: number): boolean {
  const restInteger = rest | 0;
  return (areaCode - AREA_CODE_MIN) >>> 0 < AREA_CODES_VALID && restInteger === rest && restInteger >= REST_MIN;
}

export function areaCodeOf(number: number): number {
  return Math.floor(number / REST_MODULUS);
}

export function restOf(number: number): number {
  return number % REST_MODULUS;
}

export function numberFromParts(areaCode: number, rest: number): number {
  return areaCode * REST_MODULUS + rest;
}

/** The 10 digits of a number: valid numbers never start with 0, so no padding is needed. */
export function formatDigits(number: number): string {
  return String(number);
}
