// `npx idnc --version` and `--help` must work from the built package, as users run it (compiled
// ESM, not vitest's interop).

import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const cli = new URL('../../dist/cli/main.js', import.meta.url).pathname;
const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
  bin: Record<string, string>;
};

describe('the idnc command', () => {
  it('is the package bin', () => {
    expect(manifest.bin.idnc).toBe('dist/cli/main.js');
  });

  it('prints its version', async () => {
    const { stdout } = await run(process.execPath, [cli, '--version']);
    expect(stdout.trim()).toBe(manifest.version);
  });

  it('prints help naming itself', async () => {
    const { stdout } = await run(process.execPath, [cli, '--help']);
    expect(stdout).toMatch(/^Usage: idnc/m);
  });

  it('exits non-zero on an unknown command', async () => {
    await expect(run(process.execPath, [cli, 'no-such-command'])).rejects.toMatchObject({ code: 1 });
  });
});
