// Offline import: 10M registry numbers (100M with --scale 100M; smoke 50k) written to a text file,
// one per line in shuffled blocks, then imported end to end the way `idnc import` does it (read,
// parse, validate and sort chunk by chunk, one durable change with fsync always, close with its
// snapshot), beside
// reading the same file's bytes and a naive readline + Number() parse measured in the same run. Rates
// are also given per CPU second of this process (user + system, all threads): on a shared, loaded
// machine wall time mostly measures the neighbours.
// Standard size: three rounds, each figure the median of its rounds (one round at 100M and smoke).
// Checks itself: the reopened directory holds exactly the distinct numbers of the file.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { readInputs } from '../src/bulk/read-inputs.js';
import { IMPORT_READ_CHUNK_BYTES } from '../src/constants.js';
import { openDnc } from '../src/index.js';
import { generateNumbers } from './data/registry.js';
import { check, plain, versus } from './figures.js';
import { forceGc, median } from './harness.js';
import type { Scenario } from './scenario.js';

const STANDARD_NUMBERS = 10_000_000;
const NATIONAL_NUMBERS = 100_000_000;
const SMOKE_NUMBERS = 50_000;
const SEED = 11;
const BLOCK_NUMBERS = 1 << 20;
const TARGET_NUMBERS_PER_SECOND = 10_000_000;
const NEVER_MS = 24 * 60 * 60 * 1000;

/** Writes the numbers one per line, blocks of a million in a scrambled order (an unsorted export). */
function writeList(numbers: Float64Array, file: string): number {
  const fd = fs.openSync(file, 'w');
  const buffer = Buffer.allocUnsafe(BLOCK_NUMBERS * 11);
  const blocks = Math.ceil(numbers.length / BLOCK_NUMBERS);
  let bytes = 0;
  try {
    for (let b = 0; b < blocks; b++) {
      const block = (b * 7919) % blocks;
      let at = 0;
      const end = Math.min(numbers.length, (block + 1) * BLOCK_NUMBERS);
      for (let i = block * BLOCK_NUMBERS; i < end; i++) {
        at += buffer.write(String(numbers[i]), at, 'latin1');
        buffer[at++] = 10;
      }
      fs.writeSync(fd, buffer, 0, at);
      bytes += at;
    }
  } finally {
    fs.closeSync(fd);
  }
  return bytes;
}

async function readBytes(file: string): Promise<number> {
  let bytes = 0;
  for await (const chunk of fs.createReadStream(file, { highWaterMark: IMPORT_READ_CHUNK_BYTES })) bytes += (chunk as Buffer).length;
  return bytes;
}

async function naiveParse(file: string): Promise<number> {
  const lines = readline.createInterface({ input: fs.createReadStream(file), crlfDelay: Infinity });
  let numbers = new Float64Array(1 << 20);
  let count = 0;
  for await (const line of lines) {
    const number = Number(line);
    if (!Number.isInteger(number)) continue;
    if (count === numbers.length) {
      const grown = new Float64Array(count * 2);
      grown.set(numbers);
      numbers = grown;
    }
    numbers[count++] = number;
  }
  return count;
}

const STANDARD_ROUNDS = 3;

interface Timed {
  readonly ms: number;
  readonly cpuMs: number;
}

function middle(values: readonly number[]): number {
  return median([...values].sort((a, b) => a - b));
}

/** Median wall time and median CPU time of some rounds (each median on its own). */
function medianOf(runs: readonly Timed[]): Timed {
  return { ms: middle(runs.map((run) => run.ms)), cpuMs: middle(runs.map((run) => run.cpuMs)) };
}

/** One import into a new data directory, timed whole and by phase, then checked by reopening it. */
async function timedImport(file: string, dataDir: string, size: number, phaseRuns: Record<string, number[]>): Promise<Timed> {
  const phase = (name: string, ms: number): void => void (phaseRuns[name] ??= []).push(ms);
  const total = await timed(async () => {
    const dnc = await openDnc({ dataDir, snapshotIntervalMs: NEVER_MS });
    let step = performance.now();
    const input = await readInputs([file]);
    phase('read + parse + validate + sort', performance.now() - step);
    check(input.invalidCount === 0 && input.numbers.length === size && input.entries === size, 'parser read every number');
    step = performance.now();
    const result = await dnc.addNumbers(input.numbers);
    phase('check sorted + durable log + build', performance.now() - step);
    check(result.changed === size, 'every number added');
    step = performance.now();
    await dnc.close();
    phase('close (snapshot)', performance.now() - step);
  });
  const reopened = await openDnc({ dataDir, readOnly: true });
  check(reopened.count() === size, 'the reopened directory holds every number');
  await reopened.close();
  await fs.promises.rm(dataDir, { recursive: true, force: true });
  return total;
}

/** Wall time and this process's CPU time (user + system): on a shared machine the two differ a lot. */
async function timed<T>(body: () => Promise<T>): Promise<{ ms: number; cpuMs: number; value: T }> {
  const started = performance.now();
  const cpu = process.cpuUsage();
  const value = await body();
  const used = process.cpuUsage(cpu);
  return { ms: performance.now() - started, cpuMs: (used.user + used.system) / 1000, value };
}

const scenario: Scenario = async (context) => {
  const size = context.smoke ? SMOKE_NUMBERS : context.scale === '100M' ? NATIONAL_NUMBERS : STANDARD_NUMBERS;
  const root = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'idnc-bench-import-'));
  try {
    const file = path.join(root, 'list.txt');
    const fileBytes = writeList(generateNumbers('registry', size, SEED).numbers, file);
    context.log(`import: ${size} numbers, ${(fileBytes / 1e6).toFixed(0)} MB file`);
    await readBytes(file);
    // Rounds interleave the import with its baselines, each after a full collection (so none pays
    // for the previous one's garbage), and every figure is the median of its rounds.
    const rounds = context.smoke || context.scale === '100M' ? 1 : STANDARD_ROUNDS;
    const reads: Timed[] = [];
    const naives: Timed[] = [];
    const imports: Timed[] = [];
    const phaseRuns: Record<string, number[]> = {};
    for (let round = 0; round < rounds; round++) {
      forceGc();
      const read = await timed(() => readBytes(file));
      check(read.value === fileBytes, 'read every byte of the file');
      reads.push(read);
      forceGc();
      const naive = await timed(() => naiveParse(file));
      check(naive.value === size, 'naive parse read every number');
      naives.push(naive);
      forceGc();
      imports.push(await timedImport(file, path.join(root, `data-${round}`), size, phaseRuns));
    }
    const read = medianOf(reads);
    const naive = medianOf(naives);
    const total = medianOf(imports);
    const phases = Object.fromEntries(Object.entries(phaseRuns).map(([name, runs]) => [name, middle(runs)]));

    const perSecond = (ms: number): number => (size / ms) * 1000;
    const rate = perSecond(total.ms);
    return {
      scenario: 'import',
      sizes: { numbers: size, fileBytes, fsync: 'always', rounds },
      figures: [
        versus(`import ${size} end to end`, rate, 'numbers/s', 'naive readline + Number() parse only', perSecond(naive.ms), {
          target: '>= 10M numbers/s',
          met: rate >= TARGET_NUMBERS_PER_SECOND,
        }),
        versus(`import ${size} end to end`, rate, 'numbers/s', 'reading the file bytes only (numbers/s equivalent)', perSecond(read.ms)),
        versus(`import ${size} end to end, per CPU second of this process`, perSecond(total.cpuMs), 'numbers/s', 'naive readline + Number() parse only, per CPU second', perSecond(naive.cpuMs)),
        ...Object.entries(phases).map(([name, ms]) => plain(`import phase: ${name}`, ms, 'ms')),
      ],
    };
  } finally {
    await fs.promises.rm(root, { recursive: true, force: true });
  }
};

export default scenario;
