// Crash test: the built server under concurrent add/remove load over HTTP with
// --fsync always, killed with SIGKILL at random moments, 20 cycles. Every acknowledged add is
// present after the restart, every acknowledged remove absent, nothing appears that was never
// requested, and every restart succeeds. `npm run soak` runs the same experiment for hundreds.
// The second test is a supervisor's immediate restart: SIGKILL to the process group and a new
// server started in the same instant, which must find the writer lock free every time.

import { afterAll, expect, it } from 'vitest';
import { runCrashCycles } from './crash-cycles.js';
import { killAll } from './server-process.js';

afterAll(killAll);

it('loses no acknowledged change across 20 kill -9 cycles', async () => {
  const seed = Date.now();
  const figures = await runCrashCycles({ cycles: 20, concurrency: 16, loadMsMin: 100, loadMsMax: 600, seed });
  expect(figures.failures, `seed ${seed}`).toEqual([]);
  expect(figures.cycles).toBe(20);
  expect(figures.acknowledgedAdds + figures.acknowledgedRemoves).toBeGreaterThanOrEqual(20);
  expect(figures.acknowledgedRemoves).toBeGreaterThan(0);
  expect(figures.recoveryMs.length).toBe(21);
}, 120_000);

it('starts every time when restarted the instant its process group is killed, 100 times under 8 writers', async () => {
  const seed = Date.now();
  const figures = await runCrashCycles({ cycles: 100, concurrency: 8, loadMsMin: 20, loadMsMax: 200, seed, restartAtOnce: true });
  expect(figures.failures, `seed ${seed}`).toEqual([]);
  expect(figures.cycles).toBe(100);
  expect(figures.recoveryMs.length).toBe(101);
  expect(figures.acknowledgedAdds + figures.acknowledgedRemoves).toBeGreaterThanOrEqual(100);
}, 300_000);
