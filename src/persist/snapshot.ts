// Snapshot files: the whole state at one seq, so recovery replays only the log after it.
//
// Layout: 8 bytes SNAPSHOT_MAGIC, then msgpack items, then (format 3) the sorted section, then an
// 8-byte footer (u32 LE CRC-32 of every byte before it, then SNAPSHOT_END_MAGIC). Items, in order:
//   { format, lastSeq, createdAt, lists, listBytes, listPoolWords,
//     sortedLists, sortedTableBytes, sortedNumbers, chain }                the header (`chain`: docs/history.md)
//   { org, projId, size, areas }  then `areas` items of  { area, bitmap }   for each list in the probe-table layout
// where `bitmap` is the Roaring portable serialisation of that area code's 7-digit rests. Many
// small items instead of one big object keep msgpackr at full speed and memory flat. Every list in
// the sorted layout is in the sorted section (snapshot-sorted.ts): a table of ids and sizes, then
// all their numbers in one block. Format 2 files held each sorted list as an item
// { org, projId, size, numbers } among the others, format 1 files every list as area items: both
// still load. `listBytes` (bytes of each list's items) and `listPoolWords` (words its pool needs)
// let a reader read each list straight into its pool (snapshot-read.ts); files without them are
// read whole.
//
// Written to `<name>.tmp`, flushed, renamed into place, then the directory is flushed: a reader
// sees either the old set of snapshots or the new one, never a partial file under a final name.
// A large sorted section is written without a copy where a load left its lists one after another,
// and its copied numbers are checksummed on a worker thread (snapshot-checksum.ts); the bytes are
// the same either way.

import fs from 'node:fs';
import os from 'node:os';
import { crc32 } from 'node:zlib';
import { Packr, unpackMultiple } from 'msgpackr';
import { SNAPSHOT_END_MAGIC, SNAPSHOT_FLUSH_BEHIND_BYTES, SNAPSHOT_FORMAT_VERSION, SNAPSHOT_FORMAT_VERSION_MIN, SNAPSHOT_MAGIC, SNAPSHOT_WRITE_CHUNK_BYTES } from '../constants.js';
import { DataCorruptError } from '../errors.js';
import { isValidNumber } from '../phone/digits.js';
import type { DncStore } from '../store/dnc-store.js';
import type { NumberSet } from '../store/number-set.js';
import { checkListAddress, MASTER_LIST, type ListAddress } from '../store/list-id.js';
import { PortableBitmap, type BitmapPlacement } from '../store/portable-bitmap.js';
import { WordPool } from '../store/word-pool.js';
import type { PersistFileSystem } from './file-system.js';
import { crc32Combine, leaseChecksumWorker, type ChecksumWorker } from './snapshot-checksum.js';
import { temporaryPath } from './data-dir.js';
import {
  SortedTableBuilder, checkChunk, holdsList, installSortedLists, loadedSortedLists, parseSortedTable, placeSortedLists,
  type CapturedSortedLists, type LoadedSortedLists, type SortedSectionHeader,
} from './snapshot-sorted.js';

export const FOOTER_BYTES = 8;
/** fixmap(2) + fixstr 'area' + uint16 + fixstr 'bitmap' + bin32 header. */
export const AREA_ITEM_HEAD_BYTES = 1 + 5 + 3 + 7 + 5;
export const MAGIC_BYTES = 8;
const MAGIC = Buffer.from(SNAPSHOT_MAGIC, 'latin1');
const END_MAGIC = Buffer.from(SNAPSHOT_END_MAGIC, 'latin1');
const LITTLE_ENDIAN = os.endianness() === 'LE';
const AREA_CODE_MIN = 200;
const AREA_CODE_MAX = 999;
/** At most one area item per area code in a list. */
export const AREA_ITEMS_PER_LIST_MAX = AREA_CODE_MAX - AREA_CODE_MIN + 1;

export interface CapturedList {
  readonly address: ListAddress;
  readonly size: number;
  /** A list in the probe-table layout: each area code's portable bitmap. */
  readonly areas: ReadonlyArray<readonly [number, Buffer]>;
}

/** What a snapshot holds: lists in the probe-table layout, and the sorted lists (none: an empty section). */
export interface SnapshotContents {
  readonly lists: readonly CapturedList[];
  readonly sorted?: CapturedSortedLists;
}

export interface CapturedStore extends SnapshotContents {
  readonly lists: CapturedList[];
  readonly sorted: CapturedSortedLists;
  /** Call once the lists are written (or given up): until then the captured bytes are held. */
  readonly release: () => void;
}

/**
 * Takes every non-empty list now (synchronously), so writes may go on while it is written: the
 * bytes are views into the lists' word pools, pinned (WordPool.pin) until `release`, or the sorted
 * lists' slots, which later changes leave for new slots (NumberSet.shareSortedChunk; a loaded
 * list's slot is never changed in place), their pool pinned (SortedPool.pin) so that no other
 * list reuses them meanwhile.
 */
export function captureStore(store: DncStore): CapturedStore {
  const lists: CapturedList[] = [];
  const unpins: (() => void)[] = [store.pinSortedLists()];
  const sorted = new SortedTableBuilder();
  const capture = (org: string, projId: string, set: NumberSet): void => {
    if (set.size === 0) return;
    const chunk = set.shareSortedChunk();
    if (chunk !== undefined) {
      sorted.addList(projId, chunk, set.sortedOffset, set.size);
      return;
    }
    const areas: [number, Buffer][] = [];
    for (const [areaCode, bytes] of set.portableAreas()) areas.push([areaCode, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)]);
    unpins.push(set.pinPool());
    lists.push({ address: { org, projId }, size: set.size, areas });
  };
  for (const [org, organisation] of store.organisationsInOrder()) {
    sorted.startOrganisation(org, organisation.loadedLists);
    capture(org, MASTER_LIST, organisation.master);
    organisation.forEachProject((projId, set) => capture(org, projId, set), (index) => sorted.addLoaded(index));
    sorted.endOrganisation();
  }
  return { lists, sorted: sorted.finish(), release: () => unpins.forEach((unpin) => unpin()) };
}

/** Chunk and flush sizes; tests make them small so that a small snapshot takes every path. */
export interface SnapshotWriteOptions {
  readonly writeChunkBytes?: number;
  readonly flushBehindBytes?: number;
  /** Numbers of a piece of sorted lists pushed as it lies, not copied (DIRECT_PIECE_NUMBERS_MIN). */
  readonly directPieceNumbersMin?: number;
  /** Bytes of sorted numbers from which a worker thread checksums the copied ones (CHECKSUM_WORKER_BYTES_MIN). */
  readonly checksumWorkerBytesMin?: number;
  /** The hash chain's state at `lastSeq` (src/history/chain.ts), stored as the header's `chain`. */
  readonly chain?: Readonly<Record<string, unknown>>;
}

/**
 * Buffers the snapshot's bytes into chunks of `writeChunkBytes` and writes each while the next is
 * checksummed and gathered: one write in flight at a time, so at most two chunks are held. Every
 * `flushBehindBytes` written, an fdatasync starts behind the writes (SNAPSHOT_FLUSH_BEHIND_BYTES).
 */
class ChecksummedWriter {
  private chunks: Buffer[] = [];
  private chunkBytes = 0;
  private position = 0;
  /** The write in flight (a failure is kept for the next flush, never left unhandled). */
  private writing: Promise<void> = Promise.resolve();
  /**
   * The background fdatasyncs, chained: once one fails the chain stays failed and `flush` throws
   * it (after a failed fdatasync the kernel may have dropped the pages, so a later fsync's success
   * would prove nothing).
   */
  private flushing: Promise<void> = Promise.resolve();
  private flushInFlight = false;
  private flushedUpTo = 0;
  private readonly writeChunkBytes: number;
  private readonly flushBehindBytes: number;
  /**
   * The CRC-32 of the bytes pushed so far, in parts in file order: each part's own CRC-32 (from 0),
   * or its promise when a worker computes it, and its length. The main thread's consecutive bytes
   * are one part.
   */
  private readonly sums: { crc: number | Promise<number>; bytes: number }[] = [];

  constructor(private readonly fileSystem: PersistFileSystem, private readonly fd: number, options: SnapshotWriteOptions) {
    this.writeChunkBytes = options.writeChunkBytes ?? SNAPSHOT_WRITE_CHUNK_BYTES;
    this.flushBehindBytes = options.flushBehindBytes ?? SNAPSHOT_FLUSH_BEHIND_BYTES;
  }

  /** Pushes bytes that may be reused by their producer (msgpackr's pack buffer): copies them. */
  async push(bytes: Buffer): Promise<void> {
    await this.pushImmutable(Buffer.from(bytes));
  }

  /** Pushes bytes that stay unchanged until written (frozen bitmap bytes; see `written`): no copy. */
  async pushImmutable(bytes: Buffer): Promise<void> {
    const last = this.sums[this.sums.length - 1];
    if (last !== undefined && typeof last.crc === 'number') {
      last.crc = crc32(bytes, last.crc);
      last.bytes += bytes.length;
    } else {
      this.sums.push({ crc: crc32(bytes), bytes: bytes.length });
    }
    await this.pushChecksummed(bytes);
  }

  /** Pushes bytes, unchanged until written, whose CRC-32 (from 0) `crc` will give. */
  async pushWithChecksum(bytes: Buffer, crc: Promise<number>): Promise<void> {
    this.sums.push({ crc, bytes: bytes.length });
    await this.pushChecksummed(bytes);
  }

  /** The CRC-32 of every byte pushed so far (once the worker's parts are done). */
  async checksum(): Promise<number> {
    let checksum = 0;
    for (const { crc, bytes } of this.sums) checksum = crc32Combine(checksum, await crc, bytes);
    return checksum;
  }

  private async pushChecksummed(bytes: Buffer): Promise<void> {
    this.chunks.push(bytes);
    this.chunkBytes += bytes.length;
    if (this.chunkBytes >= this.writeChunkBytes) await this.startWrite();
  }

  /** Bytes pushed so far: where the next pushed byte goes in the file. */
  get pushedBytes(): number {
    return this.position + this.chunkBytes;
  }

  /** Waits until every byte pushed below `upTo` is written: the buffers that held them may then change. */
  async written(upTo: number): Promise<void> {
    if (this.position < upTo) await this.startWrite();
    await this.writing;
  }

  /** Writes everything pushed so far and waits for it, and for the background flushes. */
  async flush(): Promise<void> {
    await this.startWrite();
    await this.writing;
    await this.flushing;
  }

  /** Waits for the write and flush in flight to end, whether or not they succeeded (before closing the file). */
  async settle(): Promise<void> {
    await this.writing.catch(() => undefined);
    await this.flushing.catch(() => undefined);
  }

  private async startWrite(): Promise<void> {
    await this.writing;
    this.flushBehind();
    if (this.chunkBytes === 0) return;
    this.writing = this.fileSystem.writev(this.fd, this.chunks, this.position);
    this.writing.catch(() => undefined); // awaited by the next startWrite or flush
    this.position += this.chunkBytes;
    this.chunks = [];
    this.chunkBytes = 0;
  }

  /** Called when every byte below `position` is written. */
  private flushBehind(): void {
    if (this.flushInFlight || this.position - this.flushedUpTo < this.flushBehindBytes) return;
    this.flushInFlight = true;
    this.flushedUpTo = this.position;
    this.flushing = this.flushing.then(() => this.fileSystem.fdatasync(this.fd)).finally(() => {
      this.flushInFlight = false;
    });
    this.flushing.catch(() => undefined); // awaited by flush or settle
  }
}

async function writeItems(writer: ChecksummedWriter, lastSeq: number, contents: SnapshotContents, options: SnapshotWriteOptions): Promise<void> {
  const { lists, sorted } = contents;
  const packr = new Packr({ useRecords: false });
  const listHeads = lists.map(({ address, size, areas }) => Buffer.from(packr.pack({ org: address.org, projId: address.projId, size, areas: areas.length })));
  const listBytes = lists.map((list, l) => list.areas.reduce((bytes, [, bitmap]) => bytes + AREA_ITEM_HEAD_BYTES + bitmap.length, listHeads[l]!.length));
  const listPoolWords = lists.map((list) => list.areas.reduce((words, [, bitmap]) => words + PortableBitmap.regionWords(bitmap), 0));
  await writer.push(MAGIC);
  const header = {
    format: SNAPSHOT_FORMAT_VERSION, lastSeq, createdAt: new Date().toISOString(), lists: lists.length, listBytes, listPoolWords,
    sortedLists: sorted?.lists ?? 0, sortedTableBytes: sorted?.table.length ?? 0, sortedNumbers: sorted?.numbers ?? 0,
    ...(options.chain === undefined ? {} : { chain: options.chain }),
  };
  await writer.push(packr.pack(header));
  for (const [l, list] of lists.entries()) {
    await writer.pushImmutable(listHeads[l]!);
    for (const [area, bitmap] of list.areas) {
      await writer.pushImmutable(areaItemHead(area, bitmap.length));
      await writer.pushImmutable(bitmap);
    }
  }
  if (sorted === undefined || sorted.lists === 0) return;
  await writer.pushImmutable(sorted.table);
  const bufferNumbers = Math.min(sorted.numbers, Math.ceil((options.writeChunkBytes ?? SNAPSHOT_WRITE_CHUNK_BYTES) / 8));
  const directMin = LITTLE_ENDIAN ? options.directPieceNumbersMin ?? DIRECT_PIECE_NUMBERS_MIN : Number.POSITIVE_INFINITY;
  const lease = 8 * sorted.numbers >= (options.checksumWorkerBytesMin ?? CHECKSUM_WORKER_BYTES_MIN) ? leaseChecksumWorker() : undefined;
  try {
    await writeSortedNumbers(writer, sorted, bufferNumbers, directMin, lease?.worker);
  } finally {
    lease?.release();
  }
}

/**
 * Pushes the sorted lists' numbers in table order. A piece of `directMin` numbers or more (lists
 * a load left one after another) is pushed as it lies, without a copy: like every captured slot,
 * it stays unchanged until the capture is released. Smaller pieces are copied into one of two
 * buffers of `bufferNumbers` numbers, pushed once full: one is filled while the other is written
 * and, with a `worker`, checksummed (a buffer is refilled only once both are done). No object per
 * list.
 */
async function writeSortedNumbers(writer: ChecksummedWriter, sorted: CapturedSortedLists, bufferNumbers: number, directMin: number, worker: ChecksumWorker | undefined): Promise<void> {
  const buffers = [0, 1].map(() => new Float64Array(worker === undefined ? new ArrayBuffer(8 * bufferNumbers) : new SharedArrayBuffer(8 * bufferNumbers)));
  const writtenAt = [0, 0];
  const checksummed: Promise<unknown>[] = [Promise.resolve(), Promise.resolve()];
  const copier = new PieceCopier(sorted, directMin);
  let current = 0;
  while (!copier.done) {
    const direct = copier.takeDirect();
    if (direct !== undefined) {
      await writer.pushImmutable(Buffer.from(direct.buffer, direct.byteOffset, direct.byteLength));
      continue;
    }
    const used = copier.fill(buffers[current]!);
    const bytes = Buffer.from(buffers[current]!.buffer, 0, 8 * used);
    if (!LITTLE_ENDIAN) bytes.swap64();
    if (worker === undefined) {
      await writer.pushImmutable(bytes);
    } else {
      const crc = worker.checksum(bytes);
      checksummed[current] = crc;
      await writer.pushWithChecksum(bytes, crc);
    }
    writtenAt[current] = writer.pushedBytes;
    current ^= 1;
    await writer.written(writtenAt[current]!);
    await checksummed[current];
  }
  await Promise.all(checksummed);
}

/**
 * Bytes of sorted numbers from which the copied ones are checksummed by a worker thread (64 MiB):
 * starting one (on the first such save) costs about as much as checksumming 64 MiB, and each
 * checksum it gives costs a message each way.
 */
const CHECKSUM_WORKER_BYTES_MIN = 64 * 1024 * 1024;

/**
 * Numbers a piece holds at least to be pushed as it lies (512 KiB): fewer, larger pushes keep the
 * checksum and the writes at full speed, and a copy of a smaller piece costs little.
 */
const DIRECT_PIECE_NUMBERS_MIN = 65_536;

/**
 * Goes through the pieces of captured sorted lists from where it left off: copies them into
 * buffers, one after another, or hands out a piece of `directMin` numbers or more whole.
 */
class PieceCopier {
  private piece = 0;
  /** Numbers of the current piece already copied. */
  private copied = 0;

  constructor(private readonly sorted: CapturedSortedLists, private readonly directMin: number) {}

  get done(): boolean {
    return this.piece === this.sorted.pieces;
  }

  /** The next piece, whole, if it is one to push as it lies (and nothing of it is copied yet). */
  takeDirect(): Float64Array | undefined {
    const { chunks, starts, counts } = this.sorted;
    const piece = this.piece;
    if (this.copied > 0 || counts[piece]! < this.directMin) return undefined;
    this.piece++;
    return chunks[piece]!.subarray(starts[piece]!, starts[piece]! + counts[piece]!);
  }

  /**
   * Fills `buffer` from its start with the next numbers, up to a piece to push whole or the end
   * of the pieces; returns how many.
   */
  fill(buffer: Float64Array): number {
    const { chunks, starts, counts, pieces } = this.sorted;
    const directMin = this.directMin;
    let used = 0;
    let piece = this.piece;
    let from = starts[piece]! + this.copied;
    while (piece < pieces && (from > starts[piece]! || counts[piece]! < directMin)) {
      const chunk = chunks[piece]!;
      const end = starts[piece]! + counts[piece]!;
      const to = Math.min(end, from + buffer.length - used);
      if (to - from > COPY_LOOP_NUMBERS_MAX) {
        buffer.set(chunk.subarray(from, to), used);
        used += to - from;
      } else {
        for (let i = from; i < to; i++) buffer[used++] = chunk[i]!;
      }
      if (to < end) {
        this.copied = to - starts[piece]!;
        this.piece = piece;
        return used;
      }
      piece++;
      from = starts[piece] ?? 0;
    }
    this.piece = piece;
    this.copied = 0;
    return used;
  }
}

/** Up to this many numbers are copied by a loop; more by one set() call (which makes a view first). */
const COPY_LOOP_NUMBERS_MAX = 64;

/**
 * The msgpack encoding of `{ area, bitmap }` up to the bitmap's bytes: a 2-entry map, `area` as a
 * uint16, `bitmap` as a bin32 header. The bitmap bytes follow as they are, so the frozen bytes of
 * a list are written without being copied into msgpackr's buffer first.
 */
function areaItemHead(area: number, bitmapBytes: number): Buffer {
  const head = Buffer.alloc(AREA_ITEM_HEAD_BYTES);
  let at = head.writeUInt8(0x82, 0);
  at = head.writeUInt8(0xa4, at);
  at += head.write('area', at, 'latin1');
  at = head.writeUInt8(0xcd, at);
  at = head.writeUInt16BE(area, at);
  at = head.writeUInt8(0xa6, at);
  at += head.write('bitmap', at, 'latin1');
  at = head.writeUInt8(0xc6, at);
  head.writeUInt32BE(bitmapBytes, at);
  return head;
}

/** Writes a snapshot atomically at `finalPath` (temp file, flush, rename, directory flush). */
export async function writeSnapshot(
  fileSystem: PersistFileSystem,
  dataDir: string,
  finalPath: string,
  lastSeq: number,
  contents: SnapshotContents,
  options: SnapshotWriteOptions = {},
): Promise<number> {
  const tempPath = temporaryPath(finalPath);
  const fd = await fileSystem.open(tempPath, 'w');
  let size = 0;
  const writer = new ChecksummedWriter(fileSystem, fd, options);
  try {
    await writeItems(writer, lastSeq, contents, options);
    const footer = Buffer.alloc(FOOTER_BYTES);
    footer.writeUInt32LE(await writer.checksum(), 0);
    footer.write(SNAPSHOT_END_MAGIC, 4, 'latin1');
    await writer.push(footer);
    await writer.flush();
    await fileSystem.fsync(fd);
    size = (await fs.promises.stat(tempPath)).size;
  } catch (error) {
    await writer.settle();
    await fileSystem.close(fd).catch(() => undefined);
    await fileSystem.unlink(tempPath).catch(() => undefined);
    throw error;
  }
  await fileSystem.close(fd);
  await fileSystem.rename(tempPath, finalPath);
  await fileSystem.fsyncDirectory(dataDir);
  return size;
}

/** Explicit load outcomes, after Redis: the caller decides what each means. */
export type SnapshotLoad =
  | {
    readonly outcome: 'ok';
    readonly lastSeq: number;
    readonly lists: LoadedList[];
    /** The sorted section of a format 3 file (undefined for older formats, whose lists are all in `lists`). */
    readonly sorted: LoadedSortedLists | undefined;
    readonly bytes: number;
    /** Whether each list was read straight into its pool (snapshot-read.ts), not the whole file at once. */
    readonly readInPlace: boolean;
  }
  | { readonly outcome: 'missing' | 'empty' | 'truncated' | 'corrupt'; readonly detail: string };

export interface LoadedList {
  readonly address: ListAddress;
  /** Holds the list's bitmaps (a list saved in the probe-table layout); the list's set adopts it. */
  readonly pool: WordPool | undefined;
  readonly areas: ReadonlyArray<readonly [number, PortableBitmap]>;
  /** A list saved in the sorted layout: its numbers as f64 LE bytes, checked ascending, distinct and valid. */
  readonly numbers: Uint8Array | undefined;
}

/** Fully checks a whole snapshot file's bytes and decodes them; nothing is installed anywhere. */
export function checkSnapshotBytes(bytes: Buffer): SnapshotLoad {
  if (bytes.length === 0) return { outcome: 'empty', detail: 'file is empty' };
  if (!hasMagic(bytes)) return { outcome: 'corrupt', detail: 'file does not start with the snapshot magic (or is another format version)' };
  if (bytes.length < MAGIC_BYTES + FOOTER_BYTES || !hasEndMagic(bytes.subarray(bytes.length - FOOTER_BYTES))) {
    return { outcome: 'truncated', detail: `file of ${bytes.length} bytes has no end marker` };
  }
  const stored = bytes.readUInt32LE(bytes.length - FOOTER_BYTES);
  if (stored !== crc32(bytes.subarray(0, bytes.length - FOOTER_BYTES))) return CHECKSUM_MISMATCH;
  try {
    const { lastSeq, lists, sorted } = decodeItems(bytes.subarray(MAGIC_BYTES, bytes.length - FOOTER_BYTES));
    return { outcome: 'ok', lastSeq, lists, sorted, bytes: bytes.length, readInPlace: false };
  } catch (error) {
    return invalidContent(error);
  }
}

export const CHECKSUM_MISMATCH: SnapshotLoad = { outcome: 'corrupt', detail: 'whole-file CRC-32 checksum does not match' };

/** The outcome for content that fails its checks although the checksum matches. */
export function invalidContent(error: unknown): SnapshotLoad {
  return { outcome: 'corrupt', detail: `checksum matches but content is invalid: ${(error as Error).message}` };
}

export function hasMagic(bytes: Uint8Array): boolean {
  return Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.length, MAGIC_BYTES)).equals(MAGIC);
}

/** Whether the footer (its last 8 bytes) ends with the end marker. */
export function hasEndMagic(footer: Uint8Array): boolean {
  return footer.length === FOOTER_BYTES && Buffer.from(footer.buffer, footer.byteOffset + 4, 4).equals(END_MAGIC);
}

function field<T>(value: unknown, key: string, type: 'number' | 'string'): T {
  const result = (value as Record<string, unknown> | null)?.[key];
  if (typeof result !== type) throw new DataCorruptError(`item lacks ${key}`);
  return result as T;
}

export interface SnapshotHeader {
  readonly lastSeq: number;
  readonly listCount: number;
  /** Per list, bytes of its items and words of its pool; absent in files written before them. */
  readonly layout: { readonly listBytes: readonly number[]; readonly listPoolWords: readonly number[] } | undefined;
  /** The sorted section (format 3); undefined in older formats. */
  readonly sorted: SortedSectionHeader | undefined;
}

export function checkHeader(header: unknown): SnapshotHeader {
  const format = field<number>(header, 'format', 'number');
  if (format < SNAPSHOT_FORMAT_VERSION_MIN || format > SNAPSHOT_FORMAT_VERSION) throw new DataCorruptError('unknown format version');
  const lastSeq = field<number>(header, 'lastSeq', 'number');
  const listCount = field<number>(header, 'lists', 'number');
  const { listBytes, listPoolWords } = header as { listBytes?: unknown; listPoolWords?: unknown };
  const counts = (value: unknown): value is number[] =>
    Array.isArray(value) && value.length === listCount && value.every((count) => Number.isSafeInteger(count) && count >= 0);
  const layout = counts(listBytes) && counts(listPoolWords) ? { listBytes, listPoolWords } : undefined;
  return { lastSeq, listCount, layout, sorted: format >= SORTED_SECTION_FORMAT ? checkSortedHeader(header) : undefined };
}

/** The first format with a sorted section. */
const SORTED_SECTION_FORMAT = 3;

function checkSortedHeader(header: unknown): SortedSectionHeader {
  const count = (key: string): number => {
    const value = field<number>(header, key, 'number');
    if (!Number.isSafeInteger(value) || value < 0) throw new DataCorruptError(`invalid ${key}`);
    return value;
  };
  return { lists: count('sortedLists'), tableBytes: count('sortedTableBytes'), numbers: count('sortedNumbers') };
}

function decodeItems(body: Buffer): { lastSeq: number; lists: LoadedList[]; sorted: LoadedSortedLists | undefined } {
  const { items, end, sortedHeader } = unpackItems(body);
  let index = 0;
  const next = (): unknown => {
    if (index >= items.length) throw new DataCorruptError('fewer items than the header announces');
    return items[index++];
  };
  const { lastSeq, listCount } = checkHeader(next());
  const lists: LoadedList[] = [];
  for (let l = 0; l < listCount; l++) {
    const head = checkListHead(next());
    if (head.numbers !== undefined) {
      lists.push(sortedList(head, head.numbers));
      continue;
    }
    const bitmaps: [number, Uint8Array][] = [];
    for (let a = 0; a < head.areaCount; a++) bitmaps.push(checkAreaItem(next()));
    const pool = new WordPool(bitmaps.reduce((words, [, bytes]) => words + PortableBitmap.regionWords(bytes), 0));
    lists.push(placeList(head, bitmaps, pool, 'copy'));
  }
  if (index !== items.length) throw new DataCorruptError('more items than the header announces');
  if (sortedHeader === undefined) return { lastSeq, lists, sorted: undefined };
  const sorted = decodeSortedSection(body.subarray(end), sortedHeader);
  checkDistinct(lists, sorted);
  return { lastSeq, lists, sorted };
}

/**
 * The msgpack items of a body: all of it (formats 1 and 2), or up to the sorted section (format
 * 3: the header, then each list's head and its area items), and where they end.
 */
function unpackItems(body: Buffer): { items: unknown[]; end: number; sortedHeader: SortedSectionHeader | undefined } {
  const items: unknown[] = [];
  let end = 0;
  let sortedHeader: SortedSectionHeader | undefined;
  let wanted = 1;
  unpackMultiple(body, (value: unknown, _start?: number, itemEnd?: number) => {
    items.push(value);
    end = itemEnd!;
    if (items.length === 1) {
      const header = checkHeader(value);
      sortedHeader = header.sorted;
      if (sortedHeader === undefined) return true; // formats 1 and 2: every item, to the end
      wanted += header.listCount;
    } else if (sortedHeader !== undefined && wanted > 0) {
      const areas = (value as { areas?: unknown } | null)?.areas;
      if (typeof areas === 'number' && Number.isSafeInteger(areas) && areas >= 0 && areas <= AREA_ITEMS_PER_LIST_MAX) wanted += areas;
    }
    return sortedHeader === undefined || items.length < wanted;
  });
  return { items, end, sortedHeader };
}

/** The sorted section from a whole file's bytes: its numbers are copied into chunks of their own. */
function decodeSortedSection(section: Buffer, header: SortedSectionHeader): LoadedSortedLists {
  if (section.length !== header.tableBytes + 8 * header.numbers) throw new DataCorruptError(`sorted section of ${section.length} bytes, the header announces ${header.tableBytes + 8 * header.numbers}`);
  const table = parseSortedTable(Buffer.from(section.subarray(0, header.tableBytes)), header);
  const placement = placeSortedLists(table.sizes);
  const numbers = new Float64Array(header.numbers);
  section.copy(new Uint8Array(numbers.buffer), 0, header.tableBytes);
  const chunks: Float64Array[] = [];
  let from = 0;
  for (const [c, count] of placement.chunkNumbers.entries()) {
    const chunk = numbers.subarray(from, from + count);
    from += count;
    if (!checkChunk(placement, table.sizes, chunk, c)) throw new DataCorruptError('a sorted list holds a number out of order or not a valid number');
    chunks.push(chunk);
  }
  return loadedSortedLists(table, placement, chunks);
}

/** A list saved twice (as items and in the sorted section, or as items twice) is corruption. */
export function checkDistinct(lists: readonly LoadedList[], sorted: LoadedSortedLists | undefined): void {
  const seen = new Set<string>();
  for (const { address } of lists) {
    const key = `${address.org}\0${address.projId}`;
    if (seen.has(key) || (sorted !== undefined && holdsList(sorted, address.org, address.projId))) throw new DataCorruptError('a list is saved twice');
    seen.add(key);
  }
}

export interface ListHead {
  readonly address: ListAddress;
  readonly size: number;
  /** Area items after the head: 0 for a list saved in the sorted layout. */
  readonly areaCount: number;
  /** A list saved in the sorted layout: its numbers' bytes (a view into the item's bytes). */
  readonly numbers: Uint8Array | undefined;
}

export function checkListHead(item: unknown): ListHead {
  const address = checkListAddress({ org: field<string>(item, 'org', 'string'), projId: field<string>(item, 'projId', 'string') });
  const size = field<number>(item, 'size', 'number');
  const numbers = (item as { numbers?: unknown }).numbers;
  if (numbers instanceof Uint8Array) return { address, size, areaCount: 0, numbers };
  return { address, size, areaCount: field<number>(item, 'areas', 'number'), numbers: undefined };
}

/** The areas of every list saved in the sorted layout: one array, not a million empty ones. */
const NO_AREAS: readonly (readonly [number, PortableBitmap])[] = Object.freeze([]);

/**
 * A list saved in the sorted layout, its numbers checked where they lie in the file's bytes (not
 * copied: the list's slot is their one copy, NumberSet.loadSorted).
 */
export function sortedList(head: ListHead, bytes: Uint8Array): LoadedList {
  if (bytes.length !== 8 * head.size) throw new DataCorruptError(`list size ${head.size} does not match its ${bytes.length} bytes of numbers`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let previous = 0;
  for (let at = 0; at < bytes.length; at += 8) {
    const value = view.getFloat64(at, true);
    if (!(value > previous) || !isValidNumber(value)) throw new DataCorruptError('a sorted list holds a number out of order or not a valid number');
    previous = value;
  }
  return { address: head.address, pool: undefined, areas: NO_AREAS, numbers: bytes };
}

/** An area item's area code and bitmap bytes (a view into the item's bytes). */
export function checkAreaItem(item: unknown): [number, Uint8Array] {
  const entry = item as { area?: unknown; bitmap?: unknown } | null;
  const area = entry?.area;
  if (typeof area !== 'number' || area < AREA_CODE_MIN || area > AREA_CODE_MAX) throw new DataCorruptError('invalid area code');
  if (!(entry?.bitmap instanceof Uint8Array)) throw new DataCorruptError('area item lacks its bitmap');
  return [area, entry.bitmap];
}

/**
 * Puts a list's bitmaps, in order, into `pool` (PortableBitmap's placements) and checks them
 * against the list's size.
 */
export function placeList(head: ListHead, bitmaps: readonly [number, Uint8Array][], pool: WordPool, placement: BitmapPlacement): LoadedList {
  const areas: [number, PortableBitmap][] = [];
  let total = 0;
  for (const [area, bytes] of bitmaps) {
    const bitmap = new PortableBitmap(bytes, pool, placement);
    total += bitmap.size;
    areas.push([area, bitmap]);
  }
  if (total !== head.size) throw new DataCorruptError(`list size ${head.size} does not match its bitmaps (${total})`);
  return { address: head.address, pool, areas, numbers: undefined };
}

/** Installs a checked snapshot (readSnapshot's 'ok' outcome) into an empty store. */
export function installSnapshot(store: DncStore, contents: { readonly lists: readonly LoadedList[]; readonly sorted: LoadedSortedLists | undefined }): void {
  if (contents.sorted !== undefined) installSortedLists(store, contents.sorted);
  for (const list of contents.lists) {
    const set = store.listForWrite(list.address);
    if (list.numbers !== undefined) {
      set.loadSorted(list.numbers);
      continue;
    }
    set.adoptPool(list.pool!);
    for (const [area, bitmap] of list.areas) set.loadArea(area, bitmap);
    set.finishLoading();
  }
}
