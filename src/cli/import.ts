// `idnc import FILE...`: loads numbers in bulk. Offline (the default) it opens the data directory as
// its writer, so it refuses at once, pointing to --url, when a server holds it; the whole input
// is read and checked first (atomic by default: one invalid row and nothing is imported), then it
// lands as ONE durable change through Dnc.addNumbers, whose history event names the input (its
// SHA-256, taken while it is read, its name and size). Online (--url) the same checked input
// goes to a running server's POST /v1/import in batches (src/cli/import-online.ts), with the key
// from IDNC_KEY or --key-file (src/cli/import-key.ts).
// Exit codes: 0 done, 1 refused (invalid rows, bad flags, locked directory, server error).

import type { Command } from 'commander';
import { ConfigError, resolveDataDir } from './config.js';
import { IMPORT_INVALID_SHOWN_MAX } from '../constants.js';
import type { InputFormat } from '../bulk/number-parser.js';
import { readInputs, type ReadResult } from '../bulk/read-inputs.js';
import type { Dnc } from '../engine/views.js';
import { openDnc } from '../open.js';
import { IdncError } from '../errors.js';
import { checkListAddress } from '../store/list-id.js';
import { checkChangeMeta, CLI_KEY_ID } from '../history/change-meta.js';
import { checkKeyTransport, resolveImportKey } from './import-key.js';
import { importOnline, type ImportSummary } from './import-online.js';
import { startProgress } from './import-progress.js';

export interface ImportFlags {
  dataDir?: string;
  org?: string;
  project?: string;
  ignoreInvalid?: boolean;
  remove?: boolean;
  column?: string;
  format?: string;
  url?: string;
  key?: string;
  keyFile?: string;
  insecure?: boolean;
  source?: string;
  reason?: string;
}

export function registerImportCommand(program: Command): void {
  program
    .command('import')
    .description('import numbers in bulk from text, CSV or TSV files (.gz too, - for stdin) as one durable change')
    .argument('<files...>', 'input files; - reads stdin')
    .option('--data-dir <dir>', 'data directory (env IDNC_DATA_DIR, default ./snapshots)')
    .option('--org <org>', 'organisation (default "default"; online the key decides)')
    .option('--project <projId>', 'project list (default: the master list)')
    .option('--ignore-invalid', 'import the valid rows and report the invalid ones (default: any invalid row refuses all)')
    .option('--remove', 'remove the numbers instead of adding them')
    .option('--column <n|name>', 'CSV/TSV column holding the number: 1-based index or header name (default 1)')
    .option('--format <format>', 'text | csv | tsv (default: from the extension, else from the first line)')
    .option('--url <url>', 'import through a running server (its POST /v1/import) instead of the data directory')
    .option('--key-file <file>', 'file holding the API key (write scope) for --url; or set IDNC_KEY')
    .option('--key <key>', 'API key on the command line (visible to other users in ps: prefer IDNC_KEY or --key-file)')
    .option('--insecure', 'allow --url over plain http to a host other than this machine (the key crosses in clear text)')
    .option('--source <token>', 'history: how the consumers asked, 1-32 of a-z 0-9 _ - (default import)')
    .option('--reason <text>', 'history: why, at most 200 characters (stored, never logged)')
    .action(async (files: string[], flags: ImportFlags) => {
      process.exitCode = await runImport(files, flags);
    });
}

function parseColumn(text: string | undefined): number | string | undefined {
  if (text === undefined) return undefined;
  if (/^\d+$/.test(text.trim())) return Number(text.trim());
  if (text.trim() === '') throw new ConfigError('--column must be a 1-based number or a header name');
  return text;
}

function parseFormat(text: string | undefined): InputFormat | undefined {
  if (text === undefined) return undefined;
  if (text === 'text' || text === 'csv' || text === 'tsv') return text;
  throw new ConfigError(`--format ${JSON.stringify(text)}: expected text, csv or tsv`);
}

export async function runImport(files: string[], flags: ImportFlags): Promise<number> {
  const started = performance.now();
  try {
    const column = parseColumn(flags.column);
    const format = parseFormat(flags.format);
    if (flags.url === undefined && (flags.key !== undefined || flags.keyFile !== undefined || flags.insecure === true)) {
      throw new ConfigError('--key, --key-file and --insecure go with --url');
    }
    const key = flags.url === undefined ? undefined : resolveImportKey(flags, process.env, (message) => process.stderr.write(`idnc import: warning: ${message}\n`));
    if (flags.url !== undefined) checkKeyTransport(flags.url, flags.insecure === true);
    if (flags.url !== undefined && flags.org !== undefined) throw new ConfigError('--org does not apply with --url: the key decides the organisation');
    if (flags.url !== undefined && flags.dataDir !== undefined) throw new ConfigError('--data-dir does not apply with --url');
    const address = checkListAddress({ org: flags.org, projId: flags.project });
    const history = { source: flags.source ?? 'import', ...(flags.reason === undefined ? {} : { reason: flags.reason }) };
    checkChangeMeta(history, Date.now());
    if (files.filter((file) => file === '-').length > 1) throw new ConfigError('stdin (-) can be read only once');
    const dnc = flags.url === undefined ? await openWriter(resolveDataDir(flags.dataDir)) : undefined;
    let input: ReadResult;
    try {
      input = await readWithProgress(files, format, column);
    } catch (error) {
      await dnc?.close();
      throw error;
    }
    if (input.invalidCount > 0) reportInvalid(input, flags.ignoreInvalid === true);
    if (input.invalidCount > 0 && flags.ignoreInvalid !== true) {
      await dnc?.close();
      return 1;
    }
    const remove = flags.remove === true;
    let summary: ImportSummary;
    if (dnc === undefined) {
      summary = await importOnline(input, { url: flags.url!, key: key!, projId: address.projId, remove, name: input.name, insecure: flags.insecure === true, ...history });
    } else {
      process.stderr.write(`idnc import: storing ${input.numbers.length} distinct numbers as one change\n`);
      // keyId 'cli': the history names the command line as who made the change (docs/history.md).
      const options = { org: address.org, projId: address.projId, keyId: CLI_KEY_ID, ...history, import: { sha256: input.sha256, name: input.name, bytes: input.bytesHashed } };
      const result = remove ? await dnc.removeNumbers(input.numbers, options) : await dnc.addNumbers(input.numbers, options);
      await dnc.close();
      summary = { rows: input.entries, distinct: result.distinct, changed: result.changed, invalid: input.invalidCount };
    }
    printSummary(summary, remove, performance.now() - started);
    return 0;
  } catch (error) {
    return reportFailure(error);
  }
}

async function openWriter(dataDir: string): Promise<Dnc> {
  try {
    return await openDnc({ dataDir });
  } catch (error) {
    if (error instanceof IdncError && error.code === 'DATA_DIR_LOCKED') {
      throw new IdncError(
        'DATA_DIR_LOCKED',
        `${error.message}. A server holds this directory: import through it with --url http://HOST:PORT and IDNC_KEY=KEY (a key with write scope) in the environment`,
      );
    }
    throw error;
  }
}

async function readWithProgress(files: string[], format: InputFormat | undefined, column: number | string | undefined): Promise<ReadResult> {
  const progress = startProgress('reading', 'bytes');
  try {
    return await readInputs(files, { format, column, onProgress: (p) => progress.update(p.bytesRead, p.bytesTotal, p.entries) });
  } finally {
    progress.stop();
  }
}

function reportInvalid(input: ReadResult, ignoring: boolean): void {
  const shown = input.invalid.slice(0, IMPORT_INVALID_SHOWN_MAX);
  const head = ignoring
    ? `idnc import: skipping ${input.invalidCount} invalid rows (--ignore-invalid)`
    : `idnc import: ${input.invalidCount} invalid rows: nothing was imported (fix them, or import the rest with --ignore-invalid)`;
  const lines = shown.map((row) => `  ${row.file}:${row.line}: ${JSON.stringify(row.entry)}: ${row.reason}`);
  const more = input.invalidCount > shown.length ? [`  ... and ${input.invalidCount - shown.length} more`] : [];
  process.stderr.write(`${[head, ...lines, ...more].join('\n')}\n`);
}

function printSummary(summary: ImportSummary, remove: boolean, elapsedMs: number): void {
  const duplicates = summary.rows - summary.invalid - summary.distinct;
  const lines = [
    `rows read:        ${summary.rows}`,
    remove ? `removed:          ${summary.changed}` : `added:            ${summary.changed}`,
    remove ? `not on the list:  ${summary.distinct - summary.changed}` : `already present:  ${summary.distinct - summary.changed}`,
    `duplicate rows:   ${duplicates}`,
    `invalid:          ${summary.invalid}`,
    `elapsed:          ${(elapsedMs / 1000).toFixed(2)} s`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

function reportFailure(error: unknown): number {
  if (error instanceof IdncError || error instanceof ConfigError) {
    process.stderr.write(`idnc import: ${error.message}\n`);
    return 1;
  }
  process.stderr.write(`idnc import: failed: ${(error as Error).stack ?? String(error)}\n`);
  return 1;
}
