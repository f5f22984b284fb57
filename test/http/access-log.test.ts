// `idnc serve` (the built CLI, as users run it) logs successful requests only with --access-log or
// IDNC_ACCESS_LOG=1; errors always. Either way no phone number or key reaches stderr.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';

const cli = new URL('../../dist/cli/main.js', import.meta.url).pathname;
const PDNC = '/app/main/rpc/pdnc';
const NUMBER = '5039367187';

const children: ChildProcess[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

/** Starts the server, sends one successful and one refused status request, stops it; returns stderr. */
async function serveAndLog(flags: string[], accessLogEnv: string | undefined): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'idnc-access-log-'));
  dirs.push(dir);
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of ['IDNC_HOST', 'IDNC_PORT', 'IDNC_DATA_DIR', 'IDNC_ACCESS_LOG']) delete env[name];
  if (accessLogEnv !== undefined) env.IDNC_ACCESS_LOG = accessLogEnv;
  const child = spawn(process.execPath, [cli, 'serve', '--port', '0', '--data-dir', dir, ...flags], { cwd: dir, env });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  const curl = await vi.waitFor(
    () => {
      const match = /curl -H 'loginId: (idnc_\S+)' '(http:\/\/\S+)'/.exec(stdout);
      if (match === null) throw new Error(`server did not start: ${stderr}`);
      return match;
    },
    { timeout: 10_000, interval: 25 },
  );
  const [, key, url] = curl as unknown as [string, string, string];
  const base = new URL(url).origin;
  expect((await fetch(`${base}${PDNC}?actionType=status&phoneList=${NUMBER}`, { headers: { loginId: key } })).status).toBe(200);
  expect((await fetch(`${base}${PDNC}?actionType=status&phoneList=${NUMBER}`, { headers: { loginId: `${key}x` } })).status).toBe(401);
  child.kill('SIGTERM');
  expect(await exited).toBe(0);
  expect(stderr).not.toContain(NUMBER);
  expect(stderr).not.toContain(key.slice(18));
  return stderr;
}

function completedStatuses(stderr: string): number[] {
  return stderr
    .split('\n')
    .filter((line) => line.includes('"msg":"request completed"'))
    .map((line) => (JSON.parse(line) as { res: { statusCode: number } }).res.statusCode);
}

describe('idnc serve access log (built CLI)', () => {
  it('logs only the refused request by default, both with --access-log or IDNC_ACCESS_LOG=1', async () => {
    expect(completedStatuses(await serveAndLog([], undefined))).toEqual([401]);
    expect(completedStatuses(await serveAndLog(['--access-log'], undefined))).toEqual([200, 401]);
    expect(completedStatuses(await serveAndLog([], '1'))).toEqual([200, 401]);
  });
});
