// `idnc serve` (the built CLI) logs key-file reloads as the key store's lines: `component` appears
// once per line, "keys" on the reload, "engine" on the engine's lines, so a parser keeping the last
// (or the first) of a repeated JSON key labels each line right.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createKey } from '../../src/keys/key-admin.js';

const cli = new URL('../../dist/cli/main.js', import.meta.url).pathname;

let child: ChildProcess | undefined;
let dir: string | undefined;
afterEach(async () => {
  if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  child = undefined;
  dir = undefined;
});

/** The raw text of each `"component":` in a log line (JSON.parse would keep only one of them). */
function components(line: string): string[] {
  return [...line.matchAll(/"component":("[^"]*")/g)].map((match) => JSON.parse(match[1]!) as string);
}

describe('idnc serve log lines of the key store', () => {
  it('a key-file reload is logged with component "keys", once; engine lines with "engine", once', { timeout: 30_000 }, async () => {
    dir = await mkdtemp(join(tmpdir(), 'idnc-keys-log-'));
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const name of ['IDNC_HOST', 'IDNC_PORT', 'IDNC_DATA_DIR', 'IDNC_WORKERS']) delete env[name];
    const server = spawn(process.execPath, [cli, 'serve', '--port', '0', '--data-dir', dir], { cwd: dir, env });
    child = server;
    let stdout = '';
    let stderr = '';
    server.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    server.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => server.on('exit', resolve));
    await vi.waitFor(() => expect(stdout).toContain('curl -H'), { timeout: 15_000, interval: 25 });
    await createKey(dir, { org: 'acme', scopes: ['read'], name: 'dialer' });
    await vi.waitFor(() => expect(stderr).toContain('API keys reloaded'), { timeout: 10_000, interval: 25 });
    server.kill('SIGTERM');
    expect(await exited).toBe(0);
    const lines = stderr.split('\n').filter((line) => line.startsWith('{'));
    const reload = lines.filter((line) => line.includes('API keys reloaded'));
    expect(reload.length).toBeGreaterThan(0);
    for (const line of reload) expect(components(line), line).toEqual(['keys']);
    const engine = lines.filter((line) => line.includes('"component":"engine"'));
    expect(engine.length).toBeGreaterThan(0);
    for (const line of engine) expect(components(line), line).toEqual(['engine']);
    for (const line of lines) expect(components(line).length, line).toBeLessThanOrEqual(1);
  });
});
