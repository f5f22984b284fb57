// Validation of organisation and project ids, the two names that select a list. Both appear in
// logs, snapshots and key records, so they are checked once at the edge and trusted after.

import { ORGANISATION_ID_PATTERN, PROJECT_ID_PATTERN, DEFAULT_ORGANISATION } from '../constants.js';
import { IdncError, quoteEntry } from '../errors.js';

/** The master list is addressed by an absent project id; internally it is this empty string. */
export const MASTER_LIST = '';

export interface ListAddress {
  readonly org: string;
  /** MASTER_LIST ('') for the organisation's master list. */
  readonly projId: string;
}

function cut(value: string): string {
  return value.length > 32 ? `${value.slice(0, 32)}...` : value;
}

export function checkOrganisationId(org: unknown): string {
  if (org === undefined || org === null) return DEFAULT_ORGANISATION;
  if (typeof org !== 'string' || !ORGANISATION_ID_PATTERN.test(org)) {
    throw new IdncError(
      'INVALID_PARAMETER',
      `invalid organisation ${quoteEntry(cut(String(org)))}: expected 1-64 characters of A-Z a-z 0-9 . _ -`,
    );
  }
  return org;
}

/** An absent or empty project id means the master list. */
export function checkProjectId(projId: unknown): string {
  if (projId === undefined || projId === null || projId === '') return MASTER_LIST;
  if (typeof projId !== 'string' || !PROJECT_ID_PATTERN.test(projId)) {
    throw new IdncError(
      'INVALID_PARAMETER',
      `invalid projId ${quoteEntry(cut(String(projId)))}: expected 1-64 characters of A-Z a-z 0-9 . _ -`,
    );
  }
  return projId;
}

export function checkListAddress(options: { org?: unknown; projId?: unknown } | undefined): ListAddress {
  return { org: checkOrganisationId(options?.org), projId: checkProjectId(options?.projId) };
}
