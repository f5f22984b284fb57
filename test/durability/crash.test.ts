// Crash test: the built server under concurrent add/remove load over HTTP with
// --fsync always, killed with SIGKILL at random moments, 12 cycles. Every acknowledged add is
// present after the restart, every acknowledged remove absent, nothing appears that was never
// requested, and every restart succeeds. The second test is a supervisor's immediate restart:
// SIGKILL to the process group and a new server started in the same instant, which must find the
// writer lock free every time, 40 times. CI runs these few cycles (a node start costs most of each);
// `npm run soak` runs each experiment for hundreds (`-- --restart-at-once` for the second).

import { afterAll, expect, it } from 'vitest';
import { runCrashCycles } from './crash-cycles.js';
import { killAll } from './server-process.js';

afterAll(killAll);

it('loses no acknowledged change across 12 kill -9 cycles', async () => {
  const seed = Date.now();
  const figures = await runCrashCycles({ cycles: 12, concurrency: 16, loadMsMin: 100, loadMsMax: 600, seed });
  expect(figures.failures, `seed ${seed}`).toEqual([]);
  expect(figures.cycles).toBe(12);
  expect(figures.acknowledgedAdds + figures.acknowledgedRemoves).toBeGreaterThanOrEqual(12);
  expect(figures.acknowledgedRemoves).toBeGreaterThan(0);
  expect(figures.recoveryMs.length).toBe(13);
}, 120_000);

it('starts every time when restarted the instant its process group is killed, 40 times under 8 writers', async () => {
  const seed = Date.now();
  const figures = await runCrashCycles({ cycles: 40, concurrency: 8, loadMsMin: 20, loadMsMax: 200, seed, restartAtOnce: true });
  expect(figures.failures, `seed ${seed}`).toEqual([]);
  expect(figures.cycles).toBe(40);
  expect(figures.recoveryMs.length).toBe(41);
  expect(figures.acknowledgedAdds + figures.acknowledgedRemoves).toBeGreaterThanOrEqual(40);
}, 300_000);
