// The library's error catalogue: every error a caller can cause has a stable machine-readable code
// and a message that names the problem. How a code is answered over HTTP is the HTTP layer's business
// (src/http/error-replies.ts maps codes to statuses and owns the codes only it raises). Bugs are
// assertions (assert.ts), not entries here.

import { ENTRY_DISPLAY_CHARS_MAX } from './constants.js';

export const ERROR_CATALOGUE = {
  INVALID_PHONE: { summary: 'one or more phone numbers are invalid' },
  INVALID_PARAMETER: { summary: 'a parameter has an invalid value' },
  STORAGE_UNAVAILABLE: { summary: 'changes cannot be stored right now' },
  STORED_NOT_APPLIED: { summary: 'the change is stored in the log but could not be applied; the writer stopped and a restart replays it' },
  READ_ONLY: { summary: 'this instance is a read-only follower' },
  CLOSED: { summary: 'the engine has been closed' },
  WAIT_TIMEOUT: { summary: 'a change was not applied where it is read within the time allowed' },
  DATA_DIR_LOCKED: { summary: 'another writer holds the data directory' },
  DATA_CORRUPT: { summary: 'the data directory fails its checks; see idnc verify / idnc repair' },
  LIST_NOT_FOUND: { summary: 'the organisation has no such project list (a list exists while it holds numbers)' },
  INVALID_HISTORY_FIELD: { summary: "source, reason or requestedAt of a change, or an import's input (name, SHA-256, size, count, part), has an invalid value" },
  REPLICATION_UNAVAILABLE: { summary: 'the change is not acknowledged: the replicated stream (NATS JetStream) did not take it; the message says whether it may still be stored' },
  HISTORY_NOT_KEPT: { summary: 'this instance keeps no log files (a follower of a replicated stream): history is answered by the writer' },
  READ_ONLY_REPLICA: { summary: 'this instance follows a replicated stream read-only: changes go to the writer' },
  NOT_LEADER: { summary: 'this writer stands by: another one holds the writer lease and takes changes' },
} as const;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

/** A value a caller gave, quoted for an error message and cut to ENTRY_DISPLAY_CHARS_MAX characters. */
export function quoteInput(value: string): string {
  return JSON.stringify(value.length > ENTRY_DISPLAY_CHARS_MAX ? `${value.slice(0, ENTRY_DISPLAY_CHARS_MAX)}...` : value);
}

/** One invalid entry of a phone list: where it was, what it was (cut), and why it is invalid. */
export interface InvalidEntry {
  /** 0-based position of the entry among the non-empty entries of the list. */
  readonly index: number;
  /** The entry as given, cut to ENTRY_DISPLAY_CHARS_MAX characters. */
  readonly entry: string;
  readonly reason: string;
}

export class IdncError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'IdncError';
    this.code = code;
  }
}

/**
 * The data directory fails its checks (a damaged file, a gap in the log, a mark that cannot be read):
 * not the caller's doing and not cured by retrying; `idnc verify` tells what, `idnc repair` what can
 * be done. An IdncError with code DATA_CORRUPT, so code checks keep working.
 */
export class DataCorruptError extends IdncError {
  constructor(message: string) {
    super('DATA_CORRUPT', message);
    this.name = 'DataCorruptError';
  }
}

/** Thrown when a list holds invalid numbers and the caller did not ask to skip them. */
export class InvalidPhoneError extends IdncError {
  readonly invalid: readonly InvalidEntry[];
  readonly invalidCount: number;

  constructor(invalid: readonly InvalidEntry[], invalidCount: number) {
    super('INVALID_PHONE', describeInvalid(invalid, invalidCount));
    this.name = 'InvalidPhoneError';
    this.invalid = invalid;
    this.invalidCount = invalidCount;
  }
}

function describeInvalid(invalid: readonly InvalidEntry[], invalidCount: number): string {
  const first = invalid[0];
  if (first === undefined) return 'invalid phone number';
  const head = `${quoteEntry(first.entry)}: ${first.reason}`;
  if (invalidCount === 1) return `invalid phone number ${head}`;
  return `${invalidCount} invalid phone numbers, first ${head}`;
}

export function quoteEntry(entry: string): string {
  return JSON.stringify(entry);
}
