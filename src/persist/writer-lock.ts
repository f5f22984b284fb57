// One writer per data directory. The lock is a kernel lock (flock, see file-lock.ts) on
// `writer.lock`, held for the writer's whole life and released by the kernel when it exits or is
// killed: a supervisor that restarts a killed writer at once finds it free, whatever pid or host
// name either process had, and two starters racing for it never both win. The file's content (pid,
// host, start time) only names the holder in the error a second writer gets. Read-only followers
// never lock.

import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import type { EngineLogger } from '../logger.js';
import { IdncError } from '../errors.js';
import { WRITER_LOCK_FILE } from './data-dir.js';
import { describeLockHolder, type FileLock } from './file-lock.js';
import type { PersistFileSystem } from './file-system.js';

export interface LockHolder {
  readonly pid: number;
  readonly host: string;
  readonly startedAt: string;
}

export interface WriterLock {
  readonly path: string;
  release(): Promise<void>;
}

function describe(holder: LockHolder | null): string {
  if (holder === null) return 'a process that has not written its name yet';
  return `pid ${holder.pid} on host ${holder.host}, started ${holder.startedAt}`;
}

function readHolder(lockPath: string): LockHolder | null {
  try {
    const value = JSON.parse(fs.readFileSync(lockPath, 'utf8')) as Partial<LockHolder>;
    if (typeof value.pid !== 'number' || typeof value.host !== 'string' || typeof value.startedAt !== 'string') return null;
    return { pid: value.pid, host: value.host, startedAt: value.startedAt };
  } catch {
    return null;
  }
}

/** Takes the writer lock of `dataDir` or throws DATA_DIR_LOCKED naming the holder. */
export async function acquireWriterLock(dataDir: string, fileSystem: PersistFileSystem, logger: EngineLogger): Promise<WriterLock> {
  const lockPath = path.join(dataDir, WRITER_LOCK_FILE);
  const lock: FileLock | null = await fileSystem.tryLockExclusive(lockPath);
  if (lock === null) {
    throw new IdncError(
      'DATA_DIR_LOCKED',
      `data directory ${dataDir} is locked by another writer: ${describe(readHolder(lockPath))} (lock file ${lockPath})`,
    );
  }
  const self: LockHolder = { pid: process.pid, host: os.hostname(), startedAt: new Date().toISOString() };
  try {
    describeLockHolder(lockPath, `${JSON.stringify(self)}\n`);
  } catch (error) {
    logger.warn(`cannot write the holder's name into ${lockPath} (${(error as Error).message}); the lock is held all the same`);
  }
  return { path: lockPath, release: () => lock.release() };
}
