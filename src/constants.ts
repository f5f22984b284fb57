// Every limit and format constant of idnc, with its unit and the reason for it.
// Names carry units and qualifiers last (`entryDisplayCharsMax`), so a reader never guesses.

/** Digits in a North American (NANP) number: 3 area code + 3 exchange + 4 line. */
export const PHONE_DIGITS = 10;

/** Digits of the area code, the part that selects a bitmap. */
export const AREA_CODE_DIGITS = 3;

/**
 * Area codes are 200-999 (first digit 2-9), so a direct-indexed table of this many slots
 * covers every valid area code with one array access and no hashing.
 */
export const AREA_CODE_SLOTS = 1000;

/** The 7-digit rest (exchange + line) is below this; it is the 32-bit value stored in Roaring. */
export const AREA_REST_MODULUS = 10_000_000;

/** Invalid entries reported in one error: enough to fix a file, bounded so an error stays small. */
export const INVALID_ENTRIES_REPORTED_MAX = 100;

/** An invalid entry is quoted up to this many characters: a 1 MB garbage entry must not echo back. */
export const ENTRY_DISPLAY_CHARS_MAX = 32;

/** Project ids: 1-64 characters of A-Z a-z 0-9 . _ - (the public API's own limits). */
export const PROJECT_ID_CHARS_MAX = 64;
export const PROJECT_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

/** Organisation ids follow the project id rules: they appear in file names and key records. */
export const ORGANISATION_ID_CHARS_MAX = 64;
export const ORGANISATION_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

/** The organisation used when the caller names none (the library's single-tenant default). */
export const DEFAULT_ORGANISATION = 'default';

/**
 * Below this many numbers a scrub probes number by number; from here on it builds query bitmaps
 * and intersects them, which wins once the per-call overhead of set operations is amortised
 * (measured by bench/scrub.bench.ts).
 */
export const SCRUB_SET_OPERATIONS_NUMBERS_MIN = 2048;
