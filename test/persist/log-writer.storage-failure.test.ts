// Storage failures at the library level: a failed append (injected ENOSPC/EIO, and a real full
// tmpfs when this machine lets us mount one) rejects with STORAGE_UNAVAILABLE, applies nothing,
// keeps reads working and resumes once the disk takes writes again; a failed fdatasync stops
// writes for good and is reported through logger.error. Nothing acknowledged is lost.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type DurableDnc, openDnc } from '../../src/index.js';
import { FaultyFileSystem, makeTempDir, numbers, recordingLogger, removeDir } from './helpers.js';

let dir: string;
beforeEach(async () => {
  dir = await makeTempDir();
});
afterEach(async () => {
  await removeDir(dir);
});

async function writable(dnc: DurableDnc, phone: string): Promise<boolean> {
  try {
    await dnc.add(phone);
    return true;
  } catch (error) {
    if ((error as { code?: string }).code !== 'STORAGE_UNAVAILABLE') throw error;
    return false;
  }
}

describe.each(['ENOSPC', 'EIO'])('a failed append (%s)', (code) => {
  it('rejects with STORAGE_UNAVAILABLE, applies nothing, keeps reads, resumes after the disk recovers', async () => {
    const fileSystem = new FaultyFileSystem();
    const logger = recordingLogger();
    const dnc = await openDnc({ dataDir: dir, logger, fileSystem, storageProbeIntervalMs: 20 });
    await dnc.add(numbers(3));
    fileSystem.failWrites = code;
    const failing = numbers(2, 3_125_550_000);
    const results = await Promise.allSettled([dnc.add(failing[0]!), dnc.add(failing[1]!)]);
    for (const result of results) {
      expect(result.status).toBe('rejected');
      expect((result as PromiseRejectedResult).reason).toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
    }
    expect(dnc.isBlocked(failing[0]!)).toBe(false);
    expect(dnc.count()).toBe(3);
    expect(dnc.status(numbers(1))[0]!.onList).toBe(true);
    await expect(dnc.add('4155550100')).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
    expect(logger.text('error')).toContain(code);
    expect(logger.text('error')).not.toContain(failing[0]!);

    fileSystem.failWrites = null;
    await vi.waitFor(async () => expect(await writable(dnc, '4155550101')).toBe(true), { timeout: 5000, interval: 10 });
    expect(logger.text('warn')).toContain('takes writes again');
    const acknowledged = await dnc.add('4155550102');
    await dnc.close();

    const again = await openDnc({ dataDir: dir, logger: recordingLogger() });
    expect(again.count()).toBe(5);
    expect(again.isBlocked(failing[0]!)).toBe(false);
    expect(again.isBlocked('4155550100')).toBe(false);
    expect(again.isBlocked('4155550102')).toBe(true);
    expect(again.lastSeq).toBe(acknowledged.seq);
    await again.close();
  });
});

describe('a failed fdatasync', () => {
  it('is not retried: every later write is refused and the failure is logged loudly', async () => {
    const fileSystem = new FaultyFileSystem();
    const logger = recordingLogger();
    const dnc = await openDnc({ dataDir: dir, logger, fileSystem, storageProbeIntervalMs: 20 });
    await dnc.add(numbers(2));
    fileSystem.failFdatasync = 'EIO';
    // Timers made from here on are fake: a retry (a probe, as after a failed append) would be one.
    vi.useFakeTimers({ toFake: ['setTimeout'] });
    try {
      await expect(dnc.add('3125550100')).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
    expect(dnc.isBlocked('3125550100')).toBe(false);
    fileSystem.failFdatasync = null;
    await expect(dnc.add('3125550101')).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
    await expect(dnc.add('3125550101')).rejects.toThrow(/fdatasync/);
    expect(logger.text('error')).toMatch(/STORAGE FAILURE.*fdatasync.*EIO/);
    expect(dnc.count()).toBe(2);
    await dnc.close();
    const again = await openDnc({ dataDir: dir, logger: recordingLogger() });
    expect(again.isBlocked(numbers(1)[0]!)).toBe(true);
    await again.add('3125550102');
    await again.close();
  });
});

describe('a real full file system (tmpfs)', () => {
  it('refuses writes while full and resumes once space is freed', async (context) => {
    const mountPoint = path.join(dir, 'tmpfs');
    fs.mkdirSync(mountPoint);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mountPoint], { stdio: 'pipe' });
    } catch (error) {
      const reason = `cannot mount a tmpfs here (${String((error as { stderr?: Buffer }).stderr ?? error).trim()})`;
      console.log(`skipping the tmpfs disk-full test: ${reason}`);
      context.skip();
      return;
    }
    try {
      const dataDir = path.join(mountPoint, 'data');
      const logger = recordingLogger();
      const dnc = await openDnc({ dataDir, logger, storageProbeIntervalMs: 20 });
      await dnc.add(numbers(50));
      const filler = path.join(mountPoint, 'filler');
      const chunk = Buffer.alloc(64 * 1024, 1);
      const fd = fs.openSync(filler, 'w');
      try {
        for (;;) fs.writeSync(fd, chunk);
      } catch (error) {
        expect((error as NodeJS.ErrnoException).code).toBe('ENOSPC');
      } finally {
        fs.closeSync(fd);
      }
      const big = Array.from({ length: 20_000 }, (_, i) => String(3_002_000_000 + i * 11));
      await expect(dnc.add(big)).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
      expect(dnc.count()).toBe(50);
      expect(dnc.isBlocked(big[0]!)).toBe(false);
      fs.rmSync(filler);
      await vi.waitFor(async () => expect(await writable(dnc, '4155550100')).toBe(true), { timeout: 5000, interval: 10 });
      const acknowledged = await dnc.add(big);
      expect(acknowledged.changed).toBe(20_000);
      await dnc.close();
      const again = await openDnc({ dataDir, logger: recordingLogger() });
      expect(again.count()).toBe(50 + 1 + 20_000);
      await again.close();
    } finally {
      execFileSync('umount', [mountPoint]);
    }
  });
});
