// One writer per data directory. The lock is a file created with O_EXCL holding the holder's pid,
// host and start time, so a second writer fails at once with an error naming the holder. A lock
// left by a killed writer (same host, pid no longer alive) is taken over with a warning: after
// `kill -9` the operator must not have to delete files by hand. Read-only followers never lock.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { EngineLogger } from '../engine.js';
import { IdncError } from '../errors.js';
import { WRITER_LOCK_FILE } from './data-dir.js';

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
  if (holder === null) return 'an unknown process (unreadable lock file)';
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

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function tryCreate(lockPath: string, holder: LockHolder): boolean {
  try {
    const fd = fs.openSync(lockPath, 'wx');
    try {
      fs.writeSync(fd, `${JSON.stringify(holder)}\n`);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

/** Takes the writer lock of `dataDir` or throws DATA_DIR_LOCKED naming the holder. */
export function acquireWriterLock(dataDir: string, logger: EngineLogger): WriterLock {
  const lockPath = path.join(dataDir, WRITER_LOCK_FILE);
  const self: LockHolder = { pid: process.pid, host: os.hostname(), startedAt: new Date().toISOString() };
  if (!tryCreate(lockPath, self)) {
    const holder = readHolder(lockPath);
    const stale = holder !== null && holder.host === self.host && holder.pid !== self.pid && !processAlive(holder.pid);
    if (!stale) {
      throw new IdncError(
        'DATA_DIR_LOCKED',
        `data directory ${dataDir} is locked by another writer: ${describe(holder)} (lock file ${lockPath})`,
      );
    }
    logger.warn(`taking over the stale writer lock of ${describe(holder)}: that process is no longer running`);
    fs.rmSync(lockPath, { force: true });
    if (!tryCreate(lockPath, self)) {
      throw new IdncError('DATA_DIR_LOCKED', `data directory ${dataDir} was locked by another writer during takeover: ${describe(readHolder(lockPath))}`);
    }
  }
  let released = false;
  return {
    path: lockPath,
    async release() {
      if (released) return;
      released = true;
      const holder = readHolder(lockPath);
      if (holder !== null && holder.pid === self.pid && holder.startedAt === self.startedAt) await fs.promises.rm(lockPath, { force: true });
    },
  };
}
