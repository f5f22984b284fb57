// Reading a snapshot file (the format is in snapshot.ts). When the header gives each list's bytes
// and pool words, each list is read straight into the buffer its pool will use, and its bitmaps are
// moved down into their regions. Otherwise (a file written before those fields, or a layout that
// does not add up) the whole file is read into one buffer, checked, and every bitmap is copied into
// a new pool. Both ways check the whole-file CRC-32 before decoding anything. Lists saved in the
// sorted layout (no pool words) are read many at a time, up to READ_CHUNK_BYTES per read: a
// million small lists must not cost a million reads. Reading into place touches every page once,
// by the read (copying out of one file buffer into new pools cost more than the read itself:
// docs/design.md). The CRC-32 of each chunk is computed while the next chunk is read. A format 3
// file's sorted section (snapshot-sorted.ts) is read last: its table, then its numbers straight into
// the chunks the lists keep, each chunk checksummed and checked while the next is read.

import fs from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import { unpackMultiple } from 'msgpackr';
import { ARRAY_EXPAND_CARDINALITY_MIN, SNAPSHOT_READ_CHUNK_BYTES } from '../constants.js';
import { DataCorruptError } from '../errors.js';
import { checkListAddress } from '../store/list-id.js';
import { BITMAP_CONTAINER_BYTES } from '../store/portable-bitmap.js';
import { WordPool } from '../store/word-pool.js';
import {
  AREA_ITEM_HEAD_BYTES, AREA_ITEMS_PER_LIST_MAX, CHECKSUM_MISMATCH, FOOTER_BYTES, MAGIC_BYTES, checkAreaItem, checkHeader,
  checkListHead, checkSnapshotBytes, hasEndMagic, hasMagic, placeList, sortedList, type ListHead, type LoadedList,
  type SnapshotHeader, type SnapshotLoad, checkDistinct,
} from './snapshot.js';
import { LOAD_CHUNK_NUMBERS, checkChunk, loadedSortedLists, parseSortedTable, placeSortedLists, type LoadedSortedLists, type SortedSectionHeader } from './snapshot-sorted.js';

/** Bytes read first: they hold the header item unless the file has tens of thousands of lists. */
const HEAD_READ_BYTES = 64 * 1024;
/** A head read that cut the header item short is repeated this many times longer. */
const HEAD_READ_GROWTH = 8;
/**
 * Reads of the sorted section's chunks in flight at once: the checksum and checks of one chunk run
 * while the next ones are read, each chunk small enough to stay in cache between the two.
 */
const SORTED_READS_IN_FLIGHT = 4;
/** Bytes per read call; the checksum of one chunk is computed while the next is read. */
const READ_CHUNK_BYTES = SNAPSHOT_READ_CHUNK_BYTES;
/**
 * A pool needs at most this many bytes per byte of its list's items: each bitmap copy (8 KiB) is
 * made for an array container of at least ARRAY_EXPAND_CARDINALITY_MIN 2-byte values. A layout
 * announcing more is not trusted (the header is read before the checksum can be checked).
 */
const POOL_BYTES_PER_LIST_BYTE_MAX = 1 + BITMAP_CONTAINER_BYTES / (2 * ARRAY_EXPAND_CARDINALITY_MIN);

interface InPlaceRead {
  readonly head: Buffer;
  /** Where the header item ends in the file (and in `head`): the first list starts there. */
  readonly headerEnd: number;
  readonly header: SnapshotHeader & { readonly layout: NonNullable<SnapshotHeader['layout']> };
  readonly storedChecksum: number;
  readonly size: number;
}

export interface ReadSnapshotOptions {
  /** Bytes of the first read, which must hold the header item (tests make it small). */
  readonly headReadBytes?: number;
  /** Numbers per chunk of the sorted section (default LOAD_CHUNK_NUMBERS; tests make it small). */
  readonly sortedChunkNumbers?: number;
}

/** Reads and fully checks a snapshot file; nothing is installed anywhere. */
export async function readSnapshot(filePath: string, options: ReadSnapshotOptions = {}): Promise<SnapshotLoad> {
  let handle: FileHandle;
  try {
    handle = await fs.promises.open(filePath, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { outcome: 'missing', detail: 'file does not exist' };
    throw error;
  }
  try {
    const { size } = await handle.stat();
    const plan = await planInPlaceRead(handle, size, options.headReadBytes ?? HEAD_READ_BYTES);
    const load = plan === undefined ? undefined : await readInPlace(handle, plan, options.sortedChunkNumbers ?? LOAD_CHUNK_NUMBERS);
    if (load !== undefined) return load;
    const bytes = Buffer.allocUnsafe(size);
    return checkSnapshotBytes(bytes.subarray(0, await readFully(handle, bytes, 0)));
  } finally {
    await handle.close();
  }
}

/** The header and layout of a file whose lists can be read into place, or undefined. */
async function planInPlaceRead(handle: FileHandle, size: number, headReadBytes: number): Promise<InPlaceRead | undefined> {
  if (size < MAGIC_BYTES + FOOTER_BYTES) return undefined;
  const footer = Buffer.alloc(FOOTER_BYTES);
  if (await readFully(handle, footer, size - FOOTER_BYTES) !== FOOTER_BYTES || !hasEndMagic(footer)) return undefined;
  const bodyEnd = size - FOOTER_BYTES;
  for (let length = Math.min(bodyEnd, headReadBytes); ; length = Math.min(bodyEnd, length * HEAD_READ_GROWTH)) {
    const head = Buffer.allocUnsafe(length);
    if (await readFully(handle, head, 0) !== length || !hasMagic(head)) return undefined;
    const item = firstItem(head.subarray(MAGIC_BYTES));
    if (item === INVALID_ITEM) return undefined; // more bytes cannot help: the whole read says what is wrong
    if (item !== INCOMPLETE_ITEM) return checkLayout(head, MAGIC_BYTES + item.end, item.value, footer.readUInt32LE(0), size);
    if (length === bodyEnd) return undefined;
  }
}

const INCOMPLETE_ITEM = 'incomplete';
const INVALID_ITEM = 'invalid';

/**
 * The first msgpack item of `bytes` and where it ends; INCOMPLETE_ITEM when the bytes end inside
 * it (msgpackr marks such errors `incomplete`), INVALID_ITEM when it cannot be decoded at all.
 */
function firstItem(bytes: Buffer): { value: unknown; end: number } | typeof INCOMPLETE_ITEM | typeof INVALID_ITEM {
  let item: { value: unknown; end: number } | undefined;
  try {
    unpackMultiple(bytes, (value: unknown, _start?: number, end?: number) => {
      item = { value, end: end! };
      return false;
    });
  } catch (error) {
    return (error as { incomplete?: boolean }).incomplete === true ? INCOMPLETE_ITEM : INVALID_ITEM;
  }
  return item ?? INCOMPLETE_ITEM;
}

function checkLayout(head: Buffer, headerEnd: number, item: unknown, storedChecksum: number, size: number): InPlaceRead | undefined {
  let header: SnapshotHeader;
  try {
    header = checkHeader(item);
  } catch {
    return undefined;
  }
  const layout = header.layout;
  if (layout === undefined) return undefined;
  const sortedBytes = header.sorted === undefined ? 0 : header.sorted.tableBytes + 8 * header.sorted.numbers;
  const listsEnd = layout.listBytes.reduce((end, bytes) => end + bytes, headerEnd) + sortedBytes;
  if (listsEnd + FOOTER_BYTES !== size) return undefined;
  const trusted = layout.listBytes.every((bytes, l) => 2 * layout.listPoolWords[l]! <= POOL_BYTES_PER_LIST_BYTE_MAX * bytes);
  return trusted ? { head, headerEnd, header: { ...header, layout }, storedChecksum, size } : undefined;
}

/**
 * Bytes of the buffer that a list's pool uses, with the list's items read into its end. Enough
 * for each bitmap to move down, never up: bitmap k's region starts at most at the pool words of
 * the bitmaps before it, and its bytes lie, counted from the buffer's end, past the bytes and item
 * heads of the bitmaps after it (an item head is longer than the padding a region adds).
 */
function poolBufferBytes(listBytes: number, poolWords: number): number {
  const heads = Math.min(listBytes, AREA_ITEMS_PER_LIST_MAX * AREA_ITEM_HEAD_BYTES);
  return 2 * Math.ceil(Math.max(listBytes, 2 * poolWords + heads + 2) / 2);
}

/**
 * What one read brought in: one list into the end of its pool's buffer (`words`), or the items of
 * `lists` lists saved in the sorted layout (`words` undefined).
 */
interface ReadRange {
  readonly range: Buffer;
  readonly words: Uint16Array | undefined;
  readonly lists: number;
}

/** The next read's range: one list with a pool, or lists without one, up to READ_CHUNK_BYTES. */
function nextRange(layout: InPlaceRead['header']['layout'], from: number, count: number): ReadRange | undefined {
  const { listBytes, listPoolWords } = layout;
  if (listPoolWords[from]! > 0) {
    const bytes = listBytes[from]!;
    const words = allocateWords(poolBufferBytes(bytes, listPoolWords[from]!) / 2);
    return words === undefined ? undefined : { range: Buffer.from(words.buffer, words.byteLength - bytes, bytes), words, lists: 1 };
  }
  let to = from;
  let bytes = 0;
  while (to < count && listPoolWords[to] === 0 && (to === from || bytes + listBytes[to]! <= READ_CHUNK_BYTES)) bytes += listBytes[to++]!;
  const range = allocateBytes(bytes);
  return range === undefined ? undefined : { range, words: undefined, lists: to - from };
}

/** Reads, checks and decodes every list into its pool; undefined when the layout does not hold. */
async function readInPlace(handle: FileHandle, plan: InPlaceRead, sortedChunkNumbers: number): Promise<SnapshotLoad | undefined> {
  let checksum = crc32(plan.head.subarray(0, plan.headerEnd));
  let position = plan.headerEnd;
  const ranges: ReadRange[] = [];
  for (let l = 0; l < plan.header.listCount; ) {
    const next = nextRange(plan.header.layout, l, plan.header.listCount);
    if (next === undefined) return undefined; // the layout, read before the checksum, asked too much
    const read = await readChecksummed(handle, next.range, position, checksum);
    if (read === undefined) return undefined; // the file shrank meanwhile: the whole read says how
    checksum = read;
    position += next.range.length;
    ranges.push(next);
    l += next.lists;
  }
  let sorted: LoadedSortedLists | undefined;
  if (plan.header.sorted !== undefined) {
    const section = await readSortedSection(handle, plan.header.sorted, position, checksum, sortedChunkNumbers);
    if (section === undefined) return undefined; // the whole read says what is wrong
    ({ sorted, checksum } = section);
  }
  if (checksum !== plan.storedChecksum) return CHECKSUM_MISMATCH;
  try {
    const lists = ranges.flatMap(({ range, words, lists: count }) => words === undefined ? decodeSortedLists(range, count) : [decodeListInPlace(range, words)]);
    checkDistinct(lists, sorted);
    return { outcome: 'ok', lastSeq: plan.header.lastSeq, lists, sorted, bytes: plan.size, readInPlace: true };
  } catch {
    // The bytes are as written (the checksum matches), so the layout was wrong, or the content is:
    // the whole-file read decides which, without the layout.
    return undefined;
  }
}

/**
 * The sorted section at `position`: its table, then its numbers read straight into the chunks the
 * lists will keep, one read per chunk, each chunk checksummed (continuing `checksum`) and its lists
 * checked while the next chunk is read. Undefined when anything does not hold (checked before the
 * whole file's checksum is known: the whole-file read then says what is wrong).
 */
async function readSortedSection(
  handle: FileHandle,
  header: SortedSectionHeader,
  position: number,
  checksum: number,
  chunkNumbers: number,
): Promise<{ sorted: LoadedSortedLists; checksum: number } | undefined> {
  const tableBytes = allocateBytes(header.tableBytes);
  if (tableBytes === undefined) return undefined;
  const tableChecksum = await readChecksummed(handle, tableBytes, position, checksum);
  if (tableChecksum === undefined) return undefined;
  let table;
  try {
    table = parseSortedTable(tableBytes, header);
  } catch {
    return undefined;
  }
  const placement = placeSortedLists(table.sizes, chunkNumbers);
  // One buffer for all the numbers, its chunks views of it: one allocation for the collector to
  // count, where one per chunk started a full collection every few chunks (external memory).
  const numbers = allocateNumbers(header.numbers);
  if (numbers === undefined) return undefined;
  const chunks: Float64Array[] = [];
  let at = position + header.tableBytes;
  let from = 0;
  let sum = tableChecksum;
  let sound = true;
  const readChunk = (c: number): { chunk: Float64Array; reading: Promise<number> } => {
    const chunk = numbers.subarray(from, from + placement.chunkNumbers[c]!);
    from += chunk.length;
    const reading = readFully(handle, new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength), at);
    at += chunk.byteLength;
    return { chunk, reading };
  };
  const count = placement.chunkNumbers.length;
  const reads: { chunk: Float64Array; reading: Promise<number> }[] = [];
  let requested = 0;
  const readAhead = (): void => {
    while (requested < count && reads.length < SORTED_READS_IN_FLIGHT) reads.push(readChunk(requested++));
  };
  readAhead();
  const sorted = loadedSortedLists(table, placement, chunks); // its index is built while the first chunks are read
  try {
    for (let c = 0; c < count; c++) {
      const current = reads.shift()!;
      if (await current.reading !== current.chunk.byteLength) return undefined; // the file shrank meanwhile
      readAhead();
      sum = crc32(new Uint8Array(current.chunk.buffer, current.chunk.byteOffset, current.chunk.byteLength), sum);
      sound = sound && checkChunk(placement, table.sizes, current.chunk, c);
      chunks.push(current.chunk);
    }
  } finally {
    await Promise.allSettled(reads.map(({ reading }) => reading)); // none still reading when the file is closed
  }
  return sound ? { sorted, checksum: sum } : undefined;
}

/** A new array of `count` numbers, or undefined if there is not that much memory. */
function allocateNumbers(count: number): Float64Array | undefined {
  try {
    return new Float64Array(count);
  } catch (error) {
    if (error instanceof RangeError) return undefined;
    throw error;
  }
}

/** A new array of `count` words, or undefined if there is not that much memory. */
function allocateWords(count: number): Uint16Array | undefined {
  try {
    return new Uint16Array(count);
  } catch (error) {
    if (error instanceof RangeError) return undefined;
    throw error;
  }
}

/**
 * The items of `count` lists saved in the sorted layout, one item each: read as snapshot.ts
 * wrote them in format 2 (`{ org, projId, size, numbers }`, size a uint32, numbers a bin32), byte
 * by byte, since msgpackr's objects for a million items cost more than reading the file; any other
 * encoding of the same items goes through msgpackr.
 */
function decodeSortedLists(range: Buffer, count: number): LoadedList[] {
  const lists: LoadedList[] = [];
  let at = 0;
  while (lists.length < count) {
    const item = readSortedListItem(range, at);
    if (item === undefined) return decodeSortedItems(range, count);
    lists.push(sortedList(item.head, item.numbers));
    at = item.end;
  }
  if (at !== range.length) throw new DataCorruptError(`${count} sorted lists announced, more bytes follow them`);
  return lists;
}

/** One sorted list's item as idnc laid it out in format 2, or undefined if it is laid out otherwise. */
function readSortedListItem(bytes: Buffer, start: number): { head: ListHead; numbers: Uint8Array; end: number } | undefined {
  if (bytes[start] !== 0x84) return undefined;
  let at = skipKey(bytes, start + 1, 'org');
  const org = readText(bytes, at);
  if (org === undefined) return undefined;
  at = skipKey(bytes, org.end, 'projId');
  const projId = readText(bytes, at);
  if (projId === undefined) return undefined;
  at = skipKey(bytes, projId.end, 'size');
  if (at < 0 || bytes[at] !== 0xce || at + 5 > bytes.length) return undefined;
  const size = bytes.readUInt32BE(at + 1);
  at = skipKey(bytes, at + 5, 'numbers');
  if (at < 0 || bytes[at] !== 0xc6 || at + 5 > bytes.length) return undefined;
  const length = bytes.readUInt32BE(at + 1);
  at += 5;
  if (at + length > bytes.length) return undefined;
  const head: ListHead = { address: checkListAddress({ org: org.text, projId: projId.text }), size, areaCount: 0, numbers: undefined };
  return { head, numbers: bytes.subarray(at, at + length), end: at + length };
}

/** Where the bytes after the fixstr `name` at `at` start, or -1 if `name` is not there. */
function skipKey(bytes: Buffer, at: number, name: string): number {
  if (at < 0 || bytes[at] !== (0xa0 | name.length)) return -1;
  for (let i = 0; i < name.length; i++) if (bytes[at + 1 + i] !== name.charCodeAt(i)) return -1;
  return at + 1 + name.length;
}

/** The fixstr or str8 at `at` and where it ends, or undefined. */
function readText(bytes: Buffer, at: number): { text: string; end: number } | undefined {
  const marker = at < 0 ? undefined : bytes[at];
  if (marker === undefined) return undefined;
  const fixed = (marker & 0xe0) === 0xa0;
  if (!fixed && marker !== 0xd9) return undefined;
  const length = fixed ? marker & 0x1f : bytes[at + 1]!;
  const from = at + (fixed ? 1 : 2);
  if (from + length > bytes.length) return undefined;
  return { text: bytes.toString('latin1', from, from + length), end: from + length };
}

/** decodeSortedLists through msgpackr. */
function decodeSortedItems(range: Buffer, count: number): LoadedList[] {
  const items = unpackMultiple(range) as unknown[];
  if (items.length !== count) throw new DataCorruptError(`${count} sorted lists announced, ${items.length} items read`);
  return items.map((item) => {
    const head = checkListHead(item);
    if (head.numbers === undefined) throw new DataCorruptError('a list without pool words is not a sorted list');
    return sortedList(head, head.numbers);
  });
}

/** A new buffer of `count` bytes (not zeroed: a read fills it), or undefined if there is not that much memory. */
function allocateBytes(count: number): Buffer | undefined {
  try {
    return Buffer.allocUnsafe(count);
  } catch (error) {
    if (error instanceof RangeError) return undefined;
    throw error;
  }
}

/** One list's items, read into the end of `words`: its bitmaps move down into their regions. */
function decodeListInPlace(range: Buffer, words: Uint16Array): LoadedList {
  const items = unpackMultiple(range) as unknown[];
  const head = checkListHead(items[0]);
  if (head.numbers !== undefined) throw new DataCorruptError('a sorted list announces pool words');
  if (items.length !== 1 + head.areaCount) throw new DataCorruptError(`a list announces ${head.areaCount} areas but its bytes hold ${items.length - 1}`);
  return placeList(head, items.slice(1).map(checkAreaItem), WordPool.holding(words), 'move-down');
}

/**
 * Fills `target` from the file at `position` in chunks, computing the CRC-32 (continuing
 * `checksum`) of each chunk while the next is read; undefined if the file ends first.
 */
async function readChecksummed(handle: FileHandle, target: Uint8Array, position: number, checksum: number): Promise<number | undefined> {
  const chunk = (from: number): Uint8Array => target.subarray(from, Math.min(from + READ_CHUNK_BYTES, target.length));
  let reading = readFully(handle, chunk(0), position);
  for (let from = 0; from < target.length; ) {
    const bytes = chunk(from);
    if (await reading !== bytes.length) return undefined;
    const next = from + bytes.length;
    if (next < target.length) reading = readFully(handle, chunk(next), position + next);
    checksum = crc32(bytes, checksum);
    from = next;
  }
  return checksum;
}

/** Reads into all of `target` from `position` in chunks; returns the bytes read (fewer at the end of the file). */
async function readFully(handle: FileHandle, target: Uint8Array, position: number): Promise<number> {
  let filled = 0;
  while (filled < target.length) {
    const length = Math.min(READ_CHUNK_BYTES, target.length - filled);
    const { bytesRead } = await handle.read(target, filled, length, position + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return filled;
}
