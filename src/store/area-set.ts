// The numbers of one area code in one list: an immutable base (a PortableBitmap probed from JS)
// plus a small mutable delta of recent changes, merged into a new base once it grows.
//
// Why: lookups want the frozen layout (a few typed-array reads), writes want mutability. Keeping
// a native Roaring bitmap beside the frozen bytes would double the memory; instead a merge
// materialises the native bitmap for a moment, applies the changes with addMany/removeMany, and
// freezes it again. Small writes touch only the delta, so a merge happens once per
// AREA_DELTA_ENTRIES_MAX changes, and a large batch merges at once. The base lives in the list's
// WordPool; a replaced base gives its region back.

import { AREA_DELTA_ENTRIES_MAX } from '../constants.js';
import { BIT_START_SEARCH, CONTAINER_KEY_SLOTS, PortableBitmap } from './portable-bitmap.js';
import { RoaringBitmap32 } from './roaring.js';
import type { WordPool } from './word-pool.js';

const EMPTY_SERIALISED = new RoaringBitmap32().serialize('portable');

export class AreaSet {
  private base: PortableBitmap;
  /** rest -> present now; only for rests whose state differs from the base. */
  private delta: Map<number, boolean> | undefined;
  /**
   * While a delta is pending: per container key (rest >>> 16), how many of its rests the delta
   * holds. Keys at 0 keep their one-access probe (the base answers for them); only keys with
   * pending changes are searched through the delta. Before this, a single pending change sent
   * every lookup in the area code down the search path until the next merge, which with a steady
   * trickle of adds is most of the time.
   */
  private deltaKeys: Uint16Array | undefined;
  private total: number;
  /** How many times the base was replaced: when it was not, only the keys a change touched need new probe entries. */
  private baseReplacements = 0;

  /** `base` must live in `pool`; absent: an empty set. */
  constructor(private readonly pool: WordPool, base?: PortableBitmap) {
    this.base = base ?? new PortableBitmap(EMPTY_SERIALISED, pool);
    this.total = this.base.size;
  }

  get size(): number {
    return this.total;
  }

  /**
   * Fills `row[at + key]` for every container key with where NumberSet bit-tests that key in the
   * pool's words (PortableBitmap.absoluteStart), or search for the keys with pending changes. Valid
   * until the set changes, a container is first probed, or the pool compacts.
   */
  fillProbeRow(row: Int32Array, at: number): void {
    for (let key = 0; key < CONTAINER_KEY_SLOTS; key++) row[at + key] = this.probeStart(key);
  }

  /**
   * `fillProbeRow` for the container keys of `sortedRests` only: after an `apply` that left the
   * base in place, only those keys' entries can have changed (a delta that empties has lost only
   * entries of the applied rests). A single add would otherwise refill all 153 entries of the row:
   * 13 % of the main thread's time with 64 concurrent durable writers.
   */
  fillProbeEntries(row: Int32Array, at: number, sortedRests: Uint32Array): void {
    let lastKey = -1;
    for (let i = 0; i < sortedRests.length; i++) {
      const key = sortedRests[i]! >>> 16;
      if (key === lastKey) continue;
      row[at + key] = this.probeStart(key);
      lastKey = key;
    }
  }

  /** Changes each time the base is replaced (a merge or a compaction): compare around `apply`. */
  get baseVersion(): number {
    return this.baseReplacements;
  }

  /** One entry of `fillProbeRow` (after a probe that may have filled a container's copy). */
  probeStart(key: number): number {
    return this.deltaKeys === undefined || this.deltaKeys[key] === 0 ? this.base.absoluteStart(key) : BIT_START_SEARCH;
  }

  /** Gives the base's region back to the pool (the set is dropped). */
  release(): void {
    this.base.release();
  }

  has(rest: number): boolean {
    if (this.delta !== undefined) {
      const changed = this.delta.get(rest);
      if (changed !== undefined) return changed;
    }
    return this.base.has(rest);
  }

  /** Applies sorted rests; returns how many changed state. */
  apply(sortedRests: Uint32Array, adding: boolean): number {
    const pending = this.delta?.size ?? 0;
    if (pending + sortedRests.length > AREA_DELTA_ENTRIES_MAX) return this.applyByMerging(sortedRests, adding);
    let changed = 0;
    for (let i = 0; i < sortedRests.length; i++) {
      const rest = sortedRests[i]!;
      if (this.has(rest) === adding) continue;
      changed++;
      this.delta ??= new Map();
      this.deltaKeys ??= new Uint16Array(CONTAINER_KEY_SLOTS);
      // The state differs from the wanted one: either the delta holds the rest (the base has the
      // wanted state) and the entry goes, or it does not and an entry comes.
      if (this.base.has(rest) === adding) {
        this.delta.delete(rest);
        this.deltaKeys[rest >>> 16]!--;
      } else {
        this.delta.set(rest, adding);
        this.deltaKeys[rest >>> 16]!++;
      }
    }
    if (this.delta?.size === 0) this.dropDelta();
    this.total += adding ? changed : -changed;
    return changed;
  }

  private applyByMerging(sortedRests: Uint32Array, adding: boolean): number {
    const bitmap = this.toBitmap();
    const before = bitmap.size;
    if (adding) bitmap.addMany(sortedRests);
    else bitmap.removeMany(sortedRests);
    this.replaceBase(bitmap);
    this.dropDelta();
    this.total = this.base.size;
    return Math.abs(this.total - before);
  }

  /** Folds the delta into the base (before a snapshot, so that its bytes are the whole set). */
  compact(): void {
    if (this.delta === undefined) return;
    this.replaceBase(this.toBitmap());
    this.dropDelta();
  }

  private dropDelta(): void {
    this.delta = undefined;
    this.deltaKeys = undefined;
  }

  /**
   * Freezes `bitmap` (which already holds the old base's numbers) into the pool as the new base.
   * The old region is released first: a compaction while placing the new one need not copy it.
   */
  private replaceBase(bitmap: RoaringBitmap32): void {
    bitmap.runOptimize();
    this.base.release();
    this.base = PortableBitmap.ofNative(bitmap, this.pool);
    this.baseReplacements++;
  }

  /** The portable serialisation of the whole set (compacts first). */
  portable(): Uint8Array {
    this.compact();
    return this.base.bytes;
  }

  /** Throws CorruptBitmapError when the base's containers are not what CRoaring assumes (PortableBitmap.checkContents). */
  checkContents(): void {
    this.base.checkContents();
  }

  /** A native bitmap of the whole set, for set algebra and iteration; the caller owns it. */
  toBitmap(): RoaringBitmap32 {
    this.base.checkContents(); // a bitmap CRoaring cannot trust must not reach it
    const bitmap = RoaringBitmap32.deserialize(this.base.bytes, 'portable');
    if (this.delta !== undefined) {
      for (const [rest, present] of this.delta) {
        if (present) bitmap.add(rest);
        else bitmap.remove(rest);
      }
    }
    return bitmap;
  }
}
