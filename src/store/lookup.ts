// Read paths over a DncStore: which list blocks a number, and the batch scrub. A number is blocked
// for project P if it is on P's list or on the organisation's master list; without a project only
// the master list applies.

import type { DncStore } from './dnc-store.js';
import { DEFAULT_ORGANISATION } from '../constants.js';
import { checkListAddress, checkProjectId, MASTER_LIST, type ListAddress } from './list-id.js';
import type { NumberSet } from './number-set.js';
import { markLists } from './batch-probe.js';

/** Which list blocks a number: its project's own list wins when it is on both. */
export type BlockingList = 'project' | 'master' | null;

/** The two lists that can block a number for one list address, resolved once per batch. */
export interface ResolvedLists {
  readonly project: NumberSet | undefined;
  readonly master: NumberSet | undefined;
}

export function resolveLists(store: DncStore, address: ListAddress): ResolvedLists {
  const organisation = store.organisation(address.org);
  if (organisation === undefined) return { project: undefined, master: undefined };
  const project = address.projId === MASTER_LIST ? undefined : organisation.projects.get(address.projId);
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
    const project = organisation.projects.get(projId as string);
    if (project === undefined) checkProjectId(projId);
    else if (project.has(number)) return true;
  }
  return organisation.master.has(number);
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
