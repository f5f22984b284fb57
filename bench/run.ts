// The bench runner: `npm run bench [-- --scale 100M] [names...]`. Runs every bench/*.bench.ts in its
// own child process (so one scenario's garbage and native allocations never inflate the next one's
// memory figures), then writes bench/results/latest.json and latest.md and, for a full non-smoke run,
// the committed report (bench/RESULTS.md, or bench/RESULTS-100M.md at national scale), always
// regenerated from the run itself.

import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { BENCH_MODULE_DIR, BENCH_SOURCE_DIR, MODULE_EXTENSION } from './paths.js';
import { machineInfo, renderMarkdown, type RunReport, type ScenarioOutcome } from './report.js';
import type { BenchContext, Scenario, ScenarioResult } from './scenario.js';

/** Scenario modules: bench/*.bench.ts, or their compiled .js when compiled (bench/paths.ts). */
const SCENARIO_SUFFIX = `.bench${MODULE_EXTENSION}`;
/** Children at national scale hold 100M numbers several times over; the default heap is too small. */
const NATIONAL_HEAP_MB = 12_288;

interface Arguments {
  readonly scale: BenchContext['scale'];
  readonly names: string[];
  /** Where latest.json goes (default bench/results); tests point it at a temp dir. */
  readonly outDir: string;
  readonly child?: { readonly file: string; readonly resultPath: string };
}

function parseArguments(argv: readonly string[]): Arguments {
  let scale: BenchContext['scale'] = 'standard';
  const names: string[] = [];
  let childFile: string | undefined;
  let resultPath: string | undefined;
  let outDir = path.join(BENCH_SOURCE_DIR, 'results');
  for (let i = 0; i < argv.length; i++) {
    const argument = argv[i]!;
    if (argument === '--scale') {
      const value = argv[++i];
      if (value !== '100M' && value !== 'standard') throw new Error(`--scale expects 100M or standard, got ${value}`);
      scale = value;
    } else if (argument === '--child') childFile = argv[++i];
    else if (argument === '--result') resultPath = argv[++i];
    else if (argument === '--out') outDir = path.resolve(argv[++i] ?? '');
    else if (argument.startsWith('--')) throw new Error(`unknown option ${argument}`);
    else names.push(argument);
  }
  const child = childFile !== undefined && resultPath !== undefined ? { file: childFile, resultPath } : undefined;
  return child === undefined ? { scale, names, outDir } : { scale, names, outDir, child };
}

async function scenarioFiles(names: readonly string[] = []): Promise<string[]> {
  const files = (await readdir(BENCH_MODULE_DIR)).filter((file) => file.endsWith(SCENARIO_SUFFIX)).sort();
  const wanted = files.filter((file) => names.length === 0 || names.includes(file.slice(0, -SCENARIO_SUFFIX.length)));
  const unknown = names.filter((name) => !files.includes(name + SCENARIO_SUFFIX));
  if (unknown.length > 0) throw new Error(`no such scenario: ${unknown.join(', ')} (have: ${files.join(', ')})`);
  return wanted;
}

function context(scale: BenchContext['scale']): BenchContext {
  return { smoke: process.env.BENCH_SMOKE === '1', scale, log: (line) => process.stderr.write(`  ${line}\n`) };
}

async function runChild(file: string, resultPath: string, scale: BenchContext['scale']): Promise<void> {
  const module = (await import(pathToFileURL(path.join(BENCH_MODULE_DIR, file)).href)) as { default: Scenario };
  const result = await module.default(context(scale));
  await writeFile(resultPath, JSON.stringify(result));
}

function spawnScenario(file: string, resultPath: string, scale: BenchContext['scale']): Promise<number> {
  const heap = scale === '100M' ? [`--max-old-space-size=${NATIONAL_HEAP_MB}`] : [];
  const args = [...process.execArgv, ...heap, fileURLToPath(import.meta.url), '--child', file, '--result', resultPath, '--scale', scale];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve(code ?? (signal === null ? 1 : 128)));
  });
}

/** Every figure must be a finite number: NaN or Infinity means the scenario measured nothing. */
function invalidFigures(result: ScenarioResult): string[] {
  return result.figures
    .filter((figure) => !Number.isFinite(figure.value) || (figure.baseline !== undefined && !Number.isFinite(figure.baseline.value)))
    .map((figure) => figure.name);
}

async function runScenario(file: string, scale: BenchContext['scale'], scratch: string): Promise<ScenarioOutcome> {
  const name = file.slice(0, -SCENARIO_SUFFIX.length);
  const resultPath = path.join(scratch, `${name}.json`);
  process.stderr.write(`bench ${name} (${scale})\n`);
  const started = Date.now();
  const exitCode = await spawnScenario(file, resultPath, scale);
  const seconds = (Date.now() - started) / 1000;
  if (exitCode !== 0) return { name, seconds, error: `exited with code ${exitCode}` };
  const result = JSON.parse(await readFile(resultPath, 'utf8')) as ScenarioResult;
  const invalid = invalidFigures(result);
  if (invalid.length > 0) return { name, seconds, result, error: `non-finite figures: ${invalid.join(', ')}` };
  process.stderr.write(`  done in ${seconds.toFixed(1)} s\n`);
  return { name, seconds, result };
}

async function runAll(options: Arguments): Promise<number> {
  const files = await scenarioFiles(options.names);
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'idnc-bench-'));
  const outcomes: ScenarioOutcome[] = [];
  const machine = machineInfo();
  const started = Date.now();
  try {
    for (const file of files) outcomes.push(await runScenario(file, options.scale, scratch));
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  const smoke = process.env.BENCH_SMOKE === '1';
  const report: RunReport = {
    machine,
    scale: options.scale,
    smoke,
    command: ['npm run bench', ...(options.scale === '100M' ? ['-- --scale 100M'] : [])].join(' '),
    totalSeconds: (Date.now() - started) / 1000,
    outcomes,
  };
  await mkdir(options.outDir, { recursive: true });
  await writeFile(path.join(options.outDir, 'latest.json'), `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(path.join(options.outDir, 'latest.md'), renderMarkdown(report));
  if (!smoke && options.names.length === 0) {
    const reportFile = options.scale === '100M' ? 'RESULTS-100M.md' : 'RESULTS.md';
    await writeFile(path.join(BENCH_SOURCE_DIR, reportFile), renderMarkdown(report));
    process.stderr.write(`wrote bench/${reportFile}\n`);
  }
  const failed = outcomes.filter((outcome) => outcome.error !== undefined);
  for (const outcome of failed) process.stderr.write(`FAILED ${outcome.name}: ${outcome.error}\n`);
  process.stderr.write(`bench total ${report.totalSeconds.toFixed(0)} s\n`);
  return failed.length === 0 ? 0 : 1;
}

const options = parseArguments(process.argv.slice(2));
if (options.child !== undefined) await runChild(options.child.file, options.child.resultPath, options.scale);
else process.exitCode = await runAll(options);
