// `idnc report requests`: the do-not-call request report (src/history/request-report.ts) over the
// history a data directory keeps, read-only, offline or beside a running server (whose
// durable-seq mark bounds it to acknowledged changes):
//   idnc report requests --from DATE --to DATE [--org O] [--csv] [--time-zone TZ] [--data-dir D]
// One row per add (a change split over several records, such as a bulk import, is one row). Exit
// codes: 0 no add took effect more than 10 business days after its request, 1 some did (they are
// flagged), 2 bad arguments or files that cannot be read.

import type { Command } from 'commander';
import { LIBRARY_KEY_ID, DEFAULT_SOURCE } from '../history/change-meta.js';
import { HistoryReader } from '../history/query.js';
import { buildRequestReport, parseReportDate, requestReportCsv, requestReportTable, type RequestEvent } from '../history/request-report.js';
import { readDurableMark } from '../persist/durable-mark.js';
import type { ImportMeta, LogRecord } from '../persist/record.js';
import { formatDigits } from '../phone/digits.js';
import { checkOrganisationId } from '../store/list-id.js';
import { resolveDataDir } from './config.js';

interface ReportFlags {
  from: string;
  to: string;
  org?: string;
  csv?: boolean;
  timeZone: string;
  dataDir?: string;
}

const EXIT_NONE_LATE = 0;
const EXIT_SOME_LATE = 1;
const EXIT_TROUBLE = 2;

export function registerReportCommand(program: Command): void {
  const report = program.command('report').description('compliance reports from the history (read-only)');
  report
    .command('requests')
    .description('every add requested in a date range, when it took effect and the US business days between; exit 1 when one took more than 10')
    .requiredOption('--from <date>', 'first day of the range, YYYY-MM-DD (the day the consumer made the request)')
    .requiredOption('--to <date>', 'last day of the range, YYYY-MM-DD, included')
    .option('--org <org>', 'only this organisation (default: every organisation)')
    .option('--csv', 'print CSV (RFC 4180) instead of a table')
    .option('--time-zone <zone>', 'IANA time zone of the days and of the business-day count', 'UTC')
    .option('--data-dir <dir>', 'data directory (env IDNC_DATA_DIR, default ./snapshots)')
    .action(async (flags: ReportFlags) => {
      process.exitCode = await runRequestReport(flags);
    });
}

function argumentProblem(flags: ReportFlags): string | undefined {
  for (const [name, value] of [['--from', flags.from], ['--to', flags.to]] as const) {
    if (parseReportDate(value) === undefined) return `${name} ${JSON.stringify(value)}: expected a calendar date YYYY-MM-DD`;
  }
  if (parseReportDate(flags.from)! > parseReportDate(flags.to)!) return `--from ${flags.from} is after --to ${flags.to}`;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: flags.timeZone });
  } catch {
    return `--time-zone ${JSON.stringify(flags.timeZone)}: not an IANA time zone (like America/New_York)`;
  }
  if (flags.org !== undefined) {
    try {
      checkOrganisationId(flags.org);
    } catch (error) {
      return (error as Error).message;
    }
  }
  return undefined;
}

async function runRequestReport(flags: ReportFlags): Promise<number> {
  const problem = argumentProblem(flags);
  if (problem !== undefined) {
    process.stderr.write(`idnc report requests: ${problem}\n`);
    return EXIT_TROUBLE;
  }
  const dataDir = resolveDataDir(flags.dataDir);
  let events: RequestEvent[];
  try {
    const mark = await readDurableMark(dataDir);
    events = await addEvents(new HistoryReader(dataDir), mark.kind === 'ok' ? mark.mark.seq : Number.MAX_SAFE_INTEGER);
  } catch (error) {
    process.stderr.write(`idnc report requests: cannot read ${dataDir}: ${(error as Error).message}\n`);
    return EXIT_TROUBLE;
  }
  const report = buildRequestReport(events, { from: flags.from, to: flags.to, timeZone: flags.timeZone, ...(flags.org === undefined ? {} : { org: flags.org }) });
  process.stdout.write(flags.csv === true ? requestReportCsv(report.rows) : requestReportTable(report));
  return report.lateRows > 0 ? EXIT_SOME_LATE : EXIT_NONE_LATE;
}

/**
 * Every add kept, one event per change: the records of a change split over several are summed into
 * its last. A change's records are consecutive, so a gap ends one: of a split change carried past
 * the retention, only the records still carried are kept, and the last of them closes it.
 */
async function addEvents(reader: HistoryReader, upToSeq: number): Promise<RequestEvent[]> {
  const events: RequestEvent[] = [];
  let pending: { record: LogRecord; numbers: number; import: ImportMeta | undefined } | undefined;
  const close = (): void => {
    if (pending !== undefined) events.push(requestEvent(pending.record, pending.numbers, pending.import));
    pending = undefined;
  };
  await reader.forEachKeptRecord(upToSeq, (record, carriedImport) => {
    if (pending !== undefined && (record.seq !== pending.record.seq + 1 || record.op !== 'add')) close();
    if (record.op !== 'add') return;
    pending = { record, numbers: (pending?.numbers ?? 0) + record.numbers.length, import: record.import ?? carriedImport };
    if (record.more !== true) close();
  });
  close();
  return events;
}

/** The event of an add change from its last record kept and the numbers of its records. */
function requestEvent(record: LogRecord, numbers: number, input: ImportMeta | undefined): RequestEvent {
  // A change of one number is one record (only changes of over a million are split).
  const only = numbers === 1 && record.numbers.length === 1 ? record.numbers[0] : undefined;
  return {
    seq: record.seq,
    atMs: record.ts,
    requestedAtMs: record.requestedAt ?? record.ts,
    org: record.org,
    projId: record.projId,
    numbers,
    phone: only === undefined ? undefined : formatDigits(only),
    source: record.source ?? DEFAULT_SOURCE,
    keyId: record.keyId ?? LIBRARY_KEY_ID,
    import: input,
  };
}
