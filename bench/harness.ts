// The one place that drives benchmark.js, plus resident-memory helpers. Cases run a batch of
// operations per call (so the ~2 ns of a JS call and benchmark.js's loop are spread over many
// probes, and probes can walk a large random set instead of hitting one cached line), and results
// are reported as the MEDIAN of benchmark.js's samples per operation, which is steadier than the
// mean on a shared 2-core machine.

import Benchmark from 'benchmark';
import { RoaringBitmap32 } from '../src/store/roaring.js';

// benchmark.js would otherwise inline the function's source text into its own loop, which breaks
// closures (and tsx's rewritten imports). Calling the function keeps every case's overhead equal.
Benchmark.support.decompilation = false;

export interface MicroCase {
  readonly name: string;
  /** Operations one call of `fn` performs (e.g. 4096 lookups). */
  readonly opsPerCall: number;
  /** Runs the batch; returns any number derived from the work so it cannot be optimised away. */
  readonly fn: () => number;
}

export interface MicroResult {
  readonly name: string;
  /** Median nanoseconds per operation over benchmark.js's samples. */
  readonly nsPerOp: number;
  readonly opsPerSecond: number;
  readonly samples: number;
  /** The largest of benchmark.js's relative margins of error (of the mean, in percent) over the rounds. */
  readonly rmePercent: number;
  /** Median nanoseconds per operation within each round, in round order (see pairedRatio). */
  readonly roundNsPerOp: readonly number[];
}

export interface MicroOptions {
  readonly smoke: boolean;
  /** Seconds benchmark.js may spend sampling one case in total (standard runs). */
  readonly maxTimeSeconds?: number;
  /**
   * The cases take turns this many times and their samples are pooled, so that load from other
   * processes on a small machine falls on every case alike instead of on whichever ran during it.
   */
  readonly rounds?: number;
}

const STANDARD_MAX_TIME_SECONDS = 1;
const STANDARD_MIN_SAMPLES = 5;
const STANDARD_ROUNDS = 3;
const SMOKE_MAX_TIME_SECONDS = 0.005;

let sink = 0;

/**
 * Runs the cases in interleaved rounds (synchronously); returns each one's median per operation.
 * The order flips every round (A B C, C B A, A B C, ...), so no case always runs first or last in
 * a round, and cases next to each other in `cases` run back to back in every round: put the cases
 * a pairedRatio compares next to each other.
 */
export function runMicro(cases: readonly MicroCase[], options: MicroOptions): MicroResult[] {
  const rounds = options.smoke ? 1 : options.rounds ?? STANDARD_ROUNDS;
  const pooled: { samples: number[]; rme: number[]; roundNsPerOp: number[] }[] = cases.map(() => ({ samples: [], rme: [], roundNsPerOp: [] }));
  const forward = cases.map((_, index) => index);
  const backward = forward.slice().reverse();
  for (let round = 0; round < rounds; round++) {
    for (const index of round % 2 === 0 ? forward : backward) {
      const microCase = cases[index]!;
      const bench = sampleCase(microCase, options, rounds);
      const into = pooled[index]!;
      into.samples.push(...bench.stats.sample);
      into.rme.push(bench.stats.rme);
      into.roundNsPerOp.push(nsPerOpOf(microCase, bench.stats.sample));
    }
  }
  return cases.map((microCase, index) => summarise(microCase, pooled[index]!));
}

/**
 * The median over the rounds of baseline / value, each pair measured in the same round: > 1 when
 * `value` is faster. On this shared machine the same loop's speed moves by 2x from one second to
 * the next (a flat bit array probe measured 26 to 66 ns in one process), so two medians pooled over
 * the whole run can compare a fast spell with a slow one; two cases run back to back (runMicro)
 * meet much the same spell.
 */
export function pairedRatio(value: MicroResult, baseline: MicroResult): number {
  if (value.roundNsPerOp.length !== baseline.roundNsPerOp.length) throw new Error(`${value.name} and ${baseline.name} ran different rounds`);
  const ratios = value.roundNsPerOp.map((ns, round) => baseline.roundNsPerOp[round]! / ns);
  return median(ratios.sort((a, b) => a - b));
}

function sampleCase(microCase: MicroCase, options: MicroOptions, rounds: number): Benchmark {
  const maxTime = (options.maxTimeSeconds ?? STANDARD_MAX_TIME_SECONDS) / rounds;
  const settings: Benchmark.Options = options.smoke
    ? { maxTime: SMOKE_MAX_TIME_SECONDS, minSamples: 1, minTime: 0.001, initCount: 1, delay: 0 }
    : { maxTime, minSamples: STANDARD_MIN_SAMPLES, delay: 0.01 };
  const fn = microCase.fn;
  const bench = new Benchmark(microCase.name, () => {
    sink += fn();
  }, settings);
  bench.run();
  const error = (bench as unknown as { error?: unknown }).error;
  if (error !== undefined) throw error instanceof Error ? error : new Error(String(error));
  return bench;
}

function nsPerOpOf(microCase: MicroCase, samples: readonly number[]): number {
  if (samples.length === 0) throw new Error(`benchmark ${microCase.name} collected no samples`);
  return (median(samples.slice().sort((a, b) => a - b)) * 1e9) / microCase.opsPerCall;
}

function summarise(microCase: MicroCase, pooled: { samples: number[]; rme: number[]; roundNsPerOp: number[] }): MicroResult {
  const nsPerOp = nsPerOpOf(microCase, pooled.samples);
  return {
    name: microCase.name,
    nsPerOp,
    opsPerSecond: 1e9 / nsPerOp,
    samples: pooled.samples.length,
    rmePercent: Math.max(...pooled.rme),
    roundNsPerOp: pooled.roundNsPerOp,
  };
}

export function median(sorted: readonly number[]): number {
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** The value benchmark cases fold their results into; read it so the work stays observable. */
export function sinkValue(): number {
  return sink;
}

/** Median wall time in milliseconds of `repeats` runs of a one-shot operation (build, scrub). */
export function timeMs(fn: () => void, repeats = 1): number {
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const start = process.hrtime.bigint();
    fn();
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return median(times.sort((a, b) => a - b));
}

/** Like timeMs for several operations taking turns, so background load falls on each alike. */
export function timeMsInterleaved(fns: readonly (() => void)[], repeats: number): number[] {
  const times: number[][] = fns.map(() => []);
  for (let i = 0; i < repeats; i++) {
    fns.forEach((fn, index) => times[index]!.push(timeMs(fn)));
  }
  return times.map((list) => median(list.sort((a, b) => a - b)));
}

export async function timeMsAsync(fn: () => Promise<void>): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

// --- memory -------------------------------------------------------------------------------------

/**
 * Bytes in use, read after a forced full GC:
 * - rss: resident set size of the process (everything, including freed-but-kept pages: noisy);
 * - heapUsed: live V8 heap objects (where a JS Set lives);
 * - arrayBuffers: typed-array backing stores (where a flat bit array lives);
 * - roaring: bytes CRoaring has allocated for bitmaps (its own allocation counter).
 */
export interface MemorySnapshot {
  readonly rss: number;
  readonly heapUsed: number;
  readonly arrayBuffers: number;
  readonly roaring: number;
}

export function gcAvailable(): boolean {
  return typeof globalThis.gc === 'function';
}

/** Full collections until the heap stops shrinking; a no-op without --expose-gc (vitest smoke). */
export function forceGc(): void {
  const gc = globalThis.gc;
  if (typeof gc !== 'function') return;
  let previous = Infinity;
  for (let i = 0; i < 5; i++) {
    gc();
    const used = process.memoryUsage().heapUsed;
    if (used >= previous * 0.999) break;
    previous = used;
  }
}

export function memorySnapshot(): MemorySnapshot {
  forceGc();
  const usage = process.memoryUsage();
  return { rss: usage.rss, heapUsed: usage.heapUsed, arrayBuffers: usage.arrayBuffers, roaring: RoaringBitmap32.getRoaringUsedMemory() };
}

export function memoryDelta(before: MemorySnapshot, after: MemorySnapshot): MemorySnapshot {
  return {
    rss: after.rss - before.rss,
    heapUsed: after.heapUsed - before.heapUsed,
    arrayBuffers: after.arrayBuffers - before.arrayBuffers,
    roaring: after.roaring - before.roaring,
  };
}

/**
 * The bytes a structure holds, from a before/after delta: V8 heap + typed-array backing stores +
 * CRoaring allocations. Each lives in exactly one of the three, so the sum counts nothing twice,
 * whatever mix of JS objects, typed arrays and native bitmaps a layout uses. (RSS is not used: it
 * is dominated by load-time garbage V8 keeps mapped, not by the structure.)
 */
export function trackedBytes(delta: MemorySnapshot): number {
  return delta.heapUsed + delta.arrayBuffers + delta.roaring;
}

export function bitsPerNumber(bytes: number, numbers: number): number {
  return (bytes * 8) / numbers;
}

/** Refuses a non-smoke run without --expose-gc: its memory figures would be meaningless. */
export function requireGcUnlessSmoke(smoke: boolean): void {
  if (!smoke && !gcAvailable()) throw new Error('memory figures need node --expose-gc (use npm run bench)');
}

/** Probes handed to one call of a batch case: enough to amortise the call, small enough to rotate. */
export const PROBES_PER_CALL = 1 << 12;

/**
 * A micro case that walks a probe array one batch per call (`probe(start, end)` returns its hits),
 * so successive calls touch different memory rather than re-reading a cache-hot batch.
 */
export function probeBatchCase(name: string, probes: number, probe: (start: number, end: number) => number): MicroCase {
  let cursor = 0;
  return {
    name,
    opsPerCall: PROBES_PER_CALL,
    fn: () => {
      const end = cursor + PROBES_PER_CALL;
      const hits = probe(cursor, end);
      cursor = end === probes ? 0 : end;
      return hits;
    },
  };
}
