// The in-memory state: organisations, each with one master list and any number of project lists.
// Organisations never share a list: the same projId in two organisations is two NumberSets.
// A list exists while it holds numbers (snapshots and the state digest skip empty lists): a project
// list that a change empties is dropped from its organisation, so pages of lists never walk empty
// ones. Each organisation keeps its project ids in order (sorted-names.ts) and running counts of
// its lists and numbers, so that paging, stats() and /metrics never walk every list. The lists of a
// store in the sorted layout share one SortedPool (sorted-pool.ts); a forgotten list gives its slot back.
// The project lists a snapshot load installs stay in a LoadedLists (loaded-lists.ts) until first
// named: `project` takes one out into a NumberSet; pages and walks merge both in id order.

import { assert } from '../assert.js';
import { DEFAULT_ORGANISATION, PROJECT_ID_CHARS_MAX } from '../constants.js';
import { numberFromParts } from '../phone/digits.js';
import { MASTER_LIST, type ListAddress } from './list-id.js';
import type { LoadedLists } from './loaded-lists.js';
import { NumberSet } from './number-set.js';
import { SortedNames } from './sorted-names.js';
import { SortedPool } from './sorted-pool.js';

/** One list of a page: its project id ('' for the master list) and how many numbers it holds. */
export interface ListEntry {
  readonly projId: string;
  readonly numbers: number;
}

/** One list of Organisation.projectEntries. */
export interface ProjectEntry {
  projId: string;
  set: NumberSet | undefined;
  index: number;
}

export class Organisation {
  readonly master: NumberSet;
  /** Project lists held as NumberSets; a list is here or live in `loaded`, never both. */
  private readonly projects = new Map<string, NumberSet>();
  /** The keys of `projects`, in order, each with its list. */
  private readonly projectIds = new SortedNames<NumberSet>();
  /** Project lists as a snapshot load left them, not named since (see the file header). */
  private loaded: LoadedLists | undefined = undefined;
  /** Lists holding numbers (the master list included) and the numbers on them, kept by DncStore.change. */
  listCount = 0;
  numberCount = 0;
  private readonly sortedPool: SortedPool;

  constructor(sortedPool: SortedPool = new SortedPool()) {
    this.sortedPool = sortedPool;
    this.master = new NumberSet(sortedPool);
  }

  list(projId: string): NumberSet | undefined {
    return projId === MASTER_LIST ? this.master : this.project(projId);
  }

  /** A project list (not the master list), if it exists: the lookup hot path. */
  project(projId: string): NumberSet | undefined {
    return this.projects.get(projId) ?? (this.loaded === undefined ? undefined : this.takeLoaded(projId));
  }

  /** Moves a loaded list into a NumberSet over its slot (no copy), or undefined when there is none. */
  private takeLoaded(projId: string): NumberSet | undefined {
    // The hot path passes what a caller gave, unchecked: only a string of an id's length can name a list.
    if (typeof projId !== 'string' || projId.length > PROJECT_ID_CHARS_MAX) return undefined;
    const loaded = this.loaded!;
    const index = loaded.indexOf(projId);
    if (index < 0) return undefined;
    const { chunk, start, size } = loaded.take(index);
    if (loaded.count === 0) this.loaded = undefined; // every list named: its index is no longer needed
    const list = new NumberSet(this.sortedPool);
    list.adoptLoadedSlot(chunk, start, size);
    this.projects.set(projId, list);
    this.projectIds.add(projId, list);
    return list;
  }

  /** Installs the project lists of a snapshot into an organisation that has none (counts: recount). */
  installLoaded(loaded: LoadedLists): void {
    assert(this.projects.size === 0 && this.loaded === undefined, 'loaded lists go into an organisation without project lists');
    this.loaded = loaded;
  }

  listForWrite(projId: string): NumberSet {
    if (projId === MASTER_LIST) return this.master;
    let list = this.project(projId);
    if (list === undefined) {
      list = new NumberSet(this.sortedPool);
      this.projects.set(projId, list);
      this.projectIds.add(projId, list);
    }
    return list;
  }

  /** Forgets a project list (dropped, or emptied by a change); it answers as empty from then on. */
  deleteProject(projId: string): void {
    const list = this.project(projId);
    if (list === undefined) return;
    this.projects.delete(projId);
    this.projectIds.delete(projId);
    list.release();
  }

  /** Up to `limit` lists holding numbers, by project id above `after` (undefined: from the master list). */
  page(after: string | undefined, limit: number): { lists: ListEntry[]; more: boolean } {
    const lists: ListEntry[] = [];
    if (after === undefined && this.master.size > 0) lists.push({ projId: MASTER_LIST, numbers: this.master.size });
    for (const entry of this.projectEntries(after ?? MASTER_LIST)) {
      const projId = entry.set !== undefined ? entry.projId : this.loaded!.nameAt(entry.index);
      const numbers = entry.set !== undefined ? entry.set.size : this.loaded!.sizeAt(entry.index);
      // Only a list made by listForWrite and never filled is empty here (a change forgets emptied lists).
      if (numbers === 0) continue;
      if (lists.length === limit) return { lists, more: true };
      lists.push({ projId, numbers });
    }
    return { lists, more: false };
  }

  /**
   * The project lists with ids above `after`, in id order: a list held as a NumberSet (`set`, with
   * `projId`) or a loaded one (`index` in `loadedLists`, `set` undefined). One object, reused: read
   * it before the next. Nothing may change the organisation's lists meanwhile.
   */
  *projectEntries(after: string): IterableIterator<ProjectEntry> {
    const loaded = this.loaded;
    const end = loaded?.length ?? 0;
    let index = loaded === undefined ? 0 : loaded.firstAfter(after);
    const entry: ProjectEntry = { projId: '', set: undefined, index: -1 };
    const yieldLoaded = (at: number): ProjectEntry => {
      entry.projId = '';
      entry.set = undefined;
      entry.index = at;
      return entry;
    };
    for (const { name, value } of this.projectIds.entriesAfter(after)) {
      for (; index < end && loaded!.compareName(index, name) < 0; index++) if (loaded!.isLive(index)) yield yieldLoaded(index);
      entry.projId = name;
      entry.set = value;
      entry.index = -1;
      yield entry;
    }
    for (; index < end; index++) if (loaded!.isLive(index)) yield yieldLoaded(index);
  }

  /**
   * Every project list, in id order, as projectEntries has them: `onSet` for a list held as a
   * NumberSet, `onLoaded` for a loaded one (its index in `loadedLists`). Callbacks, not a generator:
   * a snapshot's capture walks a million lists, and resuming two generators per list cost more than
   * the rest of the capture. Nothing may change the organisation's lists meanwhile.
   */
  forEachProject(onSet: (projId: string, set: NumberSet) => void, onLoaded: (index: number) => void): void {
    const loaded = this.loaded;
    const end = loaded?.length ?? 0;
    let index = 0;
    this.projectIds.forEach((name, set) => {
      for (; index < end && loaded!.compareName(index, name) < 0; index++) if (loaded!.isLive(index)) onLoaded(index);
      onSet(name, set!);
    });
    for (; index < end; index++) if (loaded!.isLive(index)) onLoaded(index);
  }

  /** The loaded lists projectEntries' indexes refer to. */
  get loadedLists(): LoadedLists | undefined {
    return this.loaded;
  }

  /** Counts every list again (after a snapshot is installed list by list). */
  recount(): void {
    this.listCount = this.master.size > 0 ? 1 : 0;
    this.numberCount = this.master.size;
    for (const list of this.projects.values()) {
      if (list.size > 0) this.listCount++;
      this.numberCount += list.size;
    }
    this.listCount += this.loaded?.count ?? 0;
    this.numberCount += this.loaded?.numberCount ?? 0;
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
    return this.organisationForWrite(address.org).listForWrite(address.projId);
  }

  /** Installs an organisation's loaded project lists (snapshot loading; then recount). */
  installLoaded(org: string, loaded: LoadedLists): void {
    this.organisationForWrite(org).installLoaded(loaded);
  }

  private organisationForWrite(org: string): Organisation {
    let organisation = this.organisations.get(org);
    if (organisation === undefined) {
      organisation = new Organisation(this.sortedPool);
      this.organisations.set(org, organisation);
      if (org === DEFAULT_ORGANISATION) this.defaultMaster = organisation.master;
    }
    return organisation;
  }

  /**
   * Adds or removes sorted numbers and keeps the organisation's counts; a project list left empty
   * is forgotten. Returns how many numbers changed. Every change of numbers goes through here.
   */
  change(address: ListAddress, sorted: Float64Array, adding: boolean): number {
    const organisation = adding ? this.organisationForWrite(address.org) : this.organisations.get(address.org);
    const list = adding ? organisation!.listForWrite(address.projId) : organisation?.list(address.projId);
    if (organisation === undefined || list === undefined) return 0;
    const before = list.size;
    try {
      return adding ? list.addSorted(sorted) : list.removeSorted(sorted);
    } finally {
      const after = list.size;
      organisation.numberCount += after - before;
      organisation.listCount += (after > 0 ? 1 : 0) - (before > 0 ? 1 : 0);
      if (after === 0 && address.projId !== MASTER_LIST) organisation.deleteProject(address.projId);
    }
  }

  /** Forgets a project list; returns how many numbers it held (0: there was no such list). */
  dropList(address: ListAddress): number {
    assert(address.projId !== MASTER_LIST, 'dropList: the master list is never dropped');
    const organisation = this.organisations.get(address.org);
    const list = organisation?.project(address.projId);
    if (organisation === undefined || list === undefined) return 0;
    const size = list.size;
    organisation.numberCount -= size;
    if (size > 0) organisation.listCount--;
    organisation.deleteProject(address.projId);
    return size;
  }

  /** Counts every organisation's lists again: after a snapshot was installed into this store. */
  recount(): void {
    for (const organisation of this.organisations.values()) organisation.recount();
  }

  /** The organisations, by name, with their running counts (no list is walked). */
  organisationCounts(): { org: string; lists: number; numbers: number }[] {
    return [...this.organisations.keys()].sort().map((org) => {
      const organisation = this.organisations.get(org)!;
      return { org, lists: organisation.listCount, numbers: organisation.numberCount };
    });
  }

  /** See SortedPool.pin: views of sorted lists (NumberSet.shareSorted) stay unchanged until the returned function is called. */
  pinSortedLists(): () => void {
    return this.sortedPool.pin();
  }

  /**
   * Every list, in a stable order (organisation, then master before projects by id), for reading
   * only: a loaded list comes as a NumberSet over its slot made for the walk (the store does not
   * hold it), so the walk takes nothing out of the loaded lists.
   */
  *lists(): IterableIterator<[ListAddress, NumberSet]> {
    for (const [org, organisation] of this.organisationsInOrder()) {
      yield [{ org, projId: MASTER_LIST }, organisation.master];
      const loaded = organisation.loadedLists;
      for (const { projId, set, index } of organisation.projectEntries(MASTER_LIST)) {
        if (set !== undefined) {
          yield [{ org, projId }, set];
          continue;
        }
        const view = new NumberSet(this.sortedPool);
        view.adoptLoadedSlot(loaded!.chunkAt(index), loaded!.startAt(index), loaded!.sizeAt(index));
        yield [{ org, projId: loaded!.nameAt(index) }, view];
      }
    }
  }

  /** The organisations by name. */
  organisationsInOrder(): [string, Organisation][] {
    return [...this.organisations.keys()].sort().map((org) => [org, this.organisations.get(org)!]);
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
