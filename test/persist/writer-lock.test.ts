// The writer lock across processes: several starters racing for one data directory (each a separate
// process with its own descriptor, as real starters are) never both hold it, and a holder's death
// frees it whatever the lock file says.

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { makeTempDir, removeDir } from './helpers.js';

const LOCK_MODULE = fileURLToPath(new URL('../../dist/persist/writer-lock.js', import.meta.url));
const FILE_SYSTEM_MODULE = fileURLToPath(new URL('../../dist/persist/file-system.js', import.meta.url));
const silent = '{ info() {}, warn() {}, error() {} }';

/** A process that tries the lock, prints `held` or the error code, and keeps what it got until its stdin closes. */
function starter(dir: string): { child: ChildProcess; said: Promise<string> } {
  const script = `
    const { acquireWriterLock } = await import(${JSON.stringify(LOCK_MODULE)});
    const { nodeFileSystem } = await import(${JSON.stringify(FILE_SYSTEM_MODULE)});
    try { await acquireWriterLock(${JSON.stringify(dir)}, nodeFileSystem, ${silent}); process.stdout.write('held\\n'); }
    catch (error) { process.stdout.write(String(error.code) + '\\n'); }
    process.stdin.resume();`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(child);
  const said = new Promise<string>((resolve) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('\n')) resolve(out.trim());
    });
  });
  return { child, said };
}

let dir: string;
const children: ChildProcess[] = [];

beforeEach(async () => {
  dir = await makeTempDir();
});

afterEach(async () => {
  for (const child of children.splice(0)) {
    child.kill('SIGKILL');
    if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
  }
  await removeDir(dir);
});

it('lets exactly one of several racing processes hold the lock, even over a dead holder lock file', async () => {
  const dead = JSON.stringify({ pid: 2 ** 22 + 1, host: os.hostname(), startedAt: new Date().toISOString() });
  fs.writeFileSync(path.join(dir, 'writer.lock'), dead);
  const starters = Array.from({ length: 4 }, () => starter(dir));
  const answers = await Promise.all(starters.map((s) => s.said));
  expect(answers.filter((answer) => answer === 'held')).toHaveLength(1);
  expect(answers.filter((answer) => answer === 'DATA_DIR_LOCKED')).toHaveLength(3);
});

it('is free for the next starter once the holder is killed', async () => {
  const first = starter(dir);
  expect(await first.said).toBe('held');
  first.child.kill('SIGKILL');
  await once(first.child, 'exit');
  expect(await starter(dir).said).toBe('held');
});
