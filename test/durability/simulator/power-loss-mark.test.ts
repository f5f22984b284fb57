// After a power loss, a bit flip in the last acknowledged record must make startup refuse with
// DATA_CORRUPT, never be cut as a torn write: the durable-seq mark on disk has to cover every
// acknowledged record, so startup can tell one from the other. And the mark must claim no more than
// that: after a power loss under fsync 'interval' (whose acknowledged changes a power loss may take,
// and whose mark is never flushed per batch), a restart under 'always' cuts a torn tail and starts.
// Driven on the simulated disk, the only place a power loss can be made to keep exactly what a real
// disk keeps.

import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DurableDncOptions } from '../../../src/engine/durable-log.js';
import type { FsyncMode } from '../../../src/persist/log-writer.js';
import { DurableDnc } from '../../../src/open.js';
import { IdncError } from '../../../src/errors.js';
import { segmentHeader } from '../../../src/persist/segment-scan.js';
import { makeMemoryTempDir, removeDir } from '../../persist/helpers.js';
import { Dice } from '../random.js';
import { SimulatedDisk, type SimulatedProcess } from './simulated-disk.js';

const NEVER_MS = 1_000_000_000;
const SEEDS = 30;
const PHONE = '5039367187';

let dir: string;
beforeEach(async () => {
  dir = path.resolve(await makeMemoryTempDir());
});
afterEach(async () => {
  await removeDir(dir);
});

function options(process: SimulatedProcess, fsync: FsyncMode = 'always'): DurableDncOptions {
  return { dataDir: dir, fileSystem: process, fsync, snapshotIntervalMs: NEVER_MS, storageProbeIntervalMs: NEVER_MS, logger: { info() {}, warn() {}, error() {} } };
}

describe('a bit flip in the last acknowledged record after a power loss', () => {
  it('makes startup refuse with DATA_CORRUPT naming the segment, and never loses the change silently', async () => {
    let flipsInTheRecord = 0;
    for (let seed = 1; seed <= SEEDS; seed++) {
      await removeDir(dir);
      dir = path.resolve(await makeMemoryTempDir());
      const disk = new SimulatedDisk(dir, new Dice(seed));
      const writer = await DurableDnc.open(options(disk.newProcess('writer')));
      await writer.add(PHONE);
      disk.powerLoss();
      const flip = disk.flipSyncedBit((name) => name.endsWith('.idnclog'));
      expect(flip).not.toBeNull();
      const inTheRecord = flip!.offset >= segmentHeader().length;
      if (inTheRecord) flipsInTheRecord++;

      let opened: DurableDnc | null = null;
      let refusal: unknown = null;
      try {
        opened = await DurableDnc.open(options(disk.newProcess('restart')));
      } catch (error) {
        refusal = error;
      }
      if (opened !== null) {
        const blocked = opened.isBlocked(PHONE);
        await opened.close();
        expect(blocked, `seed ${seed}: the start cut the flipped acknowledged record (offset ${flip!.offset})`).toBe(true);
      } else {
        expect(refusal).toBeInstanceOf(IdncError);
        expect((refusal as IdncError).code).toBe('DATA_CORRUPT');
        expect((refusal as Error).message).toContain(flip!.name);
      }
    }
    expect(flipsInTheRecord).toBeGreaterThan(0);
  });
});

describe('a power loss under fsync interval', () => {
  it('never stops a restart under fsync always from starting, and loses no change the log kept', async () => {
    const phones = Array.from({ length: 6 }, (_, i) => String(5_039_367_100 + i));
    let cut = 0;
    for (let seed = 1; seed <= SEEDS; seed++) {
      await removeDir(dir);
      dir = path.resolve(await makeMemoryTempDir());
      const disk = new SimulatedDisk(dir, new Dice(seed));
      const writer = await DurableDnc.open(options(disk.newProcess('writer'), 'interval'));
      for (const phone of phones) await writer.add(phone);
      disk.powerLoss();

      const restarted = await DurableDnc.open(options(disk.newProcess('restart'), 'always')).catch((error: Error) => error);
      expect(restarted instanceof Error ? restarted.message : 'started', `seed ${seed}`).toBe('started');
      const again = restarted as DurableDnc;
      const kept = again.lastSeq;
      if (kept < phones.length) cut++;
      // What survived is a prefix of the changes, each whole.
      expect(phones.map((phone) => again.isBlocked(phone)), `seed ${seed}`).toEqual(phones.map((_, i) => i < kept));
      await again.close();
    }
    expect(cut).toBeGreaterThan(0);
  });
});
