// The sorted section of a format 3 snapshot (snapshot.ts has the file's layout): every list in the
// sorted layout, as one table of ids and sizes, then one block of all their numbers. A million small
// lists were a million items to encode, decode and copy; here the save copies numbers from their
// slots into 4 MiB buffers, and the load reads the block straight into the chunks the lists keep
// (loaded-lists.ts): one read per 8 MiB, a tight check over each chunk, no object per list.
//
// The table, per organisation (ascending by id):
//   u8 id length (1-64), the id's bytes, u32 LE n (lists of the group, at least 1),
//   n x u32 LE sizes (1 to SORTED_LIST_NUMBERS_MAX), n x u8 project id lengths (0-64: 0 is the
//   master list, first in its group only), then the project ids' bytes, strictly ascending.
// The block: each list's numbers in table order, ascending, as f64 little-endian.

import os from 'node:os';
import { AREA_REST_MODULUS, SORTED_LIST_NUMBERS_MAX, SORTED_LOAD_CHUNK_BYTES } from '../constants.js';
import { DataCorruptError } from '../errors.js';
import type { DncStore } from '../store/dnc-store.js';
import { MASTER_LIST } from '../store/list-id.js';
import { ID_HASH_OFFSET, ID_HASH_PRIME, LoadedLists } from '../store/loaded-lists.js';
import { assert } from '../assert.js';

/** What a format 3 header says of the sorted section. */
export interface SortedSectionHeader {
  readonly lists: number;
  readonly tableBytes: number;
  readonly numbers: number;
}

const ID_CHARS_MAX = 64;
const LITTLE_ENDIAN = os.endianness() === 'LE';
/**
 * Numbers per chunk a load reads the block into (each chunk ends at a list's end): 1 MiB, so that a
 * chunk checksummed is still in cache when its lists are checked.
 */
export const LOAD_CHUNK_NUMBERS = SORTED_LOAD_CHUNK_BYTES / 8;
/** Bytes per list in the table beyond its id: its size and its id's length. */
const LIST_ENTRY_BYTES = 4 + 1;

/** 1 for the bytes an id may hold: A-Z a-z 0-9 . _ - (list-id.ts). */
const ID_BYTES = new Uint8Array(256);
for (const char of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-') ID_BYTES[char.charCodeAt(0)] = 1;

/**
 * The sorted lists a capture took: the table's bytes, and their numbers in table order as pieces:
 * `counts[p]` numbers of `chunks[p]` from `starts[p]`. A piece is one list, or several lists whose
 * numbers lie one after another in one chunk (a snapshot load leaves its lists so), joined.
 */
export interface CapturedSortedLists {
  readonly table: Buffer;
  readonly lists: number;
  readonly numbers: number;
  readonly pieces: number;
  readonly chunks: readonly Float64Array[];
  readonly starts: Uint32Array;
  readonly counts: Uint32Array;
}

/**
 * Builds the table while a capture walks the lists in order (synchronously). Typed arrays and one
 * pass per list, no object per list: a capture of a million lists blocks the writer meanwhile.
 */
export class SortedTableBuilder {
  private table = Buffer.allocUnsafe(64 * 1024);
  private used = 0;
  private org = '';
  private loaded: LoadedLists | undefined;
  /** The organisation's lists so far: each one's size and id length, and the ids' bytes. */
  private groupSizes = new Uint32Array(1024);
  private groupLengths = new Uint8Array(1024);
  private groupNames = Buffer.allocUnsafe(8 * 1024);
  private groupLists = 0;
  private groupNameBytes = 0;
  private readonly chunks: Float64Array[] = [];
  private starts = new Uint32Array(1024);
  private counts = new Uint32Array(1024);
  private pieces = 0;
  private lists = 0;
  private numbers = 0;

  startOrganisation(org: string, loaded: LoadedLists | undefined): void {
    this.org = org;
    this.loaded = loaded;
    this.groupLists = 0;
    this.groupNameBytes = 0;
  }

  /** A list held as a NumberSet (projId '' for the master list): `size` numbers of `chunk` from `start`. */
  addList(projId: string, chunk: Float64Array, start: number, size: number): void {
    const names = this.addEntry(size, projId.length);
    let at = this.groupNameBytes;
    for (let k = 0; k < projId.length; k++) names[at++] = projId.charCodeAt(k); // ASCII ids; short, so no Buffer.write call
    this.groupNameBytes = at;
    this.addNumbers(chunk, start, size);
  }

  /** A list still in the organisation's loaded lists. */
  addLoaded(index: number): void {
    const loaded = this.loaded!;
    const size = loaded.sizeAt(index);
    this.groupNameBytes = loaded.copyName(index, this.addEntry(size, loaded.nameBytes(index)), this.groupNameBytes);
    this.addNumbers(loaded.chunkAt(index), loaded.startAt(index), size);
  }

  endOrganisation(): void {
    const count = this.groupLists;
    if (count === 0) return;
    const org = this.org;
    this.reserve(1 + org.length + 4 + count * LIST_ENTRY_BYTES + this.groupNameBytes);
    const table = this.table;
    let at = table.writeUInt8(org.length, this.used);
    at += table.write(org, at, 'latin1');
    at = table.writeUInt32LE(count, at);
    if (LITTLE_ENDIAN) table.set(new Uint8Array(this.groupSizes.buffer, 0, 4 * count), at);
    else for (let l = 0; l < count; l++) table.writeUInt32LE(this.groupSizes[l]!, at + 4 * l);
    at += 4 * count;
    table.set(this.groupLengths.subarray(0, count), at);
    at += count;
    table.set(this.groupNames.subarray(0, this.groupNameBytes), at);
    this.used = at + this.groupNameBytes;
  }

  finish(): CapturedSortedLists {
    const pieces = this.pieces;
    return {
      table: this.table.subarray(0, this.used), lists: this.lists, numbers: this.numbers,
      pieces, chunks: this.chunks, starts: this.starts.subarray(0, pieces), counts: this.counts.subarray(0, pieces),
    };
  }

  /** Records a list of the group; returns the buffer its `nameLength` id bytes go into, from groupNameBytes. */
  private addEntry(size: number, nameLength: number): Buffer {
    const l = this.groupLists;
    if (l === this.groupSizes.length) {
      this.groupSizes = grown(this.groupSizes, l);
      this.groupLengths = grown(this.groupLengths, l);
    }
    this.groupSizes[l] = size;
    this.groupLengths[l] = nameLength;
    this.groupLists = l + 1;
    if (this.groupNameBytes + nameLength > this.groupNames.length) {
      const names = Buffer.allocUnsafe(2 * this.groupNames.length + nameLength);
      names.set(this.groupNames.subarray(0, this.groupNameBytes));
      this.groupNames = names;
    }
    return this.groupNames;
  }

  /** The list's numbers: joined to the piece before when they follow it in the same chunk. */
  private addNumbers(chunk: Float64Array, start: number, size: number): void {
    this.lists++;
    this.numbers += size;
    const last = this.pieces - 1;
    if (last >= 0 && this.chunks[last] === chunk && this.starts[last]! + this.counts[last]! === start) {
      this.counts[last] = this.counts[last]! + size;
      return;
    }
    if (this.pieces === this.starts.length) {
      this.starts = grown(this.starts, this.pieces);
      this.counts = grown(this.counts, this.pieces);
    }
    this.chunks.push(chunk);
    this.starts[this.pieces] = start;
    this.counts[this.pieces] = size;
    this.pieces++;
  }

  private reserve(bytes: number): void {
    if (this.used + bytes <= this.table.length) return;
    const grownTable = Buffer.allocUnsafe(Math.max(2 * this.table.length, this.used + bytes));
    this.table.copy(grownTable, 0, 0, this.used);
    this.table = grownTable;
  }
}

/** A typed array twice as long holding the first `used` entries of `array`. */
function grown<T extends Uint32Array | Uint8Array>(array: T, used: number): T {
  const larger = new (array.constructor as new (length: number) => T)(2 * array.length);
  larger.set(array.subarray(0, used));
  return larger;
}

/** One organisation's group of the table: lists [first, first + count) of the section. */
interface TableGroup {
  readonly org: string;
  readonly first: number;
  readonly count: number;
  /** Where list first + k's id starts in the table: nameStarts[k] (its end: nameStarts[k + 1]). */
  readonly nameStarts: Uint32Array;
  /** The hash of each list's id (LoadedLists' index). */
  readonly hashes: Uint32Array;
}

/** A checked table: its groups and every list's size, in table order. */
export interface SortedTable {
  readonly table: Buffer;
  readonly groups: readonly TableGroup[];
  readonly sizes: Uint32Array;
}

/** Checks and reads the table (DataCorruptError on anything idnc would not have written). */
export function parseSortedTable(table: Buffer, header: SortedSectionHeader): SortedTable {
  const sizes = new Uint32Array(header.lists);
  const groups: TableGroup[] = [];
  let at = 0;
  let list = 0;
  let total = 0;
  let previousOrg = '';
  while (at < table.length) {
    const orgLength = table[at]!;
    const countAt = at + 1 + orgLength;
    if (orgLength === 0 || orgLength > ID_CHARS_MAX || countAt + 4 > table.length || !validId(table, at + 1, countAt)) throw new DataCorruptError('sorted table: invalid organisation id');
    const org = table.toString('latin1', at + 1, countAt);
    if (groups.length > 0 && !(org > previousOrg)) throw new DataCorruptError('sorted table: organisations out of order');
    previousOrg = org;
    const count = table.readUInt32LE(countAt);
    if (count === 0 || count > header.lists - list) throw new DataCorruptError('sorted table: more lists than the header announces');
    const sizesAt = countAt + 4;
    const lengthsAt = sizesAt + 4 * count;
    if (lengthsAt + count > table.length) throw new DataCorruptError('sorted table: cut short');
    for (let k = 0; k < count; k++) {
      const size = table.readUInt32LE(sizesAt + 4 * k);
      if (size === 0 || size > SORTED_LIST_NUMBERS_MAX) throw new DataCorruptError(`sorted table: a list of ${size} numbers`);
      sizes[list + k] = size;
      total += size;
    }
    const { nameStarts, hashes } = groupNames(table, lengthsAt, count);
    groups.push({ org, first: list, count, nameStarts, hashes });
    list += count;
    at = nameStarts[count]!;
  }
  if (list !== header.lists || total !== header.numbers) throw new DataCorruptError(`sorted table holds ${list} lists of ${total} numbers, the header announces ${header.lists} of ${header.numbers}`);
  return { table, groups, sizes };
}

/**
 * Checks a group's project ids (valid, ascending, '' only first); returns where each starts (and
 * where the last ends) and each one's hash, computed in the same pass over its bytes.
 */
function groupNames(table: Buffer, lengthsAt: number, count: number): { nameStarts: Uint32Array; hashes: Uint32Array } {
  const nameStarts = new Uint32Array(count + 1);
  const hashes = new Uint32Array(count);
  let at = lengthsAt + count;
  for (let k = 0; k < count; k++) {
    const length = table[lengthsAt + k]!;
    nameStarts[k] = at;
    const end = at + length;
    if (length > ID_CHARS_MAX || (length === 0 && k > 0) || end > table.length) throw new DataCorruptError('sorted table: invalid project id');
    let hash = ID_HASH_OFFSET;
    for (let b = at; b < end; b++) {
      const byte = table[b]!;
      if (ID_BYTES[byte] === 0) throw new DataCorruptError('sorted table: invalid project id');
      hash = Math.imul(hash ^ byte, ID_HASH_PRIME);
    }
    hashes[k] = hash >>> 0;
    if (k > 0 && compareBytes(table, nameStarts[k - 1]!, at, at, end) >= 0) throw new DataCorruptError('sorted table: project ids out of order');
    at = end;
  }
  nameStarts[count] = at;
  return { nameStarts, hashes };
}

function validId(bytes: Buffer, from: number, to: number): boolean {
  for (let k = from; k < to; k++) if (ID_BYTES[bytes[k]!] === 0) return false;
  return true;
}

function compareBytes(bytes: Buffer, aFrom: number, aTo: number, bFrom: number, bTo: number): number {
  const common = Math.min(aTo - aFrom, bTo - bFrom);
  for (let k = 0; k < common; k++) {
    const difference = bytes[aFrom + k]! - bytes[bFrom + k]!;
    if (difference !== 0) return difference;
  }
  return aTo - aFrom - (bTo - bFrom);
}

/** Where each list's numbers go: chunks of at most `chunkNumbersMax` numbers that end at a list's end. */
export interface SortedPlacement {
  readonly chunkIndexes: Uint32Array;
  readonly starts: Uint32Array;
  /** Per chunk: its numbers, and the lists [listFrom, listTo) in it. */
  readonly chunkNumbers: readonly number[];
  readonly chunkLists: readonly number[];
}

export function placeSortedLists(sizes: Uint32Array, chunkNumbersMax = LOAD_CHUNK_NUMBERS): SortedPlacement {
  const chunkIndexes = new Uint32Array(sizes.length);
  const starts = new Uint32Array(sizes.length);
  const chunkNumbers: number[] = [];
  const chunkLists: number[] = [0];
  let used = 0;
  for (let l = 0; l < sizes.length; l++) {
    const size = sizes[l]!;
    if (used > 0 && used + size > chunkNumbersMax) {
      chunkNumbers.push(used);
      chunkLists.push(l);
      used = 0;
    }
    chunkIndexes[l] = chunkNumbers.length;
    starts[l] = used;
    used += size;
  }
  if (used > 0) chunkNumbers.push(used);
  else chunkLists.pop();
  if (chunkNumbers.length > 0) chunkLists.push(sizes.length);
  return { chunkIndexes, starts, chunkNumbers, chunkLists };
}

/**
 * Makes chunk `c`'s bytes (as read from the file, little-endian) its numbers and checks each of its
 * lists: ascending, distinct, valid. False when a list fails.
 */
export function checkChunk(placement: SortedPlacement, sizes: Uint32Array, chunk: Float64Array, c: number): boolean {
  if (!LITTLE_ENDIAN) Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).swap64();
  const starts = placement.starts;
  const end = placement.chunkLists[c + 1]!;
  // The rule of isValidNumber (digits.ts) over an ascending run, in one loop a million lists can
  // afford: every number above NUMBER_MIN - 1 and above the one before it, so only the last is
  // compared with NUMBER_MAX; each an integer whose rest is at least REST_MIN.
  for (let l = placement.chunkLists[c]!; l < end; l++) {
    let previous = NUMBER_MIN - 1;
    const to = starts[l]! + sizes[l]!;
    for (let i = starts[l]!; i < to; i++) {
      const value = chunk[i]!;
      if (!(value > previous) || !Number.isInteger(value) || value - Math.floor(value / REST_MODULUS) * REST_MODULUS < REST_MIN) return false;
      previous = value;
    }
    if (!(previous <= NUMBER_MAX)) return false;
  }
  return true;
}

const NUMBER_MIN = 2_000_000_000;
const NUMBER_MAX = 9_999_999_999;
const REST_MODULUS = AREA_REST_MODULUS;
const REST_MIN = 2_000_000;

/** One organisation's sorted lists from a snapshot: its master list, and its project lists. */
export interface LoadedSortedGroup {
  readonly org: string;
  /** The master list's numbers: `size` numbers of chunks[chunkIndex] from `start`. */
  readonly master: { readonly chunkIndex: number; readonly start: number; readonly size: number } | undefined;
  readonly projects: LoadedLists | undefined;
}

export interface LoadedSortedLists {
  readonly lists: number;
  readonly groups: readonly LoadedSortedGroup[];
  readonly chunks: readonly Float64Array[];
  /** Chunks the numbers fill: `chunks` has them all once they are read. */
  readonly chunkCount: number;
}

/**
 * The loaded lists of a checked table whose numbers are, or will be by the time they are
 * installed, in `chunks` (checked by checkChunk): a load builds them while it reads the numbers.
 */
export function loadedSortedLists(parsed: SortedTable, placement: SortedPlacement, chunks: readonly Float64Array[]): LoadedSortedLists {
  const { table, sizes } = parsed;
  const groups = parsed.groups.map(({ org, first, count, nameStarts, hashes }): LoadedSortedGroup => {
    const hasMaster = nameStarts[0] === nameStarts[1];
    const master = hasMaster ? { chunkIndex: placement.chunkIndexes[first]!, start: placement.starts[first]!, size: sizes[first]! } : undefined;
    const from = first + (hasMaster ? 1 : 0);
    const end = first + count;
    const projects = from === end ? undefined : new LoadedLists(
      table,
      nameStarts.subarray(from - first),
      sizes.subarray(from, end),
      placement.chunkIndexes.subarray(from, end),
      placement.starts.subarray(from, end),
      chunks,
      hashes.subarray(from - first),
    );
    return { org, master, projects };
  });
  return { lists: sizes.length, groups, chunks, chunkCount: placement.chunkNumbers.length };
}

/** Whether the sorted lists hold the list `projId` of `org` (a list saved twice is corruption). */
export function holdsList(sorted: LoadedSortedLists, org: string, projId: string): boolean {
  const group = sorted.groups.find((candidate) => candidate.org === org);
  if (group === undefined) return false;
  return projId === MASTER_LIST ? group.master !== undefined : (group.projects?.indexOf(projId) ?? -1) >= 0;
}

/** Installs the sorted lists into an empty store (before its other lists). */
export function installSortedLists(store: DncStore, sorted: LoadedSortedLists): void {
  assert(sorted.chunks.length === sorted.chunkCount, 'sorted lists are installed once their numbers are read');
  for (const { org, master, projects } of sorted.groups) {
    if (master !== undefined) store.listForWrite({ org, projId: MASTER_LIST }).adoptLoadedSlot(sorted.chunks[master.chunkIndex]!, master.start, master.size);
    if (projects !== undefined) store.installLoaded(org, projects);
  }
}
