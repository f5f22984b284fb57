// Reading and writing `<data-dir>/keys.json`. Writes replace the file atomically (temp file, fsync,
// rename, fsync of the directory) with mode 0600, so a running server that re-reads it never sees
// half a file. Read-modify-write by the `keys` commands is serialised by a lock file created with
// O_EXCL; a lock left by a crashed command is taken over once it is stale.

import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { DIRECTORY_MODE_OWNER_ONLY, KEYS_FILE_MODE, KEYS_FILE_NAME, KEYS_LOCK_STALE_MS, KEYS_LOCK_WAIT_MS } from '../constants.js';
import { KeysFileError, parseKeysFile, type KeysFile } from './key-records.js';

const LOCK_RETRY_MS = 25;

export function keysFilePath(dataDir: string): string {
  return join(dataDir, KEYS_FILE_NAME);
}

/** The checked content of the key file, or undefined when there is none yet. */
export async function readKeysFile(path: string): Promise<KeysFile | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new KeysFileError(`cannot read ${path}: ${(error as Error).message}`);
  }
  return parseKeysFile(text, path);
}

export async function writeKeysFile(path: string, file: KeysFile): Promise<void> {
  const directory = dirname(path);
  await mkdir(directory, { recursive: true, mode: DIRECTORY_MODE_OWNER_ONLY });
  const temp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const handle = await open(temp, 'wx', KEYS_FILE_MODE);
  try {
    await handle.writeFile(`${JSON.stringify(file, null, 2)}\n`, 'utf8');
    await handle.chmod(KEYS_FILE_MODE);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await unlink(temp).catch(() => undefined);
    throw error;
  }
  await handle.close();
  await rename(temp, path);
  const dir = await open(directory, 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/**
 * Runs `fn` holding `<keys file>.lock`; waits up to KEYS_LOCK_WAIT_MS for another holder, calling
 * `onBusy` each time it finds the lock held (tests wait on it).
 */
export async function withKeysLock<T>(path: string, fn: () => Promise<T>, onBusy?: () => void): Promise<T> {
  await mkdir(dirname(path), { recursive: true, mode: DIRECTORY_MODE_OWNER_ONLY });
  const lockPath = `${path}.lock`;
  const deadline = Date.now() + KEYS_LOCK_WAIT_MS;
  for (;;) {
    try {
      const handle = await open(lockPath, 'wx', KEYS_FILE_MODE);
      await handle.writeFile(String(process.pid));
      await handle.close();
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      if (await isStale(lockPath)) {
        await unlink(lockPath).catch(() => undefined);
        continue;
      }
      if (Date.now() > deadline) {
        throw new KeysFileError(`${lockPath} is held by another idnc keys command; retry, or remove it if none runs`);
      }
      onBusy?.();
      await new Promise((resolve) => setTimeout(resolve, LOCK_RETRY_MS));
    }
  }
  try {
    return await fn();
  } finally {
    await unlink(lockPath).catch(() => undefined);
  }
}

async function isStale(lockPath: string): Promise<boolean> {
  try {
    return Date.now() - (await stat(lockPath)).mtimeMs > KEYS_LOCK_STALE_MS;
  } catch {
    return false;
  }
}
