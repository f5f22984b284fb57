// Snapshot save and load (issue 7, goal 3): writing a snapshot of 10M registry-shaped numbers
// (100M with --scale 100M) beside writing and flushing the same number of bytes, and loading it
// (read, checksum, decode, install) beside reading the same file's bytes, in the same run.
// Checks itself: the loaded store has the same digest as the saved one.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { captureStore, installSnapshot, writeSnapshot } from '../src/persist/snapshot.js';
import { readSnapshot } from '../src/persist/snapshot-read.js';
import { nodeFileSystem } from '../src/persist/file-system.js';
import { stateDigest } from '../src/persist/state-digest.js';
import { DncStore } from '../src/store/dnc-store.js';
import { MASTER_LIST } from '../src/store/list-id.js';
import { distinctSorted, generateNumbers } from './data/registry.js';
import { check, versus } from './figures.js';
import type { Scenario } from './scenario.js';

const STANDARD_NUMBERS = 10_000_000;
const NATIONAL_NUMBERS = 100_000_000;
const SMOKE_NUMBERS = 20_000;
const SEED = 11;
/** Best of this many rounds of each measurement: the disk and page cache are noisy. */
const ROUNDS = 3;
const WRITE_CHUNK_BYTES = 4 * 1024 * 1024;

function buildStore(numbers: Float64Array): DncStore {
  const store = new DncStore();
  store.listForWrite({ org: 'default', projId: MASTER_LIST }).addSorted(distinctSorted(numbers));
  return store;
}

/** The baseline: the same number of bytes written to a new file in the same chunk size, then flushed. */
async function writeAndFlush(file: string, bytes: number): Promise<void> {
  const chunk = Buffer.alloc(WRITE_CHUNK_BYTES, 0x5a);
  await fs.promises.rm(file, { force: true });
  const handle = await fs.promises.open(file, 'w');
  try {
    for (let written = 0; written < bytes; written += chunk.length) {
      await handle.write(chunk, 0, Math.min(chunk.length, bytes - written));
    }
    await handle.datasync();
  } finally {
    await handle.close();
  }
}

async function bestOf(rounds: number, run: () => Promise<void>): Promise<number> {
  let best = Number.POSITIVE_INFINITY;
  for (let round = 0; round < rounds; round++) {
    const started = performance.now();
    await run();
    best = Math.min(best, performance.now() - started);
  }
  return best;
}

const scenario: Scenario = async (context) => {
  const size = context.smoke ? SMOKE_NUMBERS : context.scale === '100M' ? NATIONAL_NUMBERS : STANDARD_NUMBERS;
  const rounds = context.smoke ? 1 : ROUNDS;
  const store = buildStore(generateNumbers('registry', size, SEED).numbers);
  const digest = stateDigest(store);
  const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'idnc-bench-snapshot-'));
  const snapshotFile = path.join(dir, 'snapshot-1.idncsnap');
  try {
    const saveMs = await bestOf(rounds, async () => {
      const captured = captureStore(store);
      await writeSnapshot(nodeFileSystem, dir, snapshotFile, 1, captured.lists);
      captured.release();
    });
    const bytes = (await fs.promises.stat(snapshotFile)).size;
    const rawWriteMs = await bestOf(rounds, () => writeAndFlush(path.join(dir, 'raw.bin'), bytes));
    let loaded = new DncStore();
    const loadMs = await bestOf(rounds, async () => {
      const load = await readSnapshot(snapshotFile);
      if (load.outcome !== 'ok') throw new Error(`snapshot did not load: ${load.outcome}`);
      loaded = new DncStore();
      installSnapshot(loaded, load.lists);
    });
    const rawReadMs = await bestOf(rounds, async () => {
      await fs.promises.readFile(snapshotFile);
    });
    check(stateDigest(loaded) === digest, 'the loaded snapshot holds exactly the saved numbers');
    context.log(`snapshot: ${size} numbers, ${bytes} bytes, save ${saveMs.toFixed(0)} ms, load ${loadMs.toFixed(0)} ms`);
    return {
      scenario: 'snapshot',
      sizes: { numbers: size, snapshotBytes: bytes, rounds },
      figures: [
        versus(`snapshot save, ${size} numbers (best of ${rounds})`, saveMs, 'ms', 'write + fdatasync of the same bytes', rawWriteMs,
          { target: 'within 2x of the raw write (issue 7)', met: saveMs <= 2 * rawWriteMs }),
        versus(`snapshot load, ${size} numbers (best of ${rounds})`, loadMs, 'ms', 'readFile of the same file', rawReadMs,
          { target: 'within 2x of the raw read (issue 7)', met: loadMs <= 2 * rawReadMs }),
      ],
    };
  } finally {
    await fs.promises.rm(dir, { recursive: true, force: true });
  }
};

export default scenario;
