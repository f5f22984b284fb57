// Reading the input files of `idnc import`: each FILE (or `-` for stdin, `.gz` gunzipped as a
// stream) is fed chunk by chunk to its own NumberParser (line numbers and header rows are per
// file), and each chunk's numbers go straight into one NumberSorter while the next chunk is read:
// the parsed numbers never exist as one big array, and what comes out is the distinct numbers of
// all files, ascending, ready to be stored as one change. The format comes from the
// extension under `.gz` (.csv, .tsv/.tab), else from a look at the first line: a tab means TSV,
// letters and a comma mean a CSV header; anything else is text (comma-separated entries per line).
// The raw bytes (before gunzip) are hashed as they are read, for the import's history event.

import { createHash, type Hash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createGunzip } from 'node:zlib';
import { HISTORY_IMPORT_NAME_CHARS_MAX, IMPORT_READ_CHUNK_BYTES, INVALID_ENTRIES_REPORTED_MAX } from '../constants.js';
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
  /** Raw bytes hashed: every byte of the inputs as read (sizes of files, stdin's bytes). */
  readonly bytesHashed: number;
  /** SHA-256 (hex) of the inputs' raw bytes as read (a .gz file's compressed bytes), one file after the other. */
  readonly sha256: string;
  /** The inputs' base names ('stdin' for -), joined by ', ', cut at HISTORY_IMPORT_NAME_CHARS_MAX. */
  readonly name: string;
}

export const STDIN_NAME = '-';

/** Raw bytes read so far, and their hash (shared by every input of one read). */
interface ReadCounter {
  bytesRead: number;
  readonly hash: Hash;
}

/** The name an import's history event gives its inputs. */
export function inputsName(files: readonly string[]): string {
  const name = files.map((file) => (file === STDIN_NAME ? 'stdin' : path.basename(file))).join(', ');
  // A file name may hold any byte but '/' and NUL; the event's name is printed, so controls are masked.
  const printable = name.replace(/[\u0000-\u001f\u007f]/g, '?');
  return printable.length <= HISTORY_IMPORT_NAME_CHARS_MAX ? printable : `${printable.slice(0, HISTORY_IMPORT_NAME_CHARS_MAX - 3)}...`;
}

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

interface OpenedInput {
  readonly source: AsyncIterable<Uint8Array>;
  /** The file's size (stdin: 0). */
  readonly bytes: number;
  /** Raw (compressed) bytes read so far in this file. */
  readonly counter: { bytesRead: number };
}

/** Opens one input: a plain file through reused buffers, stdin or a .gz file as a stream. */
function openInput(file: string, hash: Hash): OpenedInput {
  const counter = { bytesRead: 0, hash };
  const gzipped = file.toLowerCase().endsWith('.gz');
  if (file === STDIN_NAME) return { source: countedStream(process.stdin, gzipped, counter), bytes: 0, counter };
  let size: number;
  try {
    const stat = fs.statSync(file);
    if (!stat.isFile()) throw new IdncError('INVALID_PARAMETER', `${file} is not a file`);
    size = stat.size;
  } catch (error) {
    if (error instanceof IdncError) throw error;
    throw new IdncError('INVALID_PARAMETER', `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  if (!gzipped) return { source: fileChunks(file, counter), bytes: size, counter };
  return { source: countedStream(fs.createReadStream(file, { highWaterMark: IMPORT_READ_CHUNK_BYTES }), true, counter), bytes: size, counter };
}

function countedStream(stream: NodeJS.ReadableStream, gzipped: boolean, counter: ReadCounter): AsyncIterable<Uint8Array> {
  stream.on('data', (chunk: Buffer) => {
    counter.bytesRead += chunk.length;
    counter.hash.update(chunk);
  });
  return gzipped ? stream.pipe(createGunzip({ chunkSize: IMPORT_READ_CHUNK_BYTES })) : (stream as AsyncIterable<Buffer>);
}

/**
 * A plain file's chunks through two buffers used in turn, the next read already running while the
 * caller parses the current chunk. A read stream allocates a fresh 1 MB buffer per read, and on
 * this kind of VM faulting in that new memory costs about as much as the read itself.
 */
async function* fileChunks(file: string, counter: ReadCounter): AsyncGenerator<Uint8Array> {
  const handle = await fs.promises.open(file, 'r');
  const buffers = [Buffer.allocUnsafeSlow(IMPORT_READ_CHUNK_BYTES), Buffer.allocUnsafeSlow(IMPORT_READ_CHUNK_BYTES)];
  let which = 0;
  let next = handle.read(buffers[which]!, 0, IMPORT_READ_CHUNK_BYTES, null);
  try {
    for (;;) {
      const { bytesRead, buffer } = await next;
      if (bytesRead === 0) return;
      counter.bytesRead += bytesRead;
      counter.hash.update(buffer.subarray(0, bytesRead));
      which ^= 1;
      // The caller is done with the other buffer: it asked for this chunk.
      next = handle.read(buffers[which]!, 0, IMPORT_READ_CHUNK_BYTES, null);
      yield buffer.subarray(0, bytesRead);
    }
  } finally {
    await next.catch(() => undefined);
    await handle.close();
  }
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
  const hash = createHash('sha256');
  let bytesHashed = 0;
  for (const file of files) {
    const { source, bytes, counter } = openInput(file, hash);
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
        options.onProgress?.({ bytesRead: bytesBefore + counter.bytesRead, bytesTotal, entries: entriesBefore + parser.entries });
      }
    } catch (error) {
      if (error instanceof IdncError) throw new IdncError(error.code, `${file}: ${error.message}`);
      throw new IdncError('INVALID_PARAMETER', `cannot read ${file}: ${(error as Error).message}`);
    }
    bytesHashed += counter.bytesRead;
    if (parser === undefined) continue;
    parser.end();
    drain(parser);
    invalidCount += parser.invalidCount;
    bytesBefore += Math.max(bytes, counter.bytesRead);
    entriesBefore += parser.entries;
  }
  return { numbers: sorter.finish(), entries: entriesBefore, invalid, invalidCount, bytesRead: bytesBefore, bytesHashed, sha256: hash.digest('hex'), name: inputsName(files) };
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
