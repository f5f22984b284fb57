// The in-memory state: organisations, each with one master list and any number of project lists.
// Organisations never share a list: the same projId in two organisations is two NumberSets. The
// lists of a store in the sorted layout share one SortedPool (sorted-pool.ts).

import { DEFAULT_ORGANISATION } from '../constants.js';
import { numberFromParts } from '../phone/digits.js';
import { MASTER_LIST, type ListAddress } from './list-id.js';
import { NumberSet } from './number-set.js';
import { SortedPool } from './sorted-pool.js';

export class Organisation {
  readonly master: NumberSet;
  readonly projects = new Map<string, NumberSet>();
  private readonly sortedPool: SortedPool;

  constructor(sortedPool: SortedPool = new SortedPool()) {
    this.sortedPool = sortedPool;
    this.master = new NumberSet(sortedPool);
  }

  list(projId: string): NumberSet | undefined {
    return projId === MASTER_LIST ? this.master : this.projects.get(projId);
  }

  listForWrite(projId: string): NumberSet {
    if (projId === MASTER_LIST) return this.master;
    let list = this.projects.get(projId);
    if (list === undefined) {
      list = new NumberSet(this.sortedPool);
      this.projects.set(projId, list);
    }
    return list;
  }
}

export class DncStore {
  private readonly organisations = new Map<string, Organisation>();
  private readonly sortedPool = new SortedPool();

  /**
   * The default organisation's master list once it exists: `isBlocked(number)` without options
   * reaches it with one field read (every dependent load before the bitmap's own delays the lookup).
   */
  defaultMaster: NumberSet | undefined;

  /** The last organisation looked up: single lookups of one dialer repeat the same name. */
  private lastName: string | undefined;
  private lastOrganisation: Organisation | undefined;

  organisation(org: string): Organisation | undefined {
    if (org === this.lastName) return this.lastOrganisation;
    const organisation = this.organisations.get(org);
    if (organisation !== undefined) {
      this.lastName = org;
      this.lastOrganisation = organisation;
    }
    return organisation;
  }

  list(address: ListAddress): NumberSet | undefined {
    return this.organisations.get(address.org)?.list(address.projId);
  }

  listForWrite(address: ListAddress): NumberSet {
    let organisation = this.organisations.get(address.org);
    if (organisation === undefined) {
      organisation = new Organisation(this.sortedPool);
      this.organisations.set(address.org, organisation);
      if (address.org === DEFAULT_ORGANISATION) this.defaultMaster = organisation.master;
    }
    return organisation.listForWrite(address.projId);
  }

  /** See SortedPool.pin: views of sorted lists (NumberSet.shareSorted) stay unchanged until the returned function is called. */
  pinSortedLists(): () => void {
    return this.sortedPool.pin();
  }

  /** Every list, in a stable order (organisation, then master before projects by id). */
  *lists(): IterableIterator<[ListAddress, NumberSet]> {
    for (const org of [...this.organisations.keys()].sort()) {
      const organisation = this.organisations.get(org)!;
      yield [{ org, projId: MASTER_LIST }, organisation.master];
      for (const projId of [...organisation.projects.keys()].sort()) {
        yield [{ org, projId }, organisation.projects.get(projId)!];
      }
    }
  }
}

/** The numbers of one list, ascending, one area code per yielded array (exports: one area in memory at a time). */
export function* listAreaNumbers(store: DncStore, address: ListAddress): IterableIterator<Float64Array> {
  const list = store.list(address);
  if (list === undefined) return;
  for (const [areaCode, rests] of list.areaRests()) {
    const numbers = new Float64Array(rests.length);
    for (let i = 0; i < rests.length; i++) numbers[i] = numberFromParts(areaCode, rests[i]!);
    yield numbers;
  }
}
