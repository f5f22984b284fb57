import { describe, expect, it } from 'vitest';
import { buildRequestReport, parseReportDate, requestReportCsv, requestReportTable, type RequestEvent } from '../../src/history/request-report.js';

const event = (seq: number, requestedAt: string, at: string, extra: Partial<RequestEvent> = {}): RequestEvent => ({
  seq, atMs: Date.parse(at), requestedAtMs: Date.parse(requestedAt), org: 'acme', projId: '', numbers: 1,
  phone: '5039367187', source: 'api', keyId: 'k1', ...extra,
});

describe('parseReportDate', () => {
  it('accepts real calendar dates only', () => {
    expect(parseReportDate('2026-02-28')).toBe(Date.UTC(2026, 1, 28) / 86_400_000);
    expect(parseReportDate('2026-02-29')).toBeUndefined();
    expect(parseReportDate('2026-2-1')).toBeUndefined();
    expect(parseReportDate('yesterday')).toBeUndefined();
  });
});

describe('buildRequestReport', () => {
  const events = [
    event(1, '2026-10-30T12:00:00Z', '2026-10-30T12:00:00Z'), // before the range
    event(2, '2026-11-02T12:00:00Z', '2026-11-17T12:00:00Z'), // 10 business days: on time
    event(3, '2026-11-02T12:00:00Z', '2026-11-18T12:00:00Z', { projId: 'spring', numbers: 3, phone: undefined }), // 11: late
    event(4, '2026-11-30T23:30:00Z', '2026-12-01T01:00:00Z', { org: 'other' }),
  ];

  it('selects by request day, both ends included, and flags adds over 10 business days', () => {
    const report = buildRequestReport(events, { from: '2026-11-01', to: '2026-11-30', timeZone: 'UTC' });
    expect(report.rows.map(({ seq, businessDays, late }) => [seq, businessDays, late])).toEqual([[2, 10, false], [3, 11, true], [4, 1, false]]);
    expect(report.lateRows).toBe(1);
    expect(report.rows[1]).toMatchObject({ list: 'project', projId: 'spring', numbers: 3, phone: null });
  });

  it('filters by organisation and counts days in the report time zone', () => {
    const report = buildRequestReport(events, { from: '2026-11-01', to: '2026-11-30', timeZone: 'America/New_York', org: 'other' });
    // 23:30 UTC on Nov 30 is 18:30 in New York; 01:00 UTC on Dec 1 is still Nov 30 there.
    expect(report.rows.map(({ seq, businessDays }) => [seq, businessDays])).toEqual([[4, 0]]);
  });

  it('refuses dates that are not YYYY-MM-DD', () => {
    expect(() => buildRequestReport(events, { from: '2026-11-01', to: '11/30/2026', timeZone: 'UTC' })).toThrow(RangeError);
  });
});

describe('requestReportCsv', () => {
  it('quotes separators and defuses spreadsheet formulas in user-given ids', () => {
    const report = buildRequestReport([event(7, '2026-11-02T12:00:00Z', '2026-11-02T12:00:01Z', { projId: '=cmd', org: 'a,b' })], { from: '2026-11-02', to: '2026-11-02', timeZone: 'UTC' });
    const lines = requestReportCsv(report.rows).split('\r\n');
    expect(lines[0]).toBe('seq,org,list,projId,numbers,phone,source,keyId,requestedAt,effectiveAt,businessDays,late,importName,importSha256,importBytes,importCount,importPart');
    expect(lines[1]).toBe("7,\"a,b\",project,'=cmd,1,5039367187,api,k1,2026-11-02T12:00:00.000Z,2026-11-02T12:00:01.000Z,0,false,,,,,");
    expect(lines[2]).toBe('');
  });

  it("names an import's input (a name a spreadsheet would run defused) and its part", () => {
    const input = { sha256: 'ab'.repeat(32), name: '=cmd,x.csv', bytes: 4096, count: 5 };
    const events = [event(8, '2026-11-02T12:00:00Z', '2026-11-02T12:00:01Z', { numbers: 2, phone: undefined, import: { ...input, part: 2, parts: 3 } }), event(9, '2026-11-02T12:00:00Z', '2026-11-02T12:00:01Z', { numbers: 5, phone: undefined, import: input })];
    const report = buildRequestReport(events, { from: '2026-11-02', to: '2026-11-02', timeZone: 'UTC' });
    const lines = requestReportCsv(report.rows).split('\r\n');
    expect(lines[1]).toMatch(new RegExp(`^8,.*,false,"'=cmd,x.csv",${'ab'.repeat(32)},4096,5,2/3$`));
    expect(lines[2]).toMatch(new RegExp(`^9,.*,false,"'=cmd,x.csv",${'ab'.repeat(32)},4096,5,$`));
    const table = requestReportTable(report);
    expect(table).toContain('2 from =cmd,x.csv (part 2 of 3)');
    expect(table).toMatch(/\s5 from =cmd,x\.csv\s/);
  });
});

describe('requestReportTable', () => {
  it('marks late rows and ends with a summary', () => {
    const report = buildRequestReport([event(3, '2026-11-02T12:00:00Z', '2026-11-18T12:00:00Z')], { from: '2026-11-01', to: '2026-11-30', timeZone: 'UTC' });
    const text = requestReportTable(report);
    expect(text).toMatch(/acme master\s+5039367187\s+2026-11-02T12:00:00.000Z\s+2026-11-18T12:00:00.000Z\s+11\s+LATE \(> 10\)/);
    expect(text.trimEnd().split('\n').at(-1)).toBe('1 add(s), 1 over 10 business days');
  });
});
