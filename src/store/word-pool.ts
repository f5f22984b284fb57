// One Uint16Array per list holding the portable bytes (and the bitmap copies) of every area code
// of that list, each in its own region.
//
// Why: a lookup at national scale is bound by dependent memory accesses, each a likely cache and
// TLB miss. With one buffer per area code the probe went list -> area table -> area's buffer object
// -> its backing store -> the word; with one pool it is one row of a per-list table, then the word
// in a buffer whose object stays hot (docs/design.md, One buffer and one probe table per list).
//
// A released region becomes a hole; holes next to each other merge, and a new region goes into the
// first hole it fits (a merge of one area code frees about what the next one needs), else at the
// end. When neither has room, the live regions are copied, in order, into a new buffer (the owners
// are told their new origin and the pool's listener is called). A hole's words are reused in place,
// so whoever keeps views of regions past a change of the list (a snapshot being written) pins the
// pool: while pinned, released words are held back and only become holes once it is unpinned (a
// compaction meanwhile leaves the old buffer, and the views, untouched).
//
// A snapshot's list is read straight into the buffer of its pool (WordPool.holding): the regions
// are then placed in order from word 0 over bytes that are not zero (see snapshot-read.ts).

import { WORD_POOL_SLACK_DIVISOR, WORD_POOL_WORDS_MIN } from '../constants.js';

/** A region's owner: it learns where its words moved when the pool compacts. */
export interface PoolRegion {
  /** Index in `pool.words` of the region's first word. */
  readonly origin: number;
  /** Words the region holds. */
  readonly length: number;
  moveTo(origin: number): void;
}

/** A region cannot go where the caller asked (`placeNext`, or PortableBitmap's move into place). */
export class PoolPlacementError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PoolPlacementError';
  }
}

interface Hole {
  start: number;
  length: number;
}

export class WordPool {
  /** Every region's words; replaced (never resized) when the pool compacts or grows. */
  words: Uint16Array;
  /** Words from 0 that regions or holes cover; the rest of `words` is free. */
  private used = 0;
  /** Words from 0 ever handed out in this buffer: above it `words` is still zero. */
  private touched = 0;
  private live = 0;
  private readonly regions = new Set<PoolRegion>();
  /** Released words below `used`, by ascending start, never touching each other. */
  private holes: Hole[] = [];
  private pins = 0;
  /** Words released while pinned, in the current buffer: holes once the last pin goes. */
  private heldBack: Hole[] = [];
  private moved: (() => void) | undefined = undefined;
  /** How many times the pool copied its live regions into a new buffer (tests and metrics). */
  compactions = 0;

  constructor(capacityWords = 0) {
    this.words = new Uint16Array(capacityWords);
  }

  /**
   * A pool over `words`, which already hold its regions' bytes (a snapshot read into place): the
   * regions are placed in order from word 0 with `placeNext`, which does not clear their words.
   * Every word is taken as not zero, so later allocations clear what they take.
   */
  static holding(words: Uint16Array): WordPool {
    // Regions' byte views (PortableBitmap.bytes) are taken from the start of the buffer.
    if (words.byteOffset !== 0) throw new PoolPlacementError('a pool must start at the start of its buffer');
    const pool = new WordPool();
    pool.words = words;
    pool.touched = words.length;
    return pool;
  }

  /** Words held by live regions. */
  get liveWords(): number {
    return this.live;
  }

  get capacityWords(): number {
    return this.words.length;
  }

  /** Called after every compaction, once every region has its new origin. One listener. */
  onMoved(listener: () => void): void {
    this.moved = listener;
  }

  /**
   * Reserves `length` zeroed words for `region` (added to the pool once placed) and returns their
   * origin. May compact first: other regions can move, the pool's listener is then called.
   */
  allocate(region: PoolRegion, length: number): number {
    let origin = this.takeHole(length);
    if (origin < 0) {
      if (this.used + length > this.words.length) this.compact(length);
      origin = this.used;
      this.used += length;
      // Words given back at the end (see addHole) hold old bytes; fresh ones are still zero.
      if (origin < this.touched) this.words.fill(0, origin, Math.min(this.used, this.touched));
      this.touched = Math.max(this.touched, this.used);
    }
    this.live += length;
    this.regions.add(region);
    return origin;
  }

  /**
   * Places `region` right after the regions placed so far, without clearing its words (a pool made
   * by `holding`, before any other change); returns its origin.
   */
  placeNext(region: PoolRegion, length: number): number {
    if (this.holes.length > 0 || this.used + length > this.words.length) {
      throw new PoolPlacementError(`no room for ${length} words after word ${this.used} of ${this.words.length}`);
    }
    const origin = this.used;
    this.used += length;
    this.live += length;
    this.regions.add(region);
    return origin;
  }

  /** The region's words become a hole (reused by a later allocation or dropped by a compaction). */
  release(region: PoolRegion): void {
    if (!this.regions.delete(region)) return;
    this.live -= region.length;
    if (this.pins > 0) this.heldBack.push({ start: region.origin, length: region.length });
    else this.addHole(region.origin, region.length);
  }

  /**
   * Keeps the words of every region live now unchanged until the returned function is called
   * (once; later calls do nothing), however the regions change meanwhile.
   */
  pin(): () => void {
    this.pins++;
    let pinned = true;
    return () => {
      if (!pinned) return;
      pinned = false;
      if (--this.pins > 0) return;
      const held = this.heldBack;
      this.heldBack = [];
      for (const hole of held) this.addHole(hole.start, hole.length);
    };
  }

  /** Makes room for `words` more words at once (a large batch), instead of growing step by step. */
  reserve(words: number): void {
    if (this.words.length - this.used < words) this.compact(words);
  }

  /** Start of a zeroed run of `length` words cut from the first hole that fits, or -1. */
  private takeHole(length: number): number {
    const holes = this.holes;
    for (let i = 0; i < holes.length; i++) {
      const hole = holes[i]!;
      if (hole.length < length) continue;
      const start = hole.start;
      if (hole.length === length) holes.splice(i, 1);
      else {
        hole.start += length;
        hole.length -= length;
      }
      this.words.fill(0, start, start + length);
      return start;
    }
    return -1;
  }

  /** Records released words, merged with touching holes; a hole reaching `used` gives it back. */
  private addHole(start: number, length: number): void {
    const holes = this.holes;
    let low = 0;
    let high = holes.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (holes[middle]!.start < start) low = middle + 1;
      else high = middle;
    }
    let hole: Hole = { start, length };
    const before = holes[low - 1];
    if (before !== undefined && before.start + before.length === start) {
      before.length += length;
      hole = before;
      low--;
    } else {
      holes.splice(low, 0, hole);
    }
    const after = holes[low + 1];
    if (after !== undefined && hole.start + hole.length === after.start) {
      hole.length += after.length;
      holes.splice(low + 1, 1);
    }
    if (hole.start + hole.length === this.used) {
      this.used = hole.start;
      holes.splice(low, 1);
    }
  }

  /**
   * Copies the live regions into a new buffer with room for `extra` more words, plus
   * 1/WORD_POOL_SLACK_DIVISOR of the live words to spare; the holes are dropped.
   */
  private compact(extra: number): void {
    const needed = this.live + extra;
    const slack = Math.floor(needed / WORD_POOL_SLACK_DIVISOR);
    const words = new Uint16Array(Math.max(WORD_POOL_WORDS_MIN, needed + slack));
    let position = 0;
    for (const region of this.regions) {
      words.set(this.words.subarray(region.origin, region.origin + region.length), position);
      region.moveTo(position);
      position += region.length;
    }
    this.words = words;
    this.used = position;
    this.touched = position;
    this.holes = [];
    this.heldBack = []; // words of the old buffer, which pinned views still hold
    this.compactions++;
    this.moved?.();
  }
}
