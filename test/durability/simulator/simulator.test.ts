// The fault simulator in `npm test`: a fixed set of seeds, each its own test naming its seed (replay
// a failure with `npm run soak -- --seed S`), plus the simulator's own guarantees: a seed replays
// exactly, and the invariant checks catch a disk that loses acknowledged data. `npm run soak --
// --seeds N` runs many more seeds.

import { describe, expect, it } from 'vitest';
import { formatFailure, runSeed } from './run-seed.js';

/** 45 seeds of SEED_STEPS_DEFAULT steps: about 12 s here on a quiet machine. */
const SEEDS = Array.from({ length: 45 }, (_, i) => i + 1);

/** Seeds that failed while the defects they found were open, each with what it found. */
const REGRESSION_SEEDS: readonly (readonly [number, string])[] = [
  [14, 'a restart acknowledged changes on top of a killed writer\'s unflushed segment; a power loss took them'],
  [71, 'a failed rotation\'s unlink was never flushed: the empty segment came back and recovery skipped changes'],
  [120, 'a failed write of the durable-seq mark: the batch was acknowledged but no follower could see it'],
  [165, 'a follower refused to open while a power loss had torn the mark, instead of opening stale'],
  [197, 'a power loss during a rotation left a zeroed header on the last segment and startup refused'],
  [203, 'a flipped last acknowledged record was cut as a torn write although the mark said acknowledged'],
  [252, 'a flipped record past a mark lost with the power: the one loss startup cannot see, and no other'],
  [279, 'a flipped last acknowledged record after kill -9 was cut as a torn write'],
  [353, 'a new follower rightly refuses a flipped snapshot whose log is gone (the simulator called it a failure)'],
  [743, 'a restart\'s failed flush left the tail\'s pages clean but not on disk; a later successful flush did not carry them'],
  [10495, 'a sequence gap after falling back past a flipped snapshot did not name it; the simulator ignored gaps an earlier repair left'],
  [1537, 'a power loss kept a later page of a batch and lost an earlier one: startup rightly refuses, repair keeps every acknowledged change'],
];
/** A wait far beyond a seed's run (well under a second): only a hang reaches it. */
const SEED_TIMEOUT_MS = 60_000;

describe('the fault simulator', () => {
  it.each(SEEDS)('seed %i keeps every durability invariant', async (seed) => {
    const report = await runSeed(seed);
    expect(report.failure, formatFailure(report)).toBeNull();
    expect(report.figures.acknowledged).toBeGreaterThan(100);
  }, SEED_TIMEOUT_MS);

  it.each(REGRESSION_SEEDS)('seed %i (it found: %s) keeps every durability invariant', async (seed) => {
    const report = await runSeed(seed);
    expect(report.failure, formatFailure(report)).toBeNull();
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
    expect(report.failure?.message).toMatch(/was acknowledged.*lost #\d+|refused with DATA_CORRUPT although no bit flip|idnc repair says it cannot repair/);
    expect(formatFailure(report)).toContain(`seed 1 FAILED at step ${report.failure!.step}`);
    expect(formatFailure(report)).toContain('npm run soak -- --seed 1');
  }, SEED_TIMEOUT_MS);
});
