// Reading the pdnc fields from a request. They may come from the query string and from a body
// (form-urlencoded or JSON) at once; when a field is in both, the BODY wins (it is the explicit
// part of a POST, as in PHP's request order). A field given twice in one place (an array) or with
// a non-string JSON value is INVALID_PARAMETER; unknown fields are ignored (clients send version=3).
// Client-supplied names are looked up in Maps or by own property only: an actionType such as
// `constructor` or `__proto__` must find nothing, not Object.prototype's members. `source`,
// `reason` and `requestedAt` are idnc's extension fields of add and remove (the history, checked
// by the engine); DNCScrub clients send none of them, and other actions ignore them.

import { IdncError, quoteInput } from '../errors.js';
import { checkProjectId } from '../store/list-id.js';
import { HttpError } from './error-replies.js';

export type Action = 'add' | 'remove' | 'count' | 'status';

export interface PdncParams {
  readonly action: Action;
  /** Undefined for count; for the other actions present and holding at least one entry. */
  readonly phoneList: string | undefined;
  /** '' for the master list. */
  readonly projId: string;
  readonly ignoreInvalid: boolean;
  /** add/remove: the history fields as given (strings; the engine checks them), each absent when not given. */
  readonly history: HistoryFields;
}

export interface HistoryFields {
  readonly source?: string;
  readonly reason?: string;
  readonly requestedAt?: string;
}

type Fields = Record<string, unknown>;

const ACTIONS: ReadonlyMap<string, Action> = new Map([['add', 'add'], ['remove', 'remove'], ['count', 'count'], ['status', 'status']]);
const NOT_ONLY_SEPARATORS = /[^\s,]/;

function fieldsOf(value: unknown, where: string): Fields | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new IdncError('INVALID_PARAMETER', `the ${where} must be an object of named fields`);
  }
  return value as Fields;
}

function pick(name: string, query: Fields | undefined, body: Fields | undefined): unknown {
  if (body !== undefined && Object.hasOwn(body, name)) return body[name];
  return query !== undefined && Object.hasOwn(query, name) ? query[name] : undefined;
}

function stringField(name: string, value: unknown): string | undefined {
  if (value === undefined || typeof value === 'string') return value;
  if (Array.isArray(value)) throw new IdncError('INVALID_PARAMETER', `${name} is given more than once`);
  throw new IdncError('INVALID_PARAMETER', `${name} must be a string, got ${value === null ? 'null' : typeof value}`);
}

function parseAction(value: string | undefined): Action {
  if (value === undefined || value === '') throw new HttpError('MISSING_INPUT', 'actionType is required: add, remove, count or status');
  const action = ACTIONS.get(value.toLowerCase());
  if (action === undefined) {
    throw new HttpError('INVALID_ACTION', `unknown actionType ${quoteInput(value)}: expected add, remove, count or status`);
  }
  return action;
}

function parseIgnoreInvalid(value: unknown): boolean {
  if (value === undefined || value === false || value === 0) return false;
  if (value === true || value === 1) return true;
  const text = stringField('ignoreInvalid', value)!.toLowerCase();
  if (text === '1' || text === 'true') return true;
  if (text === '0' || text === 'false' || text === '') return false;
  throw new IdncError('INVALID_PARAMETER', 'ignoreInvalid must be 0, 1, true or false');
}

export function readPdncParams(queryValue: unknown, bodyValue: unknown): PdncParams {
  const query = fieldsOf(queryValue, 'query string');
  const body = fieldsOf(bodyValue, 'request body');
  const action = parseAction(stringField('actionType', pick('actionType', query, body)));
  const projId = checkProjectId(stringField('projId', pick('projId', query, body)));
  const ignoreInvalid = parseIgnoreInvalid(pick('ignoreInvalid', query, body));
  if (action === 'count') return { action, phoneList: undefined, projId, ignoreInvalid, history: NO_HISTORY_FIELDS };
  const phoneList = stringField('phoneList', pick('phoneList', query, body));
  if (phoneList === undefined || !NOT_ONLY_SEPARATORS.test(phoneList)) {
    throw new HttpError('MISSING_INPUT', `phoneList is required for ${action}: comma-separated 10-digit numbers`);
  }
  const history = action === 'status' ? NO_HISTORY_FIELDS : historyFields(query, body);
  return { action, phoneList, projId, ignoreInvalid, history };
}

const NO_HISTORY_FIELDS: HistoryFields = {};

function historyFields(query: Fields | undefined, body: Fields | undefined): HistoryFields {
  const source = stringField('source', pick('source', query, body));
  const reason = stringField('reason', pick('reason', query, body));
  const requestedAt = stringField('requestedAt', pick('requestedAt', query, body));
  if (source === undefined && reason === undefined && requestedAt === undefined) return NO_HISTORY_FIELDS;
  // Assigned, not spread: spreading conditional objects was the dearest part of a request with fields.
  const fields: { -readonly [K in keyof HistoryFields]: HistoryFields[K] } = {};
  if (source !== undefined) fields.source = source;
  if (reason !== undefined) fields.reason = reason;
  if (requestedAt !== undefined) fields.requestedAt = requestedAt;
  return fields;
}
