// The contract every bench scenario file (`bench/<name>.bench.ts`) follows, so that one runner can
// execute them all, print them beside their baselines and write the results files.

export interface BenchContext {
  /** BENCH_SMOKE=1: tiny sizes, just enough to prove the scenario runs and checks its result. */
  readonly smoke: boolean;
  /** Size class requested with `npm run bench -- --scale 100M` (default: the standard suite). */
  readonly scale: 'standard' | '100M';
  /** Progress lines (stderr); never phone numbers. */
  log(line: string): void;
}

/** One measured figure, always beside the baseline measured in the same run when there is one. */
export interface Figure {
  readonly name: string;
  readonly value: number;
  /** e.g. 'ns/op', 'ops/s', 'numbers/s', 'bits/number', 'ms', 'MB/s'. */
  readonly unit: string;
  readonly baseline?: { readonly name: string; readonly value: number };
  /** value / baseline.value (or the inverse for lower-is-better units, see `higherIsBetter`). */
  readonly ratio?: number;
  readonly higherIsBetter?: boolean;
  /** The target, in words (e.g. '>= 0.85 of bare route'), and whether it was met. */
  readonly target?: string;
  readonly met?: boolean;
}

export interface ScenarioResult {
  readonly scenario: string;
  /** Sizes the scenario ran at, e.g. { numbers: 10_000_000 }. */
  readonly sizes: Record<string, number | string>;
  readonly figures: Figure[];
}

/** Each bench file's default export. It must verify its own results and throw on a wrong answer. */
export type Scenario = (context: BenchContext) => Promise<ScenarioResult>;
