// What the follower tests wait on: a check of the follower that starts now, then its verdict.

import { expect } from 'vitest';
import type { DncFollower } from '../../src/index.js';

/** Runs a check of `f` that starts now and expects it to have found `f` current: it has read past this point. */
export async function checkedCurrent(f: DncFollower): Promise<void> {
  const before = Date.now();
  await f.checkNow();
  expect(Date.now() - f.lagMs).toBeGreaterThanOrEqual(before);
}
