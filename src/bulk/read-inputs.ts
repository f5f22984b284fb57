// Reading the input files of `idnc import`: each FILE (or `-` for stdin, `.gz` gunzipped as a
// stream) is fed chunk by chunk to its own NumberParser (line numbers and header rows are per
// file), and each chunk's numbers go straight into one NumberSorter while the next chunk is read:
// the parsed numbers never exist as one big array, and what comes out is the distinct numbers of
// all files, ascending, ready to be stored as one change. The format comes from the
// extension under `.gz` (.csv, .tsv/.tab), else from a look at the first line: a tab means TSV,
// letters and a comma mean a CSV header; anything else is text (comma-separated entries per line).

import fs from 'node:fs';
import path from 'node:path';
import { createGunzip } from 'node:zlib';
import { IMPORT_READ_CHUNK_BYTES, INVALID_ENTRIES_REPORTED_MAX } from '../constants.js';
import { IdncError } from '../errors.js';
import { NumberParser, type InputFormat, type InvalidRow } from './number-parser.js';
import { NumberSorter } from './sort-numbers.js';

export interface ReadOptions {
  readonly format?: InputFormat;
  readonly column?: number | string;
  /** Called after each chunk with the compressed/raw bytes read so far and numbers parsed so far. */
  readonly onProgress?: (progress: ReadProgress) => void;
}

export interface ReadProgress {
  readonly bytesRead: number;
  /** Sum of the input files' sizes (stdin counts 0). */
  readonly bytesTotal: number;
  readonly entries: number;
}

export interface FileInvalidRow extends InvalidRow {
  /** The file as given on the command line ('-' for stdin). */
  readonly file: string;
}

export interface ReadResult {
  /** The distinct valid numbers of all files, ascending. */
  readonly numbers: Float64Array;
  /** Entries read: valid + invalid (headers and blank entries excluded). */
  readonly entries: number;
  readonly invalid: FileInvalidRow[];
  readonly invalidCount: number;
  readonly bytesRead: number;
}

export const STDIN_NAME = '-';

/** The format a file name implies, or undefined when its content decides. */
export function formatOfName(file: string): InputFormat | undefined {
  const name = file.toLowerCase().replace(/\.gz$/, '');
  const extension = path.extname(name);
  if (extension === '.csv') return 'csv';
  if (extension === '.tsv' || extension === '.tab') return 'tsv';
  return undefined;
}

/** Guess from the first line: tab -> TSV; a comma after letters (a header) -> CSV; else text. */
export function sniffFormat(firstBytes: Uint8Array): InputFormat {
  const newline = firstBytes.indexOf(10);
  const line = Buffer.from(firstBytes.subarray(0, newline === -1 ? firstBytes.length : newline)).toString('utf8');
  if (line.includes('\t')) return 'tsv';
  if (line.includes(',') && /[A-Za-z]/.test(line)) return 'csv';
  return 'text';
}

function openRaw(file: string): { stream: NodeJS.ReadableStream; bytes: number } {
  if (file === STDIN_NAME) return { stream: process.stdin, bytes: 0 };
  let size: number;
  try {
    const stat = fs.statSync(file);
    if (!stat.isFile()) throw new IdncError('INVALID_PARAMETER', `${file} is not a file`);
    size = stat.size;
  } catch (error) {
    if (error instanceof IdncError) throw error;
    throw new IdncError('INVALID_PARAMETER', `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  return { stream: fs.createReadStream(file, { highWaterMark: IMPORT_READ_CHUNK_BYTES }), bytes: size };
}

/** Reads every file in turn into one sorted, distinct array; invalid rows are collected, never thrown. */
export async function readInputs(files: readonly string[], options: ReadOptions = {}): Promise<ReadResult> {
  const sizes = files.map((file) => (file === STDIN_NAME ? 0 : fileSize(file)));
  const bytesTotal = sizes.reduce((sum, size) => sum + size, 0);
  let bytesBefore = 0;
  let entriesBefore = 0;
  const sorter = new NumberSorter();
  const invalid: FileInvalidRow[] = [];
  let invalidCount = 0;
  for (const file of files) {
    const { stream, bytes } = openRaw(file);
    let bytesRead = 0;
    stream.on('data', (chunk: Buffer) => (bytesRead += chunk.length));
    const gzipped = file.toLowerCase().endsWith('.gz');
    const source: AsyncIterable<Buffer> = gzipped ? stream.pipe(createGunzip({ chunkSize: IMPORT_READ_CHUNK_BYTES })) : (stream as AsyncIterable<Buffer>);
    let parser: NumberParser | undefined;
    let invalidKept = 0;
    /** Hands the chunk's numbers to the sorter and keeps its invalid rows, then empties the parser. */
    const drain = (from: NumberParser): void => {
      sorter.add(from.numbers, from.count);
      for (const row of from.invalid) if (invalidKept++ < INVALID_ENTRIES_REPORTED_MAX) invalid.push({ ...row, file });
      from.clear();
    };
    try {
      for await (const chunk of source) {
        parser ??= new NumberParser({ format: options.format ?? formatOfName(file) ?? sniffFormat(chunk), column: options.column }, PARSER_CAPACITY);
        parser.push(chunk);
        drain(parser);
        options.onProgress?.({ bytesRead: bytesBefore + bytesRead, bytesTotal, entries: entriesBefore + parser.entries });
      }
    } catch (error) {
      if (error instanceof IdncError) throw new IdncError(error.code, `${file}: ${error.message}`);
      throw new IdncError('INVALID_PARAMETER', `cannot read ${file}: ${(error as Error).message}`);
    }
    if (parser === undefined) continue;
    parser.end();
    drain(parser);
    invalidCount += parser.invalidCount;
    bytesBefore += Math.max(bytes, bytesRead);
    entriesBefore += parser.entries;
  }
  return { numbers: sorter.finish(), entries: entriesBefore, invalid, invalidCount, bytesRead: bytesBefore };
}

/** Numbers a parser has room for at first: a full read chunk of clean entries (11 bytes each). */
const PARSER_CAPACITY = Math.ceil(IMPORT_READ_CHUNK_BYTES / 11) + 16;

function fileSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}
