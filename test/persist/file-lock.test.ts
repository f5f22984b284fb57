// The writer lock's kernel lock is taken by util-linux `flock`: without that command the start must
// fail with a typed error that names what to install, not a bug report with a stack.

import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tryLockFile } from '../../src/persist/file-lock.js';
import { makeTempDir, removeDir } from './helpers.js';

let dir: string;
let savedPath: string | undefined;
beforeEach(async () => {
  dir = await makeTempDir();
  savedPath = process.env.PATH;
});
afterEach(async () => {
  process.env.PATH = savedPath;
  await removeDir(dir);
});

describe('tryLockFile', () => {
  it('takes and releases the lock, and a second taker finds it held', async () => {
    const file = path.join(dir, 'writer.lock');
    const lock = await tryLockFile(file);
    expect(lock).not.toBeNull();
    expect(await tryLockFile(file, 0)).toBeNull();
    await lock!.release();
    const again = await tryLockFile(file, 0);
    expect(again).not.toBeNull();
    await again!.release();
  });

  it('fails with STORAGE_UNAVAILABLE naming util-linux when flock cannot run', async () => {
    const empty = path.join(dir, 'no-commands');
    fs.mkdirSync(empty);
    process.env.PATH = empty;
    await expect(tryLockFile(path.join(dir, 'writer.lock'))).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE', message: expect.stringContaining('util-linux') });
  });
});
