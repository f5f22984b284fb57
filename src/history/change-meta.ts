// What a change carries for its history besides the numbers (docs/history.md): how the consumer
// asked (`source`), why (`reason`), and when (`requestedAt`). Checked once, where a change enters
// the engine, so every channel (library, HTTP, import, CLI) refuses the same values the same way:
// INVALID_HISTORY_FIELD, before anything is written. Fields not given are not stored: a record
// without them reads with the defaults (history.md), so changes without them cost no log bytes.
// A bulk import also names its input (`import`: SHA-256, name, bytes), stored once per change; a
// change that is one part of a larger input (`idnc import --url` sends an input in several requests)
// names the whole input, its count and which part it is.

import { HISTORY_IMPORT_NAME_CHARS_MAX, HISTORY_REASON_CHARS_MAX, HISTORY_REQUESTED_AT_AHEAD_MS_MAX } from '../constants.js';
import { IdncError, quoteInput } from '../errors.js';
import { isHistorySource, isImportName } from '../persist/record.js';

/** The fields as a caller gives them; `requestedAt` as ISO 8601 text with a time zone, or ms since the epoch. */
export interface ChangeMetaInput {
  readonly source?: string | undefined;
  readonly reason?: string | undefined;
  readonly requestedAt?: string | number | undefined;
  readonly import?: ImportInput | undefined;
}

/**
 * The input of a bulk import as its reader saw it: SHA-256 (64 hex digits) of its raw bytes, its
 * name and size. When the change is one part of an input sent in several changes, `count` is the
 * input's distinct numbers and `part` of `parts` says which part (all three given, or none: the
 * change's own numbers are then the count).
 */
export interface ImportInput {
  readonly sha256: string;
  readonly name: string;
  readonly bytes: number;
  readonly count?: number | undefined;
  readonly part?: number | undefined;
  readonly parts?: number | undefined;
}


/** The fields checked, as the log stores them (`requestedAt` in ms since the epoch). */
export interface ChangeMeta {
  readonly source?: string;
  readonly reason?: string;
  readonly requestedAt?: number;
  readonly import?: ImportInput;
}

/** The source a change has when its caller names none. */
export const DEFAULT_SOURCE = 'api';
/**
 * The keyId of changes made by the command line (`idnc import`, `idnc lists drop`); a change made
 * through the library without a key reads as LIBRARY_KEY_ID. Key ids are 12 hex digits, so
 * neither can be taken for a key.
 */
export const CLI_KEY_ID = 'cli';
export const LIBRARY_KEY_ID = 'library';

/** A date and a time down to minutes at least, and a zone: without one the instant is ambiguous. */
export const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/i;

function invalid(message: string): IdncError {
  return new IdncError('INVALID_HISTORY_FIELD', message);
}

function checkSource(value: unknown): string {
  if (!isHistorySource(value)) {
    const shown = typeof value === 'string' ? quoteInput(value) : typeof value;
    throw invalid(`invalid source ${shown}: expected 1-32 of a-z 0-9 _ - (for example agent, ivr, sms, email, web, mail)`);
  }
  return value;
}

function checkReason(value: unknown): string {
  // The text itself is never put in a message: it may name a person.
  if (typeof value !== 'string') throw invalid(`reason must be text, got ${typeof value}`);
  if (value.length > HISTORY_REASON_CHARS_MAX) throw invalid(`reason has ${value.length} characters, at most ${HISTORY_REASON_CHARS_MAX} are stored`);
  return value;
}

function checkRequestedAt(value: unknown, nowMs: number): number {
  let ms: number;
  if (typeof value === 'number') ms = value;
  else if (typeof value === 'string' && ISO_INSTANT.test(value.trim())) ms = Date.parse(value.trim());
  else {
    const shown = typeof value === 'string' ? quoteInput(value) : typeof value;
    throw invalid(`invalid requestedAt ${shown}: expected an ISO 8601 time with a zone, like 2026-03-01T15:04:05Z`);
  }
  if (!Number.isSafeInteger(ms) || ms < 0) throw invalid('invalid requestedAt: not a time after 1970 in whole milliseconds');
  if (ms > nowMs + HISTORY_REQUESTED_AT_AHEAD_MS_MAX) {
    throw invalid(`requestedAt ${new Date(ms).toISOString()} is more than ${HISTORY_REQUESTED_AT_AHEAD_MS_MAX / 60_000} minutes ahead of the server's clock`);
  }
  return ms;
}

/** An import's input name as given (POST /v1/import checks it before reading the body). */
export function checkImportName(name: unknown): string {
  if (!isImportName(name)) throw invalid(`import name must be 1-${HISTORY_IMPORT_NAME_CHARS_MAX} characters without control characters`);
  return name;
}

function checkImport(value: ImportInput): ImportInput {
  const { sha256, name, bytes } = value;
  if (typeof sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(sha256)) throw invalid('import.sha256 must be 64 lower-case hex digits');
  checkImportName(name);
  if (!Number.isSafeInteger(bytes) || bytes < 0) throw invalid('import.bytes must be a whole number of bytes');
  const { count, part, parts } = value;
  if (count === undefined && part === undefined && parts === undefined) return { sha256, name, bytes };
  if (count === undefined || part === undefined || parts === undefined) throw invalid('import.count, import.part and import.parts go together');
  if (!Number.isSafeInteger(count) || count < 1) throw invalid('import.count must be a whole number of numbers, at least 1');
  if (!Number.isSafeInteger(parts) || parts < 1 || parts > count) throw invalid(`import.parts must be from 1 to import.count (${count})`);
  if (!Number.isSafeInteger(part) || part < 1 || part > parts) throw invalid(`import.part must be from 1 to import.parts (${parts})`);
  // An input sent whole reads as an import made in one change (no part of 1).
  return parts === 1 ? { sha256, name, bytes, count } : { sha256, name, bytes, count, part, parts };
}

/**
 * Whether a change of `distinct` numbers can be what `meta`'s import says: the whole input when it
 * is its only part, at most the input's numbers when it is one of several. Checked once the
 * numbers are sorted, before anything is written.
 */
export function checkImportCount(meta: ChangeMeta | undefined, distinct: number): void {
  const input = meta?.import;
  if (input?.count === undefined) return;
  if (input.parts === undefined && distinct !== input.count) throw invalid(`the import names an input of ${input.count} numbers sent whole, but the change holds ${distinct}`);
  if (distinct > input.count) throw invalid(`the change holds ${distinct} numbers, more than the ${input.count} of the input it is part of`);
}

/**
 * The checked fields, or undefined when none is given (the common case costs four comparisons).
 * Built by assignment, not by spreading conditional objects into one: V8 copies each spread after
 * the first through a slow path, which showed as a large part of a durable add's CPU.
 */
export function checkChangeMeta(input: ChangeMetaInput, nowMs: number): ChangeMeta | undefined {
  const { source, reason, requestedAt } = input;
  const importInput = input.import;
  if (source === undefined && reason === undefined && requestedAt === undefined && importInput === undefined) return undefined;
  const meta: { -readonly [K in keyof ChangeMeta]: ChangeMeta[K] } = {};
  if (source !== undefined) meta.source = checkSource(source);
  if (reason !== undefined) meta.reason = checkReason(reason);
  if (requestedAt !== undefined) meta.requestedAt = checkRequestedAt(requestedAt, nowMs);
  if (importInput !== undefined) meta.import = checkImport(importInput);
  return meta;
}
