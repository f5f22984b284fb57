// An exclusive lock on a file that the kernel releases when the holding process dies, whatever its
// pid or host name: flock(2) on an open file description this process keeps open. Node has no
// flock binding, so the lock is taken by util-linux's `flock -x -w <seconds> 3` run once on a duplicate of
// our descriptor: a flock belongs to the open file description, which outlives the helper because
// this process still holds it. Two starters racing both open the file; exactly one flock succeeds.
// The file is never removed (unlinking a lock file lets a third process lock a new inode while a
// second still holds the old one), so a lock is released only by closing its descriptor.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import { FILE_MODE_OWNER_ONLY, WRITER_LOCK_WAIT_MS } from '../constants.js';
import { IdncError } from '../errors.js';

export interface FileLock {
  /** Closes the descriptor: the kernel releases the lock. */
  release(): Promise<void>;
}

/** Exit status asked of `flock` when the lock stayed taken for the whole wait (sysexits EX_TEMPFAIL). */
const FLOCK_TIMEOUT_STATUS = 75;

/**
 * Takes the lock of `lockPath` (created if missing), or returns null when another holder keeps it
 * for `waitMs`: the wait covers a holder that was just killed but is not dead yet (a signal is
 * delivered after kill() returns), so a supervisor's immediate restart never loses that race.
 */
export async function tryLockFile(lockPath: string, waitMs = WRITER_LOCK_WAIT_MS): Promise<FileLock | null> {
  const fd = fs.openSync(lockPath, fs.constants.O_RDWR | fs.constants.O_CREAT, FILE_MODE_OWNER_ONLY);
  let status: number | null;
  let stderr = '';
  try {
    const args = ['--exclusive', '--wait', String(waitMs / 1000), '--conflict-exit-code', String(FLOCK_TIMEOUT_STATUS), '3'];
    const helper = spawn('flock', args, { stdio: ['ignore', 'ignore', 'pipe', fd] });
    helper.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    [status] = (await once(helper, 'exit')) as [number | null];
  } catch (error) {
    fs.closeSync(fd);
    throw new IdncError('STORAGE_UNAVAILABLE', `cannot lock ${lockPath}: the util-linux flock command failed to run (${(error as Error).message}); install util-linux`);
  }
  if (status !== 0) {
    fs.closeSync(fd);
    if (status === FLOCK_TIMEOUT_STATUS) return null;
    throw new IdncError('STORAGE_UNAVAILABLE', `cannot lock ${lockPath} with util-linux flock (exit status ${String(status)}: ${stderr.trim()})`);
  }
  let open = true;
  return {
    async release() {
      if (!open) return;
      open = false;
      fs.closeSync(fd);
    },
  };
}

/** Replaces the whole content of the locked file (who holds it, for the error a second starter gets). */
export function describeLockHolder(lockPath: string, text: string): void {
  const fd = fs.openSync(lockPath, fs.constants.O_WRONLY | fs.constants.O_CREAT, FILE_MODE_OWNER_ONLY);
  try {
    fs.ftruncateSync(fd, 0);
    fs.writeSync(fd, text, 0);
  } finally {
    fs.closeSync(fd);
  }
}
