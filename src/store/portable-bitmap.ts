// A read-only Roaring bitmap probed from JavaScript, straight over its portable serialisation.
//
// Why: a per-call native `RoaringBitmap32.has()` costs hundreds of nanoseconds (call overhead plus
// the container search), while a lookup here is a few typed-array reads: a direct-indexed table
// from the 16-bit container key to the container's place in the bytes, then one bit test (bitmap
// container) or a binary search (array and run containers). The bytes are also exactly what a
// snapshot stores, so saving and loading a list is copying bytes, not converting them.
//
// Format (Roaring "portable" spec): cookie 12346 + u32 container count, or cookie 12347 with the
// count in its high 16 bits followed by a bitset of run containers; then per container a u16 key
// and u16 cardinality-1; then (unless runs and < 4 containers) u32 offsets; then the containers:
// array = cardinality u16 values, bitmap = 1024 little-endian u64 words, run = u16 run count then
// (start, length-1) u16 pairs. All multi-byte values are little-endian, as on every host idnc runs.

import { AREA_REST_MODULUS } from '../constants.js';

const COOKIE_NO_RUNS = 12346;
const COOKIE_WITH_RUNS = 12347;
const NO_OFFSET_THRESHOLD = 4;
const ARRAY_CARDINALITY_MAX = 4096;
const BITMAP_CONTAINER_BYTES = 8192;

/** Array containers up to this many values are searched whole (they span two cache lines). */
const ARRAY_BUCKETS_CARDINALITY_MIN = 64;
/** Values per bucket of an array container's table, on average. */
const ARRAY_BUCKET_VALUES = 8;

const KIND_ARRAY = 0;
const KIND_BITMAP = 1;
const KIND_RUN = 2;

/** Container keys of a 7-digit rest: rest >>> 16 is at most 152. */
export const CONTAINER_KEY_SLOTS = Math.floor((AREA_REST_MODULUS - 1) / 65536) + 1;

export class CorruptBitmapError extends Error {
  constructor(message: string) {
    super(`corrupt Roaring portable bitmap: ${message}`);
    this.name = 'CorruptBitmapError';
  }
}

export class PortableBitmap {
  /** The portable serialisation (what snapshots store). */
  readonly bytes: Uint8Array;
  readonly size: number;
  private readonly words: Uint16Array;
  /** Per container key: u16 index of the container in `words`, or -1. */
  private readonly offsets: Int32Array;
  /** Per container key: count << 2 | kind (count = cardinality, or runs for a run container). */
  private readonly metas: Int32Array;
  /** Per container key: where its bucket table starts in `bucketStarts`, or -1 (no table). */
  private readonly bucketOffsets: Int32Array;
  /** Per container key: low >>> shift is the bucket of a 16-bit low value. */
  private readonly bucketShifts: Uint8Array;
  /** Bucket tables: entry b = index of the first value >= b << shift within its array container. */
  private readonly bucketStarts: Uint16Array;

  constructor(serialised: Uint8Array) {
    const header = readHeader(serialised);
    // Copy so that containers start at an even byte: then one Uint16Array views every container.
    const shift = header.containersStart & 1;
    const buffer = new ArrayBuffer(serialised.length + shift + (((serialised.length + shift) & 1) === 1 ? 1 : 0));
    this.bytes = new Uint8Array(buffer, shift, serialised.length);
    this.bytes.set(serialised);
    this.words = new Uint16Array(buffer);
    this.offsets = new Int32Array(CONTAINER_KEY_SLOTS).fill(-1);
    this.metas = new Int32Array(CONTAINER_KEY_SLOTS);
    this.size = this.indexContainers(header, shift);
    this.bucketOffsets = new Int32Array(CONTAINER_KEY_SLOTS).fill(-1);
    this.bucketShifts = new Uint8Array(CONTAINER_KEY_SLOTS);
    this.bucketStarts = this.indexArrayBuckets();
  }

  /**
   * A binary search over a 4096-value array container touches up to a dozen cache lines, each a
   * likely miss at national scale. A small table per array container (about one entry per
   * ARRAY_BUCKET_VALUES values, 2 bits per number) narrows the search to one or two lines.
   */
  private indexArrayBuckets(): Uint16Array {
    let entries = 0;
    for (let key = 0; key < CONTAINER_KEY_SLOTS; key++) {
      const bits = this.bucketBits(key);
      if (bits > 0) entries += (1 << bits) + 1;
    }
    const starts = new Uint16Array(entries);
    let next = 0;
    for (let key = 0; key < CONTAINER_KEY_SLOTS; key++) {
      const bits = this.bucketBits(key);
      if (bits === 0) continue;
      const at = this.offsets[key]!;
      const cardinality = this.metas[key]! >>> 2;
      const shift = 16 - bits;
      this.bucketOffsets[key] = next;
      this.bucketShifts[key] = shift;
      let position = 0;
      for (let bucket = 0; bucket < 1 << bits; bucket++) {
        const firstValue = bucket << shift;
        while (position < cardinality && this.words[at + position]! < firstValue) position++;
        starts[next++] = position;
      }
      starts[next++] = cardinality;
    }
    return starts;
  }

  /** log2 of the bucket count of an array container, 0 for none (small arrays are searched whole). */
  private bucketBits(key: number): number {
    const meta = this.metas[key]!;
    if (this.offsets[key]! < 0 || (meta & 3) !== KIND_ARRAY) return 0;
    const cardinality = meta >>> 2;
    if (cardinality <= ARRAY_BUCKETS_CARDINALITY_MIN) return 0;
    return Math.min(12, Math.ceil(Math.log2(cardinality / ARRAY_BUCKET_VALUES)));
  }

  private indexContainers(header: Header, shift: number): number {
    const view = new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
    let position = header.containersStart;
    let total = 0;
    let previousKey = -1;
    for (let i = 0; i < header.count; i++) {
      const key = view.getUint16(header.descriptionsStart + 4 * i, true);
      const cardinality = view.getUint16(header.descriptionsStart + 4 * i + 2, true) + 1;
      if (key >= CONTAINER_KEY_SLOTS || key <= previousKey) throw new CorruptBitmapError(`container key ${key} out of order or range`);
      previousKey = key;
      const isRun = header.runFlags !== undefined && (header.runFlags[i >> 3]! & (1 << (i & 7))) !== 0;
      let bytes: number;
      let meta: number;
      if (isRun) {
        requireBytes(view, position + 2);
        const runs = view.getUint16(position, true);
        bytes = 2 + 4 * runs;
        meta = (runs << 2) | KIND_RUN;
      } else if (cardinality <= ARRAY_CARDINALITY_MAX) {
        bytes = 2 * cardinality;
        meta = (cardinality << 2) | KIND_ARRAY;
      } else {
        bytes = BITMAP_CONTAINER_BYTES;
        meta = (cardinality << 2) | KIND_BITMAP;
      }
      requireBytes(view, position + bytes);
      this.offsets[key] = (position + shift) >>> 1;
      this.metas[key] = meta;
      if (key === CONTAINER_KEY_SLOTS - 1) this.requireBelowRestModulus(key);
      total += cardinality;
      position += bytes;
    }
    return total;
  }

  /** The last container may reach past 10^7 - 1: no stored value may (it would not be a rest). */
  private requireBelowRestModulus(key: number): void {
    const lastValid = AREA_REST_MODULUS - 1 - key * 65536;
    let largest: number;
    const at = this.offsets[key]!;
    const meta = this.metas[key]!;
    if ((meta & 3) === KIND_ARRAY) largest = this.words[at + (meta >>> 2) - 1]!;
    else if ((meta & 3) === KIND_RUN) {
      const lastRun = at + 1 + 2 * ((meta >>> 2) - 1);
      largest = this.words[lastRun]! + this.words[lastRun + 1]!;
    } else {
      largest = 0;
      for (let word = 4095; word >= 0 && largest === 0; word--) {
        const bits = this.words[at + word]!;
        if (bits !== 0) largest = word * 16 + 31 - Math.clz32(bits);
      }
    }
    if (largest > lastValid) throw new CorruptBitmapError(`holds a value beyond 7 digits`);
  }

  has(rest: number): boolean {
    const key = rest >>> 16;
    if (key >= CONTAINER_KEY_SLOTS) return false;
    const at = this.offsets[key]!;
    if (at < 0) return false;
    const low = rest & 0xffff;
    const meta = this.metas[key]!;
    const kind = meta & 3;
    if (kind === KIND_BITMAP) return (this.words[at + (low >>> 4)]! & (1 << (low & 15))) !== 0;
    if (kind === KIND_ARRAY) {
      const bucketAt = this.bucketOffsets[key]!;
      if (bucketAt < 0) return searchArray(this.words, at, at + (meta >>> 2), low);
      const bucket = bucketAt + (low >>> this.bucketShifts[key]!);
      return searchArray(this.words, at + this.bucketStarts[bucket]!, at + this.bucketStarts[bucket + 1]!, low);
    }
    return searchRuns(this.words, at + 1, meta >>> 2, low);
  }
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
