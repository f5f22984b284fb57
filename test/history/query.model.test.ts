// The history against a model of it: seeded random adds, removes, list drops, snapshots (which move
// covered segments to history/) and restarts, with the clock stepped between changes (ties
// included); then `statusAt` at random instants and `history` of every number must equal what the
// model says. Any failing seed replays exactly.

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { openDnc } from '../../src/open.js';
import { makeTempDir, removeDir } from '../persist/helpers.js';
import { driveChanges, expectModelAnswers, quietLogger } from './history-model.js';

let dir: string;
beforeEach(async () => {
  dir = await makeTempDir('idnc-history-model-');
  vi.useFakeTimers({ toFake: ['Date'] });
});
afterEach(async () => {
  vi.useRealTimers();
  await removeDir(dir);
});

async function runSeed(seed: number): Promise<void> {
  const open = () => openDnc({ dataDir: dir, logger: quietLogger, segmentBytesMax: 400, snapshotIntervalMs: 3_600_000 });
  const { dnc, run, next } = await driveChanges(seed, 120, [0, 0, 1, 7, 1000, 60_000], open);
  expect(fs.existsSync(path.join(dir, 'history')), `seed ${seed} archived segments`).toBe(true);
  await expectModelAnswers(dnc, run, next, `seed ${seed}`);
  await dnc.close();
}

describe('history and statusAt against a model', () => {
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    it(`seed ${seed}`, async () => {
      await runSeed(seed);
    }, 60_000);
  }
});
