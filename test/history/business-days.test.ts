import { describe, expect, it } from 'vitest';
import { businessDaysAfter, businessDaysBetween, calendarDay, dayNumber, federalHolidays, isBusinessDay } from '../../src/history/business-days.js';

const iso = (day: number): string => new Date(day * 86_400_000).toISOString().slice(0, 10);

describe('federalHolidays', () => {
  // The observed dates published by the U.S. Office of Personnel Management (opm.gov, federal holidays).
  it('gives the observed dates OPM publishes for 2026', () => {
    expect(federalHolidays(2026).map(({ day }) => iso(day))).toEqual([
      '2026-01-01', '2026-01-19', '2026-02-16', '2026-05-25', '2026-06-19', '2026-07-03',
      '2026-09-07', '2026-10-12', '2026-11-11', '2026-11-26', '2026-12-25',
    ]);
  });

  it('gives the observed dates OPM publishes for 2022, New Year on the Friday of the year before', () => {
    expect(federalHolidays(2022).map(({ day }) => iso(day))).toEqual([
      '2021-12-31', '2022-01-17', '2022-02-21', '2022-05-30', '2022-06-20', '2022-07-04',
      '2022-09-05', '2022-10-10', '2022-11-11', '2022-11-24', '2022-12-26',
    ]);
  });

  it('has no Juneteenth before 2021', () => {
    expect(federalHolidays(2020).map(({ name }) => name)).not.toContain('Juneteenth National Independence Day');
    expect(federalHolidays(2020)).toHaveLength(10);
  });
});

describe('isBusinessDay', () => {
  it('refuses weekends and observed holidays, including one observed in the year before', () => {
    expect(isBusinessDay(dayNumber(2026, 12, 7))).toBe(true); // a Monday
    expect(isBusinessDay(dayNumber(2026, 12, 5))).toBe(false); // Saturday
    expect(isBusinessDay(dayNumber(2026, 12, 6))).toBe(false); // Sunday
    expect(isBusinessDay(dayNumber(2026, 7, 3))).toBe(false); // Independence Day observed
    expect(isBusinessDay(dayNumber(2021, 12, 31))).toBe(false); // New Year's Day 2022 observed
    expect(isBusinessDay(dayNumber(2020, 6, 19))).toBe(true); // before Juneteenth was a holiday
  });
});

describe('businessDaysAfter', () => {
  it('counts the days after the first up to and including the last', () => {
    const friday = dayNumber(2026, 12, 4);
    expect(businessDaysAfter(friday, friday)).toBe(0);
    expect(businessDaysAfter(friday, friday + 3)).toBe(1); // the Monday after
    expect(businessDaysAfter(friday, friday - 1)).toBe(0);
    // 2026-12-18 (Fri) to 2027-01-04 (Mon): 21, 22, 23, 24, 28, 29, 30, 31 and Jan 4; Dec 25 and Jan 1 are holidays.
    expect(businessDaysAfter(dayNumber(2026, 12, 18), dayNumber(2027, 1, 4))).toBe(9);
  });

  it('equals a day-by-day walk over random ranges across years (model)', () => {
    let seed = 12345;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let i = 0; i < 300; i++) {
      const from = dayNumber(2019, 1, 1) + random(3000);
      const to = from + random(800);
      let walked = 0;
      for (let day = from + 1; day <= to; day++) if (isBusinessDay(day)) walked++;
      expect(businessDaysAfter(from, to), `${iso(from)}..${iso(to)}`).toBe(walked);
    }
  });
});

describe('businessDaysBetween', () => {
  it('counts on the calendar of the time zone given', () => {
    // 2026-03-02T03:00Z is Monday in UTC but Sunday evening in New York.
    const requested = Date.parse('2026-03-02T03:00:00Z');
    const effective = Date.parse('2026-03-02T15:00:00Z');
    expect(businessDaysBetween(requested, effective)).toBe(0);
    expect(businessDaysBetween(requested, effective, 'America/New_York')).toBe(1);
    expect(calendarDay(requested, 'America/New_York')).toBe(dayNumber(2026, 3, 1));
  });

  it('flags the eleventh business day', () => {
    const requested = Date.parse('2026-11-02T12:00:00Z'); // a Monday; Nov 11 and Nov 26 are holidays
    expect(businessDaysBetween(requested, Date.parse('2026-11-16T12:00:00Z'))).toBe(9);
    expect(businessDaysBetween(requested, Date.parse('2026-11-17T12:00:00Z'))).toBe(10);
    expect(businessDaysBetween(requested, Date.parse('2026-11-18T12:00:00Z'))).toBe(11);
  });

  it('rejects an unknown time zone', () => {
    expect(() => businessDaysBetween(0, 1, 'Mars/Olympus')).toThrow(RangeError);
  });
});
