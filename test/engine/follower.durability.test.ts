// A follower shows only what the writer acknowledged, and never drifts from it: a change whose
// fdatasync has not returned (or failed) is never applied; after `idnc repair` and a restarted
// writer that reuses the seqs of removed records, or after a segment is replaced under it, the
// follower reloads and ends with the writer's digest; when the directory holds less than the writer
// acknowledged, or the mark itself is damaged, the follower goes stale instead of calling itself
// current.

import fs from 'node:fs';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { openDnc, type DncFollower, type DurableDnc, type DurableDncOptions } from '../../src/index.js';
import { listDataDir, temporaryPath } from '../../src/persist/data-dir.js';
import { durableMarkPath } from '../../src/persist/durable-mark.js';
import { applyRepair, planRepair } from '../../src/persist/repair.js';
import { scanSegment } from '../../src/persist/segment-scan.js';
import { FaultyFileSystem, makeTempDir, numbers, recordingLogger, removeDir, type RecordingLogger } from '../persist/helpers.js';
import { checkedCurrent } from './follower-checks.js';

let dir: string;
const open: { close(): Promise<void> }[] = [];
/** Opens fdatasync gates a failed assertion left closed, so closing the writer does not hang. */
const releaseGates: (() => void)[] = [];

beforeEach(async () => {
  dir = await makeTempDir('idnc-follower-');
});
afterEach(async () => {
  for (const release of releaseGates.splice(0)) release();
  for (const dnc of open.splice(0).reverse()) await dnc.close().catch(() => undefined);
  await removeDir(dir);
});

async function writer(options: Partial<Omit<DurableDncOptions, 'dataDir' | 'readOnly'>> = {}): Promise<DurableDnc> {
  const dnc = await openDnc({ dataDir: dir, logger: recordingLogger(), ...options });
  open.push(dnc);
  return dnc;
}

async function follower(options: Record<string, unknown> = {}): Promise<DncFollower> {
  const dnc = await openDnc({ dataDir: dir, readOnly: true, logger: recordingLogger(), pollIntervalMs: 20, ...options });
  open.push(dnc);
  return dnc;
}

/** Start offsets of the records of a segment file. */
function recordOffsets(file: string, firstSeq: number): number[] {
  const offsets: number[] = [];
  scanSegment(fs.readFileSync(file), firstSeq, (_record, offset) => offsets.push(offset));
  return offsets;
}

async function removeSnapshots(): Promise<void> {
  for (const snapshot of (await listDataDir(dir)).snapshots) fs.rmSync(snapshot.path);
}

describe('a follower applies only acknowledged changes', () => {
  it('goes stale while a written record stays unacknowledged past the mark, fresh once it is acknowledged', async () => {
    const fileSystem = new FaultyFileSystem();
    const w = await writer({ fileSystem });
    const first = await w.add(numbers(2));
    const f = await follower({ staleAfterMs: 300 });
    await f.waitFor(first.seq, 5000);
    const wentStale = new Promise<void>((resolve) => f.on('stale', () => resolve()));
    const cameBack = new Promise<void>((resolve) => f.on('fresh', () => resolve()));
    let release!: () => void;
    fileSystem.fdatasyncGate = new Promise<void>((resolve) => (release = resolve));
    releaseGates.push(() => release());
    const pending = w.add('3125550000');
    // A hung fdatasync, or a writer that died after the write (a restart would recover the record
    // as acknowledged): the follower must not keep calling itself current.
    await wentStale;
    expect(f.isBlocked('3125550000')).toBe(false);
    expect(f.lagMs).toBeGreaterThan(300);
    fileSystem.fdatasyncGate = null;
    release();
    const added = await pending;
    await cameBack;
    await f.waitFor(added.seq, 5000);
    expect(f.isBlocked('3125550000')).toBe(true);
  });

  it('never shows a change whose fdatasync has not returned, nor one whose fdatasync failed', async () => {
    const fileSystem = new FaultyFileSystem();
    const w = await writer({ fileSystem });
    const first = await w.add(numbers(2));
    const f = await follower({ staleAfterMs: 200 });
    await f.waitFor(first.seq, 5000);

    let release!: () => void;
    fileSystem.fdatasyncGate = new Promise<void>((resolve) => (release = resolve));
    releaseGates.push(() => release());
    const segment = (await listDataDir(dir)).segments.at(-1)!.path;
    const sizeBefore = fs.statSync(segment).size;
    // Stale: it read the record written past the mark and did not apply it (see the test above).
    const wentStale = new Promise<void>((resolve) => f.on('stale', () => resolve()));
    const pending = w.add('3125550000');
    pending.catch(() => undefined);
    await vi.waitFor(() => expect(fs.statSync(segment).size).toBeGreaterThan(sizeBefore), { timeout: 5000, interval: 5 });
    await wentStale;
    expect(f.isBlocked('3125550000')).toBe(false);
    expect(f.lastSeq).toBe(first.seq);
    const loadedDuringFsync = await follower();
    expect(loadedDuringFsync.isBlocked('3125550000')).toBe(false);
    expect(loadedDuringFsync.lastSeq).toBe(first.seq);

    fileSystem.failFdatasync = 'EIO';
    release();
    await expect(pending).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
    await checkedCurrent(f);
    await checkedCurrent(loadedDuringFsync);
    const loadedAfter = await follower();
    for (const reader of [f, loadedDuringFsync, loadedAfter]) {
      expect(reader.isBlocked('3125550000')).toBe(false);
      expect(reader.count()).toBe(2);
    }
  }, 20_000);

  it('follows a writer that restarts without reloading, when nothing it applied was removed', async () => {
    let w = await writer();
    await w.add(numbers(3));
    const logger = recordingLogger();
    const f = await follower({ logger });
    await w.close();
    w = await writer();
    const next = await w.add('6175550123');
    await f.waitFor(next.seq, 5000);
    await vi.waitFor(() => expect(f.digest()).toBe(w.digest()), { timeout: 5000 });
    expect(logger.text('warn')).not.toContain('reloading');
  });
});

describe('the durable-seq mark', () => {
  it('when damaged, stops followers (stale; a new one opens stale on the snapshot alone) until the writer rewrites it', async () => {
    let w = await writer();
    await w.add(numbers(2));
    const f = await follower({ staleAfterMs: 100 });
    const events: string[] = [];
    f.on('stale', () => events.push('stale')).on('fresh', () => events.push('fresh'));
    await w.close();
    const mark = fs.readFileSync(durableMarkPath(dir));
    mark[24]! ^= 0x01;
    fs.writeFileSync(durableMarkPath(dir), mark);
    await vi.waitFor(() => expect(events).toEqual(['stale']), { timeout: 5000 });
    const opened = await follower({ staleAfterMs: 100 });
    expect(opened.lagMs).toBeGreaterThan(1_000_000);
    await vi.waitFor(() => expect(opened.stale).toBe(true), { timeout: 5000 });
    expect(opened.lastSeq).toBe(1);
    w = await writer();
    const next = await w.add('6175550123');
    await f.waitFor(next.seq, 5000);
    await opened.waitFor(next.seq, 5000);
    await vi.waitFor(() => expect(events).toEqual(['stale', 'fresh']), { timeout: 5000 });
    await vi.waitFor(() => expect(opened.stale).toBe(false), { timeout: 5000 });
    expect(f.digest()).toBe(w.digest());
    expect(opened.digest()).toBe(w.digest());
  }, 20_000);
});

describe('a follower does not drift', () => {
  it('reloads when it missed a repair and two writers between two checks (the newest base is above its seq)', async () => {
    let w = await writer();
    for (let i = 0; i < 6; i++) await w.add(numbers(1, 2_125_550_000 + i));
    const f = await follower({ watch: false, pollIntervalMs: 3_600_000 });
    await f.waitFor(6, 5000);
    await w.close();
    await removeSnapshots();
    const segment = (await listDataDir(dir)).segments[0]!;
    const bytes = fs.readFileSync(segment.path);
    bytes[recordOffsets(segment.path, segment.firstSeq)[3]! + 20]! ^= 0x01;
    fs.writeFileSync(segment.path, bytes);
    expect((await applyRepair(dir, await planRepair(dir), recordingLogger())).lastSeq).toBe(3);
    w = await writer();
    for (let i = 0; i < 6; i++) await w.add(numbers(1, 3_125_550_000 + i));
    await w.close();
    w = await writer();
    expect(w.lastSeq).toBe(9);
    await f.checkNow();
    expect(f.lastSeq).toBe(9);
    expect(f.isBlocked('3125550000')).toBe(true);
    expect(f.isBlocked('2125550004')).toBe(false);
    expect(f.digest()).toBe(w.digest());
  });

  it('reloads after repair moves its segment aside and a restarted writer reuses those seqs', async () => {
    let w = await writer({ segmentBytesMax: 1 });
    for (let i = 0; i < 6; i++) await w.add(numbers(1, 2_125_550_000 + i));
    expect((await listDataDir(dir)).segments).toHaveLength(6);
    const f = await follower();
    await f.waitFor(6, 5000);
    await w.close();
    await removeSnapshots();
    // A flipped bit in seq 4 with segments after it: startup refuses, repair keeps seqs 1 to 3.
    const damaged = (await listDataDir(dir)).segments[3]!;
    const bytes = fs.readFileSync(damaged.path);
    bytes[bytes.length - 1]! ^= 0x01;
    fs.writeFileSync(damaged.path, bytes);
    await expect(openDnc({ dataDir: dir, logger: recordingLogger() })).rejects.toMatchObject({ code: 'DATA_CORRUPT' });
    await applyRepair(dir, await planRepair(dir), recordingLogger());
    // The repair's new epoch alone (no writer yet) takes the follower to the repaired state.
    const repaired = await follower();
    expect(repaired.lastSeq).toBe(3);
    await vi.waitFor(() => expect([f.lastSeq, f.digest()]).toEqual([3, repaired.digest()]), { timeout: 5000 });
    expect(f.isBlocked(numbers(1, 2_125_550_003)[0]!)).toBe(false);

    w = await writer({ segmentBytesMax: 1 });
    let last = 0;
    for (let i = 0; i < 4; i++) last = (await w.add(numbers(1, 3_125_550_000 + i))).seq;
    expect(last).toBe(7);
    await f.waitFor(last, 5000);
    await vi.waitFor(() => expect(f.digest()).toBe(w.digest()), { timeout: 5000 });
    expect(f.isBlocked(numbers(1, 2_125_550_005)[0]!)).toBe(false);
    expect(f.isBlocked('3125550002')).toBe(true);
    expect(f.stale).toBe(false);
  }, 20_000);

  it('reloads when its segment is replaced by a shorter copy, and stays stale while acknowledged records are missing', async () => {
    let w = await writer();
    for (let i = 0; i < 6; i++) await w.add(numbers(1, 2_125_550_000 + i));
    const logger: RecordingLogger = recordingLogger();
    const f = await follower({ logger, staleAfterMs: 100 });
    await f.waitFor(6, 5000);
    await w.close();
    await removeSnapshots();
    const events: string[] = [];
    f.on('stale', () => events.push('stale')).on('fresh', () => events.push('fresh'));
    // The segment replaced by its first four records (a new file renamed over it, as a repair does).
    const segment = (await listDataDir(dir)).segments[0]!;
    const fifth = recordOffsets(segment.path, segment.firstSeq)[4]!;
    fs.writeFileSync(temporaryPath(segment.path), fs.readFileSync(segment.path).subarray(0, fifth));
    fs.renameSync(temporaryPath(segment.path), segment.path);
    await vi.waitFor(() => expect(f.count()).toBe(4), { timeout: 5000 });
    await vi.waitFor(() => expect(events).toEqual(['stale']), { timeout: 5000 });
    expect(f.isBlocked(numbers(1, 2_125_550_004)[0]!)).toBe(false);
    expect(f.lastSeq).toBe(4);

    w = await writer();
    const next = await w.add('6175550123');
    expect(next.seq).toBe(5);
    await vi.waitFor(() => expect(events).toEqual(['stale', 'fresh']), { timeout: 5000 });
    await f.waitFor(next.seq, 5000);
    expect(f.digest()).toBe(w.digest());
  }, 20_000);
});
