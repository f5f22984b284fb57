// The bench data generator: deterministic from its seed, valid NANP numbers only, and shaped like
// the registry (15-30 % of lines registered in each active exchange, a few hundred active exchanges
// per area code). Properties are recomputed from the numbers themselves, not from the generator.

import { describe, expect, it } from 'vitest';
import {
  ACTIVE_EXCHANGES_PER_AREA_MAX,
  ACTIVE_EXCHANGES_PER_AREA_MIN,
  generateNumbers,
  probeSet,
  type DataKind,
} from '../../bench/data/registry.js';

const SIZE = 300_000;

function expectValidDistinctSorted(numbers: Float64Array, count: number): void {
  expect(numbers.length).toBe(count);
  for (let i = 0; i < numbers.length; i++) {
    const number = numbers[i]!;
    const digits = String(number);
    if (!/^[2-9]\d{2}[2-9]\d{6}$/.test(digits) || (i > 0 && number <= numbers[i - 1]!)) {
      throw new Error(`entry ${i} is invalid or out of order`);
    }
  }
}

function groupCounts(numbers: Float64Array, divisor: number): Map<number, number> {
  const counts = new Map<number, number>();
  for (const number of numbers) {
    const key = Math.floor(number / divisor);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

describe.each<DataKind>(['registry', 'uniform'])('%s numbers', (kind) => {
  it('are the same for the same seed and differ for another seed', () => {
    const first = generateNumbers(kind, 50_000, 42).numbers;
    expect(generateNumbers(kind, 50_000, 42).numbers).toEqual(first);
    expect(generateNumbers(kind, 50_000, 43).numbers).not.toEqual(first);
  });

  it('are exactly the requested count of distinct, sorted, valid NANP numbers', () => {
    expectValidDistinctSorted(generateNumbers(kind, SIZE, 1).numbers, SIZE);
    expectValidDistinctSorted(generateNumbers(kind, 1, 1).numbers, 1);
  });
});

describe('registry shape', () => {
  const numbers = generateNumbers('registry', 2_000_000, 5).numbers;

  it('registers 15-30 % of the lines of every active exchange (but the one cut to size)', () => {
    const perExchange = [...groupCounts(numbers, 10_000).values()];
    const outside = perExchange.filter((lines) => lines < 1_500 || lines > 3_000);
    expect(perExchange.length).toBeGreaterThan(600);
    expect(outside.length).toBeLessThanOrEqual(1);
    expect(Math.max(...perExchange)).toBeLessThanOrEqual(3_000);
  });

  it('spreads each area code over a few hundred active exchanges (but the last one filled)', () => {
    const exchangesPerArea = groupCounts(new Float64Array(groupCounts(numbers, 10_000).keys()), 1_000);
    const counts = [...exchangesPerArea.values()];
    const outside = counts.filter((n) => n < ACTIVE_EXCHANGES_PER_AREA_MIN || n > ACTIVE_EXCHANGES_PER_AREA_MAX);
    expect(counts.length).toBeGreaterThan(2);
    expect(outside.length).toBeLessThanOrEqual(1);
  });

  it('leaves uniform numbers spread over most area codes', () => {
    const areas = groupCounts(generateNumbers('uniform', 100_000, 5).numbers, 10_000_000);
    expect(areas.size).toBeGreaterThan(750);
  });
});

describe('probe sets', () => {
  it('mix hits and misses and count them correctly', () => {
    const data = generateNumbers('registry', 100_000, 9);
    const members = new Set(data.numbers);
    const probes = probeSet(data, 20_000, 0.5, 10);
    const hits = probes.numbers.filter((number) => members.has(number)).length;
    expect(probes.expectedHits).toBe(hits);
    expect(probes.expectedDistinctHits).toBe(new Set(probes.numbers.filter((number) => members.has(number))).size);
    expect(hits / probes.numbers.length).toBeGreaterThan(0.45);
    expect(hits / probes.numbers.length).toBeLessThan(0.7);
    expect(probeSet(data, 20_000, 0.5, 10).numbers).toEqual(probes.numbers);
  });
});
