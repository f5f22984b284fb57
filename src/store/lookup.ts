// Read paths over a DncStore: which list blocks a number, and the batch scrub. A number is blocked
// for project P if it is on P's list or on the organisation's master list; without a project only
// the master list applies.

import { SCRUB_SET_OPERATIONS_NUMBERS_MIN } from '../constants.js';
import { numberFromParts } from '../phone/digits.js';
import type { DncStore } from './dnc-store.js';
import { MASTER_LIST, type ListAddress } from './list-id.js';
import { forEachAreaCodeRun, type NumberSet } from './number-set.js';
import { RoaringBitmap32 } from './roaring.js';

/** Which list blocks a number: its project's own list wins when it is on both. */
export type BlockingList = 'project' | 'master' | null;

interface ResolvedLists {
  readonly project: NumberSet | undefined;
  readonly master: NumberSet | undefined;
}

function resolveLists(store: DncStore, address: ListAddress): ResolvedLists {
  const organisation = store.organisation(address.org);
  if (organisation === undefined) return { project: undefined, master: undefined };
  const project = address.projId === MASTER_LIST ? undefined : organisation.projects.get(address.projId);
  return { project, master: organisation.master };
}

export function blockingList(store: DncStore, address: ListAddress, number: number): BlockingList {
  const { project, master } = resolveLists(store, address);
  if (project !== undefined && project.has(number)) return 'project';
  if (master !== undefined && master.has(number)) return 'master';
  return null;
}

export function isBlockedNumber(store: DncStore, address: ListAddress, number: number): boolean {
  return blockingList(store, address, number) !== null;
}

/** The blocked subset of `numbers`, sorted ascending and without duplicates. */
export function scrubNumbers(store: DncStore, address: ListAddress, numbers: Float64Array): Float64Array {
  const lists = resolveLists(store, address);
  if (lists.project === undefined && lists.master === undefined) return new Float64Array(0);
  const sorted = numbers.slice().sort();
  if (sorted.length < SCRUB_SET_OPERATIONS_NUMBERS_MIN) return scrubByProbing(lists, sorted);
  return scrubBySetOperations(lists, sorted);
}

function scrubByProbing(lists: ResolvedLists, sorted: Float64Array): Float64Array {
  const blocked = new Float64Array(sorted.length);
  let count = 0;
  let previous = -1;
  for (const number of sorted) {
    if (number === previous) continue;
    previous = number;
    if (lists.project?.has(number) === true || lists.master?.has(number) === true) blocked[count++] = number;
  }
  return blocked.slice(0, count);
}

function scrubBySetOperations(lists: ResolvedLists, sorted: Float64Array): Float64Array {
  const blocked = new Float64Array(sorted.length);
  let count = 0;
  forEachAreaCodeRun(sorted, (areaCode, rests) => {
    const projectBitmap = lists.project?.areaBitmap(areaCode);
    const masterBitmap = lists.master?.areaBitmap(areaCode);
    if (projectBitmap === undefined && masterBitmap === undefined) return;
    const query = new RoaringBitmap32(rests);
    const hits = blockedRests(query, projectBitmap, masterBitmap);
    for (const rest of hits) blocked[count++] = numberFromParts(areaCode, rest);
  });
  return blocked.slice(0, count);
}

function blockedRests(
  query: RoaringBitmap32,
  projectBitmap: RoaringBitmap32 | undefined,
  masterBitmap: RoaringBitmap32 | undefined,
): Uint32Array {
  if (projectBitmap === undefined) return RoaringBitmap32.and(query, masterBitmap!).toUint32Array();
  const hits = RoaringBitmap32.and(query, projectBitmap);
  if (masterBitmap !== undefined) hits.orInPlace(RoaringBitmap32.and(query, masterBitmap));
  return hits.toUint32Array();
}
