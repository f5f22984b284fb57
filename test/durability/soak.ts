// `npm run soak`: the durability experiments run long. Three modes:
//   npm run soak -- --seeds N [--first S] [--steps K] [--jobs J]
//       the deterministic fault simulator (test/durability/simulator/) on seeds S .. S+N-1 (S is 1
//       unless given), shared by J child processes (default 2); prints progress, then every failing
//       seed with its failure and the command that replays it. Exits 1 if any seed failed.
//   npm run soak -- --seed S [--steps K] [--calls]
//       replays one seed exactly, printing every step (with --calls, every file-system call too).
//   npm run soak [-- --crash-cycles N] [--restart-at-once]
//       the kill -9 experiment of crash.test.ts on the built server: N cycles (default 200, or
//       SOAK_CYCLES; SOAK_SEED picks its seed), printing the figures. With --restart-at-once, the
//       supervisor's case instead: the process group killed and a new server started in the same
//       instant, under 8 writers (CI runs a few dozen cycles of each). `npm run soak` builds first.

import { fork, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runCrashCycles } from './crash-cycles.js';
import { formatFailure, runSeed, SEED_STEPS_DEFAULT, type SeedFigures } from './simulator/run-seed.js';

/** Seeds one child runs before it is replaced: memory a run leaves behind (a dead writer's promises) stays bounded. */
const SEEDS_PER_CHILD = 200;
const PROGRESS_EVERY_MS = 10_000;

interface SeedResult {
  readonly seed: number;
  readonly failure: string | null;
  readonly cpuMs: number;
  readonly figures: SeedFigures;
}

type ToChild = { readonly seed: number; readonly steps: number } | { readonly stop: true };

async function crashCycles(cycles: number, restartAtOnce: boolean): Promise<number> {
  const seed = Number(process.env['SOAK_SEED'] ?? Date.now());
  const started = Date.now();
  const load = restartAtOnce ? { concurrency: 8, loadMsMin: 20, loadMsMax: 200, restartAtOnce } : { concurrency: 32, loadMsMin: 50, loadMsMax: 1500 };
  const figures = await runCrashCycles({ cycles, ...load, seed, log: (line) => process.stderr.write(`${line}\n`) });
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
  return figures.failures.length === 0 ? 0 : 1;
}

async function replaySeed(seed: number, steps: number, calls: boolean): Promise<number> {
  const report = await runSeed(seed, { steps, calls, trace: (line) => process.stdout.write(`${line}\n`) });
  process.stdout.write(`\n${formatFailure(report)}\n${JSON.stringify(report.figures)}\n(${report.ms.toFixed(0)} ms, trace hash ${report.traceHash})\n`);
  return report.failure === null ? 0 : 1;
}

/** A child: runs the seeds its parent sends, answers each, and leaves after SEEDS_PER_CHILD. */
async function worker(): Promise<void> {
  let done = 0;
  process.on('message', (message: ToChild) => {
    if ('stop' in message) process.exit(0);
    void (async () => {
      const cpu = process.cpuUsage();
      const report = await runSeed(message.seed, { steps: message.steps });
      const used = process.cpuUsage(cpu);
      const result: SeedResult = { seed: message.seed, failure: report.failure === null ? null : formatFailure(report), cpuMs: (used.user + used.system) / 1000, figures: report.figures };
      process.send!(result, () => {
        if (++done >= SEEDS_PER_CHILD) process.exit(0);
      });
    })();
  });
  process.send!({ ready: true });
}

function addFigures(total: Partial<SeedFigures>, figures: SeedFigures): void {
  for (const [key, value] of Object.entries(figures) as [keyof SeedFigures, number][]) total[key] = (total[key] ?? 0) + value;
}

/**
 * Hands the seeds of `queue` to `jobs` children one at a time (so a slow seed never idles the
 * others), replacing each child that leaves; resolves once every seed has been answered.
 */
function runInChildren(queue: number[], steps: number, jobs: number, onResult: (result: SeedResult) => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let children = 0;
    const launch = (): void => {
      if (queue.length === 0) {
        if (children === 0) resolve();
        return;
      }
      children++;
      const child: ChildProcess = fork(fileURLToPath(import.meta.url), ['--worker'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      let current: number | null = null;
      child.on('error', () => undefined); // a send racing the child's planned exit; 'exit' below requeues its seed
      child.on('message', (message: SeedResult | { ready: true }) => {
        if (!('ready' in message)) onResult(message);
        current = queue.shift() ?? null;
        child.send(current === null ? { stop: true } : { seed: current, steps });
      });
      child.on('exit', (code) => {
        children--;
        if (current !== null && code !== 0) {
          reject(new Error(`the child running seed ${current} exited with code ${code}: replay it with npm run soak -- --seed ${current}`));
          return;
        }
        if (current !== null) queue.unshift(current);
        launch();
      });
    };
    for (let j = 0; j < jobs; j++) launch();
  });
}

/** The parent: runs seeds first .. first+count-1 in children, printing progress and every failure. */
async function manySeeds(first: number, count: number, steps: number, jobs: number): Promise<number> {
  const started = Date.now();
  const failures: SeedResult[] = [];
  const totals: Partial<SeedFigures> = {};
  let finished = 0;
  let cpuMs = 0;
  let lastProgress = Date.now();
  process.stdout.write(`simulator: seeds ${first} .. ${first + count - 1}, ${steps} steps each, ${jobs} processes\n`);
  const progress = (): void => {
    const minutes = (Date.now() - started) / 60_000;
    const eta = finished === 0 ? 0 : (minutes / finished) * (count - finished);
    process.stdout.write(`  ${finished}/${count} seeds, ${failures.length} failing, ${minutes.toFixed(1)} min, ${(cpuMs / Math.max(1, finished)).toFixed(0)} ms CPU a seed, about ${eta.toFixed(1)} min left\n`);
  };
  await runInChildren(Array.from({ length: count }, (_, i) => first + i), steps, jobs, (result) => {
    finished++;
    cpuMs += result.cpuMs;
    addFigures(totals, result.figures);
    if (result.failure !== null) {
      failures.push(result);
      process.stdout.write(`${result.failure.split('\n')[0]}\n  replay: npm run soak -- --seed ${result.seed}\n`);
    }
    if (Date.now() - lastProgress > PROGRESS_EVERY_MS) {
      lastProgress = Date.now();
      progress();
    }
  });
  progress();
  process.stdout.write(`figures over all seeds: ${JSON.stringify(totals)}\n`);
  if (failures.length === 0) {
    process.stdout.write(`result: all ${count} seeds passed\n`);
    return 0;
  }
  process.stdout.write(`result: ${failures.length} of ${count} seeds FAILED:\n`);
  for (const failure of failures.sort((a, b) => a.seed - b.seed)) process.stdout.write(`  ${failure.failure!.split('\n')[0]}\n    replay: npm run soak -- --seed ${failure.seed}\n`);
  return 1;
}

const { values } = parseArgs({
  options: {
    seeds: { type: 'string' },
    seed: { type: 'string' },
    first: { type: 'string' },
    steps: { type: 'string' },
    jobs: { type: 'string' },
    calls: { type: 'boolean' },
    'crash-cycles': { type: 'string' },
    'restart-at-once': { type: 'boolean' },
    worker: { type: 'boolean' },
  },
});
const steps = Number(values.steps ?? SEED_STEPS_DEFAULT);
if (values.worker === true) await worker();
else if (values.seed !== undefined) process.exitCode = await replaySeed(Number(values.seed), steps, values.calls === true);
else if (values.seeds !== undefined) {
  const jobs = Number(values.jobs ?? Math.min(2, availableParallelism()));
  process.exitCode = await manySeeds(Number(values.first ?? 1), Number(values.seeds), steps, jobs);
} else process.exitCode = await crashCycles(Number(values['crash-cycles'] ?? process.env['SOAK_CYCLES'] ?? 200), values['restart-at-once'] === true);
