// Store-level helpers of the bulk paths, kept out of the engine class so that it only delegates:
// the per-number lookup of a streamed scrub (codes into a byte array, no strings, no objects) and
// the walk of one list area code by area code for exports (one area materialised at a time).

import { numberFromParts } from '../phone/digits.js';
import { markLists } from '../store/batch-probe.js';
import type { DncStore } from '../store/dnc-store.js';
import { MASTER_LIST, type ListAddress } from '../store/list-id.js';
import type { BlockingList } from '../store/lookup.js';

/** Lookup outcome codes written by `blockingCodes`. */
export const NOT_BLOCKED = 0;
export const BLOCKED_BY_PROJECT = 1;
export const BLOCKED_BY_MASTER = 2;

export const BLOCKING_LIST_OF_CODE: readonly BlockingList[] = [null, 'project', 'master'];

/** Writes into `out[i]` which list blocks `numbers[i]` for i < count (project wins over master). */
export function blockingCodes(store: DncStore, address: ListAddress, numbers: Float64Array, count: number, out: Uint8Array): void {
  const organisation = store.organisation(address.org);
  const master = organisation?.master;
  const project = address.projId === MASTER_LIST ? undefined : organisation?.projects.get(address.projId);
  // Bit 1 (project) and bit 2 (master) are the codes; on both lists (3) the project wins.
  markLists([project, master], numbers, count, out);
  for (let i = 0; i < count; i++) if (out[i] === BLOCKED_BY_PROJECT + BLOCKED_BY_MASTER) out[i] = BLOCKED_BY_PROJECT;
}

/** The numbers of one list, ascending, one area code per yielded array (empty list: nothing). */
export function* listAreaNumbers(store: DncStore, address: ListAddress): IterableIterator<Float64Array> {
  const list = store.list(address);
  if (list === undefined) return;
  for (const [areaCode, bitmap] of list.areas()) {
    const rests = bitmap.toUint32Array();
    const numbers = new Float64Array(rests.length);
    for (let i = 0; i < rests.length; i++) numbers[i] = numberFromParts(areaCode, rests[i]!);
    yield numbers;
  }
}
