// The fault simulator in `npm test`: a fixed set of seeds, each its own test naming its seed (replay
// a failure with `npm run soak -- --seed S`), plus the simulator's own guarantees: a seed replays
// exactly, and the invariant checks catch a disk that loses acknowledged data. `npm run soak --
// --seeds N` runs many more seeds.

import { describe, expect, it } from 'vitest';
import { formatFailure, runSeed } from './run-seed.js';

/** 60 seeds of SEED_STEPS_DEFAULT steps: about 15 s here on a quiet machine. */
const SEEDS = [
  3, 6, 7, 13, 15, 17, 18, 21, 23, 25, 26, 27, 28, 33, 34, 35, 36, 37, 38, 39, 41, 47, 49, 50, 51, 53, 55, 57, 63, 65,
  67, 69, 71, 73, 74, 76, 78, 79, 82, 83, 85, 86, 87, 89, 90, 91, 92, 99, 100, 102, 104, 107, 110, 111, 113, 115, 116, 117, 118, 119,
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
