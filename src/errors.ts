// The error catalogue: every error a user can cause has a stable machine-readable code, an HTTP
// status and a message that names the problem. Bugs are assertions, not entries here.

export const ERROR_CATALOGUE = {
  MISSING_API_KEY: { statusCode: 401, summary: 'the loginId header with an API key is missing' },
  INVALID_API_KEY: { statusCode: 401, summary: 'the API key is unknown, revoked or malformed' },
  FORBIDDEN: { statusCode: 403, summary: 'the API key may not do this' },
  MISSING_INPUT: { statusCode: 400, summary: 'a required parameter is missing' },
  INVALID_ACTION: { statusCode: 400, summary: 'actionType is not add, remove, count or status' },
  INVALID_PHONE: { statusCode: 400, summary: 'one or more phone numbers are invalid' },
  INVALID_PARAMETER: { statusCode: 400, summary: 'a parameter has an invalid value' },
  TOO_MANY_NUMBERS: { statusCode: 413, summary: 'the request carries more numbers than allowed' },
  RATE_LIMITED: { statusCode: 429, summary: 'too many requests for this API key' },
  STORAGE_UNAVAILABLE: { statusCode: 503, summary: 'changes cannot be stored right now' },
  STORED_NOT_APPLIED: { statusCode: 503, summary: 'the change is stored in the log but could not be applied; the writer stopped and a restart replays it' },
  READ_ONLY: { statusCode: 403, summary: 'this instance is a read-only follower' },
  CLOSED: { statusCode: 503, summary: 'the engine has been closed' },
  WAIT_TIMEOUT: { statusCode: 504, summary: 'a change was not applied where it is read within the time allowed' },
  DATA_DIR_LOCKED: { statusCode: 409, summary: 'another writer holds the data directory' },
  DATA_CORRUPT: { statusCode: 500, summary: 'the data directory fails its checks; see idnc verify / idnc repair' },
  BAD_REQUEST: { statusCode: 400, summary: 'the request is malformed (body not valid JSON, bad encoding)' },
  NOT_FOUND: { statusCode: 404, summary: 'no such route' },
  REQUEST_TIMEOUT: { statusCode: 408, summary: 'the request was not received in time' },
  BODY_TOO_LARGE: { statusCode: 413, summary: 'the request body is larger than allowed' },
  URL_TOO_LONG: { statusCode: 414, summary: 'the URL is longer than allowed (64 KiB)' },
  UNSUPPORTED_MEDIA_TYPE: { statusCode: 415, summary: 'the body is neither form-urlencoded nor JSON' },
  HEADERS_TOO_LARGE: { statusCode: 431, summary: 'the request headers are larger than allowed' },
  INTERNAL: { statusCode: 500, summary: 'internal error (details are in the server log, never in the response)' },
} as const;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

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
  readonly statusCode: number;

  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'IdncError';
    this.code = code;
    this.statusCode = ERROR_CATALOGUE[code].statusCode;
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
