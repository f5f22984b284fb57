// Durable adds: acknowledged adds per second under fsync 'always' (group commit) with 1, 16 and 64
// concurrent writers through the library, each beside the raw ceiling of this disk measured in the
// same run: appending 100-byte records with one fdatasync per batch of the same size. Checks itself
// by reopening the data directory and counting every acknowledged add.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDnc } from '../src/index.js';
import { check, versus } from './figures.js';
import type { Figure, Scenario } from './scenario.js';

const CONCURRENCIES = [1, 16, 64];
const RUN_MS = 2000;
const SMOKE_RUN_MS = 150;
const RAW_RECORD_BYTES = 100;
const FIRST_NUMBER = 2_002_000_000;

async function rawCeiling(dir: string, batch: number, runMs: number): Promise<number> {
  const file = path.join(dir, `raw-${batch}.bin`);
  const handle = await fs.promises.open(file, 'w');
  const records = Array.from({ length: batch }, () => Buffer.alloc(RAW_RECORD_BYTES, 7));
  let written = 0;
  const started = performance.now();
  while (performance.now() - started < runMs) {
    await handle.writev(records);
    await handle.datasync();
    written += batch;
  }
  const seconds = (performance.now() - started) / 1000;
  await handle.close();
  check((await fs.promises.stat(file)).size === written * RAW_RECORD_BYTES, 'raw file holds every record');
  return written / seconds;
}

async function durableAdds(dir: string, writers: number, runMs: number): Promise<number> {
  const dataDir = path.join(dir, `data-${writers}`);
  const dnc = await openDnc({ dataDir, fsync: 'always' });
  let next = FIRST_NUMBER;
  let acknowledged = 0;
  const started = performance.now();
  const writer = async (): Promise<void> => {
    while (performance.now() - started < runMs) {
      const result = await dnc.add(String(next++));
      acknowledged += result.changed;
    }
  };
  await Promise.all(Array.from({ length: writers }, writer));
  const seconds = (performance.now() - started) / 1000;
  await dnc.close();
  const reopened = await openDnc({ dataDir, readOnly: true });
  check(reopened.count() === acknowledged, `reopened count ${reopened.count()} equals ${acknowledged} acknowledged adds`);
  await reopened.close();
  return acknowledged / seconds;
}

const scenario: Scenario = async (context) => {
  const runMs = context.smoke ? SMOKE_RUN_MS : RUN_MS;
  const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'idnc-bench-durable-'));
  const figures: Figure[] = [];
  try {
    for (const writers of CONCURRENCIES) {
      const raw = await rawCeiling(dir, writers, runMs);
      const durable = await durableAdds(dir, writers, runMs);
      context.log(`durable adds: ${writers} writers ${durable.toFixed(0)}/s, raw ceiling ${raw.toFixed(0)}/s`);
      figures.push(
        versus(`acknowledged adds, fsync always, ${writers} concurrent writers`, durable, 'ops/s',
          `raw 100-byte appends, one fdatasync per batch of ${writers}`, raw),
      );
    }
  } finally {
    await fs.promises.rm(dir, { recursive: true, force: true });
  }
  return { scenario: 'durable-adds', sizes: { runMs, recordBytes: RAW_RECORD_BYTES }, figures };
};

export default scenario;
