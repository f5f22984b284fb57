// examples/dialer.ts runs as the README shows it (node + tsx, a child process): it skips numbers on
// the list and invalid ones, dials the others, and reports how many of each.

import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { openDnc } from '../../src/index.js';
import { makeTempDir, removeDir } from '../persist/helpers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const run = promisify(execFile);
let dir: string;

beforeEach(async () => {
  dir = await makeTempDir('idnc-dialer-');
});
afterEach(async () => {
  await removeDir(dir);
});

it('checks each number right before dialing and skips the listed and invalid ones', async () => {
  const dataDir = path.join(dir, 'data');
  const writer = await openDnc({ dataDir });
  await writer.add('5039367187');
  await writer.add('7075276405', { projId: 'spring' });
  await writer.close();
  const callList = path.join(dir, 'calls.txt');
  fs.writeFileSync(callList, ['5039367187', '2125550100', '7075276405', '12345', '3125550199'].join('\n'));

  const { stdout } = await run(
    process.execPath,
    ['--import', 'tsx', 'examples/dialer.ts', '--data-dir', dataDir, '--call-list', callList, '--project', 'spring', '--dial-ms', '1'],
    { cwd: ROOT, timeout: 30_000 },
  );
  const lines = stdout.trim().split('\n');
  expect(lines[0]).toBe('call 1/5: on the do-not-call list, skipped');
  expect(lines[1]).toMatch(/^call 2\/5: dialing \(list at seq 2, \d+ ms behind\)$/);
  expect(lines[2]).toBe('call 3/5: on the do-not-call list, skipped');
  expect(lines[3]).toBe('call 4/5: not a valid number (INVALID_PHONE), skipped');
  expect(lines[4]).toMatch(/^call 5\/5: dialing/);
  expect(lines.at(-1)).toBe('done: 2 dialed, 3 skipped');
  expect(stdout).not.toMatch(/\d{10}/);
}, 60_000);
