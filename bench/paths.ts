// Where the bench's files are, whether it runs from its TypeScript sources (through tsx: the smoke
// tests, `node --import tsx bench/run.ts`) or compiled (`npm run bench`, which runs the tsc output in
// the git-ignored build/, as users run dist/: see package.json). Modules beside this one (scenario
// files, child processes) have this module's extension; reports and results go to the source tree.
// Tools are resolved by package name, as Node finds them, not by a path into node_modules.

import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
/** '.ts' from the sources, '.js' compiled. */
export const MODULE_EXTENSION = path.extname(fileURLToPath(import.meta.url));
/** The project root: the nearest directory above this module with a package.json. */
export const PROJECT_ROOT = findProjectRoot(HERE);
/** bench/ in the source tree (reports, results, data files). */
export const BENCH_SOURCE_DIR = path.join(PROJECT_ROOT, 'bench');
/** The directory of the bench modules being run (the compiled ones when compiled). */
export const BENCH_MODULE_DIR = HERE;
const require = createRequire(import.meta.url);
/** autocannon's command line: its main module, which runs the command when it is the main module. */
export const AUTOCANNON_CLI = require.resolve('autocannon');
/** TypeScript's compiler, to build dist/ before a scenario runs the built CLI. */
export const TSC = require.resolve('typescript/bin/tsc');

/** A module beside this one, by name without extension, with the node arguments it needs to start. */
export function benchModule(name: string): { readonly file: string; readonly execArgv: string[] } {
  return { file: path.join(HERE, name + MODULE_EXTENSION), execArgv: MODULE_EXTENSION === '.ts' ? ['--import', 'tsx'] : [] };
}

function findProjectRoot(start: string): string {
  for (let dir = start; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${start}`);
  }
}
