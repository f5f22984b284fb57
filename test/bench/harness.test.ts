// The harness's paired ratio: each round's pair is compared within the round, so a slow spell of
// the machine that falls on one round moves both sides of that round's ratio, not one side of a
// pooled comparison.

import { describe, expect, it } from 'vitest';
import { pairedRatio, runMicro, type MicroResult } from '../../bench/harness.js';

function result(name: string, roundNsPerOp: number[]): MicroResult {
  const sorted = roundNsPerOp.slice().sort((a, b) => a - b);
  const nsPerOp = sorted[sorted.length >> 1]!;
  return { name, nsPerOp, opsPerSecond: 1e9 / nsPerOp, samples: roundNsPerOp.length, rmePercent: 0, roundNsPerOp };
}

describe('pairedRatio', () => {
  it('takes the median of the ratios within each round, > 1 when the value is faster', () => {
    // The machine is twice as slow in the last two rounds; within every round the baseline takes
    // 4x as long, apart from one outlier round.
    const value = result('value', [10, 10, 12, 20, 20]);
    const baseline = result('baseline', [40, 40, 12, 80, 80]);
    expect(pairedRatio(value, baseline)).toBe(4);
    expect(pairedRatio(baseline, value)).toBe(0.25);
  });

  it('differs from the ratio of pooled medians when the spells fall unevenly', () => {
    // The value's middle round met a slow spell and the baseline's did not: pooled medians say 2x,
    // every round says 4x or more.
    const value = result('value', [10, 20, 20]);
    const baseline = result('baseline', [40, 40, 100]);
    expect(baseline.nsPerOp / value.nsPerOp).toBe(2);
    expect(pairedRatio(value, baseline)).toBe(4);
  });

  it('refuses results from runs of different rounds', () => {
    expect(() => pairedRatio(result('value', [1, 2, 3]), result('baseline', [1, 2]))).toThrow(/different rounds/);
  });
});

describe('runMicro', () => {
  // Each case runs for maxTimeSeconds per round in benchmark.js: seconds of wall time, more on a loaded machine.
  it('reports one median per round for every case', { timeout: 30_000 }, () => {
    let calls = 0;
    const [only] = runMicro([{ name: 'count', opsPerCall: 1, fn: () => ++calls }], { smoke: false, rounds: 2, maxTimeSeconds: 0.1 });
    expect(only!.roundNsPerOp).toHaveLength(2);
    for (const ns of only!.roundNsPerOp) expect(ns).toBeGreaterThan(0);
    expect(calls).toBeGreaterThan(0);
  });

  it('flips the order of the cases every round, so neighbours run back to back and none always first', { timeout: 30_000 }, () => {
    const runs: string[] = [];
    const tracked = (name: string) => ({
      name,
      opsPerCall: 1,
      fn: () => {
        if (runs[runs.length - 1] !== name) runs.push(name);
        return 1;
      },
    });
    runMicro([tracked('a'), tracked('b'), tracked('c')], { smoke: false, rounds: 3, maxTimeSeconds: 0.15 });
    expect(runs).toEqual(['a', 'b', 'c', 'b', 'a', 'b', 'c']);
  });
});
