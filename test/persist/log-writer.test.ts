// The log writer's failure paths, driven through the file-system seam: a batch that failed (its
// write or its fdatasync) is cut from the very file it was written to, or, when that cut fails too,
// the writer stops and leaves evidence so that startup refuses until `idnc repair --yes` cuts exactly
// those records; a change that cannot be applied after it is durable stops the writer (no more
// writes, no snapshot that would drop it); in fsync interval/none modes the old segment is flushed
// before a new one is created; and only snapshots known to be good count among the ones kept.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LOG_SEGMENT_HEADER_BYTES } from '../../src/constants.js';
import type { DurableDncOptions } from '../../src/engine/durable-log.js';
import { DurableDnc, openDnc } from '../../src/index.js';
import { segmentPath, snapshotPath } from '../../src/persist/data-dir.js';
import { nodeFileSystem, type PersistFileSystem } from '../../src/persist/file-system.js';
import { LogWriter } from '../../src/persist/log-writer.js';
import type { LogChange } from '../../src/persist/record.js';
import { segmentHeader } from '../../src/persist/segment-scan.js';
import { BAD_AREA_CODE, BAD_LIST, writeBadBitmapSnapshot } from './bad-bitmap-snapshot.js';
import { errnoError, makeTempDir, numbers, recordingLogger, removeDir } from './helpers.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const REJECTED = '3125550100';

type Call = 'open' | 'writev' | 'fdatasync' | 'fsync' | 'ftruncate' | 'close' | 'rename' | 'unlink' | 'fsyncDirectory';

/** node:fs with a journal of its calls (kind and file name) and a rule that can fail any of them. */
class ScriptedFileSystem implements PersistFileSystem {
  readonly journal: string[] = [];
  fail: ((call: Call, file: string) => string | null) | null = null;
  /** When it returns a promise, the call waits for it before it is journalled and judged by `fail`. */
  hold: ((call: Call, file: string) => Promise<void> | null) | null = null;
  private readonly names = new Map<number, string>();

  private async check(call: Call, file: string): Promise<void> {
    const held = this.hold?.(call, file) ?? null;
    if (held !== null) await held;
    this.journal.push(`${call} ${file}`);
    const code = this.fail?.(call, file) ?? null;
    if (code !== null) throw errnoError(code);
  }

  tryLockExclusive = nodeFileSystem.tryLockExclusive;

  private nameOf(fd: number): string {
    return this.names.get(fd) ?? `fd ${fd}`;
  }

  async open(file: string, flags: string): Promise<number> {
    await this.check('open', path.basename(file));
    const fd = await nodeFileSystem.open(file, flags);
    this.names.set(fd, path.basename(file));
    return fd;
  }

  /** A failing write leaves half of its bytes behind, as a real full disk often does. */
  async writev(fd: number, buffers: readonly Buffer[], position: number): Promise<void> {
    try {
      await this.check('writev', this.nameOf(fd));
    } catch (error) {
      const bytes = Buffer.concat(buffers);
      await nodeFileSystem.writev(fd, [bytes.subarray(0, bytes.length >> 1)], position);
      throw error;
    }
    await nodeFileSystem.writev(fd, buffers, position);
  }

  async fdatasync(fd: number): Promise<void> {
    await this.check('fdatasync', this.nameOf(fd));
    await nodeFileSystem.fdatasync(fd);
  }

  async fsync(fd: number): Promise<void> {
    await this.check('fsync', this.nameOf(fd));
    await nodeFileSystem.fsync(fd);
  }

  async ftruncate(fd: number, length: number): Promise<void> {
    await this.check('ftruncate', this.nameOf(fd));
    await nodeFileSystem.ftruncate(fd, length);
  }

  async close(fd: number): Promise<void> {
    await this.check('close', this.nameOf(fd));
    this.names.delete(fd);
    await nodeFileSystem.close(fd);
  }

  async rename(from: string, to: string): Promise<void> {
    await this.check('rename', path.basename(to));
    await nodeFileSystem.rename(from, to);
  }

  async unlink(file: string): Promise<void> {
    await this.check('unlink', path.basename(file));
    await nodeFileSystem.unlink(file);
  }

  async fsyncDirectory(dir: string): Promise<void> {
    await this.check('fsyncDirectory', '<dir>');
    await nodeFileSystem.fsyncDirectory(dir);
  }
}

let dir: string;
beforeEach(async () => {
  dir = await makeTempDir();
});
afterEach(async () => {
  await removeDir(dir);
});

function open(options: Partial<DurableDncOptions> = {}): Promise<DurableDnc> {
  return DurableDnc.open({ dataDir: dir, logger: recordingLogger(), snapshotIntervalMs: 3_600_000, ...options });
}

function idnc(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 20_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Fails the `nth` fdatasync of segment `firstSeq` from now on (the first flushes its new header). */
function failSegmentSync(firstSeq: number, nth: number): (call: Call, file: string) => string | null {
  const name = path.basename(segmentPath(dir, firstSeq));
  let syncs = 0;
  return (call, file) => (call === 'fdatasync' && file === name && ++syncs === nth ? 'EIO' : null);
}

function dataFiles(): string[] {
  return fs.readdirSync(dir).filter((name) => name !== 'writer.lock').sort();
}

describe('a batch whose fdatasync fails on the first batch after a snapshot (a new segment)', () => {
  it('is cut from the new segment, exactly, and does not come back after a restart', async () => {
    const fileSystem = new ScriptedFileSystem();
    const dnc = await open({ fileSystem });
    await dnc.add(numbers(3));
    await dnc.snapshot();
    const oldSize = fs.statSync(segmentPath(dir, 1)).size;
    fileSystem.fail = failSegmentSync(2, 2);
    await expect(dnc.add(REJECTED)).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
    fileSystem.fail = null;
    expect(fs.statSync(segmentPath(dir, 2)).size).toBe(LOG_SEGMENT_HEADER_BYTES);
    expect(fs.statSync(segmentPath(dir, 1)).size).toBe(oldSize);
    await dnc.close();

    const again = await open();
    expect(again.isBlocked(REJECTED)).toBe(false);
    expect(again.count()).toBe(3);
    expect(again.lastSeq).toBe(1);
    await again.close();
  });

  it('when the cut fails too: stops, startup refuses naming the evidence, and repair cuts exactly those records', async () => {
    const fileSystem = new ScriptedFileSystem();
    const logger = recordingLogger();
    const dnc = await open({ fileSystem, logger });
    const acknowledged = numbers(3);
    await dnc.add(acknowledged);
    await dnc.snapshot();
    await dnc.add('4155550100');
    await dnc.snapshot();
    const segmentSync = failSegmentSync(3, 2);
    fileSystem.fail = (call, file) => (call === 'ftruncate' ? 'EIO' : segmentSync(call, file));
    await expect(dnc.add(REJECTED)).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
    fileSystem.fail = null;
    expect(dnc.stats().log!.writerState).toBe('stopped');
    await expect(dnc.add('4155550101')).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
    expect(logger.text('error')).toMatch(/log-0000000000000003\.idnclog/);
    expect(logger.text('error')).not.toContain(REJECTED);
    await dnc.close();
    expect(fs.statSync(segmentPath(dir, 3)).size).toBeGreaterThan(LOG_SEGMENT_HEADER_BYTES);

    const refusal = open();
    await expect(refusal).rejects.toMatchObject({ code: 'DATA_CORRUPT' });
    await expect(refusal).rejects.toThrow(/rejected-0000000000000003\.idncrejected.*log-0000000000000003\.idnclog.*idnc repair --yes/s);
    expect(idnc('verify', '--data-dir', dir).status).toBe(1);

    const dryRun = idnc('repair', '--data-dir', dir);
    expect(dryRun.status).toBe(1);
    expect(dryRun.stdout).toMatch(/seq 3 at offset \d+ of log-0000000000000003\.idnclog/);
    const repair = idnc('repair', '--yes', '--data-dir', dir);
    expect(repair.status, repair.stderr).toBe(0);
    expect(fs.statSync(segmentPath(dir, 3)).size).toBe(LOG_SEGMENT_HEADER_BYTES);
    expect(dataFiles().filter((name) => name.includes('rejected'))).toEqual([]);

    const repaired = await open();
    expect(repaired.isBlocked(REJECTED)).toBe(false);
    for (const phone of [...acknowledged, '4155550100']) expect(repaired.isBlocked(phone)).toBe(true);
    expect(repaired.lastSeq).toBe(2);
    await repaired.add('4155550102');
    await repaired.close();
    const reopened = await open();
    expect(reopened.isBlocked('4155550102')).toBe(true);
    expect(reopened.isBlocked(REJECTED)).toBe(false);
    await reopened.close();
  });
});

describe('a batch whose cut is truncated but not flushed', () => {
  it('stops the writer; the next start finds the records gone, flushes the cut again and drops the evidence', async () => {
    const fileSystem = new ScriptedFileSystem();
    const dnc = await open({ fileSystem });
    await dnc.add(numbers(3));
    await dnc.snapshot();
    const segment = path.basename(segmentPath(dir, 2));
    let syncs = 0;
    fileSystem.fail = (call, file) => (call === 'fdatasync' && file === segment && ++syncs >= 2 ? 'EIO' : null);
    await expect(dnc.add(REJECTED)).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
    fileSystem.fail = null;
    expect(dnc.stats().log!.writerState).toBe('stopped');
    await dnc.close();
    const marker = 'rejected-0000000000000002.idncrejected';
    expect(dataFiles()).toContain(marker);
    expect((fs.statSync(path.join(dir, marker)).mode & 0o777).toString(8)).toBe('600');

    const logger = recordingLogger();
    const again = await open({ logger });
    expect(logger.text('warn')).toContain(`removed ${marker}`);
    expect(dataFiles()).not.toContain(marker);
    expect(again.isBlocked(REJECTED)).toBe(false);
    await again.add('4155550100');
    await again.close();
  });
});

describe('a failed write whose cut fails too', () => {
  /** Two changes in one batch; the small one is whole in the half of the batch a failed write leaves. */
  async function failBatch(dnc: DurableDnc, fileSystem: ScriptedFileSystem, alsoFail: (call: Call, file: string) => boolean): Promise<void> {
    const segment = path.basename(segmentPath(dir, 1));
    let segmentWrites = 0;
    const failedWrite = (call: Call, file: string): boolean => call === 'writev' && file === segment && ++segmentWrites === 1;
    fileSystem.fail = (call, file) => (failedWrite(call, file) || alsoFail(call, file) ? 'ENOSPC' : null);
    const small = dnc.add(REJECTED);
    const large = dnc.add(numbers(2000, 6_025_550_000));
    for (const result of await Promise.allSettled([small, large])) {
      expect((result as PromiseRejectedResult).reason).toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
    }
    fileSystem.fail = null;
  }

  it('stops the writer, and a change of the batch that was whole on disk never comes back', async () => {
    const fileSystem = new ScriptedFileSystem();
    const dnc = await open({ fileSystem, storageProbeIntervalMs: 20 });
    await dnc.add(numbers(2));
    await failBatch(dnc, fileSystem, (call) => call === 'ftruncate');
    expect(dnc.stats().log!.writerState).toBe('stopped');
    await dnc.close();

    await expect(open()).rejects.toMatchObject({ code: 'DATA_CORRUPT' });
    const repair = idnc('repair', '--yes', '--data-dir', dir);
    expect(repair.status, repair.stderr).toBe(0);
    const repaired = await open();
    expect(repaired.isBlocked(REJECTED)).toBe(false);
    expect(repaired.count()).toBe(2);
    await repaired.close();
  });

  it('overwrites the records with zeros when not even the evidence can be written, so a restart cuts them', async () => {
    const fileSystem = new ScriptedFileSystem();
    const logger = recordingLogger();
    const dnc = await open({ fileSystem, logger, storageProbeIntervalMs: 20 });
    await dnc.add(numbers(2));
    await failBatch(dnc, fileSystem, (call, file) => call === 'ftruncate' || (call === 'open' && file.includes('rejected')));
    expect(dnc.stats().log!.writerState).toBe('stopped');
    expect(logger.text('error')).toMatch(/zeros/);
    await dnc.close();

    const again = await open();
    expect(again.isBlocked(REJECTED)).toBe(false);
    expect(again.count()).toBe(2);
    await again.close();
  });
});

describe('a durable change that fails to apply to memory', () => {
  it('stops the writer: later writes and snapshots are refused, and a restart does not drop the change', async () => {
    await writeBadBitmapSnapshot(dir);
    let stoppedReason: string | null = null;
    const logger = recordingLogger();
    const dnc = await open({ logger, onWriterStopped: (reason) => (stoppedReason = reason) });
    const before = dnc.add('4155550100');
    const failing = dnc.add(`${BAD_AREA_CODE}5550001`, BAD_LIST);
    const after = dnc.add('4155550101');
    await expect(before).resolves.toMatchObject({ seq: 2 });
    for (const change of [failing, after]) {
      await expect(change).rejects.toMatchObject({ code: 'STORED_NOT_APPLIED' });
      await expect(change).rejects.toThrow(/stored.*restart/);
    }
    expect(stoppedReason).toMatch(/seq 3/);
    expect(dnc.stats().log!.writerState).toBe('stopped');
    expect(dnc.lastSeq).toBe(2);
    await expect(dnc.add('4155550102')).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
    await expect(dnc.snapshot()).rejects.toThrow(/stopped/);
    expect(logger.text('error')).toMatch(/seq 3/);
    await dnc.close();
    expect(dataFiles().filter((name) => name.endsWith('.idncsnap'))).toEqual([path.basename(snapshotPath(dir, 1))]);

    // The change is in the log: the restart replays it, against the same bad bitmap, and refuses.
    await expect(open()).rejects.toMatchObject({ code: 'DATA_CORRUPT' });
    await expect(open()).rejects.toThrow(/snapshot-0+1\.idncsnap.*replaying seq 3/);
  });
});

describe('rotation in fsync none mode (interval mode takes the same path)', () => {
  it('flushes the old segment before it creates the new one', async () => {
    const fileSystem = new ScriptedFileSystem();
    const dnc = await open({ fileSystem, fsync: 'none' });
    await dnc.add(numbers(3));
    await dnc.snapshot();
    fileSystem.journal.length = 0;
    await dnc.add(REJECTED);
    const oldSync = fileSystem.journal.indexOf(`fdatasync ${path.basename(segmentPath(dir, 1))}`);
    const newOpen = fileSystem.journal.indexOf(`open ${path.basename(segmentPath(dir, 2))}`);
    expect(newOpen).toBeGreaterThan(-1);
    expect(oldSync).toBeGreaterThan(-1);
    expect(oldSync).toBeLessThan(newOpen);
    await dnc.close();
  });

  it('stops without creating the new segment when that flush fails', async () => {
    const fileSystem = new ScriptedFileSystem();
    const dnc = await open({ fileSystem, fsync: 'none' });
    await dnc.add(numbers(3));
    await dnc.snapshot();
    const oldName = path.basename(segmentPath(dir, 1));
    fileSystem.fail = (call, file) => (call === 'fdatasync' && file === oldName ? 'EIO' : null);
    await expect(dnc.add(REJECTED)).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
    expect(fs.existsSync(segmentPath(dir, 2))).toBe(false);
    expect(dnc.isBlocked(REJECTED)).toBe(false);
    await expect(dnc.add('4155550200')).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
    fileSystem.fail = null;
    await dnc.close();
  });
});

describe('rotation in fsync interval mode while the interval flush runs', () => {
  /** One change of one number: every such record has the same size, whatever its seq. */
  const change = (index: number): LogChange[] => [{ op: 'add', org: 'default', projId: '', numbers: Float64Array.of(2_125_550_000 + index), ts: 1, keyId: null }];

  /** Every rotation in `journal`: the old segment's last write is followed by its flush before the new segment is opened. */
  function unflushedRotations(journal: readonly string[]): string[] {
    const problems: string[] = [];
    let current: string | null = null;
    let dirty = false;
    for (const line of journal) {
      const [call, file] = line.split(' ') as [string, string];
      if (!file.endsWith('.idnclog')) continue;
      if (call === 'open' && current !== null && file !== current && dirty) problems.push(`${file} opened before the last write to ${current} was flushed`);
      if (call === 'open') [current, dirty] = [file, false];
      else if (file === current && call === 'writev') dirty = true;
      else if (file === current && call === 'fdatasync') dirty = false;
    }
    return problems;
  }

  it('flushes every byte written to the old segment before it creates the new one', async () => {
    const fileSystem = new ScriptedFileSystem();
    const first = segmentPath(dir, 1);
    const fd = await fileSystem.open(first, 'wx');
    await fileSystem.writev(fd, [segmentHeader()], 0);
    const writer = new LogWriter({ dataDir: dir, fileSystem, fsync: 'interval', logger: recordingLogger() }, { firstSeq: 1, fd, size: segmentHeader().length }, 0);
    await writer.append(change(1), () => 1);

    // The interval flush of segment 1 starts and is held; meanwhile one more change is written and a
    // rotation starts. A flush that another one overlaps must not take the bytes it covers twice.
    let releaseIntervalFlush!: () => void;
    const intervalFlushReleased = new Promise<void>((resolve) => (releaseIntervalFlush = resolve));
    let intervalFlushHeld!: () => void;
    const intervalFlushStarted = new Promise<void>((resolve) => (intervalFlushHeld = resolve));
    const name = path.basename(first);
    const flush = fileSystem.fdatasync.bind(fileSystem);
    let intervalFlushDone: Promise<void> | null = null;
    fileSystem.fdatasync = (syncedFd) => {
      const done = flush(syncedFd);
      if (syncedFd === fd) intervalFlushDone ??= done.catch(() => undefined);
      return done;
    };
    fileSystem.hold = (call, file) => {
      if (call !== 'fdatasync' || file !== name) return null;
      if (intervalFlushDone === null) {
        intervalFlushHeld();
        return intervalFlushReleased;
      }
      // A flush that runs beside the held one (if any) lets it finish first.
      releaseIntervalFlush();
      return intervalFlushDone;
    };
    await intervalFlushStarted;
    await writer.append(change(2), () => 1);
    writer.requestRotation();
    const rotated = writer.append(change(3), () => 1);
    await new Promise<void>((resolve) => setImmediate(resolve));
    releaseIntervalFlush();
    await rotated;
    fileSystem.hold = null;
    // Segment 2 holds as many unflushed bytes as the held flush covered: the next rotation flushes it.
    writer.requestRotation();
    await writer.append(change(4), () => 1);
    expect(writer.status.state).toBe('open');
    await writer.close();
    expect(fileSystem.journal.filter((line) => line.startsWith('open log-'))).toHaveLength(3);
    expect(unflushedRotations(fileSystem.journal)).toEqual([]);
  });
});

function flipByte(file: string): void {
  const bytes = fs.readFileSync(file);
  bytes[bytes.length >> 1]! ^= 0x40;
  fs.writeFileSync(file, bytes);
}

describe('the snapshots kept', () => {
  it('are only snapshots known to be good, so the log an older good one needs stays', async () => {
    const first = await open();
    await first.add(numbers(2));
    await first.snapshot();
    await first.add(numbers(2, 4_155_550_000));
    await first.snapshot();
    await first.add(numbers(2, 6_025_550_000));
    await first.close();
    expect(dataFiles().filter((name) => name.endsWith('.idncsnap'))).toHaveLength(2);
    // The newest snapshot goes bad: the next start falls back to the one before it.
    flipByte(snapshotPath(dir, 3));
    const second = await open();
    expect(second.count()).toBe(6);
    await second.add(numbers(2, 7_185_550_000));
    await second.snapshot();
    await second.close();
    // Then the snapshot that process wrote goes bad as well: the older good one must still start.
    flipByte(snapshotPath(dir, 4));
    const third = await open();
    expect(third.count()).toBe(8);
    expect(third.lastSeq).toBe(4);
    await third.close();
  });
});

describe('a snapshot whose write fails', () => {
  it('removes its temporary file through the file-system seam', async () => {
    const fileSystem = new ScriptedFileSystem();
    const dnc = await open({ fileSystem });
    await dnc.add(numbers(3));
    const temporary = `${path.basename(snapshotPath(dir, 1))}.tmp`;
    fileSystem.fail = (call, file) => (call === 'fsync' && file === temporary ? 'EIO' : null);
    await expect(dnc.snapshot()).rejects.toThrow(/EIO/);
    fileSystem.fail = null;
    expect(fileSystem.journal).toContain(`unlink ${temporary}`);
    expect(dataFiles()).not.toContain(temporary);
    await dnc.close();
  });
});

describe('a batch whose durable-seq mark cannot be written or flushed', () => {
  it.each(['writev', 'fdatasync'] as const)('is not acknowledged when the mark\'s %s fails: stored, never shown to a follower, and shown after a restart', async (failedCall) => {
    const fileSystem = new ScriptedFileSystem();
    const dnc = await open({ fileSystem });
    await dnc.add(numbers(2));
    const follower = await openDnc({ dataDir: dir, readOnly: true, logger: recordingLogger(), pollIntervalMs: 10 });
    fileSystem.fail = (call, file) => (call === failedCall && file === 'durable-seq.idncmark' ? 'EIO' : null);
    await expect(dnc.add(REJECTED)).rejects.toMatchObject({ code: 'STORED_NOT_APPLIED' });
    expect(dnc.isBlocked(REJECTED)).toBe(false);
    await expect(dnc.add(numbers(1, 3_125_550_000))).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
    expect(follower.isBlocked(REJECTED)).toBe(false);
    fileSystem.fail = null;
    await follower.close();
    await dnc.close();
    const again = await open();
    expect(again.isBlocked(REJECTED)).toBe(true);
    expect(again.count()).toBe(3);
    await again.close();
  });
});

describe('a batch acknowledged while the next one is written', () => {
  it('overlaps the mark\'s flush with the next batch\'s log flush, and a failed mark flush refuses both batches', async () => {
    const fileSystem = new ScriptedFileSystem();
    const dnc = await open({ fileSystem });
    await dnc.add(numbers(2));
    const [first, second] = [numbers(1, 3_125_550_000)[0]!, numbers(1, 4_125_550_000)[0]!];
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let markFlushHeld!: () => void;
    const markFlushStarted = new Promise<void>((resolve) => (markFlushHeld = resolve));
    fileSystem.hold = (call, file) => {
      if (call !== 'fdatasync' || file !== 'durable-seq.idncmark') return null;
      markFlushHeld();
      return released;
    };
    const firstAdd = dnc.add(first);
    await markFlushStarted;
    const logFlushesBefore = fileSystem.journal.filter((line) => line.startsWith('fdatasync log-')).length;
    const secondAdd = dnc.add(second);
    await vi.waitFor(() => expect(fileSystem.journal.filter((line) => line.startsWith('fdatasync log-')).length).toBe(logFlushesBefore + 1));
    fileSystem.fail = (call, file) => (call === 'fdatasync' && file === 'durable-seq.idncmark' ? 'EIO' : null);
    release();
    await expect(firstAdd).rejects.toMatchObject({ code: 'STORED_NOT_APPLIED' });
    await expect(secondAdd).rejects.toMatchObject({ code: 'STORED_NOT_APPLIED' });
    expect(dnc.isBlocked(first)).toBe(false);
    expect(dnc.isBlocked(second)).toBe(false);
    fileSystem.fail = null;
    fileSystem.hold = null;
    await dnc.close();
    const again = await open();
    expect(again.isBlocked(first)).toBe(true);
    expect(again.isBlocked(second)).toBe(true);
    await again.close();
  });
});
