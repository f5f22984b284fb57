// The numbers of one area code in one list: an immutable base (a PortableBitmap probed from JS)
// plus a small mutable delta of recent changes, merged into a new base once it grows.
//
// Why: lookups want the frozen layout (a few typed-array reads), writes want mutability. Keeping
// a native Roaring bitmap beside the frozen bytes would double the memory; instead a merge
// materialises the native bitmap for a moment, applies the changes with addMany/removeMany, and
// freezes it again. Small writes touch only the delta, so a merge happens once per
// AREA_DELTA_ENTRIES_MAX changes, and a large batch merges at once.

import { AREA_DELTA_ENTRIES_MAX } from '../constants.js';
import type { GroupedBatch } from './batch-probe.js';
import { BIT_START_SEARCH, CONTAINER_KEY_SLOTS, PortableBitmap } from './portable-bitmap.js';
import { RoaringBitmap32 } from './roaring.js';

const EMPTY_BASE = new PortableBitmap(new RoaringBitmap32().serialize('portable'));
/** Probe table while a delta is pending: every key goes to `has`, which consults the delta. */
const SEARCH_EVERY_KEY = new Int32Array(CONTAINER_KEY_SLOTS).fill(BIT_START_SEARCH);

export class AreaSet {
  private base: PortableBitmap;
  /** rest -> present now; only for rests whose state differs from the base. */
  private delta: Map<number, boolean> | undefined;
  private total: number;

  constructor(base: PortableBitmap = EMPTY_BASE) {
    this.base = base;
    this.total = base.size;
  }

  static fromBitmap(bitmap: RoaringBitmap32): AreaSet {
    return new AreaSet(freeze(bitmap));
  }

  get size(): number {
    return this.total;
  }

  /**
   * The bit-test table NumberSet probes inline (see PortableBitmap.bitStarts): the base's own, or
   * all-search while a delta is pending. It changes when the set does: re-read it after every change.
   */
  get probeStarts(): Int32Array {
    return this.delta === undefined ? this.base.bitStarts : SEARCH_EVERY_KEY;
  }

  get probeWords(): Uint16Array[] {
    return this.base.bitWords;
  }

  has(rest: number): boolean {
    if (this.delta !== undefined) {
      const changed = this.delta.get(rest);
      if (changed !== undefined) return changed;
    }
    return this.base.has(rest);
  }

  /**
   * Sets `bit` in `batch.marks` for the members among `batch` entries [from, to), which all fall in
   * container `key` of this area. The base probes them in one tight loop; pending changes, if any,
   * then correct the answers one by one.
   */
  markGroup(key: number, batch: GroupedBatch, from: number, to: number, bit: number): void {
    if (this.delta === undefined) {
      this.base.markGroup(key, batch.lows, from, to, batch.marks, bit);
      return;
    }
    const high = key * 65536;
    for (let j = from; j < to; j++) if (this.has(high + batch.lows[j]!)) batch.marks[j]! |= bit;
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
      if (this.base.has(rest) === adding) this.delta.delete(rest);
      else this.delta.set(rest, adding);
    }
    if (this.delta?.size === 0) this.delta = undefined;
    this.total += adding ? changed : -changed;
    return changed;
  }

  private applyByMerging(sortedRests: Uint32Array, adding: boolean): number {
    const bitmap = this.toBitmap();
    const before = bitmap.size;
    if (adding) bitmap.addMany(sortedRests);
    else bitmap.removeMany(sortedRests);
    this.base = freeze(bitmap);
    this.delta = undefined;
    this.total = this.base.size;
    return Math.abs(this.total - before);
  }

  /** Folds the delta into the base (before a snapshot, so that its bytes are the whole set). */
  compact(): void {
    if (this.delta === undefined) return;
    this.base = freeze(this.toBitmap());
    this.delta = undefined;
  }

  /** The portable serialisation of the whole set (compacts first). */
  portable(): Uint8Array {
    this.compact();
    return this.base.bytes;
  }

  /** A native bitmap of the whole set, for set algebra and iteration; the caller owns it. */
  toBitmap(): RoaringBitmap32 {
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

/**
 * Copies the serialisation out of the binding's buffer into one that V8 allocates, so that the
 * frozen bytes show in process.memoryUsage().arrayBuffers (and in the memory benchmarks).
 */
function freeze(bitmap: RoaringBitmap32): PortableBitmap {
  bitmap.runOptimize();
  return new PortableBitmap(bitmap.serialize('portable'));
}
