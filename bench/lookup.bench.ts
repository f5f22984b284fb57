// Single-number lookup: `dnc.isBlocked(digits)` on registry-shaped sets (1M and 10M; 100M with
// --scale 100M) beside, in the same process and on the same probes, a JS Set of the same numbers,
// a per-call RoaringBitmap32.has() on the same area-code layout, and a flat bit array (one 10^7-bit
// block per populated area code: one memory access, the floor). Memory in bits per number for idnc,
// the Set and Roaring alone, on registry data and on the uniform-random (adversarial) set.

import type { Dnc } from '../src/index.js';
import { parsePhone } from '../src/index.js';
import { generateNumbers, probeSet, sortedContains, toDigits, type NumberData } from './data/registry.js';
import { check, plain, versus } from './figures.js';
import { bitsPerNumber, memoryDelta, memorySnapshot, pairedRatio, probeBatchCase, requireGcUnlessSmoke, runMicro, timeMs, timeMsAsync, trackedBytes } from './harness.js';
import { AreaRoaring, FlatBits, loadDnc } from './layouts.js';
import type { BenchContext, Figure, Scenario } from './scenario.js';

const STANDARD_SIZES = [1_000_000, 10_000_000];
const NATIONAL_SIZES = [100_000_000];
const SMOKE_SIZES = [2_000];
/** V8's Set cannot grow past 2^24 (about 16.7M) entries; the baseline is capped below that. */
const SET_ENTRIES_MAX = 16_000_000;
const PROBES = 1 << 16;
const SMOKE_PROBES = 1 << 12;
const PROBE_HIT_FRACTION = 0.5;
/**
 * The cases take turns in this many short rounds (0.3 s each per case); the targets judge the
 * median of the ratios within each round (harness.ts pairedRatio).
 */
const ROUNDS = 9;
const SECONDS_PER_ROUND = 0.3;
const SEED = 7;

function countHits(probes: Float64Array, has: (number: number) => boolean): number {
  let hits = 0;
  for (const number of probes) if (has(number)) hits++;
  return hits;
}

interface Structures {
  readonly dnc: Dnc;
  readonly set: Set<number>;
  readonly setNumbers: number;
  readonly roaring: AreaRoaring;
  readonly flat: FlatBits;
  readonly figures: Figure[];
}

async function buildStructures(data: NumberData, context: BenchContext): Promise<Structures> {
  const n = data.numbers.length;
  let dnc: Dnc | undefined;
  let before = memorySnapshot();
  const loadMs = await timeMsAsync(async () => {
    dnc = await loadDnc(data.numbers);
  });
  const idncMemory = memoryDelta(before, memorySnapshot());

  const setNumbers = Math.min(n, SET_ENTRIES_MAX);
  before = memorySnapshot();
  const set = new Set<number>();
  const setMs = timeMs(() => {
    for (let i = 0; i < setNumbers; i++) set.add(data.numbers[i]!);
  });
  const setMemory = memoryDelta(before, memorySnapshot());

  before = memorySnapshot();
  let roaring: AreaRoaring | undefined;
  const roaringMs = timeMs(() => (roaring = new AreaRoaring(data.numbers)));
  const roaringMemory = memoryDelta(before, memorySnapshot());
  const flat = new FlatBits(data.numbers);
  context.log(`built: idnc ${loadMs.toFixed(0)} ms, Set ${setMs.toFixed(0)} ms, Roaring ${roaringMs.toFixed(0)} ms`);

  const idncBytes = trackedBytes(idncMemory);
  const setLabel = setNumbers < n ? `JS Set (capped at ${setNumbers} numbers)` : 'JS Set';
  const figures: Figure[] = [
    versus(`build: idnc add() in comma batches, ${n} numbers`, (n / loadMs) * 1000, 'numbers/s', `${setLabel} add()`, (setNumbers / setMs) * 1000),
    versus(`memory: idnc (heap + typed arrays + Roaring), ${n} numbers`, bitsPerNumber(idncBytes, n), 'bits/number',
      `${setLabel}`, bitsPerNumber(trackedBytes(setMemory), setNumbers),
      { target: '<= 16 bits/number at 100M', met: bitsPerNumber(idncBytes, n) <= 16 }),
    versus(`memory: idnc (heap + typed arrays + Roaring), ${n} numbers`, bitsPerNumber(idncBytes, n), 'bits/number', 'Roaring alone (area layout)',
      bitsPerNumber(trackedBytes(roaringMemory), n)),
    plain(`memory: flat bit array (exact bytes), ${n} numbers`, bitsPerNumber(flat.bytes, n), 'bits/number'),
  ];
  return { dnc: dnc!, set, setNumbers, roaring: roaring!, flat, figures };
}

async function measureSize(size: number, context: BenchContext): Promise<Figure[]> {
  const data = generateNumbers('registry', size, SEED);
  const probeCount = context.smoke ? SMOKE_PROBES : PROBES;
  const probes = probeSet(data, probeCount, PROBE_HIT_FRACTION, SEED + size);
  const digits = toDigits(probes.numbers);
  const numbers = probes.numbers;
  context.log(`lookup: ${size} registry numbers in ${data.areaCodes} area codes, ${probeCount} probes`);
  const built = await buildStructures(data, context);
  const { dnc, set, roaring, flat } = built;

  const setSubset = data.numbers.subarray(0, built.setNumbers);
  const setExpected = countHits(numbers, (number) => sortedContains(setSubset, number));
  check(digits.filter((phone) => dnc.isBlocked(phone)).length === probes.expectedHits, 'idnc isBlocked hit count');
  check(countHits(numbers, (number) => set.has(number)) === setExpected, 'Set hit count');
  check(countHits(numbers, (number) => roaring.has(number)) === probes.expectedHits, 'Roaring has() hit count');
  check(countHits(numbers, (number) => flat.has(number)) === probes.expectedHits, 'flat bit array hit count');

  check(countHits(numbers, (number) => dnc.isBlocked(number)) === probes.expectedHits, 'idnc isBlocked(number) hit count');

  // Each pair a target compares runs back to back in every round (runMicro flips the order each
  // round): has() and isBlocked(number), isBlocked(number) and the flat floor, the floor given
  // digits and isBlocked(digits).
  const [setResult, roaringResult, idncNumber, flatResult, flatDigits, idnc] = runMicro(
    [
      probeBatchCase('JS Set has(number)', probeCount, (start, end) => {
        let hits = 0;
        for (let i = start; i < end; i++) if (set.has(numbers[i]!)) hits++;
        return hits;
      }),
      probeBatchCase('RoaringBitmap32.has() per call', probeCount, (start, end) => {
        let hits = 0;
        for (let i = start; i < end; i++) if (roaring.has(numbers[i]!)) hits++;
        return hits;
      }),
      probeBatchCase('idnc isBlocked(number)', probeCount, (start, end) => {
        let hits = 0;
        for (let i = start; i < end; i++) if (dnc.isBlocked(numbers[i]!)) hits++;
        return hits;
      }),
      probeBatchCase('flat bit array (number)', probeCount, (start, end) => {
        let hits = 0;
        for (let i = start; i < end; i++) if (flat.has(numbers[i]!)) hits++;
        return hits;
      }),
      probeBatchCase('flat bit array (digits via parsePhone)', probeCount, (start, end) => {
        let hits = 0;
        for (let i = start; i < end; i++) if (flat.has(parsePhone(digits[i]!))) hits++;
        return hits;
      }),
      probeBatchCase('idnc isBlocked(digits)', probeCount, (start, end) => {
        let hits = 0;
        for (let i = start; i < end; i++) if (dnc.isBlocked(digits[i]!)) hits++;
        return hits;
      }),
    ],
    { smoke: context.smoke, rounds: ROUNDS, maxTimeSeconds: ROUNDS * SECONDS_PER_ROUND },
  );
  const setName = built.setNumbers < size ? `${setResult!.name} (capped at ${built.setNumbers})` : setResult!.name;
  const label = `${size} numbers`;
  const idncNs = idnc!.nsPerOp;
  const numberNs = idncNumber!.nsPerOp;
  const rounds = idncNumber!.roundNsPerOp.length;
  const withinRounds = `within each of ${rounds} rounds (median)`;
  const versusHas = pairedRatio(idncNumber!, roaringResult!);
  const versusFloor = pairedRatio(idncNumber!, flatResult!);
  const digitsVersusFloor = pairedRatio(idnc!, flatDigits!);
  return [
    plain(`isBlocked(number), ${label}: ${roaringResult!.name} / isBlocked, ${withinRounds}`, versusHas, 'x',
      { target: '>= 4 at 100M', met: versusHas >= 4 }),
    plain(`isBlocked(number), ${label}: ${flatResult!.name} / isBlocked, ${withinRounds}`, versusFloor, 'x',
      { target: '>= 0.33 at 100M: within 3x of the floor', met: versusFloor >= 1 / 3 }),
    plain(`isBlocked(digits), ${label}: ${flatDigits!.name} / isBlocked, ${withinRounds}`, digitsVersusFloor, 'x',
      { target: '>= 0.33: within 3x of the same floor given digits', met: digitsVersusFloor >= 1 / 3 }),
    versus(`isBlocked(number), ${label} (median over all rounds)`, numberNs, 'ns/op', roaringResult!.name, roaringResult!.nsPerOp),
    versus(`isBlocked(number), ${label} (median over all rounds)`, numberNs, 'ns/op', flatResult!.name, flatResult!.nsPerOp),
    versus(`isBlocked(number), ${label}`, numberNs, 'ns/op', setName, setResult!.nsPerOp),
    versus(`isBlocked(digits), ${label} (median over all rounds)`, idncNs, 'ns/op', flatDigits!.name, flatDigits!.nsPerOp),
    versus(`isBlocked(digits), ${label}`, idncNs, 'ns/op', `${roaringResult!.name} (parsed numbers)`, roaringResult!.nsPerOp),
    ...built.figures,
  ];
}

async function uniformMemory(size: number, context: BenchContext): Promise<Figure[]> {
  const data = generateNumbers('uniform', size, SEED);
  context.log(`lookup: ${size} uniform-random numbers (memory only)`);
  let before = memorySnapshot();
  const dnc = await loadDnc(data.numbers);
  const idnc = memoryDelta(before, memorySnapshot());
  before = memorySnapshot();
  const roaring = new AreaRoaring(data.numbers);
  const alone = memoryDelta(before, memorySnapshot());
  check(roaring.has(data.numbers[0]!) && dnc.count() === size, 'uniform set loaded');
  const idncBits = bitsPerNumber(trackedBytes(idnc), size);
  const aloneBits = bitsPerNumber(trackedBytes(alone), size);
  return [
    versus(`memory, uniform random ${size}: idnc`, idncBits, 'bits/number', 'Roaring alone (area layout)', aloneBits,
      { target: '<= 1.25x Roaring alone at 100M', met: idncBits <= 1.25 * aloneBits }),
  ];
}

const scenario: Scenario = async (context) => {
  requireGcUnlessSmoke(context.smoke);
  const sizes = context.smoke ? SMOKE_SIZES : context.scale === '100M' ? NATIONAL_SIZES : STANDARD_SIZES;
  const figures: Figure[] = [];
  for (const size of sizes) figures.push(...(await measureSize(size, context)));
  figures.push(...(await uniformMemory(sizes[sizes.length - 1]!, context)));
  return {
    scenario: 'lookup',
    sizes: { registryNumbers: sizes.join(' / '), probes: context.smoke ? SMOKE_PROBES : PROBES, uniformNumbers: sizes[sizes.length - 1]! },
    figures,
  };
};

export default scenario;
