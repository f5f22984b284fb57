// Every bench scenario (bench/*.bench.ts, including ones added later) runs at its smoke size inside
// `npm test`, so the suite never rots: each must finish quickly, pass its own result checks and
// return finite figures. The runner itself is run as a real child process, both from the sources
// (node + tsx) and compiled through `npm run bench`, since vitest would hide module-loading
// problems that either would meet.

import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { BenchContext, Figure, Scenario, ScenarioResult } from '../../bench/scenario.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BENCH_DIR = path.join(ROOT, 'bench');
/** A hang detector, not a speed check: generous because the follower scenario starts servers and children. */
const SCENARIO_TIMEOUT_MS = 90_000;
const files = (await readdir(BENCH_DIR)).filter((file) => file.endsWith('.bench.ts')).sort();

const smokeContext: BenchContext = { smoke: true, scale: 'standard', log: () => {} };

function expectFinite(figure: Figure): void {
  expect(Number.isFinite(figure.value), `${figure.name} value`).toBe(true);
  if (figure.baseline !== undefined) expect(Number.isFinite(figure.baseline.value), `${figure.name} baseline`).toBe(true);
  if (figure.ratio !== undefined) expect(Number.isFinite(figure.ratio), `${figure.name} ratio`).toBe(true);
  expect(figure.unit.length).toBeGreaterThan(0);
}

describe('bench scenarios at smoke size', () => {
  it('finds the scenarios this suite ships with', () => {
    expect(files).toEqual(expect.arrayContaining(['codec.bench.ts', 'encoding.bench.ts', 'lookup.bench.ts', 'scrub.bench.ts']));
  });

  for (const file of files) {
    it(`${file} runs, checks itself and returns finite figures`, async () => {
      const module = (await import(pathToFileURL(path.join(BENCH_DIR, file)).href)) as { default: Scenario };
      expect(typeof module.default).toBe('function');
      const result: ScenarioResult = await module.default(smokeContext);
      expect(result.scenario.length).toBeGreaterThan(0);
      expect(result.figures.length).toBeGreaterThan(0);
      for (const figure of result.figures) expectFinite(figure);
    }, SCENARIO_TIMEOUT_MS);
  }
});

describe('bench runner', () => {
  const exec = promisify(execFile);
  const dirs: string[] = [];
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('runs a scenario in a child process with node --import tsx and writes latest.json', async () => {
    const out = await mkdtemp(path.join(os.tmpdir(), 'idnc-bench-test-'));
    dirs.push(out);
    const runner = path.join(BENCH_DIR, 'run.ts');
    await exec(process.execPath, ['--expose-gc', '--import', 'tsx', runner, '--out', out, 'codec'], {
      cwd: ROOT,
      env: { ...process.env, BENCH_SMOKE: '1' },
      timeout: SCENARIO_TIMEOUT_MS,
    });
    const report = JSON.parse(await readFile(path.join(out, 'latest.json'), 'utf8'));
    expect(report.smoke).toBe(true);
    expect(report.machine.cores).toBeGreaterThan(0);
    expect(report.outcomes).toHaveLength(1);
    expect(report.outcomes[0].error).toBeUndefined();
    expect(report.outcomes[0].result.figures[0].unit).toBe('numbers/s');
  }, SCENARIO_TIMEOUT_MS);

  it('runs compiled through npm run bench, as the reports are made: it finds its scenarios and writes latest.json', async () => {
    const out = await mkdtemp(path.join(os.tmpdir(), 'idnc-bench-test-'));
    dirs.push(out);
    const { stderr } = await exec('npm', ['run', 'bench', '--', '--out', out, 'codec'], {
      cwd: ROOT,
      env: { ...process.env, BENCH_SMOKE: '1' },
      timeout: SCENARIO_TIMEOUT_MS,
    });
    expect(stderr).toContain('bench codec (standard)');
    const report = JSON.parse(await readFile(path.join(out, 'latest.json'), 'utf8'));
    expect(report.outcomes.map((outcome: { name: string; error?: string }) => [outcome.name, outcome.error])).toEqual([['codec', undefined]]);
  }, SCENARIO_TIMEOUT_MS);

  it('refuses an unknown scenario name', async () => {
    const out = await mkdtemp(path.join(os.tmpdir(), 'idnc-bench-test-'));
    dirs.push(out);
    const runner = path.join(BENCH_DIR, 'run.ts');
    const run = exec(process.execPath, ['--import', 'tsx', runner, '--out', out, 'no-such-scenario'], {
      cwd: ROOT,
      env: { ...process.env, BENCH_SMOKE: '1' },
      timeout: SCENARIO_TIMEOUT_MS,
    });
    await expect(run).rejects.toMatchObject({ stderr: expect.stringContaining('no such scenario: no-such-scenario') });
  }, SCENARIO_TIMEOUT_MS);
});
