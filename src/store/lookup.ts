// Which list blocks a number, in one place: for one number (isBlocked), per number of a batch
// (status), as a code per number (streamed scrubs) and as the blocked subset (scrub). A number is
// blocked for project P if it is on P's list or on the organisation's master list; without a
// project only the master list applies. Batches go through the chunked probe of batch-probe.ts.

import type { DncStore } from './dnc-store.js';
import { DEFAULT_ORGANISATION } from '../constants.js';
import { checkListAddress, checkProjectId, MASTER_LIST, type ListAddress } from './list-id.js';
import type { NumberSet } from './number-set.js';
import { markLists } from './batch-probe.js';

/** Which list blocks a number: its project's own list wins when it is on both. */
export type BlockingList = 'project' | 'master' | null;

/** Lookup outcome codes written by `blockingCodes`. */
export const NOT_BLOCKED = 0;
export const BLOCKED_BY_PROJECT = 1;
export const BLOCKED_BY_MASTER = 2;

export const BLOCKING_LIST_OF_CODE: readonly BlockingList[] = [null, 'project', 'master'];

/** The two lists that can block a number for one list address, resolved once per batch. */
export interface ResolvedLists {
  readonly project: NumberSet | undefined;
  readonly master: NumberSet | undefined;
}

export function resolveLists(store: DncStore, address: ListAddress): ResolvedLists {
  const organisation = store.organisation(address.org);
  if (organisation === undefined) return { project: undefined, master: undefined };
  const project = address.projId === MASTER_LIST ? undefined : organisation.project(address.projId);
  return { project, master: organisation.master };
}

export function blockingListIn(lists: ResolvedLists, number: number): BlockingList {
  if (lists.project !== undefined && lists.project.has(number)) return 'project';
  if (lists.master !== undefined && lists.master.has(number)) return 'master';
  return null;
}

/**
 * The single-number hot path: no allocation, and the org and projId are validated only when they
 * name no existing list (names in the store were validated when their list was created).
 */
export function isBlockedNumber(store: DncStore, org: unknown, projId: unknown, number: number): boolean {
  const organisation = store.organisation((org ?? DEFAULT_ORGANISATION) as string);
  if (organisation === undefined) {
    checkListAddress({ org, projId });
    return false;
  }
  if (projId !== undefined && projId !== null && projId !== MASTER_LIST) {
    const project = organisation.project(projId as string);
    if (project === undefined) checkProjectId(projId);
    else if (project.has(number)) return true;
  }
  return organisation.master.has(number);
}

/** Writes into `out[i]` which list blocks `numbers[i]` for i < count (project wins over master). */
export function blockingCodes(store: DncStore, address: ListAddress, numbers: Float64Array, count: number, out: Uint8Array): void {
  const { project, master } = resolveLists(store, address);
  // Bit 1 (project) and bit 2 (master) are the codes; on both lists (3) the project wins.
  markLists([project, master], numbers, count, out);
  for (let i = 0; i < count; i++) if (out[i] === BLOCKED_BY_PROJECT + BLOCKED_BY_MASTER) out[i] = BLOCKED_BY_PROJECT;
}

/**
 * The blocked entries of `numbers`, in input order (duplicates kept). Batches are probed in chunks
 * whose pool reads run in a loop of their own (src/store/batch-probe.ts), which beats both one
 * probe per number and native set operations on query bitmaps (bench/scrub.bench.ts).
 */
export function scrubNumbers(store: DncStore, address: ListAddress, numbers: Float64Array): Float64Array {
  const { project, master } = resolveLists(store, address);
  if (project === undefined && master === undefined) return new Float64Array(0);
  const marks = new Uint8Array(numbers.length);
  markLists([project, master], numbers, numbers.length, marks);
  const blocked = new Float64Array(numbers.length);
  let count = 0;
  for (let i = 0; i < numbers.length; i++) if (marks[i] !== 0) blocked[count++] = numbers[i]!;
  return blocked.slice(0, count);
}
