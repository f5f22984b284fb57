// US business days between two instants, for the do-not-call request report: a request must be
// honoured within 10 business days (47 CFR 64.1200(d)(3)), and weekends and US federal holidays
// (5 U.S.C. 6103) are not business days. A holiday that falls on a Saturday is observed on the
// Friday before, one on a Sunday on the Monday after (so New Year's Day of a year can be observed on
// December 31 of the year before). The days are calendar days in one IANA time zone: the day a
// request arrives is day 0, and each business day after it, up to and including the day the change
// became effective, counts one.
//
// Counting is arithmetic (weekdays by formula, then the observed holidays in the range), not a walk
// over every day, so a report of a million rows spanning years stays cheap.

import { assert } from '../assert.js';

const MS_PER_DAY = 86_400_000;
/** 1970-01-01, day 0 of the epoch day numbers below, was a Thursday (getUTCDay() 4). */
const EPOCH_WEEKDAY = 4;
const SATURDAY = 6;
const SUNDAY = 0;
const MONDAY = 1;
const THURSDAY = 4;
/** Juneteenth National Independence Day is a federal holiday from 2021 on. */
const JUNETEENTH_FIRST_YEAR = 2021;
/** The holidays of 5 U.S.C. 6103 took their present Monday dates in 1971 (the Uniform Monday Holiday Act). */
export const BUSINESS_DAY_YEAR_MIN = 1971;
export const BUSINESS_DAY_YEAR_MAX = 9999;

/** A US federal holiday: its name and the day (epoch day number) it is observed on. */
export interface ObservedHoliday {
  readonly name: string;
  readonly day: number;
}

/** The epoch day number of a calendar date (month 1-12). */
export function dayNumber(year: number, month: number, day: number): number {
  return Date.UTC(year, month - 1, day) / MS_PER_DAY;
}

function weekday(day: number): number {
  return (((day + EPOCH_WEEKDAY) % 7) + 7) % 7;
}

/** The day of the nth (1-based) `weekdayWanted` of a month; n = -1 is the last one. */
function nthWeekday(year: number, month: number, weekdayWanted: number, n: number): number {
  if (n > 0) {
    const first = dayNumber(year, month, 1);
    return first + ((weekdayWanted - weekday(first) + 7) % 7) + 7 * (n - 1);
  }
  const last = dayNumber(year, month + 1, 0);
  return last - ((weekday(last) - weekdayWanted + 7) % 7);
}

/** A fixed-date holiday moved off the weekend as the federal rule says. */
function observed(day: number): number {
  const dayOfWeek = weekday(day);
  if (dayOfWeek === SATURDAY) return day - 1;
  if (dayOfWeek === SUNDAY) return day + 1;
  return day;
}

const holidaysByYear = new Map<number, readonly ObservedHoliday[]>();

/** The federal holidays of `year`, by the day each is observed (which may fall in the year before). */
export function federalHolidays(year: number): readonly ObservedHoliday[] {
  assert(Number.isInteger(year) && year >= BUSINESS_DAY_YEAR_MIN && year <= BUSINESS_DAY_YEAR_MAX, 'federalHolidays: year out of range');
  const cached = holidaysByYear.get(year);
  if (cached !== undefined) return cached;
  const holidays: ObservedHoliday[] = [
    { name: "New Year's Day", day: observed(dayNumber(year, 1, 1)) },
    { name: 'Birthday of Martin Luther King, Jr.', day: nthWeekday(year, 1, MONDAY, 3) },
    { name: "Washington's Birthday", day: nthWeekday(year, 2, MONDAY, 3) },
    { name: 'Memorial Day', day: nthWeekday(year, 5, MONDAY, -1) },
    ...(year >= JUNETEENTH_FIRST_YEAR ? [{ name: 'Juneteenth National Independence Day', day: observed(dayNumber(year, 6, 19)) }] : []),
    { name: 'Independence Day', day: observed(dayNumber(year, 7, 4)) },
    { name: 'Labor Day', day: nthWeekday(year, 9, MONDAY, 1) },
    { name: 'Columbus Day', day: nthWeekday(year, 10, MONDAY, 2) },
    { name: 'Veterans Day', day: observed(dayNumber(year, 11, 11)) },
    { name: 'Thanksgiving Day', day: nthWeekday(year, 11, THURSDAY, 4) },
    { name: 'Christmas Day', day: observed(dayNumber(year, 12, 25)) },
  ];
  holidaysByYear.set(year, holidays);
  return holidays;
}

/** Whether `day` (an epoch day number) is a business day: a weekday that is no observed federal holiday. */
export function isBusinessDay(day: number): boolean {
  const dayOfWeek = weekday(day);
  if (dayOfWeek === SATURDAY || dayOfWeek === SUNDAY) return false;
  const year = new Date(day * MS_PER_DAY).getUTCFullYear();
  // New Year's Day of the next year may be observed on December 31.
  return ![year, year + 1].some((y) => y <= BUSINESS_DAY_YEAR_MAX && federalHolidays(y).some((holiday) => holiday.day === day));
}

/** Weekdays among the days (from, to]. */
function weekdaysAfter(from: number, to: number): number {
  const span = to - from;
  const weeks = Math.floor(span / 7);
  let count = weeks * 5;
  for (let day = from + weeks * 7 + 1; day <= to; day++) {
    const dayOfWeek = weekday(day);
    if (dayOfWeek !== SATURDAY && dayOfWeek !== SUNDAY) count++;
  }
  return count;
}

/** Observed holidays on weekdays among the days (from, to]. */
function holidaysAfter(from: number, to: number): number {
  const firstYear = new Date(from * MS_PER_DAY).getUTCFullYear();
  const lastYear = Math.min(BUSINESS_DAY_YEAR_MAX, new Date(to * MS_PER_DAY).getUTCFullYear() + 1);
  let count = 0;
  for (let year = Math.max(BUSINESS_DAY_YEAR_MIN, firstYear); year <= lastYear; year++) {
    for (const { day } of federalHolidays(year)) if (day > from && day <= to) count++;
  }
  return count;
}

/** Business days among the calendar days (fromDay, toDay]: 0 when toDay is not after fromDay. */
export function businessDaysAfter(fromDay: number, toDay: number): number {
  if (toDay <= fromDay) return 0;
  return weekdaysAfter(fromDay, toDay) - holidaysAfter(fromDay, toDay);
}

const dayFormats = new Map<string, Intl.DateTimeFormat>();

/** The epoch day number of the calendar day that instant `ms` falls on in `timeZone`. */
export function calendarDay(ms: number, timeZone: string): number {
  let format = dayFormats.get(timeZone);
  if (format === undefined) {
    format = new Intl.DateTimeFormat('en-US', { timeZone, year: 'numeric', month: 'numeric', day: 'numeric' });
    dayFormats.set(timeZone, format);
  }
  const parts = Object.fromEntries(format.formatToParts(new Date(ms)).map(({ type, value }) => [type, value]));
  return dayNumber(Number(parts.year), Number(parts.month), Number(parts.day));
}

/**
 * US business days from the instant a request was made to the instant it took effect, counted on
 * the calendar of `timeZone` (an IANA name; throws a RangeError for an unknown one): 0 on the same
 * day, 1 from a Friday to the Monday after, and 0 when it took effect before it was requested.
 */
export function businessDaysBetween(requestedAtMs: number, effectiveAtMs: number, timeZone = 'UTC'): number {
  return businessDaysAfter(calendarDay(requestedAtMs, timeZone), calendarDay(effectiveAtMs, timeZone));
}
