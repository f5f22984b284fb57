// Writing snapshots: the bytes are flushed behind the writes (an fdatasync every so many bytes, at
// most one in flight, the writes going on meanwhile), and a failed background flush fails the save
// and leaves no file behind, temporary or final.

import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AREA_REST_MODULUS } from '../../src/constants.js';
import { temporaryPath } from '../../src/persist/data-dir.js';
import { readSnapshot } from '../../src/persist/snapshot-read.js';
import { captureStore, installSnapshot, writeSnapshot, type SnapshotWriteOptions } from '../../src/persist/snapshot.js';
import { stateDigest } from '../../src/persist/state-digest.js';
import { DncStore } from '../../src/store/dnc-store.js';
import { FaultyFileSystem, makeTempDir, removeDir } from './helpers.js';

/** Small chunks and flushes, so that a snapshot of a few hundred KiB takes many of each. */
const SMALL: SnapshotWriteOptions = { writeChunkBytes: 16 * 1024, flushBehindBytes: 64 * 1024 };

/** Every other number of 40 exchanges' worth of rests in each of 8 area codes: bitmap containers. */
function buildStore(): DncStore {
  const store = new DncStore();
  const numbers: number[] = [];
  for (let areaCode = 201; areaCode <= 208; areaCode++) {
    for (let rest = 2_000_000; rest < 2_400_000; rest += 2) numbers.push(areaCode * AREA_REST_MODULUS + rest);
  }
  store.listForWrite({ org: 'default', projId: '' }).addSorted(Float64Array.from(numbers));
  return store;
}

describe('writeSnapshot', () => {
  let dir: string;
  let file: string;
  let store: DncStore;

  beforeEach(async () => {
    dir = await makeTempDir('idnc-snapshot-write-');
    file = path.join(dir, 'snapshot-1.idncsnap');
    store = buildStore();
  });

  afterEach(async () => {
    await removeDir(dir);
  });

  async function save(fileSystem: FaultyFileSystem, options: SnapshotWriteOptions): Promise<number> {
    const captured = captureStore(store);
    try {
      return await writeSnapshot(fileSystem, dir, file, 1, captured, options);
    } finally {
      captured.release();
    }
  }

  async function loadedDigest(): Promise<string> {
    const load = await readSnapshot(file);
    if (load.outcome !== 'ok') throw new Error(`${load.outcome}: ${load.detail}`);
    const loaded = new DncStore();
    installSnapshot(loaded, load);
    return stateDigest(loaded);
  }

  it('flushes behind the writes, and the file loads back the same', async () => {
    const fileSystem = new FaultyFileSystem();
    const bytes = await save(fileSystem, SMALL);
    expect(bytes).toBeGreaterThan(4 * SMALL.flushBehindBytes!);
    expect(fileSystem.fdatasyncCalls).toBeGreaterThan(0);
    expect(fileSystem.fdatasyncCalls).toBeLessThanOrEqual(Math.floor(bytes / SMALL.flushBehindBytes!));
    expect(await loadedDigest()).toBe(stateDigest(store));
  });

  it('flushes nothing behind a snapshot smaller than the flush size (only the final fsync)', async () => {
    const fileSystem = new FaultyFileSystem();
    await save(fileSystem, { writeChunkBytes: SMALL.writeChunkBytes, flushBehindBytes: 1024 * 1024 * 1024 });
    expect(fileSystem.fdatasyncCalls).toBe(0);
    expect(await loadedDigest()).toBe(stateDigest(store));
  });

  it('writes every byte while a flush is pending, and queues no second flush behind it', async () => {
    const bytes = await save(new FaultyFileSystem(), SMALL);
    fs.rmSync(file);
    const fileSystem = new FaultyFileSystem();
    let release = (): void => undefined;
    fileSystem.fdatasyncGate = new Promise<void>((resolve) => (release = resolve));
    let settled = false;
    const saving = save(fileSystem, SMALL).finally(() => (settled = true));
    const temporary = temporaryPath(file);
    const written = (): number => fs.statSync(temporary, { throwIfNoEntry: false })?.size ?? 0;
    // The first flush started after 64 KiB and is held: the rest of the file is written anyway.
    await vi.waitFor(() => expect(written()).toBe(bytes), { timeout: 5000, interval: 2 });
    expect(fileSystem.fdatasyncCalls).toBe(1);
    expect(settled).toBe(false);
    release();
    await saving;
    // The writes that ended while it was held started no flush of their own.
    expect(fileSystem.fdatasyncCalls).toBe(1);
    expect(await loadedDigest()).toBe(stateDigest(store));
  });

  it('fails the save when a background flush fails, and leaves no file behind', async () => {
    const fileSystem = new FaultyFileSystem();
    fileSystem.failFdatasync = 'EIO';
    await expect(save(fileSystem, SMALL)).rejects.toMatchObject({ code: 'EIO' });
    expect(fileSystem.fdatasyncCalls).toBe(1);
    expect(fs.readdirSync(dir)).toEqual([]);
  });
});
