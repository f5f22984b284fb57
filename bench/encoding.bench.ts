// The encoding question on clustered registry data: one RoaringBitmap32 per area code holding
// the 7-digit rest (what src/store/number-set.ts does) versus a hi/lo 2^32 split (one bitmap per
// hi = floor(number / 2^32) holding the low 32 bits). Build time, per-call lookup, serialized
// (portable) bytes and in-memory bytes, each figure with the area-code split as the value and the
// hi/lo split as its baseline, so a ratio below 1 says hi/lo won that figure.

import { generateNumbers, probeSet, type NumberData } from './data/registry.js';
import { check, versus } from './figures.js';
import { bitsPerNumber, memoryDelta, memorySnapshot, probeBatchCase, requireGcUnlessSmoke, runMicro, timeMsInterleaved, type MicroCase } from './harness.js';
import { AreaRoaring, HiLoRoaring, portableBytes } from './layouts.js';
import type { BenchContext, Figure, Scenario } from './scenario.js';

const STANDARD_SIZES = [1_000_000, 10_000_000];
const NATIONAL_SIZES = [100_000_000];
const SMOKE_SIZES = [2_000];
const PROBES = 1 << 16;
const SMOKE_PROBES = 1 << 12;
const BUILD_REPEATS = 3;
const SEED = 11;

interface Layout {
  has(number: number): boolean;
  bitmaps(): { getSerializationSizeInBytes(format: 'portable'): number }[];
}

function lookupCase(name: string, layout: Layout, probes: Float64Array): MicroCase {
  return probeBatchCase(name, probes.length, (start, end) => {
    let hits = 0;
    for (let i = start; i < end; i++) if (layout.has(probes[i]!)) hits++;
    return hits;
  });
}

/** CRoaring bytes held by one build of a layout (both layouts are pure Roaring; the heap delta would only add noise). */
function roaringBytesOf<T>(build: () => T): { layout: T; bytes: number } {
  const before = memorySnapshot();
  const layout = build();
  return { layout, bytes: memoryDelta(before, memorySnapshot()).roaring };
}

async function measureSize(data: NumberData, context: BenchContext): Promise<Figure[]> {
  const n = data.numbers.length;
  const probeCount = context.smoke ? SMOKE_PROBES : PROBES;
  const probes = probeSet(data, probeCount, 0.5, SEED + n);
  const repeats = context.smoke || n > 10_000_000 ? 1 : BUILD_REPEATS;
  const [areaMs, hiLoMs] = timeMsInterleaved([() => new AreaRoaring(data.numbers), () => new HiLoRoaring(data.numbers)], repeats);
  const area = roaringBytesOf(() => new AreaRoaring(data.numbers));
  const hiLo = roaringBytesOf(() => new HiLoRoaring(data.numbers));
  context.log(`encoding: ${n} numbers, area split ${area.layout.bitmaps().length} bitmaps, hi/lo ${hiLo.layout.bitmaps().length}`);

  for (const [name, layout] of [['area-code split', area.layout], ['hi/lo split', hiLo.layout]] as const) {
    let hits = 0;
    for (const number of probes.numbers) if (layout.has(number)) hits++;
    check(hits === probes.expectedHits, `${name} found ${hits} of ${probes.expectedHits} expected hits`);
  }
  const [areaLookup, hiLoLookup] = runMicro(
    [lookupCase('area-code split has()', area.layout, probes.numbers), lookupCase('hi/lo split has()', hiLo.layout, probes.numbers)],
    { smoke: context.smoke, maxTimeSeconds: 1.5 },
  );
  const label = `area-code split, ${n} numbers`;
  return [
    versus(`build: ${label}`, areaMs!, 'ms', 'hi/lo 2^32 split', hiLoMs!),
    versus(`lookup: ${label}`, areaLookup!.nsPerOp, 'ns/op', 'hi/lo 2^32 split', hiLoLookup!.nsPerOp),
    versus(`serialized (portable): ${label}`, bitsPerNumber(portableBytes(area.layout.bitmaps()), n), 'bits/number',
      'hi/lo 2^32 split', bitsPerNumber(portableBytes(hiLo.layout.bitmaps()), n)),
    versus(`in memory (Roaring allocations): ${label}`, bitsPerNumber(area.bytes, n), 'bits/number',
      'hi/lo 2^32 split', bitsPerNumber(hiLo.bytes, n)),
  ];
}

const scenario: Scenario = async (context) => {
  requireGcUnlessSmoke(context.smoke);
  const sizes = context.smoke ? SMOKE_SIZES : context.scale === '100M' ? NATIONAL_SIZES : STANDARD_SIZES;
  const figures: Figure[] = [];
  for (const size of sizes) figures.push(...(await measureSize(generateNumbers('registry', size, SEED), context)));
  return { scenario: 'encoding', sizes: { registryNumbers: sizes.join(' / '), probes: context.smoke ? SMOKE_PROBES : PROBES }, figures };
};

export default scenario;
