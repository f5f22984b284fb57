// Test helpers for the persistence tests: temp data directories, a recording logger, and a file
// system seam whose calls can be made to fail (ENOSPC, EIO) or wait at an exact point.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { EngineLogger } from '../../src/logger.js';
import { DURABLE_MARK_FILE } from '../../src/persist/data-dir.js';
import { nodeFileSystem, type PersistFileSystem } from '../../src/persist/file-system.js';

export async function makeTempDir(prefix = 'idnc-persist-'): Promise<string> {
  return fs.promises.mkdtemp(path.join(os.tmpdir(), prefix));
}

/** A temp dir in memory (/dev/shm) where the machine has one: the fault simulator writes many small files. */
export async function makeMemoryTempDir(prefix = 'idnc-sim-'): Promise<string> {
  const base = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
  return fs.promises.mkdtemp(path.join(base, prefix));
}

export async function removeDir(dir: string): Promise<void> {
  await fs.promises.rm(dir, { recursive: true, force: true });
}

export interface RecordingLogger extends EngineLogger {
  readonly lines: { level: 'info' | 'warn' | 'error'; message: string }[];
  text(level?: 'info' | 'warn' | 'error'): string;
}

export function recordingLogger(): RecordingLogger {
  const lines: RecordingLogger['lines'] = [];
  return {
    lines,
    info: (message) => lines.push({ level: 'info', message }),
    warn: (message) => lines.push({ level: 'warn', message }),
    error: (message) => lines.push({ level: 'error', message }),
    text: (level) => lines.filter((line) => level === undefined || line.level === level).map((line) => line.message).join('\n'),
  };
}

export function errnoError(code: string): NodeJS.ErrnoException {
  const error = new Error(`${code}: injected failure`) as NodeJS.ErrnoException;
  error.code = code;
  return error;
}

/** Every call goes to node:fs: the fault seams below override only the calls they fail or count. */
class PassThroughFileSystem implements PersistFileSystem {
  open(file: string, flags: string): Promise<number> { return nodeFileSystem.open(file, flags); }
  writev(fd: number, buffers: readonly Buffer[], position: number): Promise<void> { return nodeFileSystem.writev(fd, buffers, position); }
  fdatasync(fd: number): Promise<void> { return nodeFileSystem.fdatasync(fd); }
  fsync(fd: number): Promise<void> { return nodeFileSystem.fsync(fd); }
  ftruncate = nodeFileSystem.ftruncate;
  close = nodeFileSystem.close;
  rename = nodeFileSystem.rename;
  unlink = nodeFileSystem.unlink;
  fsyncDirectory = nodeFileSystem.fsyncDirectory;
  tryLockExclusive = nodeFileSystem.tryLockExclusive;
}

/** A real full disk or a failing one often takes part of a write before failing: leave half of it behind. */
async function tearWrite(fd: number, buffers: readonly Buffer[], position: number, code: string): Promise<never> {
  const bytes = Buffer.concat(buffers);
  await nodeFileSystem.writev(fd, [bytes.subarray(0, bytes.length >> 1)], position);
  throw errnoError(code);
}

/**
 * A node:fs seam with switches: fail writes or fdatasyncs with an errno, count fdatasyncs, gate them,
 * and tell a test when the Nth fdatasync has started (an event to wait on instead of a sleep). The
 * switches leave the durable-seq mark alone (its own flushes are counted in `markFlushes`): the
 * tests that use them are about the log and snapshots; log-writer.test.ts fails the mark itself.
 */
export class FaultyFileSystem extends PassThroughFileSystem {
  failWrites: string | null = null;
  failFdatasync: string | null = null;
  fdatasyncCalls = 0;
  markFlushes = 0;
  /** The most fdatasyncs that were in flight at once (group commit flushes one batch at a time). */
  fdatasyncsInFlightMax = 0;
  /** When set, each fdatasync waits for this promise before flushing. */
  fdatasyncGate: Promise<void> | null = null;
  private fdatasyncsInFlight = 0;
  private readonly startWaiters: { count: number; resolve: () => void }[] = [];
  private readonly markFds = new Set<number>();

  override async open(file: string, flags: string): Promise<number> {
    const fd = await nodeFileSystem.open(file, flags);
    if (path.basename(file) === DURABLE_MARK_FILE) this.markFds.add(fd);
    else this.markFds.delete(fd);
    return fd;
  }

  override async writev(fd: number, buffers: readonly Buffer[], position: number): Promise<void> {
    if (this.failWrites !== null && !this.markFds.has(fd)) return tearWrite(fd, buffers, position, this.failWrites);
    await nodeFileSystem.writev(fd, buffers, position);
  }

  /** Resolves once `count` fdatasyncs (counted since this seam was made) have started. */
  fdatasyncStarted(count: number): Promise<void> {
    if (this.fdatasyncCalls >= count) return Promise.resolve();
    return new Promise((resolve) => this.startWaiters.push({ count, resolve }));
  }

  override async fdatasync(fd: number): Promise<void> {
    if (this.markFds.has(fd)) {
      this.markFlushes++;
      return nodeFileSystem.fdatasync(fd);
    }
    this.fdatasyncCalls++;
    this.fdatasyncsInFlight++;
    this.fdatasyncsInFlightMax = Math.max(this.fdatasyncsInFlightMax, this.fdatasyncsInFlight);
    for (const waiter of this.startWaiters.filter((w) => w.count <= this.fdatasyncCalls)) {
      this.startWaiters.splice(this.startWaiters.indexOf(waiter), 1);
      waiter.resolve();
    }
    try {
      if (this.fdatasyncGate !== null) await this.fdatasyncGate;
      if (this.failFdatasync !== null) throw errnoError(this.failFdatasync);
      await nodeFileSystem.fdatasync(fd);
    } finally {
      this.fdatasyncsInFlight--;
    }
  }
}

/** `count` distinct valid numbers from `start` on (10 digits, area and exchange not starting 0/1). */
export function numbers(count: number, start = 2_125_550_000): string[] {
  return Array.from({ length: count }, (_, i) => String(start + i));
}

/** node:fs with the Nth call of one kind failing (a write leaving half its bytes behind), counting the calls of that kind. */
export class FailingFileSystem extends PassThroughFileSystem {
  calls = 0;

  constructor(private readonly kind: 'writev' | 'fdatasync' | 'fsync', private readonly failing = 0, private readonly code = 'EIO') {
    super();
  }

  override async writev(fd: number, buffers: readonly Buffer[], position: number): Promise<void> {
    if (this.fails('writev')) return tearWrite(fd, buffers, position, this.code);
    await nodeFileSystem.writev(fd, buffers, position);
  }

  override async fdatasync(fd: number): Promise<void> {
    if (this.fails('fdatasync')) throw errnoError(this.code);
    await nodeFileSystem.fdatasync(fd);
  }

  override async fsync(fd: number): Promise<void> {
    if (this.fails('fsync')) throw errnoError(this.code);
    await nodeFileSystem.fsync(fd);
  }

  private fails(kind: FailingFileSystem['kind']): boolean {
    return kind === this.kind && ++this.calls === this.failing;
  }
}
