// Test helpers for the CLI tests that run the built `idnc` as users do: a temp directory for one
// test file, the command run in a child process there (without IDNC_DATA_DIR from the environment,
// so each test names its data directory), and a teardown that stops every child still running and
// removes the directory. Needs `npx tsc -p tsconfig.json` first (it runs dist/).

import { execFile, type ChildProcess } from 'node:child_process';
import { makeTempDir, removeDir } from '../persist/helpers.js';

export const CLI_PATH = new URL('../../dist/cli/main.js', import.meta.url).pathname;

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** One test file's temp directory and the CLI children run in it. */
export class CliSandbox {
  private directory: string | undefined;
  private readonly children: ChildProcess[] = [];

  /** The temp directory (after `create`). */
  get dir(): string {
    if (this.directory === undefined) throw new Error('CliSandbox.create was not called');
    return this.directory;
  }

  async create(prefix: string): Promise<string> {
    this.directory = await makeTempDir(prefix);
    return this.directory;
  }

  /** `idnc ARGS...` in the temp directory: its exit code (1 when it died without one), stdout and stderr. */
  run(args: readonly string[]): Promise<CliRun> {
    return new Promise((resolve) => {
      const env = { ...process.env };
      delete env.IDNC_DATA_DIR;
      const child = execFile(process.execPath, [CLI_PATH, ...args], { cwd: this.dir, env }, (error, stdout, stderr) => {
        resolve({ code: error === null ? 0 : Number((error as { code?: number }).code ?? 1), stdout, stderr });
      });
      this.children.push(child);
    });
  }

  /** Kills the children still running (a test that failed midway) and removes the directory. */
  async dispose(): Promise<void> {
    for (const child of this.children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    if (this.directory !== undefined) await removeDir(this.directory);
  }
}
