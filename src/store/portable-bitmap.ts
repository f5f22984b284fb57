// A read-only Roaring bitmap probed from JavaScript, straight over its portable serialisation.
//
// Why: a per-call native `RoaringBitmap32.has()` costs hundreds of nanoseconds (call overhead plus
// the container search), while a lookup here is a few typed-array reads: a direct-indexed table
// from the 16-bit container key to the container's place in the bytes, then one bit test (bitmap
// container) or a binary search (array and run containers). The bytes are also exactly what a
// snapshot stores, so saving and loading a list is copying bytes, not converting them.
// Dense array containers (ARRAY_EXPAND_CARDINALITY_MIN values or more, which registry-shaped data
// has in every partly active block of exchanges) also get a plain bitmap copy, filled on their first
// probe: the probe is then one bit test, one memory access like a bitmap container, instead of a
// bucket table read plus a search (two or three cache misses at national scale). The copy costs at
// most 32 extra bits per number of such a container; sparse containers (the uniform-random case)
// never get one.
// The bytes and the copies live in one region of the list's WordPool (src/store/word-pool.ts): all
// positions below are relative to the region's origin, which moves when the pool compacts.
//
// Format (Roaring "portable" spec): cookie 12346 + u32 container count, or cookie 12347 with the
// count in its high 16 bits followed by a bitset of run containers; then per container a u16 key
// and u16 cardinality-1; then (unless runs and < 4 containers) u32 offsets; then the containers:
// array = cardinality u16 values, bitmap = 1024 little-endian u64 words, run = u16 run count then
// (start, length-1) u16 pairs. All multi-byte values are little-endian, as on every host idnc runs.

import { AREA_REST_MODULUS, ARRAY_EXPAND_CARDINALITY_MIN } from '../constants.js';
import type { RoaringBitmap32 } from './roaring.js';
import { PoolPlacementError, WordPool, type PoolRegion } from './word-pool.js';

/** How a bitmap gets into its pool: copied into a new region, or moved down within the pool's buffer. */
export type BitmapPlacement = 'copy' | 'move-down';

const COOKIE_NO_RUNS = 12346;
const COOKIE_WITH_RUNS = 12347;
const NO_OFFSET_THRESHOLD = 4;
const ARRAY_CARDINALITY_MAX = 4096;
/** A bitmap container (and a bitmap copy): 65,536 bits. */
export const BITMAP_CONTAINER_BYTES = 8192;
const BITMAP_CONTAINER_WORDS = BITMAP_CONTAINER_BYTES / 2;

/** Array containers up to this many values are searched whole (they span two cache lines). */
const ARRAY_BUCKETS_CARDINALITY_MIN = 64;
/** Values per bucket of an array container's table, on average. */
const ARRAY_BUCKET_VALUES = 8;
const NO_BUCKETS = -1;
const BUCKETS_UNFILLED = -2;

const KIND_ARRAY = 0;
const KIND_BITMAP = 1;
const KIND_RUN = 2;
/** An array container in the bytes with a bitmap copy after them in the region (see the header). */
const KIND_EXPANDED = 3;
/** `bitStarts` entries: no container for the key (not a member), or a container needing a search. */
export const BIT_START_ABSENT = -1;
export const BIT_START_SEARCH = -2;

/** Container keys of a 7-digit rest: rest >>> 16 is at most 152. */
export const CONTAINER_KEY_SLOTS = Math.floor((AREA_REST_MODULUS - 1) / 65536) + 1;

export class CorruptBitmapError extends Error {
  /** What is wrong, without the common prefix of the message. */
  readonly detail: string;

  constructor(detail: string) {
    super(`corrupt Roaring portable bitmap: ${detail}`);
    this.name = 'CorruptBitmapError';
    this.detail = detail;
  }
}

export class PortableBitmap implements PoolRegion {
  readonly pool: WordPool;
  readonly size: number;
  /** Where the region starts in `pool.words` (changes when the pool compacts). */
  origin = 0;
  /** Words of the region: the bytes (placed so that containers start at an even byte), then the copies. */
  readonly length: number;
  /** 0 or 1: the bytes start this many bytes into the region. */
  private readonly byteShift: number;
  private readonly byteLength: number;
  /** Per container key: index of the container in the region, or -1. */
  private readonly offsets: Int32Array;
  /** Per container key: count << 2 | kind (count = cardinality, or runs for a run container). */
  private readonly metas: Int32Array;
  /**
   * Per container key: where its bucket table starts in `bucketStarts`; NO_BUCKETS (no table), or
   * BUCKETS_UNFILLED - start while the table is reserved but not yet filled.
   */
  private readonly bucketOffsets: Int32Array;
  /** Per container key: low >>> shift is the bucket of a 16-bit low value. */
  private readonly bucketShifts: Uint8Array;
  /** Bucket tables: entry b = index of the first value >= b << shift within its array container. */
  private readonly bucketStarts: Uint16Array;
  /** Per container key: where its bitmap copy goes in the region (dense array containers only). */
  private readonly copyStarts: Int32Array;
  /** How many dense array containers have (or will have, on their first probe) a bitmap copy. */
  readonly expandedContainers: number;
  /**
   * The hot path's table (NumberSet copies it into its own, see `absoluteStart`). Per container
   * key: where a bitmap to bit-test starts in the region (a bitmap container, or a filled copy),
   * else BIT_START_ABSENT or BIT_START_SEARCH (then call `search`).
   */
  private readonly bitStarts: Int32Array;
  /** Set once checkContents has passed. */
  private contentsChecked = false;

  /**
   * Checks `serialised` and copies it into a new region of `pool` (a pool of its own by default).
   * The caller keeps its bytes. With `placement` 'move-down', `serialised` lies in the buffer of a
   * pool made by WordPool.holding, at or after where its region goes: the region is placed next
   * (WordPool.placeNext) and the bytes move down into it, overwriting what was there (the caller's
   * view of them with it). A move up would overwrite bytes of bitmaps not placed yet: it throws
   * PoolPlacementError instead.
   */
  constructor(serialised: Uint8Array, pool: WordPool = new WordPool(), placement: BitmapPlacement = 'copy') {
    const header = readHeader(serialised);
    this.pool = pool;
    this.byteShift = header.containersStart & 1;
    this.byteLength = serialised.length;
    this.offsets = new Int32Array(CONTAINER_KEY_SLOTS).fill(-1);
    this.metas = new Int32Array(CONTAINER_KEY_SLOTS);
    this.size = this.indexContainers(serialised, header);
    this.bucketOffsets = new Int32Array(CONTAINER_KEY_SLOTS).fill(NO_BUCKETS);
    this.bucketShifts = new Uint8Array(CONTAINER_KEY_SLOTS);
    this.bucketStarts = this.reserveArrayBuckets();
    this.bitStarts = new Int32Array(CONTAINER_KEY_SLOTS).fill(BIT_START_ABSENT);
    this.copyStarts = new Int32Array(CONTAINER_KEY_SLOTS);
    const bytesWords = wordsForBytes(header, serialised.length);
    let copies = 0;
    for (let key = 0; key < CONTAINER_KEY_SLOTS; key++) {
      if (this.offsets[key]! < 0) continue;
      const kind = this.metas[key]! & 3;
      this.bitStarts[key] = kind === KIND_BITMAP ? this.offsets[key]! : BIT_START_SEARCH;
      if (kind === KIND_EXPANDED) this.copyStarts[key] = bytesWords + copies++ * BITMAP_CONTAINER_WORDS;
    }
    this.expandedContainers = copies;
    this.length = bytesWords + copies * BITMAP_CONTAINER_WORDS;
    if (placement === 'copy') {
      this.origin = pool.allocate(this, this.length);
      new Uint8Array(pool.words.buffer, pool.words.byteOffset + 2 * this.origin + this.byteShift, serialised.length).set(serialised);
    } else {
      this.origin = pool.placeNext(this, this.length);
      moveDown(serialised, pool.words, 2 * this.origin + this.byteShift);
    }
    try {
      if (this.offsets[CONTAINER_KEY_SLOTS - 1]! >= 0) this.requireBelowRestModulus(CONTAINER_KEY_SLOTS - 1);
    } catch (error) {
      pool.release(this);
      throw error;
    }
  }

  /**
   * A bitmap of CRoaring's own serialisation of `bitmap`, copied into `pool`: valid by
   * construction, so checkContents has nothing to do (an area's base after every merge).
   */
  static ofNative(bitmap: RoaringBitmap32, pool: WordPool): PortableBitmap {
    const portable = new PortableBitmap(bitmap.serialize('portable'), pool);
    portable.contentsChecked = true;
    return portable;
  }

  /** Words a bitmap of these bytes takes in a pool (to size a pool before loading a snapshot). */
  static regionWords(serialised: Uint8Array): number {
    const header = readHeader(serialised);
    const view = new DataView(serialised.buffer, serialised.byteOffset, serialised.byteLength);
    let copies = 0;
    for (let i = 0; i < header.count; i++) {
      const cardinality = view.getUint16(header.descriptionsStart + 4 * i + 2, true) + 1;
      if (!isRunContainer(header, i) && cardinality <= ARRAY_CARDINALITY_MAX && hasBitmapCopy(cardinality)) copies++;
    }
    return wordsForBytes(header, serialised.length) + copies * BITMAP_CONTAINER_WORDS;
  }

  /**
   * The portable serialisation (what snapshots store): a view into the pool, valid until the list
   * changes (the pool may then move the region or reuse its words); copy it to keep it.
   */
  get bytes(): Uint8Array {
    return new Uint8Array(this.pool.words.buffer, 2 * this.origin + this.byteShift, this.byteLength);
  }

  moveTo(origin: number): void {
    this.origin = origin;
  }

  /** Gives the region back to the pool; the bitmap must not be probed afterwards. */
  release(): void {
    this.pool.release(this);
  }

  /**
   * Where the bitmap of container `key` starts in `pool.words` (valid until the pool compacts), or
   * BIT_START_ABSENT / BIT_START_SEARCH as in `bitStarts`.
   */
  absoluteStart(key: number): number {
    const start = this.bitStarts[key]!;
    return start >= 0 ? this.origin + start : start;
  }

  /** Fills the bitmap copy of one dense array container; returns where it starts in the region. */
  private expand(key: number): number {
    const words = this.pool.words;
    const origin = this.origin;
    const start = this.copyStarts[key]!;
    const copy = origin + start;
    const at = origin + this.offsets[key]!;
    const end = at + (this.metas[key]! >>> 2);
    // Words of a region placed over a snapshot's bytes are not zero (WordPool.holding).
    words.fill(0, copy, copy + BITMAP_CONTAINER_WORDS);
    for (let i = at; i < end; i++) {
      const low = words[i]!;
      words[copy + (low >>> 4)]! |= 1 << (low & 15);
    }
    this.bitStarts[key] = start;
    return start;
  }

  /**
   * A binary search over a 4096-value array container touches up to a dozen cache lines, each a
   * likely miss at national scale. A small table per array container (about one entry per
   * ARRAY_BUCKET_VALUES values, 2 bits per number) narrows the search to one or two lines. Room for
   * the tables is reserved here; each is filled on the first probe of its container, so loading a
   * snapshot costs no pass over the values.
   */
  private reserveArrayBuckets(): Uint16Array {
    let entries = 0;
    for (let key = 0; key < CONTAINER_KEY_SLOTS; key++) {
      const bits = this.bucketBits(key);
      if (bits === 0) continue;
      this.bucketOffsets[key] = BUCKETS_UNFILLED - entries;
      this.bucketShifts[key] = 16 - bits;
      entries += (1 << bits) + 1;
    }
    return new Uint16Array(entries);
  }

  /** Fills the bucket table of one array container; returns where it starts. */
  private fillBuckets(key: number): number {
    const start = BUCKETS_UNFILLED - this.bucketOffsets[key]!;
    const words = this.pool.words;
    const at = this.origin + this.offsets[key]!;
    const cardinality = this.metas[key]! >>> 2;
    const shift = this.bucketShifts[key]!;
    const buckets = 1 << (16 - shift);
    let position = 0;
    for (let bucket = 0; bucket < buckets; bucket++) {
      const firstValue = bucket << shift;
      while (position < cardinality && words[at + position]! < firstValue) position++;
      this.bucketStarts[start + bucket] = position;
    }
    this.bucketStarts[start + buckets] = cardinality;
    this.bucketOffsets[key] = start;
    return start;
  }

  /** log2 of the bucket count of an array container, 0 for none (small arrays are searched whole). */
  private bucketBits(key: number): number {
    const meta = this.metas[key]!;
    if (this.offsets[key]! < 0 || (meta & 3) !== KIND_ARRAY) return 0;
    const cardinality = meta >>> 2;
    if (cardinality <= ARRAY_BUCKETS_CARDINALITY_MIN) return 0;
    return Math.min(12, Math.ceil(Math.log2(cardinality / ARRAY_BUCKET_VALUES)));
  }

  private indexContainers(serialised: Uint8Array, header: Header): number {
    const view = new DataView(serialised.buffer, serialised.byteOffset, serialised.byteLength);
    const shift = this.byteShift;
    let position = header.containersStart;
    let total = 0;
    let previousKey = -1;
    for (let i = 0; i < header.count; i++) {
      const key = view.getUint16(header.descriptionsStart + 4 * i, true);
      const cardinality = view.getUint16(header.descriptionsStart + 4 * i + 2, true) + 1;
      if (key >= CONTAINER_KEY_SLOTS || key <= previousKey) throw new CorruptBitmapError(`container key ${key} out of order or range`);
      previousKey = key;
      const isRun = isRunContainer(header, i);
      let bytes: number;
      let meta: number;
      if (isRun) {
        requireBytes(view, position + 2);
        const runs = view.getUint16(position, true);
        bytes = 2 + 4 * runs;
        meta = (runs << 2) | KIND_RUN;
      } else if (cardinality <= ARRAY_CARDINALITY_MAX) {
        bytes = 2 * cardinality;
        meta = (cardinality << 2) | (hasBitmapCopy(cardinality) ? KIND_EXPANDED : KIND_ARRAY);
      } else {
        bytes = BITMAP_CONTAINER_BYTES;
        meta = (cardinality << 2) | KIND_BITMAP;
      }
      requireBytes(view, position + bytes);
      this.offsets[key] = (position + shift) >>> 1;
      this.metas[key] = meta;
      total += cardinality;
      position += bytes;
    }
    return total;
  }

  /** The last container may reach past 10^7 - 1: no stored value may (it would not be a rest). */
  private requireBelowRestModulus(key: number): void {
    const lastValid = AREA_REST_MODULUS - 1 - key * 65536;
    let largest: number;
    const words = this.pool.words;
    const at = this.origin + this.offsets[key]!;
    const meta = this.metas[key]!;
    if ((meta & 3) === KIND_ARRAY || (meta & 3) === KIND_EXPANDED) largest = words[at + (meta >>> 2) - 1]!;
    else if ((meta & 3) === KIND_RUN) {
      const lastRun = at + 1 + 2 * ((meta >>> 2) - 1);
      largest = words[lastRun]! + words[lastRun + 1]!;
    } else {
      largest = 0;
      for (let word = 4095; word >= 0 && largest === 0; word--) {
        const bits = words[at + word]!;
        if (bits !== 0) largest = word * 16 + 31 - Math.clz32(bits);
      }
    }
    if (largest > lastValid) throw new CorruptBitmapError(`holds a value beyond 7 digits`);
  }

  /**
   * Checks what CRoaring assumes of every container and the probes here do not need (its
   * roaring_bitmap_internal_validate): array values strictly increasing, a bitmap container's bits
   * adding up to its declared cardinality, runs in order, apart and within 16 bits, and the
   * containers adding up to `size`. Call it before the bytes reach CRoaring (AreaSet.toBitmap): a
   * snapshot's checksum proves the bytes are the ones written, not that they were ever a valid
   * bitmap, and CRoaring trusts these counts when it allocates (a bitmap container holding more
   * bits than it declares overran its output in `toUint32Array` and aborted the process). Once a
   * bitmap passes, later calls return at once (the bytes never change).
   */
  checkContents(): void {
    if (this.contentsChecked) return;
    const words = this.pool.words;
    let total = 0;
    for (let key = 0; key < CONTAINER_KEY_SLOTS; key++) {
      if (this.offsets[key]! < 0) continue;
      const at = this.origin + this.offsets[key]!;
      const meta = this.metas[key]!;
      const kind = meta & 3;
      const count = meta >>> 2;
      if (kind === KIND_BITMAP) {
        const bits = countBits(words, at, BITMAP_CONTAINER_WORDS);
        if (bits !== count) throw new CorruptBitmapError(`bitmap container ${key} declares ${count} values and holds ${bits}`);
        total += bits;
      } else if (kind === KIND_RUN) {
        total += checkRuns(words, at + 1, count, key);
      } else {
        for (let i = at + 1; i < at + count; i++) {
          if (words[i]! <= words[i - 1]!) throw new CorruptBitmapError(`array container ${key} is not strictly increasing`);
        }
        total += count;
      }
    }
    if (total !== this.size) throw new CorruptBitmapError(`declares ${this.size} values and holds ${total}`);
    this.contentsChecked = true;
  }

  has(rest: number): boolean {
    const key = rest >>> 16;
    if (key >= CONTAINER_KEY_SLOTS) return false;
    const start = this.bitStarts[key]!;
    if (start >= 0) {
      const low = rest & 0xffff;
      return (this.pool.words[this.origin + start + (low >>> 4)]! & (1 << (low & 15))) !== 0;
    }
    return start !== BIT_START_ABSENT && this.search(key, rest & 0xffff);
  }

  /**
   * The cold path of `has` (and of NumberSet's inlined copy of it): array and run containers, and
   * dense arrays before their first probe. The container `key` must exist.
   */
  search(key: number, low: number): boolean {
    const meta = this.metas[key]!;
    const kind = meta & 3;
    if (kind === KIND_EXPANDED) {
      const start = this.origin + this.expand(key);
      return (this.pool.words[start + (low >>> 4)]! & (1 << (low & 15))) !== 0;
    }
    const words = this.pool.words;
    const at = this.origin + this.offsets[key]!;
    if (kind === KIND_ARRAY) {
      let bucketAt = this.bucketOffsets[key]!;
      if (bucketAt === NO_BUCKETS) return searchArray(words, at, at + (meta >>> 2), low);
      if (bucketAt < 0) bucketAt = this.fillBuckets(key);
      const bucket = bucketAt + (low >>> this.bucketShifts[key]!);
      return searchArray(words, at + this.bucketStarts[bucket]!, at + this.bucketStarts[bucket + 1]!, low);
    }
    return searchRuns(words, at + 1, meta >>> 2, low);
  }
}

/** Moves `bytes`, which lie in the buffer of `words`, down to byte `target` of `words`. */
function moveDown(bytes: Uint8Array, words: Uint16Array, target: number): void {
  const absoluteTarget = words.byteOffset + target;
  if (bytes.buffer !== words.buffer || bytes.byteOffset < absoluteTarget) {
    throw new PoolPlacementError(`bitmap bytes at byte ${bytes.byteOffset} cannot move down to byte ${absoluteTarget} of the pool`);
  }
  if (bytes.byteOffset === absoluteTarget) return;
  new Uint8Array(words.buffer).copyWithin(absoluteTarget, bytes.byteOffset, bytes.byteOffset + bytes.length);
}

/** Set bits in `count` 16-bit words from `start`. */
function countBits(words: Uint16Array, start: number, count: number): number {
  let bits = 0;
  for (let i = start; i < start + count; i += 2) {
    let v = (words[i]! | (words[i + 1]! << 16)) >>> 0;
    v -= (v >>> 1) & 0x55555555;
    v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
    bits += (Math.imul((v + (v >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24);
  }
  return bits;
}

/**
 * Checks `runs` (start, length-1) pairs from `first` as CRoaring's run_container_validate does (at
 * least one run; each within 16 bits; each starting after the previous one ends, with a gap);
 * returns how many values they hold.
 */
function checkRuns(words: Uint16Array, first: number, runs: number, key: number): number {
  if (runs === 0) throw new CorruptBitmapError(`run container ${key} has no runs`);
  let values = 0;
  let previousEnd = -1;
  for (let run = 0; run < runs; run++) {
    const start = words[first + 2 * run]!;
    const end = start + words[first + 2 * run + 1]! + 1;
    if (end > 65536) throw new CorruptBitmapError(`run container ${key} has a run past 16 bits`);
    if (start <= previousEnd) throw new CorruptBitmapError(`run container ${key} has runs out of order or touching`);
    values += end - start;
    previousEnd = end;
  }
  return values;
}

/** Whether container `index` of the bitmap is a run container. */
function isRunContainer(header: Header, index: number): boolean {
  return header.runFlags !== undefined && (header.runFlags[index >> 3]! & (1 << (index & 7))) !== 0;
}

/** Whether an array container of this many values gets a bitmap copy (see the file header). */
function hasBitmapCopy(cardinality: number): boolean {
  return cardinality >= ARRAY_EXPAND_CARDINALITY_MIN;
}

/** Words the serialised bytes take in a region (placed so that the containers start at an even byte). */
function wordsForBytes(header: Header, byteLength: number): number {
  return ((header.containersStart & 1) + byteLength + 1) >>> 1;
}

function searchArray(words: Uint16Array, start: number, end: number, value: number): boolean {
  let low = start;
  let high = end - 1;
  while (low <= high) {
    const middle = (low + high) >>> 1;
    const found = words[middle]!;
    if (found < value) low = middle + 1;
    else if (found > value) high = middle - 1;
    else return true;
  }
  return false;
}

/** Runs are (start, length-1) pairs sorted by start: find the last run starting at or before value. */
function searchRuns(words: Uint16Array, first: number, runs: number, value: number): boolean {
  let low = 0;
  let high = runs - 1;
  let candidate = -1;
  while (low <= high) {
    const middle = (low + high) >>> 1;
    if (words[first + 2 * middle]! <= value) {
      candidate = middle;
      low = middle + 1;
    } else {
      high = middle - 1;
    }
  }
  if (candidate < 0) return false;
  const start = words[first + 2 * candidate]!;
  return value - start <= words[first + 2 * candidate + 1]!;
}

interface Header {
  count: number;
  runFlags: Uint8Array | undefined;
  descriptionsStart: number;
  containersStart: number;
}

function readHeader(bytes: Uint8Array): Header {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  requireBytes(view, 4);
  const cookie = view.getUint32(0, true);
  if ((cookie & 0xffff) === COOKIE_WITH_RUNS) {
    const count = (cookie >>> 16) + 1;
    if (count > CONTAINER_KEY_SLOTS) throw new CorruptBitmapError(`${count} containers`);
    const flagBytes = (count + 7) >>> 3;
    requireBytes(view, 4 + flagBytes + 4 * count);
    const runFlags = bytes.subarray(4, 4 + flagBytes);
    const descriptionsStart = 4 + flagBytes;
    const offsetBytes = count >= NO_OFFSET_THRESHOLD ? 4 * count : 0;
    return { count, runFlags, descriptionsStart, containersStart: descriptionsStart + 4 * count + offsetBytes };
  }
  if (cookie !== COOKIE_NO_RUNS) throw new CorruptBitmapError(`unknown cookie ${cookie}`);
  requireBytes(view, 8);
  const count = view.getUint32(4, true);
  if (count > CONTAINER_KEY_SLOTS) throw new CorruptBitmapError(`${count} containers`);
  requireBytes(view, 8 + 8 * count);
  return { count, runFlags: undefined, descriptionsStart: 8, containersStart: 8 + 8 * count };
}

function requireBytes(view: DataView, length: number): void {
  if (view.byteLength < length) throw new CorruptBitmapError(`needs ${length} bytes, has ${view.byteLength}`);
}
