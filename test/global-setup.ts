// Vitest global setup: tests that spawn the built CLI (`node dist/cli/main.js`) need an up-to-date
// `dist/`. `npm test` already runs tsc first, so this only compiles when some source file is newer
// than its compiled output (e.g. `npx vitest run test/cli` right after an edit). Runs once per run.
// Other test folders that spawn `dist/` rely on it too.

import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

function sourceFiles(dir: string): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...sourceFiles(path));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) files.push(path);
  }
  return files;
}

function distIsStale(): boolean {
  const srcDir = join(root, 'src');
  for (const source of sourceFiles(srcDir)) {
    const compiled = join(root, 'dist', relative(srcDir, source)).replace(/\.ts$/, '.js');
    if (!existsSync(compiled) || statSync(compiled).mtimeMs < statSync(source).mtimeMs) return true;
  }
  return false;
}

export default function setup(): void {
  if (!distIsStale()) return;
  try {
    execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], {
      cwd: root,
      stdio: 'inherit',
    });
  } catch {
    // tsc still emits on type errors; `npm test` (tsc first) is where type errors fail the run.
    console.warn('global-setup: tsc reported errors (see above); running the tests against what it emitted');
  }
}
