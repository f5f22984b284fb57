// The do-not-call request report: every add whose request falls in a date range, when it was
// requested, when it took effect and the US business days between (business-days.ts), with the
// rows over the legal limit flagged. Pure: the caller feeds it the add events in seq order from
// wherever history keeps them, and prints the rows as CSV or as a text table.
//
// The range selects on `requestedAt` (the question a compliance officer asks is "the requests we
// received in March"), whole calendar days in the report's time zone, both ends included.

import { REQUEST_HONOUR_BUSINESS_DAYS_MAX } from '../constants.js';
import type { ImportMeta } from '../persist/record.js';
import { businessDaysAfter, calendarDay } from './business-days.js';

/** One add as history records it (a bulk import is one event of many numbers). */
export interface RequestEvent {
  readonly seq: number;
  /** When the change became durable (ms since the epoch). */
  readonly atMs: number;
  /** When the consumer made the request (ms since the epoch); `atMs` when the client gave none. */
  readonly requestedAtMs: number;
  readonly org: string;
  /** '' for the master list. */
  readonly projId: string;
  /** Numbers the add named. */
  readonly numbers: number;
  /** The number, when the add named exactly one. */
  readonly phone: string | undefined;
  readonly source: string;
  readonly keyId: string | null;
  /** A bulk import's input (and its part, when the input was sent in several changes); absent otherwise. */
  readonly import?: ImportMeta | undefined;
}

export interface RequestReportRange {
  /** First and last calendar day (YYYY-MM-DD), both included. */
  readonly from: string;
  readonly to: string;
  /** IANA time zone of the calendar days (and of the business-day count). */
  readonly timeZone: string;
  /** Only this organisation's adds; all organisations when absent. */
  readonly org?: string;
}

export interface RequestReportRow {
  readonly seq: number;
  readonly org: string;
  readonly list: 'master' | 'project';
  readonly projId: string | null;
  readonly numbers: number;
  readonly phone: string | null;
  readonly source: string;
  readonly keyId: string | null;
  readonly requestedAt: string;
  readonly effectiveAt: string;
  readonly businessDays: number;
  /** More than REQUEST_HONOUR_BUSINESS_DAYS_MAX business days between request and effect. */
  readonly late: boolean;
  /**
   * A bulk import's input: its name, SHA-256, bytes and distinct numbers (all null for an add that is
   * not an import), and `k/n` when the change was part k of n (null when the input was sent whole).
   */
  readonly importName: string | null;
  readonly importSha256: string | null;
  readonly importBytes: number | null;
  readonly importCount: number | null;
  readonly importPart: string | null;
}

export interface RequestReport {
  readonly rows: RequestReportRow[];
  readonly lateRows: number;
}

const DATE_PATTERN = /^(\d{4})-(\d{2})-(\d{2})$/;

/** The epoch day number of a YYYY-MM-DD date, or undefined when it is not a real calendar date. */
export function parseReportDate(text: string): number | undefined {
  const match = DATE_PATTERN.exec(text);
  if (match === null) return undefined;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const ms = Date.UTC(year, month - 1, day);
  const date = new Date(ms);
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) return undefined;
  return ms / 86_400_000;
}

/** The report's rows for the events whose request falls in the range, in the events' order. */
export function buildRequestReport(events: Iterable<RequestEvent>, range: RequestReportRange): RequestReport {
  const fromDay = parseReportDate(range.from);
  const toDay = parseReportDate(range.to);
  if (fromDay === undefined || toDay === undefined) throw new RangeError('report dates must be YYYY-MM-DD');
  const rows: RequestReportRow[] = [];
  let lateRows = 0;
  for (const event of events) {
    if (range.org !== undefined && event.org !== range.org) continue;
    const requestedDay = calendarDay(event.requestedAtMs, range.timeZone);
    if (requestedDay < fromDay || requestedDay > toDay) continue;
    const businessDays = businessDaysAfter(requestedDay, calendarDay(event.atMs, range.timeZone));
    const late = businessDays > REQUEST_HONOUR_BUSINESS_DAYS_MAX;
    if (late) lateRows++;
    rows.push({
      seq: event.seq,
      org: event.org,
      list: event.projId === '' ? 'master' : 'project',
      projId: event.projId === '' ? null : event.projId,
      numbers: event.numbers,
      phone: event.phone ?? null,
      source: event.source,
      keyId: event.keyId,
      requestedAt: new Date(event.requestedAtMs).toISOString(),
      effectiveAt: new Date(event.atMs).toISOString(),
      businessDays,
      late,
      ...importColumns(event.import),
    });
  }
  return { rows, lateRows };
}

function importColumns(input: ImportMeta | undefined): Pick<RequestReportRow, 'importName' | 'importSha256' | 'importBytes' | 'importCount' | 'importPart'> {
  if (input === undefined) return { importName: null, importSha256: null, importBytes: null, importCount: null, importPart: null };
  const part = input.parts === undefined ? null : `${input.part}/${input.parts}`;
  return { importName: input.name, importSha256: input.sha256, importBytes: input.bytes, importCount: input.count, importPart: part };
}

/** The columns of the CSV; the import's come last, after those of the first version. */
const CSV_COLUMNS = ['seq', 'org', 'list', 'projId', 'numbers', 'phone', 'source', 'keyId', 'requestedAt', 'effectiveAt', 'businessDays', 'late', 'importName', 'importSha256', 'importBytes', 'importCount', 'importPart'] as const;

/**
 * A CSV field: quoted when it holds a separator, quote or line break; a field a spreadsheet would
 * run as a formula (starting with = + - @, tab or carriage return) gets a leading quote mark, since
 * organisation, project and key ids come from users (OWASP's CSV injection advice).
 */
function csvField(value: string | number | boolean | null): string {
  if (value === null) return '';
  let text = String(value);
  if (typeof value === 'string' && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** The rows as CSV with a header line, CRLF line ends (RFC 4180). */
export function requestReportCsv(rows: readonly RequestReportRow[]): string {
  const lines = [CSV_COLUMNS.join(',')];
  for (const row of rows) lines.push(CSV_COLUMNS.map((column) => csvField(row[column])).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

/** The number of a one-number add; else how many, and the import's input and part. */
function numbersCell(row: RequestReportRow): string {
  if (row.phone !== null) return row.phone;
  const input = row.importName === null ? '' : ` from ${row.importName}`;
  const part = row.importPart === null ? '' : ` (part ${row.importPart.replace('/', ' of ')})`;
  return `${row.numbers}${input}${part}`;
}

/** The rows as an aligned text table for a terminal, late rows marked, then a summary line. */
export function requestReportTable(report: RequestReport): string {
  const header = ['seq', 'list', 'numbers', 'requested', 'effective', 'business days', ''];
  const cells = report.rows.map((row) => [
    String(row.seq),
    row.projId === null ? `${row.org} master` : `${row.org} ${row.projId}`,
    numbersCell(row),
    row.requestedAt,
    row.effectiveAt,
    String(row.businessDays),
    row.late ? `LATE (> ${REQUEST_HONOUR_BUSINESS_DAYS_MAX})` : '',
  ]);
  const widths = header.map((title, c) => Math.max(title.length, ...cells.map((line) => line[c]!.length)));
  const format = (line: readonly string[]): string => line.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd();
  const summary = `${report.rows.length} add(s), ${report.lateRows} over ${REQUEST_HONOUR_BUSINESS_DAYS_MAX} business days`;
  return [format(header), ...cells.map(format), summary].join('\n') + '\n';
}
