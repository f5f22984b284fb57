// Disk full at the HTTP level: the built server on a 2 MiB tmpfs answers an add with 503
// STORAGE_UNAVAILABLE while the file system is full, keeps answering reads, loses nothing, and
// accepts writes again once space is freed. Skips itself (with the reason) where mounting a tmpfs
// is not permitted.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { firstKeyOf, freePort, killAll, pdnc, printed, startServer, stopGracefully, waitUntilServing } from './server-process.js';

afterAll(killAll);

function fillUp(file: string): void {
  const fd = fs.openSync(file, 'w');
  try {
    for (;;) fs.writeSync(fd, Buffer.alloc(64 * 1024, 1));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    fs.closeSync(fd);
  }
}

it('answers 503 STORAGE_UNAVAILABLE on a full disk and resumes after space is freed', async (context) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'idnc-http-full-'));
  const mountPoint = path.join(root, 'tmpfs');
  fs.mkdirSync(mountPoint);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mountPoint], { stdio: 'pipe' });
  } catch (error) {
    console.log(`skipping the HTTP disk-full test: cannot mount a tmpfs here (${String((error as { stderr?: Buffer }).stderr ?? error).trim()})`);
    fs.rmSync(root, { recursive: true, force: true });
    context.skip();
    return;
  }
  try {
    const dataDir = path.join(mountPoint, 'data');
    const server = startServer(dataDir, await freePort());
    await waitUntilServing(server);
    const key = await firstKeyOf(server);
    expect((await pdnc(server.port, key, { actionType: 'add', phoneList: '2125550100,2125550101' })).status).toBe(200);
    fillUp(path.join(mountPoint, 'filler'));
    const big = Array.from({ length: 20_000 }, (_, i) => String(3_002_000_000 + i * 11)).join(',');
    const refused = await pdnc(server.port, key, { actionType: 'add', phoneList: big });
    expect(refused.status).toBe(503);
    expect(refused.body).toContain('STORAGE_UNAVAILABLE');
    expect((await pdnc(server.port, key, { actionType: 'count' })).body).toBe('2');
    fs.rmSync(path.join(mountPoint, 'filler'));
    // The writer probes the disk while it refuses writes and logs this line when the probe succeeds.
    await printed(server, 'stderr', /the disk takes writes again: accepting changes/);
    expect((await pdnc(server.port, key, { actionType: 'add', phoneList: big })).status).toBe(200);
    expect((await pdnc(server.port, key, { actionType: 'count' })).body).toBe('20002');
    expect(await stopGracefully(server)).toBe(0);
  } finally {
    await killAll();
    execFileSync('umount', [mountPoint]);
    fs.rmSync(root, { recursive: true, force: true });
  }
}, 60_000);
