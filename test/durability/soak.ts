// `npm run soak`: the crash experiment of crash.test.ts for many cycles (default 200, or
// SOAK_CYCLES), printing the figures. Runs the built CLI, so `npm run soak` builds first.

import { runCrashCycles } from './crash-cycles.js';

const cycles = Number(process.env['SOAK_CYCLES'] ?? 200);
const seed = Number(process.env['SOAK_SEED'] ?? Date.now());
const started = Date.now();
const figures = await runCrashCycles({
  cycles,
  concurrency: 32,
  loadMsMin: 50,
  loadMsMax: 1500,
  seed,
  log: (line) => process.stderr.write(`${line}\n`),
});
const sorted = figures.recoveryMs.slice().sort((a, b) => a - b);
const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
process.stdout.write(
  [
    `soak: ${figures.cycles} kill -9 cycles in ${((Date.now() - started) / 1000).toFixed(1)} s (seed ${seed})`,
    `acknowledged adds ${figures.acknowledgedAdds}, removes ${figures.acknowledgedRemoves}; in-flight changes resolved after restart ${figures.unknownResolved}`,
    `torn tails cut at restart: ${figures.tornTailsCut}`,
    `recovery ms: median ${at(0.5).toFixed(1)}, p99 ${at(0.99).toFixed(1)}, max ${(sorted.at(-1) ?? 0).toFixed(1)}; records replayed max ${Math.max(0, ...figures.replayedRecords)}`,
    figures.failures.length === 0 ? 'result: every acknowledged change survived, nothing unrequested appeared' : `FAILURES:\n${figures.failures.join('\n')}`,
  ].join('\n') + '\n',
);
process.exitCode = figures.failures.length === 0 ? 0 : 1;
