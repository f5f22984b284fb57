// Query parameters of the bulk routes (POST /v1/scrub, POST /v1/import), read by hand so that every
// bad value gets INVALID_PARAMETER with a message naming it (the JSON schemas beside the routes only
// document them). Flags take 0/1/true/false; `column` is a 1-based index or a header name.

import { IdncError } from '../errors.js';
import type { InputFormat } from '../bulk/number-parser.js';
import { checkProjectId } from '../store/list-id.js';

export interface BulkQuery {
  readonly projId: string;
  readonly all: boolean;
  readonly remove: boolean;
  readonly ignoreInvalid: boolean;
  readonly format: InputFormat | undefined;
  readonly column: number | string | undefined;
  /** The history fields of an import (`source`, `reason`, `requestedAt`), as given; checked by the engine. */
  readonly source: string | undefined;
  readonly reason: string | undefined;
  readonly requestedAt: string | undefined;
  /** The name of the uploaded input, for the import's history event (POST /v1/import). */
  readonly name: string | undefined;
  /** The whole input this request is one part of (POST /v1/import from `idnc import --url`); absent: the body is the input. */
  readonly input: ImportPartQuery | undefined;
}

/** What a client that splits one input into several requests says about the input and the request. */
export interface ImportPartQuery {
  readonly sha256: string;
  readonly bytes: number;
  readonly count: number;
  readonly part: number;
  readonly parts: number;
}

/** The query parameters of ImportPartQuery, in the order of its fields. */
const IMPORT_PART_PARAMETERS = ['inputSha256', 'inputBytes', 'inputCount', 'part', 'parts'] as const;

const COLUMN_NAME_CHARS_MAX = 64;

function single(query: Record<string, unknown>, name: string): string | undefined {
  const value = query[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new IdncError('INVALID_PARAMETER', `${name} is given more than once`);
  return value;
}

function flag(query: Record<string, unknown>, name: string): boolean {
  const text = single(query, name)?.toLowerCase();
  if (text === undefined || text === '' || text === '0' || text === 'false') return false;
  if (text === '1' || text === 'true') return true;
  throw new IdncError('INVALID_PARAMETER', `${name} must be 0, 1, true or false`);
}

function format(text: string | undefined): InputFormat | undefined {
  if (text === undefined || text === '') return undefined;
  if (text === 'text' || text === 'csv' || text === 'tsv') return text;
  throw new IdncError('INVALID_PARAMETER', `format must be text, csv or tsv, got ${JSON.stringify(text.slice(0, 32))}`);
}

function column(text: string | undefined): number | string | undefined {
  if (text === undefined || text === '') return undefined;
  if (/^\d+$/.test(text)) {
    const index = Number(text);
    if (index < 1 || !Number.isSafeInteger(index)) throw new IdncError('INVALID_PARAMETER', 'column must be a number from 1 or a header name');
    return index;
  }
  if (text.length > COLUMN_NAME_CHARS_MAX) throw new IdncError('INVALID_PARAMETER', `column names are at most ${COLUMN_NAME_CHARS_MAX} characters`);
  return text;
}

function invalidPart(message: string): IdncError {
  return new IdncError('INVALID_HISTORY_FIELD', message);
}

/** A whole number in decimal digits (no sign, no exponent), at most a safe integer. */
function wholeNumber(query: Record<string, unknown>, name: string): number {
  const text = single(query, name)!;
  const value = /^\d{1,16}$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value)) throw invalidPart(`${name} must be a whole number in decimal digits, got ${JSON.stringify(text.slice(0, 32))}`);
  return value;
}

/**
 * The input a request is part of: all five parameters or none. Their ranges against each other
 * (part of parts, parts at most the count) are checked where every channel checks an import
 * (src/history/change-meta.ts); here, only that each is what its name says.
 */
function importPart(query: Record<string, unknown>): ImportPartQuery | undefined {
  const given = IMPORT_PART_PARAMETERS.filter((name) => query[name] !== undefined);
  if (given.length === 0) return undefined;
  if (given.length < IMPORT_PART_PARAMETERS.length) {
    const missing = IMPORT_PART_PARAMETERS.filter((name) => query[name] === undefined);
    throw invalidPart(`${IMPORT_PART_PARAMETERS.join(', ')} go together: ${missing.join(', ')} missing`);
  }
  const sha256 = single(query, 'inputSha256')!;
  if (!/^[0-9a-fA-F]{64}$/.test(sha256)) throw invalidPart(`inputSha256 must be 64 hex digits (a SHA-256), got ${sha256.length} characters`);
  return { sha256: sha256.toLowerCase(), bytes: wholeNumber(query, 'inputBytes'), count: wholeNumber(query, 'inputCount'), part: wholeNumber(query, 'part'), parts: wholeNumber(query, 'parts') };
}

/** The body's format: the format parameter, else the content type, else CSV when a column is named. */
function bodyFormat(explicit: InputFormat | undefined, contentType: string | undefined, hasColumn: boolean): InputFormat {
  if (explicit !== undefined) return explicit;
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'text/csv') return 'csv';
  if (type === 'text/tab-separated-values') return 'tsv';
  return hasColumn ? 'csv' : 'text';
}

export function readBulkQuery(queryValue: unknown, contentType: string | undefined): BulkQuery {
  const query = (queryValue ?? {}) as Record<string, unknown>;
  const projId = checkProjectId(single(query, 'projId'));
  const chosenColumn = column(single(query, 'column'));
  const chosenFormat = bodyFormat(format(single(query, 'format')), contentType, chosenColumn !== undefined);
  if (chosenFormat === 'text' && chosenColumn !== undefined && chosenColumn !== 1) {
    throw new IdncError('INVALID_PARAMETER', 'column applies to CSV or TSV bodies (format=csv|tsv or Content-Type text/csv)');
  }
  return {
    projId,
    all: flag(query, 'all'),
    remove: flag(query, 'remove'),
    ignoreInvalid: flag(query, 'ignoreInvalid'),
    format: chosenFormat,
    column: chosenFormat === 'text' ? undefined : chosenColumn,
    source: single(query, 'source'),
    reason: single(query, 'reason'),
    requestedAt: single(query, 'requestedAt'),
    name: single(query, 'name'),
    input: importPart(query),
  };
}

/** Documentation schema of the shared query parameters (OpenAPI); the parsing above is the authority. */
export const BULK_QUERY_PROPERTIES = {
  projId: { type: 'string', description: 'project id; absent or empty means the master list' },
  format: { type: 'string', enum: ['text', 'csv', 'tsv'], description: 'body format (default: from Content-Type, text/csv, text/tab-separated-values; else text)' },
  column: { type: 'string', description: 'CSV/TSV column holding the number: 1-based index or header name (default 1)' },
} as const;

/** Documentation schema of the history fields of POST /v1/import (docs/history.md). */
export const IMPORT_HISTORY_PROPERTIES = {
  source: { type: 'string', description: 'how the consumers asked: 1-32 of a-z 0-9 _ - (default import)' },
  reason: { type: 'string', description: 'why, at most 200 characters; stored, never logged' },
  requestedAt: { type: 'string', description: 'when the consumers asked, ISO 8601 with a zone (default: when stored)' },
  name: { type: 'string', description: "the input's name, shown in the import's history event with the body's SHA-256 and size (default, or empty: upload)" },
  inputSha256: { type: 'string', description: "with inputBytes, inputCount, part and parts (all or none): this request is one part of a larger input, whose SHA-256 (64 hex digits) the history event shows instead of the body's" },
  inputBytes: { type: 'string', description: "the whole input's size in bytes, shown instead of the body's" },
  inputCount: { type: 'string', description: "the whole input's distinct numbers (1 or more); with parts=1 the body must hold exactly these" },
  part: { type: 'string', description: 'which part this request is, from 1 to parts' },
  parts: { type: 'string', description: 'how many requests the input is sent in, from 1 to inputCount; the event of a part says part k of n (parts=1 reads as an input sent whole)' },
} as const;
