#!/usr/bin/env node
// The `idnc` command line: parses argv with commander and hands each command to its own module.

import { Command } from 'commander';
import { packageVersion } from './package-info.js';

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('idnc')
    .description('Internal Do-Not-Call list engine: in-memory Roaring lookups, durable log, DNCScrub-compatible HTTP API')
    .version(packageVersion(), '-v, --version', 'print the idnc version');
  return program;
}

await buildProgram().parseAsync(process.argv);
