// Recovery: opening a data directory of 10M numbers (smoke: 20k) from the log alone (replaying every
// record) and from a snapshot, each beside a plain read of the same files measured in the same run.
// Checks itself: both recoveries hold every number and have the same digest.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDnc } from '../src/index.js';
import { generateNumbers, toCommaList } from './data/registry.js';
import { check, versus } from './figures.js';
import type { Scenario } from './scenario.js';

const NUMBERS = 10_000_000;
const SMOKE_NUMBERS = 20_000;
const BATCH_NUMBERS = 100_000;
const SEED = 4;
const NEVER_MS = 24 * 60 * 60 * 1000;

async function readAll(files: readonly string[]): Promise<{ ms: number; bytes: number }> {
  const started = performance.now();
  let bytes = 0;
  for (const file of files) bytes += (await fs.promises.readFile(file)).length;
  return { ms: performance.now() - started, bytes };
}

async function timedOpen(dataDir: string): Promise<{ ms: number; count: number; digest: string }> {
  const started = performance.now();
  const dnc = await openDnc({ dataDir, readOnly: true });
  const ms = performance.now() - started;
  const result = { ms, count: dnc.count(), digest: dnc.digest() };
  await dnc.close();
  return result;
}

const filesEnding = (dir: string, suffix: string): string[] =>
  fs.readdirSync(dir).filter((name) => name.endsWith(suffix)).map((name) => path.join(dir, name));

const scenario: Scenario = async (context) => {
  const size = context.smoke ? SMOKE_NUMBERS : NUMBERS;
  const numbers = generateNumbers('registry', size, SEED).numbers;
  const root = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'idnc-bench-recovery-'));
  const withSnapshot = path.join(root, 'snapshot');
  const logOnly = path.join(root, 'log');
  try {
    const dnc = await openDnc({ dataDir: withSnapshot, fsync: 'none', snapshotIntervalMs: NEVER_MS, snapshotLogBytes: Number.MAX_SAFE_INTEGER });
    for (let start = 0; start < size; start += BATCH_NUMBERS) {
      await dnc.add(toCommaList(numbers, start, Math.min(size, start + BATCH_NUMBERS)).split(','));
    }
    // The log-only copy is what a killed server leaves; closing the original takes the snapshot.
    fs.mkdirSync(logOnly);
    for (const file of filesEnding(withSnapshot, '.idnclog')) fs.copyFileSync(file, path.join(logOnly, path.basename(file)));
    await dnc.close();
    context.log(`recovery: ${size} numbers written`);

    const replay = await timedOpen(logOnly);
    const logRead = await readAll(filesEnding(logOnly, '.idnclog'));
    const load = await timedOpen(withSnapshot);
    const snapshotRead = await readAll(filesEnding(withSnapshot, '.idncsnap'));
    check(replay.count === size && load.count === size, `both recoveries hold ${size} numbers`);
    check(replay.digest === load.digest, 'log replay and snapshot load give the same digest');
    context.log(`recovery: replay ${replay.ms.toFixed(0)} ms (${logRead.bytes} bytes), snapshot ${load.ms.toFixed(0)} ms (${snapshotRead.bytes} bytes)`);
    return {
      scenario: 'recovery',
      sizes: { numbers: size, logBytes: logRead.bytes, snapshotBytes: snapshotRead.bytes, recordNumbers: BATCH_NUMBERS },
      figures: [
        versus('recovery from the log alone (replay every record)', replay.ms, 'ms', 'plain read of the same log files', logRead.ms),
        versus('recovery from the snapshot', load.ms, 'ms', 'plain read of the same snapshot file', snapshotRead.ms),
      ],
    };
  } finally {
    await fs.promises.rm(root, { recursive: true, force: true });
  }
};

export default scenario;
