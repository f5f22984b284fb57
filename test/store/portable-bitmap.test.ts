import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AREA_REST_MODULUS, ARRAY_EXPAND_CARDINALITY_MIN } from '../../src/constants.js';
import { CorruptBitmapError, PortableBitmap } from '../../src/store/portable-bitmap.js';
import { RoaringBitmap32 } from '../../src/store/roaring.js';
import { PoolPlacementError, WordPool } from '../../src/store/word-pool.js';
import { bitmapWords, portableBytes, type HandContainer } from './portable-bytes.js';

function frozen(bitmap: RoaringBitmap32): PortableBitmap {
  return new PortableBitmap(bitmap.serialize('portable'));
}

/** Random values over the whole rest range plus up to three long ranges, run-optimised or not. */
function randomBitmaps(maxValues: number): fc.Arbitrary<RoaringBitmap32> {
  return fc
    .tuple(
      fc.array(fc.integer({ min: 0, max: AREA_REST_MODULUS - 1 }), { maxLength: maxValues }),
      fc.array(fc.record({ start: fc.integer({ min: 0, max: AREA_REST_MODULUS - 70_000 }), length: fc.integer({ min: 1, max: 70_000 }) }), { maxLength: 3 }),
      fc.boolean(),
    )
    .map(([values, ranges, optimise]) => {
      const bitmap = new RoaringBitmap32(values);
      for (const { start, length } of ranges) bitmap.addRange(start, start + length);
      if (optimise) bitmap.runOptimize();
      return bitmap;
    });
}

/** Probes every stored value, its neighbours and a sample of the whole range against Roaring. */
function expectSameMembers(bitmap: RoaringBitmap32, portable: PortableBitmap): void {
  expect(portable.size).toBe(bitmap.size);
  const probes: number[] = [];
  for (const value of bitmap.toUint32Array()) probes.push(value - 1, value, value + 1);
  for (let probe = 0; probe < AREA_REST_MODULUS; probe += 9973) probes.push(probe);
  const disagreements = probes.filter(
    (probe) => probe >= 0 && probe < AREA_REST_MODULUS && portable.has(probe) !== bitmap.has(probe),
  );
  expect(disagreements.slice(0, 10)).toEqual([]);
}

describe('PortableBitmap', () => {
  it('is empty for an empty bitmap', () => {
    const portable = frozen(new RoaringBitmap32());
    expect(portable.size).toBe(0);
    expect(portable.has(0)).toBe(false);
    expect(portable.has(AREA_REST_MODULUS - 1)).toBe(false);
  });

  it('answers like Roaring for array, bitmap and run containers', () => {
    const bitmap = new RoaringBitmap32();
    for (let i = 0; i < 3000; i++) bitmap.add(i * 7); // array container (key 0)
    for (let i = 65536 * 3; i < 65536 * 3 + 40_000; i += 2) bitmap.add(i); // bitmap container (key 3)
    bitmap.addRange(65536 * 10 + 5, 65536 * 11 + 17); // a long run, crosses into key 11
    bitmap.add(AREA_REST_MODULUS - 1); // last key
    expectSameMembers(bitmap, frozen(bitmap));
    bitmap.runOptimize();
    expectSameMembers(bitmap, frozen(bitmap));
  });

  it('reads a run-container header with an odd length (fewer than four containers)', () => {
    const bitmap = RoaringBitmap32.fromRange(0, 100_000);
    bitmap.runOptimize();
    expect(bitmap.serialize('portable')[0]).toBe(0x3b); // cookie with runs: 5-byte header, odd
    expectSameMembers(bitmap, frozen(bitmap));
  });

  it('agrees with Roaring on random sets', () => {
    fc.assert(fc.property(randomBitmaps(2000), (bitmap) => expectSameMembers(bitmap, frozen(bitmap))), { numRuns: 60 });
  });

  it('agrees with Roaring on array containers dense enough for bucket tables', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 150 }),
        fc.array(fc.integer({ min: 0, max: 65535 }), { minLength: 60, maxLength: 4096 }),
        (key, lows) => {
          const bitmap = new RoaringBitmap32(lows.map((low) => key * 65536 + low).filter((rest) => rest < AREA_REST_MODULUS));
          expectSameMembers(bitmap, frozen(bitmap));
        },
      ),
      { numRuns: 80 },
    );
  });

  it('gives array containers from ARRAY_EXPAND_CARDINALITY_MIN values a bitmap copy, and answers the same', () => {
    const key = 152; // the last key: its values must stay below 10^7
    const spaced = (count: number): number[] => Array.from({ length: count }, (_, i) => key * 65536 + Math.floor((i * 19_000) / count) * 2 + 1);
    const below = new RoaringBitmap32(spaced(ARRAY_EXPAND_CARDINALITY_MIN - 1));
    const atThreshold = new RoaringBitmap32(spaced(ARRAY_EXPAND_CARDINALITY_MIN));
    const full = new RoaringBitmap32([...spaced(4096), 5, 70_000]);
    expect(frozen(below).expandedContainers).toBe(0);
    expect(frozen(atThreshold).expandedContainers).toBe(1);
    expect(frozen(full).expandedContainers).toBe(1);
    for (const bitmap of [below, atThreshold, full]) expectSameMembers(bitmap, frozen(bitmap));
  });

  it('reads bytes wherever they sit in their buffer, and gives them back unchanged', () => {
    for (const optimise of [false, true]) {
      const bitmap = RoaringBitmap32.fromRange(5, 70_000);
      bitmap.add(AREA_REST_MODULUS - 1);
      if (optimise) bitmap.runOptimize();
      const serialised = bitmap.serialize('portable');
      for (const offset of [0, 1, 2, 3]) {
        const holder = new Uint8Array(serialised.length + 4);
        holder.set(serialised, offset);
        const portable = new PortableBitmap(holder.subarray(offset, offset + serialised.length));
        expectSameMembers(bitmap, portable);
        expect(Buffer.from(portable.bytes).equals(serialised)).toBe(true);
      }
    }
  });

  it('moves bytes down within the pool buffer that holds them, at any byte offset, and never up', () => {
    const bitmap = new RoaringBitmap32([...Array.from({ length: 3000 }, (_, i) => 7 * i), 70_000, 9_999_999]);
    const serialised = bitmap.serialize('portable');
    const regionWords = PortableBitmap.regionWords(serialised);
    for (const offset of [0, 1, 2, 3, 1001]) {
      const words = new Uint16Array(regionWords + 600).fill(0xffff); // stale bytes where the copy goes
      const bytes = new Uint8Array(words.buffer);
      bytes.set(serialised, offset);
      const portable = new PortableBitmap(bytes.subarray(offset, offset + serialised.length), WordPool.holding(words), 'move-down');
      expect(portable.origin).toBe(0);
      expectSameMembers(bitmap, portable);
      expect(Buffer.from(portable.bytes).equals(serialised)).toBe(true);
    }
    const words = new Uint16Array(2 * regionWords + 8);
    const pool = WordPool.holding(words);
    new Uint8Array(words.buffer).set(serialised, 0);
    new PortableBitmap(new Uint8Array(words.buffer, 0, serialised.length), pool, 'move-down');
    new Uint8Array(words.buffer).set(serialised, 2 * regionWords - 2); // before where the next region goes
    expect(() => new PortableBitmap(new Uint8Array(words.buffer, 2 * regionWords - 2, serialised.length), pool, 'move-down')).toThrow(PoolPlacementError);
    expect(() => new PortableBitmap(serialised, WordPool.holding(new Uint16Array(2 * regionWords)), 'move-down')).toThrow(PoolPlacementError);
  });

  it('refuses malformed bytes instead of reading out of bounds', () => {
    const good = new RoaringBitmap32([1, 2, 3, 70_000]).serialize('portable');
    expect(() => new PortableBitmap(good.subarray(0, good.length - 1))).toThrowError(CorruptBitmapError);
    expect(() => new PortableBitmap(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]))).toThrowError(/unknown cookie/);
    expect(() => new PortableBitmap(new Uint8Array(2))).toThrowError(CorruptBitmapError);
  });

  it.each([
    ['an array container', () => new RoaringBitmap32([5, AREA_REST_MODULUS])],
    ['a bitmap container', () => RoaringBitmap32.fromRange(AREA_REST_MODULUS - 10_000, AREA_REST_MODULUS + 1)],
    ['a run container', () => { const b = RoaringBitmap32.fromRange(AREA_REST_MODULUS - 5, AREA_REST_MODULUS + 5); b.runOptimize(); return b; }],
  ])('refuses a value beyond 7 digits in %s, accepts the largest rest', (_kind, make) => {
    expect(() => frozen(make())).toThrowError(/beyond 7 digits/);
    const largest = RoaringBitmap32.fromRange(AREA_REST_MODULUS - 10_000, AREA_REST_MODULUS);
    expect(frozen(largest).has(AREA_REST_MODULUS - 1)).toBe(true);
  });
});

describe('PortableBitmap.checkContents', () => {
  const evens = Array.from({ length: 5000 }, (_, i) => 2 * i);
  const bitmapContainer: HandContainer = { key: 0, cardinality: 5000, kind: 'bitmap', words: bitmapWords(evens) };
  const arrayContainer: HandContainer = { key: 1, cardinality: 3, kind: 'array', words: [4, 9, 700] };
  // Runs [10, 14] and [20, 20]: six values.
  const runContainer: HandContainer = { key: 2, cardinality: 6, kind: 'run', words: [2, 10, 4, 20, 0] };

  it('passes hand-made bytes of every container kind, and CRoaring reads them as written', () => {
    const bytes = portableBytes([bitmapContainer, arrayContainer, runContainer]);
    const portable = new PortableBitmap(bytes);
    expect(() => portable.checkContents()).not.toThrow();
    const expected = [...evens, 65536 + 4, 65536 + 9, 65536 + 700, ...[10, 11, 12, 13, 14, 20].map((low) => 2 * 65536 + low)];
    expect(Array.from(RoaringBitmap32.deserialize(bytes, 'portable').toUint32Array())).toEqual(expected);
    expect(portable.size).toBe(expected.length);
  });

  it('passes whatever CRoaring writes', () => {
    fc.assert(fc.property(randomBitmaps(3000), (bitmap) => frozen(bitmap).checkContents()), { numRuns: 60 });
  });

  it.each<[string, HandContainer, RegExp]>([
    ['a bitmap container holding one bit more than it declares', { ...bitmapContainer, words: bitmapWords([...evens, 10_001]) }, /bitmap container 0 declares 5000 values and holds 5001/],
    ['a bitmap container holding one bit less than it declares', { ...bitmapContainer, words: bitmapWords(evens.slice(1)) }, /declares 5000 values and holds 4999/],
    ['an array container out of order', { ...arrayContainer, words: [4, 700, 9] }, /array container 1 is not strictly increasing/],
    ['an array container with a value twice', { ...arrayContainer, words: [4, 9, 9] }, /array container 1 is not strictly increasing/],
    ['a run container with no runs', { ...runContainer, words: [0] }, /run container 2 has no runs/],
    ['a run container whose run passes 16 bits', { ...runContainer, words: [1, 65530, 9] }, /run container 2 has a run past 16 bits/],
    ['a run container whose runs overlap', { ...runContainer, words: [2, 10, 4, 12, 0] }, /run container 2 has runs out of order or touching/],
    ['a run container whose runs touch', { ...runContainer, words: [2, 10, 4, 15, 0] }, /run container 2 has runs out of order or touching/],
    ['a run container holding other than it declares', { ...runContainer, words: [2, 10, 4, 20, 1] }, /declares \d+ values and holds \d+/],
  ])('refuses %s', (_case, container, message) => {
    const containers = [bitmapContainer, arrayContainer, runContainer].map((c) => (c.key === container.key ? container : c));
    const portable = new PortableBitmap(portableBytes(containers));
    expect(() => portable.checkContents()).toThrowError(CorruptBitmapError);
    expect(() => portable.checkContents()).toThrowError(message);
  });
});
