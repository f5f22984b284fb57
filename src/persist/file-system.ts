// The file-system seam of the persistence layer: every write, flush, truncate and rename the log
// writer and snapshot writer do, and the writer lock, go through this interface, so tests can inject a full disk or a
// failing fsync at an exact call without a real broken disk. `nodeFileSystem` is the real one.

import fs from 'node:fs';
import { promisify } from 'node:util';
import { FILE_MODE_OWNER_ONLY } from '../constants.js';
import { tryLockFile, type FileLock } from './file-lock.js';

export interface PersistFileSystem {
  /** Opens a file and returns its descriptor (flags as in fs.open: 'r', 'r+', 'wx', ...); a new file is owner-only. */
  open(path: string, flags: string): Promise<number>;
  /** Writes all of `buffers` at `position` (positional, so a failed write never moves an offset). */
  writev(fd: number, buffers: readonly Buffer[], position: number): Promise<void>;
  fdatasync(fd: number): Promise<void>;
  fsync(fd: number): Promise<void>;
  ftruncate(fd: number, length: number): Promise<void>;
  close(fd: number): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  /** Flushes a directory, so a create/rename/unlink in it survives power loss. */
  fsyncDirectory(path: string): Promise<void>;
  /**
   * Takes an exclusive lock on `path` (created if missing) that is released when this process dies
   * (the kernel's flock in the real one) or when released; null when another holder has it.
   */
  tryLockExclusive(path: string): Promise<FileLock | null>;
}

const writevAsync = promisify(fs.writev);
const fdatasyncAsync = promisify(fs.fdatasync);
const fsyncAsync = promisify(fs.fsync);
const ftruncateAsync = promisify(fs.ftruncate);
const closeAsync = promisify(fs.close);
const openAsync = promisify(fs.open);

async function writevAll(fd: number, buffers: readonly Buffer[], position: number): Promise<void> {
  let pending = buffers.filter((buffer) => buffer.length > 0);
  let offset = position;
  while (pending.length > 0) {
    const { bytesWritten: written } = await writevAsync(fd, pending, offset);
    offset += written;
    pending = dropWritten(pending, written);
  }
}

/** The part of `buffers` not yet written after a (possibly short) write of `written` bytes. */
function dropWritten(buffers: Buffer[], written: number): Buffer[] {
  let left = written;
  let index = 0;
  while (index < buffers.length && left >= buffers[index]!.length) left -= buffers[index++]!.length;
  const rest = buffers.slice(index);
  if (rest.length > 0 && left > 0) rest[0] = rest[0]!.subarray(left);
  return rest;
}

export const nodeFileSystem: PersistFileSystem = {
  open: (path, flags) => openAsync(path, flags, FILE_MODE_OWNER_ONLY),
  writev: writevAll,
  fdatasync: (fd) => fdatasyncAsync(fd),
  fsync: (fd) => fsyncAsync(fd),
  ftruncate: (fd, length) => ftruncateAsync(fd, length),
  close: (fd) => closeAsync(fd),
  rename: (from, to) => fs.promises.rename(from, to),
  unlink: (path) => fs.promises.unlink(path),
  tryLockExclusive: (path) => tryLockFile(path),
  async fsyncDirectory(path) {
    const fd = await openAsync(path, 'r');
    try {
      await fsyncAsync(fd);
    } finally {
      await closeAsync(fd);
    }
  },
};
