// The log and snapshot writers' failure paths, driven through the file-system seam: in fsync
// interval/none modes the old segment is flushed before a new one is created; only snapshots known
// to be good count among the ones kept, and a failed snapshot removes its temporary file.

import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DurableDncOptions } from '../../src/durable-dnc.js';
import { DurableDnc } from '../../src/index.js';
import { segmentPath, snapshotPath } from '../../src/persist/data-dir.js';
import { nodeFileSystem, type PersistFileSystem } from '../../src/persist/file-system.js';
import { errnoError, makeTempDir, numbers, recordingLogger, removeDir } from './helpers.js';

const REJECTED = '3125550100';

type Call = 'open' | 'writev' | 'fdatasync' | 'fsync' | 'ftruncate' | 'close' | 'rename' | 'unlink' | 'fsyncDirectory';

/** node:fs with a journal of its calls (kind and file name) and a rule that can fail any of them. */
class ScriptedFileSystem implements PersistFileSystem {
  readonly journal: string[] = [];
  fail: ((call: Call, file: string) => string | null) | null = null;
  private readonly names = new Map<number, string>();

  private check(call: Call, file: string): void {
    this.journal.push(`${call} ${file}`);
    const code = this.fail?.(call, file) ?? null;
    if (code !== null) throw errnoError(code);
  }

  private nameOf(fd: number): string {
    return this.names.get(fd) ?? `fd ${fd}`;
  }

  async open(file: string, flags: string, mode?: number): Promise<number> {
    this.check('open', path.basename(file));
    const fd = await nodeFileSystem.open(file, flags, mode);
    this.names.set(fd, path.basename(file));
    return fd;
  }

  /** A failing write leaves half of its bytes behind, as a real full disk often does. */
  async writev(fd: number, buffers: readonly Buffer[], position: number): Promise<void> {
    try {
      this.check('writev', this.nameOf(fd));
    } catch (error) {
      const bytes = Buffer.concat(buffers);
      await nodeFileSystem.writev(fd, [bytes.subarray(0, bytes.length >> 1)], position);
      throw error;
    }
    await nodeFileSystem.writev(fd, buffers, position);
  }

  async fdatasync(fd: number): Promise<void> {
    this.check('fdatasync', this.nameOf(fd));
    await nodeFileSystem.fdatasync(fd);
  }

  async fsync(fd: number): Promise<void> {
    this.check('fsync', this.nameOf(fd));
    await nodeFileSystem.fsync(fd);
  }

  async ftruncate(fd: number, length: number): Promise<void> {
    this.check('ftruncate', this.nameOf(fd));
    await nodeFileSystem.ftruncate(fd, length);
  }

  async close(fd: number): Promise<void> {
    this.check('close', this.nameOf(fd));
    this.names.delete(fd);
    await nodeFileSystem.close(fd);
  }

  async rename(from: string, to: string): Promise<void> {
    this.check('rename', path.basename(to));
    await nodeFileSystem.rename(from, to);
  }

  async unlink(file: string): Promise<void> {
    this.check('unlink', path.basename(file));
    await nodeFileSystem.unlink(file);
  }

  async fsyncDirectory(dir: string): Promise<void> {
    this.check('fsyncDirectory', '<dir>');
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

function dataFiles(): string[] {
  return fs.readdirSync(dir).filter((name) => name !== 'writer.lock').sort();
}

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
