// Scrub: `dnc.scrub(commaList)` of 10k / 100k / 1M numbers against registry-shaped sets of 1M and 10M
// (100M with --scale 100M), beside the per-number `dnc.isBlocked` loop over the same entries; and the
// batch scrub of parsed numbers (`dnc.blockingCodes`, what the streaming scrub endpoint uses) beside
// the per-number RoaringBitmap32.has() loop over the same parsed numbers (the baseline of its target).
// Then a sweep of batch sizes: the engine's two strategies on its own NumberSet (one frozen probe
// per number, and the chunked probe whose pool reads run in a loop of their own), whose crossover
// backs BATCH_CHUNKED_NUMBERS_MIN; and the engine's scrub beside native set operations (per-area-code
// query bitmaps intersected with the list), the obvious alternative.

import type { Dnc } from '../src/index.js';
import * as constants from '../src/constants.js';
import { distinctSorted, generateNumbers, probeSet, sortedContains, toCommaList, toDigits, type NumberData } from './data/registry.js';
import { check, plain, versus } from './figures.js';
import { requireGcUnlessSmoke, runMicro, timeMsInterleaved, type MicroCase } from './harness.js';
import { AreaRoaring, loadDnc } from './layouts.js';
import type { BenchContext, Figure, Scenario } from './scenario.js';
import { RoaringBitmap32 } from '../src/store/roaring.js';
import { NumberSet } from '../src/store/number-set.js';
import { markLists } from '../src/store/batch-probe.js';

const STANDARD_SETS = [1_000_000, 10_000_000];
const NATIONAL_SETS = [100_000_000];
const SMOKE_SETS = [3_000];
const BATCHES = [10_000, 100_000, 1_000_000];
const SMOKE_BATCHES = [500];
const SWEEP_BATCHES = [64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536];
const SMOKE_SWEEP_BATCHES = [256, 2048];
/** Distinct input batches the sweep rotates through, so repeated calls do not stay cache-hot. */
const SWEEP_POOL_NUMBERS = 1 << 20;
/** A scrub list is mostly callable numbers: a fifth of the entries are on the list. */
const HIT_FRACTION = 0.2;
const AREA_FACTOR = 10_000_000;
const SEED = 23;

/**
 * Whether a scrub answer is right: exactly the blocked entries, either in input order with
 * duplicates or sorted ascending once each (the two orders the engine's contract has allowed).
 */
function scrubIsCorrect(blocked: readonly string[], data: NumberData, input: Float64Array): boolean {
  const inOrder = input.filter((number) => sortedContains(data.numbers, number));
  const sortedOnce = distinctSorted(inOrder.slice());
  const matches = (expected: Float64Array): boolean =>
    blocked.length === expected.length && blocked.every((phone, i) => phone === String(expected[i]));
  return matches(inOrder) || matches(sortedOnce);
}

function repeatsFor(batch: number, smoke: boolean): number {
  if (smoke) return 1;
  return Math.max(3, Math.min(30, Math.round(300_000 / batch)));
}

async function measureBatch(dnc: Dnc, layout: AreaRoaring, data: NumberData, batch: number, smoke: boolean): Promise<Figure[]> {
  const probes = probeSet(data, batch, HIT_FRACTION, SEED + batch);
  const list = toCommaList(probes.numbers);
  const digits = toDigits(probes.numbers);
  const numbers = probes.numbers;
  check(scrubIsCorrect(dnc.scrub(list).blocked, data, numbers), 'scrub returned exactly the blocked entries');
  check(digits.filter((phone) => dnc.isBlocked(phone)).length === probes.expectedHits, 'isBlocked loop hit count');
  check(numbers.filter((number) => layout.has(number)).length === probes.expectedHits, 'has() loop hit count');

  const codes = new Uint8Array(batch);
  dnc.blockingCodes(numbers, batch, codes);
  check(codes.reduce((hits, code) => hits + (code === 0 ? 0 : 1), 0) === probes.expectedHits, 'blockingCodes hit count');

  let sink = 0;
  const [scrubMs, loopMs, hasMs, codesMs] = timeMsInterleaved(
    [
      () => (sink += dnc.scrub(list).blocked.length),
      () => {
        for (const phone of digits) if (dnc.isBlocked(phone)) sink++;
      },
      () => {
        for (const number of numbers) if (layout.has(number)) sink++;
      },
      () => {
        dnc.blockingCodes(numbers, batch, codes);
        sink += codes[0]!;
      },
    ],
    repeatsFor(batch, smoke),
  );
  check(sink > 0 || probes.expectedHits === 0, 'timed runs found blocked numbers');
  const perSecond = (ms: number): number => (batch / ms) * 1000;
  const label = `scrub ${batch} vs ${data.numbers.length}`;
  const national = batch === 1_000_000 && data.numbers.length >= 100_000_000;
  return [
    versus(`${label} (comma list in, digits out)`, perSecond(scrubMs!), 'numbers/s', 'per-number dnc.isBlocked(digits) loop', perSecond(loopMs!)),
    versus(`${label}, parsed numbers (dnc.blockingCodes)`, perSecond(codesMs!), 'numbers/s', 'per-number RoaringBitmap32.has() loop (parsed numbers)', perSecond(hasMs!),
      national ? { target: '>= 20M numbers/s and >= 5x has() loop', met: perSecond(codesMs!) >= 20e6 && hasMs! / codesMs! >= 5 } : {}),
  ];
}

/** Native set operations: sort, one query bitmap per area-code run, intersect with the list. */
function scrubBySetOperations(layout: AreaRoaring, batch: Float64Array): number {
  const sorted = batch.slice().sort();
  const rests = new Uint32Array(sorted.length);
  const out = new Float64Array(sorted.length);
  let blocked = 0;
  let start = 0;
  while (start < sorted.length) {
    const area = Math.floor(sorted[start]! / AREA_FACTOR);
    let end = start;
    while (end < sorted.length && Math.floor(sorted[end]! / AREA_FACTOR) === area) {
      rests[end] = sorted[end]! - area * AREA_FACTOR;
      end++;
    }
    const bitmap = layout.byArea[area];
    if (bitmap !== undefined) {
      const hits = RoaringBitmap32.and(new RoaringBitmap32(rests.subarray(start, end)), bitmap).toUint32Array();
      for (const rest of hits) out[blocked++] = area * AREA_FACTOR + rest;
    }
    start = end;
  }
  return blocked;
}

function sweepCase(name: string, batches: Float64Array[], scrub: (batch: Float64Array) => number): MicroCase {
  let next = 0;
  return {
    name,
    opsPerCall: batches[0]!.length,
    fn: () => {
      const result = scrub(batches[next]!);
      next = (next + 1) % batches.length;
      return result;
    },
  };
}

/** The engine's scrub of parsed numbers (chunked from BATCH_CHUNKED_NUMBERS_MIN numbers). */
function scrubByEngine(dnc: Dnc, batch: Float64Array, codes: Uint8Array): number {
  dnc.blockingCodes(batch, batch.length, codes);
  let blocked = 0;
  for (let i = 0; i < batch.length; i++) if (codes[i] !== 0) blocked++;
  return blocked;
}

/** One of the engine's two strategies, forced: chunked (threshold 0) or one probe per number. */
function scrubByStrategy(list: NumberSet, batch: Float64Array, marks: Uint8Array, chunked: boolean): number {
  markLists([list], batch, batch.length, marks, chunked ? 0 : Number.POSITIVE_INFINITY);
  let blocked = 0;
  for (let i = 0; i < batch.length; i++) if (marks[i] !== 0) blocked++;
  return blocked;
}

function sweep(dnc: Dnc, layout: AreaRoaring, data: NumberData, context: BenchContext): Figure[] {
  const figures: Figure[] = [];
  const list = new NumberSet();
  list.addSorted(data.numbers);
  let crossover: number | undefined;
  for (const size of context.smoke ? SMOKE_SWEEP_BATCHES : SWEEP_BATCHES) {
    const poolBatches = context.smoke ? 2 : Math.max(4, Math.min(64, Math.floor(SWEEP_POOL_NUMBERS / size)));
    const sets = Array.from({ length: poolBatches }, (_, i) => probeSet(data, size, HIT_FRACTION, SEED * 1000 + size + i));
    const codes = new Uint8Array(size);
    for (const set of sets) {
      check(scrubBySetOperations(layout, set.numbers) === set.expectedDistinctHits, `set-operations strategy at ${size}`);
      check(scrubByEngine(dnc, set.numbers, codes) === set.expectedHits, `engine scrub at ${size}`);
      check(scrubByStrategy(list, set.numbers, codes, true) === set.expectedHits, `chunked probe at ${size}`);
      check(scrubByStrategy(list, set.numbers, codes, false) === set.expectedHits, `per-number probe at ${size}`);
    }
    const batches = sets.map((set) => set.numbers);
    const [setOps, engine, chunked, each] = runMicro(
      [
        sweepCase('set operations', batches, (b) => scrubBySetOperations(layout, b)),
        sweepCase('idnc blockingCodes', batches, (b) => scrubByEngine(dnc, b, codes)),
        sweepCase('idnc chunked probe', batches, (b) => scrubByStrategy(list, b, codes, true)),
        sweepCase('idnc per-number probe', batches, (b) => scrubByStrategy(list, b, codes, false)),
      ],
      { smoke: context.smoke, maxTimeSeconds: 1 },
    );
    figures.push(versus(`sweep ${size}: idnc scrub (blockingCodes)`, engine!.opsPerSecond, 'numbers/s', 'native set operations', setOps!.opsPerSecond,
      { target: 'the engine\'s scrub beats set operations at every size', met: engine!.opsPerSecond >= setOps!.opsPerSecond }));
    const wins = chunked!.opsPerSecond >= each!.opsPerSecond;
    if (wins && crossover === undefined) crossover = size;
    if (!wins) crossover = undefined;
    figures.push(versus(`sweep ${size}: chunked probe`, chunked!.opsPerSecond, 'numbers/s', 'one frozen probe per number', each!.opsPerSecond));
  }
  const threshold = constants.BATCH_CHUNKED_NUMBERS_MIN;
  const largest = (context.smoke ? SMOKE_SWEEP_BATCHES : SWEEP_BATCHES).at(-1);
  figures.push(plain(`crossover: smallest batch from which chunking wins (0 = never up to ${largest})`, crossover ?? 0, 'numbers',
    { target: `supports BATCH_CHUNKED_NUMBERS_MIN = ${threshold} (crossover within 2x of it)`,
      met: crossover !== undefined && crossover <= threshold * 2 && crossover >= threshold / 2 }));
  return figures;
}

const scenario: Scenario = async (context) => {
  requireGcUnlessSmoke(context.smoke);
  const sets = context.smoke ? SMOKE_SETS : context.scale === '100M' ? NATIONAL_SETS : STANDARD_SETS;
  const batches = context.smoke ? SMOKE_BATCHES : BATCHES;
  const figures: Figure[] = [];
  for (const [index, size] of sets.entries()) {
    const data = generateNumbers('registry', size, SEED);
    const dnc = await loadDnc(data.numbers);
    const layout = new AreaRoaring(data.numbers);
    context.log(`scrub: against ${size} registry numbers`);
    for (const batch of batches) figures.push(...(await measureBatch(dnc, layout, data, batch, context.smoke)));
    if (index === sets.length - 1) figures.push(...sweep(dnc, layout, data, context));
    await dnc.close();
  }
  return {
    scenario: 'scrub',
    sizes: { setNumbers: sets.join(' / '), batches: batches.join(' / '), hitFraction: HIT_FRACTION },
    figures,
  };
};

export default scenario;
