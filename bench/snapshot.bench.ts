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
const ROUNDS = 5;
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

/** Reads a whole file into a new buffer with one read() call (files under 2 GiB). */
async function readInOneCall(file: string): Promise<void> {
  const handle = await fs.promises.open(file, 'r');
  try {
    const { size } = await handle.stat();
    const { bytesRead } = await handle.read(Buffer.allocUnsafe(size), 0, size, 0);
    check(bytesRead === size, 'one read() call returns the whole file');
  } finally {
    await handle.close();
  }
}

/** Runs each measurement once per round, in turn; the best time of each. */
async function bestOfInterleaved<Name extends string>(rounds: number, runs: Record<Name, () => Promise<void>>): Promise<Record<Name, number>> {
  const names = Object.keys(runs) as Name[];
  const best = Object.fromEntries(names.map((name) => [name, Number.POSITIVE_INFINITY])) as Record<Name, number>;
  for (let round = 0; round < rounds; round++) {
    for (const name of names) {
      const started = performance.now();
      await runs[name]();
      best[name] = Math.min(best[name], performance.now() - started);
    }
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
  const saveOnce = async (): Promise<number> => {
    const captured = captureStore(store);
    try {
      return await writeSnapshot(nodeFileSystem, dir, snapshotFile, 1, captured.lists);
    } finally {
      captured.release();
    }
  };
  try {
    // Each round runs every measurement once, in turn, so that page-cache writeback left by one
    // (and other noise) falls on all of them alike; each figure is the best of its rounds.
    const bytes = await saveOnce();
    const rawFile = path.join(dir, 'raw.bin');
    let loaded = new DncStore();
    const best = await bestOfInterleaved(rounds, {
      save: async () => void (await saveOnce()),
      rawWrite: () => writeAndFlush(rawFile, bytes),
      load: async () => {
        const load = await readSnapshot(snapshotFile);
        if (load.outcome !== 'ok') throw new Error(`snapshot did not load: ${load.outcome}`);
        loaded = new DncStore();
        installSnapshot(loaded, load.lists);
      },
      // The read baseline is the faster of two plain reads: readFile (512 KiB at a time) and one
      // read() call into a new buffer of the file's size, which is faster here by about a third.
      readFile: async () => void (await fs.promises.readFile(snapshotFile)),
      singleRead: () => readInOneCall(snapshotFile),
    });
    const { save: saveMs, rawWrite: rawWriteMs, load: loadMs, readFile: readFileMs, singleRead: singleReadMs } = best;
    const rawReadMs = Math.min(readFileMs, singleReadMs);
    check(stateDigest(loaded) === digest, 'the loaded snapshot holds exactly the saved numbers');
    context.log(`snapshot: ${size} numbers, ${bytes} bytes, save ${saveMs.toFixed(0)} ms, load ${loadMs.toFixed(0)} ms` +
      ` (readFile ${readFileMs.toFixed(0)} ms, one read() ${singleReadMs.toFixed(0)} ms)`);
    // Issue 7 sets both targets at 100M. At 10M the file sits in memory the allocator reuses, so a
    // plain read is a 4 GB/s copy, and checking the CRC-32 alone takes longer (about 2.6 GB/s).
    const goalNote = size === NATIONAL_NUMBERS ? 'issue 7' : 'issue 7 sets it at 100M';
    return {
      scenario: 'snapshot',
      sizes: { numbers: size, snapshotBytes: bytes, rounds, readFileMs: Math.round(readFileMs), singleReadMs: Math.round(singleReadMs) },
      figures: [
        versus(`snapshot save, ${size} numbers (best of ${rounds})`, saveMs, 'ms', 'write + fdatasync of the same bytes', rawWriteMs,
          { target: `within 2x of the raw write (${goalNote})`, met: saveMs <= 2 * rawWriteMs }),
        versus(`snapshot load, ${size} numbers (best of ${rounds})`, loadMs, 'ms', 'plain read of the same file (faster of readFile and one read())', rawReadMs,
          { target: `within 2x of the raw read (${goalNote})`, met: loadMs <= 2 * rawReadMs }),
      ],
    };
  } finally {
    await fs.promises.rm(dir, { recursive: true, force: true });
  }
};

export default scenario;
