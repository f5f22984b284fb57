// Seeded, deterministic number sets for the benchmarks: one shaped like the national registry
// (numbers clustered in active exchanges, which is what Roaring's containers see in production)
// and a uniform-random variant, the adversarial case where per-exchange clustering does not help.
// Numbers are 10-digit integers (see src/phone/digits.ts), generated straight into a Float64Array,
// sorted ascending and distinct, so even 100M numbers never become 100M strings.

import { Prng } from './prng.js';

/** NANP: area codes and exchanges are 200-999, lines 0000-9999. */
export const AREA_CODE_MIN = 200;
export const AREA_CODE_MAX = 999;
export const EXCHANGE_MIN = 200;
export const EXCHANGE_MAX = 999;
export const LINES_PER_EXCHANGE = 10_000;
const AREA_FACTOR = 10_000_000;

/**
 * The registry shape. A few hundred active exchanges per area code (of 800 possible) and 15-30 %
 * of the lines of an active exchange registered; area codes are added until the size is reached,
 * so 100M numbers span about 150 area codes and a standard 10M set about 15.
 */
export const ACTIVE_EXCHANGES_PER_AREA_MIN = 200;
export const ACTIVE_EXCHANGES_PER_AREA_MAX = 400;
export const EXCHANGE_DENSITY_MIN = 0.15;
export const EXCHANGE_DENSITY_MAX = 0.3;

export type DataKind = 'registry' | 'uniform';

export interface NumberData {
  readonly kind: DataKind;
  readonly seed: number;
  /** Distinct numbers, sorted ascending. */
  readonly numbers: Float64Array;
  /** Distinct area codes present. */
  readonly areaCodes: number;
}

interface PlannedExchange {
  readonly prefix: number;
  readonly lines: number;
}

export function generateNumbers(kind: DataKind, count: number, seed: number): NumberData {
  return kind === 'registry' ? registryNumbers(count, seed) : uniformNumbers(count, seed);
}

/** `count` registry-shaped numbers; the last exchange is cut short so the size is exact. */
export function registryNumbers(count: number, seed: number): NumberData {
  const rng = new Prng(seed);
  const plan = planExchanges(count, rng);
  const numbers = new Float64Array(count);
  const lines = Uint16Array.from({ length: LINES_PER_EXCHANGE }, (_, i) => i);
  let at = 0;
  for (const exchange of plan) {
    const chosen = pickLines(lines, exchange.lines, rng);
    const base = exchange.prefix * LINES_PER_EXCHANGE;
    for (let i = 0; i < chosen.length; i++) numbers[at++] = base + chosen[i]!;
  }
  if (at !== count) throw new Error(`registry generator produced ${at} numbers, expected ${count}`);
  return { kind: 'registry', seed, numbers, areaCodes: countAreaCodes(numbers) };
}

/** Active exchanges with their registered line counts, sorted by prefix (area code + exchange). */
function planExchanges(count: number, rng: Prng): PlannedExchange[] {
  const areaCodes = shuffledRange(AREA_CODE_MIN, AREA_CODE_MAX, rng);
  const plan: PlannedExchange[] = [];
  let planned = 0;
  for (const areaCode of areaCodes) {
    if (planned >= count) break;
    const active = rng.int(ACTIVE_EXCHANGES_PER_AREA_MIN, ACTIVE_EXCHANGES_PER_AREA_MAX);
    const exchanges = shuffledRange(EXCHANGE_MIN, EXCHANGE_MAX, rng).slice(0, active);
    for (const exchange of exchanges) {
      if (planned >= count) break;
      const density = EXCHANGE_DENSITY_MIN + rng.float() * (EXCHANGE_DENSITY_MAX - EXCHANGE_DENSITY_MIN);
      const lines = Math.min(Math.round(density * LINES_PER_EXCHANGE), count - planned);
      plan.push({ prefix: areaCode * 1000 + exchange, lines });
      planned += lines;
    }
  }
  if (planned < count) throw new Error(`the registry shape holds at most ${planned} numbers, asked for ${count}`);
  return plan.sort((a, b) => a.prefix - b.prefix);
}

/** `count` distinct lines 0-9999, ascending (a partial Fisher-Yates over a reused permutation). */
function pickLines(permutation: Uint16Array, count: number, rng: Prng): Uint16Array {
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(rng.float() * (permutation.length - i));
    const swap = permutation[i]!;
    permutation[i] = permutation[j]!;
    permutation[j] = swap;
  }
  return permutation.slice(0, count).sort();
}

function shuffledRange(min: number, max: number, rng: Prng): number[] {
  const values = Array.from({ length: max - min + 1 }, (_, i) => min + i);
  for (let i = values.length - 1; i > 0; i--) {
    const j = Math.floor(rng.float() * (i + 1));
    [values[i], values[j]] = [values[j]!, values[i]!];
  }
  return values;
}

/** `count` distinct numbers drawn uniformly from every valid NANP number (6.4 billion of them). */
export function uniformNumbers(count: number, seed: number): NumberData {
  const rng = new Prng(seed);
  let numbers: Float64Array = new Float64Array(0);
  while (numbers.length < count) {
    const missing = count - numbers.length;
    const grown = new Float64Array(numbers.length + missing);
    grown.set(numbers);
    for (let i = numbers.length; i < grown.length; i++) grown[i] = randomValidNumber(rng);
    numbers = distinctSorted(grown);
  }
  return { kind: 'uniform', seed, numbers, areaCodes: countAreaCodes(numbers) };
}

export function randomValidNumber(rng: Prng): number {
  const areaCode = rng.int(AREA_CODE_MIN, AREA_CODE_MAX);
  const exchange = rng.int(EXCHANGE_MIN, EXCHANGE_MAX);
  return areaCode * AREA_FACTOR + exchange * LINES_PER_EXCHANGE + rng.int(0, LINES_PER_EXCHANGE - 1);
}

/** Sorts in place and returns the distinct prefix. */
export function distinctSorted(numbers: Float64Array): Float64Array {
  numbers.sort();
  let kept = 0;
  for (let i = 0; i < numbers.length; i++) {
    if (i === 0 || numbers[i] !== numbers[i - 1]) numbers[kept++] = numbers[i]!;
  }
  return numbers.subarray(0, kept);
}

function countAreaCodes(sorted: Float64Array): number {
  let areas = 0;
  let previous = -1;
  for (const number of sorted) {
    const areaCode = Math.floor(number / AREA_FACTOR);
    if (areaCode !== previous) areas++;
    previous = areaCode;
  }
  return areas;
}

/** Whether `number` is in the sorted array (binary search: independent of every structure timed). */
export function sortedContains(sorted: Float64Array, number: number): boolean {
  let low = 0;
  let high = sorted.length - 1;
  while (low <= high) {
    const middle = (low + high) >>> 1;
    const value = sorted[middle]!;
    if (value === number) return true;
    if (value < number) low = middle + 1;
    else high = middle - 1;
  }
  return false;
}

export interface ProbeSet {
  /** Probes in random order; duplicates possible. */
  readonly numbers: Float64Array;
  /** Probes that are members of the data set, counted by binary search. */
  readonly expectedHits: number;
  /** Distinct probes that are members (what a scrub returns). */
  readonly expectedDistinctHits: number;
}

/**
 * `count` probes against `data`: about `hitFraction` drawn from the set, the rest misses of two
 * kinds, unregistered lines in active exchanges (the hard miss) and uniform valid numbers.
 */
export function probeSet(data: NumberData, count: number, hitFraction: number, seed: number): ProbeSet {
  const rng = new Prng(seed);
  const set = data.numbers;
  const numbers = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const roll = rng.float();
    if (roll < hitFraction) numbers[i] = set[rng.below(set.length)]!;
    else if (roll < hitFraction + (1 - hitFraction) / 2) numbers[i] = nearMiss(set, rng);
    else numbers[i] = randomValidNumber(rng);
  }
  let expectedHits = 0;
  for (const number of numbers) if (sortedContains(set, number)) expectedHits++;
  let expectedDistinctHits = 0;
  for (const number of distinctSorted(numbers.slice())) if (sortedContains(set, number)) expectedDistinctHits++;
  return { numbers, expectedHits, expectedDistinctHits };
}

/** A random line in the exchange of a random member: usually not registered itself. */
function nearMiss(set: Float64Array, rng: Prng): number {
  const member = set[rng.below(set.length)]!;
  const exchangeBase = member - (member % LINES_PER_EXCHANGE);
  return exchangeBase + rng.int(0, LINES_PER_EXCHANGE - 1);
}

/** The 10-digit strings of `numbers` (valid NANP numbers never start with 0: no padding). */
export function toDigits(numbers: Float64Array): string[] {
  return Array.from(numbers, String);
}

/** A comma-separated phone list of `numbers[start, end)`. */
export function toCommaList(numbers: Float64Array, start = 0, end = numbers.length): string {
  return Array.from(numbers.subarray(start, end), String).join(',');
}
