// Reading the input files of `idnc import`: each FILE (or `-` for stdin, `.gz` gunzipped as a
// stream) is fed chunk by chunk to its own NumberParser (line numbers and header rows are per
// file), and the numbers of all files end up in one Float64Array. The format comes from the
// extension under `.gz` (.csv, .tsv/.tab), else from a look at the first line: a tab means TSV,
// letters and a comma mean a CSV header; anything else is text (comma-separated entries per line).

import fs from 'node:fs';
import path from 'node:path';
import { createGunzip } from 'node:zlib';
import { IMPORT_READ_CHUNK_BYTES } from '../constants.js';
import { IdncError } from '../errors.js';
import { NumberParser, type InputFormat, type InvalidRow } from './number-parser.js';

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

/** Reads every file in turn into one array of numbers; invalid rows are collected, never thrown. */
export async function readInputs(files: readonly string[], options: ReadOptions = {}): Promise<ReadResult> {
  const sizes = files.map((file) => (file === STDIN_NAME ? 0 : fileSize(file)));
  const bytesTotal = sizes.reduce((sum, size) => sum + size, 0);
  let bytesBefore = 0;
  let entriesBefore = 0;
  const parsed: NumberParser[] = [];
  const invalid: FileInvalidRow[] = [];
  let invalidCount = 0;
  for (const file of files) {
    const { stream, bytes } = openRaw(file);
    let bytesRead = 0;
    stream.on('data', (chunk: Buffer) => (bytesRead += chunk.length));
    const gzipped = file.toLowerCase().endsWith('.gz');
    const source: AsyncIterable<Buffer> = gzipped ? stream.pipe(createGunzip({ chunkSize: IMPORT_READ_CHUNK_BYTES })) : (stream as AsyncIterable<Buffer>);
    let parser: NumberParser | undefined;
    try {
      for await (const chunk of source) {
        parser ??= new NumberParser({ format: options.format ?? formatOfName(file) ?? sniffFormat(chunk), column: options.column }, capacityFor(bytes, gzipped));
        parser.push(chunk);
        options.onProgress?.({ bytesRead: bytesBefore + bytesRead, bytesTotal, entries: entriesBefore + parser.entries });
      }
    } catch (error) {
      if (error instanceof IdncError) throw new IdncError(error.code, `${file}: ${error.message}`);
      throw new IdncError('INVALID_PARAMETER', `cannot read ${file}: ${(error as Error).message}`);
    }
    if (parser === undefined) continue;
    parser.end();
    parsed.push(parser);
    for (const row of parser.invalid) invalid.push({ ...row, file });
    invalidCount += parser.invalidCount;
    bytesBefore += Math.max(bytes, bytesRead);
    entriesBefore += parser.entries;
  }
  return { numbers: concatNumbers(parsed), entries: entriesBefore, invalid, invalidCount, bytesRead: bytesBefore };
}

/** Numbers a parser starts with room for (stdin and gzip: unknown, it grows). */
const UNKNOWN_SIZE_CAPACITY = 1 << 20;
/** Bytes of the shortest valid entry with its separator: 10 digits and a newline. */
const ENTRY_BYTES_MIN = 11;

/**
 * Room for every number a plain file can hold, so the parser never doubles its array (at 100M
 * numbers each doubling copied up to 800 MB): one per 11 bytes plus the parser's per-chunk slack
 * (it reserves ceil(chunk / 11) + 2 before each chunk).
 */
function capacityFor(bytes: number, gzipped: boolean): number {
  if (gzipped || bytes === 0) return UNKNOWN_SIZE_CAPACITY;
  return Math.ceil(bytes / ENTRY_BYTES_MIN) + 3 * Math.ceil(bytes / IMPORT_READ_CHUNK_BYTES) + 16;
}

function fileSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}

/** One file: its parser's buffer as is (no copy of 100M numbers); several: one concatenation. */
function concatNumbers(parsers: readonly NumberParser[]): Float64Array {
  if (parsers.length === 1) return parsers[0]!.numbers.subarray(0, parsers[0]!.count);
  const total = parsers.reduce((sum, parser) => sum + parser.count, 0);
  const numbers = new Float64Array(total);
  let at = 0;
  for (const parser of parsers) {
    numbers.set(parser.numbers.subarray(0, parser.count), at);
    at += parser.count;
  }
  return numbers;
}
